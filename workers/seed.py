"""`forlop seed`: a realistic synthetic caseload, written through the command service (`store.service`).

Every løp, guarantee and follow-up is a real command judged by the domain and saved by the store (with its
person boundary, hash chain and group commit), so what the seed writes is what production would have
written. A refused command is a bug in the seed, not noise: they are counted by error code and reported.

The plan is drawn first from one `random.Random(seed)` (pure: no I/O), so the same `--seed` gives the same
people, measures, offices, dates and follow-ups whatever the concurrency; then `samtidige` writers (16 by
default, so group commit shares transactions) run it in rounds: the n-th command of every person in round n,
so one person's commands never race each other (their Person record would otherwise answer
VERSION_CONFLICT) and each aggregate's events are spread over the log as months of casework spread them
(`--per-person` writes each person's history in one burst instead).

Measure mix (`MIKS`, weights in % of the stock of løp). The only figures in the seeds are seed 001's 2017
stock: «om lag 75 000 deltakere ... om lag 17 000 ... for arbeidssøkere og om lag 58 000 plasser for personer
med nedsatt arbeidsevne», i.e. 23 % ARBEIDSSOKER and 77 % NEDSATT_ARBEIDSEVNE; the weights keep exactly that
split. Within each group the split between measures is our estimate (not from the seeds) of the order of
NAV's published monthly stock figures, following rules.md §3: for NAE, oppfølging is the largest measure,
then AFT, arbeidstrening, VTA (sheltered, seed 002's «skjermet») and varig/midlertidig lønnstilskudd, then
opplæring, IPS (seed 004 Boks 4.8), mentor and the short measures (avklaring 4–12 w and ARR 12 w are large
in flow but small in stock). For AS, AMO courses and arbeidstrening dominate, then midlertidig lønnstilskudd
and oppfølging (C-9: 6 + 6 m). AFT, VTA, VTAO, varig lønnstilskudd and høyere utdanning are NAE only
(LOP-3); KVP (municipal), funksjonsassistanse and AU-reiser (grants, not places) are left out. The pilots
are small and obey their windows: OPPLAERING_LENGRE_VARIGHET_FORSOK only in Oslo, Vestland and (former)
Viken from 2023-09-01 (OPP-6), FIREARIG_LONNSTILSKUDD_FORSOK only from its configured start (LTS-6; until
then its weight falls to midlertidig lønnstilskudd).

People: synthetic identifiers with month + 40 (obviously test numbers, both mod-11 digits valid, individual
numbers 000–499 for the 1900s and 500–999 for the 2000s), ages 16–66 on the start date with most weight
on 20–49, within each measure's own limits (OPP-AGE 19/22, IPS_UNG ≤ 30, FIREARIG ≤ 29); under 18 always
with consent from both parents (GEN-3). Offices: `nav_enhet` = county code + office number, weighted by
county population (2024), across the counties of contract.md §2; a løp starting before 2024-01-01 carries
the county code of its day (30 Viken, 38 Vestfold og Telemark, 54 Troms og Finnmark). Start dates are
spread over the last three years; one løp per person, and some transitions (rules.md §6.1 T1, T2, T4, T7,
T8, T14) with the new løp starting the day after the old one ends (§6.3 never needs an overlap).

Follow-ups: reviews on each due date of the §8.2 cadences (about one in ten missed, so the board has
overdue ones); extensions within the measure's reasons and caps (§7.3, computed from the catalogue, the
same values that judge the command); target-group changes AS → NAE (IPS-1); shortenings; ends (most
løp past their tom are ended, with FULLFORT or a transition outcome); VTA hospitering leave (VTA-3);
corrections of vedtak_ref or office (LOP-9); rare annulments. Guarantees (16–29, from 2023-07-01): a
contact person (some late, some changed), conversations every 18–45 days (so some are overdue against the
default 30), education assessments, coordination with other agencies, a linked activity (the person's løp
when there is one), some ends, and FYLT_30 by SYSTEM for those who turned 30.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import msgspec

from domain import commands
from domain.common import Aktor, Kontekst, Malgruppe
from domain.config import Regelkonfig
from domain.dates import add_months, add_years, alder, latest_tom
from domain.errors import DomainError
from domain.ident import _K1, _K2, _kontrollsiffer
from domain.katalog import (
    Stillingstype,
    Tiltakstype,
    Variant,
    pilotvindu,
    regelsett_for,
    vurdering_intervall_maaneder,
)
from domain.ungdomsgaranti import ORDNINGEN_STARTER
from store.service import CommandContext, Service

AS, NAE = "ARBEIDSSOKER", "NEDSATT_ARBEIDSEVNE"

# (tiltakstype, variant, malgruppe, weight in % of the stock); AS sums to 23, NAE to 77 (seed 001).
MIKS: tuple[tuple[str, str | None, str, float], ...] = (
    ("OPPFOLGING", None, NAE, 18.0),
    ("AFT", None, NAE, 9.0),
    ("ARBEIDSTRENING", None, NAE, 9.0),
    ("VTA", None, NAE, 8.0),
    ("VARIG_LONNSTILSKUDD", None, NAE, 6.0),
    ("MIDLERTIDIG_LONNSTILSKUDD", None, NAE, 6.0),
    ("IPS", None, NAE, 3.5),
    ("OPPLAERING", "AMO", NAE, 3.0),
    ("OPPLAERING", "FAG_OG_YRKE", NAE, 3.0),
    ("MENTOR", None, NAE, 2.0),
    ("AVKLARING", None, NAE, 2.0),
    ("VTAO", None, NAE, 1.5),
    ("IPS_UNG", None, NAE, 1.5),
    ("OPPLAERING", "HOYERE_UTDANNING", NAE, 1.5),
    ("ARBEIDSRETTET_REHABILITERING", None, NAE, 1.0),
    ("OPPLAERING", "NORSK_GRUNNLEGGENDE", NAE, 0.5),
    ("OPPLAERING", "STUDIESPESIALISERING", NAE, 0.5),
    ("INKLUDERINGSTILSKUDD", None, NAE, 0.5),
    ("FIREARIG_LONNSTILSKUDD_FORSOK", None, NAE, 0.5),
    ("OPPLAERING", "AMO", AS, 6.0),
    ("ARBEIDSTRENING", None, AS, 5.0),
    ("MIDLERTIDIG_LONNSTILSKUDD", None, AS, 4.0),
    ("OPPFOLGING", None, AS, 3.0),
    ("OPPLAERING", "FAG_OG_YRKE", AS, 1.5),
    ("OPPLAERING", "NORSK_GRUNNLEGGENDE", AS, 1.0),
    ("OPPLAERING_LENGRE_VARIGHET_FORSOK", None, AS, 0.5),
    ("IPS", None, AS, 0.5),
    ("IPS_UNG", None, AS, 0.5),
    ("AVKLARING", None, AS, 0.5),
    ("MENTOR", None, AS, 0.5),
)

# County code → (population 2024 in thousands, number of NAV offices, county code before 2024-01-01).
FYLKER: dict[str, tuple[int, int, str]] = {
    "03": (717, 15, "03"),  # Oslo
    "11": (499, 12, "11"),  # Rogaland
    "15": (270, 12, "15"),  # Møre og Romsdal
    "18": (244, 14, "18"),  # Nordland
    "31": (305, 8, "30"),  # Østfold (Viken 2020–2023)
    "32": (728, 14, "30"),  # Akershus
    "33": (271, 9, "30"),  # Buskerud
    "34": (375, 16, "34"),  # Innlandet
    "39": (256, 6, "38"),  # Vestfold (Vestfold og Telemark 2020–2023)
    "40": (177, 8, "38"),  # Telemark
    "42": (318, 12, "42"),  # Agder
    "46": (651, 18, "46"),  # Vestland
    "50": (483, 16, "50"),  # Trøndelag
    "55": (170, 9, "54"),  # Troms (Troms og Finnmark 2020–2023)
    "56": (75, 8, "54"),  # Finnmark
}
FYLKESREFORM = date(2024, 1, 1)

# Relative weight of each age on the start date (participants are mostly 20–49).
def _aldersvekt(a: int) -> float:
    if a < 18:
        return 0.4
    if a < 30:
        return 2.6
    if a < 40:
        return 2.0
    if a < 50:
        return 1.6
    if a < 60:
        return 1.1
    return 0.5


# rules.md §6.1: the transitions the texts describe, (from) → [(to, variant)].
OVERGANGER: dict[str, tuple[tuple[str, str | None], ...]] = {
    "AFT": (("ARBEIDSTRENING", None), ("OPPLAERING", "FAG_OG_YRKE")),  # T1, T2
    "AVKLARING": (("OPPFOLGING", None), ("ARBEIDSTRENING", None)),
    "ARBEIDSRETTET_REHABILITERING": (("AVKLARING", None), ("OPPFOLGING", None)),
    "ARBEIDSTRENING": (("MIDLERTIDIG_LONNSTILSKUDD", None),),  # T8, T14
    "OPPFOLGING": (("MIDLERTIDIG_LONNSTILSKUDD", None),),
    "VTA": (("VTAO", None),),  # T4
    "IPS_UNG": (("OPPLAERING", "FAG_OG_YRKE"),),  # T7
}
KANALER: tuple[tuple[str, int], ...] = (("MOTE", 45), ("TELEFON", 25), ("VIDEO", 15), ("DIGITAL", 15))
INSTANSER = ("UTDANNING", "HELSE", "OPPFOLGINGSTJENESTEN", "BARNEVERN", "ANNET")


# --- the plan ----------------------------------------------------------------------------------------------


@dataclass
class Steg:
    """One command. `lop`: which of the person's løp it acts on (by order of creation); `kind`:
    innvilg_lop | endre_lop | overgang | innvilg_garanti | endre_garanti."""

    kind: str
    aktor: Aktor
    correlation_id: uuid.UUID
    felter: dict[str, Any]
    kommando: str | None = None
    lop: int | None = None


@dataclass
class Personplan:
    steg: list[Steg] = field(default_factory=list)


@dataclass
class Plan:
    personer: list[Personplan]
    antall_lop: int
    antall_garantier: int
    miks: Counter[str]  # "TILTAKSTYPE[/VARIANT]/MALGRUPPE" → løp
    enheter: Counter[str]  # nav_enhet → løp and guarantees
    kommandoer: Counter[str]


def _ident(rng: random.Random, fodselsdato: date, brukt: set[str]) -> str:
    """A synthetic identifier (month + 40), both control digits valid, not used before in this plan."""
    dd, mm, yy = fodselsdato.day, fodselsdato.month + 40, fodselsdato.year % 100
    lav, hoy = (0, 499) if fodselsdato.year < 2000 else (500, 999)
    start = rng.randint(lav, hoy)
    for k in range(hoy - lav + 1):
        nr = lav + (start - lav + k) % (hoy - lav + 1)
        siffer = [int(c) for c in f"{dd:02d}{mm:02d}{yy:02d}{nr:03d}"]
        k1 = _kontrollsiffer(siffer, _K1)
        if k1 is None:
            continue
        k2 = _kontrollsiffer([*siffer, k1], _K2)
        if k2 is None:
            continue
        ident = "".join(map(str, siffer)) + f"{k1}{k2}"
        if ident not in brukt:
            brukt.add(ident)
            return ident
    raise RuntimeError("no free synthetic identifier on that birth date")


def _fodselsdato(rng: random.Random, alder_paa: int, dato: date) -> date:
    """A birth date that makes the person exactly `alder_paa` (completed years) on `dato`."""
    for _ in range(10):
        f = add_years(dato, -alder_paa) - timedelta(days=rng.randint(0, 364))
        if alder(f, dato) == alder_paa:
            return f
    return add_years(dato, -alder_paa)


def _dag(rng: random.Random, fra: date, til: date) -> date:
    return fra if til <= fra else fra + timedelta(days=rng.randint(0, (til - fra).days))


@dataclass(frozen=True)
class _Lopplan:
    """The løp being planned: whose plan, which of the person's løp, its office, grant body and rules."""

    pp: Personplan
    nr: int
    enhet: str
    body: dict[str, Any]
    regel: Any


