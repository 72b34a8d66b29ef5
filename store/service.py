"""The command service: one method per use case, each load → one command → save → answer.

A use case takes its typed command (`domain.commands`) and a `CommandContext`, and hands the aggregate's
command method to the plumbing both aggregates share: `_on_lop` / `_on_garanti` load the aggregate, judge
access, check If-Match and keep the person record in step; `_execute` answers idempotent repeats, saves
every touched aggregate in one store transaction and answers with a `Receipt`. Cross-stream rules are judged
on the per-person aggregate (`domain.person.Person`, docs/design.md), saved in that same transaction, so two
racing commands for one person cannot both commit.

Idempotency (LOP-12): a command with `kontekst.command_id` records (id, fingerprint, answer) in the same
transaction as its events. A repeat returns the first answer and stores nothing; the same id with another
fingerprint (another command, target, body or actor) is refused with IDEMPOTENCY_KEY_REUSED. The record is
in PostgreSQL, so it survives restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from domain.commands import (
    Annuller,
    Avkort,
    AvsluttGaranti,
    AvsluttLop,
    AvsluttVed30,
    Command,
    EndreMalgruppe,
    FastsettSats,
    Forleng,
    InnvilgGaranti,
    InnvilgLop,
    InnvilgPermisjon,
    KobleAktivitet,
    KorrigerGaranti,
    KorrigerLop,
    Overgang,
    PlanleggSamtale,
    RegistrerSamhandling,
    RegistrerSamtale,
    RegistrerUtdanningsvurdering,
    RegistrerVurdering,
    TilbyArbeidsgiveroppfolging,
    TildelKontaktperson,
)
from domain.common import Kontekst
from domain.config import Regelkonfig
from domain.errors import (
    DomainError,
    InvalidRequest,
    NotFound,
    PersonGlemt,
    PreconditionFailed,
    VersionConflict,
)
from domain.ident import Fodselsnummer
from domain.person import NAMESPACE, Person, person_id
from domain.tiltakslop import Tiltakslop
from domain.ungdomsgaranti import Ungdomsgaranti
from store.dto import (
    Forlengelsesmulighet,
    GarantiVisning,
    Historikk,
    LopVisning,
    forlengelse_visning,
    garanti_visning,
    hendelse_visning,
    lop_visning,
)
from store.encryption import er_glemt
from store.idempotency import DuplicateCommand, Kommando, LagretKommando, hent
from store.mapper import link_of
from store.repository import EventStore

PERSON_REGELSETT = "PERSON"
OSLO = ZoneInfo("Europe/Oslo")

A = TypeVar("A", bound=Aggregate)
Case = TypeVar("Case", Tiltakslop, Ungdomsgaranti)

Access = Callable[[str], str | None]
"""An access check given the office (`nav_enhet`) a command acts on: raises to refuse, or returns the office
the actor acts for (recorded on the events)."""


def business_date(pinned: date | None = None) -> date:
    """The business date: `pinned` (`--today`), else today in Europe/Oslo."""
    return pinned or datetime.now(OSLO).date()


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What comes with a command besides its body: who runs it and under which correlation and idempotency
    key (`kontekst`), the version the caller saw (If-Match), the business date to answer for (None: no view
    in the answer), and the caller's access check (None: anyone may)."""

    kontekst: Kontekst
    expected_version: int | None = None
    per: date | None = None
    access: Access | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to a command: the aggregate it answers for, its new version and the log position of the
    last event written for that aggregate. `created` is true when the command created it (201); `view` is
    its state for business date `per` (when a `per` was given)."""

    aggregat: str
    id: UUID
    versjon: int
    posisjon: int
    created: bool = False
    per: date | None = None
    view: LopVisning | GarantiVisning | None = field(default=None, compare=False)


class _StoredAnswer(msgspec.Struct, frozen=True):
    """What an idempotency record keeps of the first answer (the rest is read again on a repeat)."""

    aggregat: str
    id: UUID
    versjon: int
    opprettet: bool
    per: date | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a command did: the aggregate that answers, whether it was created, and everything to save."""

    answering: Aggregate
    created: bool
    changed: tuple[Aggregate, ...]


