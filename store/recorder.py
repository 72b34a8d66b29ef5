"""The async recorder on asyncpg: eventsourcing's PostgreSQL layout and ordering protocol, with group commit.

Tables are exactly those of eventsourcing's `PostgresApplicationRecorder` (events, with `notification_id
bigserial` and its unique index, plus the composite type `stored_event_uuid` and the function
`es_insert_events_uuid` it creates) and of its `PostgresAggregateRecorder` for snapshots, so eventsourcing's
own recorders can read and write the same tables. Ours besides: `forlop_kommandoer` (store.idempotency) and
the batch-writing function `forlop_save_forlop_events`. All of them are made by the migration
store/migrations/0001_event_store.sql, which also holds the batch statement described below.

Ordering protocol: every inserting transaction takes `LOCK TABLE ... IN EXCLUSIVE MODE` before it draws
notification ids and sends `NOTIFY <table name>`; transactions therefore commit in id order, and a reader
following `notification_id` may see gaps but never a lower id appearing later.

Writing a batch is ONE round trip: `SELECT * FROM forlop_save_forlop_events(arrays..., lock_timeout)` in
autocommit. The plpgsql function sets `lock_timeout` locally, takes the EXCLUSIVE lock, NOTIFYs, and runs
one statement that checks each request under the lock (optimistic concurrency: see SaveRequest; command
id: store.idempotency) and inserts the events and command records of the requests that pass. The call is
its own transaction, so an error (lock timeout, connection loss) rolls all of it back and leaves no
connection mid-transaction. A request that fails its check fails alone (`VersionConflict`,
`DuplicateCommand`); the others commit.

Group commit: `write()` queues a request. If no batch is in flight the caller writes the batch itself
(no task hop for a lone writer); saves arriving meanwhile queue up and are written together as the next
batch, by a drain task once the first caller has its answer. Two requests touching the same aggregate or
command id never share a batch: the later waits for the next batch, so the first wins and the later sees
its result. The batch writer keeps one pool connection while the store is open: call `close()` before
closing the pool.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Notification, StoredEvent

from domain.errors import DomainError, VersionConflict
from store.idempotency import DuplicateCommand, Kommando, LagretKommando
from store.mapper import as_uuid
from store.migrations import EVENTS_TABLE, SCHEMA, SNAPSHOTS_TABLE
from store.settings import NATS_ENVELOPE_HEADROOM, NATS_MAX_PAYLOAD
from store.unavailable import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SaveRequest:
    """One save: chained stored events (ascending per aggregate), and for each aggregate the link of the
    version its first new event follows (`None`: do not compare links, only require the row to exist).
    The condition checked under the lock: no stored row at or after the first new version, and the stored
    row just before it carries that link — i.e. the save builds on exactly what is stored."""

    events: Sequence[StoredEvent]
    heads: Mapping[UUID, bytes | None] = field(default_factory=dict)
    kommando: Kommando | None = None

    def keys(self) -> set[Any]:
        keys: set[Any] = {e.originator_id for e in self.events}
        if self.kommando is not None:
            keys.add(("kommando", self.kommando.command_id))
        return keys


class EventTooLarge(DomainError):
    """An event larger than NATS takes (less the envelope's headroom): the relay could never publish it, and
    nothing after it of its aggregate. Refused before anything of the save is written (413)."""

    status = 413

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            "PAYLOAD_TOO_LARGE",
            f"the command would store an event of {size} bytes; at most {limit} can be published",
            storrelse_bytes=size,
            max_bytes=limit,
        )


async def _no_reset(_: asyncpg.Connection) -> None:
    """asyncpg always rolls back an open transaction on release; the store sets no session state, holds
    no advisory locks and never LISTENs on pool connections, so the default reset (~14% of a small write,
    ARCHITECTURE.md) has nothing to undo."""


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    command_timeout: float | None = None,
    connect_timeout: float = 60.0,
    **kwargs: Any,
) -> asyncpg.Pool:
    """A pool for the store only (see `_no_reset`: do not LISTEN or SET on its connections).

    `command_timeout`: seconds a statement may run before asyncpg cancels it (TimeoutError: a hung
    server); `connect_timeout`: seconds a new connection waits for the server. The pool reconnects by itself
    when the server comes back (a connection found broken is replaced at its next acquire)."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        reset=_no_reset,
        command_timeout=command_timeout,
        timeout=connect_timeout,
        **kwargs,
    )


