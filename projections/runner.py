"""The projection runner: follows the events table by notification id and keeps the views, exactly once.

- Wakes on NOTIFY (the channel is the events table's name, as eventsourcing's recorder notifies) and polls
  as a fallback. Notification ids may have gaps but never reorder (the store's table lock), so reading
  "after my position" never skips a committed event.
- Each batch is one transaction: it locks the projection's tracking row, reads the events after the
  position, applies them to the views and moves the position. A crash anywhere rolls the whole batch back,
  so every event changes the views exactly once. A rebuild swaps tables under the same row lock.
- One active runner per projection across replicas: workers/projector.py runs `follow` under the worker
  supervisor, which holds a session advisory lock on a connection of its own; a standby polls for it and
  takes over when the active one's session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Notification

from store.mapper import as_uuid

log = logging.getLogger(__name__)

SPORING = "forlop_sporing"  # the tracking rows; this table and the views are made by store/migrations


#: A stored event as a rebuild's first pass reads it: (aggregate id, version, topic, stored state).
Rad = tuple[UUID, int, str, bytes]


class Projection:
    """What the runner drives: a name, its tables (made by the migrations; a rebuild's shadow tables are
    made like them, with a suffix), and `anvend` (applies events inside a transaction)."""

    navn: str

    def tabeller(self, suffix: str = "") -> tuple[str, ...]:  # pragma: no cover - interface
        raise NotImplementedError

    async def anvend(
        self, conn: asyncpg.Connection, hendelser: Sequence[Notification], suffix: str = ""
    ) -> None:
        raise NotImplementedError  # pragma: no cover - interface

    #: Topic prefixes of the events a rebuild's first pass reads (projections/rebuild.py); empty: the
    #: projection has no `fyll`, and a rebuild applies the whole log with `anvend`.
    emner: tuple[str, ...] = ()

    async def fyll(self, conn: asyncpg.Connection, hendelser: Sequence[Rad], suffix: str) -> int:
        """Write the final rows of whole aggregates (their events together, in version order, as
        (aggregate id, version, topic, stored state)) into fresh tables; the number of rows written."""
        raise NotImplementedError  # pragma: no cover - interface


def to_notifications(rows: Sequence[asyncpg.Record]) -> list[Notification]:
    return [
        Notification(
            id=r[0], originator_id=as_uuid(r[1]), originator_version=r[2], topic=r[3], state=bytes(r[4])
        )
        for r in rows
    ]


async def opprett(conn: asyncpg.Connection | asyncpg.Pool, projeksjon: Projection) -> None:
    """The projection's tracking row (idempotent; its tables are the migrations')."""
    await conn.execute(
        f"INSERT INTO {SPORING} (projeksjon) VALUES ($1) ON CONFLICT (projeksjon) DO NOTHING", projeksjon.navn
    )


async def posisjon(conn: asyncpg.Connection | asyncpg.Pool, navn: str) -> int | None:
    return await conn.fetchval(f"SELECT posisjon FROM {SPORING} WHERE projeksjon = $1", navn)


@dataclass
class Status:
    """What /metrics and /health/ready show of one projection."""

    posisjon: int = 0
    hode: int = 0
    siden_fremdrift: float = field(default_factory=time.monotonic)

    @property
    def after_events(self) -> int:
        return max(0, self.hode - self.posisjon)

    @property
    def after_seconds(self) -> float:
        return 0.0 if self.after_events == 0 else time.monotonic() - self.siden_fremdrift


class Following(Protocol):
    """What the runner needs of its worker's session (workers/supervisor.py's Session)."""

    stop: asyncio.Event

    async def listen(self, channel: str, callback: Callable[..., Any]) -> None: ...


class Runner:
    """Keeps one projection's views: `follow` runs as the active replica's work (workers/projector.py runs
    it under the worker supervisor); `run_batch` is one step."""

    def __init__(
        self,
        dsn: str,
        projeksjon: Projection,
        *,
        events_table: str = "forlop_events",
        batch: int = 500,
        poll_seconds: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.projeksjon = projeksjon
        self.events_table = events_table
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.status = Status()
        self._wake = asyncio.Event()

    async def follow(self, session: Following) -> None:
        """Follow the log until `session.stop` is set (only while holding the projection's lock)."""
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2)
        try:
            await opprett(pool, self.projeksjon)
            await session.listen(self.events_table, self._notified)
            while not session.stop.is_set():
                # Clear before reading, not after: a NOTIFY that lands while the batch runs must wake the
                # next wait, or its events sit until the poll (measured: p99 freshness 1.2 s → see bench).
                self._wake.clear()
                if await self.run_batch(pool) == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            await pool.close()

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def run_batch(self, pool: asyncpg.Pool) -> int:
        """One batch in one transaction; the number of events it read."""
        async with pool.acquire() as conn, conn.transaction():
            pos = await conn.fetchval(
                f"SELECT posisjon FROM {SPORING} WHERE projeksjon = $1 FOR UPDATE", self.projeksjon.navn
            )
            rows = await conn.fetch(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {self.events_table} WHERE notification_id > $1 ORDER BY notification_id LIMIT $2",
                pos,
                self.batch,
            )
            self.status.hode = max(self.status.hode, rows[-1][0] if rows else pos)
            if not rows:
                self.status.posisjon = pos
                self.status.hode = max(
                    pos,
                    await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {self.events_table}"),
                )
                return 0
            await self.projeksjon.anvend(conn, to_notifications(rows), "")
            await conn.execute(
                f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1",
                self.projeksjon.navn,
                rows[-1][0],
            )
        self.status.posisjon = rows[-1][0]
        self.status.siden_fremdrift = time.monotonic()
        return len(rows)


async def wait_until(pool: asyncpg.Pool, navn: str, min_posisjon: int, tidsfrist: float = 5.0) -> bool:
    """Read-your-writes: wait (bounded) until the projection has passed `min_posisjon`."""
    slutt = time.monotonic() + tidsfrist
    while True:
        pos = await posisjon(pool, navn)
        if pos is not None and pos >= min_posisjon:
            return True
        if time.monotonic() >= slutt:
            return False
        await asyncio.sleep(0.02)


async def etterslep(
    conn: asyncpg.Connection | asyncpg.Pool, navn: str, events_table: str
) -> tuple[int, float] | None:
    """(events behind, seconds behind) of a projection, read from the database (works across processes).

    Seconds behind is the age of the oldest event the projection has not applied; None if the projection
    has never run."""
    row = await conn.fetchrow(
        f"""SELECT s.posisjon,
                   (SELECT coalesce(max(notification_id), 0) FROM {events_table}) AS hode,
                   (SELECT (convert_from(e.state, 'UTF8')::json ->> 'timestamp')::timestamptz
                      FROM {events_table} e WHERE e.notification_id > s.posisjon
                      ORDER BY e.notification_id LIMIT 1) AS eldste
            FROM {SPORING} s WHERE s.projeksjon = $1""",
        navn,
    )
    if row is None:
        return None
    hendelser = max(0, row["hode"] - row["posisjon"])
    if row["eldste"] is None:
        return hendelser, 0.0
    sekunder = await conn.fetchval("SELECT extract(epoch FROM now() - $1::timestamptz)", row["eldste"])
    return hendelser, max(0.0, float(sekunder))