class Planlegger:
    def __init__(self, seed: int, i_dag: date, konfig: Regelkonfig, brukt: set[str] | None = None) -> None:
        self.rng = random.Random(seed)
        self.i_dag = i_dag
        self.konfig = konfig
        self.start = add_years(i_dag, -3)
        self.brukt: set[str] = set() if brukt is None else brukt
        self.miks: Counter[str] = Counter()
        self.enheter: Counter[str] = Counter()
        self.kommandoer: Counter[str] = Counter()
        self._vekter = [v for *_, v in MIKS]
        fylker = list(FYLKER)
        self._fylker = fylker
        self._fylkevekter = [FYLKER[f][0] for f in fylker]
        # Offices of the former counties, numbered on after each other as they were.
        self._historisk: dict[str, str] = {}
        teller: Counter[str] = Counter()
        for f, (_, kontorer, gammel) in FYLKER.items():
            for n in range(1, kontorer + 1):
                teller[gammel] += 1
                self._historisk[f"{f}{n:02d}"] = f"{gammel}{teller[gammel]:02d}"

    # helpers ---------------------------------------------------------------------------------------------

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _kontor(self, fylker: tuple[str, ...] | None = None) -> str:
        valg = [f for f in self._fylker if fylker is None or f in fylker or FYLKER[f][2] in fylker]
        vekter = [FYLKER[f][0] for f in valg]
        f = self.rng.choices(valg, vekter)[0]
        return f"{f}{self.rng.randint(1, FYLKER[f][1]):02d}"

    def _enhet_per(self, kontor: str, dato: date) -> str:
        """The office code on `dato`: before the county reform, the former county's code."""
        return self._historisk[kontor] if dato < FYLKESREFORM else kontor

    @staticmethod
    def _veileder(enhet: str, n: int) -> str:
        return f"Z{enhet}{n:02d}"

    def _aktor(self, enhet: str) -> Aktor:
        return Aktor(self._veileder(enhet, self.rng.randint(1, 12)), enhet)

    def _steg(self, pp: Personplan, kind: str, enhet: str | Aktor, felter: dict[str, Any], **kw: Any) -> None:
        aktor = enhet if isinstance(enhet, Aktor) else self._aktor(enhet)
        pp.steg.append(Steg(kind, aktor, self._uuid(), felter, **kw))
        self.kommandoer[kw.get("kommando") or kind] += 1

    def _endre_lop(self, lop: _Lopplan, kommando: str, **felter: Any) -> None:
        self._steg(lop.pp, "endre_lop", lop.enhet, felter, kommando=kommando, lop=lop.nr)

    def _alder(self, min_a: int, maks_a: int) -> int:
        aldre = list(range(min_a, maks_a + 1))
        return self.rng.choices(aldre, [_aldersvekt(a) for a in aldre])[0]

    # løp -------------------------------------------------------------------------------------------------

    def _velg_tiltak(self) -> tuple[str, str | None, str]:
        type_, variant, malgruppe, _ = self.rng.choices(MIKS, self._vekter)[0]
        pilot = pilotvindu(Tiltakstype(type_), self.konfig)
        if pilot is not None and pilot.fom is not None and pilot.fom > self.i_dag:
            type_ = "MIDLERTIDIG_LONNSTILSKUDD"  # the pilot has not started: its place goes to the nearest
        return type_, variant, malgruppe

    def _grant(
        self, type_: str, variant: str | None, malgruppe: str, fom: date, fodselsdato: date, kontor: str
    ) -> dict[str, Any] | None:
        """The grant body for a løp starting on fom, or None if the person cannot have it then."""
        regel = regelsett_for(fom).regel(Tiltakstype(type_), Variant(variant) if variant else None)
        a = alder(fodselsdato, fom)
        if a < max(16, regel.min_alder) or a > min(66, regel.maks_alder or 66) or malgruppe not in regel.malgrupper:
            return None
        pilot = pilotvindu(Tiltakstype(type_), self.konfig)
        if pilot is not None:
            if pilot.fom is not None and fom < pilot.fom:
                return None
            if pilot.fylker is not None and kontor[:2] not in pilot.fylker:
                return None
        stilling = None
        if regel.stilling is not None:
            stilling = self.rng.choices(["FAST", "MIDLERTIDIG"], [7, 3])[0]
        base = regel.base_tom(fom, Malgruppe(malgruppe), Stillingstype(stilling) if stilling else None)
        if regel.apen_slutt:
            tom = None if self.rng.random() < 0.85 else add_years(fom, self.rng.randint(1, 3))
        elif base is None:
            tom = add_months(fom, self.rng.randint(6, 24))
        else:
            dager = (base - fom).days + 1
            tom = fom + timedelta(days=max(13, int(dager * self.rng.uniform(0.35, 1.0))) - 1)
            tom = min(tom, base)
        if pilot is not None and pilot.tom is not None and tom is not None:
            tom = min(tom, pilot.tom)
        body: dict[str, Any] = dict(
            tiltakstype=type_,
            malgruppe=malgruppe,
            fom=fom,
            tom=tom,
            nav_enhet=self._enhet_per(kontor, fom),
            vedtak_ref=f"{'AEV' if malgruppe == NAE else 'BV'}-{self.rng.randint(100000, 999999)}",
        )
        if variant:
            body["variant"] = variant
        if a < 18:
            body["samtykke_foreldre"] = "BEGGE"  # GEN-3
        if stilling:
            body["stillingstype"] = stilling
        if type_ in ("VTA", "VTAO", "VARIG_LONNSTILSKUDD"):
            body["mottar_uforetrygd"] = self.rng.random() < 0.8
        return body

    def _lop(self, pp: Personplan, nr: int, body: dict[str, Any], fodselsdato: date, kontor: str, ident: str,
             kan_overgang: bool) -> tuple[int, date, date | None]:  # fmt: skip
        """Plan the grant of løp `nr` and its follow-ups; returns (løp planned, fom, last occupied day).

        The follow-ups are drawn in a fixed order (reviews, leave, target group, extension, shortening,
        transition, end, correction), each by a method of its own, from the one `rng`: the order of the
        draws is the plan, so it must not change."""
        rng = self.rng
        enhet = body["nav_enhet"]
        type_, variant, malgruppe = body["tiltakstype"], body.get("variant"), body["malgruppe"]
        fom, tom = body["fom"], body["tom"]
        self.miks["/".join(x for x in (type_, variant, malgruppe) if x)] += 1
        self.enheter[enhet] += 1
        if nr == 0:
            self._steg(pp, "innvilg_lop", enhet, dict(person=ident, fodselsdato=fodselsdato, **body), lop=0)
        regel = regelsett_for(fom).regel(Tiltakstype(type_), Variant(variant) if variant else None)
        lop = _Lopplan(pp, nr, enhet, body, regel)
        if rng.random() < 0.005:  # granted in error and annulled (LOP-6: nothing after it)
            self._endre_lop(lop, "annuller", begrunnelse="Innvilget ved en feil")
            return 1, fom, None
        self._vurderinger(lop, fom, tom)
        self._permisjon(lop, fom, tom)
        malgruppe = self._ny_malgruppe(lop, fom, tom, malgruppe)
        tom = self._forlengelse(lop, fom, tom, malgruppe)
        tom = self._avkorting(lop, fom, tom)
        overgang = self._overgang(lop, fom, tom, malgruppe, fodselsdato, kontor, ident) if kan_overgang else None
        if overgang is not None:
            n, slutt = overgang
            return 1 + n, fom, slutt
        slutt = self._avslutning(lop, fom, tom)
        self._korreksjon(lop, fom, kontor)
        return 1, fom, slutt

    def _vurderinger(self, lop: _Lopplan, fom: date, tom: date | None) -> None:
        """Reviews on the §8.2 cadence, each near its due date; about one in ten missed (then overdue)."""
        rng, regel = self.rng, lop.regel
        type_ = lop.body["tiltakstype"]
        maaneder = vurdering_intervall_maaneder(Tiltakstype(type_), self.konfig) if regel.vurderingstype else None
        if not maaneder:
            return
        anker, siste = fom, min(self.i_dag, tom or self.i_dag)
        for _ in range(8):
            forfall = add_months(anker, maaneder)
            if forfall > siste or rng.random() < 0.1:
                break
            dato = max(anker + timedelta(days=1), forfall - timedelta(days=rng.randint(0, 10)))
            self._endre_lop(lop, "registrer_vurdering", dato=dato, type=str(regel.vurderingstype),
                      utfall=rng.choices(["FORTSETTER", "ENDRET_INNHOLD", "VURDER_OVERGANG"], [8, 1, 1])[0])  # fmt: skip
            anker = dato

    def _permisjon(self, lop: _Lopplan, fom: date, tom: date | None) -> None:
        """VTA-3 hospitering leave."""
        rng, i_dag = self.rng, self.i_dag
        if lop.body["tiltakstype"] == "VTA" and rng.random() < 0.05:
            pfom = _dag(rng, fom, min(i_dag, tom or i_dag))
            ptom = min(latest_tom(pfom, months=rng.randint(2, 6)), tom or date.max)
            self._endre_lop(lop, "innvilg_permisjon", fom=pfom, tom=ptom, type="HOSPITERING",
                      vertsbedrift="Ordinær bedrift AS")  # fmt: skip

    def _ny_malgruppe(self, lop: _Lopplan, fom: date, tom: date | None, malgruppe: str) -> str:
        """IPS-1: target group changes AS → NAE (the NAE caps then apply, from the original fom)."""
        rng = self.rng
        if malgruppe == AS and lop.body["tiltakstype"] in ("IPS", "IPS_UNG", "OPPFOLGING", "ARBEIDSTRENING") \
                and rng.random() < 0.04:  # fmt: skip
            if NAE in lop.regel.malgrupper and tom is not None:
                self._endre_lop(lop, "endre_malgruppe", ny_malgruppe=NAE, fom=_dag(rng, fom, min(tom, self.i_dag)),
                          vedtak_ref=f"AEV-{rng.randint(100000, 999999)}")  # fmt: skip
                return NAE
        return malgruppe

    def _forlengelse(self, lop: _Lopplan, fom: date, tom: date | None, malgruppe: str) -> date | None:
        """LOP-5: extensions near or past the end, with a reason that reaches that far (§7.3); the new tom."""
        rng, regel, body = self.rng, lop.regel, lop.body
        if tom is None or tom >= add_months(self.i_dag, 2) or rng.random() >= 0.4:
            return tom
        muligheter = []
        for grunn in regel.forlengelse:
            if malgruppe not in grunn.rekkevidde:
                continue
            stilling = Stillingstype(body["stillingstype"]) if "stillingstype" in body else None
            maks = regel.grunnens_tom(grunn, fom, Malgruppe(malgruppe), stilling)
            pilot = pilotvindu(Tiltakstype(body["tiltakstype"]), self.konfig)
            if pilot is not None and pilot.tom is not None:
                maks = pilot.tom if maks is None else min(maks, pilot.tom)
            if maks is None or maks > tom:
                muligheter.append((grunn, maks))
        if not muligheter:
            return tom
        grunn, maks = rng.choice(muligheter)
        grense = maks or add_months(tom, 12)
        ny_tom = min(grense, tom + timedelta(days=rng.randint(30, 365)))
        felter: dict[str, Any] = dict(ny_tom=ny_tom, aarsak=str(grunn.aarsak))
        if grunn.begrunnelse_kreves:
            felter["begrunnelse"] = "Deltakeren trenger mer tid av særlige grunner"
        self._endre_lop(lop, "forleng", **felter)
        return ny_tom

    def _avkorting(self, lop: _Lopplan, fom: date, tom: date | None) -> date | None:
        """A few løp are shortened; the new tom."""
        rng, i_dag = self.rng, self.i_dag
        if tom is not None and tom > i_dag and rng.random() < 0.03:
            ny_tom = _dag(rng, max(fom, i_dag - timedelta(days=30)), tom - timedelta(days=1))
            if fom <= ny_tom < tom:
                self._endre_lop(lop, "avkort", ny_tom=ny_tom)
                return ny_tom
        return tom

    def _overgang(self, lop: _Lopplan, fom: date, tom: date | None, malgruppe: str, fodselsdato: date,
                  kontor: str, ident: str) -> tuple[int, date | None] | None:  # fmt: skip
        """Transitions (§6.2): end this løp and grant the next from the day after, atomically; (løp planned
        after this one, last occupied day), or None when there is none."""
        rng, i_dag = self.rng, self.i_dag
        mulige = OVERGANGER.get(lop.body["tiltakstype"], ())
        if not mulige or rng.random() >= 0.08:
            return None
        til_type, til_variant = rng.choice(mulige)
        tidligst = fom + timedelta(days=30)
        senest = min(i_dag, tom or i_dag)
        if tidligst > senest:
            return None
        sluttdato = _dag(rng, tidligst, senest)
        ny_fom = sluttdato + timedelta(days=1)
        til = self._grant(til_type, til_variant, malgruppe, ny_fom, fodselsdato, kontor)
        if til is None:
            return None
        til["nav_enhet"] = lop.enhet if ny_fom < FYLKESREFORM else kontor
        self._steg(lop.pp, "overgang", lop.enhet, dict(sluttdato=sluttdato, til=til), lop=lop.nr)
        n, _, slutt = self._lop(lop.pp, lop.nr + 1, til, fodselsdato, kontor, ident, False)
        return n, slutt

    def _avslutning(self, lop: _Lopplan, fom: date, tom: date | None) -> date | None:
        """Ends: most løp past their tom are ended; a few end early. The last occupied day."""
        rng, i_dag = self.rng, self.i_dag
        if tom is not None and tom < i_dag and rng.random() < 0.85:
            aarsak = rng.choices(
                ["FULLFORT", "OVERGANG_ARBEID", "AVBRUTT", "OVERGANG_UTDANNING", "HOVELIG_ARBEID_TILBUDT"],
                [60, 20, 12, 5, 3],
            )[0]
            sluttdato = tom if aarsak == "FULLFORT" else _dag(rng, fom, tom)
            self._endre_lop(lop, "avslutt", sluttdato=sluttdato, aarsak=aarsak)
            return sluttdato
        if rng.random() < 0.05:
            aarsak = "OVERGANG_UFORETRYGD" if tom is None else rng.choice(["AVBRUTT", "OVERGANG_ARBEID"])
            sluttdato = _dag(rng, fom, min(i_dag, tom or i_dag))
            self._endre_lop(lop, "avslutt", sluttdato=sluttdato, aarsak=aarsak)
            return sluttdato
        return tom

    def _korreksjon(self, lop: _Lopplan, fom: date, kontor: str) -> None:
        """LOP-9 corrections (accepted on ended løp too)."""
        rng = self.rng
        r = rng.random()
        if r < 0.02:
            self._endre_lop(lop, "korriger", vedtak_ref=f"{lop.body['vedtak_ref']}-K",
                      begrunnelse="Feil vedtaksreferanse registrert")  # fmt: skip
        elif r < 0.03:
            f = kontor[:2]
            nytt = self._enhet_per(f"{f}{rng.randint(1, FYLKER[f][1]):02d}", fom)
            if nytt != lop.enhet:
                self._endre_lop(lop, "korriger", nav_enhet=nytt, begrunnelse="Registrert på feil NAV-kontor")

    # guarantees ------------------------------------------------------------------------------------------

    def _garanti(self, pp: Personplan, ident: str, fodselsdato: date, kontor: str, fom: date,
                 lop_nr: int | None, lop_periode: tuple[date, date | None] | None) -> None:  # fmt: skip
        rng, i_dag = self.rng, self.i_dag
        enhet = self._enhet_per(kontor, fom)
        self.enheter[enhet] += 1
        self._steg(pp, "innvilg_garanti", enhet, dict(person=ident, fodselsdato=fodselsdato, fom=fom, nav_enhet=enhet,
                   bistandsbehov_vedtak_ref=f"14A-{rng.randint(100000, 999999)}"))  # fmt: skip
        tretti = add_years(fodselsdato, 30)
        siste = min(i_dag, tretti - timedelta(days=1))
        sist = fom

        def endre(kommando: str, **felter: Any) -> None:
            self._steg(pp, "endre_garanti", enhet, felter, kommando=kommando)

        if rng.random() < 0.92:  # UG-D3: most within the 14 days, some late
            d = fom + timedelta(days=rng.choices([rng.randint(0, 14), rng.randint(15, 40)], [85, 15])[0])
            if d <= siste:
                kp = self._veileder(enhet, rng.randint(1, 12))
                endre("tildel_kontaktperson", nav_ident=kp, fom=d)
                sist = d
                if rng.random() < 0.1:
                    d2 = d + timedelta(days=rng.randint(60, 400))
                    ny = self._veileder(enhet, rng.randint(1, 12))
                    if d2 <= siste and ny != kp:
                        endre("tildel_kontaktperson", nav_ident=ny, fom=d2, begrunnelse="Veileder sluttet")
                        sist = max(sist, d2)
        samtaler, d = [], fom + timedelta(days=rng.randint(7, 25))
        while d <= siste:
            samtaler.append(d)
            d += timedelta(days=rng.randint(18, 45))
        kanaler, kvekter = zip(*KANALER, strict=True)
        for dato in samtaler[-15:]:  # the latest fifteen conversations
            endre("registrer_samtale", dato=dato, kanal=rng.choices(kanaler, kvekter)[0])
            sist = max(sist, dato)
        if rng.random() < 0.2:
            endre("registrer_utdanningsvurdering", dato=_dag(rng, fom, siste),
                  utfall=rng.choice(["VIDEREGAENDE_AKTUELT", "FAGSKOLE_AKTUELT", "IKKE_AKTUELT_NAA"]))  # fmt: skip
        if rng.random() < 0.15:
            endre("registrer_samhandling", instans=rng.choice(INSTANSER), dato=_dag(rng, fom, siste))
        if lop_nr is not None and lop_periode is not None:  # UG-6: the measure runs alongside
            lfom, ltom = lop_periode
            endre("koble_aktivitet", kind="TILTAK", fom=lfom, tom=ltom, lop=lop_nr)
        elif rng.random() < 0.2:
            endre("koble_aktivitet", kind=rng.choice(["ARBEID", "UTDANNING", "MEDISINSK_BEHANDLING"]),
                  fom=_dag(rng, fom, siste))  # fmt: skip
        if tretti <= i_dag:  # UG-5: the scheduler's FYLT_30
            self._steg(pp, "endre_garanti", Aktor("SYSTEM", None), {}, kommando="avslutt_ved_30")
        elif rng.random() < 0.12:
            aarsak = rng.choices(["BEHOV_OPPHORT", "BRUKER_AVSLO_TILBUD", "FLYTTET_UTLAND", "ANNET"], [6, 2, 1, 1])[0]
            felter: dict[str, Any] = dict(tom=_dag(rng, sist, siste), aarsak=aarsak)
            if aarsak == "ANNET":
                felter["begrunnelse"] = "Flyttet til annen kommune og fulgt opp der"
            endre("avslutt", **felter)

    # the whole plan --------------------------------------------------------------------------------------

    def planlegg(self, antall_lop: int, antall_garantier: int) -> Plan:
        rng, i_dag = self.rng, self.i_dag
        personer: list[Personplan] = []
        lop = garantier = 0
        ug_start = max(ORDNINGEN_STARTER, self.start)
        koblet_maks = int(antall_garantier * 0.4)  # some guarantees belong to people in a measure
        while lop < antall_lop:
            type_, variant, malgruppe = self._velg_tiltak()
            pilot = pilotvindu(Tiltakstype(type_), self.konfig)
            tidligst = max(self.start, pilot.fom) if pilot is not None and pilot.fom else self.start
            fom = _dag(rng, tidligst, i_dag)
            kontor = self._kontor(pilot.fylker if pilot is not None else None)
            regel = regelsett_for(fom).regel(Tiltakstype(type_), Variant(variant) if variant else None)
            a = self._alder(max(16, regel.min_alder), min(66, regel.maks_alder or 66))
            fodselsdato = _fodselsdato(rng, a, fom)
            body = self._grant(type_, variant, malgruppe, fom, fodselsdato, kontor)
            if body is None:
                continue
            ident = _ident(rng, fodselsdato, self.brukt)
            pp = Personplan()
            n, lfom, lslutt = self._lop(pp, 0, body, fodselsdato, kontor, ident, lop + 1 < antall_lop)
            lop += n
            if garantier < koblet_maks and rng.random() < 0.5:
                gfom = max(ug_start, lfom - timedelta(days=rng.randint(0, 90)))
                if gfom <= i_dag and 16 <= alder(fodselsdato, gfom) <= 29:
                    self._garanti(pp, ident, fodselsdato, kontor, gfom, 0, (lfom, lslutt if n == 1 else None))
                    garantier += 1
            personer.append(pp)
        while garantier < antall_garantier:
            gfom = _dag(rng, ug_start, i_dag)
            a = rng.choices(range(16, 30), [_aldersvekt(x) * (1.6 if 18 <= x <= 24 else 1.0) for x in range(16, 30)])[0]
            fodselsdato = _fodselsdato(rng, a, gfom)
            pp = Personplan()
            self._garanti(pp, _ident(rng, fodselsdato, self.brukt), fodselsdato, self._kontor(), gfom, None, None)
            garantier += 1
            personer.append(pp)
        rng.shuffle(personer)
        return Plan(personer, lop, garantier, self.miks, self.enheter, self.kommandoer)


