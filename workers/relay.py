"""The event relay: every stored event of the two public aggregates to JetStream, at least once, in order.

- Follows the events table by notification id (NOTIFY wakes it, polling is the fallback), like the
  projection runner, from its own position in `forlop_sporing` (row `relay`).
- Publishes with `Nats-Msg-Id` = the event's id in log order through nats-py's `js.publish_async`, with a
  bounded window in flight (`window`, also the context's `publish_async_max_pending`) and at most one event
  of an aggregate in flight: an aggregate's next event goes out only after its previous one was
  acknowledged (an event lost in a leader change must not be overtaken by the same aggregate's next one).
- The position moves only past events whose publish was acknowledged (and past the unpublished person
  record's events between them), together with the stream sequence each one got (`forlop_relay_logg`), in
  one statement, committed while the next publishes go out. A crash after an ack and before that commit
  republishes; the stream's duplicate window drops the repeat by Msg-Id.
- One active replica (workers/supervisor.py); NATS being down only pauses it.
- Never stalled by one message: an event NATS refuses (larger than the server's `max_payload`, or refused by
  the stream with a 400) is recorded in `forlop_relay_venter` with its reason, counted in
  `forlop_relay_refused_total`, and makes the relay unready (`ready`); the position moves on, so the events
  of other aggregates keep flowing. The later events of the same aggregate are held in that table behind it
  (its order on NATS is never broken) until an operator clears it (`forlop relay hopp-over`, or a raised
  limit: the relay tries the waiting events again every `retry_seconds`), docs/operations.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg
import msgspec
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import BadRequestError
from prometheus_client import Counter

from projections.runner import SPORING, to_notifications
from store.envelope import make_envelope, publiseres, subject
from store.keys import as_uuid
from store.mapper import ForlopMapper
from workers.nats_setup import (
    HENDELSER,
    KONTROLL_SEKUNDER,
    ensure_streams,
    har_tapt,
    quiet,
    stream_state,
)
from workers.supervisor import NATS_ERRORS, NatsUnavailable, Session, State, Supervisor

log = logging.getLogger(__name__)

NAVN = "relay"
LOGG = "forlop_relay_logg"  # made by store/migrations/0006_relay_log.sql
VENTER = "forlop_relay_venter"  # made by store/migrations/0008_relay_waiting.sql

REFUSED = Counter(
    "forlop_relay_refused_events",
    "Events NATS refused to take (too large, or refused by the stream); each waits in forlop_relay_venter.",
)


@dataclass
class RelayStatus:
    posisjon: int = 0
    publisert: int = 0
    spolt_tilbake: int = 0
    siden_fremdrift: float = field(default_factory=time.monotonic)
    #: Refused events waiting in `forlop_relay_venter` (not cleared), and the events held behind them.
    avviste: int = 0
    holdt: int = 0


class WaitRow(NamedTuple):
    """An event that waits in `forlop_relay_venter`: refused (`grunn`) or held behind a refused one."""

    posisjon: int
    aggregat_id: UUID
    hendelse_id: UUID
    type: str
    storrelse: int
    grunn: str | None


class _Sent(NamedTuple):
    """One row read and not yet committed, in log order: its position, and for a published event its id,
    the future of its ack and when it went out (a person-record row has neither). `wait`: the event is not
    published but waits (refused before it went out, or held behind a refused one); `info`: what a refusal
    that comes with the ack records."""

    posisjon: int
    hendelse_id: UUID | None
    ack: asyncio.Future[PubAck] | None
    sent: float
    wait: WaitRow | None = None
    info: WaitRow | None = None


#: What a commit carries: (position, event id, stream sequence) of each acknowledged event.
LogRow = tuple[int, UUID | None, int]


class HeldBehind(Exception):
    """An event was not published: an earlier event of its aggregate was refused (or held itself)."""


def _refused(future: asyncio.Future[PubAck]) -> bool:
    """The stream answered the publish with a refusal (400): it will refuse it again; not an outage."""
    return future.done() and not future.cancelled() and isinstance(future.exception(), BadRequestError)


def _held(future: asyncio.Future[PubAck]) -> bool:
    """The publish did not go out: it was held behind its aggregate's refused event."""
    return future.done() and not future.cancelled() and isinstance(future.exception(), HeldBehind)


