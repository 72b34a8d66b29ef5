"""The one supervisor every long-running worker runs under (projection runner, relay, alert worker,
scheduler, checkpoint worker).

- Leader lock: a PostgreSQL session advisory lock (store/locks.py) on a connection of its own. A standby
  polls for it; when the active replica's session ends, PostgreSQL releases the lock and a standby takes it
  at its next poll. A lock connection that closes ends the active role at once (the worker's task is
  cancelled), since another replica may already be taking over.
- Reconnecting: a lost database ends the active role and the supervisor reconnects with exponential
  back-off and jitter (tenacity). A failure after a healthy stretch starts the back-off afresh, so a blip an
  hour after the last one is retried at once. A lost NATS only pauses a worker, which keeps its lock while
  nats-py reconnects by itself.
- One log line per state change: starting, standby (waiting for the lock), active, lost database, lost
  NATS, reconnected, failed, stopped. A dependency that stays down writes nothing more until it is back; an
  unexpected error is logged with its traceback once, not on every retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg
import nats
import nats.errors
from nats.aio.client import Client as NATS
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from store.locks import try_lock
from store.unavailable import DATABASE_UNAVAILABLE


class LockLost(Exception):
    """The lock connection closed: another replica may take over, so this one stops acting at once."""


class NatsUnavailable(Exception):
    """A publish was not acknowledged in time: NATS (or the stream's leader) is not there right now."""


#: What a lost database looks like to asyncpg: the worker leaves the active role and reconnects.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (*DATABASE_UNAVAILABLE, LockLost)
#: What a lost NATS looks like to a publisher: it pauses, keeping its lock.
NATS_ERRORS: tuple[type[BaseException], ...] = (NatsUnavailable, nats.errors.Error, TimeoutError)
_NATS_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    nats.errors.UnexpectedEOF,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
)


