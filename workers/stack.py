"""The embedded stack behind `forlop up`: PostgreSQL and NATS unless their URLs are set, then the API and
every worker that exists. Parts start in order and stop in reverse order.

`forlop up` is a small supervisor (docs/operations.md, "forlop up as a supervisor"):
- one instance per data directory: an exclusive `flock` on `<data dir>/forlop.lock`; a second `forlop up`
  on the same directory, or with an embedded NATS port that is taken, is refused with a clear message;
- after a crash it removes the stale lock files of the embedded PostgreSQL and waits for the database with
  back-off (logged once) instead of failing at the first refused connection;
- an embedded NATS or PostgreSQL that dies is started again (with back-off, logged once per outage);
- a start that fails, or is interrupted by SIGINT/SIGTERM, stops every part it had started: no child
  process is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.app import create_app
from store.embedded import postmaster_pid, restart_postgres, start_postgres, stop_postgres, wait_for_database
from store.migrations import migrate
from store.settings import Settings, get_settings
from workers import registry
from workers.checkpoints import checkpoint_worker
from workers.embedded_nats import start_nats, stop_nats
from workers.projector import Projector
from workers.registry import PROJEKSJONER
from workers.relay import Relay
from workers.scheduler import scheduler
from workers.varsler import varsel_worker

log = logging.getLogger(__name__)

#: Seconds `forlop up` waits for PostgreSQL at start (a crashed server replays its WAL first).
DATABASE_WAIT_SECONDS = 120.0
#: Seconds between two looks at the embedded servers, and the longest back-off between restarts.
WATCH_SECONDS = 1.0
RESTART_BACKOFF_MAX = 30.0


class StackRefused(Exception):
    """`forlop up` cannot start: the data directory or a port belongs to another running instance."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `forlop up` owns SIGINT/SIGTERM and stops every part."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for a request's headers: a connection that has not sent
    a whole request head `header_timeout` seconds after it opened, or after its last response, is closed
    (uvicorn's keep-alive timer stops at the first byte, so a half-sent request was held forever)."""

    #: None: FORLOP_HEADER_TIMEOUT of this process's environment (a server worker process of `forlop api`).
    header_timeout: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(cast(asyncio.Transport, transport))
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    _header_timer: asyncio.TimerHandle | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        timeout = self.header_timeout if self.header_timeout is not None else get_settings().header_timeout
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(timeout, self._header_deadline, self.cycle)

    def _header_deadline(self, cycle_then: object) -> None:
        # A new request cycle since the deadline was armed means its head arrived in time.
        if self.cycle is not cycle_then or self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()


def server_options(settings: Settings, *, processes: bool = False) -> dict[str, Any]:
    """The uvicorn options of the API server from the settings: idle keep-alive and header timeouts.
    With `processes` (server worker processes, which get the options pickled) the protocol class is the
    module's own, which reads the timeout from the environment the processes inherit."""
    protocol: type[HeaderTimeoutProtocol] = HeaderTimeoutProtocol
    if not processes:
        protocol = type("HeaderTimeout", (HeaderTimeoutProtocol,), {"header_timeout": settings.header_timeout})
    return {"timeout_keep_alive": settings.keep_alive_timeout, "http": protocol}


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold `<data dir>/forlop.lock` exclusively for the life of the returned file (released by the kernel
    when the process ends, however it ends); raises StackRefused when another process holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / "forlop.lock").open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StackRefused(
            f"the data directory {data_dir} is in use by another running forlop up (pid {holder}): "
            "stop it first, or give this one its own --data-dir"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock: IO[str] | None = None
        self._pg_server: object | None = None
        self._pg_dir: Path | None = None
        self._nats_proc: subprocess.Popen[bytes] | None = None
        self._nats_dir: Path | None = None
        self._api: _Server | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self.restarts = {"nats": 0, "postgresql": 0}

    async def start(self) -> None:
        """Start every part; a failure (or a cancellation) stops what had started, then propagates."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        data_dir = self.settings.data_dir.resolve()
        self._lock = lock_data_dir(data_dir)
        database_url, nats_url = self.settings.database_url, self.settings.nats_url
        if database_url is None:
            self._pg_dir = data_dir / "pg"
            embedded_db, self._pg_server = await asyncio.to_thread(start_postgres, self._pg_dir)
            database_url = embedded_db
        await wait_for_database(database_url, timeout=DATABASE_WAIT_SECONDS, stopped=self._stop.is_set)
        if nats_url is None:
            self._nats_dir = data_dir / "nats"
            nats_url = await self._start_nats()
        self._watch_task = asyncio.create_task(self._watch())
        await self._start_parts(database_url, nats_url, data_dir)

    async def _start_nats(self) -> str:
        assert self._nats_dir is not None
        url, self._nats_proc = await asyncio.to_thread(
            start_nats, self._nats_dir, self.settings.nats_port, sync_always=True
        )
        return url

    async def _start_parts(self, database_url: str, nats_url: str, data_dir: Path) -> None:
        self.settings = replace(self.settings, database_url=database_url, nats_url=nats_url, data_dir=data_dir)
        await migrate(database_url)  # the schema before any worker follows it
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            **server_options(self.settings),
        )
        for lag in PROJEKSJONER.values():
            runner = Projector(database_url, lag(self.settings), events_table=self.settings.events_table)
            self._workers.append(asyncio.create_task(runner.run(self._stop)))
        relay = Relay(
            database_url,
            nats_url,
            self.settings.secret("pseudonym"),
            events_table=self.settings.events_table,
            replicas=self.settings.nats_replicas,
            mapper=registry.mapper(self.settings),
        )
        self._workers.append(asyncio.create_task(relay.run(self._stop)))
        oversikt = registry.oversikt(self.settings)
        for worker in (
            varsel_worker(self.settings, database_url, nats_url, oversikt),
            scheduler(self.settings, database_url, oversikt),
            checkpoint_worker(self.settings, database_url),
        ):
            self._workers.append(asyncio.create_task(worker.run(self._stop)))
        self._api = _Server(config)
        self._api_task = asyncio.create_task(self._serve_api(self._api))
        while not self._api.started:
            if self._api_task.done():
                await self._api_task
                raise RuntimeError(f"the API did not start (is port {self.settings.port} free?)")
            await asyncio.sleep(0.05)

    @staticmethod
    async def _serve_api(server: _Server) -> None:
        # uvicorn calls sys.exit when it cannot bind; a SystemExit out of a task would end the event loop
        # before the parts that started are stopped.
        with contextlib.suppress(SystemExit):
            await server.serve()

    def ready_line(self) -> str:
        return f"forlop ready: api=http://127.0.0.1:{self.settings.port} nats={self.settings.nats_url}"

    # --- supervision of the embedded servers -----------------------------------------------------------

    def _dead(self) -> list[str]:
        dead = []
        if self._nats_proc is not None and self._nats_proc.poll() is not None:
            dead.append("nats")
        if self._pg_dir is not None and postmaster_pid(self._pg_dir) is None:
            dead.append("postgresql")
        return dead

    async def _restart(self, part: str) -> None:
        if part == "nats":
            assert self._nats_proc is not None
            self._nats_proc.wait()  # reap it
            await self._start_nats()
        else:
            assert self._pg_dir is not None
            await asyncio.to_thread(restart_postgres, self._pg_server, self._pg_dir)
        self.restarts[part] += 1

    async def _watch(self) -> None:
        """Start an embedded server that died again: each outage logged once when found and once when
        over; failed restarts are retried with doubling delays up to RESTART_BACKOFF_MAX."""
        delay: dict[str, float] = {}
        due: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            for part in self._dead():
                if part not in delay:
                    log.warning(f"embedded {part} died; starting it again", extra={"dependency": part})
                    delay[part], due[part] = 0.5, 0.0
                if loop.time() < due[part]:
                    continue
                try:
                    await self._restart(part)
                except Exception as e:  # logged once per outage, retried with back-off
                    if delay[part] == 0.5:
                        log.warning(f"embedded {part} did not start again; retrying with back-off",
                                    extra={"dependency": part, "error": f"{type(e).__name__}: {e}"})
                    due[part] = loop.time() + delay[part]
                    delay[part] = min(RESTART_BACKOFF_MAX, delay[part] * 2)
                    continue
                log.info(f"embedded {part} started again", extra={"dependency": part})
                del delay[part], due[part]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), WATCH_SECONDS)

    async def stop(self) -> None:
        """Stop every part that started, in reverse order (safe after a partial start, and twice)."""
        self._stop.set()
        if self._watch_task is not None:
            with contextlib.suppress(BaseException):
                await self._watch_task
        for task in self._workers:
            with contextlib.suppress(BaseException):
                await task
        if self._api is not None and self._api_task is not None:
            self._api.should_exit = True
            with contextlib.suppress(BaseException):
                await self._api_task
        if self._nats_proc is not None:
            proc, self._nats_proc = self._nats_proc, None
            await asyncio.to_thread(stop_nats, proc)
        if self._pg_server is not None:
            server, self._pg_server = self._pg_server, None
            assert self._pg_dir is not None
            await asyncio.to_thread(stop_postgres, server, self._pg_dir)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