def _message_size(payload: bytes, headers: dict[str, str] | None) -> int:
    """What the server counts against `max_payload`: the payload and the header block (NATS/1.0 ...)."""
    if not headers:
        return len(payload)
    return len(payload) + 12 + sum(len(k) + len(v) + 4 for k, v in headers.items())


class Relay:
    def __init__(
        self,
        dsn: str,
        nats_url: str,
        pseudonym_nokkel: bytes,
        *,
        events_table: str = "forlop_events",
        batch: int = 1000,
        window: int = 512,
        ack_timeout: float = 5.0,
        replicas: int = 1,
        poll_seconds: float = 1.0,
        retry_seconds: float = 30.0,
        mapper: ForlopMapper | None = None,
    ) -> None:
        self.dsn = dsn
        self.pseudonym_nokkel = pseudonym_nokkel
        self.events_table = events_table
        self.batch = batch
        self.window = window
        self.ack_timeout = ack_timeout
        self.replicas = replicas
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.mapper = mapper or ForlopMapper()  # with field encryption: store.mapper.mapper_for(...)
        self.status = RelayStatus()
        self.supervisor = Supervisor(
            "relay",
            dsn,
            self._relay,
            lock_name=NAVN,
            nats_url=nats_url,
            nats_name="forlop-relay",
            on_nats_reconnected=self.check_stream,
            poll_seconds=poll_seconds,
            log=log,
        )
        self._wake = asyncio.Event()
        self._check = True
        self._uten_msg_id: set[int] = set()
        self._pipe: collections.deque[_Sent] = collections.deque()
        self._read_pos: int | None = None  # read up to here (None: from the committed position)
        self._last_of: dict[Any, asyncio.Future[PubAck]] = {}  # the last publish of each aggregate
        # Acknowledged and not yet committed (position, log rows), and the commit in flight.
        self._uncommitted_pos: int | None = None
        self._uncommitted: list[LogRow] = []
        self._commit_task: asyncio.Future[tuple[int, list[LogRow], list[WaitRow]]] | None = None
        # Aggregates with an event waiting in VENTER (None: read them again with the position).
        self._blocked: set[UUID] | None = None
        self._uncommitted_waiting: list[WaitRow] = []
        self._max_payload = 1024 * 1024
        self._nats_ok = False

    @property
    def ready(self) -> bool:
        """Ready: active (or a standby with the database), NATS answering, and no refused event waiting."""
        if self.supervisor.state == State.STANDBY:  # another replica relays; this one waits for the lock
            return True
        return (self.active and self._nats_ok and self.supervisor.state != State.NATS_LOST
                and self.status.avviste == 0)

    @property
    def active(self) -> bool:
        return self.supervisor.active

    def readiness(self) -> dict[str, Any]:
        """The body of the relay's `/health/ready` (workers/health.py): `klar` as `ready` says, and why."""
        return {
            "klar": self.ready,
            "tilstand": self.supervisor.state.value,
            "nats": self._nats_ok,
            "posisjon": self.status.posisjon,
            "avviste": self.status.avviste,
            "holdt": self.status.holdt,
        }

    async def run(self, stop: asyncio.Event) -> None:
        await self.supervisor.run(stop)

    async def _relay(self, session: Session) -> None:
        nc = await session.wait_nats()
        if nc is None:
            return
        # Two connections held while active, one for reading and one for the commits beside it (a pool
        # release resets the session, a round trip, every time).
        pool = await asyncpg.create_pool(self.dsn, min_size=2, max_size=3)
        try:
            await opprett(pool)
            await session.listen(self.events_table, lambda *_: self._wake.set())
            async with pool.acquire() as db, pool.acquire() as commits:
                await self._publish_until_stopped(session, nc, pool, db, commits)
        finally:
            await pool.close()

    async def _publish_until_stopped(
        self, session: Session, nc: NATS, pool: asyncpg.Pool, db: asyncpg.Connection, commits: asyncpg.Connection
    ) -> None:
        js = nc.jetstream(publish_async_max_pending=self.window)
        self._reset()
        self._check = True
        ready = False
        next_check = next_retry = 0.0
        try:
            while not session.stop.is_set():
                try:
                    self._max_payload = nc.max_payload
                    if not ready or self._check or time.monotonic() >= next_check:
                        self._check = False
                        await self._commit(commits, everything=True)  # nothing in flight to the database
                        # On every (re)connect and periodically: has the stream lost what it acknowledged?
                        await self.kontroller_strom(pool, nc)
                        await ensure_streams(js, self.replicas)
                        self._nats_answers(session, True)
                        ready = True
                        next_check = time.monotonic() + KONTROLL_SEKUNDER
                    if time.monotonic() >= next_retry:
                        next_retry = time.monotonic() + self.retry_seconds
                        if await pool.fetchval(f"SELECT EXISTS (SELECT FROM {VENTER})"):
                            await self._drain(js, commits)  # nothing in flight: an aggregate's order holds
                            self._reset()
                            await self.release_waiting(pool, js)
                    published = self.status.publisert
                    n = await self.publish_batch(db, js, commits)
                except NATS_ERRORS as e:
                    self._nats_answers(session, False, e)
                    ready = False
                    await session.pause(self.poll_seconds)
                    continue
                if self.status.publisert > published:  # acks came
                    self._nats_answers(session, True)
                if n == 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            if not session.lock.is_closed():  # still the active one: commit what was acked
                with contextlib.suppress(Exception):
                    await self._drain(js, commits)
            await self._drop_commit()
            self._reset()

    def _nats_answers(self, session: Session, ok: bool, error: BaseException | None = None) -> None:
        self._nats_ok = ok
        if ok:
            session.nats_ok()
        else:
            session.nats_lost(error or "no answer")

    async def release_waiting(self, pool: asyncpg.Pool, js: JetStreamContext) -> int:
        """Publish what waits in VENTER, per aggregate in order, as far as it goes: an event the operator
        cleared (`hopp_over`) is dropped, a refused one is tried again (the limit may have been raised), an
        event held behind it follows once it is gone. Returns the number published. Runs with nothing in
        flight (the caller drained the pipe), so a released aggregate's order holds."""
        rows = await pool.fetch(
            "SELECT v.posisjon, v.hopp_over, v.grunn, e.notification_id, e.originator_id, e.originator_version, "
            f"e.topic, e.state FROM {VENTER} v JOIN {self.events_table} e ON e.notification_id = v.posisjon "
            "ORDER BY v.posisjon"
        )
        stuck: set[UUID] = set()
        published = 0
        notifikasjoner = {n.id: n for n in to_notifications([tuple(r)[3:] for r in rows])}
        await self.mapper.prepare_reading(pool, (n.state for n in notifikasjoner.values()))
        for row in rows:
            posisjon, hopp_over, grunn = row[0], row[1], row[2]
            aggregat_id = as_uuid(row[4])
            if aggregat_id in stuck:
                continue
            if hopp_over:
                await pool.execute(f"DELETE FROM {VENTER} WHERE posisjon = $1", posisjon)
                log.warning("relay: an event cleared by the operator is not published",
                            extra={"posisjon": posisjon, "aggregat_id": str(aggregat_id)})
                continue
            k = make_envelope(self.mapper, notifikasjoner[posisjon], self.pseudonym_nokkel)
            if k is None:
                await pool.execute(f"DELETE FROM {VENTER} WHERE posisjon = $1", posisjon)
                continue
            payload, headers = _encoder.encode(k), {"Nats-Msg-Id": str(k.id)}
            refusal = None
            if _message_size(payload, headers) > self._max_payload:
                refusal = _too_large(payload, headers, self._max_payload)
            else:
                try:
                    ack = await js.publish(subject(k), payload, timeout=self.ack_timeout, headers=headers)
                except BadRequestError as e:
                    refusal = f"refused by the stream: {e.description or e}"
            if refusal is not None:
                stuck.add(aggregat_id)
                if grunn is None:
                    await pool.execute(f"UPDATE {VENTER} SET grunn = $2 WHERE posisjon = $1", posisjon, refusal)
                continue
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    f"INSERT INTO {LOGG} (posisjon, hendelse_id, sekvens) VALUES ($1, $2, $3) "
                    "ON CONFLICT (posisjon) DO UPDATE SET sekvens = excluded.sekvens, publisert = now()",
                    posisjon, k.id, ack.seq,
                )
                await conn.execute(f"DELETE FROM {VENTER} WHERE posisjon = $1", posisjon)
            published += 1
        await self._count_waiting(pool)
        if published:
            log.info("relay: waiting events published", extra={"antall": published})
        return published

    async def _count_waiting(self, db: asyncpg.Connection | asyncpg.Pool) -> None:
        row = await db.fetchrow(
            f"SELECT count(*) FILTER (WHERE grunn IS NOT NULL AND NOT hopp_over), count(*) FROM {VENTER}"
        )
        self.status.avviste, self.status.holdt = int(row[0]), int(row[1]) - int(row[0])

    async def _drain(self, js: JetStreamContext, commits: asyncpg.Connection) -> None:
        """Stopping: wait (bounded) for the acks in flight, and the publishes waiting for an earlier event
        of their aggregate, and commit what they acknowledged."""
        pending = {sent.ack for sent in self._pipe if sent.ack is not None and not sent.ack.done()}
        if pending:
            await asyncio.wait(pending, timeout=self.ack_timeout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(js.publish_async_completed(), self.ack_timeout)
        pos, logged, waiting, _ = await self._take_acks(js, wait=False)
        if pos is not None:
            self._uncommitted_pos = pos
            self._uncommitted.extend(logged)
            self._uncommitted_waiting.extend(waiting)
        await self._commit(commits, everything=True)

    async def check_stream(self) -> None:
        """Compare the stream with what it acknowledged at the next step, as on every reconnect (one may
        follow a NATS restart that lost acknowledged writes): check before publishing."""
        self._check = True
        self._wake.set()

    async def kontroller_strom(self, pool: asyncpg.Pool, nc: NATS) -> int | None:
        """Rewind to the first event the stream no longer holds although it acknowledged it (a JetStream
        that lost acknowledged writes: an OS crash before fsync, a truncated or corrupted store, a purge).
        Returns the position rewound to, or None when nothing was lost.

        Two kinds of loss. Past the stream's last sequence (a truncated store): those sequences will be
        handed out again, so their log rows are forgotten and the events go out as new. Below the first
        sequence or deleted inside (a purge, a lost block): the server still remembers their Msg-Ids in its
        duplicate window and would drop a republish, so they go out without the header (subscribers
        deduplicate by `id`, docs/subscribers.md) and their log rows stay until the new sequence is known."""
        tilstand = await stream_state(nc, HENDELSER)
        if not await har_tapt(pool, LOGG, "sekvens", tilstand):
            self._uten_msg_id = set()
            return None
        async with pool.acquire() as conn, conn.transaction():
            if tilstand is None:  # the stream itself is gone: everything goes out again, as new
                forste = await conn.fetchval(f"SELECT min(posisjon) FROM {LOGG}")
                await conn.execute(f"DELETE FROM {LOGG}")
                self._uten_msg_id = set()
            else:
                hale = await conn.fetchval(
                    f"SELECT min(posisjon) FROM {LOGG} WHERE sekvens > $1", tilstand.last_seq
                )
                await conn.execute(f"DELETE FROM {LOGG} WHERE sekvens > $1", tilstand.last_seq)
                inne = await conn.fetch(
                    f"SELECT posisjon FROM {LOGG} WHERE sekvens < $1 OR sekvens = ANY($2::bigint[])",
                    tilstand.first_seq,
                    list(tilstand.slettet),
                )
                self._uten_msg_id = {r[0] for r in inne}
                forste = min(x for x in (hale, *self._uten_msg_id) if x is not None)
            await conn.execute(
                f"UPDATE {SPORING} SET posisjon = LEAST(posisjon, $2), oppdatert = now() WHERE projeksjon = $1",
                NAVN,
                forste - 1,
            )
        log.warning(
            "stream lost acknowledged events: republishing from the log", extra={"fra_posisjon": forste}
        )
        self.status.spolt_tilbake += 1
        self._reset()
        return forste - 1

    async def publish_batch(
        self,
        db: asyncpg.Connection | asyncpg.Pool,
        js: JetStreamContext,
        commits: asyncpg.Connection | None = None,
    ) -> int:
        """One step of a pipeline: publish the next events after what was read (while earlier acks are
        still outstanding, up to `window` in flight), then take the acks that have arrived, in log order,
        and move the position past them. Returns the number of events read or acknowledged (0: idle).

        Raises NatsUnavailable when an ack is missing, after moving the position past what was
        acknowledged; what was in flight is dropped and read again from the log."""
        if self._read_pos is None:
            self._read_pos = await db.fetchval(f"SELECT posisjon FROM {SPORING} WHERE projeksjon = $1", NAVN)
            self._blocked = {as_uuid(r[0]) for r in await db.fetch(f"SELECT DISTINCT aggregat_id FROM {VENTER}")}
            await self._count_waiting(db)
            self._pipe.clear()
        read = 0
        publish_failed = False
        room = self.window - len(self._pipe)
        # Refill when at least half the window is free: one read and one commit per half window, not per ack.
        if room >= max(1, self.window // 2):
            rows = await db.fetch(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {self.events_table} WHERE notification_id > $1 ORDER BY notification_id LIMIT $2",
                self._read_pos,
                min(self.batch, room),
            )
            read = len(rows)
            if rows:
                publish_failed = not await self._publish(db, js, rows)
        if len(self._last_of) > 4 * self.window:  # forget aggregates whose publish is settled (a refusal stays)
            self._last_of = {
                a: f for a, f in self._last_of.items() if not f.done() or _refused(f) or _held(f)
            }
        # Wait for acks only when nothing new could be read; otherwise keep the pipe full.
        new_pos, logged, waiting, failed = await self._take_acks(js, wait=read == 0)
        failed = failed or publish_failed
        if new_pos is not None:
            self._uncommitted_pos = new_pos
            self._uncommitted.extend(logged)
            self._uncommitted_waiting.extend(waiting)
        # The commit runs beside the next steps (on `commits`, a second connection): one in flight, the acks
        # taken meanwhile go together in the next one. Everything is committed before an idle wait and
        # before giving up what is in flight.
        await self._commit(
            db if commits is None else commits,
            everything=failed or commits is None or (read == 0 and not logged),
        )
        if failed:
            self._reset()
            raise NatsUnavailable(f"acknowledged up to position {self.status.posisjon}")
        return read + len(logged) + len(waiting)

    async def _publish(self, db: asyncpg.Connection | asyncpg.Pool, js: JetStreamContext, rows: list[Any]) -> bool:
        """Publish the published events among `rows` (the person record's are passed over); False if a
        publish failed (what went out before it stays in the pipe)."""
        notifikasjoner = to_notifications([r for r in rows if publiseres(r[3])])
        await self.mapper.prepare_reading(db, (n.state for n in notifikasjoner))
        envelopes = {n.id: make_envelope(self.mapper, n, self.pseudonym_nokkel) for n in notifikasjoner}
        blocked = self._blocked if self._blocked is not None else set()
        try:
            for row in rows:
                nid = row[0]
                k = envelopes.get(nid)
                if k is None:
                    self._pipe.append(_Sent(nid, None, None, 0.0))
                    self._read_pos = nid
                    continue
                payload = _encoder.encode(k)
                headers = None if nid in self._uten_msg_id else {"Nats-Msg-Id": str(k.id)}
                info = WaitRow(nid, k.aggregat_id, k.id, k.type, _message_size(payload, headers), None)
                previous = self._last_of.get(k.aggregat_id)
                if k.aggregat_id in blocked or (previous is not None and (_refused(previous) or _held(previous))):
                    blocked.add(k.aggregat_id)  # held behind its aggregate's refused event
                    self._pipe.append(_Sent(nid, k.id, None, 0.0, wait=info))
                elif info.storrelse > self._max_payload:  # the server would refuse it (and drop the connection)
                    blocked.add(k.aggregat_id)
                    refusal = info._replace(grunn=_too_large(payload, headers, self._max_payload))
                    self._pipe.append(_Sent(nid, k.id, None, 0.0, wait=refusal))
                elif previous is not None and not previous.done():
                    # Never two events of one aggregate in flight, but the others do not wait for it: this one
                    # goes out from a task when the earlier one is acknowledged (its slot in the pipe is kept).
                    later = asyncio.ensure_future(
                        self._publish_after(previous, js, subject(k), payload, headers)
                    )
                    self._pipe.append(_Sent(nid, k.id, later, time.monotonic() + self.ack_timeout, info=info))
                    self._last_of[k.aggregat_id] = later
                else:
                    self._settled(previous)
                    ack = await js.publish_async(subject(k), payload, wait_stall=self._stall(js), headers=headers)
                    self._pipe.append(_Sent(nid, k.id, ack, time.monotonic(), info=info))
                    self._last_of[k.aggregat_id] = ack
                self._read_pos = nid
        except NATS_ERRORS:
            return False
        finally:
            self._blocked = blocked
        return True

    def _stall(self, js: JetStreamContext) -> float | None:
        """`wait_stall` for the next publish: None while the window has room (the pipe never holds more than
        `window` publishes, so the pending semaphore does not block), which lets nats-py take the slot
        without a task of its own and send a run of publishes in one write; the ack timeout once the
        window is full, so a stalled server is not waited for without bound."""
        return None if js.publish_async_pending() < self.window else self.ack_timeout

    @staticmethod
    def _settled(previous: asyncio.Future[PubAck] | None) -> None:
        """An aggregate's earlier publish that is done must have been acknowledged before the next goes out:
        if it were lost (a leader change) while the later one was stored, the republish would land after it
        and break the order per aggregate."""
        if previous is not None and (previous.cancelled() or previous.exception() is not None):
            raise NatsUnavailable("an earlier event of the aggregate was not acknowledged")

    async def _publish_after(
        self,
        previous: asyncio.Future[PubAck],
        js: JetStreamContext,
        subj: str,
        payload: bytes,
        headers: dict[str, str] | None,
    ) -> PubAck:
        """Publish once the aggregate's earlier event is acknowledged; HeldBehind if that one was refused or
        held (this one waits in VENTER behind it), NatsUnavailable if it was not acknowledged in time."""
        await asyncio.wait({previous}, timeout=self.ack_timeout)
        if _refused(previous) or _held(previous):
            raise HeldBehind
        if not previous.done():
            raise NatsUnavailable("an earlier event of the aggregate was not acknowledged")
        self._settled(previous)
        ack = await js.publish_async(subj, payload, wait_stall=self._stall(js), headers=headers)
        return await ack

    async def _take_acks(
        self, js: JetStreamContext, *, wait: bool
    ) -> tuple[int | None, list[LogRow], list[WaitRow], bool]:
        """Take acks from the head of the pipe in log order: (the new position or None, log rows, rows that
        wait in VENTER, failed). `wait`: nothing new could be read, so wait (bounded) for acks first."""
        pipe = self._pipe
        if wait and pipe:
            if len(self._pipe) < self.window // 2:
                # Idle: the whole pipe is out; wait until every publish has its answer.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(js.publish_async_completed(), self.ack_timeout)
            else:
                # The window is full: acks of one stream arrive in order, so waiting for the one half a
                # window in frees half the window in one step (one read and one commit per half window).
                target = next((s.ack for s in reversed(list(pipe)[: self.window // 2]) if s.ack is not None), None)
                if target is not None and not target.done():
                    await asyncio.wait({target}, timeout=self.ack_timeout)
        new_pos: int | None = None
        logged: list[LogRow] = []
        waiting: list[WaitRow] = []
        while pipe:
            head = pipe[0]
            if head.wait is not None:
                waiting.append(head.wait)
            elif head.ack is not None:
                if not head.ack.done():
                    if not wait:
                        break
                    left = head.sent + self.ack_timeout - time.monotonic()
                    if left > 0:
                        await asyncio.wait({head.ack}, timeout=left)
                    if not head.ack.done():
                        return new_pos, logged, waiting, True
                    wait = False  # one wait per step; the rest are taken as they arrive
                if _held(head.ack) and head.info is not None:
                    waiting.append(head.info)  # held behind its aggregate's refused event
                elif _refused(head.ack) and head.info is not None:
                    waiting.append(head.info._replace(grunn=f"refused by the stream: {head.ack.exception()}"))
                elif head.ack.cancelled() or head.ack.exception() is not None:
                    return new_pos, logged, waiting, True
                else:
                    logged.append((head.posisjon, head.hendelse_id, head.ack.result().seq))
            pipe.popleft()
            new_pos = head.posisjon
        return new_pos, logged, waiting, False

    async def _commit(self, db: asyncpg.Connection | asyncpg.Pool, *, everything: bool) -> None:
        """Collect a finished commit and start the next with the acks taken since; `everything`: wait until
        everything taken is committed."""
        while True:
            if self._commit_task is not None and (everything or self._commit_task.done()):
                task, self._commit_task = self._commit_task, None
                pos, logged, waiting = await task
                if self._uten_msg_id:
                    self._uten_msg_id -= {nid for nid, _, _ in logged}
                self.status.posisjon = pos
                self.status.publisert += len(logged)
                self.status.siden_fremdrift = time.monotonic()
                self._record_waiting(waiting)
            if self._commit_task is None and self._uncommitted_pos is not None:
                pos, logged, waiting = self._uncommitted_pos, self._uncommitted, self._uncommitted_waiting
                self._uncommitted_pos, self._uncommitted, self._uncommitted_waiting = None, [], []
                self._commit_task = asyncio.ensure_future(_write_position(db, pos, logged, waiting))
                if everything:
                    continue
            return

    def _record_waiting(self, waiting: list[WaitRow]) -> None:
        """Committed: count and log each refusal (one line per refused event, not per retry)."""
        for row in waiting:
            if row.grunn is None:
                self.status.holdt += 1
                continue
            self.status.avviste += 1
            REFUSED.inc()
            log.error(
                "relay: NATS refused an event; it waits in forlop_relay_venter with the later events of its "
                "aggregate (docs/operations.md, 'A refused event')",
                extra={"posisjon": row.posisjon, "aggregat_id": str(row.aggregat_id), "type": row.type,
                       "storrelse": row.storrelse, "grunn": row.grunn},
            )

    async def _drop_commit(self) -> None:
        """Leaving the active role: wait for a commit in flight (its outcome no longer matters here) and
        forget acks not committed (they are published again)."""
        task, self._commit_task = self._commit_task, None
        if task is not None:
            with contextlib.suppress(Exception):
                await task
        self._uncommitted_pos, self._uncommitted, self._uncommitted_waiting = None, [], []

    def _reset(self) -> None:
        """Drop what is in flight; the next step reads again from the committed position."""
        for sent in self._pipe:
            if sent.ack is None:
                continue
            if not sent.ack.done():
                sent.ack.cancel()  # its ack, if it still comes, is ignored; nats-py frees its window slot
            elif not sent.ack.cancelled():
                sent.ack.exception()  # taken: a publish that failed with the rest is not reported again
        self._pipe.clear()
        self._last_of.clear()
        self._read_pos = None
        self._blocked = None


def _too_large(payload: bytes, headers: dict[str, str] | None, max_payload: int) -> str:
    return f"larger than the NATS server's max_payload ({_message_size(payload, headers)} > {max_payload} bytes)"


async def _write_position(
    db: asyncpg.Connection | asyncpg.Pool, pos: int, logged: list[LogRow], waiting: list[WaitRow]
) -> tuple[int, list[LogRow], list[WaitRow]]:
    """Commit the position and the stream sequences of `logged` (and the events that wait): one statement
    (atomic), one round trip."""
    if waiting:
        columns = list(zip(*waiting, strict=True))
        await db.execute(_LAGRE_MED_VENTER, NAVN, pos, [r[0] for r in logged], [r[1] for r in logged],
                         [r[2] for r in logged], *(list(c) for c in columns))
    elif logged:
        await db.execute(_LAGRE, NAVN, pos, [r[0] for r in logged], [r[1] for r in logged], [r[2] for r in logged])
    else:
        await db.execute(
            f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1", NAVN, pos
        )
    return pos, logged, waiting


_encoder = msgspec.json.Encoder()
_LAGRE = (
    f"WITH logg AS (INSERT INTO {LOGG} (posisjon, hendelse_id, sekvens) "
    "SELECT * FROM unnest($3::bigint[], $4::uuid[], $5::bigint[]) "
    "ON CONFLICT (posisjon) DO UPDATE SET sekvens = excluded.sekvens, publisert = now()) "
    f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1"
)
_LAGRE_MED_VENTER = (
    f"WITH venter AS (INSERT INTO {VENTER} (posisjon, aggregat_id, hendelse_id, type, storrelse, grunn) "
    "SELECT * FROM unnest($6::bigint[], $7::uuid[], $8::uuid[], $9::text[], $10::int[], $11::text[]) "
    "ON CONFLICT (posisjon) DO NOTHING), "
    + _LAGRE.removeprefix("WITH ")
)




async def opprett(conn: asyncpg.Pool | asyncpg.Connection) -> None:
    """The relay's tracking row (idempotent; the tables are the migrations')."""
    await conn.execute(f"INSERT INTO {SPORING} (projeksjon) VALUES ($1) ON CONFLICT DO NOTHING", NAVN)


async def waiting_events(dsn: str) -> list[WaitRow]:
    """`forlop relay venter`: what waits in VENTER, in log order (refused ones have a `grunn`)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            f"SELECT posisjon, aggregat_id, hendelse_id, type, storrelse, grunn FROM {VENTER} "
            "WHERE NOT hopp_over ORDER BY posisjon"
        )
    finally:
        await conn.close()
    return [WaitRow(*r) for r in rows]


async def skip_refused(dsn: str, posisjon: int) -> bool:
    """`forlop relay hopp-over`: the refused event at `posisjon` is not to be published; the relay drops it
    at its next try and publishes the events held behind it. False when no refused event waits there."""
    conn = await asyncpg.connect(dsn)
    try:
        status = await conn.execute(
            f"UPDATE {VENTER} SET hopp_over = true WHERE posisjon = $1 AND grunn IS NOT NULL", posisjon
        )
    finally:
        await conn.close()
    return status == "UPDATE 1"


async def replay_range(
    dsn: str,
    nats_url: str,
    pseudonym_nokkel: bytes,
    fra: int,
    til: int | None,
    *,
    events_table: str = "forlop_events",
    mapper: ForlopMapper | None = None,
    window: int = 512,
    ack_timeout: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """`forlop relay replay`: publish a range of the log again, with the same Msg-Ids (subscribers see
    repeats of known ids; inside the duplicate window the stream drops them). Returns (sent, dropped as
    duplicates). The relay's own position is not touched."""
    mapper = mapper or ForlopMapper()
    conn = await asyncpg.connect(dsn)
    try:
        nc = await nats.connect(nats_url.split(","), name="forlop-relay-replay", error_cb=quiet)
    except BaseException:
        await conn.close()
        raise
    try:
        js = nc.jetstream(publish_async_max_pending=window)
        rows = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM "
            f"{events_table} WHERE notification_id >= $1 AND ($2::bigint IS NULL OR notification_id <= $2) "
            "ORDER BY notification_id",
            fra,
            til,
        )
        notifikasjoner = to_notifications(rows)
        await mapper.prepare_reading(conn, (n.state for n in notifikasjoner))
        futures = []
        for i, n in enumerate(notifikasjoner, 1):
            if progress is not None and (i % 500 == 0 or i == len(notifikasjoner)):
                progress(i, len(notifikasjoner))
            k = make_envelope(mapper, n, pseudonym_nokkel)
            if k is not None:
                # wait_stall only when the window is full (Relay._stall): a run of publishes goes in one write
                stall = None if js.publish_async_pending() < window else ack_timeout
                futures.append(
                    await js.publish_async(
                        subject(k), _encoder.encode(k), headers={"Nats-Msg-Id": str(k.id)}, wait_stall=stall
                    )
                )
        await asyncio.wait_for(js.publish_async_completed(), ack_timeout)
        acks = [f.result() for f in futures]
        return len(acks), sum(1 for a in acks if a.duplicate)
    finally:
        await nc.close()
        await conn.close()
