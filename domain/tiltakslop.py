"""The Tiltaksløp aggregate (rules.md §7): one person's course through one measure.

Commands are public methods that judge the command against the catalogue (`domain.katalog`) and only then call a
private `@event` method that assigns state. A refused command raises `DomainError` before any event method
runs, so nothing is pending (LOP-13). The query methods (`forlengelse_muligheter`, `tilstand`) use the same
helpers as the commands, so the what-if and the deadline board never disagree with what a command accepts.

Not here: overlap between løp (LOP-8, `domain.person`), idempotency (LOP-12, store) and the atomic transition
(LOP-14, service layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import NamedTuple
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.commands import (
    Annuller,
    Avkort,
    AvsluttLop,
    EndreMalgruppe,
    FastsettSats,
    Forleng,
    InnvilgLop,
    InnvilgPermisjon,
    KorrigerLop,
    NyttLop,
    Overgang,
    Personalia,
    RegistrerVurdering,
)
from domain.common import Kontekst, Malgruppe, SamtykkeForeldre, gyldig_nav_enhet
from domain.config import STANDARD, Regelkonfig
from domain.dates import add_days, add_months, alder, dager_mellom, latest_tom, varseldato
from domain.errors import DomainError, InvalidRequest
from domain.ident import Fodselsnummer
from domain.katalog import (
    Avslutningsaarsak,
    Forlengelsesaarsak,
    Forlengelsesgrunn,
    Permisjonstype,
    Stillingstype,
    Tiltaksregel,
    Tiltakstype,
    Variant,
    Vurderingstype,
    pilotvindu,
    regelsett_for,
    regelsett_med_id,
    som_enum,
    vurdering_intervall_maaneder,
)


class Status(StrEnum):
    AKTIV = "AKTIV"
    AVSLUTTET = "AVSLUTTET"
    ANNULLERT = "ANNULLERT"


class Vurderingsstatus(StrEnum):
    OK = "OK"
    DUE_SOON = "DUE_SOON"
    OVERDUE = "OVERDUE"


class Varseltype(StrEnum):
    """The §8.5 alert types that concern a løp."""

    CAP_NAERMER_SEG = "CAP_NAERMER_SEG"
    TOM_NAERMER_SEG = "TOM_NAERMER_SEG"
    VURDERING_FORFALLER = "VURDERING_FORFALLER"
    VURDERING_FORFALT = "VURDERING_FORFALT"
    RATE_ENDRES = "RATE_ENDRES"


TOM_OVER_NY_CAP = "TOM_OVER_NY_CAP"
AFT_ORDINARY_ARENA_NOT_OFFERED = "AFT_ORDINARY_ARENA_NOT_OFFERED"


@dataclass(frozen=True, slots=True)
class OvergangTil:
    """Where an `OVERGANG_TILTAK` end leads: the new løp's measure and id (rules.md §6.2)."""

    tiltakstype: Tiltakstype
    tiltakslop_id: UUID


@dataclass(frozen=True, slots=True)
class Forlengelse:
    ny_tom: date
    aarsak: Forlengelsesaarsak


@dataclass(frozen=True, slots=True)
class Tilskuddssats:
    fom: date
    prosent: int


@dataclass(frozen=True, slots=True)
class Permisjon:
    fom: date
    tom: date
    type: Permisjonstype
    vertsbedrift: str | None = None


class Forlengelsesmulighet(NamedTuple):
    aarsak: Forlengelsesaarsak
    max_tom: date | None  # None: no limit (measures without a cap)


class Forlengelsesmuligheter(NamedTuple):
    mulig: bool
    grunner: list[Forlengelsesmulighet]


@dataclass(frozen=True, slots=True)
class Tilstand:
    """rules.md §8.1 for one business date, plus `status` and `open_alerts` (contract.md §2 "Reads")."""

    per: date
    status: Status
    base_cap_tom: date | None
    total_cap_tom: date | None
    days_to_tom: int | None
    days_to_total_cap: int | None
    extension_possible: Forlengelsesmuligheter
    next_review_due: date | None
    review_status: Vurderingsstatus | None
    current_rate: int | None
    next_rate_change_date: date | None
    warnings: tuple[str, ...]
    open_alerts: tuple[Varseltype, ...]


def hendelse_id(aggregat_id: UUID, versjon: int) -> UUID:
    """The id of a løp's event, derived from its position in the stream (used by corrections' `hendelse_id`)."""
    return uuid5(aggregat_id, str(versjon))


_INNVILGET = "TiltakslopInnvilget"
_FORLENGET = "TiltakslopForlenget"
_AVKORTET = "TiltakslopAvkortet"
_MALGRUPPE = "MalgruppeEndret"
_AVSLUTTET = "TiltakslopAvsluttet"
_KORRIGERT = "TiltakslopKorrigert"

# Which events a corrected field was set by (to infer `hendelse_id`), in the order the fields are considered.
_FELT_HENDELSER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fom", (_INNVILGET,)),
    ("variant", (_INNVILGET,)),
    ("nav_enhet", (_INNVILGET,)),
    ("vedtak_ref", (_INNVILGET,)),
    ("malgruppe", (_INNVILGET, _MALGRUPPE)),
    ("tom", (_INNVILGET, _FORLENGET, _AVKORTET)),
    ("sluttdato", (_AVSLUTTET,)),
    ("aarsak", (_AVSLUTTET,)),
)


# --- judging rules shared by the grant and corrections -------------------------------------------------------


def _dato_feil(melding: str, **limits: object) -> DomainError:
    return DomainError("INVALID_DATE_RANGE", melding, **limits)