_NAMES: dict[type[Any], str] = {Tiltakslop: "tiltakslop", Ungdomsgaranti: "ungdomsgaranti"}
_CLASSES: dict[str, type[Any]] = {name: cls for cls, name in _NAMES.items()}


def _with_access(ctx: CommandContext, enhet: object) -> Kontekst:
    """The command's context after the access check for office `enhet` (403 before any rule is judged),
    with the office the actor acts for; no check when there is no office to judge yet (a grant without
    `nav_enhet`, refused by the rules) or no checker."""
    kontekst = ctx.kontekst
    if ctx.access is None or not isinstance(enhet, str):
        return kontekst
    aktor_enhet = ctx.access(enhet)
    if aktor_enhet is None or aktor_enhet == kontekst.aktor.enhet:
        return kontekst
    return replace(kontekst, aktor=replace(kontekst.aktor, enhet=aktor_enhet))


def _identity(obj: Any) -> Any:
    return obj.verdi if isinstance(obj, Fodselsnummer) else str(obj)


class Service:
    def __init__(
        self, store: EventStore, konfig: Regelkonfig, person_nokkel: bytes, *, today: date | None = None
    ) -> None:
        self.store = store
        self.konfig = konfig
        self._person_nokkel = person_nokkel
        self._today = today

    def business_date(self) -> date:
        """The business date commands and reads are answered for unless told otherwise."""
        return business_date(self._today)

    # --- identity -----------------------------------------------------------------------------------

    def person_id(self, person: Fodselsnummer) -> UUID:
        return person_id(self._person_nokkel, person)

    def _fingerprint(self, cmd: Command, target: UUID | None, kontekst: Kontekst) -> str | None:
        """What an idempotency key is bound to: the command, its target, its fields and its actor; keyed
        (HMAC), since a command may name a person. None without a key (nothing compares it)."""
        if kontekst.command_id is None:
            return None
        body = msgspec.json.encode(
            (type(cmd).__name__, target, kontekst.aktor.nav_ident, cmd), enc_hook=_identity
        )
        return hmac.new(self._person_nokkel, body, hashlib.sha256).hexdigest()

    @staticmethod
    def _new_id(kontekst: Kontekst, salt: str = "") -> UUID:
        """An idempotent command creates the same id on every try; others get a fresh one."""
        if kontekst.command_id:
            return uuid.uuid5(NAMESPACE, f"{kontekst.command_id}/{salt}")
        return uuid.uuid4()

    # --- reads --------------------------------------------------------------------------------------

    async def get_lop(
        self, lop_id: UUID, *, versjon: int | None = None, kjent_per: datetime | None = None
    ) -> Tiltakslop:
        return await self._get(lop_id, Tiltakslop, versjon, kjent_per)

    async def get_garanti(
        self, garanti_id: UUID, *, versjon: int | None = None, kjent_per: datetime | None = None
    ) -> Ungdomsgaranti:
        return await self._get(garanti_id, Ungdomsgaranti, versjon, kjent_per)

    async def _get(self, agg_id: UUID, cls: type[A], versjon: int | None, kjent_per: datetime | None) -> A:
        if kjent_per is not None:
            return await self.store.get_at_instant(agg_id, kjent_per, cls)
        if versjon is None:
            return await self.store.get_current(agg_id, cls)
        aggregat = await self.store.get(agg_id, cls, version=versjon)
        if aggregat.version < versjon:  # no such version yet: not the latest instead
            raise NotFound("the aggregate has no such version", id=agg_id, versjon=aggregat.version)
        return aggregat

    async def read_lop(
        self, lop_id: UUID, per: date, *, versjon: int | None = None, kjent_per: datetime | None = None
    ) -> LopVisning:
        """A løp for business date `per`; at a version, or as the system knew it at an instant."""
        lop = self._alive(await self.get_lop(lop_id, versjon=versjon, kjent_per=kjent_per))
        return lop_visning(lop, per, self.konfig)

    async def read_garanti(
        self, garanti_id: UUID, per: date, *, versjon: int | None = None, kjent_per: datetime | None = None
    ) -> GarantiVisning:
        """A guarantee for business date `per`; at a version, or as the system knew it at an instant."""
        garanti = self._alive(await self.get_garanti(garanti_id, versjon=versjon, kjent_per=kjent_per))
        return garanti_visning(garanti, per, self.konfig)

    async def forlengelse(self, lop_id: UUID) -> tuple[Forlengelsesmulighet, str, int]:
        """The what-if for a løp, the løp's office (for the access check) and its version (the ETag)."""
        lop = self._alive(await self.store.get_current(lop_id, Tiltakslop))
        return forlengelse_visning(lop, self.konfig), lop.nav_enhet, lop.version

    async def office(self, agg_id: UUID) -> str | None:
        """The office of a løp or guarantee (None: no such case), for an access check without a command."""
        try:
            aggregat: Aggregate = await self.store.get(agg_id)
        except NotFound:
            return None
        return aggregat.nav_enhet if isinstance(aggregat, (Tiltakslop, Ungdomsgaranti)) else None

    async def oversikt(
        self, person: Fodselsnummer, per: date
    ) -> tuple[list[LopVisning], list[GarantiVisning]]:
        """Every løp and guarantee of one person (POST /personer/oversikt), through the person record, loaded
        in one round trip."""
        try:
            record = await self.store.get(self.person_id(person), Person)
        except NotFound:
            return [], []
        if not (record.lop or record.garantier):
            return [], []
        saker = await self.store.get_flere(
            *((i, Tiltakslop) for i in record.lop), *((i, Ungdomsgaranti) for i in record.garantier)
        )
        # A forgotten person's record has let go of its cases; a case read as erased is skipped all the same.
        levende = [a for a in saker if a is not None and not er_glemt(a)]
        lop = [lop_visning(a, per, self.konfig) for a in levende if isinstance(a, Tiltakslop)]
        garantier = [garanti_visning(a, per, self.konfig) for a in levende if isinstance(a, Ungdomsgaranti)]
        return sorted(lop, key=lambda x: x.fom), sorted(garantier, key=lambda x: x.fom)

    async def history(self, agg_id: UUID, aggregat: str) -> tuple[Historikk, Tiltakslop | Ungdomsgaranti]:
        """Every event of one stream in order, with position and hash-chain link; and the aggregate's current
        state (its office for the access check, its person for the read log)."""
        naa = await self.store.get_current(agg_id, _CLASSES[aggregat])
        recorder = self.store.recorder
        rows = await recorder.pool.fetch(
            f'SELECT originator_version, topic, state, notification_id FROM "{recorder.schema}".'
            f'"{recorder.events_table}" WHERE originator_id = $1 ORDER BY originator_version',
            agg_id,
        )
        await self.store.mapper.prepare_reading(recorder.pool, (bytes(row["state"]) for row in rows))
        elementer = []
        for row in rows:
            stored = StoredEvent(agg_id, row["originator_version"], row["topic"], bytes(row["state"]))
            event = self.store.mapper.to_domain_event(stored)
            elementer.append(hendelse_visning(event, row["notification_id"], link_of(stored.state) or b""))
        return Historikk(aggregat=aggregat, aggregat_id=agg_id, elementer=elementer), naa

    def view(
        self, aggregat: Aggregate, per: date, posisjon: int | None = None
    ) -> LopVisning | GarantiVisning:
        """The state of a løp or guarantee for business date `per`, as reads and command answers show it."""
        if isinstance(aggregat, Tiltakslop):
            return lop_visning(self._alive(aggregat), per, self.konfig, posisjon)
        if isinstance(aggregat, Ungdomsgaranti):
            return garanti_visning(self._alive(aggregat), per, self.konfig, posisjon)
        raise TypeError(type(aggregat).__name__)

    @staticmethod
    def _alive(aggregat: A) -> A:
        """No read or command on a case whose person was forgotten (410 PERSON_GLEMT): its personal fields
        decode as None; only its history remains."""
        if er_glemt(aggregat):
            raise PersonGlemt(id=str(aggregat.id))
        return aggregat

    # --- Tiltaksløp ---------------------------------------------------------------------------------

    async def innvilg_lop(self, cmd: InnvilgLop, ctx: CommandContext) -> Receipt:
        """TiltakslopInnvilget, judged against the person's other løp (LOP-8) in the same transaction."""
        kontekst = _with_access(ctx, cmd.nav_enhet)

        async def innvilg() -> _Outcome:
            lop = Tiltakslop.innvilg(cmd, id=self._new_id(kontekst), kontekst=kontekst, konfig=self.konfig)
            person = await self._keys_and_person(lop, kontekst)
            person.registrer_lop(
                lop.id, lop.tiltakstype, lop.fom, lop.opptatt_tom, kontekst, lop.regelsett_id
            )
            return _Outcome(lop, True, (person, lop))

        return await self._execute(ctx, self._fingerprint(cmd, None, ctx.kontekst), innvilg)

    async def forleng(self, lop_id: UUID, cmd: Forleng, ctx: CommandContext) -> Receipt:
        """TiltakslopForlenget (LOP-5)."""
        return await self._on_lop(
            lop_id, cmd, ctx, lambda lop, kontekst: lop.forleng(cmd, kontekst, self.konfig)
        )

    async def avkort(self, lop_id: UUID, cmd: Avkort, ctx: CommandContext) -> Receipt:
        """TiltakslopAvkortet."""
        return await self._on_lop(lop_id, cmd, ctx, lambda lop, kontekst: lop.avkort(cmd, kontekst))

    async def endre_malgruppe(self, lop_id: UUID, cmd: EndreMalgruppe, ctx: CommandContext) -> Receipt:
        """MalgruppeEndret (IPS-1)."""
        return await self._on_lop(lop_id, cmd, ctx, lambda lop, kontekst: lop.endre_malgruppe(cmd, kontekst))

    async def registrer_vurdering(
        self, lop_id: UUID, cmd: RegistrerVurdering, ctx: CommandContext
    ) -> Receipt:
        """OppfolgingsvurderingGjennomfort."""
        return await self._on_lop(
            lop_id, cmd, ctx, lambda lop, kontekst: lop.registrer_vurdering(cmd, kontekst)
        )

    async def fastsett_sats(self, lop_id: UUID, cmd: FastsettSats, ctx: CommandContext) -> Receipt:
        """TilskuddssatsFastsatt (LOP-10)."""
        return await self._on_lop(lop_id, cmd, ctx, lambda lop, kontekst: lop.fastsett_sats(cmd, kontekst))

    async def innvilg_permisjon(self, lop_id: UUID, cmd: InnvilgPermisjon, ctx: CommandContext) -> Receipt:
        """PermisjonInnvilget (VTA-3, LOP-11)."""
        return await self._on_lop(
            lop_id, cmd, ctx, lambda lop, kontekst: lop.innvilg_permisjon(cmd, kontekst)
        )

    async def avslutt_lop(self, lop_id: UUID, cmd: AvsluttLop, ctx: CommandContext) -> Receipt:
        """TiltakslopAvsluttet."""
        return await self._on_lop(lop_id, cmd, ctx, lambda lop, kontekst: lop.avslutt(cmd, kontekst))

    async def annuller(self, lop_id: UUID, cmd: Annuller, ctx: CommandContext) -> Receipt:
        """TiltakslopAnnullert; the person record lets go of the period."""
        return await self._on_lop(lop_id, cmd, ctx, lambda lop, kontekst: lop.annuller(cmd, kontekst))

    async def korriger_lop(self, lop_id: UUID, cmd: KorrigerLop, ctx: CommandContext) -> Receipt:
        """TiltakslopKorrigert (LOP-9), also on a closed løp."""
        return await self._on_lop(
            lop_id, cmd, ctx, lambda lop, kontekst: lop.korriger(cmd, kontekst, self.konfig), cmd.nav_enhet
        )

    async def overgang(self, lop_id: UUID, cmd: Overgang, ctx: CommandContext) -> Receipt:
        """LOP-14: end this løp (OVERGANG_TILTAK) and grant the next one atomically, or do neither. Both events
        share the correlation id; the answer is the new løp's. Access is judged for both offices."""
        til_enhet = cmd.til.nav_enhet if cmd.til is not None else None

        async def overgang() -> _Outcome:
            fra, kontekst = await self._load(Tiltakslop, lop_id, ctx, til_enhet)
            ny = fra.overgang(
                cmd, ny_id=self._new_id(ctx.kontekst, "overgang"), kontekst=kontekst, konfig=self.konfig
            )
            person = await self._person(fra.person, kontekst)
            person.endre_periode(fra.id, fra.fom, fra.opptatt_tom, kontekst, fra.regelsett_id)
            person.registrer_lop(ny.id, ny.tiltakstype, ny.fom, ny.opptatt_tom, kontekst, ny.regelsett_id)
            return _Outcome(ny, True, (fra, person, ny))

        recheck = self._recheck(Tiltakslop, lop_id, ctx, til_enhet)
        return await self._execute(ctx, self._fingerprint(cmd, lop_id, ctx.kontekst), overgang, recheck)

    async def _on_lop(
        self,
        lop_id: UUID,
        cmd: Command,
        ctx: CommandContext,
        command: Callable[[Tiltakslop, Kontekst], None],
        new_office: str | None = None,
    ) -> Receipt:
        """`command` on one løp. When it moves the period the løp occupies, or annuls it, the person record
        moves in the same transaction, judged against the person's other løp (LOP-8). `new_office`: the
        office a correction moves the løp to, which the caller must hold too (contract.md §2)."""

        async def change() -> _Outcome:
            lop, kontekst = await self._load(Tiltakslop, lop_id, ctx, new_office)
            for_ = lop.fom, lop.opptatt_tom, lop.annullert
            command(lop, kontekst)
            if (lop.fom, lop.opptatt_tom, lop.annullert) == for_:
                return _Outcome(lop, False, (lop,))
            person = await self._person(lop.person, kontekst)
            if lop.annullert and not for_[2]:
                person.annuller_lop(lop.id, kontekst, lop.regelsett_id)
            else:
                person.endre_periode(lop.id, lop.fom, lop.opptatt_tom, kontekst, lop.regelsett_id)
            return _Outcome(lop, False, (person, lop))

        recheck = self._recheck(Tiltakslop, lop_id, ctx, new_office)
        return await self._execute(ctx, self._fingerprint(cmd, lop_id, ctx.kontekst), change, recheck)

    # --- Ungdomsgaranti -----------------------------------------------------------------------------

    async def innvilg_garanti(self, cmd: InnvilgGaranti, ctx: CommandContext) -> Receipt:
        """UngdomsgarantiInnvilget; one active guarantee per person (UG-D1) in the same transaction."""
        kontekst = _with_access(ctx, cmd.nav_enhet)

        async def innvilg() -> _Outcome:
            garanti = Ungdomsgaranti.innvilg(cmd, id=self._new_id(kontekst), kontekst=kontekst)
            person = await self._keys_and_person(garanti, kontekst)
            person.registrer_garanti(garanti.id, kontekst, garanti.regelsett_id)
            return _Outcome(garanti, True, (person, garanti))

        return await self._execute(ctx, self._fingerprint(cmd, None, ctx.kontekst), innvilg)

    async def tildel_kontaktperson(
        self, garanti_id: UUID, cmd: TildelKontaktperson, ctx: CommandContext
    ) -> Receipt:
        """KontaktpersonTildelt, or KontaktpersonByttet once there is one (UG-D3)."""
        return await self._on_garanti(
            garanti_id, cmd, ctx, lambda g, kontekst: g.tildel_kontaktperson(cmd, kontekst)
        )

    async def planlegg_samtale(self, garanti_id: UUID, cmd: PlanleggSamtale, ctx: CommandContext) -> Receipt:
        """OppfolgingssamtalePlanlagt."""
        return await self._on_garanti(
            garanti_id, cmd, ctx, lambda g, kontekst: g.planlegg_samtale(cmd, kontekst)
        )

    async def registrer_samtale(
        self, garanti_id: UUID, cmd: RegistrerSamtale, ctx: CommandContext
    ) -> Receipt:
        """OppfolgingssamtaleGjennomfort (UG-D2)."""
        return await self._on_garanti(
            garanti_id, cmd, ctx, lambda g, kontekst: g.registrer_samtale(cmd, kontekst)
        )

    async def registrer_utdanningsvurdering(
        self, garanti_id: UUID, cmd: RegistrerUtdanningsvurdering, ctx: CommandContext
    ) -> Receipt:
        """UtdanningsvurderingGjennomfort (UG-4d)."""
        return await self._on_garanti(
            garanti_id, cmd, ctx, lambda g, kontekst: g.registrer_utdanningsvurdering(cmd, kontekst)
        )

    async def registrer_samhandling(
        self, garanti_id: UUID, cmd: RegistrerSamhandling, ctx: CommandContext
    ) -> Receipt:
        """SamhandlingRegistrert (UG-4f)."""
        return await self._on_garanti(
            garanti_id, cmd, ctx, lambda g, kontekst: g.registrer_samhandling(cmd, kontekst)
        )

    async def tilby_arbeidsgiveroppfolging(
        self, garanti_id: UUID, cmd: TilbyArbeidsgiveroppfolging, ctx: CommandContext
    ) -> Receipt:
        """ArbeidsgiverOppfolgingTilbudt (UG-4)."""
        return await self._on_garanti(
            garanti_id, cmd, ctx, lambda g, kontekst: g.tilby_arbeidsgiveroppfolging(cmd, kontekst)
        )

    async def koble_aktivitet(self, garanti_id: UUID, cmd: KobleAktivitet, ctx: CommandContext) -> Receipt:
        """AktivitetKoblet (UG-6); a linked løp must be the same person's."""
        return await self._on_garanti(
            garanti_id,
            cmd,
            ctx,
            lambda g, kontekst: g.koble_aktivitet(cmd, kontekst),
            linked_lop=cmd.tiltakslop_id,
        )

    async def avslutt_garanti(self, garanti_id: UUID, cmd: AvsluttGaranti, ctx: CommandContext) -> Receipt:
        """UngdomsgarantiAvsluttet (UG-D5)."""
        return await self._on_garanti(garanti_id, cmd, ctx, lambda g, kontekst: g.avslutt(cmd, kontekst))

    async def avslutt_ved_30(self, garanti_id: UUID, ctx: CommandContext) -> Receipt:
        """The scheduler's UngdomsgarantiAvsluttet with FYLT_30 (UG-5), run by SYSTEM."""
        return await self._on_garanti(
            garanti_id, AvsluttVed30(), ctx, lambda g, kontekst: g.avslutt_ved_30(kontekst)
        )

    async def korriger_garanti(self, garanti_id: UUID, cmd: KorrigerGaranti, ctx: CommandContext) -> Receipt:
        """UngdomsgarantiKorrigert, also on an ended guarantee."""
        return await self._on_garanti(
            garanti_id, cmd, ctx, lambda g, kontekst: g.korriger(cmd, kontekst), new_office=cmd.nav_enhet
        )

    async def _on_garanti(
        self,
        garanti_id: UUID,
        cmd: Command,
        ctx: CommandContext,
        command: Callable[[Ungdomsgaranti, Kontekst], None],
        *,
        linked_lop: UUID | None = None,
        new_office: str | None = None,
    ) -> Receipt:
        """`command` on one guarantee; an end frees the person for a new one (UG-D1) in the same transaction.
        `linked_lop`: a løp the command links, which must exist and be the same person's; `new_office`: the
        office a correction moves the guarantee to, which the caller must hold too."""

        async def change() -> _Outcome:
            garanti, kontekst = await self._load(Ungdomsgaranti, garanti_id, ctx, new_office)
            if linked_lop is not None and garanti.aktiv:
                await self._check_own_lop(garanti, linked_lop)
            var_aktiv = garanti.aktiv
            command(garanti, kontekst)
            if not var_aktiv or garanti.aktiv:
                return _Outcome(garanti, False, (garanti,))
            person = await self._person(garanti.person, kontekst)
            person.avslutt_garanti(garanti.id, kontekst, garanti.regelsett_id)
            return _Outcome(garanti, False, (person, garanti))

        recheck = self._recheck(Ungdomsgaranti, garanti_id, ctx, new_office)
        return await self._execute(ctx, self._fingerprint(cmd, garanti_id, ctx.kontekst), change, recheck)

    async def _check_own_lop(self, garanti: Ungdomsgaranti, lop_id: UUID) -> None:
        try:
            lop = await self.store.get(lop_id, Tiltakslop)
        except NotFound:
            raise InvalidRequest("tiltakslop_id: no such løp", felt="tiltakslop_id") from None
        if lop.person != garanti.person:
            raise InvalidRequest("tiltakslop_id: the løp belongs to another person", felt="tiltakslop_id")

    # --- the plumbing both aggregates share -------------------------------------------------------------

    async def _load(
        self, cls: type[Case], agg_id: UUID, ctx: CommandContext, other_office: str | None = None
    ) -> tuple[Case, Kontekst]:
        """The aggregate a command acts on, after the access check for its office (and `other_office`, where
        the command acts on a second one), its person's erasure and If-Match; with the command's context."""
        aggregat = await self.store.get(agg_id, cls)
        kontekst = _with_access(ctx, aggregat.nav_enhet)
        self._alive(aggregat)
        _with_access(ctx, other_office)
        if ctx.expected_version is not None and aggregat.version != ctx.expected_version:
            raise PreconditionFailed("the aggregate has changed since that version", versjon=aggregat.version)
        return aggregat, kontekst

    def _recheck(
        self, cls: type[Case], agg_id: UUID, ctx: CommandContext, other_office: str | None = None
    ) -> Callable[[], Awaitable[object]] | None:
        """Access judged again for a repeat (contract.md §2: repeats included), against the case as it is."""
        if ctx.access is None:
            return None
        return lambda: self._load(cls, agg_id, replace(ctx, expected_version=None), other_office)

    async def _execute(
        self,
        ctx: CommandContext,
        fingerprint: str | None,
        run: Callable[[], Awaitable[_Outcome]],
        recheck: Callable[[], Awaitable[object]] | None = None,
    ) -> Receipt:
        """Run a command once per idempotency key, save what it changed in one transaction, and answer.

        The answering aggregate is saved last, so the save's last notification id is its position."""
        key = ctx.kontekst.command_id
        if (first := await self._first_answer(key, fingerprint, ctx.access)) is not None:
            if recheck is not None:
                await recheck()
            return first
        try:
            outcome = await run()
        except DomainError:
            # A repeat racing its first try may load the state the first try just wrote, and be refused by
            # it (e.g. "ny_tom must be after the current tom"); once the first try has committed, it answers.
            if (first := await self._first_answer(key, fingerprint, ctx.access)) is None:
                raise
            return first
        answering = outcome.answering
        aggregat = _NAMES[type(answering)]
        answer = _StoredAnswer(aggregat, answering.id, answering.version, outcome.created, ctx.per)
        record = None if key is None else Kommando(key, fingerprint or "", msgspec.json.encode(answer))
        others = tuple(a for a in outcome.changed if a is not answering)
        try:
            ids = await self.store.save(*others, answering, idempotency=record)
        except DuplicateCommand as dup:  # the same command raced itself: the first one answers
            return await self._repeat(dup.stored, fingerprint, ctx.access)
        except VersionConflict:
            # A repeat racing its own first try writes the same ids and loses on the version; once the first
            # try has committed, its record answers.
            if (first := await self._first_answer(key, fingerprint, ctx.access)) is None:
                raise
            return first
        view = None if ctx.per is None else self.view(answering, ctx.per, ids[-1])
        return Receipt(aggregat, answering.id, answering.version, ids[-1], outcome.created, ctx.per, view)

    async def _first_answer(
        self, key: str | None, fingerprint: str | None, access: Access | None = None
    ) -> Receipt | None:
        """The stored answer of the command's first try (None: no key, or no first try stored)."""
        if key is None:
            return None
        stored = await hent(self.store.recorder.pool, key, self.store.recorder.schema)
        return None if stored is None else await self._repeat(stored, fingerprint, access)

    async def _repeat(self, stored: LagretKommando, fingerprint: str | None, access: Access | None = None) -> Receipt:
        """The first answer for a repeat. Access is judged first, against the case the key answered for as it
        is now (it may have moved office since): a caller who may not act on it gets 403 whatever its body,
        and learns nothing of the case or of the key (contract.md §2: repeats included)."""
        answer = msgspec.json.decode(stored.svar, type=_StoredAnswer)
        if access is not None and (enhet := await self.office(answer.id)) is not None:
            access(enhet)
        if fingerprint is not None and stored.fingerprint != fingerprint:
            raise DomainError(
                "IDEMPOTENCY_KEY_REUSED", "the idempotency key was used before with another request"
            )
        posisjon = await self._position(answer.id, answer.versjon)
        view = None
        if answer.per is not None:
            aggregat = await self.store.get(answer.id, _CLASSES[answer.aggregat], version=answer.versjon)
            view = self.view(aggregat, answer.per, posisjon)
        return Receipt(
            answer.aggregat, answer.id, answer.versjon, posisjon, answer.opprettet, answer.per, view
        )

    async def _position(self, agg_id: UUID, versjon: int) -> int:
        recorder = self.store.recorder
        posisjon = await recorder.pool.fetchval(
            f'SELECT notification_id FROM "{recorder.schema}"."{recorder.events_table}" '
            "WHERE originator_id = $1 AND originator_version = $2",
            agg_id,
            versjon,
        )
        return int(posisjon or 0)

    async def _person(self, person: Fodselsnummer, kontekst: Kontekst) -> Person:
        pid = self.person_id(person)
        try:
            return await self.store.get(pid, Person)
        except NotFound:
            return Person(id=pid, kontekst=kontekst, regelsett_id=PERSON_REGELSETT)

    async def _keys_and_person(self, ny: Tiltakslop | Ungdomsgaranti, kontekst: Kontekst) -> Person:
        """For a new grant: its person's key (a fresh one for a returning forgotten person) and the person
        record, concurrently (independent: the record holds no personal field)."""
        person, nokler = await asyncio.gather(
            self._person(ny.person, kontekst), self.store.ensure_keys(ny, ny=True), return_exceptions=True
        )
        for utfall in (nokler, person):  # both done before either fails the command
            if isinstance(utfall, BaseException):
                raise utfall
        assert isinstance(person, Person)
        return person

    # --- erasure (GDPR) ------------------------------------------------------------------------------

    async def glem(self, person: Fodselsnummer, kontekst: Kontekst, person_pseudonym: str) -> Erasure:
        """Forget a person: destroy the key of their personal fields, then append `PersonGlemt` (the
        tombstone the relay publishes, and the projection's cue to delete the person's rows) on the person
        record. Idempotent: a repeat (or a retry after a crash between the two steps) appends nothing more
        once the key is gone and the record holds no cases."""
        cipher = self.store.mapper.felt_cipher
        if cipher is None:
            raise RuntimeError("erasure needs field encryption (the store's mapper has no field cipher)")
        pid = self.person_id(person)
        try:
            record: Person | None = await self.store.get(pid, Person)
        except NotFound:
            record = None
        odelagt = await cipher.nokkelring.glem(self.store.recorder.pool, pid)
        if record is None or not (odelagt or record.lop or record.garantier):
            return Erasure(pid, odelagt, None)
        record.glem(person_pseudonym, kontekst, PERSON_REGELSETT)
        ids = await self.store.save(record)
        return Erasure(pid, odelagt, ids[-1])


@dataclass(frozen=True, slots=True)
class Erasure:
    """The outcome of `Service.glem`: the person record's id, whether a live key was destroyed now, and
    the log position of the tombstone (None when there was nothing more to record)."""

    person_id: UUID
    nokkel_odelagt: bool
    posisjon: int | None
