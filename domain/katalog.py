"""The measure catalogue as data (rules.md §3, §4, §7.3, §8.2, §8.3), versioned by effective date (GEN-12).

A `Regelsett` maps each measure (and opplæring variant) to a `Tiltaksregel`: who may take part, the age limits,
the base and total caps per target group or position type, the extension reasons and how far each reaches,
the review type and the wage-subsidy rate schedule. The aggregate judges commands only through these values,
so a later rule set is a new `Regelsett` with a later `gjelder_fra`, never an edit of this one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeVar

from domain.common import Malgruppe
from domain.config import AlderRegel, PilotVindu, Regelkonfig
from domain.dates import add_months, alder, latest_tom
from domain.errors import InvalidRequest

E = TypeVar("E", bound=StrEnum)


class Tiltakstype(StrEnum):
    OPPLAERING = "OPPLAERING"
    OPPLAERING_LENGRE_VARIGHET_FORSOK = "OPPLAERING_LENGRE_VARIGHET_FORSOK"
    ARBEIDSTRENING = "ARBEIDSTRENING"
    AFT = "AFT"
    OPPFOLGING = "OPPFOLGING"
    UTVIDET_OPPFOLGING_EGEN_REGI = "UTVIDET_OPPFOLGING_EGEN_REGI"
    IPS = "IPS"
    IPS_UNG = "IPS_UNG"
    MIDLERTIDIG_LONNSTILSKUDD = "MIDLERTIDIG_LONNSTILSKUDD"
    VARIG_LONNSTILSKUDD = "VARIG_LONNSTILSKUDD"
    FIREARIG_LONNSTILSKUDD_FORSOK = "FIREARIG_LONNSTILSKUDD_FORSOK"
    MENTOR = "MENTOR"
    INKLUDERINGSTILSKUDD = "INKLUDERINGSTILSKUDD"
    VTA = "VTA"
    VTAO = "VTAO"
    AVKLARING = "AVKLARING"
    ARBEIDSRETTET_REHABILITERING = "ARBEIDSRETTET_REHABILITERING"
    FUNKSJONSASSISTANSE = "FUNKSJONSASSISTANSE"
    AU_REISER = "AU_REISER"
    KVP = "KVP"
    UNGDOMSPROGRAM_FORSOK = "UNGDOMSPROGRAM_FORSOK"


class Variant(StrEnum):
    """OPP-1: the opplæring variants; required on OPPLAERING and refused on every other measure."""

    AMO = "AMO"
    FAG_OG_YRKE = "FAG_OG_YRKE"
    HOYERE_UTDANNING = "HOYERE_UTDANNING"
    STUDIESPESIALISERING = "STUDIESPESIALISERING"
    NORSK_GRUNNLEGGENDE = "NORSK_GRUNNLEGGENDE"


class Forlengelsesaarsak(StrEnum):
    BEHOV_VIDERE = "BEHOV_VIDERE"
    SAERLIGE_GRUNNER = "SAERLIGE_GRUNNER"
    OPPLAERING_FORMELL_KOMPETANSE = "OPPLAERING_FORMELL_KOMPETANSE"
    DELTAR_I_OPPLAERING_UTDANNING = "DELTAR_I_OPPLAERING_UTDANNING"
    NEDSATT_ARBEIDSEVNE = "NEDSATT_ARBEIDSEVNE"
    OVERGANG_SKOLE_SONING = "OVERGANG_SKOLE_SONING"
    SAERLIGE_BEHOV = "SAERLIGE_BEHOV"
    FORLENGELSE_KVP = "FORLENGELSE_KVP"


class Avslutningsaarsak(StrEnum):
    FULLFORT = "FULLFORT"
    AVBRUTT = "AVBRUTT"
    OVERGANG_TILTAK = "OVERGANG_TILTAK"
    OVERGANG_ARBEID = "OVERGANG_ARBEID"
    OVERGANG_UTDANNING = "OVERGANG_UTDANNING"
    OVERGANG_LAERLING = "OVERGANG_LAERLING"
    OVERGANG_UFORETRYGD = "OVERGANG_UFORETRYGD"
    HOVELIG_ARBEID_TILBUDT = "HOVELIG_ARBEID_TILBUDT"
    VILKAR_IKKE_OPPFYLT = "VILKAR_IKKE_OPPFYLT"
    DOD = "DOD"
    ANNET = "ANNET"


class Stillingstype(StrEnum):
    FAST = "FAST"
    MIDLERTIDIG = "MIDLERTIDIG"


class Permisjonstype(StrEnum):
    HOSPITERING = "HOSPITERING"


class Vurderingstype(StrEnum):
    AFT_STATUS_PROGRESJON = "AFT_STATUS_PROGRESJON"
    LTS_HALVAARSVURDERING = "LTS_HALVAARSVURDERING"
    VTAO_AARLIG_DOKUMENTASJON = "VTAO_AARLIG_DOKUMENTASJON"
    VTA_OVERFORINGSVURDERING = "VTA_OVERFORINGSVURDERING"


def som_enum(enum: type[E], verdi: object, navn: str) -> E:
    """Convert a wire value to a code, or refuse it as a malformed request (400)."""
    if isinstance(verdi, enum):
        return verdi
    if isinstance(verdi, str):
        try:
            return enum(verdi)
        except ValueError:
            pass
    raise InvalidRequest(f"{navn} is missing or not a known code", felt=navn)


# --- durations ---------------------------------------------------------------------------------------------


def arbeidsdag_nr(fom: date, n: int) -> date:
    """The n-th working day (Monday–Friday; public holidays count, rules.md §7.3) counted from `fom` inclusive."""
    d = fom
    while d.weekday() >= 5:
        d += timedelta(days=1)
    talt = 1
    while talt < n:
        d += timedelta(days=1)
        if d.weekday() < 5:
            talt += 1
    return d


@dataclass(frozen=True, slots=True)
class Varighet:
    """An "up to" duration: the latest allowed tom from `fom` is one addition of the whole duration (DATE-3/4)."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    arbeidsdager: int = 0

    def siste_dag(self, fom: date) -> date:
        if self.arbeidsdager:
            return arbeidsdag_nr(fom, self.arbeidsdager)
        return latest_tom(fom, years=self.years, months=self.months, weeks=self.weeks)