def _sjekk_datoer(regel: Tiltaksregel, fom: date | None, tom: date | None) -> date:
    """LOP-4 (fom ≤ tom) and LOP-16 (tom = null only for open-ended measures); missing dates are 422 too."""
    if not isinstance(fom, date):
        raise _dato_feil("fom is required")
    if tom is None and not regel.apen_slutt:
        raise _dato_feil("tom is required: only VTA, VTAO and VARIG_LONNSTILSKUDD may be open-ended")
    if tom is not None and not isinstance(tom, date):
        raise _dato_feil("tom is not a date")
    if tom is not None and tom < fom:
        raise _dato_feil("fom must not be after tom", fom=fom, tom=tom)
    return fom


def _sjekk_alder(regel: Tiltaksregel, fodselsdato: date, fom: date, konfig: Regelkonfig) -> None:
    """LOP-1 / GEN-2 / GEN-11 / OPP-AGE: ages are judged on fom."""
    naa = alder(fodselsdato, fom)
    if naa < 16:
        raise DomainError("AGE_BELOW_MINIMUM", "participants must have turned 16", min_alder=16, alder=naa)
    if not regel.min_alder_oppfylt(fodselsdato, fom, konfig.alder_regel):
        raise DomainError(
            "AGE_BELOW_MINIMUM",
            f"{regel.tiltakstype} needs age {regel.min_alder}",
            min_alder=regel.min_alder,
            alder=naa,
            alder_regel=str(konfig.alder_regel) if regel.min_alder_etter_regel else None,
        )
    if regel.maks_alder is not None and naa > regel.maks_alder:
        raise DomainError(
            "AGE_ABOVE_MAXIMUM",
            f"{regel.tiltakstype} allows age {regel.maks_alder}",
            maks_alder=regel.maks_alder,
            alder=naa,
        )


def _sjekk_samtykke(fodselsdato: date, fom: date, samtykke: SamtykkeForeldre | None) -> None:
    """LOP-2 / GEN-3: under 18 on fom needs consent from both parents."""
    if alder(fodselsdato, fom) < 18 and samtykke != SamtykkeForeldre.BEGGE:
        raise DomainError(
            "PARENTAL_CONSENT_REQUIRED", "under 18 needs samtykke_foreldre = BEGGE", min_alder=18
        )


def _sjekk_malgruppe(regel: Tiltaksregel, malgruppe: Malgruppe) -> None:
    """LOP-3 / GEN-7."""
    if malgruppe not in regel.malgrupper:
        raise DomainError(
            "TARGET_GROUP_NOT_ELIGIBLE",
            f"{regel.tiltakstype} is not for {malgruppe}",
            tillatte_malgrupper=sorted(str(g) for g in regel.malgrupper),
        )


def _sjekk_pilot(
    tiltakstype: Tiltakstype, fom: date, tom: date | None, nav_enhet: str, konfig: Regelkonfig
) -> None:
    """LOP-7: a pilot's earliest fom, latest tom and county area (OPP-6, LTS-6)."""
    vindu = pilotvindu(tiltakstype, konfig)
    if vindu is None:
        return
    if vindu.fom is not None and fom < vindu.fom:
        raise DomainError("BEFORE_SCHEME_START", "the pilot has not started on fom", min_fom=vindu.fom)
    if vindu.tom is not None and (tom is None or tom > vindu.tom):
        raise DomainError("AFTER_SCHEME_END", "the pilot ends before tom", max_tom=vindu.tom)
    if vindu.fylker is not None and nav_enhet[:2] not in vindu.fylker:
        raise DomainError(
            "OUTSIDE_PILOT_AREA", "the pilot is not run in this county", fylker=list(vindu.fylker)
        )


def _sjekk_stilling(regel: Tiltaksregel, stillingstype: Stillingstype | None) -> None:
    if regel.stilling is not None and stillingstype is None:
        raise InvalidRequest(f"stillingstype is required on {regel.tiltakstype}", felt="stillingstype")
    if stillingstype is not None and not regel.lonnstilskudd:
        raise InvalidRequest("stillingstype is only for lønnstilskudd", felt="stillingstype")


def _sjekk_prosent(prosent: object) -> int:
    if isinstance(prosent, bool) or not isinstance(prosent, int) or not 1 <= prosent <= 100:
        raise InvalidRequest("a rate is a whole percentage 1..100", felt="prosent")
    return prosent


def _sjekk_sats(regel: Tiltaksregel, fom_lop: date, malgruppe: Malgruppe, fom: date, prosent: int) -> None:
    """LOP-10 / LTS-4/5/6: the requested rate must not exceed the maximum on its own fom."""
    assert regel.satser is not None
    maks = regel.satser.maks_sats(fom_lop, malgruppe, fom)
    if maks is None or prosent > maks:
        raise DomainError("RATE_ABOVE_MAXIMUM", f"the maximum rate on {fom} is {maks} %", max_prosent=maks)


def _tekst(verdi: object) -> str | None:
    return verdi.strip() if isinstance(verdi, str) and verdi.strip() else None


def _samtykke(verdi: object) -> SamtykkeForeldre | None:
    if verdi is None or isinstance(verdi, SamtykkeForeldre):
        return verdi
    try:
        return SamtykkeForeldre(str(verdi))
    except ValueError:
        raise DomainError("PARENTAL_CONSENT_REQUIRED", "samtykke_foreldre is BEGGE, EN or INGEN") from None


def _nav_enhet(verdi: object) -> str:
    if not isinstance(verdi, str) or not gyldig_nav_enhet(verdi):
        raise InvalidRequest("nav_enhet is 4 digits starting with a county code", felt="nav_enhet")
    return verdi


def _vedtak_ref(verdi: object) -> str:
    tekst = _tekst(verdi)
    if tekst is None:
        raise InvalidRequest("vedtak_ref is required", felt="vedtak_ref")
    return tekst