def planlegg(
    antall_lop: int,
    antall_garantier: int,
    *,
    seed: int,
    i_dag: date,
    konfig: Regelkonfig,
    brukt: set[str] | None = None,
) -> Plan:
    """The deterministic plan for a seed: the same arguments give the same people, measures and offices.

    `brukt` holds identifiers already in use (another plan's), which this plan will not reuse; it is
    filled with this plan's."""
    return Planlegger(seed, i_dag, konfig, brukt).planlegg(antall_lop, antall_garantier)


# --- running it through the service ------------------------------------------------------------------------


@dataclass
class Resultat:
    lop: int = 0
    garantier: int = 0
    kommandoer: int = 0
    avvist: Counter[str] = field(default_factory=Counter)
    avvist_eksempler: list[str] = field(default_factory=list)
    hendelser: int = 0
    sekunder: float = 0.0

    @property
    def per_sekund(self) -> float:
        return self.hendelser / self.sekunder if self.sekunder else 0.0


# A plan step's command (`Steg.kommando`) as the service's use case and its command type.
_ENDRE_LOP: dict[str, tuple[type[commands.Command], Any]] = {
    "forleng": (commands.Forleng, Service.forleng),
    "avkort": (commands.Avkort, Service.avkort),
    "endre_malgruppe": (commands.EndreMalgruppe, Service.endre_malgruppe),
    "registrer_vurdering": (commands.RegistrerVurdering, Service.registrer_vurdering),
    "fastsett_sats": (commands.FastsettSats, Service.fastsett_sats),
    "innvilg_permisjon": (commands.InnvilgPermisjon, Service.innvilg_permisjon),
    "avslutt": (commands.AvsluttLop, Service.avslutt_lop),
    "annuller": (commands.Annuller, Service.annuller),
    "korriger": (commands.KorrigerLop, Service.korriger_lop),
}
_ENDRE_GARANTI: dict[str, tuple[type[commands.Command], Any]] = {
    "tildel_kontaktperson": (commands.TildelKontaktperson, Service.tildel_kontaktperson),
    "registrer_samtale": (commands.RegistrerSamtale, Service.registrer_samtale),
    "registrer_utdanningsvurdering": (
        commands.RegistrerUtdanningsvurdering,
        Service.registrer_utdanningsvurdering,
    ),
    "registrer_samhandling": (commands.RegistrerSamhandling, Service.registrer_samhandling),
    "koble_aktivitet": (commands.KobleAktivitet, Service.koble_aktivitet),
    "avslutt": (commands.AvsluttGaranti, Service.avslutt_garanti),
    "korriger": (commands.KorrigerGaranti, Service.korriger_garanti),
}


