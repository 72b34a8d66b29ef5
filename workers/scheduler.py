"""The scheduler of automatic domain commands (contract.md §1): on each business date, every active
guarantee whose 30th birthday is on or before that date is ended with `FYLT_30` (rules.md UG-5, UG-D5:
tom = the day before the birthday), through the command service like any other command.

Issued once, even across restarts and replicas:
- one active replica (a PostgreSQL advisory lock on a connection of its own, like the projection runner);
- each command carries the idempotency key `fylt30:<guarantee id>` (LOP-12), so a repeat — after a crash
  between the write and the view catching up, or from a replica that raced the lock — returns the first
  answer and appends nothing;
- a guarantee someone else ended meanwhile (`GUARANTEE_CLOSED`) is skipped.
Candidates come from `v_garanti` (`aktiv AND aldersgrense_dato <= per`).
"""

from __future__ import annotations

import asyncio
import contextlib
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
from store.locks import ta_laas, vent
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import Service
from store.settings import Settings
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
            await tjeneste.endre_garanti(garanti_id, "avslutt_ved_30", fylt30_kontekst(garanti_id))
        except DomainError as e:  # e.g. GUARANTEE_CLOSED: ended by a caseworker before the views knew
            log.info("FYLT_30 not issued", extra={"garanti_id": str(garanti_id), "code": e.code})
            continue
        avsluttet.append(garanti_id)
    return avsluttet


@dataclass
class PlanleggerStatus:
    aktiv: bool = False
    per: date | None = None
    kommandoer: int = 0
    siste_runde: float = field(default_factory=time.monotonic)


class Planlegger:
    """Runs `avslutt_fylt30` for the business date `i_dag()` at start and every `intervall` seconds (and at
    once when the date changes). Several replicas may run; one is active.

    Without a `tjeneste`, it opens its own command service on `dsn` (the events table `events_table`,
    the rule configuration and person key of `oversikt`) for as long as `kjor` runs."""

    def __init__(
        self,
        dsn: str,
        oversikt: Oversikt,
        i_dag: Callable[[], date],
        *,
        tjeneste: Service | None = None,
        events_table: str = "forlop_events",
        snapshot_every: int | None = 50,
        intervall: float = 60.0,
        poll_sekunder: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.oversikt = oversikt
        self.i_dag = i_dag
        self.tjeneste = tjeneste
        self.events_table = events_table
        self.snapshot_every = snapshot_every
        self.intervall = intervall
        self.poll_sekunder = poll_sekunder
        self.status = PlanleggerStatus()

    async def kjor(self, stopp: asyncio.Event) -> None:
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2)
        egen: AsyncPostgresRecorder | None = None
        try:
            if self.tjeneste is None:
                egen = AsyncPostgresRecorder(
                    await create_pool(self.dsn, min_size=1, max_size=4), events_table=self.events_table
                )
                self.tjeneste = Service(
                    EventStore(egen, self.oversikt.mapper, snapshot_every=self.snapshot_every),
                    self.oversikt.konfig,
                    self.oversikt.person_nokkel,
                )
            await opprett_visninger(pool, self.oversikt)
            while not stopp.is_set():
                try:
                    await self._som_aktiv(pool, stopp, self.tjeneste)
                except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as e:
                    log.warning("scheduler lost its database connection", extra={"error": str(e)})
                    self.status.aktiv = False
                    await vent(stopp, self.poll_sekunder)
        finally:
            self.status.aktiv = False
            await pool.close()
            if egen is not None:
                self.tjeneste = None
                await egen.close()
                await egen.pool.close()

    async def _som_aktiv(self, pool: asyncpg.Pool, stopp: asyncio.Event, tjeneste: Service) -> None:
        laas = await ta_laas(self.dsn, NAVN, stopp, self.poll_sekunder)
        if laas is None:
            return
        try:
            self.status.aktiv = True
            neste = 0.0
            while not stopp.is_set():
                if laas.is_closed():
                    raise asyncpg.InterfaceError("the lock connection is closed")
                per = self.i_dag()
                if time.monotonic() >= neste or per != self.status.per:
                    self.status.kommandoer += len(await avslutt_fylt30(pool, tjeneste, per))
                    self.status.per = per
                    self.status.siste_runde = time.monotonic()
                    neste = time.monotonic() + self.intervall
                await vent(stopp, self.poll_sekunder)
        finally:
            self.status.aktiv = False
            with contextlib.suppress(Exception):
                await laas.close()


def planlegger(settings: Settings, dsn: str, oversikt: Oversikt, **kwargs: object) -> Planlegger:
    """The scheduler `forlop up` runs: business date from `--today` or Europe/Oslo, its own service."""
    return Planlegger(
        dsn,
        oversikt,
        forretningsdato(settings),
        events_table=settings.events_table,
        snapshot_every=settings.snapshot_interval,
        **kwargs,  # type: ignore[arg-type]
    )
