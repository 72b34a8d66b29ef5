"""Request bodies of contract.md §2, as msgspec Structs.

Every field is optional at this layer: whether a missing value is 400 INVALID_REQUEST or 422 with a
catalogue code is the domain's call (contract.md §2 "Errors"), so the Structs only reject what is
malformed: unknown fields, wrong types, dates that do not exist.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

import msgspec


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    pass


class PersonCreate(Body, forbid_unknown_fields=True, kw_only=True):
    ident: str | None = None
    fodselsdato: date | None = None


class TilCreate(Body, forbid_unknown_fields=True, kw_only=True):
    """A grant without the person: the new løp of an overgang."""

    tiltakstype: str | None = None
    variant: str | None = None
    malgruppe: str | None = None
    fom: date | None = None
    tom: date | None = None
    nav_enhet: str | None = None
    vedtak_ref: str | None = None
    samtykke_foreldre: str | None = None
    stillingstype: str | None = None
    tilskuddsprosent: int | None = None
    mottar_uforetrygd: bool | None = None


class TiltakslopCreate(TilCreate, forbid_unknown_fields=True, kw_only=True):
    person: PersonCreate | None = None


class ForlengelseCreate(Body, forbid_unknown_fields=True, kw_only=True):
    ny_tom: date | None = None
    aarsak: str | None = None
    begrunnelse: str | None = None


class AvkortingCreate(Body, forbid_unknown_fields=True, kw_only=True):
    ny_tom: date | None = None


class MalgruppeCreate(Body, forbid_unknown_fields=True, kw_only=True):
    ny_malgruppe: str | None = None
    fom: date | None = None
    vedtak_ref: str | None = None


class VurderingCreate(Body, forbid_unknown_fields=True, kw_only=True):
    dato: date | None = None
    type: str | None = None
    utfall: str | None = None


class TilskuddssatsCreate(Body, forbid_unknown_fields=True, kw_only=True):
    prosent: int | None = None
    fom: date | None = None


class PermisjonCreate(Body, forbid_unknown_fields=True, kw_only=True):
    fom: date | None = None
    tom: date | None = None
    type: str | None = None
    vertsbedrift: str | None = None


class AvslutningCreate(Body, forbid_unknown_fields=True, kw_only=True):
    sluttdato: date | None = None
    aarsak: str | None = None
    begrunnelse: str | None = None


class OvergangCreate(Body, forbid_unknown_fields=True, kw_only=True):
    sluttdato: date | None = None
    til: TilCreate | None = None


class AnnulleringCreate(Body, forbid_unknown_fields=True, kw_only=True):
    begrunnelse: str | None = None


class KorrigeringCreate(Body, forbid_unknown_fields=True, kw_only=True):
    hendelse_id: UUID | None = None
    fom: date | None = None
    tom: date | None = None
    sluttdato: date | None = None
    aarsak: str | None = None
    malgruppe: str | None = None
    variant: str | None = None
    nav_enhet: str | None = None
    vedtak_ref: str | None = None
    begrunnelse: str | None = None


class UngdomsgarantiCreate(Body, forbid_unknown_fields=True, kw_only=True):
    person: PersonCreate | None = None
    fom: date | None = None
    nav_enhet: str | None = None
    bistandsbehov_vedtak_ref: str | None = None


class KontaktpersonCreate(Body, forbid_unknown_fields=True, kw_only=True):
    nav_ident: str | None = None
    fom: date | None = None
    begrunnelse: str | None = None


class SamtaleCreate(Body, forbid_unknown_fields=True, kw_only=True):
    dato: date | None = None
    kanal: str | None = None


class AktivitetCreate(Body, forbid_unknown_fields=True, kw_only=True):
    kind: str | None = None
    tiltakslop_id: UUID | None = None
    fom: date | None = None
    tom: date | None = None


class GarantiAvslutningCreate(Body, forbid_unknown_fields=True, kw_only=True):
    tom: date | None = None
    aarsak: str | None = None
    begrunnelse: str | None = None


class GarantiKorrigeringCreate(Body, forbid_unknown_fields=True, kw_only=True):
    hendelse_id: UUID | None = None
    fom: date | None = None
    tom: date | None = None
    aarsak: str | None = None
    nav_enhet: str | None = None
    bistandsbehov_vedtak_ref: str | None = None
    begrunnelse: str | None = None


class OversiktCreate(Body, forbid_unknown_fields=True, kw_only=True):
    person: PersonCreate | None = None


def felter(body: Body, *, utelat: tuple[str, ...] = ()) -> dict[str, object]:
    """The body's fields as keyword arguments for the service (absent ones as None)."""
    return {f: getattr(body, f) for f in body.__struct_fields__ if f not in utelat}