def grant_command(felter: dict[str, Any], cls: type[commands.InnvilgLop | commands.InnvilgGaranti]) -> Any:
    """A planned grant (the person as `person` and `fodselsdato`) as its command."""
    verdier = dict(felter)
    person = {"ident": verdier.pop("person"), "fodselsdato": verdier.pop("fodselsdato")}
    return msgspec.convert({**verdier, "person": person}, cls)


class Kjoring:
    """One person's run: the ids its earlier commands created, for the commands that follow."""

    def __init__(self, pp: Personplan) -> None:
        self.pp = pp
        self.lop_ids: list[uuid.UUID] = []
        self.garanti_id: uuid.UUID | None = None

    async def steg(self, tjeneste: Service, steg: Steg, res: Resultat) -> None:
        ctx = CommandContext(Kontekst(aktor=steg.aktor, correlation_id=steg.correlation_id))
        felter = dict(steg.felter)
        lop_ids = self.lop_ids
        try:
            if steg.kind == "innvilg_lop":
                lop_ids.append((await tjeneste.innvilg_lop(grant_command(felter, commands.InnvilgLop), ctx)).id)
                res.lop += 1
            elif steg.kind == "overgang":
                if steg.lop is None or steg.lop >= len(lop_ids):
                    return
                overgang = msgspec.convert(felter, commands.Overgang)
                lop_ids.append((await tjeneste.overgang(lop_ids[steg.lop], overgang, ctx)).id)
                res.lop += 1
            elif steg.kind == "endre_lop":
                if steg.lop is None or steg.lop >= len(lop_ids):
                    return  # the løp was refused: its follow-ups are moot
                cls, bruk = _ENDRE_LOP[steg.kommando or ""]
                await bruk(tjeneste, lop_ids[steg.lop], msgspec.convert(felter, cls), ctx)
            elif steg.kind == "innvilg_garanti":
                garanti = grant_command(felter, commands.InnvilgGaranti)
                self.garanti_id = (await tjeneste.innvilg_garanti(garanti, ctx)).id
                res.garantier += 1
            elif steg.kind == "endre_garanti":
                if self.garanti_id is None:
                    return
                nr = felter.pop("lop", None)
                if nr is not None:
                    if nr >= len(lop_ids):
                        return
                    felter["tiltakslop_id"] = lop_ids[nr]
                if steg.kommando == "avslutt_ved_30":
                    await tjeneste.avslutt_ved_30(self.garanti_id, ctx)
                else:
                    cls, bruk = _ENDRE_GARANTI[steg.kommando or ""]
                    await bruk(tjeneste, self.garanti_id, msgspec.convert(felter, cls), ctx)
            res.kommandoer += 1
        except DomainError as e:
            res.avvist[e.code] += 1
            if len(res.avvist_eksempler) < 20:
                res.avvist_eksempler.append(f"{steg.kind}/{steg.kommando}: {e.code} {e} {e.limits}")


