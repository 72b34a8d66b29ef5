"""The commands of the two aggregates: one msgspec Struct per use case, as the HTTP bodies of contract.md §2
carry them, from the request to the aggregate method of the same name.

A command names what the caller asks for; the aggregate judges it. Every field is optional here, because
whether a missing value is 400 INVALID_REQUEST or 422 with a catalogue code is the rules' call (contract.md
§2 "Errors"): decoding refuses only what is malformed (unknown fields, wrong types, dates that do not exist),
and codes travel as text so that an unknown one is judged by the rule that owns it (an unknown forlengelse
`aarsak` is 422 EXTENSION_REASON_NOT_ALLOWED, an unknown `tiltakstype` 400). Commands are never events: an
event records what the aggregate decided, under its own (past-tense) name.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import msgspec

from domain import katalog, koder
from domain.common import Malgruppe, SamtykkeForeldre

#: The longest text a body may carry (contract.md §2 "Limits"): references and codes, and a `begrunnelse`; a
#: longer one is 400 INVALID_REQUEST naming the field, and `maxLength` in the OpenAPI document. With the body
#: limit they keep every event far below what NATS takes.
KODE_MAKS = 100
NAVN_MAKS = 200
BEGRUNNELSE_MAKS = 4000


def _koder(*sett: type[StrEnum]) -> msgspec.Meta:
    """A code's allowed values, for the OpenAPI document only (`enum`, with null: absent and null are the
    same): decoding still takes any text (of at most `KODE_MAKS` characters), so that the rule owning the
    field judges an unknown code (400, or 422 with the catalogue's code)."""
    verdier: list[str | None] = [*sorted({str(v) for e in sett for v in e}), None]
    return msgspec.Meta(max_length=KODE_MAKS, extra_json_schema={"extra": {"enum": verdier}})


Referanse = Annotated[str, msgspec.Meta(max_length=KODE_MAKS)]  # identifiers, offices, references
Navn = Annotated[str, msgspec.Meta(max_length=NAVN_MAKS)]  # a name (vertsbedrift)
Begrunnelse = Annotated[str, msgspec.Meta(max_length=BEGRUNNELSE_MAKS)]


# The code sets of the rule catalogue (domain.katalog, domain.koder, domain.common), as the bodies carry them.
Tiltakstypekode = Annotated[str, _koder(katalog.Tiltakstype)]
Variantkode = Annotated[str, _koder(katalog.Variant)]
Malgruppekode = Annotated[str, _koder(Malgruppe)]
Samtykkekode = Annotated[str, _koder(SamtykkeForeldre)]
Stillingstypekode = Annotated[str, _koder(katalog.Stillingstype)]
Forlengelsesaarsakkode = Annotated[str, _koder(katalog.Forlengelsesaarsak)]
Sluttaarsakkode = Annotated[str, _koder(katalog.Avslutningsaarsak)]
Vurderingstypekode = Annotated[str, _koder(katalog.Vurderingstype)]
Permisjonstypekode = Annotated[str, _koder(katalog.Permisjonstype)]
Kanalkode = Annotated[str, _koder(koder.Kanal)]
Aktivitetskode = Annotated[str, _koder(koder.AktivitetKind)]
Instanskode = Annotated[str, _koder(koder.Instans)]
Garantisluttkode = Annotated[str, _koder(koder.Avslutningsaarsak)]


class Command(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """A command's fields as the caller sent them; an absent field and a null are the same (None)."""


class Personalia(Command):
    """The person a grant is for: identifier (fødselsnummer, D-nummer or synthetic) and birth date."""

    ident: Referanse | None = None
    fodselsdato: date | None = None


# --- Tiltaksløp (rules.md §7) ------------------------------------------------------------------------------


class NyttLop(Command):
    """The terms of a grant without the person: the new løp of an overgang (`til`)."""

    tiltakstype: Tiltakstypekode | None = None
    variant: Variantkode | None = None
    malgruppe: Malgruppekode | None = None
    fom: date | None = None
    tom: date | None = None
    nav_enhet: Referanse | None = None
    vedtak_ref: Referanse | None = None
    samtykke_foreldre: Samtykkekode | None = None
    stillingstype: Stillingstypekode | None = None
    tilskuddsprosent: int | None = None
    mottar_uforetrygd: bool | None = None


class InnvilgLop(NyttLop):
    """`POST /tiltakslop` (TiltakslopInnvilget)."""

    person: Personalia | None = None


class Forleng(Command):
    """`POST /tiltakslop/{id}/forlengelser` (TiltakslopForlenget)."""

    ny_tom: date | None = None
    aarsak: Forlengelsesaarsakkode | None = None
    begrunnelse: Begrunnelse | None = None


class Avkort(Command):
    """`POST /tiltakslop/{id}/avkorting` (TiltakslopAvkortet)."""

    ny_tom: date | None = None


class EndreMalgruppe(Command):
    """`POST /tiltakslop/{id}/malgruppe` (MalgruppeEndret)."""

    ny_malgruppe: Malgruppekode | None = None
    fom: date | None = None
    vedtak_ref: Referanse | None = None


class RegistrerVurdering(Command):
    """`POST /tiltakslop/{id}/vurderinger` (OppfolgingsvurderingGjennomfort)."""

    dato: date | None = None
    type: Vurderingstypekode | None = None
    utfall: Referanse | None = None


class FastsettSats(Command):
    """`POST /tiltakslop/{id}/tilskuddssats` (TilskuddssatsFastsatt)."""

    prosent: int | None = None
    fom: date | None = None


class InnvilgPermisjon(Command):
    """`POST /tiltakslop/{id}/permisjoner` (PermisjonInnvilget)."""

    fom: date | None = None
    tom: date | None = None
    type: Permisjonstypekode | None = None
    vertsbedrift: Navn | None = None


class AvsluttLop(Command):
    """`POST /tiltakslop/{id}/avslutning` (TiltakslopAvsluttet)."""

    sluttdato: date | None = None
    aarsak: Sluttaarsakkode | None = None
    begrunnelse: Begrunnelse | None = None


class Overgang(Command):
    """`POST /tiltakslop/{id}/overgang` (LOP-14): end this løp and grant `til` on a new one, atomically."""

    sluttdato: date | None = None
    til: NyttLop | None = None


class Annuller(Command):
    """`POST /tiltakslop/{id}/annullering` (TiltakslopAnnullert)."""

    begrunnelse: Begrunnelse | None = None


class KorrigerLop(Command):
    """`POST /tiltakslop/{id}/korrigeringer` (TiltakslopKorrigert): the fields given get their new values."""

    hendelse_id: UUID | None = None
    fom: date | None = None
    tom: date | None = None
    sluttdato: date | None = None
    aarsak: Sluttaarsakkode | None = None
    malgruppe: Malgruppekode | None = None
    variant: Variantkode | None = None
    nav_enhet: Referanse | None = None
    vedtak_ref: Referanse | None = None
    begrunnelse: Begrunnelse | None = None


# --- Ungdomsgaranti (rules.md §5) --------------------------------------------------------------------------


class InnvilgGaranti(Command):
    """`POST /ungdomsgarantier` (UngdomsgarantiInnvilget)."""

    person: Personalia | None = None
    fom: date | None = None
    nav_enhet: Referanse | None = None
    bistandsbehov_vedtak_ref: Referanse | None = None


class TildelKontaktperson(Command):
    """`POST /ungdomsgarantier/{id}/kontaktperson` (KontaktpersonTildelt / KontaktpersonByttet)."""

    nav_ident: Referanse | None = None
    fom: date | None = None
    begrunnelse: Begrunnelse | None = None


class RegistrerSamtale(Command):
    """`POST /ungdomsgarantier/{id}/samtaler` (OppfolgingssamtaleGjennomfort)."""

    dato: date | None = None
    kanal: Kanalkode | None = None
    referat_ref: Referanse | None = None


class KobleAktivitet(Command):
    """`POST /ungdomsgarantier/{id}/aktiviteter` (AktivitetKoblet)."""

    kind: Aktivitetskode | None = None
    tiltakslop_id: UUID | None = None
    fom: date | None = None
    tom: date | None = None


class AvsluttGaranti(Command):
    """`POST /ungdomsgarantier/{id}/avslutning` (UngdomsgarantiAvsluttet)."""

    tom: date | None = None
    aarsak: Garantisluttkode | None = None
    begrunnelse: Begrunnelse | None = None


class KorrigerGaranti(Command):
    """`POST /ungdomsgarantier/{id}/korrigeringer` (UngdomsgarantiKorrigert)."""

    hendelse_id: UUID | None = None
    fom: date | None = None
    tom: date | None = None
    aarsak: Garantisluttkode | None = None
    nav_enhet: Referanse | None = None
    bistandsbehov_vedtak_ref: Referanse | None = None
    begrunnelse: Begrunnelse | None = None


# Domain-only commands (rules.md §5.3): run by the seed, the scheduler and tests, not served over HTTP.


class PlanleggSamtale(Command):
    """OppfolgingssamtalePlanlagt."""

    dato: date | None = None
    kanal: Kanalkode | None = None


class RegistrerUtdanningsvurdering(Command):
    """UtdanningsvurderingGjennomfort (UG-4d)."""

    dato: date | None = None
    utfall: Referanse | None = None


class RegistrerSamhandling(Command):
    """SamhandlingRegistrert (UG-4f)."""

    instans: Instanskode | None = None
    dato: date | None = None


class TilbyArbeidsgiveroppfolging(Command):
    """ArbeidsgiverOppfolgingTilbudt (UG-4)."""

    arbeidsgiver_orgnr: Referanse | None = None
    dato: date | None = None


class AvsluttVed30(Command):
    """The scheduler's automatic end at 30 (UG-5): FYLT_30, actor SYSTEM; it carries nothing else."""
