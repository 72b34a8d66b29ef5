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
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg
import msgspec
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import PubAck

from projections.runner import SPORING, to_notifications
from store.envelope import make_envelope, publiseres, subject
from store.mapper import ForlopMapper
from workers.nats_setup import (
    HENDELSER,
    KONTROLL_SEKUNDER,
    ensure_streams,
    har_tapt,
    quiet,
    stream_state,
)
from workers.supervisor import NATS_ERRORS, NatsUnavailable, Session, Supervisor

log = logging.getLogger(__name__)

NAVN = "relay"
LOGG = "forlop_relay_logg"  # made by store/migrations/0006_relay_log.sql


@dataclass
class RelayStatus:
    posisjon: int = 0
    publisert: int = 0
    spolt_tilbake: int = 0
    siden_fremdrift: float = field(default_factory=time.monotonic)


class _Sent(NamedTuple):
    """One row read and not yet committed, in log order: its position, and for a published event its id,
    the future of its ack and when it went out (a person-record row has neither)."""

    posisjon: int
    hendelse_id: UUID | None
    ack: asyncio.Future[PubAck] | None
    sent: float


#: What a commit carries: (position, event id, stream sequence) of each acknowledged event.
LogRow = tuple[int, UUID | None, int]


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
        self._commit_task: asyncio.Future[tuple[int, list[LogRow]]] | None = None

    @property
    def active(self) -> bool:
        return self.supervisor.active

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
        next_check = 0.0
        try:
            while not session.stop.is_set():
                try:
                    if not ready or self._check or time.monotonic() >= next_check:
                        self._check = False
                        await self._commit(commits, everything=True)  # nothing in flight to the database
                        # On every (re)connect and periodically: has the stream lost what it acknowledged?
                        await self.kontroller_strom(pool, nc)
                        await ensure_streams(js, self.replicas)
                        session.nats_ok()  # it answered
                        ready = True
                        next_check = time.monotonic() + KONTROLL_SEKUNDER
                    published = self.status.publisert
                    n = await self.publish_batch(db, js, commits)
                except NATS_ERRORS as e:
                    session.nats_lost(e)
                    ready = False
                    await session.pause(self.poll_seconds)
                    continue
                if self.status.publisert > published:  # acks came
                    session.nats_ok()
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

    async def _drain(self, js: JetStreamContext, commits: asyncpg.Connection) -> None:
        """Stopping: wait (bounded) for the acks in flight and commit what they acknowledged."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(js.publish_async_completed(), self.ack_timeout)
        pos, logged, _ = await self._take_acks(js, wait=False)
        if pos is not None:
            self._uncommitted_pos = pos
            self._uncommitted.extend(logged)
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
        if len(self._last_of) > 4 * self.window:  # forget aggregates whose publish is settled
            self._last_of = {a: f for a, f in self._last_of.items() if not f.done()}
        # Wait for acks only when nothing new could be read; otherwise keep the pipe full.
        new_pos, logged, failed = await self._take_acks(js, wait=read == 0)
        failed = failed or publish_failed
        if new_pos is not None:
            self._uncommitted_pos = new_pos
            self._uncommitted.extend(logged)
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
        return read + len(logged)

    async def _publish(self, db: asyncpg.Connection | asyncpg.Pool, js: JetStreamContext, rows: list[Any]) -> bool:
        """Publish the published events among `rows` (the person record's are passed over); False if a
        publish failed (what went out before it stays in the pipe)."""
        notifikasjoner = to_notifications([r for r in rows if publiseres(r[3])])
        await self.mapper.prepare_reading(db, (n.state for n in notifikasjoner))
        envelopes = {n.id: make_envelope(self.mapper, n, self.pseudonym_nokkel) for n in notifikasjoner}
        try:
            for row in rows:
                nid = row[0]
                k = envelopes.get(nid)
                if k is None:
                    self._pipe.append(_Sent(nid, None, None, 0.0))
                else:
                    await self._after_previous(k.aggregat_id)
                    ack = await js.publish_async(
                        subject(k),
                        _encoder.encode(k),
                        wait_stall=self.ack_timeout,
                        headers=None if nid in self._uten_msg_id else {"Nats-Msg-Id": str(k.id)},
                    )
                    self._pipe.append(_Sent(nid, k.id, ack, time.monotonic()))
                    self._last_of[k.aggregat_id] = ack
                self._read_pos = nid
        except NATS_ERRORS:
            return False
        return True

    async def _after_previous(self, aggregat_id: Any) -> None:
        """Never two events of one aggregate in flight: if the earlier one were lost (a leader change) while
        the later one was stored, the republish would land after it and break the order per aggregate."""
        previous = self._last_of.get(aggregat_id)
        if previous is None:
            return
        if not previous.done():
            await asyncio.wait({previous}, timeout=self.ack_timeout)
        if not previous.done() or previous.cancelled() or previous.exception() is not None:
            raise NatsUnavailable("an earlier event of the aggregate was not acknowledged")

    async def _take_acks(self, js: JetStreamContext, *, wait: bool) -> tuple[int | None, list[LogRow], bool]:
        """Take acks from the head of the pipe in log order: (the new position or None, log rows, failed).
        `wait`: nothing new could be read, so wait (bounded) for acks first."""
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
        while pipe:
            head = pipe[0]
            if head.ack is not None:
                if not head.ack.done():
                    if not wait:
                        break
                    left = head.sent + self.ack_timeout - time.monotonic()
                    if left > 0:
                        await asyncio.wait({head.ack}, timeout=left)
                    if not head.ack.done():
                        return new_pos, logged, True
                    wait = False  # one wait per step; the rest are taken as they arrive
                if head.ack.cancelled() or head.ack.exception() is not None:
                    return new_pos, logged, True
                logged.append((head.posisjon, head.hendelse_id, head.ack.result().seq))
            pipe.popleft()
            new_pos = head.posisjon
        return new_pos, logged, False

    async def _commit(self, db: asyncpg.Connection | asyncpg.Pool, *, everything: bool) -> None:
        """Collect a finished commit and start the next with the acks taken since; `everything`: wait until
        everything taken is committed."""
        while True:
            if self._commit_task is not None and (everything or self._commit_task.done()):
                task, self._commit_task = self._commit_task, None
                pos, logged = await task
                if self._uten_msg_id:
                    self._uten_msg_id -= {nid for nid, _, _ in logged}
                self.status.posisjon = pos
                self.status.publisert += len(logged)
                self.status.siden_fremdrift = time.monotonic()
            if self._commit_task is None and self._uncommitted_pos is not None:
                pos, logged = self._uncommitted_pos, self._uncommitted
                self._uncommitted_pos, self._uncommitted = None, []
                self._commit_task = asyncio.ensure_future(_write_position(db, pos, logged))
                if everything:
                    continue
            return

    async def _drop_commit(self) -> None:
        """Leaving the active role: wait for a commit in flight (its outcome no longer matters here) and
        forget acks not committed (they are published again)."""
        task, self._commit_task = self._commit_task, None
        if task is not None:
            with contextlib.suppress(Exception):
                await task
        self._uncommitted_pos, self._uncommitted = None, []

    def _reset(self) -> None:
        """Drop what is in flight; the next step reads again from the committed position."""
        for sent in self._pipe:
            if sent.ack is not None and not sent.ack.done():
                sent.ack.cancel()  # its ack, if it still comes, is ignored; nats-py frees its window slot
        self._pipe.clear()
        self._last_of.clear()
        self._read_pos = None


async def _write_position(
    db: asyncpg.Connection | asyncpg.Pool, pos: int, logged: list[LogRow]
) -> tuple[int, list[LogRow]]:
    """Commit the position and the stream sequences of `logged`: one statement (atomic), one round trip."""
    if logged:
        await db.execute(_LAGRE, NAVN, pos, [r[0] for r in logged], [r[1] for r in logged], [r[2] for r in logged])
    else:
        await db.execute(
            f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1", NAVN, pos
        )
    return pos, logged


_encoder = msgspec.json.Encoder()
_LAGRE = (
    f"WITH logg AS (INSERT INTO {LOGG} (posisjon, hendelse_id, sekvens) "
    "SELECT * FROM unnest($3::bigint[], $4::uuid[], $5::bigint[]) "
    "ON CONFLICT (posisjon) DO UPDATE SET sekvens = excluded.sekvens, publisert = now()) "
    f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1"
)




async def opprett(conn: asyncpg.Pool | asyncpg.Connection) -> None:
    """The relay's tracking row (idempotent; the tables are the migrations')."""
    await conn.execute(f"INSERT INTO {SPORING} (projeksjon) VALUES ($1) ON CONFLICT DO NOTHING", NAVN)


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
        for n in notifikasjoner:
            k = make_envelope(mapper, n, pseudonym_nokkel)
            if k is not None:
                futures.append(
                    await js.publish_async(
                        subject(k), _encoder.encode(k), headers={"Nats-Msg-Id": str(k.id)}, wait_stall=ack_timeout
                    )
                )
        await asyncio.wait_for(js.publish_async_completed(), ack_timeout)
        acks = [f.result() for f in futures]
        return len(acks), sum(1 for a in acks if a.duplicate)
    finally:
        await nc.close()
        await conn.close()