async def kjor(
    tjeneste: Any,
    plan: Plan,
    *,
    samtidige: int = 16,
    flettet: bool = True,
    fremdrift: Callable[[Resultat, int, int], None] | None = None,
) -> Resultat:
    """Run the plan with `samtidige` concurrent writers; one person's commands never run at once.

    `flettet` (interleaved, the default): in rounds, the n-th command of every person in round n, so each
    aggregate's events are spread over the log among everyone else's, as months of real casework leave
    them (a rebuild then meets each løp in many batches). Otherwise person by person: each person's whole
    history in one burst (faster to write, kinder to a rebuild than a real log)."""
    recorder = tjeneste.store.recorder
    tabell = f'"{recorder.schema}"."{recorder.events_table}"'
    for_antall = await recorder.pool.fetchval(f"SELECT count(*) FROM {tabell}")
    res = Resultat()
    personer = [Kjoring(pp) for pp in plan.personer]
    totalt = sum(len(pp.steg) for pp in plan.personer)
    ferdige = [0]
    start = time.perf_counter()

    async def skrivere(arbeid: Any) -> None:
        async def skriver() -> None:
            for person, steg in arbeid:
                for s in [steg] if steg is not None else person.pp.steg:
                    await person.steg(tjeneste, s, res)
                    ferdige[0] += 1

        await asyncio.gather(*(skriver() for _ in range(samtidige)))

    async def vis() -> None:
        while True:
            await asyncio.sleep(2.0)
            if fremdrift is not None:
                res.sekunder = time.perf_counter() - start
                fremdrift(res, ferdige[0], totalt)

    visning = asyncio.create_task(vis())
    try:
        if flettet:
            for n in range(max((len(pp.steg) for pp in plan.personer), default=0)):
                await skrivere(iter([(p, p.pp.steg[n]) for p in personer if n < len(p.pp.steg)]))
        else:
            await skrivere(iter([(p, None) for p in personer]))
    finally:
        visning.cancel()
    res.sekunder = time.perf_counter() - start
    if fremdrift is not None:  # the last line: all through
        fremdrift(res, ferdige[0], totalt)
    res.hendelser = await recorder.pool.fetchval(f"SELECT count(*) FROM {tabell}") - for_antall
    return res