# --- rates (LTS-4/5/6, §8.3) ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Satstrinn:
    fra_maaned: int  # months after fom when the step starts
    prosent: int


@dataclass(frozen=True, slots=True)
class Satsplan:
    """Maximum rate on a date: the last step whose start `add(fom, fra_maaned)` is on or before the date."""

    trinn: Mapping[Malgruppe, tuple[Satstrinn, ...]]

    def maks_sats(self, fom: date, malgruppe: Malgruppe, dato: date) -> int | None:
        sats: int | None = None
        for t in self.trinn.get(malgruppe, ()):
            if add_months(fom, t.fra_maaned) <= dato:
                sats = t.prosent
        return sats

    def neste_endring(self, fom: date, malgruppe: Malgruppe, dato: date) -> date | None:
        for t in self.trinn.get(malgruppe, ()):
            start = add_months(fom, t.fra_maaned)
            if start > dato:
                return start
        return None


# --- measure rules -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Forlengelsesgrunn:
    """An extension reason of a measure and how far `ny_tom` may reach with it (per target group).

    `rekkevidde[g] is None`: no limit of its own; a group absent from `rekkevidde`: not for that group.
    `maks_ganger_utover_base`: how many extensions past the base cap the reason allows (UNGDOMSPROGRAM: once).
    """

    aarsak: Forlengelsesaarsak
    rekkevidde: Mapping[Malgruppe, Varighet | None]
    begrunnelse_kreves: bool = False
    maks_ganger_utover_base: int | None = None


BEGGE_GRUPPER = frozenset(Malgruppe)
KUN_NAE = frozenset({Malgruppe.NEDSATT_ARBEIDSEVNE})


def _lik(
    v: Varighet | None, grupper: frozenset[Malgruppe] = BEGGE_GRUPPER
) -> dict[Malgruppe, Varighet | None]:
    return {g: v for g in grupper}