class Tiltakslop(Aggregate):
    person: Fodselsnummer
    fodselsdato: date
    tiltakstype: Tiltakstype
    variant: Variant | None
    malgruppe: Malgruppe
    fom: date
    tom: date | None
    nav_enhet: str
    vedtak_ref: str
    samtykke_foreldre: SamtykkeForeldre | None
    stillingstype: Stillingstype | None
    tilskuddsprosent: int | None
    mottar_uforetrygd: bool
    forgjenger_lop_id: UUID | None
    overgang_fra_tiltakstype: Tiltakstype | None
    regelsett_id: str
    forlengelser: list[Forlengelse]
    satser: list[Tilskuddssats]
    permisjoner: list[Permisjon]
    siste_vurdering: date | None
    avsluttet: bool
    sluttdato: date | None
    avslutningsaarsak: Avslutningsaarsak | None
    overgang_til: OvergangTil | None
    annullert: bool
    hendelsestyper: list[str]

    # --- grant ---------------------------------------------------------------------------------------------

    @classmethod
    def innvilg(
        cls, cmd: InnvilgLop, *, id: UUID, kontekst: Kontekst, konfig: Regelkonfig = STANDARD
    ) -> Tiltakslop:
        """Judge a grant (LOP-1,2,3,4,7,10,16, GEN-2/3/12, OPP-*, AFT-*, LTS-*, ...) and only then create it."""
        person = cmd.person or Personalia()
        ident = Fodselsnummer(person.ident) if isinstance(person.ident, str) else None
        return cls._innvilg(
            cmd, id=id, person=ident, fodselsdato=person.fodselsdato, kontekst=kontekst, konfig=konfig
        )

    @classmethod
    def _innvilg(
        cls,
        vilkar: NyttLop,
        *,
        id: UUID,
        person: Fodselsnummer | None,
        fodselsdato: date | None,
        kontekst: Kontekst,
        konfig: Regelkonfig,
        forgjenger: Tiltakslop | None = None,
    ) -> Tiltakslop:
        """A grant of `vilkar` for `person`; `forgjenger` is the løp an overgang leaves (LOP-14)."""
        if not isinstance(person, Fodselsnummer) or not isinstance(fodselsdato, date):
            raise InvalidRequest("person (ident and fodselsdato) is required", felt="person")
        type_ = som_enum(Tiltakstype, vilkar.tiltakstype, "tiltakstype")
        variant = None if vilkar.variant is None else som_enum(Variant, vilkar.variant, "variant")
        malgruppe = som_enum(Malgruppe, vilkar.malgruppe, "malgruppe")
        enhet = _nav_enhet(vilkar.nav_enhet)
        ref = _vedtak_ref(vilkar.vedtak_ref)
        stilling = (
            None
            if vilkar.stillingstype is None
            else som_enum(Stillingstype, vilkar.stillingstype, "stillingstype")
        )
        fom, tom, prosent = vilkar.fom, vilkar.tom, vilkar.tilskuddsprosent
        if not isinstance(fom, date):
            raise _dato_feil("fom is required")
        sett = regelsett_for(fom)  # GEN-12
        regel = sett.regel(type_, variant)
        _sjekk_stilling(regel, stilling)
        if prosent is not None:
            if not regel.lonnstilskudd:
                raise InvalidRequest("tilskuddsprosent is only for lønnstilskudd", felt="tilskuddsprosent")
            prosent = _sjekk_prosent(prosent)
        samtykke = _samtykke(vilkar.samtykke_foreldre)

        _sjekk_datoer(regel, fom, tom)
        _sjekk_alder(regel, fodselsdato, fom, konfig)
        _sjekk_samtykke(fodselsdato, fom, samtykke)
        _sjekk_malgruppe(regel, malgruppe)
        _sjekk_pilot(type_, fom, tom, enhet, konfig)
        base = regel.base_tom(fom, malgruppe, stilling)
        if base is not None and (tom is None or tom > base):  # LOP-4, OPP-4
            raise DomainError("EXCEEDS_BASE_DURATION", "tom is past the base cap", max_tom=base)
        if prosent is not None:
            _sjekk_sats(regel, fom, malgruppe, fom, prosent)

        return cls(
            id=id,
            person=person,
            fodselsdato=fodselsdato,
            tiltakstype=type_,
            variant=variant,
            malgruppe=malgruppe,
            fom=fom,
            tom=tom,
            nav_enhet=enhet,
            vedtak_ref=ref,
            samtykke_foreldre=samtykke,
            stillingstype=stilling,
            tilskuddsprosent=prosent,
            mottar_uforetrygd=bool(vilkar.mottar_uforetrygd),
            forgjenger_lop_id=None if forgjenger is None else forgjenger.id,
            overgang_fra_tiltakstype=None if forgjenger is None else forgjenger.tiltakstype,
            kontekst=kontekst,
            regelsett_id=sett.id,
        )

    @event(_INNVILGET)
    def __init__(
        self,
        id: UUID,
        person: Fodselsnummer,
        fodselsdato: date,
        tiltakstype: Tiltakstype,
        variant: Variant | None,
        malgruppe: Malgruppe,
        fom: date,
        tom: date | None,
        nav_enhet: str,
        vedtak_ref: str,
        samtykke_foreldre: SamtykkeForeldre | None,
        stillingstype: Stillingstype | None,
        tilskuddsprosent: int | None,
        mottar_uforetrygd: bool,
        forgjenger_lop_id: UUID | None,
        overgang_fra_tiltakstype: Tiltakstype | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.person = person
        self.fodselsdato = fodselsdato
        self.tiltakstype = tiltakstype
        self.variant = variant
        self.malgruppe = malgruppe
        self.fom = fom
        self.tom = tom
        self.nav_enhet = nav_enhet
        self.vedtak_ref = vedtak_ref
        self.samtykke_foreldre = samtykke_foreldre
        self.stillingstype = stillingstype
        self.tilskuddsprosent = tilskuddsprosent
        self.mottar_uforetrygd = mottar_uforetrygd
        self.forgjenger_lop_id = forgjenger_lop_id
        self.overgang_fra_tiltakstype = overgang_fra_tiltakstype
        self.regelsett_id = regelsett_id
        self.forlengelser = []
        self.satser = []
        self.permisjoner = []
        self.siste_vurdering = None
        self.avsluttet = False
        self.sluttdato = None
        self.avslutningsaarsak = None
        self.overgang_til = None
        self.annullert = False
        self.hendelsestyper = [_INNVILGET]

    # --- derived state -------------------------------------------------------------------------------------

    @property
    def lukket(self) -> bool:
        """LOP-6: ended or annulled; only corrections are accepted."""
        return self.avsluttet or self.annullert

    @property
    def opptatt_tom(self) -> date | None:
        """The last day the løp occupies (§6.3): sluttdato once ended, else tom; None while open-ended."""
        return self.sluttdato if self.avsluttet else self.tom

    def regel(self) -> Tiltaksregel:
        return regelsett_med_id(self.regelsett_id).regel(self.tiltakstype, self.variant)

    def base_cap_tom(self) -> date | None:
        return self.regel().base_tom(self.fom, self.malgruppe, self.stillingstype)

    def total_cap_tom(self) -> date | None:
        """The total cap for the current target group, from the original fom (DATE-4)."""
        return self.regel().total_tom(self.fom, self.malgruppe, self.stillingstype)

    def check_apen(self) -> None:
        if self.lukket:
            raise DomainError("LOP_CLOSED", "the løp is ended or annulled; only corrections are accepted")

    def _i_lopet(self, dato: date, felt: str) -> None:
        slutt = self.opptatt_tom
        if dato < self.fom or (slutt is not None and dato > slutt):
            raise _dato_feil(f"{felt} must lie within the løp", min_dato=self.fom, max_dato=slutt)

    def _ganger_utover_base(self, aarsak: Forlengelsesaarsak) -> int:
        base = self.base_cap_tom()
        return sum(
            1 for f in self.forlengelser if f.aarsak == aarsak and base is not None and f.ny_tom > base
        )

    def _grunnens_maks(self, grunn: Forlengelsesgrunn) -> date | None:
        """How far ny_tom may reach with this reason now (§7.3, LOP-5d); None: no limit."""
        regel = self.regel()
        maks = regel.grunnens_tom(grunn, self.fom, self.malgruppe, self.stillingstype)
        grense = grunn.maks_ganger_utover_base
        if grense is not None and self._ganger_utover_base(grunn.aarsak) >= grense:
            base = self.base_cap_tom()
            maks = base if maks is None or base is None else min(maks, base)
        return maks

    def _pilot_tom(self, konfig: Regelkonfig) -> date | None:
        vindu = pilotvindu(self.tiltakstype, konfig)
        return None if vindu is None else vindu.tom

    # --- extension (LOP-5) ---------------------------------------------------------------------------------

    def forleng(self, cmd: Forleng, kontekst: Kontekst, konfig: Regelkonfig = STANDARD) -> None:
        self.check_apen()
        ny_tom, aarsak = cmd.ny_tom, cmd.aarsak
        if not isinstance(ny_tom, date):  # (a)
            raise _dato_feil("ny_tom is required")
        if self.tom is None:
            raise _dato_feil("an open-ended løp has nothing to extend")
        if ny_tom <= self.tom:
            raise _dato_feil("ny_tom must be after the current tom", tom=self.tom)
        if aarsak is None or (isinstance(aarsak, str) and not aarsak.strip()):  # (b)
            raise DomainError("EXTENSION_REASON_REQUIRED", "an extension needs a reason code")
        total = self.total_cap_tom()
        if total is not None and ny_tom > total:  # (c)
            raise DomainError("EXCEEDS_MAX_DURATION", "ny_tom is past the total cap", max_tom=total)
        grunn = self._tillatt_grunn(aarsak, ny_tom)  # (d)
        tekst = _tekst(cmd.begrunnelse)
        if grunn.begrunnelse_kreves and tekst is None:  # (e)
            raise DomainError("BEGRUNNELSE_REQUIRED", f"{grunn.aarsak} needs a begrunnelse")
        pilot_tom = self._pilot_tom(konfig)
        if pilot_tom is not None and ny_tom > pilot_tom:  # LOP-7
            raise DomainError("AFTER_SCHEME_END", "the pilot ends before ny_tom", max_tom=pilot_tom)
        self._forleng(
            ny_tom=ny_tom,
            aarsak=grunn.aarsak,
            begrunnelse=tekst,
            forrige_tom=self.tom,
            kontekst=kontekst,
            regelsett_id=self.regelsett_id,
        )

    def _tillatt_grunn(self, aarsak: Forlengelsesaarsak | str, ny_tom: date) -> Forlengelsesgrunn:
        regel = self.regel()
        tillatte = [str(g.aarsak) for g in regel.forlengelse if self.malgruppe in g.rekkevidde]
        try:
            kode = Forlengelsesaarsak(aarsak)
        except ValueError:
            raise DomainError(
                "EXTENSION_REASON_NOT_ALLOWED", "unknown extension reason", tillatte_grunner=tillatte
            ) from None
        grunn = regel.grunn(kode)
        if grunn is None or self.malgruppe not in grunn.rekkevidde:
            raise DomainError(
                "EXTENSION_REASON_NOT_ALLOWED",
                f"{kode} is not a reason for {regel.tiltakstype} ({self.malgruppe})",
                tillatte_grunner=tillatte,
            )
        maks = self._grunnens_maks(grunn)
        if maks is not None and ny_tom > maks:
            raise DomainError(
                "EXTENSION_REASON_NOT_ALLOWED",
                f"{kode} reaches no further than {maks}",
                max_tom=maks,
                tillatte_grunner=tillatte,
            )
        return grunn

    class TiltakslopForlenget(Aggregate.Event):
        """Schema version 2 adds `forrige_tom`, the `tom` the extension moved from, so that an auditor sees
        "from → to" in the event itself. Version 1 events (stored before) upcast with `forrige_tom = None`:
        the event alone does not know it (the stream before it does)."""

        class_version = 2

        ny_tom: date
        aarsak: Forlengelsesaarsak
        begrunnelse: str | None
        forrige_tom: date | None
        kontekst: Kontekst
        regelsett_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["forrige_tom"] = None

    @event(TiltakslopForlenget)
    def _forleng(
        self,
        ny_tom: date,
        aarsak: Forlengelsesaarsak,
        begrunnelse: str | None,
        forrige_tom: date | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.tom = ny_tom
        self.forlengelser.append(Forlengelse(ny_tom=ny_tom, aarsak=aarsak))
        self.hendelsestyper.append(_FORLENGET)

    def forlengelse_muligheter(self, konfig: Regelkonfig = STANDARD) -> Forlengelsesmuligheter:
        """The what-if: the reasons allowed now and the latest ny_tom each reaches (same rules as `forleng`)."""
        if self.lukket or self.tom is None:
            return Forlengelsesmuligheter(False, [])
        pilot_tom = self._pilot_tom(konfig)
        grunner: list[Forlengelsesmulighet] = []
        for grunn in self.regel().forlengelse:
            if self.malgruppe not in grunn.rekkevidde:
                continue
            maks = self._grunnens_maks(grunn)
            if pilot_tom is not None:
                maks = pilot_tom if maks is None else min(maks, pilot_tom)
            if maks is None or maks > self.tom:
                grunner.append(Forlengelsesmulighet(grunn.aarsak, maks))
        return Forlengelsesmuligheter(bool(grunner), grunner)

    # --- shortening ----------------------------------------------------------------------------------------

    def avkort(self, cmd: Avkort, kontekst: Kontekst) -> None:
        self.check_apen()
        ny_tom = cmd.ny_tom
        if not isinstance(ny_tom, date):
            raise _dato_feil("ny_tom is required")
        if ny_tom < self.fom or (self.tom is not None and ny_tom >= self.tom):
            raise _dato_feil(
                "ny_tom must be on or after fom and before the current tom", fom=self.fom, tom=self.tom
            )
        self._avkort(ny_tom=ny_tom, kontekst=kontekst, regelsett_id=self.regelsett_id)

    @event(_AVKORTET)
    def _avkort(self, ny_tom: date, kontekst: Kontekst, regelsett_id: str) -> None:
        self.tom = ny_tom
        self.hendelsestyper.append(_AVKORTET)

    # --- target group --------------------------------------------------------------------------------------

    def endre_malgruppe(self, cmd: EndreMalgruppe, kontekst: Kontekst) -> None:
        """IPS-1 / Q5: the new group's caps apply from now on, counted from the original fom; never shortens."""
        self.check_apen()
        gruppe = som_enum(Malgruppe, cmd.ny_malgruppe, "ny_malgruppe")
        ref = _vedtak_ref(cmd.vedtak_ref)
        fom = cmd.fom
        if not isinstance(fom, date):
            raise _dato_feil("fom is required")
        self._i_lopet(fom, "fom")
        _sjekk_malgruppe(self.regel(), gruppe)
        self._endre_malgruppe(
            ny_malgruppe=gruppe, fom=fom, vedtak_ref=ref, kontekst=kontekst, regelsett_id=self.regelsett_id
        )

    @event(_MALGRUPPE)
    def _endre_malgruppe(
        self, ny_malgruppe: Malgruppe, fom: date, vedtak_ref: str, kontekst: Kontekst, regelsett_id: str
    ) -> None:
        self.malgruppe = ny_malgruppe
        self.hendelsestyper.append(_MALGRUPPE)

    # --- reviews (AFT-3, LTS-3, VTA-5, VTAO-1) -------------------------------------------------------------

    def registrer_vurdering(self, cmd: RegistrerVurdering, kontekst: Kontekst) -> None:
        self.check_apen()
        vurderingstype = som_enum(Vurderingstype, cmd.type, "type")
        if self.regel().vurderingstype != vurderingstype:
            raise InvalidRequest(f"{vurderingstype} is not a review of {self.tiltakstype}", felt="type")
        tekst = _tekst(cmd.utfall)
        dato = cmd.dato
        if tekst is None:
            raise InvalidRequest("utfall is required", felt="utfall")
        if not isinstance(dato, date):
            raise _dato_feil("dato is required")
        if dato < self.fom:
            raise _dato_feil("a review cannot precede fom", min_dato=self.fom)
        self._vurder(
            dato=dato, type=vurderingstype, utfall=tekst, kontekst=kontekst, regelsett_id=self.regelsett_id
        )

    @event("OppfolgingsvurderingGjennomfort")
    def _vurder(
        self, dato: date, type: Vurderingstype, utfall: str, kontekst: Kontekst, regelsett_id: str
    ) -> None:
        if self.siste_vurdering is None or dato > self.siste_vurdering:
            self.siste_vurdering = dato
        self.hendelsestyper.append("OppfolgingsvurderingGjennomfort")

    def neste_vurdering(self, konfig: Regelkonfig = STANDARD) -> date | None:
        """DATE-6: add(last review or fom, cadence); None for measures without a cadence."""
        if self.regel().vurderingstype is None:
            return None
        maaneder = vurdering_intervall_maaneder(self.tiltakstype, konfig)
        if maaneder is None:
            return None
        return add_months(self.siste_vurdering or self.fom, maaneder)

    # --- rates (LOP-10) ------------------------------------------------------------------------------------

    def fastsett_sats(self, cmd: FastsettSats, kontekst: Kontekst) -> None:
        self.check_apen()
        regel = self.regel()
        if not regel.lonnstilskudd:
            raise InvalidRequest(f"{self.tiltakstype} has no subsidy rate", felt="prosent")
        verdi = _sjekk_prosent(cmd.prosent)
        fom = cmd.fom
        if not isinstance(fom, date):
            raise _dato_feil("fom is required")
        self._i_lopet(fom, "fom")
        _sjekk_sats(regel, self.fom, self.malgruppe, fom, verdi)
        self._fastsett_sats(prosent=verdi, fom=fom, kontekst=kontekst, regelsett_id=self.regelsett_id)

    @event("TilskuddssatsFastsatt")
    def _fastsett_sats(self, prosent: int, fom: date, kontekst: Kontekst, regelsett_id: str) -> None:
        self.satser.append(Tilskuddssats(fom=fom, prosent=prosent))
        self.hendelsestyper.append("TilskuddssatsFastsatt")

    def maks_sats(self, per: date) -> int | None:
        satser = self.regel().satser
        return None if satser is None else satser.maks_sats(self.fom, self.malgruppe, per)

    def gjeldende_sats(self, per: date) -> int | None:
        """The rate in force: the agreed rate (latest on or before `per`), stepped down to the maximum (§7.3)."""
        maks = self.maks_sats(per)
        if maks is None:
            return None
        avtalt = self.tilskuddsprosent
        for sats in sorted(self.satser, key=lambda s: s.fom):
            if sats.fom <= per:
                avtalt = sats.prosent
        return maks if avtalt is None else min(avtalt, maks)

    def neste_satsendring(self, per: date) -> date | None:
        """§8.3: the next scheduled step-down after `per` that falls inside the løp."""
        satser = self.regel().satser
        if satser is None:
            return None
        neste = satser.neste_endring(self.fom, self.malgruppe, per)
        slutt = self.opptatt_tom
        if neste is None or (slutt is not None and neste > slutt):
            return None
        return neste

    # --- leave (VTA-3, LOP-11) -----------------------------------------------------------------------------

    def innvilg_permisjon(self, cmd: InnvilgPermisjon, kontekst: Kontekst) -> None:
        self.check_apen()
        permisjonstype = som_enum(Permisjonstype, cmd.type, "type")
        fom, tom = cmd.fom, cmd.tom
        if not self.regel().permisjon:
            raise InvalidRequest(f"{self.tiltakstype} has no leave", felt="type")
        if not isinstance(fom, date) or not isinstance(tom, date):
            raise _dato_feil("fom and tom are required")
        if tom < fom:
            raise _dato_feil("fom must not be after tom")
        self._i_lopet(fom, "fom")
        self._i_lopet(tom, "tom")
        maks = latest_tom(fom, months=6)
        if tom > maks:
            raise DomainError("LEAVE_TOO_LONG", "a leave lasts at most half a year", max_tom=maks)
        self._innvilg_permisjon(
            fom=fom, tom=tom, type=permisjonstype, vertsbedrift=_tekst(cmd.vertsbedrift), kontekst=kontekst,
            regelsett_id=self.regelsett_id,
        )  # fmt: skip

    @event("PermisjonInnvilget")
    def _innvilg_permisjon(
        self,
        fom: date,
        tom: date,
        type: Permisjonstype,
        vertsbedrift: str | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.permisjoner.append(Permisjon(fom=fom, tom=tom, type=type, vertsbedrift=vertsbedrift))
        self.hendelsestyper.append("PermisjonInnvilget")

    # --- ending and annulment ------------------------------------------------------------------------------

    def avslutt(self, cmd: AvsluttLop, kontekst: Kontekst, overgang_til: OvergangTil | None = None) -> None:
        """End the løp; an `OVERGANG_TILTAK` end names the new løp (`overgang_til`, see `overgang`)."""
        self.check_apen()
        kode = som_enum(Avslutningsaarsak, cmd.aarsak, "aarsak")
        sluttdato = cmd.sluttdato
        if (kode == Avslutningsaarsak.OVERGANG_TILTAK) != (overgang_til is not None):
            raise InvalidRequest(
                "overgang_til goes with aarsak OVERGANG_TILTAK, and only with it", felt="overgang_til"
            )
        if not isinstance(sluttdato, date):
            raise _dato_feil("sluttdato is required")
        if sluttdato < self.fom or (self.tom is not None and sluttdato > self.tom):  # LOP-15
            raise _dato_feil("fom ≤ sluttdato ≤ tom", min_dato=self.fom, max_dato=self.tom)
        tekst = _tekst(cmd.begrunnelse)
        if kode == Avslutningsaarsak.ANNET and tekst is None:
            raise DomainError("BEGRUNNELSE_REQUIRED", "ANNET needs a begrunnelse")
        self._avslutt(
            sluttdato=sluttdato, aarsak=kode, begrunnelse=tekst, overgang_til=overgang_til, kontekst=kontekst,
            regelsett_id=self.regelsett_id,
        )  # fmt: skip

    @event(_AVSLUTTET)
    def _avslutt(
        self,
        sluttdato: date,
        aarsak: Avslutningsaarsak,
        begrunnelse: str | None,
        overgang_til: OvergangTil | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.avsluttet = True
        self.sluttdato = sluttdato
        self.avslutningsaarsak = aarsak
        self.overgang_til = overgang_til
        self.hendelsestyper.append(_AVSLUTTET)

    def annuller(self, cmd: Annuller, kontekst: Kontekst) -> None:
        self.check_apen()
        tekst = _tekst(cmd.begrunnelse)
        if tekst is None:
            raise DomainError("BEGRUNNELSE_REQUIRED", "an annulment needs a begrunnelse")
        self._annuller(begrunnelse=tekst, kontekst=kontekst, regelsett_id=self.regelsett_id)

    @event("TiltakslopAnnullert")
    def _annuller(self, begrunnelse: str, kontekst: Kontekst, regelsett_id: str) -> None:
        self.annullert = True
        self.hendelsestyper.append("TiltakslopAnnullert")

    # --- transition (LOP-14) -----------------------------------------------------------------------------

    def overgang(
        self, cmd: Overgang, *, ny_id: UUID, kontekst: Kontekst, konfig: Regelkonfig = STANDARD
    ) -> Tiltakslop:
        """End this løp (OVERGANG_TILTAK) and grant `cmd.til` to the same person on the new løp `ny_id`, which
        is returned. LOP-6 first; the new grant is judged before this løp is ended, so a refusal leaves this
        løp untouched (and the new one is never saved)."""
        self.check_apen()
        ny = Tiltakslop._innvilg(
            cmd.til or NyttLop(), id=ny_id, person=self.person, fodselsdato=self.fodselsdato, kontekst=kontekst,
            konfig=konfig, forgjenger=self,
        )  # fmt: skip
        slutt = AvsluttLop(sluttdato=cmd.sluttdato, aarsak=Avslutningsaarsak.OVERGANG_TILTAK)
        self.avslutt(slutt, kontekst, overgang_til=OvergangTil(ny.tiltakstype, ny.id))
        return ny

    # --- corrections (LOP-9) -------------------------------------------------------------------------------

    def hendelse_ider(self) -> list[UUID]:
        return [hendelse_id(self.id, v) for v in range(1, len(self.hendelsestyper) + 1)]

    def korriger(self, cmd: KorrigerLop, kontekst: Kontekst, konfig: Regelkonfig = STANDARD) -> None:
        """Correct earlier facts as if they had always been so; every invariant is judged on the corrected state.

        Accepted on closed løp. A value of None means "not corrected" (a tom cannot be corrected to open-ended).
        """
        fom, tom, sluttdato, aarsak = cmd.fom, cmd.tom, cmd.sluttdato, cmd.aarsak
        malgruppe, variant, nav_enhet, vedtak_ref = cmd.malgruppe, cmd.variant, cmd.nav_enhet, cmd.vedtak_ref
        gitt = {
            "fom": fom, "tom": tom, "sluttdato": sluttdato, "aarsak": aarsak, "malgruppe": malgruppe,
            "variant": variant, "nav_enhet": nav_enhet, "vedtak_ref": vedtak_ref,
        }  # fmt: skip
        felter = [navn for navn, _ in _FELT_HENDELSER if gitt[navn] is not None]
        if not felter:
            raise InvalidRequest("a correction names at least one field")
        ny_aarsak = None if aarsak is None else som_enum(Avslutningsaarsak, aarsak, "aarsak")
        ny_malgruppe = None if malgruppe is None else som_enum(Malgruppe, malgruppe, "malgruppe")
        ny_variant = None if variant is None else som_enum(Variant, variant, "variant")
        ny_enhet = None if nav_enhet is None else _nav_enhet(nav_enhet)
        ny_ref = None if vedtak_ref is None else _vedtak_ref(vedtak_ref)
        if (sluttdato is not None or ny_aarsak is not None) and not self.avsluttet:
            raise InvalidRequest("sluttdato and aarsak can only be corrected on an ended løp")
        if ny_aarsak == Avslutningsaarsak.OVERGANG_TILTAK and self.overgang_til is None:
            raise InvalidRequest(
                "OVERGANG_TILTAK needs overgang_til; use the transition instead", felt="aarsak"
            )
        korrigert = self._finn_hendelse(cmd.hendelse_id, felter)
        tekst = _tekst(cmd.begrunnelse)
        if tekst is None:
            raise DomainError("BEGRUNNELSE_REQUIRED", "a correction needs a begrunnelse")
        for navn, verdi in (("fom", fom), ("tom", tom), ("sluttdato", sluttdato)):
            if verdi is not None and not isinstance(verdi, date):
                raise _dato_feil(f"{navn} is not a date")

        n_fom = fom or self.fom
        n_tom = tom or self.tom
        n_gruppe = ny_malgruppe or self.malgruppe
        n_variant = ny_variant or self.variant
        n_enhet = ny_enhet or self.nav_enhet
        sett = regelsett_for(n_fom)
        regel = sett.regel(self.tiltakstype, n_variant)
        _sjekk_datoer(regel, n_fom, n_tom)
        _sjekk_alder(regel, self.fodselsdato, n_fom, konfig)
        _sjekk_samtykke(self.fodselsdato, n_fom, self.samtykke_foreldre)
        _sjekk_malgruppe(regel, n_gruppe)
        _sjekk_pilot(self.tiltakstype, n_fom, n_tom, n_enhet, konfig)
        cap = (regel.total_tom if self.forlengelser else regel.base_tom)(n_fom, n_gruppe, self.stillingstype)
        if cap is not None and (n_tom is None or n_tom > cap):
            raise DomainError(
                "CORRECTION_VIOLATES_CAP",
                "the corrected løp would exceed its cap unless tom is corrected too",
                max_tom=cap,
            )
        if self.avsluttet:
            n_slutt = sluttdato or self.sluttdato
            assert n_slutt is not None
            if n_slutt < n_fom or (n_tom is not None and n_slutt > n_tom):
                raise _dato_feil("fom ≤ sluttdato ≤ tom", min_dato=n_fom, max_dato=n_tom)
        self._korriger(
            hendelse_id=korrigert, fom=fom, tom=tom, sluttdato=sluttdato, aarsak=ny_aarsak, malgruppe=ny_malgruppe,
            variant=ny_variant, nav_enhet=ny_enhet, vedtak_ref=ny_ref, begrunnelse=tekst, kontekst=kontekst,
            regelsett_id=sett.id,
        )  # fmt: skip

    def _finn_hendelse(self, oppgitt: UUID | None, felter: list[str]) -> UUID:
        ider = self.hendelse_ider()
        if oppgitt is not None:
            if oppgitt not in ider:
                raise InvalidRequest("hendelse_id is not an event of this løp", felt="hendelse_id")
            return oppgitt
        typer = dict(_FELT_HENDELSER)[felter[0]]
        for indeks in range(len(self.hendelsestyper) - 1, -1, -1):
            if self.hendelsestyper[indeks] in typer:
                return ider[indeks]
        return ider[0]

    @event(_KORRIGERT)
    def _korriger(
        self,
        hendelse_id: UUID,
        fom: date | None,
        tom: date | None,
        sluttdato: date | None,
        aarsak: Avslutningsaarsak | None,
        malgruppe: Malgruppe | None,
        variant: Variant | None,
        nav_enhet: str | None,
        vedtak_ref: str | None,
        begrunnelse: str,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        if fom is not None:
            self.fom = fom
        if tom is not None:
            self.tom = tom
        if sluttdato is not None:
            self.sluttdato = sluttdato
        if aarsak is not None:
            self.avslutningsaarsak = aarsak
        if malgruppe is not None:
            self.malgruppe = malgruppe
        if variant is not None:
            self.variant = variant
        if nav_enhet is not None:
            self.nav_enhet = nav_enhet
        if vedtak_ref is not None:
            self.vedtak_ref = vedtak_ref
        self.regelsett_id = regelsett_id
        self.hendelsestyper.append(_KORRIGERT)

    # --- the deadline board (§8.1) -------------------------------------------------------------------------

    def status(self, per: date) -> Status:
        if self.annullert:
            return Status.ANNULLERT
        if self.avsluttet and self.sluttdato is not None and per > self.sluttdato:
            return Status.AVSLUTTET
        return Status.AKTIV

    def tilstand(
        self, per: date, konfig: Regelkonfig = STANDARD, *, ordinaer_arena_tilbudt: bool = False
    ) -> Tilstand:
        """§8.1 on business date `per`. `ordinaer_arena_tilbudt`: whether an arbeidstrening or opplæring in
        ordinary working life is registered for the person (AFT-4; known outside this stream)."""
        base = self.base_cap_tom()
        total = self.total_cap_tom()
        slutt = self.opptatt_tom
        neste_vurdering = self.neste_vurdering(konfig)
        vurderingsstatus = None
        if neste_vurdering is not None:
            if per > neste_vurdering:
                vurderingsstatus = Vurderingsstatus.OVERDUE
            elif per >= varseldato(neste_vurdering, konfig.lead_days.get("VURDERING_FORFALLER", 0)):
                vurderingsstatus = Vurderingsstatus.DUE_SOON
            else:
                vurderingsstatus = Vurderingsstatus.OK
        advarsler: list[str] = []
        if self.tom is not None and total is not None and self.tom > total:
            advarsler.append(TOM_OVER_NY_CAP)
        if (
            self.tiltakstype == Tiltakstype.AFT
            and not ordinaer_arena_tilbudt
            and slutt is not None
            and per >= add_months(slutt, -3)
        ):
            advarsler.append(AFT_ORDINARY_ARENA_NOT_OFFERED)
        neste_sats = self.neste_satsendring(per)
        return Tilstand(
            per=per,
            status=self.status(per),
            base_cap_tom=base,
            total_cap_tom=total,
            days_to_tom=None if slutt is None else dager_mellom(per, slutt),
            days_to_total_cap=None if total is None else dager_mellom(per, total),
            extension_possible=self.forlengelse_muligheter(konfig),
            next_review_due=neste_vurdering,
            review_status=vurderingsstatus,
            current_rate=self.gjeldende_sats(per),
            next_rate_change_date=neste_sats,
            warnings=tuple(advarsler),
            open_alerts=tuple(v for v, _ in self._apne_varsler(per, konfig, total, neste_vurdering, neste_sats)),
        )

    def varsler_med_frist(self, per: date, konfig: Regelkonfig) -> tuple[tuple[Varseltype, date], ...]:
        """(type, frist) of each §8.5 alert open on `per`: `tilstand(per).open_alerts` with their `frist`,
        without the rest of the day's state (the alert worker needs only these)."""
        return self._apne_varsler(
            per, konfig, self.total_cap_tom(), self.neste_vurdering(konfig), self.neste_satsendring(per)
        )

    def _apne_varsler(
        self,
        per: date,
        konfig: Regelkonfig,
        total: date | None,
        neste_vurdering: date | None,
        neste_sats: date | None,
    ) -> tuple[tuple[Varseltype, date], ...]:
        """§8.5 alerts whose condition holds on `per`, with their frist; none once closed or after tom
        (DATE-8)."""
        slutt = self.opptatt_tom
        if self.lukket or (slutt is not None and per > slutt):
            return ()
        lead = konfig.lead_days

        def i_vindu(frist: date, navn: str) -> bool:
            return varseldato(frist, lead.get(navn, 0)) <= per <= frist

        varsler: list[tuple[Varseltype, date]] = []
        if total is not None and i_vindu(total, "CAP_NAERMER_SEG"):
            varsler.append((Varseltype.CAP_NAERMER_SEG, total))
        if self.tom is not None and i_vindu(self.tom, "TOM_NAERMER_SEG"):
            varsler.append((Varseltype.TOM_NAERMER_SEG, self.tom))
        if neste_vurdering is not None and i_vindu(neste_vurdering, "VURDERING_FORFALLER"):
            varsler.append((Varseltype.VURDERING_FORFALLER, neste_vurdering))
        if neste_vurdering is not None and per >= add_days(neste_vurdering, 1):
            varsler.append((Varseltype.VURDERING_FORFALT, neste_vurdering))
        if neste_sats is not None and i_vindu(neste_sats, "RATE_ENDRES"):
            varsler.append((Varseltype.RATE_ENDRES, neste_sats))
        return tuple(varsler)
