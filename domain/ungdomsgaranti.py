"""The youth guarantee (ungdomsgaranti): rules.md §5 (UG-1..8, UG-D1..D8), events §5.3, alerts §8.5.

One stream per person and guarantee period. Commands check the rules and then call a private `@event`
method that only assigns state, so a refused command leaves nothing pending. UG-D1 (one active guarantee
per person) spans streams and is judged by `domain.person.Person`, not here.

Reads are pure: `tilstand(per, konfig)` evaluates status, deadlines and open alerts for a business date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.commands import (
    AvsluttGaranti,
    InnvilgGaranti,
    KobleAktivitet,
    KorrigerGaranti,
    Personalia,
    PlanleggSamtale,
    RegistrerSamhandling,
    RegistrerSamtale,
    RegistrerUtdanningsvurdering,
    TilbyArbeidsgiveroppfolging,
    TildelKontaktperson,
)
from domain.common import SYSTEM_IDENT, Kontekst, gyldig_nav_enhet
from domain.config import Regelkonfig
from domain.dates import add_days, fyller, varseldato
from domain.errors import DomainError, InvalidRequest
from domain.ident import Fodselsnummer
from domain.koder import AktivitetKind, Avslutningsaarsak, Instans, Kanal

ORDNINGEN_STARTER = date(2023, 7, 1)  # UG-1
MINSTEALDER = 16  # UG-2
ALDERSGRENSE = 30  # UG-2, UG-5: covered while "under 30"
REGELSETT_ID = "SEED-2024"  # GEN-12: the seed rule set (domain.katalog.SEED_2024.id); §5 has no other


class Status(StrEnum):
    AKTIV = "AKTIV"
    AVSLUTTET = "AVSLUTTET"


class Varseltype(StrEnum):
    """The guarantee's alert types (rules.md §5.3, UG-D8, §8.5)."""

    KONTAKTPERSON_MANGLER = "KONTAKTPERSON_MANGLER"
    SAMTALE_FORFALLER = "SAMTALE_FORFALLER"
    SAMTALE_FORFALT = "SAMTALE_FORFALT"
    ALDERSGRENSE_NAERMER_SEG = "ALDERSGRENSE_NAERMER_SEG"


@dataclass(frozen=True, slots=True)
class Kontaktperson:
    """One period of the contact-person history: `nav_ident` is the contact person from `fom`."""

    nav_ident: str
    fom: date


@dataclass(frozen=True, slots=True)
class KobletAktivitet:
    kind: AktivitetKind
    tiltakslop_id: UUID | None
    fom: date
    tom: date | None


@dataclass(frozen=True, slots=True)
class UngdomsgarantiTilstand:
    """The guarantee as read for business date `per` (GET /ungdomsgarantier/{id}, UngdomsgarantiOversikt)."""

    id: UUID
    per: date
    status: Status
    aarsak: Avslutningsaarsak | None
    fom: date
    tom: date | None
    aldersgrense_dato: date
    nav_enhet: str
    bistandsbehov_vedtak_ref: str
    kontaktperson: str | None
    siste_samtale: date | None
    next_samtale_due: date
    open_alerts: tuple[Varseltype, ...]
    frister: dict[Varseltype, date]


_E = TypeVar("_E", bound=StrEnum)


def _kode(enum: type[_E], verdi: object, felt: str) -> _E:
    """An enum code from the request; missing or unknown is 400 INVALID_REQUEST (contract.md §2)."""
    if isinstance(verdi, enum):
        return verdi
    if isinstance(verdi, str):
        try:
            return enum(verdi)
        except ValueError:
            pass
    raise InvalidRequest(f"{felt} must be one of {', '.join(e.value for e in enum)}", felt=felt)


def _tekst(verdi: object) -> str | None:
    """A free text, stripped; None when missing or blank."""
    if isinstance(verdi, str) and verdi.strip():
        return verdi.strip()
    return None