class AsyncPostgresRecorder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        events_table: str = EVENTS_TABLE,
        snapshots_table: str = SNAPSHOTS_TABLE,
        schema: str = SCHEMA,
        lock_timeout: float = 5.0,
        max_batch: int = 500,
        acquire_timeout: float | None = None,
        max_event_bytes: int = NATS_MAX_PAYLOAD - NATS_ENVELOPE_HEADROOM,
    ) -> None:
        if (events_table, snapshots_table, schema) != (EVENTS_TABLE, SNAPSHOTS_TABLE, SCHEMA):
            raise ValueError(
                f"the migrations (store/migrations) create {SCHEMA}.{EVENTS_TABLE} and {SCHEMA}.{SNAPSHOTS_TABLE}; "
                f"there are no tables {schema}.{events_table} / {schema}.{snapshots_table}"
            )
        self.pool = pool
        self.schema = schema
        self.events_table = events_table
        self.snapshots_table = snapshots_table
        self.channel = events_table  # eventsourcing: the table name without the schema
        self.lock_timeout = lock_timeout
        self.max_batch = max_batch
        self.acquire_timeout = acquire_timeout  # seconds the batch writer waits for a pool connection
        self.max_event_bytes = max_event_bytes
        self._events = f'"{schema}"."{events_table}"'
        self._snapshots = f'"{schema}"."{snapshots_table}"'
        # The batch writer (store/migrations/0001_event_store.sql): heads ($1-$4), commands ($5-$8), events
        # ($9-$13), the lock timeout ($14).
        params = ", ".join(f"${i}" for i in range(1, 15))
        self._save_sql = f'SELECT * FROM "{schema}"."forlop_save_{events_table}"({params})'

        self._lock_timeout_setting = f"{int(lock_timeout * 1000)}ms"
        self._load_sql = _LOAD_SQL.format(events=self._events, snapshots=self._snapshots)
        self._load_many_sql = _LOAD_MANY_SQL.format(events=self._events, snapshots=self._snapshots)
        self._queue: collections.deque[tuple[SaveRequest, asyncio.Future[list[int]]]] = collections.deque()
        self._leading = False
        self._drainer: asyncio.Task[None] | None = None
        # The batch writer keeps one pool connection while the store is open (one batch is in flight at a
        # time): no acquire/release per batch. Dropped and reacquired after any error.
        self._writer: asyncpg.pool.PoolConnectionProxy | None = None
        self.batches = 0  # transactions written by the committer (tests and metrics: batching at work)

    # --- writing ----------------------------------------------------------------------------------

    async def write(self, request: SaveRequest) -> list[int]:
        """Queue one save for the committer; its notification ids once committed.

        Cancelling the caller does not withdraw a request already taken into a batch. An event over
        `max_event_bytes` refuses the whole save (EventTooLarge) before it is queued: nothing is written."""
        for stored in request.events:
            if len(stored.state) > self.max_event_bytes:
                raise EventTooLarge(len(stored.state), self.max_event_bytes)
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        if not self._leading:
            # No batch in flight: this caller writes itself (no task hop when alone) until its own
            # request is committed, then hands what queued up meanwhile to a drain task, so that no
            # caller keeps writing for others under sustained load.
            self._leading = True
            try:
                while not future.done():
                    await self._commit_batch()
            finally:
                if self._queue:
                    self._drainer = asyncio.create_task(self._drain(), name="forlop-group-commit")
                else:
                    self._leading = False
        return await future

    async def _drain(self) -> None:
        """Leadership passed from a caller (`_leading` is already set)."""
        try:
            while self._queue:
                await self._commit_batch()
        finally:
            self._leading = False

    async def _commit_batch(self) -> None:
        batch: list[tuple[SaveRequest, asyncio.Future[list[int]]]] = []
        taken: set[Any] = set()
        later: list[tuple[SaveRequest, asyncio.Future[list[int]]]] = []
        while self._queue and len(batch) < self.max_batch:
            request, future = self._queue.popleft()
            if future.done():
                continue
            keys = request.keys()
            if keys & taken:
                later.append((request, future))
            else:
                taken |= keys
                batch.append((request, future))
        self._queue.extendleft(reversed(later))
        if not batch:
            return
        self.batches += 1
        try:
            if self._writer is None or self._writer.is_closed():
                self._writer = await self.pool.acquire(timeout=self.acquire_timeout)
            results: Sequence[list[int] | BaseException] = await self.insert(
                [r for r, _ in batch], self._writer
            )
        except Exception as e:
            results = [e] * len(batch)
            # A statement that timed out or a connection that broke: its state is unknown (a cancel sent to
            # a hung server would hold the release), so the connection is closed, not given back.
            await self._release_writer(broken=isinstance(e, DATABASE_UNAVAILABLE))
        except BaseException:
            lost = RuntimeError("save outcome unknown: the writing task was cancelled during the commit")
            for _, future in batch:
                if not future.done():
                    future.set_exception(lost)
            await self._release_writer()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def insert(
        self, requests: Sequence[SaveRequest], connection: asyncpg.Connection | None = None
    ) -> list[list[int] | BaseException]:
        """Write `requests` in one transaction; per request its notification ids or its own error.

        Requests must not share an aggregate or a command id (`write()` sees to that). An error of the
        transaction itself (lock timeout, connection loss) is raised and nothing is written."""
        arrays: tuple[list[Any], ...] = tuple([] for _ in range(13))
        (h_no, h_id, h_v0, h_prev, c_no, c_id, c_fp, c_svar, e_no, e_id, e_v, e_topic, e_state) = arrays
        owner: dict[UUID, int] = {}
        for no, request in enumerate(requests):
            first: dict[UUID, int] = {}
            for se in request.events:
                oid = as_uuid(se.originator_id)  # eventsourcing types it UUID | str; ours are UUIDs
                if owner.setdefault(oid, no) != no:
                    raise ValueError(f"aggregate {oid} in two requests of one batch")
                first.setdefault(oid, se.originator_version)
                e_no.append(no)
                e_id.append(oid)
                e_v.append(se.originator_version)
                e_topic.append(se.topic)
                e_state.append(se.state)
            for oid, v0 in first.items():
                prev = request.heads.get(oid)
                h_no.append(no)
                h_id.append(oid)
                h_v0.append(v0)
                h_prev.append(None if prev is None else prev.hex().encode())
            if request.kommando is not None:
                if request.kommando.command_id in c_id:
                    raise ValueError(f"command {request.kommando.command_id!r} in two requests of one batch")
                c_no.append(no)
                c_id.append(request.kommando.command_id)
                c_fp.append(request.kommando.fingerprint)
                c_svar.append(request.kommando.svar)
        if not e_no and not c_no:
            return [[] for _ in requests]

        # One round trip: the function's statement is its own transaction (autocommit), in which it takes
        # the lock, notifies, checks and inserts. Any error rolls all of it back.
        rows = await (connection or self.pool).fetch(self._save_sql, *arrays, self._lock_timeout_setting)

        results: list[list[int] | BaseException] = [[] for _ in requests]
        for kind, save_no, oid, notification_id, command_id, fingerprint, svar, registrert in rows:
            if kind == 0:
                ids = results[owner[oid]]  # asyncpg's UUID hashes and compares equal
                assert isinstance(ids, list)
                ids.append(notification_id)
            elif kind == 1:
                if not isinstance(results[save_no], DuplicateCommand):
                    ids_of_save = sorted({str(e.originator_id) for e in requests[save_no].events})
                    results[save_no] = VersionConflict(
                        "the aggregate was changed by another save", aggregates=ids_of_save
                    )
            else:  # a repeated command is a repeat even if its events would also conflict
                results[save_no] = DuplicateCommand(
                    LagretKommando(command_id, fingerprint, bytes(svar), registrert)
                )
        for ids in results:
            if isinstance(ids, list):
                ids.sort()
        return results

    async def insert_snapshot(self, stored: StoredEvent) -> None:
        await self.pool.execute(
            f"INSERT INTO {self._snapshots} (originator_id, originator_version, topic, state) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            stored.originator_id,
            stored.originator_version,
            stored.topic,
            stored.state,
        )

    async def _release_writer(self, *, broken: bool = False) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            # terminate() refuses a proxy the pool already took back (InterfaceError); either way the
            # connection is not reused.
            if broken:
                with contextlib.suppress(asyncpg.InterfaceError):
                    writer.terminate()
            with contextlib.suppress(Exception):
                await self.pool.release(writer)

    async def close(self) -> None:
        """Fail requests still queued (normally none: every write() returns after its commit), and give
        the batch writer's connection back to the pool."""
        if self._drainer is not None and not self._drainer.done():
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
        await self._release_writer()
        while self._queue:
            _, future = self._queue.popleft()
            if not future.done():
                future.set_exception(RuntimeError("event store closed"))

    # --- reading ----------------------------------------------------------------------------------

    async def select_events(
        self,
        originator_id: UUID,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        return await self._select(self._events, originator_id, gt, lte, desc, limit)

    async def select_for_load(
        self, originator_id: UUID, lte: int | None = None
    ) -> tuple[StoredEvent | None, list[StoredEvent]]:
        """In one round trip: the latest snapshot at or below `lte` (None if none), and the events from
        the snapshot's version (inclusive: the caller wants its link) or from the start, up to `lte`."""
        rows = await self.pool.fetch(self._load_sql, originator_id, lte)
        snapshot: StoredEvent | None = None
        events: list[StoredEvent] = []
        for is_snapshot, version, topic, state in rows:
            stored = StoredEvent(originator_id, version, topic, bytes(state))
            if is_snapshot:
                snapshot = stored
            else:
                events.append(stored)
        return snapshot, events

    async def select_for_load_many(
        self, originator_ids: Sequence[UUID]
    ) -> dict[UUID, tuple[StoredEvent | None, list[StoredEvent]]]:
        """`select_for_load` (latest versions) of several aggregates in one round trip; an id without
        events maps to (None, [])."""
        return (await self.select_for_load_many_with(originator_ids, None))[0]

    async def select_for_load_many_with(
        self, originator_ids: Sequence[UUID], also: str | None
    ) -> tuple[dict[UUID, tuple[StoredEvent | None, list[StoredEvent]]], list[tuple[Any, Any]]]:
        """`select_for_load_many`, and in the same statement (the same snapshot of the database) the rows of
        `also`: a query over `loaded(id, is_snapshot, originator_version, topic, state)`, the rows just
        loaded, giving (uuid, NULL::boolean, NULL::bigint, NULL::text, bytea) rows; those come back as
        (uuid, bytea) pairs."""
        ids = list(dict.fromkeys(originator_ids))
        if also is None:
            rows = await self.pool.fetch(self._load_many_sql, ids)
        else:
            rows = await self.pool.fetch(
                f"WITH loaded AS MATERIALIZED ({self._load_many_sql}) SELECT * FROM loaded UNION ALL ({also})", ids
            )
        out: dict[UUID, tuple[StoredEvent | None, list[StoredEvent]]] = {}
        found: dict[Any, tuple[list[StoredEvent | None], list[StoredEvent]]] = {}
        extra: list[tuple[Any, Any]] = []
        for oid, is_snapshot, version, topic, state in rows:
            if is_snapshot is None:
                extra.append((oid, state))
                continue
            snapshot, events = found.setdefault(oid, ([None], []))
            stored = StoredEvent(as_uuid(oid), version, topic, bytes(state))
            if is_snapshot:
                snapshot[0] = stored
            else:
                events.append(stored)
        for oid in originator_ids:
            snapshot, events = found.get(oid, ([None], []))
            events.sort(key=lambda se: se.originator_version)
            out[oid] = (snapshot[0], events)
        return out, extra

    async def select_snapshots(
        self,
        originator_id: UUID,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        return await self._select(self._snapshots, originator_id, gt, lte, desc, limit)

    async def _select(
        self, table: str, originator_id: UUID, gt: int | None, lte: int | None, desc: bool, limit: int | None
    ) -> list[StoredEvent]:
        sql = f"SELECT originator_id, originator_version, topic, state FROM {table} WHERE originator_id = $1"
        args: list[Any] = [originator_id]
        if gt is not None:
            args.append(gt)
            sql += f" AND originator_version > ${len(args)}"
        if lte is not None:
            args.append(lte)
            sql += f" AND originator_version <= ${len(args)}"
        sql += " ORDER BY originator_version " + ("DESC" if desc else "ASC")
        if limit is not None:
            args.append(limit)
            sql += f" LIMIT ${len(args)}"
        rows = await self.pool.fetch(sql, *args)
        return [StoredEvent(as_uuid(r[0]), r[1], r[2], bytes(r[3])) for r in rows]

    async def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        """Events ordered by notification id from `start` (inclusive unless told), at most `limit`."""
        where: list[str] = []
        args: list[Any] = []
        if start is not None:
            args.append(start)
            where.append(f"notification_id {'>=' if inclusive_of_start else '>'} ${len(args)}")
        if stop is not None:
            args.append(stop)
            where.append(f"notification_id <= ${len(args)}")
        if topics:
            args.append(list(topics))
            where.append(f"topic = ANY(${len(args)}::text[])")
        args.append(limit)
        sql = (
            f"SELECT notification_id, originator_id, originator_version, topic, state FROM {self._events}"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY notification_id LIMIT ${len(args)}"
        )
        rows = await self.pool.fetch(sql, *args)
        return [
            Notification(
                id=r[0], originator_id=as_uuid(r[1]), originator_version=r[2], topic=r[3], state=bytes(r[4])
            )
            for r in rows
        ]

    async def max_notification_id(self) -> int | None:
        return await self.pool.fetchval(f"SELECT MAX(notification_id) FROM {self._events}")


_LOAD_SQL = """
WITH s AS (
    SELECT originator_version, topic, state FROM {snapshots}
    WHERE originator_id = $1 AND ($2::bigint IS NULL OR originator_version <= $2)
    ORDER BY originator_version DESC LIMIT 1
)
SELECT true, originator_version, topic, state FROM s
UNION ALL (
    SELECT false, originator_version, topic, state FROM {events}
    WHERE originator_id = $1 AND ($2::bigint IS NULL OR originator_version <= $2)
      AND originator_version >= coalesce((SELECT originator_version FROM s), 0)
    ORDER BY originator_version
)
"""

# _LOAD_SQL (latest version) for each id of $1, in one statement.
_LOAD_MANY_SQL = """
SELECT q.id, x.* FROM unnest($1::uuid[]) AS q(id)
CROSS JOIN LATERAL (
    WITH s AS (
        SELECT originator_version, topic, state FROM {snapshots}
        WHERE originator_id = q.id ORDER BY originator_version DESC LIMIT 1
    )
    SELECT true AS is_snapshot, originator_version, topic, state FROM s
    UNION ALL (
        SELECT false, originator_version, topic, state FROM {events}
        WHERE originator_id = q.id AND originator_version >= coalesce((SELECT originator_version FROM s), 0)
        ORDER BY originator_version
    )
) x
"""