@dataclass(frozen=True, slots=True)
class Tiltaksregel:
    tiltakstype: Tiltakstype
    variant: Variant | None
    malgrupper: frozenset[Malgruppe]
    base: Mapping[Malgruppe, Varighet | None]  # None: no cap (tom still required unless `apen_slutt`)
    total: Mapping[Malgruppe, Varighet | None]
    forlengelse: tuple[Forlengelsesgrunn, ...] = ()
    stilling: Mapping[Stillingstype, Varighet] | None = None  # FIREARIG: the cap follows the position type
    apen_slutt: bool = False  # LOP-16 / VTA-1
    min_alder: int = 16  # GEN-2
    min_alder_etter_regel: bool = False  # OPP-AGE: read through Regelkonfig.alder_regel
    maks_alder: int | None = None  # inclusive, in completed years on fom (GEN-11)
    vurderingstype: Vurderingstype | None = None
    satser: Satsplan | None = None
    lonnstilskudd: bool = False
    permisjon: bool = False  # VTA-3

    def base_tom(
        self, fom: date, malgruppe: Malgruppe, stillingstype: Stillingstype | None = None
    ) -> date | None:
        v = self._stilling(stillingstype) or self.base.get(malgruppe)
        return v.siste_dag(fom) if v else None

    def total_tom(
        self, fom: date, malgruppe: Malgruppe, stillingstype: Stillingstype | None = None
    ) -> date | None:
        v = self._stilling(stillingstype) or self.total.get(malgruppe)
        return v.siste_dag(fom) if v else None

    def _stilling(self, stillingstype: Stillingstype | None) -> Varighet | None:
        if self.stilling is None or stillingstype is None:
            return None
        return self.stilling[stillingstype]

    def grunn(self, aarsak: Forlengelsesaarsak) -> Forlengelsesgrunn | None:
        return next((g for g in self.forlengelse if g.aarsak == aarsak), None)

    def grunnens_tom(
        self, grunn: Forlengelsesgrunn, fom: date, malgruppe: Malgruppe, stillingstype: Stillingstype | None
    ) -> date | None:
        """The latest ny_tom the reason reaches for this group, within the total cap; None: no limit."""
        total = self.total_tom(fom, malgruppe, stillingstype)
        egen = grunn.rekkevidde[malgruppe]
        grense = egen.siste_dag(fom) if egen else None
        if grense is None:
            return total
        return grense if total is None else min(grense, total)

    def min_alder_oppfylt(self, fodselsdato: date, fom: date, regel: AlderRegel) -> bool:
        if self.min_alder_etter_regel and regel == AlderRegel.CALENDAR_YEAR:
            return fom.year - fodselsdato.year >= self.min_alder
        return alder(fodselsdato, fom) >= self.min_alder


@dataclass(frozen=True, slots=True)
class Regelsett:
    """One version of the catalogue, in force for løp whose fom is on or after `gjelder_fra` (GEN-12)."""

    id: str
    gjelder_fra: date
    regler: Mapping[tuple[Tiltakstype, Variant | None], Tiltaksregel] = field(repr=False)

    def regel(self, tiltakstype: Tiltakstype, variant: Variant | None) -> Tiltaksregel:
        """The rule of a measure; a variant is required on OPPLAERING and refused elsewhere (400)."""
        if tiltakstype == Tiltakstype.OPPLAERING and variant is None:
            raise InvalidRequest("variant is required on OPPLAERING", felt="variant")
        if tiltakstype != Tiltakstype.OPPLAERING and variant is not None:
            raise InvalidRequest("variant is only allowed on OPPLAERING", felt="variant")
        try:
            return self.regler[(tiltakstype, variant)]
        except KeyError:
            raise InvalidRequest(f"{tiltakstype} is not in rule set {self.id}", felt="tiltakstype") from None


# --- the seed rule set (rules.md as of the 2024 seeds) ---------------------------------------------------------

AS = Malgruppe.ARBEIDSSOKER
NAE = Malgruppe.NEDSATT_ARBEIDSEVNE
_Y1, _Y2, _Y3, _Y4, _Y5 = (Varighet(years=n) for n in range(1, 6))
_M6 = Varighet(months=6)
_M12 = Varighet(months=12)
_M18 = Varighet(months=18)
_Y3M6 = Varighet(years=3, months=6)
BEHOV_VIDERE = Forlengelsesaarsak.BEHOV_VIDERE


def _behov_videre(base: Mapping[Malgruppe, Varighet | None]) -> Forlengelsesgrunn:
    """Up to the base cap, the generic reason is always listed (rules.md §7.3, LOP-5d)."""
    return Forlengelsesgrunn(BEHOV_VIDERE, dict(base))


def _regel(
    tiltakstype: Tiltakstype,
    base: Mapping[Malgruppe, Varighet | None],
    total: Mapping[Malgruppe, Varighet | None] | None = None,
    utover: tuple[Forlengelsesgrunn, ...] = (),
    *,
    variant: Variant | None = None,
    malgrupper: frozenset[Malgruppe] = BEGGE_GRUPPER,
    **andre: object,
) -> Tiltaksregel:
    base = {g: base[g] for g in malgrupper}
    total = {g: (total or base)[g] for g in malgrupper}
    egne = tuple(g for g in utover if g.aarsak == BEHOV_VIDERE)
    grunner = egne or (_behov_videre(base),)
    grunner += tuple(g for g in utover if g.aarsak != BEHOV_VIDERE)
    return Tiltaksregel(
        tiltakstype=tiltakstype,
        variant=variant,
        malgrupper=malgrupper,
        base=base,
        total=total,
        forlengelse=grunner,
        **andre,  # type: ignore[arg-type]
    )


