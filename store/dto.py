"""What the service answers with: the state of a løp or guarantee for a business date, and its history.

These are plain msgspec Structs under the contract's wire names (contract.md §2 "Reads"; rules.md §8.1 and
§5.3 fields), so the API never sees an aggregate. They are computed by the same domain code that judges
commands (`Tiltakslop.tilstand`, `Ungdomsgaranti.tilstand`).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import msgspec

from domain.common import Kontekst
from domain.config import Regelkonfig
from domain.ident import Fodselsnummer
from domain.tiltakslop import Tiltakslop, hendelse_id
from domain.ungdomsgaranti import Ungdomsgaranti
from store.encryption import er_glemt
from store.envelope import Aktor, event_data  # one `Aktor` schema: history and the NATS envelope


class Visning(msgspec.Struct, kw_only=True):
    pass


class PersonVisning(Visning, kw_only=True):
    ident: str
    fodselsdato: date


class Forlengelsesgrunn(Visning, kw_only=True):
    aarsak: str
    max_tom: date | None


class Forlengelsesmulighet(Visning, kw_only=True):
    mulig: bool
    grunner: list[Forlengelsesgrunn]


class OvergangTilVisning(Visning, kw_only=True):
    tiltakstype: str
    tiltakslop_id: UUID


class ForlengelseVisning(Visning, kw_only=True):
    ny_tom: date
    aarsak: str


class SatsVisning(Visning, kw_only=True):
    fom: date
    prosent: int


class PermisjonVisning(Visning, kw_only=True):
    fom: date
    tom: date
    type: str
    vertsbedrift: str | None = None


class LopVisning(Visning, kw_only=True):
    """A løp for business date `per`: its facts, its limits (rules.md §8.1) and its open alerts."""

    id: UUID
    lop_id: UUID
    versjon: int
    posisjon: int | None = None
    per: date
    status: str
    person: PersonVisning
    tiltakstype: str
    variant: str | None
    malgruppe: str
    fom: date
    tom: date | None
    sluttdato: date | None
    avslutningsaarsak: str | None
    nav_enhet: str
    vedtak_ref: str
    samtykke_foreldre: str | None
    stillingstype: str | None
    tilskuddsprosent: int | None
    mottar_uforetrygd: bool
    forgjenger_lop_id: UUID | None
    overgang_fra_tiltakstype: str | None
    overgang_til: OvergangTilVisning | None
    regelsett_id: str
    forlengelser: list[ForlengelseVisning]
    tilskuddssatser: list[SatsVisning]
    permisjoner: list[PermisjonVisning]
    siste_vurdering: date | None
    base_cap_tom: date | None
    total_cap_tom: date | None
    days_to_tom: int | None
    days_to_total_cap: int | None
    extension_possible: Forlengelsesmulighet
    next_review_due: date | None
    review_status: str | None
    current_rate: int | None
    next_rate_change_date: date | None
    warnings: list[str]
    open_alerts: list[str]


class KontaktpersonVisning(Visning, kw_only=True):
    nav_ident: str
    fom: date


class AktivitetVisning(Visning, kw_only=True):
    kind: str
    tiltakslop_id: UUID | None
    fom: date
    tom: date | None


class GarantiVisning(Visning, kw_only=True):
    """A guarantee for business date `per` (rules.md §5.3 UngdomsgarantiOversikt fields)."""

    id: UUID
    versjon: int
    posisjon: int | None = None
    per: date
    status: str
    aarsak: str | None
    person: PersonVisning
    fom: date
    tom: date | None
    aldersgrense_dato: date
    nav_enhet: str
    bistandsbehov_vedtak_ref: str
    kontaktperson: str | None
    kontaktpersoner: list[KontaktpersonVisning]
    siste_samtale: date | None
    next_samtale_due: date
    aktiviteter: list[AktivitetVisning]
    regelsett_id: str
    open_alerts: list[str]
    frister: dict[str, date]


class Hendelse(Visning, kw_only=True):
    """One stored event as history shows it; `lenke` is its hash-chain link (hex)."""

    id: UUID
    type: str
    skjema_versjon: int
    versjon: int
    posisjon: int
    registrert: datetime
    aktor: Aktor
    begrunnelse: str | None
    correlation_id: UUID
    regelsett_id: str | None
    lenke: str
    data: dict[str, Any]


class Historikk(Visning, kw_only=True):
    aggregat: str
    aggregat_id: UUID
    elementer: list[Hendelse]


def _person(person: Fodselsnummer, fodselsdato: date) -> PersonVisning:
    return PersonVisning(ident=person.verdi, fodselsdato=fodselsdato)


def _verdi(v: StrEnum | str | None) -> str | None:
    return None if v is None else str(v)


def lop_visning(lop: Tiltakslop, per: date, konfig: Regelkonfig, posisjon: int | None = None) -> LopVisning:
    t = lop.tilstand(per, konfig)
    return LopVisning(
        id=lop.id,
        lop_id=lop.id,
        versjon=lop.version,
        posisjon=posisjon,
        per=per,
        status=t.status.value,
        person=_person(lop.person, lop.fodselsdato),
        tiltakstype=lop.tiltakstype.value,
        variant=_verdi(lop.variant),
        malgruppe=lop.malgruppe.value,
        fom=lop.fom,
        tom=lop.tom,
        sluttdato=lop.sluttdato,
        avslutningsaarsak=_verdi(lop.avslutningsaarsak),
        nav_enhet=lop.nav_enhet,
        vedtak_ref=lop.vedtak_ref,
        samtykke_foreldre=_verdi(lop.samtykke_foreldre),
        stillingstype=_verdi(lop.stillingstype),
        tilskuddsprosent=lop.tilskuddsprosent,
        mottar_uforetrygd=lop.mottar_uforetrygd,
        forgjenger_lop_id=lop.forgjenger_lop_id,
        overgang_fra_tiltakstype=_verdi(lop.overgang_fra_tiltakstype),
        overgang_til=(
            OvergangTilVisning(
                tiltakstype=lop.overgang_til.tiltakstype.value, tiltakslop_id=lop.overgang_til.tiltakslop_id
            )
            if lop.overgang_til
            else None
        ),
        regelsett_id=lop.regelsett_id,
        forlengelser=[ForlengelseVisning(ny_tom=f.ny_tom, aarsak=f.aarsak.value) for f in lop.forlengelser],
        tilskuddssatser=[SatsVisning(fom=s.fom, prosent=s.prosent) for s in lop.satser],
        permisjoner=[
            PermisjonVisning(fom=p.fom, tom=p.tom, type=p.type.value, vertsbedrift=p.vertsbedrift)
            for p in lop.permisjoner
        ],
        siste_vurdering=lop.siste_vurdering,
        base_cap_tom=t.base_cap_tom,
        total_cap_tom=t.total_cap_tom,
        days_to_tom=t.days_to_tom,
        days_to_total_cap=t.days_to_total_cap,
        extension_possible=_forlengelse(t.extension_possible),
        next_review_due=t.next_review_due,
        review_status=_verdi(t.review_status),
        current_rate=t.current_rate,
        next_rate_change_date=t.next_rate_change_date,
        warnings=list(t.warnings),
        open_alerts=[a.value for a in t.open_alerts],
    )


def forlengelse_visning(lop: Tiltakslop, konfig: Regelkonfig) -> Forlengelsesmulighet:
    """The what-if (GET …/forlengelse), from the code that judges `forleng`."""
    return _forlengelse(lop.forlengelse_muligheter(konfig))


def _forlengelse(m: Any) -> Forlengelsesmulighet:
    return Forlengelsesmulighet(
        mulig=m.mulig,
        grunner=[Forlengelsesgrunn(aarsak=g.aarsak.value, max_tom=g.max_tom) for g in m.grunner],
    )


def garanti_visning(
    garanti: Ungdomsgaranti, per: date, konfig: Regelkonfig, posisjon: int | None = None
) -> GarantiVisning:
    t = garanti.tilstand(per, konfig)
    return GarantiVisning(
        id=garanti.id,
        versjon=garanti.version,
        posisjon=posisjon,
        per=per,
        status=t.status.value,
        aarsak=_verdi(t.aarsak),
        person=_person(garanti.person, garanti.fodselsdato),
        fom=t.fom,
        tom=t.tom,
        aldersgrense_dato=t.aldersgrense_dato,
        nav_enhet=t.nav_enhet,
        bistandsbehov_vedtak_ref=t.bistandsbehov_vedtak_ref,
        kontaktperson=t.kontaktperson,
        kontaktpersoner=[KontaktpersonVisning(nav_ident=k.nav_ident, fom=k.fom) for k in garanti.kontaktpersoner],
        siste_samtale=t.siste_samtale,
        next_samtale_due=t.next_samtale_due,
        aktiviteter=[
            AktivitetVisning(kind=a.kind.value, tiltakslop_id=a.tiltakslop_id, fom=a.fom, tom=a.tom)
            for a in garanti.aktiviteter
        ],
        regelsett_id=garanti.regelsett_id,
        open_alerts=[a.value for a in t.open_alerts],
        frister={k.value: v for k, v in t.frister.items()},
    )


# The person's identifier is shown with the aggregate's state, never inside event data (which is what
# other systems and exports copy).
_PERSONLIG = frozenset({"person"})


def hendelse_visning(event: Any, posisjon: int, lenke: bytes) -> Hendelse:
    kontekst: Kontekst = event.kontekst
    data = event_data(event, _PERSONLIG)
    if er_glemt(event):  # the person was forgotten: its fields read as null, and the history says why
        data["glemt"] = True
    begrunnelse = data.get("begrunnelse") if isinstance(data.get("begrunnelse"), str) else kontekst.begrunnelse
    return Hendelse(
        id=hendelse_id(event.originator_id, event.originator_version),
        type=type(event).__name__,
        skjema_versjon=getattr(type(event), "class_version", 1),  # an older stored version is shown upcast
        versjon=event.originator_version,
        posisjon=posisjon,
        registrert=event.timestamp,
        aktor=Aktor(nav_ident=kontekst.aktor.nav_ident, enhet=kontekst.aktor.enhet),
        begrunnelse=begrunnelse,
        correlation_id=kontekst.correlation_id,
        regelsett_id=getattr(event, "regelsett_id", None),
        lenke=lenke.hex(),
        data=data,
    )