def progress_line(stream: Any = sys.stderr) -> Callable[[Resultat, int, int], None]:
    from workers.progress import eta

    def vis(res: Resultat, ferdige: int, totalt: int) -> None:
        rate = res.kommandoer / res.sekunder if res.sekunder else 0.0
        stream.write(
            f"seed: {ferdige}/{totalt} commands, {res.lop} løp, {res.garantier} guarantees, "
            f"{res.kommandoer} accepted ({rate:.0f}/s), {sum(res.avvist.values())} refused, "
            f"ETA {eta(ferdige, totalt, res.sekunder)}\n"
        )
        stream.flush()

    return vis


def sammendrag(plan: Plan, res: Resultat) -> str:
    linjer = [
        f"seeded {res.lop} løp (planned {plan.antall_lop}), {res.garantier} guarantees "
        f"(planned {plan.antall_garantier}), {res.kommandoer} commands, {res.hendelser} events "
        f"in {res.sekunder:.1f} s ({res.per_sekund:.0f} events/s)",
        f"refused: {sum(res.avvist.values())}" + (f" {dict(res.avvist)}" if res.avvist else ""),
        *(f"  {x}" for x in res.avvist_eksempler[:5]),
        "measure mix: " + ", ".join(f"{k} {v}" for k, v in plan.miks.most_common(12)) + ", ...",
        "counties: "
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(e[:2] for e in plan.enheter.elements()).items())),
    ]
    return "\n".join(linjer)