def _opplaering(variant: Variant) -> Tiltaksregel:
    if variant == Variant.STUDIESPESIALISERING:  # OPP-5
        return _regel(
            Tiltakstype.OPPLAERING, _lik(_Y1), variant=variant, min_alder=19, min_alder_etter_regel=True
        )
    hoyere = variant == Variant.HOYERE_UTDANNING
    grupper = KUN_NAE if hoyere else BEGGE_GRUPPER
    return _regel(  # OPP-2, OPP-3, OPP-AGE
        Tiltakstype.OPPLAERING,
        _lik(_Y3),
        _lik(_Y4),
        (Forlengelsesgrunn(Forlengelsesaarsak.SAERLIGE_GRUNNER, _lik(_Y4), begrunnelse_kreves=True),),
        variant=variant,
        malgrupper=grupper,
        min_alder=22 if hoyere else 19,
        min_alder_etter_regel=True,
    )


def _seed_regler() -> dict[tuple[Tiltakstype, Variant | None], Tiltaksregel]:
    T = Tiltakstype
    F = Forlengelsesaarsak
    lts_ned = {
        T.VARIG_LONNSTILSKUDD: Satsplan({NAE: (Satstrinn(0, 75), Satstrinn(12, 67))}),  # LTS-4 (C-2)
        T.MIDLERTIDIG_LONNSTILSKUDD: Satsplan(  # LTS-5
            {AS: (Satstrinn(0, 40), Satstrinn(6, 30)), NAE: (Satstrinn(0, 60), Satstrinn(12, 50))}
        ),
        T.FIREARIG_LONNSTILSKUDD_FORSOK: Satsplan(  # LTS-6
            {
                g: (Satstrinn(0, 70), Satstrinn(12, 60), Satstrinn(24, 50), Satstrinn(36, 35))
                for g in BEGGE_GRUPPER
            }
        ),
    }
    ingen_grense = _lik(None)
    regler = [
        *(_opplaering(v) for v in Variant),
        _regel(  # OPP-6
            T.OPPLAERING_LENGRE_VARIGHET_FORSOK,
            _lik(_Y4),
            _lik(_Y5),
            (Forlengelsesgrunn(F.SAERLIGE_GRUNNER, _lik(_Y5), begrunnelse_kreves=True),),
        ),
        _regel(  # ART-1
            T.ARBEIDSTRENING,
            _lik(_Y1),
            {AS: _Y1, NAE: _M18},
            (Forlengelsesgrunn(F.NEDSATT_ARBEIDSEVNE, {NAE: _M18}),),
        ),
        _regel(  # AFT-1, AFT-2, AFT-3
            T.AFT,
            _lik(_Y1),
            _lik(_Y2),
            (Forlengelsesgrunn(F.OPPLAERING_FORMELL_KOMPETANSE, _lik(_Y2)),),
            malgrupper=KUN_NAE,
            vurderingstype=Vurderingstype.AFT_STATUS_PROGRESJON,
        ),
        _regel(  # OPF-1 (C-9)
            T.OPPFOLGING,
            _lik(_M6),
            {AS: _Y1, NAE: _Y3M6},
            (
                Forlengelsesgrunn(BEHOV_VIDERE, {AS: _Y1, NAE: _Y3}),
                Forlengelsesgrunn(F.OVERGANG_SKOLE_SONING, {NAE: _Y3M6}),
            ),
        ),
        _regel(T.UTVIDET_OPPFOLGING_EGEN_REGI, ingen_grense),
        _regel(T.IPS, {AS: _Y1, NAE: _Y3}),  # IPS-1
        _regel(  # IPS-3 (C-3: 30 inclusive)
            T.IPS_UNG,
            {AS: _Y1, NAE: _Y3},
            {AS: _Y2, NAE: _Y4},
            (Forlengelsesgrunn(F.DELTAR_I_OPPLAERING_UTDANNING, {AS: _Y2, NAE: _Y4}),),
            maks_alder=30,
        ),
        _regel(  # LTS-3, LTS-5 (C-8)
            T.MIDLERTIDIG_LONNSTILSKUDD,
            {AS: _Y1, NAE: _Y2},
            vurderingstype=Vurderingstype.LTS_HALVAARSVURDERING,
            satser=lts_ned[T.MIDLERTIDIG_LONNSTILSKUDD],
            lonnstilskudd=True,
        ),
        _regel(  # LTS-4, LTS-7
            T.VARIG_LONNSTILSKUDD,
            ingen_grense,
            malgrupper=KUN_NAE,
            apen_slutt=True,
            vurderingstype=Vurderingstype.LTS_HALVAARSVURDERING,
            satser=lts_ned[T.VARIG_LONNSTILSKUDD],
            lonnstilskudd=True,
        ),
        _regel(  # LTS-6
            T.FIREARIG_LONNSTILSKUDD_FORSOK,
            ingen_grense,
            stilling={Stillingstype.FAST: _Y4, Stillingstype.MIDLERTIDIG: _Y2},
            maks_alder=29,
            vurderingstype=Vurderingstype.LTS_HALVAARSVURDERING,
            satser=lts_ned[T.FIREARIG_LONNSTILSKUDD_FORSOK],
            lonnstilskudd=True,
        ),
        _regel(  # MEN-1 (C-10)
            T.MENTOR,
            _lik(_M6),
            {AS: _M6, NAE: _Y3},
            (Forlengelsesgrunn(F.SAERLIGE_BEHOV, {NAE: _Y3}),),
        ),
        _regel(T.INKLUDERINGSTILSKUDD, _lik(_M12)),
        _regel(  # VTA-1, VTA-3, VTA-5
            T.VTA,
            ingen_grense,
            malgrupper=KUN_NAE,
            apen_slutt=True,
            vurderingstype=Vurderingstype.VTA_OVERFORINGSVURDERING,
            permisjon=True,
        ),
        _regel(  # VTAO-1
            T.VTAO,
            ingen_grense,
            malgrupper=KUN_NAE,
            apen_slutt=True,
            vurderingstype=Vurderingstype.VTAO_AARLIG_DOKUMENTASJON,
        ),
        _regel(  # AVK-1
            T.AVKLARING,
            _lik(Varighet(weeks=4)),
            _lik(Varighet(weeks=12)),
            (Forlengelsesgrunn(F.SAERLIGE_BEHOV, _lik(Varighet(weeks=12))),),
        ),
        _regel(T.ARBEIDSRETTET_REHABILITERING, _lik(Varighet(weeks=12))),  # ARR-1
        _regel(T.FUNKSJONSASSISTANSE, ingen_grense),
        _regel(T.AU_REISER, ingen_grense),
        _regel(  # KVP-1 (C-18)
            T.KVP,
            _lik(_Y2),
            _lik(_Y3),
            (Forlengelsesgrunn(F.FORLENGELSE_KVP, _lik(_Y3), begrunnelse_kreves=True),),
        ),
        _regel(  # 260 + 40 working days, once; 18 ≤ age < 29
            T.UNGDOMSPROGRAM_FORSOK,
            _lik(Varighet(arbeidsdager=260)),
            _lik(Varighet(arbeidsdager=300)),
            (Forlengelsesgrunn(BEHOV_VIDERE, _lik(Varighet(arbeidsdager=300)), maks_ganger_utover_base=1),),
            min_alder=18,
            maks_alder=28,
        ),
    ]
    return {(r.tiltakstype, r.variant): r for r in regler}


