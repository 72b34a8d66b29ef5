"""The scheduler of automatic domain commands (contract.md §1): on each business date, every active
guarantee whose 30th birthday is on or before that date is ended with `FYLT_30` (rules.md UG-5, UG-D5:
tom = the day before the birthday), through the command service like any other command.

Issued once, even across restarts and replicas:
- one active replica (workers/supervisor.py: a PostgreSQL advisory lock on a connection of its own);
- each command carries the idempotency key `fylt30:<guarantee id>` (LOP-12), so a repeat — after a crash
  between the write and the view catching up, or from a replica that raced the lock — returns the first
  answer and appends nothing;
- a guarantee someone else ended meanwhile (`GUARANTEE_CLOSED`) is skipped.
Candidates come from `v_garanti` (`aktiv AND aldersgrense_dato <= per`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID, uuid5

import asyncpg

from domain.common import SYSTEM_IDENT, Aktor, Kontekst
from domain.errors import DomainError
from domain.person import NAMESPACE
from projections.oversikt import Oversikt, tabeller
from projections.runner import opprett as opprett_visninger
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service
from store.settings import Settings
from workers.supervisor import Session, Supervisor
from workers.varsler import forretningsdato

log = logging.getLogger(__name__)

NAVN = "planlegger"


def fylt30_kontekst(garanti_id: UUID) -> Kontekst:
    """The SYSTEM actor, a correlation id and an idempotency key derived from the guarantee: the same on
    every try."""
    nokkel = f"fylt30:{garanti_id}"
    return Kontekst(Aktor(SYSTEM_IDENT, None), correlation_id=uuid5(NAMESPACE, nokkel), command_id=nokkel)


async def fylt30_kandidater(conn: asyncpg.Connection | asyncpg.Pool, per: date) -> list[UUID]:
    rows = await conn.fetch(
        f"SELECT garanti_id FROM {tabeller()[1]} WHERE aktiv AND aldersgrense_dato <= $1 ORDER BY garanti_id", per
    )
    return [r[0] for r in rows]


async def avslutt_fylt30(conn: asyncpg.Connection | asyncpg.Pool, tjeneste: Service, per: date) -> list[UUID]:
    """One run for business date `per`: end every due guarantee; returns the ids answered (new or repeat)."""
    avsluttet = []
    for garanti_id in await fylt30_kandidater(conn, per):
        try:
            await tjeneste.avslutt_ved_30(garanti_id, CommandContext(fylt30_kontekst(garanti_id)))
        except DomainError as e:  # e.g. GUARANTEE_CLOSED: ended by a caseworker before the views knew
            log.info("FYLT_30 not issued", extra={"garanti_id": str(garanti_id), "code": e.code})
            continue
        avsluttet.append(garanti_id)
    return avsluttet


@dataclass
class PlanleggerStatus:
    per: date | None = None
    kommandoer: int = 0
    siste_runde: float = field(default_factory=time.monotonic)


class Scheduler:
    """Runs `avslutt_fylt30` for the business date `i_dag()` at start and every `interval` seconds (and at
    once when the date changes). Several replicas may run; one is active (workers/supervisor.py).

    Without a `tjeneste`, it opens its own command service on `dsn` (the events table `events_table`,
    the rule configuration and person key of `oversikt`) while it is the active replica."""

    def __init__(
        self,
        dsn: str,
        oversikt: Oversikt,
        i_dag: Callable[[], date],
        *,
        tjeneste: Service | None = None,
        events_table: str = "forlop_events",
        snapshot_every: int | None = 50,
        interval: float = 60.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.oversikt = oversikt
        self.i_dag = i_dag
        self.tjeneste = tjeneste
        self.events_table = events_table
        self.snapshot_every = snapshot_every
        self.interval = interval
        self.poll_seconds = poll_seconds
        self.status = PlanleggerStatus()
        self.supervisor = Supervisor(
            "scheduler", dsn, self._schedule, lock_name=NAVN, poll_seconds=poll_seconds, log=log
        )

    @property
    def active(self) -> bool:
        return self.supervisor.active

    async def run(self, stop: asyncio.Event) -> None:
        await self.supervisor.run(stop)

    async def _schedule(self, session: Session) -> None:
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2)
        egen: AsyncPostgresRecorder | None = None
        try:
            tjeneste = self.tjeneste
            if tjeneste is None:
                egen = AsyncPostgresRecorder(
                    await create_pool(self.dsn, min_size=1, max_size=4), events_table=self.events_table
                )
                tjeneste = Service(
                    EventStore(egen, self.oversikt.mapper, snapshot_every=self.snapshot_every),
                    self.oversikt.konfig,
                    self.oversikt.person_nokkel,
                )
            await opprett_visninger(pool, self.oversikt)
            neste = 0.0
            while not session.stop.is_set():
                per = self.i_dag()
                if time.monotonic() >= neste or per != self.status.per:
                    self.status.kommandoer += len(await avslutt_fylt30(pool, tjeneste, per))
                    self.status.per = per
                    self.status.siste_runde = time.monotonic()
                    neste = time.monotonic() + self.interval
                await session.pause(self.poll_seconds)
        finally:
            await pool.close()
            if egen is not None:
                await egen.close()
                await egen.pool.close()


def scheduler(settings: Settings, dsn: str, oversikt: Oversikt) -> Scheduler:
    """The scheduler `forlop up` runs: business date from `--today` or Europe/Oslo, its own service."""
    return Scheduler(
        dsn,
        oversikt,
        forretningsdato(settings),
        events_table=settings.events_table,
        snapshot_every=settings.snapshot_interval,
    )
