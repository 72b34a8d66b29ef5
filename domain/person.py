"""The per-person consistency boundary for rules that span streams (docs/design.md).

`Person` keeps, for one person, the period each løp occupies and which guarantees are open. Every command
that creates a løp or moves its occupied period is judged here and appends a `Person` event in the same
store transaction as the løp's own event, so two racing commands for one person cannot both commit:
both expect the same person version and the store lets only one write it (VERSION_CONFLICT for the other).

The aggregate holds no personal data: its id is derived from a keyed hash of the identifier by the service.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Kontekst
from domain.dates import overlapper
from domain.errors import DomainError
from domain.ident import Fodselsnummer

NAMESPACE = UUID("5b0f5a4e-6f1e-4c35-9d0b-2a7f3c1e9d10")


_KJENTE_IDER: dict[tuple[bytes, str], UUID] = {}
_MAKS_KJENTE = 8192


def person_id(nokkel: bytes, person: Fodselsnummer) -> UUID:
    """The person record's id: a keyed hash of the identifier, so neither the id nor the views that carry
    it reveal the person to anyone without the key. Cached for the most recent persons (a projection
    batch, an encode and the views ask for the same person's id several times)."""
    noekkel = (nokkel, person.verdi)
    try:
        return _KJENTE_IDER[noekkel]
    except KeyError:
        digest = hmac.new(nokkel, person.verdi.encode(), hashlib.sha256).hexdigest()
        return kjent_person_id(nokkel, person, uuid.uuid5(NAMESPACE, digest))


def kjent_person_id(nokkel: bytes, person: Fodselsnummer, pid: UUID) -> UUID:
    """Remember `pid` as `person_id(nokkel, person)`: for a reader that has it from where it was stored
    beside the identifier (an encrypted field names its person record: store/encryption.py)."""
    if len(_KJENTE_IDER) >= _MAKS_KJENTE:
        _KJENTE_IDER.clear()
    _KJENTE_IDER[(nokkel, person.verdi)] = pid
    return pid

_OPPLAERING = frozenset({"OPPLAERING", "OPPLAERING_LENGRE_VARIGHET_FORSOK"})
_LONNSTILSKUDD = frozenset({"MIDLERTIDIG_LONNSTILSKUDD", "VARIG_LONNSTILSKUDD"})

# rules.md §6.3, one row per line of the table; read both ways (`tillatt_kombinasjon`).
_TILLATTE_PAR: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (_OPPLAERING, frozenset({"MENTOR", "OPPFOLGING"})),  # OPP-7
    (frozenset({"OPPFOLGING"}), frozenset({"ARBEIDSTRENING"}) | _LONNSTILSKUDD),  # OPF-2
    (_LONNSTILSKUDD | {"ARBEIDSTRENING"}, frozenset({"MENTOR", "INKLUDERINGSTILSKUDD"})),  # LTS-8, MEN-2
    (
        frozenset({"AFT", "VTAO", "OPPFOLGING", "VARIG_LONNSTILSKUDD", "ARBEIDSTRENING"}),
        frozenset({"INKLUDERINGSTILSKUDD"}),
    ),
)
# IPS-4 (IPS and IPS ung run alongside anything) and KVP (state measures nested in it, OPP-8).
_KOMBINERES_MED_ALT = frozenset({"IPS", "IPS_UNG", "KVP"})
# AFT-5: AFT must not overlap ordinary education.
_EKSKLUSIVE_PAR = ((frozenset({"AFT"}), _OPPLAERING),)


def _i_par(a: str, b: str, par: tuple[tuple[frozenset[str], frozenset[str]], ...]) -> bool:
    return any((a in x and b in y) or (b in x and a in y) for x, y in par)


def overlapp_feilkode(a: str, b: str) -> str | None:
    """The code refusing an overlap of measure `a` with measure `b`, or None when they may overlap."""
    if _i_par(a, b, _EKSKLUSIVE_PAR):
        return "OVERLAPPING_EXCLUSIVE_MEASURE"
    if a in _KOMBINERES_MED_ALT or b in _KOMBINERES_MED_ALT or _i_par(a, b, _TILLATTE_PAR):
        return None
    return "OVERLAPPING_MEASURE"


@dataclass(frozen=True, slots=True)
class LopPeriode:
    """What one løp occupies: [fom, tom], `tom` None for open-ended (a løp's sluttdato once ended)."""

    tiltakstype: str
    fom: date
    tom: date | None
    annullert: bool = False


