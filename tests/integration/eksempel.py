"""A small aggregate for the store's tests, written the way design.md asks domain aggregates to be written.

It lives in an importable module because stored topics are resolved by import path. Its fields cover every
type the store's typed decoding must round-trip: UUID, date, datetime, str, int, Decimal, bool, StrEnum,
frozen dataclasses (Kontekst, Aktor, Fodselsnummer), `X | None`, tuple, list and dict of these.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Aktor, Kontekst
from domain.errors import DomainError
from domain.ident import Fodselsnummer


class Kontotype(StrEnum):
    BRUK = "BRUK"
    SPARE = "SPARE"


class Konto(Aggregate):
    eier: Fodselsnummer
    kontotype: Kontotype
    apnet: date
    saldo: Decimal
    antall_bevegelser: int
    sperret: bool
    merknader: tuple[str, ...]
    referanser: list[UUID]
    grenser: dict[str, Decimal]
    sist_endret_av: Aktor | None
    lukket: datetime | None
    regelsett_id: str

    @event("KontoApnet")
    def __init__(
        self,
        id: UUID,
        eier: Fodselsnummer,
        kontotype: Kontotype,
        apnet: date,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.eier = eier
        self.kontotype = kontotype
        self.apnet = apnet
        self.saldo = Decimal("0")
        self.antall_bevegelser = 0
        self.sperret = False
        self.merknader = ()
        self.referanser = []
        self.grenser = {}
        self.sist_endret_av = kontekst.aktor
        self.lukket = None
        self.regelsett_id = regelsett_id

    def sett_inn(
        self, belop: Decimal, kontekst: Kontekst, regelsett_id: str, referanse: UUID | None = None
    ) -> None:
        self.check_apen()
        if belop <= 0:
            raise DomainError("BELOP_IKKE_POSITIVT", belop=belop)
        self._sett_inn(belop, referanse, kontekst, regelsett_id)

    def ta_ut(self, belop: Decimal, kontekst: Kontekst, regelsett_id: str) -> None:
        self.check_apen()
        if belop > self.saldo:
            raise DomainError("DEKNING_MANGLER", saldo=self.saldo)
        self._ta_ut(belop, kontekst, regelsett_id)

    def merk(
        self,
        merknader: tuple[str, ...],
        grenser: dict[str, Decimal],
        frist: date | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self._merk(merknader, grenser, frist, kontekst, regelsett_id)

    def lukk(self, tidspunkt: datetime, kontekst: Kontekst, regelsett_id: str) -> None:
        self.check_apen()
        self._lukk(tidspunkt, kontekst, regelsett_id)

    def check_apen(self) -> None:
        if self.lukket is not None:
            raise DomainError("KONTO_LUKKET")

    @event("InnskuddRegistrert")
    def _sett_inn(
        self, belop: Decimal, referanse: UUID | None, kontekst: Kontekst, regelsett_id: str
    ) -> None:
        self.saldo += belop
        self.antall_bevegelser += 1
        if referanse is not None:
            self.referanser = [*self.referanser, referanse]
        self.sist_endret_av = kontekst.aktor

    @event("UttakRegistrert")
    def _ta_ut(self, belop: Decimal, kontekst: Kontekst, regelsett_id: str) -> None:
        self.saldo -= belop
        self.antall_bevegelser += 1
        self.sist_endret_av = kontekst.aktor

    @event("Merket")
    def _merk(
        self,
        merknader: tuple[str, ...],
        grenser: dict[str, Decimal],
        frist: date | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.merknader = (*self.merknader, *merknader)
        self.grenser = {**self.grenser, **grenser}

    @event("Lukket")
    def _lukk(self, tidspunkt: datetime, kontekst: Kontekst, regelsett_id: str) -> None:
        self.lukket = tidspunkt
        self.sperret = True

    class Sperret(Aggregate.Event):
        """An explicitly declared event class at version 2: v1 had no `grunn` (upcasting test)."""

        class_version = 2

        aarsak: str
        kontekst: Kontekst
        regelsett_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["aarsak"] = "UKJENT"

        def apply(self, konto: Konto) -> None:
            konto.sperret = True

    def sperr(self, aarsak: str, kontekst: Kontekst, regelsett_id: str) -> None:
        self.trigger_event(self.Sperret, aarsak=aarsak, kontekst=kontekst, regelsett_id=regelsett_id)


class Notat(Aggregate):
    """An aggregate at class version 2: v1 snapshots lack `prioritet` (snapshot upcasting test)."""

    class_version = 2

    tekst: str
    prioritet: int
    frist: date | None

    @event("NotatSkrevet")
    def __init__(self, id: UUID, tekst: str, frist: date | None) -> None:
        self.tekst = tekst
        self.prioritet = 3
        self.frist = frist

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["prioritet"] = 3


# --- test helpers ------------------------------------------------------------------------------------

FNR = "01017000027"
REGELSETT = "R-2026-1"


def kontekst(command_id: str | None = None) -> Kontekst:
    from uuid import uuid4

    return Kontekst(Aktor("Z990001", "0301"), uuid4(), command_id, "test")


def ny_konto(id: UUID | None = None) -> Konto:
    from uuid import uuid4

    return Konto(id or uuid4(), Fodselsnummer(FNR), Kontotype.BRUK, date(2026, 1, 5), kontekst(), REGELSETT)


async def open_store(database_url: str, *, snapshot_every: int | None = 100, **recorder_kwargs: Any) -> Any:
    """An EventStore with its own pool on a migrated database; close with `close_store`."""
    from store.recorder import AsyncPostgresRecorder, create_pool
    from store.repository import EventStore

    pool = await create_pool(database_url, min_size=1, max_size=8)
    recorder = AsyncPostgresRecorder(pool, **recorder_kwargs)
    return EventStore(recorder, snapshot_every=snapshot_every)


async def close_store(store: Any) -> None:
    await store.close()
    await store.recorder.pool.close()