async def seed_database(
    dsn: str,
    konfig: Regelkonfig,
    person_nokkel: bytes,
    *,
    lop: int,
    garantier: int,
    seed: int,
    i_dag: date,
    samtidige: int = 16,
    events_table: str = "forlop_events",
    snapshot_every: int | None = 50,
    fremdrift: Callable[[Resultat, int, int], None] | None = None,
    plan: Plan | None = None,
    flettet: bool = True,
    kryptert: bool = False,
) -> tuple[Plan, Resultat]:
    """Plan (unless a plan is given) and write a data set into the database at `dsn` (migrated first)."""
    from store.mapper import mapper_for
    from store.migrations import migrate
    from store.recorder import AsyncPostgresRecorder, create_pool
    from store.repository import EventStore
    from store.service import Service

    if plan is None:  # in parts as `forlop seed --bulk` draws it (workers/seed_bulk.py)
        from workers.seed_bulk import samlet_plan

        plan = samlet_plan(lop, garantier, seed=seed, i_dag=i_dag, konfig=konfig)
    pool = await create_pool(dsn, min_size=2, max_size=samtidige + 4)
    recorder = AsyncPostgresRecorder(pool, events_table=events_table)
    try:
        await migrate(dsn)  # a seed may be the first thing a fresh database sees
        mapper = mapper_for(person_nokkel, kryptert=kryptert)
        tjeneste = Service(EventStore(recorder, mapper, snapshot_every=snapshot_every), konfig, person_nokkel)
        res = await kjor(tjeneste, plan, samtidige=samtidige, flettet=flettet, fremdrift=fremdrift)
    finally:
        await recorder.close()
        await pool.close()
    return plan, res