def _dato(verdi: object, felt: str, *, kode: str = "INVALID_DATE_RANGE") -> date:
    """A business date judged by the catalogue: missing → 422 INVALID_DATE_RANGE (contract.md §2)."""
    if verdi is None:
        raise DomainError(kode, f"{felt} is required", felt=felt)
    if not isinstance(verdi, date):
        raise InvalidRequest(f"{felt} must be a date", felt=felt)
    return verdi


def _sjekk_nav_enhet(nav_enhet: object) -> str:
    if not isinstance(nav_enhet, str) or not gyldig_nav_enhet(nav_enhet):
        raise InvalidRequest("nav_enhet must be 4 digits starting with a county code", felt="nav_enhet")
    return nav_enhet


def _gyldig_orgnr(orgnr: object) -> bool:
    """A Norwegian organisation number: 9 digits, mod-11 control digit with weights 3 2 7 6 5 4 3 2."""
    if not isinstance(orgnr, str) or len(orgnr) != 9 or not orgnr.isascii() or not orgnr.isdigit():
        return False
    rest = sum(int(c) * w for c, w in zip(orgnr[:8], (3, 2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
    kontroll = 0 if rest == 0 else 11 - rest
    return kontroll != 10 and kontroll == int(orgnr[8])


def sjekk_ordningens_start(fom: date) -> None:
    """UG-1 / UG-D7: no guarantee is effective before 2023-07-01."""
    if fom < ORDNINGEN_STARTER:
        raise DomainError(
            "BEFORE_SCHEME_START", "the youth guarantee starts on 2023-07-01", min_fom=ORDNINGEN_STARTER
        )


def sjekk_alder(fodselsdato: date, fom: date) -> None:
    """UG-2 / UG-D7 with DATE-5: eligible on fom ⇔ add(birth, 16 y) ≤ fom < add(birth, 30 y)."""
    fyller_16 = fyller(fodselsdato, MINSTEALDER)
    if fom < fyller_16:
        raise DomainError("AGE_BELOW_MINIMUM", "the person is under 16 on fom", min_fom=fyller_16)
    fyller_30 = fyller(fodselsdato, ALDERSGRENSE)
    if fom >= fyller_30:
        raise DomainError(
            "AGE_ABOVE_MAXIMUM", "the person is 30 or older on fom", max_fom=add_days(fyller_30, -1)
        )


def sjekk_bistandsbehov(ref: object) -> str:
    """UG-3 / UG-D7: the grant must reference the decision that established the need for assistance."""
    tekst = _tekst(ref)
    if tekst is None:
        raise DomainError(
            "NEED_ASSESSMENT_REQUIRED", "bistandsbehov_vedtak_ref must reference the § 14a decision"
        )
    return tekst


class Ungdomsgaranti(Aggregate):
    """One person's youth guarantee from `fom` until it is ended (at the latest the day before 30, UG-5)."""

    person: Fodselsnummer
    fodselsdato: date
    fom: date
    nav_enhet: str
    bistandsbehov_vedtak_ref: str
    regelsett_id: str
    kontaktpersoner: tuple[Kontaktperson, ...]
    samtaler: tuple[date, ...]
    planlagte_samtaler: tuple[date, ...]
    aktiviteter: tuple[KobletAktivitet, ...]
    avsluttet_tom: date | None
    avslutningsaarsak: Avslutningsaarsak | None
    avslutning_begrunnelse: str | None

    # ---- creation ------------------------------------------------------------------------------------------

    @classmethod
    def innvilg(cls, cmd: InnvilgGaranti, *, id: UUID, kontekst: Kontekst) -> Ungdomsgaranti:
        """Grant a guarantee: UG-1, UG-2, UG-3 (UG-D7 codes). UG-D1 is judged by `domain.person.Person`."""
        personalia = cmd.person or Personalia()
        if not isinstance(personalia.ident, str):
            raise InvalidRequest("person is required", felt="person")
        person = Fodselsnummer(personalia.ident)
        fodselsdato = personalia.fodselsdato
        if not isinstance(fodselsdato, date):
            raise InvalidRequest("person.fodselsdato is required", felt="fodselsdato")
        enhet = _sjekk_nav_enhet(cmd.nav_enhet)
        start = _dato(cmd.fom, "fom")
        sjekk_ordningens_start(start)
        sjekk_alder(fodselsdato, start)
        ref = sjekk_bistandsbehov(cmd.bistandsbehov_vedtak_ref)
        return cls(
            id=id,
            person=person,
            fodselsdato=fodselsdato,
            fom=start,
            nav_enhet=enhet,
            bistandsbehov_vedtak_ref=ref,
            kontekst=kontekst,
            regelsett_id=REGELSETT_ID,
        )

    @event("UngdomsgarantiInnvilget")
    def __init__(
        self,
        id: UUID,
        person: Fodselsnummer,
        fodselsdato: date,
        fom: date,
        nav_enhet: str,
        bistandsbehov_vedtak_ref: str,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.person = person
        self.fodselsdato = fodselsdato
        self.fom = fom
        self.nav_enhet = nav_enhet
        self.bistandsbehov_vedtak_ref = bistandsbehov_vedtak_ref
        self.regelsett_id = regelsett_id
        self.kontaktpersoner = ()
        self.samtaler = ()
        self.planlagte_samtaler = ()
        self.aktiviteter = ()
        self.avsluttet_tom = None
        self.avslutningsaarsak = None
        self.avslutning_begrunnelse = None

    # ---- derived facts -------------------------------------------------------------------------------------

    @property
    def aktiv(self) -> bool:
        """True until an `UngdomsgarantiAvsluttet` is recorded (whatever its tom)."""
        return self.avslutningsaarsak is None

    @property
    def aldersgrense_dato(self) -> date:
        """The 30th birthday, add(birth, 30 y) (DATE-5): the first day not covered (UG-5)."""
        return fyller(self.fodselsdato, ALDERSGRENSE)

    @property
    def siste_dekkede_dag(self) -> date:
        """UG-5: the last covered day, the day before the 30th birthday."""
        return add_days(self.aldersgrense_dato, -1)

    @property
    def kontaktperson(self) -> str | None:
        """The current contact person as recorded (the latest in the history)."""
        return self.kontaktpersoner[-1].nav_ident if self.kontaktpersoner else None

    def forfaller_ved_30(self, per: date) -> bool:
        """For the scheduler: the guarantee is still open and `per` is on or after the 30th birthday."""
        return self.aktiv and per >= self.aldersgrense_dato

    # ---- guards --------------------------------------------------------------------------------------------

    def check_ikke_avsluttet(self) -> None:
        """UG-D6: after `UngdomsgarantiAvsluttet` only a correction is accepted; checked before any other rule."""
        if not self.aktiv:
            raise DomainError("GUARANTEE_CLOSED", "the guarantee is ended", avsluttet_tom=self.avsluttet_tom)

    def check_innenfor_garantien(self, dato: object, felt: str) -> date:
        """A dated fact of the guarantee lies within [fom, the day before the 30th birthday]."""
        d = _dato(dato, felt)
        if d < self.fom or d > self.siste_dekkede_dag:
            raise DomainError(
                "INVALID_DATE_RANGE",
                f"{felt} must lie within the guarantee",
                felt=felt,
                min_dato=self.fom,
                max_dato=self.siste_dekkede_dag,
            )
        return d

    def check_avslutningsdato(self, fom: date, tom: date | None, aarsak: Avslutningsaarsak) -> date:
        """The end date: FYLT_30 ends the day before the 30th birthday; other reasons fom ≤ tom < 30th birthday."""
        if aarsak is Avslutningsaarsak.FYLT_30:
            if tom is not None and tom != self.siste_dekkede_dag:
                raise DomainError(
                    "INVALID_DATE_RANGE",
                    "FYLT_30 ends the day before the 30th birthday",
                    felt="tom",
                    min_tom=self.siste_dekkede_dag,
                    max_tom=self.siste_dekkede_dag,
                )
            return self.siste_dekkede_dag
        slutt = _dato(tom, "tom")
        if slutt < fom or slutt > self.siste_dekkede_dag:
            raise DomainError(
                "INVALID_DATE_RANGE",
                "tom must lie within [fom, the day before the 30th birthday]",
                felt="tom",
                min_tom=fom,
                max_tom=self.siste_dekkede_dag,
            )
        return slutt

    # ---- UG-4a: fixed contact person (UG-D3) ---------------------------------------------------------------

    def tildel_kontaktperson(self, cmd: TildelKontaktperson, kontekst: Kontekst) -> None:
        """The first assignment records `KontaktpersonTildelt`; later ones `KontaktpersonByttet` (history kept)."""
        self.check_ikke_avsluttet()
        ident = _tekst(cmd.nav_ident)
        if ident is None:
            raise InvalidRequest("nav_ident is required", felt="nav_ident")
        start = self.check_innenfor_garantien(cmd.fom, "fom")
        if not self.kontaktpersoner:
            self._kontaktperson_tildelt(
                nav_ident=ident, fom=start, kontekst=kontekst, regelsett_id=self.regelsett_id
            )
            return
        naa = self.kontaktpersoner[-1]
        if ident == naa.nav_ident:
            raise InvalidRequest("nav_ident is already the contact person", felt="nav_ident")
        if start < naa.fom:
            raise DomainError(
                "INVALID_DATE_RANGE",
                "a change cannot precede the current contact person",
                felt="fom",
                min_dato=naa.fom,
            )
        self._kontaktperson_byttet(
            nav_ident=ident,
            fom=start,
            forrige_nav_ident=naa.nav_ident,
            begrunnelse=_tekst(cmd.begrunnelse),
            kontekst=kontekst,
            regelsett_id=self.regelsett_id,
        )

    @event("KontaktpersonTildelt")
    def _kontaktperson_tildelt(
        self, nav_ident: str, fom: date, kontekst: Kontekst, regelsett_id: str
    ) -> None:
        self.kontaktpersoner = (*self.kontaktpersoner, Kontaktperson(nav_ident=nav_ident, fom=fom))

    class KontaktpersonByttet(Aggregate.Event):
        """Schema version 2 carries the command body's `nav_ident` (the new contact person) and `fom`, and
        `forrige_nav_ident`, the one it replaces (contract.md §3). Version 1 named them `til_nav_ident` and
        `fra_nav_ident`; stored version-1 events upcast by renaming (the stored bytes, and so the hash
        chain, stay as they are)."""

        class_version = 2

        nav_ident: str
        fom: date
        forrige_nav_ident: str
        begrunnelse: str | None
        kontekst: Kontekst
        regelsett_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["nav_ident"] = state.pop("til_nav_ident")
            state["forrige_nav_ident"] = state.pop("fra_nav_ident")

    @event(KontaktpersonByttet)
    def _kontaktperson_byttet(
        self,
        nav_ident: str,
        fom: date,
        forrige_nav_ident: str,
        begrunnelse: str | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.kontaktpersoner = (*self.kontaktpersoner, Kontaktperson(nav_ident=nav_ident, fom=fom))

    # ---- UG-4b: follow-up conversations (UG-D2) ------------------------------------------------------------

    def planlegg_samtale(self, cmd: PlanleggSamtale, kontekst: Kontekst) -> None:
        """Domain-only (§5.3): a planned conversation; it does not move the cadence anchor."""
        self.check_ikke_avsluttet()
        k = _kode(Kanal, cmd.kanal, "kanal")
        d = self.check_innenfor_garantien(cmd.dato, "dato")
        self._samtale_planlagt(dato=d, kanal=k, kontekst=kontekst, regelsett_id=self.regelsett_id)

    @event("OppfolgingssamtalePlanlagt")
    def _samtale_planlagt(self, dato: date, kanal: Kanal, kontekst: Kontekst, regelsett_id: str) -> None:
        self.planlagte_samtaler = (*self.planlagte_samtaler, dato)

    def registrer_samtale(self, cmd: RegistrerSamtale, kontekst: Kontekst) -> None:
        """A held conversation; it resets the cadence anchor (UG-D2, DATE-6)."""
        self.check_ikke_avsluttet()
        k = _kode(Kanal, cmd.kanal, "kanal")
        d = self.check_innenfor_garantien(cmd.dato, "dato")
        self._samtale_gjennomfort(
            dato=d,
            kanal=k,
            referat_ref=_tekst(cmd.referat_ref),
            kontekst=kontekst,
            regelsett_id=self.regelsett_id,
        )

    @event("OppfolgingssamtaleGjennomfort")
    def _samtale_gjennomfort(
        self, dato: date, kanal: Kanal, referat_ref: str | None, kontekst: Kontekst, regelsett_id: str
    ) -> None:
        self.samtaler = (*self.samtaler, dato)

    # ---- UG-4d, UG-4f, employers ---------------------------------------------------------------------------

    def registrer_utdanningsvurdering(self, cmd: RegistrerUtdanningsvurdering, kontekst: Kontekst) -> None:
        """Domain-only (§5.3): UG-4d, the assessment of education options; `utfall` is free text."""
        self.check_ikke_avsluttet()
        tekst = _tekst(cmd.utfall)
        if tekst is None:
            raise InvalidRequest("utfall is required", felt="utfall")
        d = self.check_innenfor_garantien(cmd.dato, "dato")
        self._utdanningsvurdering(dato=d, utfall=tekst, kontekst=kontekst, regelsett_id=self.regelsett_id)

    @event("UtdanningsvurderingGjennomfort")
    def _utdanningsvurdering(self, dato: date, utfall: str, kontekst: Kontekst, regelsett_id: str) -> None:
        pass

    def registrer_samhandling(self, cmd: RegistrerSamhandling, kontekst: Kontekst) -> None:
        """Domain-only (§5.3): UG-4f, coordination with another agency."""
        self.check_ikke_avsluttet()
        i = _kode(Instans, cmd.instans, "instans")
        d = self.check_innenfor_garantien(cmd.dato, "dato")
        self._samhandling(instans=i, dato=d, kontekst=kontekst, regelsett_id=self.regelsett_id)

    @event("SamhandlingRegistrert")
    def _samhandling(self, instans: Instans, dato: date, kontekst: Kontekst, regelsett_id: str) -> None:
        pass

    def tilby_arbeidsgiveroppfolging(self, cmd: TilbyArbeidsgiveroppfolging, kontekst: Kontekst) -> None:
        """Domain-only (§5.3): UG-4, follow-up offered to an employer who hires the young person."""
        self.check_ikke_avsluttet()
        arbeidsgiver_orgnr = cmd.arbeidsgiver_orgnr
        if not isinstance(arbeidsgiver_orgnr, str) or not _gyldig_orgnr(arbeidsgiver_orgnr):
            raise InvalidRequest(
                "arbeidsgiver_orgnr must be a valid organisation number", felt="arbeidsgiver_orgnr"
            )
        d = self.check_innenfor_garantien(cmd.dato, "dato")
        self._arbeidsgiveroppfolging(
            arbeidsgiver_orgnr=arbeidsgiver_orgnr, dato=d, kontekst=kontekst, regelsett_id=self.regelsett_id
        )

    @event("ArbeidsgiverOppfolgingTilbudt")
    def _arbeidsgiveroppfolging(
        self, arbeidsgiver_orgnr: str, dato: date, kontekst: Kontekst, regelsett_id: str
    ) -> None:
        pass

    # ---- UG-6: activities never end the guarantee ----------------------------------------------------------

    def koble_aktivitet(self, cmd: KobleAktivitet, kontekst: Kontekst) -> None:
        """UG-6: a measure, education, treatment or job runs alongside the guarantee; it never ends it."""
        self.check_ikke_avsluttet()
        k = _kode(AktivitetKind, cmd.kind, "kind")
        tiltakslop_id, fom, tom = cmd.tiltakslop_id, cmd.fom, cmd.tom
        if tiltakslop_id is not None and not isinstance(tiltakslop_id, UUID):
            raise InvalidRequest("tiltakslop_id must be a UUID", felt="tiltakslop_id")
        start = _dato(fom, "fom")
        if tom is not None and _dato(tom, "tom") < start:
            raise DomainError("INVALID_DATE_RANGE", "tom must not precede fom", felt="tom", min_tom=start)
        self._aktivitet_koblet(
            kind=k,
            tiltakslop_id=tiltakslop_id,
            fom=start,
            tom=tom,
            kontekst=kontekst,
            regelsett_id=self.regelsett_id,
        )

    @event("AktivitetKoblet")
    def _aktivitet_koblet(
        self,
        kind: AktivitetKind,
        tiltakslop_id: UUID | None,
        fom: date,
        tom: date | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.aktiviteter = (
            *self.aktiviteter,
            KobletAktivitet(kind=kind, tiltakslop_id=tiltakslop_id, fom=fom, tom=tom),
        )

    # ---- ending (UG-5, UG-D5, UG-D6) -----------------------------------------------------------------------

    def avslutt(self, cmd: AvsluttGaranti, kontekst: Kontekst) -> None:
        """End the guarantee (UG-D5). FYLT_30 ends the day before the 30th birthday (UG-5); ANNET needs a text."""
        self.check_ikke_avsluttet()
        a = _kode(Avslutningsaarsak, cmd.aarsak, "aarsak")
        slutt = self.check_avslutningsdato(self.fom, cmd.tom, a)
        tekst = _tekst(cmd.begrunnelse)
        if a is Avslutningsaarsak.ANNET and tekst is None:
            raise DomainError("BEGRUNNELSE_REQUIRED", "aarsak ANNET needs a begrunnelse")
        self._avsluttet(
            tom=slutt, aarsak=a, begrunnelse=tekst, kontekst=kontekst, regelsett_id=self.regelsett_id
        )

    def avslutt_ved_30(self, kontekst: Kontekst) -> None:
        """For the scheduler (UG-5): `FYLT_30` with tom = the day before the 30th birthday, actor SYSTEM."""
        self.check_ikke_avsluttet()
        if kontekst.aktor.nav_ident != SYSTEM_IDENT:
            raise InvalidRequest("the automatic end at 30 is run by SYSTEM", felt="aktor")
        self.avslutt(AvsluttGaranti(aarsak=Avslutningsaarsak.FYLT_30), kontekst)

    @event("UngdomsgarantiAvsluttet")
    def _avsluttet(
        self,
        tom: date,
        aarsak: Avslutningsaarsak,
        begrunnelse: str | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.avsluttet_tom = tom
        self.avslutningsaarsak = aarsak
        self.avslutning_begrunnelse = begrunnelse

    # ---- correction (LOP-9 semantics; accepted on closed guarantees) ---------------------------------------

    def korriger(self, cmd: KorrigerGaranti, kontekst: Kontekst) -> None:
        """Correct recorded facts as if they had always been so; the rules are re-checked on the result."""
        hendelse_id, fom, tom, aarsak = cmd.hendelse_id, cmd.fom, cmd.tom, cmd.aarsak
        nav_enhet, bistandsbehov_vedtak_ref = cmd.nav_enhet, cmd.bistandsbehov_vedtak_ref
        if all(v is None for v in (fom, tom, aarsak, nav_enhet, bistandsbehov_vedtak_ref)):
            raise InvalidRequest(
                "a correction needs at least one of fom, tom, aarsak, nav_enhet, bistandsbehov_vedtak_ref"
            )
        if hendelse_id is not None and not isinstance(hendelse_id, UUID):
            raise InvalidRequest("hendelse_id must be a UUID", felt="hendelse_id")
        enhet = _sjekk_nav_enhet(nav_enhet) if nav_enhet is not None else None
        ny_aarsak = _kode(Avslutningsaarsak, aarsak, "aarsak") if aarsak is not None else None
        if ny_aarsak is not None and self.aktiv:
            raise InvalidRequest("aarsak can only be corrected on an ended guarantee", felt="aarsak")
        ny_fom = _dato(fom, "fom") if fom is not None else self.fom
        if fom is not None:
            sjekk_ordningens_start(ny_fom)
            sjekk_alder(self.fodselsdato, ny_fom)
        ref = sjekk_bistandsbehov(bistandsbehov_vedtak_ref) if bistandsbehov_vedtak_ref is not None else None
        if tom is not None and self.aktiv:
            raise DomainError(
                "INVALID_DATE_RANGE", "tom can only be corrected on an ended guarantee", felt="tom"
            )
        ny_tom: date | None = None
        if self.avslutningsaarsak is not None and (
            fom is not None or tom is not None or ny_aarsak is not None
        ):
            resultat_aarsak = ny_aarsak or self.avslutningsaarsak
            if tom is not None:
                resultat_tom: date | None = _dato(tom, "tom")
            elif ny_aarsak is Avslutningsaarsak.FYLT_30:
                resultat_tom = None  # FYLT_30 decides the date itself
            else:
                resultat_tom = self.avsluttet_tom
            ny_slutt = self.check_avslutningsdato(ny_fom, resultat_tom, resultat_aarsak)
            ny_tom = ny_slutt if ny_slutt != self.avsluttet_tom else None
        tekst = _tekst(cmd.begrunnelse)
        if tekst is None:
            raise DomainError("BEGRUNNELSE_REQUIRED", "a correction needs a begrunnelse")
        self._korrigert(
            hendelse_id=hendelse_id,
            fom=fom,
            tom=ny_tom,
            aarsak=ny_aarsak,
            nav_enhet=enhet,
            bistandsbehov_vedtak_ref=ref,
            begrunnelse=tekst,
            kontekst=kontekst,
            regelsett_id=self.regelsett_id,
        )

    @event("UngdomsgarantiKorrigert")
    def _korrigert(
        self,
        hendelse_id: UUID | None,
        fom: date | None,
        tom: date | None,
        aarsak: Avslutningsaarsak | None,
        nav_enhet: str | None,
        bistandsbehov_vedtak_ref: str | None,
        begrunnelse: str,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        if fom is not None:
            self.fom = fom
        if tom is not None:
            self.avsluttet_tom = tom
        if aarsak is not None:
            self.avslutningsaarsak = aarsak
            if aarsak is Avslutningsaarsak.ANNET:
                self.avslutning_begrunnelse = begrunnelse
        if nav_enhet is not None:
            self.nav_enhet = nav_enhet
        if bistandsbehov_vedtak_ref is not None:
            self.bistandsbehov_vedtak_ref = bistandsbehov_vedtak_ref

    # ---- reads (pure) --------------------------------------------------------------------------------------

    def kontaktperson_per(self, per: date) -> str | None:
        """The contact person in charge on `per` (the latest assignment whose fom ≤ per)."""
        gjeldende = [k for k in self.kontaktpersoner if k.fom <= per]
        return gjeldende[-1].nav_ident if gjeldende else None

    def siste_samtale_per(self, per: date) -> date | None:
        """The latest conversation held on or before `per` (the DATE-6 anchor)."""
        holdt = [d for d in self.samtaler if d <= per]
        return max(holdt) if holdt else None

    def next_samtale_due(self, per: date, konfig: Regelkonfig) -> date:
        """UG-D2: last conversation (or fom) + samtale_intervall_dager, in calendar days."""
        anker = self.siste_samtale_per(per) or self.fom
        return add_days(anker, konfig.samtale_intervall_dager)

    def varsel_frist(self, varsel: Varseltype | str, per: date, konfig: Regelkonfig) -> date:
        """rules.md §8.5 `frist`: SAMTALE_* next_samtale_due; ALDERSGRENSE add(birth, 30 y);
        KONTAKTPERSON_MANGLER fom + kontaktperson_frist_dager."""
        v = _kode(Varseltype, varsel, "type")
        if v is Varseltype.KONTAKTPERSON_MANGLER:
            return add_days(self.fom, konfig.kontaktperson_frist_dager)
        if v is Varseltype.ALDERSGRENSE_NAERMER_SEG:
            return self.aldersgrense_dato
        return self.next_samtale_due(per, konfig)

    def varsel_dato(self, varsel: Varseltype | str, per: date, konfig: Regelkonfig) -> date:
        """DATE-8 fire date: `frist − lead` for the alerts with a lead; the first overdue day for the others."""
        v = _kode(Varseltype, varsel, "type")
        frist = self.varsel_frist(v, per, konfig)
        if v in (Varseltype.SAMTALE_FORFALT, Varseltype.KONTAKTPERSON_MANGLER):
            return add_days(frist, 1)
        return varseldato(frist, konfig.lead_days[v.value])

    def status_per(self, per: date) -> tuple[Status, Avslutningsaarsak | None, date | None]:
        """Status, end reason and tom on `per`: ended with tom D is AKTIV on D and AVSLUTTET from D+1;
        on or after the 30th birthday it is AVSLUTTET (FYLT_30) even before the event is written."""
        if self.avsluttet_tom is not None and self.avslutningsaarsak is not None:
            if per > self.avsluttet_tom:
                return Status.AVSLUTTET, self.avslutningsaarsak, self.avsluttet_tom
            return Status.AKTIV, self.avslutningsaarsak, self.avsluttet_tom
        if per >= self.aldersgrense_dato:
            return Status.AVSLUTTET, Avslutningsaarsak.FYLT_30, self.siste_dekkede_dag
        return Status.AKTIV, None, None

    def open_alerts(self, per: date, konfig: Regelkonfig) -> tuple[Varseltype, ...]:
        """UG-D8 exactly, for business date `per`; none once the guarantee reads AVSLUTTET (DATE-8)."""
        status, _, _ = self.status_per(per)
        if status is Status.AVSLUTTET:
            return ()
        alerts: list[Varseltype] = []
        frist_kp = self.varsel_frist(Varseltype.KONTAKTPERSON_MANGLER, per, konfig)
        if self.kontaktperson_per(per) is None and per > frist_kp:
            alerts.append(Varseltype.KONTAKTPERSON_MANGLER)
        due = self.next_samtale_due(per, konfig)
        if per > due:
            alerts.append(Varseltype.SAMTALE_FORFALT)
        elif per >= varseldato(due, konfig.lead_days[Varseltype.SAMTALE_FORFALLER.value]):
            alerts.append(Varseltype.SAMTALE_FORFALLER)
        lead_30 = konfig.lead_days[Varseltype.ALDERSGRENSE_NAERMER_SEG.value]
        if per >= varseldato(self.aldersgrense_dato, lead_30):
            alerts.append(Varseltype.ALDERSGRENSE_NAERMER_SEG)
        return tuple(alerts)

    def tilstand(self, per: date, konfig: Regelkonfig) -> UngdomsgarantiTilstand:
        """The read model for `per`: GET /ungdomsgarantier/{id}?per=, the deadline board and the overview."""
        status, aarsak, tom = self.status_per(per)
        alerts = self.open_alerts(per, konfig)
        return UngdomsgarantiTilstand(
            id=self.id,
            per=per,
            status=status,
            aarsak=aarsak,
            fom=self.fom,
            tom=tom,
            aldersgrense_dato=self.aldersgrense_dato,
            nav_enhet=self.nav_enhet,
            bistandsbehov_vedtak_ref=self.bistandsbehov_vedtak_ref,
            kontaktperson=self.kontaktperson_per(per),
            siste_samtale=self.siste_samtale_per(per),
            next_samtale_due=self.next_samtale_due(per, konfig),
            open_alerts=alerts,
            frister={v: self.varsel_frist(v, per, konfig) for v in Varseltype},
        )