class Person(Aggregate):
    lop: dict[UUID, LopPeriode]
    garantier: tuple[UUID, ...]
    aktive_garantier: tuple[UUID, ...]

    @event("PersonOpprettet")
    def __init__(self, id: UUID, kontekst: Kontekst, regelsett_id: str) -> None:
        self.lop = {}
        self.garantier = ()
        self.aktive_garantier = ()

    # --- checks -------------------------------------------------------------------------------------

    def check_ingen_overlapp(
        self, lop_id: UUID | None, tiltakstype: str, fom: date, tom: date | None
    ) -> None:
        """LOP-8: the period must not overlap another live løp unless §6.3 allows the pair."""
        for annen_id, annen in sorted(self.lop.items(), key=lambda kv: kv[1].fom):
            if annen_id == lop_id or annen.annullert:
                continue
            if not overlapper(fom, tom, annen.fom, annen.tom):
                continue
            code = overlapp_feilkode(tiltakstype, annen.tiltakstype)
            if code is not None:
                raise DomainError(
                    code,
                    f"{tiltakstype} may not overlap {annen.tiltakstype}",
                    overlapper_lop_id=str(annen_id),
                    overlapper_tiltakstype=annen.tiltakstype,
                    overlapper_fom=annen.fom,
                    overlapper_tom=annen.tom,
                )

    def check_ingen_aktiv_garanti(self) -> None:
        """UG-D1: one active guarantee per person at a time."""
        if self.aktive_garantier:
            raise DomainError(
                "ALREADY_ACTIVE",
                "the person already has an active youth guarantee",
                aktiv_garanti_id=str(self.aktive_garantier[0]),
            )

    # --- commands -----------------------------------------------------------------------------------

    def registrer_lop(
        self,
        lop_id: UUID,
        tiltakstype: str,
        fom: date,
        tom: date | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.check_ingen_overlapp(lop_id, tiltakstype, fom, tom)
        self._lop_registrert(lop_id, tiltakstype, fom, tom, kontekst, regelsett_id)

    def endre_periode(
        self, lop_id: UUID, fom: date, tom: date | None, kontekst: Kontekst, regelsett_id: str
    ) -> None:
        """A grant's occupied period moved (extension, shortening, end, correction of dates)."""
        naa = self.lop[lop_id]
        if (naa.fom, naa.tom) == (fom, tom):
            return
        self.check_ingen_overlapp(lop_id, naa.tiltakstype, fom, tom)
        self._lop_periode_endret(lop_id, fom, tom, kontekst, regelsett_id)

    def annuller_lop(self, lop_id: UUID, kontekst: Kontekst, regelsett_id: str) -> None:
        self._lop_annullert(lop_id, kontekst, regelsett_id)

    def registrer_garanti(self, garanti_id: UUID, kontekst: Kontekst, regelsett_id: str) -> None:
        self.check_ingen_aktiv_garanti()
        self._garanti_registrert(garanti_id, kontekst, regelsett_id)

    def avslutt_garanti(self, garanti_id: UUID, kontekst: Kontekst, regelsett_id: str) -> None:
        if garanti_id in self.aktive_garantier:
            self._garanti_avsluttet(garanti_id, kontekst, regelsett_id)

    def glem(self, person_pseudonym: str, kontekst: Kontekst, regelsett_id: str) -> None:
        """Erasure (GDPR): the person's cases are unreadable from now on (their key is destroyed by the
        store), so the record lets go of them; a returning person starts afresh. The event carries only the
        pseudonym that subscribers know the person by (the tombstone published on NATS)."""
        self._glemt(person_pseudonym, kontekst, regelsett_id)

    # --- events -------------------------------------------------------------------------------------

    @event("LopRegistrert")
    def _lop_registrert(
        self,
        lop_id: UUID,
        tiltakstype: str,
        fom: date,
        tom: date | None,
        kontekst: Kontekst,
        regelsett_id: str,
    ) -> None:
        self.lop = {**self.lop, lop_id: LopPeriode(tiltakstype, fom, tom)}

    @event("LopPeriodeEndret")
    def _lop_periode_endret(
        self, lop_id: UUID, fom: date, tom: date | None, kontekst: Kontekst, regelsett_id: str
    ) -> None:
        naa = self.lop[lop_id]
        self.lop = {**self.lop, lop_id: LopPeriode(naa.tiltakstype, fom, tom, naa.annullert)}

    @event("LopAnnullertRegistrert")
    def _lop_annullert(self, lop_id: UUID, kontekst: Kontekst, regelsett_id: str) -> None:
        naa = self.lop[lop_id]
        self.lop = {**self.lop, lop_id: LopPeriode(naa.tiltakstype, naa.fom, naa.tom, annullert=True)}

    @event("GarantiRegistrert")
    def _garanti_registrert(self, garanti_id: UUID, kontekst: Kontekst, regelsett_id: str) -> None:
        self.garantier = (*self.garantier, garanti_id)
        self.aktive_garantier = (*self.aktive_garantier, garanti_id)

    @event("PersonGlemt")
    def _glemt(self, person_pseudonym: str, kontekst: Kontekst, regelsett_id: str) -> None:
        self.lop = {}
        self.garantier = ()
        self.aktive_garantier = ()

    @event("GarantiAvsluttetRegistrert")
    def _garanti_avsluttet(self, garanti_id: UUID, kontekst: Kontekst, regelsett_id: str) -> None:
        self.aktive_garantier = tuple(g for g in self.aktive_garantier if g != garanti_id)