SEED_2024 = Regelsett(id="SEED-2024", gjelder_fra=date.min, regler=_seed_regler())

REGELSETT: tuple[Regelsett, ...] = (SEED_2024,)
"""Every rule set, in any order. Q4 is open: no later rule set is in force yet."""


def regelsett_for(fom: date, kandidater: Sequence[Regelsett] = REGELSETT) -> Regelsett:
    """GEN-12: the rule set in force on a løp's start date (the latest `gjelder_fra` on or before fom)."""
    gjeldende = [r for r in kandidater if r.gjelder_fra <= fom]
    if not gjeldende:
        raise InvalidRequest("no rule set is in force on fom", fom=fom)
    return max(gjeldende, key=lambda r: r.gjelder_fra)


def regelsett_med_id(regelsett_id: str, kandidater: Sequence[Regelsett] = REGELSETT) -> Regelsett:
    for r in kandidater:
        if r.id == regelsett_id:
            return r
    raise InvalidRequest(f"unknown rule set {regelsett_id}")


def pilotvindu(tiltakstype: Tiltakstype, konfig: Regelkonfig) -> PilotVindu | None:
    """A pilot's window and area from configuration (OPP-6, LTS-6); None for measures that are no pilot."""
    return konfig.piloter.get(str(tiltakstype))


def vurdering_intervall_maaneder(tiltakstype: Tiltakstype, konfig: Regelkonfig) -> int | None:
    """§8.2: the review cadence in months, from configuration."""
    return konfig.vurdering_intervall_maaneder.get(str(tiltakstype))