async def wait_for_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds`; True if `stop` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


class State(StrEnum):
    STARTING = "starting"
    STANDBY = "standby"
    ACTIVE = "active"
    DATABASE_LOST = "database_lost"
    NATS_LOST = "nats_lost"
    RECONNECTED = "reconnected"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: `initial` doubling up to `maximum`, plus up to `jitter` at random (replicas that
    lost the database together do not come back in step)."""

    initial: float = 0.25
    maximum: float = 5.0
    jitter: float = 0.25
    #: A failure after this long connected starts the back-off afresh.
    healthy_after: float = 10.0


class _Stopped(Exception):
    """`stop` was set during a back-off wait."""


Body = Callable[["Session"], Coroutine[Any, Any, None]]


class NatsLink:
    """A NATS client that connects, and reconnects, by itself (nats-py with `max_reconnect_attempts=-1`,
    which retries the first connect too), and reports an outage to `lost` and its end to `back`: the caller
    logs each once (nats-py's default error callback would log a traceback for every failed attempt)."""

    def __init__(
        self,
        url: str,
        name: str,
        *,
        lost: Callable[[BaseException | str], None],
        back: Callable[[], None],
        on_reconnected: Callable[[], Awaitable[None]] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self._lost = lost
        self._back = back
        self._on_reconnected = on_reconnected
        self._log = log or logging.getLogger(__name__)
        self.client: NATS | None = None
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        self.client = await nats.connect(
            self.url.split(","),
            name=self.name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            error_cb=self._error,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
        )
        self._back()
        self.ready.set()

    async def _error(self, error: Exception) -> None:
        # nats-py reports every failed (re)connect and a dropped connection here; anything else (a slow
        # consumer, say) is not an outage.
        if self.client is None or not self.client.is_connected or isinstance(error, _NATS_CONNECTION_ERRORS):
            self._lost(error)
        else:
            self._log.warning(f"{self.name}: NATS reported an error", extra={"error": type(error).__name__})

    async def _disconnected(self) -> None:
        if self.client is not None and not self.client.is_closed:
            self._lost("disconnected")

    async def _reconnected(self) -> None:
        self._back()
        if self._on_reconnected is not None:
            await self._on_reconnected()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self.client is not None:
            nc, self.client = self.client, None
            with contextlib.suppress(Exception):
                await nc.close()


class OutageLog:
    """One log line when a dependency goes and one when it is back, whatever happens in between (for a
    process without a Supervisor, e.g. the API's NATS connection)."""

    def __init__(self, name: str, log: logging.Logger) -> None:
        self.name = name
        self.log = log
        self._down: set[str] = set()

    def lost(self, dependency: str, error: BaseException | str) -> None:
        if dependency in self._down:
            return
        self._down.add(dependency)
        what = error if isinstance(error, str) else type(error).__name__
        self.log.warning(f"{self.name} lost {dependency}; reconnecting by itself", extra={
            "worker": self.name, "state": State.NATS_LOST.value if dependency == "nats" else State.DATABASE_LOST.value,
            "error": what})

    def back(self, dependency: str) -> None:
        if dependency not in self._down:
            return
        self._down.discard(dependency)
        self.log.info(f"{self.name} reconnected to {dependency}",
                      extra={"worker": self.name, "state": State.RECONNECTED.value, "dependency": dependency})


class Session:
    """What an active worker's body gets: the lock connection (to LISTEN on), the stop event, and the NATS
    connection when the supervisor has a NATS URL. The body returns when `stop` is set."""

    def __init__(self, supervisor: Supervisor, lock: asyncpg.Connection, stop: asyncio.Event) -> None:
        self.lock = lock
        self.stop = stop
        self._supervisor = supervisor
        self._link: NatsLink | None = None
        self._nats_ready = asyncio.Event()

    @property
    def nats(self) -> NATS | None:
        """The NATS client once connected (it reconnects by itself), else None."""
        return self._link.client if self._link is not None else None

    async def wait_nats(self) -> NATS | None:
        """The NATS client, waiting until the first connect succeeds; None when `stop` is set first."""
        stopped = asyncio.ensure_future(self.stop.wait())
        ready = asyncio.ensure_future(self._nats_ready.wait())
        try:
            await asyncio.wait({stopped, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            ready.cancel()
        return None if self.stop.is_set() else self.nats

    def nats_lost(self, error: BaseException | str) -> None:
        """Report that NATS does not answer (logged once until `nats_ok`)."""
        self._supervisor.dependency_lost("nats", error)

    def nats_ok(self) -> None:
        """Report that NATS answers again."""
        self._supervisor.dependency_back("nats")

    async def pause(self, seconds: float) -> bool:
        """Wait up to `seconds`; True if `stop` was set meanwhile."""
        return await wait_for_stop(self.stop, seconds)

    async def listen(self, channel: str, callback: Callable[..., Any]) -> None:
        """LISTEN on the lock connection (a NOTIFY there wakes the worker)."""
        await self.lock.add_listener(channel, callback)

    def start_nats(self, url: str, name: str) -> None:
        self._link = NatsLink(
            url, name, lost=self.nats_lost, back=self._nats_connected,
            on_reconnected=self._supervisor.on_nats_reconnected, log=self._supervisor.log,
        )
        self._link.start()

    def _nats_connected(self) -> None:
        self.nats_ok()
        self._nats_ready.set()

    async def close(self) -> None:
        if self._link is not None:
            link, self._link = self._link, None
            await link.close()


class Supervisor:
    """Runs `body` as the one active replica of `name` until `stop` is set (see the module docstring).

    `body(session)` does the worker's work while this replica holds the lock and returns when
    `session.stop` is set; a database error it raises ends the active role (logged, then reconnected with
    back-off); any other error is logged with its traceback once and retried with back-off."""

    def __init__(
        self,
        name: str,
        dsn: str,
        body: Body,
        *,
        lock_name: str | None = None,
        nats_url: str | None = None,
        nats_name: str | None = None,
        on_nats_reconnected: Callable[[], Awaitable[None]] | None = None,
        poll_seconds: float = 1.0,
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen
        log: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.dsn = dsn
        self.body = body
        self.lock_name = lock_name or name
        self.nats_url = nats_url
        self.nats_name = nats_name or f"forlop-{self.lock_name}"
        self.on_nats_reconnected = on_nats_reconnected
        self.poll_seconds = poll_seconds
        self.backoff = backoff
        self.log = log or logging.getLogger(__name__)
        self.state = State.STOPPED
        self._lost: dict[str, str] = {}  # dependency -> what was logged when it went
        self._failure: str | None = None  # the error last logged as a failure
        # The same failure came again: the standby/active steps of each retry are not logged either, until
        # the body succeeds or something else happens (it keeps failing the same way meanwhile).
        self._repeating = False
        self._connected_at = 0.0
        self._holding = False  # this replica holds the lock and its body runs

    @property
    def active(self) -> bool:
        return self._holding

    async def run(self, stop: asyncio.Event) -> None:
        self._enter(State.STARTING, f"{self.name} starting")
        try:
            while not stop.is_set():
                retrying = AsyncRetrying(
                    retry=retry_if_exception_type(Exception),
                    wait=wait_exponential_jitter(
                        multiplier=self.backoff.initial, max=self.backoff.maximum, jitter=self.backoff.jitter
                    ),
                    sleep=lambda seconds: self._sleep(stop, seconds),
                    reraise=True,
                )
                with contextlib.suppress(_Stopped):
                    await retrying(self._cycle, stop)
        finally:
            self._enter(State.STOPPED, f"{self.name} stopped")

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        if await wait_for_stop(stop, seconds):
            raise _Stopped

    async def _cycle(self, stop: asyncio.Event) -> None:
        """Connect, wait for the lock, run the body. Returns when `stop` is set, or after a failure that
        followed a healthy stretch (the caller starts a fresh back-off); raises a failure that came soon."""
        try:
            await self._lead(stop)
            return
        except DATABASE_ERRORS as e:
            failure: BaseException = e
        except Exception as e:
            failure = e
        healthy = bool(self._connected_at) and time.monotonic() - self._connected_at >= self.backoff.healthy_after
        if healthy:  # it worked for a while: this failure is news even if it is the same as the last one
            self._failure, self._repeating = None, False
        if isinstance(failure, DATABASE_ERRORS):
            self.dependency_lost("database", failure)
        else:
            assert isinstance(failure, Exception)
            self._failed(failure)
        if healthy:
            return
        raise failure

    async def _lead(self, stop: asyncio.Event) -> None:
        self._connected_at = 0.0
        lock = await asyncpg.connect(self.dsn)
        self._connected_at = time.monotonic()
        self.dependency_back("database")
        try:
            while not await try_lock(lock, self.lock_name):
                self._enter(State.STANDBY, f"{self.name} standby: another replica holds the lock; waiting for it")
                if await wait_for_stop(stop, self.poll_seconds):
                    return
            if not stop.is_set():
                await self._active(lock, stop)
        finally:
            with contextlib.suppress(Exception):
                await lock.close()

    async def _active(self, lock: asyncpg.Connection, stop: asyncio.Event) -> None:
        lost = asyncio.Event()
        lock.add_termination_listener(lambda _conn: lost.set())
        session = Session(self, lock, stop)
        self._enter(State.ACTIVE, f"{self.name} active")
        if self.nats_url is not None:
            session.start_nats(self.nats_url, self.nats_name)
        body: asyncio.Task[None] = asyncio.create_task(self.body(session))
        watch = asyncio.create_task(lost.wait())
        self._holding = True
        try:
            await asyncio.wait({body, watch}, return_when=asyncio.FIRST_COMPLETED)
            if not body.done():
                body.cancel()
                with contextlib.suppress(BaseException):
                    await body
                raise LockLost("the lock connection closed")
            body.result()
            self._failure, self._repeating = None, False
        finally:
            self._holding = False
            watch.cancel()
            if not body.done():
                body.cancel()
                with contextlib.suppress(BaseException):
                    await body
            await session.close()

    def dependency_lost(self, dependency: str, error: BaseException | str) -> None:
        """Log that `dependency` (`database` or `nats`) went away, once until it is back."""
        if dependency in self._lost:
            return
        what = error if isinstance(error, str) else type(error).__name__
        self._lost[dependency] = what
        self._failure, self._repeating = None, False
        if dependency == "database":
            self._enter(State.DATABASE_LOST, f"{self.name} lost the database; reconnecting with back-off",
                        error=what, level=logging.WARNING)
        else:
            self._enter(State.NATS_LOST, f"{self.name} lost NATS; paused until it answers",
                        error=what, level=logging.WARNING)

    def dependency_back(self, dependency: str) -> None:
        if self._lost.pop(dependency, None) is not None:
            self._enter(State.RECONNECTED, f"{self.name} reconnected to {'NATS' if dependency == 'nats' else 'the database'}",
                        dependency=dependency)
            if dependency == "nats" and self.state == State.RECONNECTED:
                self.state = State.ACTIVE

    def _failed(self, error: Exception) -> None:
        what = f"{type(error).__name__}: {error}"
        self.state = State.FAILED
        if what == self._failure:
            self._repeating = True
            return
        self._failure, self._repeating = what, False
        self.log.error(f"{self.name} failed; retrying with back-off", exc_info=error,
                       extra={"worker": self.name, "state": State.FAILED.value})

    def _enter(self, state: State, message: str, *, level: int = logging.INFO, **fields: str) -> None:
        if state == self.state and state != State.RECONNECTED:
            return
        self.state = state
        if state == State.STANDBY:  # another replica holds the lock now: news, whatever failed before
            self._failure, self._repeating = None, False
        elif self._repeating and state == State.ACTIVE:
            return
        self.log.log(level, message, extra={"worker": self.name, "state": state.value, **fields})
