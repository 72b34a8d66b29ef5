"""OpenAPI examples and documented answers for every route (contract.md §2), kept out of the handlers.

A handler names its request example with `Annotated[<Body struct>, eksempler.INNVILG_LOP]` and its answers
with `responses=eksempler.kommando_lop(...)` / `eksempler.les(...)`: the success answer with an example,
and every refusal it can give as `application/problem+json` (api/problem.py's `Problem`) with an example
body carrying its `code`. The values are real answers of a local instance (`forlop up --today 2025-03-03`)
for synthetic persons: 15085012344 (born 1990-08-15) and 20054352183 (born 2003-05-20), NAV office 0315.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, Reference, Schema
from litestar.openapi.spec import Parameter as OpenAPIParameter
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import Body, BodyKwarg

from api.problem import MEDIA_TYPE, Problem
from store.dto import Forlengelsesmulighet, GarantiVisning, Historikk, LopVisning

LOP_ID = "f7800f67-d578-4e91-94dc-a5ead983d661"
NY_LOP_ID = "3b0f6a52-8d1e-4c57-9a43-2f6e1d7c9b10"
GARANTI_ID = "52e9c0a4-18b0-40b1-b506-8a9e2b994a00"
PERSON = {"ident": "15085012344", "fodselsdato": "1990-08-15"}
UNG_PERSON = {"ident": "20054352183", "fodselsdato": "2003-05-20"}


class _Eksempel(Example):
    """An Example whose value keeps its nulls (Litestar drops None members while rendering the schema, which
    would make an answer's example disagree with its schema, where those members are required)."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        if self.value is not None:
            schema["value"] = self.value
        return schema


def body(*examples: tuple[str, dict[str, Any]], description: str | None = None) -> BodyKwarg:
    """`Body(...)` for `Annotated[...]` on `data`: named request examples (summary, value)."""
    return Body(
        description=description,
        examples=[Example(summary=summary, value=value) for summary, value in examples],
    )


# ---------------------------------------------------------------------------------------------------------
# Request bodies of the commands
# ---------------------------------------------------------------------------------------------------------

_ARBEIDSTRENING = {
    "person": PERSON,
    "tiltakstype": "ARBEIDSTRENING",
    "malgruppe": "NEDSATT_ARBEIDSEVNE",
    "fom": "2025-01-06",
    "tom": "2025-07-04",
    "nav_enhet": "0315",
    "vedtak_ref": "VEDTAK-2025-000123",
}
_LONNSTILSKUDD = {
    "tiltakstype": "MIDLERTIDIG_LONNSTILSKUDD",
    "malgruppe": "NEDSATT_ARBEIDSEVNE",
    "fom": "2025-04-01",
    "tom": "2026-03-31",
    "nav_enhet": "0315",
    "vedtak_ref": "VEDTAK-2025-000201",
    "tilskuddsprosent": 60,
}

INNVILG_LOP = body(
    ("Work training for a person with reduced work capacity", _ARBEIDSTRENING),
    (
        "Labour-market training (AMO) for a jobseeker",
        {
            "person": PERSON,
            "tiltakstype": "OPPLAERING",
            "variant": "AMO",
            "malgruppe": "ARBEIDSSOKER",
            "fom": "2025-03-10",
            "tom": "2025-09-05",
            "nav_enhet": "0315",
            "vedtak_ref": "VEDTAK-2025-000150",
        },
    ),
    ("Temporary wage subsidy at 60 %", {"person": PERSON, **_LONNSTILSKUDD}),
)
FORLENG = body(
    ("Extend: further need (BEHOV_VIDERE)", {"ny_tom": "2025-10-03", "aarsak": "BEHOV_VIDERE"}),
    (
        "Extend for reduced work capacity, with a reason",
        {
            "ny_tom": "2026-01-05",
            "aarsak": "NEDSATT_ARBEIDSEVNE",
            "begrunnelse": "Trenger lengre tid for å prøve ut arbeidsevnen",
        },
    ),
)
AVKORT = body(("Shorten the løp", {"ny_tom": "2025-05-30"}))
MALGRUPPE = body(
    (
        "The person is now assessed as a jobseeker",
        {"ny_malgruppe": "ARBEIDSSOKER", "fom": "2025-04-01", "vedtak_ref": "VEDTAK-2025-000187"},
    )
)
VURDERING = body(
    (
        "AFT status and progress review",
        {"dato": "2025-03-28", "type": "AFT_STATUS_PROGRESJON", "utfall": "FORTSETTER"},
    ),
    (
        "Half-yearly review of a wage subsidy",
        {"dato": "2025-06-27", "type": "LTS_HALVAARSVURDERING", "utfall": "FORTSETTER"},
    ),
)
TILSKUDDSSATS = body(("Lower a wage subsidy's rate to 50 %", {"prosent": 50, "fom": "2025-10-01"}))
PERMISJON = body(
    (
        "Work placement (hospitering) at a host company, on a VTA løp",
        {"fom": "2025-04-07", "tom": "2025-04-25", "type": "HOSPITERING", "vertsbedrift": "Eksempel Bygg AS"},
    )
)
AVSLUTT_LOP = body(
    ("Ended: the person got a job", {"sluttdato": "2025-05-16", "aarsak": "OVERGANG_ARBEID"}),
    (
        "Ended early, with a reason",
        {"sluttdato": "2025-04-11", "aarsak": "AVBRUTT", "begrunnelse": "Deltakeren møtte ikke opp"},
    ),
)
OVERGANG = body(
    ("From work training to a temporary wage subsidy", {"sluttdato": "2025-03-31", "til": _LONNSTILSKUDD})
)
ANNULLER = body(("Annul a grant made in error", {"begrunnelse": "Vedtaket ble registrert på feil person"}))
KORRIGER_LOP = body(
    (
        "Correct the start date",
        {"fom": "2025-01-13", "begrunnelse": "Feil startdato registrert; tiltaket startet 13. januar"},
    ),
    (
        "Correct the decision reference of the grant",
        {
            "hendelse_id": "075956ec-c9bc-576d-b96a-626cd043e6f1",
            "vedtak_ref": "VEDTAK-2025-000124",
            "begrunnelse": "Skrivefeil i vedtaksreferansen",
        },
    ),
)
INNVILG_GARANTI = body(
    (
        "Include a 21-year-old in the youth guarantee",
        {
            "person": UNG_PERSON,
            "fom": "2025-01-06",
            "nav_enhet": "0315",
            "bistandsbehov_vedtak_ref": "14A-2025-000045",
        },
    )
)
KONTAKTPERSON = body(("Assign a contact person", {"nav_ident": "Z990001", "fom": "2025-01-08"}))
SAMTALE = body(("A meeting in person", {"dato": "2025-02-03", "kanal": "MOTE"}))
AKTIVITET = body(
    ("Link a løp", {"kind": "TILTAK", "tiltakslop_id": LOP_ID, "fom": "2025-02-10", "tom": "2025-07-04"}),
    ("Education from the autumn term", {"kind": "UTDANNING", "fom": "2025-08-18"}),
)
AVSLUTT_GARANTI = body(
    (
        "The need for help has ended",
        {"tom": "2025-06-30", "aarsak": "BEHOV_OPPHORT", "begrunnelse": "Har fått fast jobb og trenger ikke bistand"},
    )
)
KORRIGER_GARANTI = body(
    (
        "Correct the start date",
        {"fom": "2025-01-07", "begrunnelse": "Bistandsbehovet ble vurdert 7. januar, ikke 6."},
    )
)
OVERSIKT = body(("One person", {"person": PERSON}))


# ---------------------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------------------

_UTVIDELSE = {
    "mulig": True,
    "grunner": [
        {"aarsak": "BEHOV_VIDERE", "max_tom": "2026-01-05"},
        {"aarsak": "NEDSATT_ARBEIDSEVNE", "max_tom": "2026-07-05"},
    ],
}
LOP: dict[str, Any] = {
    "id": LOP_ID,
    "lop_id": LOP_ID,
    "versjon": 1,
    "posisjon": 3,
    "per": "2025-03-03",
    "status": "AKTIV",
    "person": PERSON,
    "tiltakstype": "ARBEIDSTRENING",
    "variant": None,
    "malgruppe": "NEDSATT_ARBEIDSEVNE",
    "fom": "2025-01-06",
    "tom": "2025-07-04",
    "sluttdato": None,
    "avslutningsaarsak": None,
    "nav_enhet": "0315",
    "vedtak_ref": "VEDTAK-2025-000123",
    "samtykke_foreldre": None,
    "stillingstype": None,
    "tilskuddsprosent": None,
    "mottar_uforetrygd": False,
    "forgjenger_lop_id": None,
    "overgang_fra_tiltakstype": None,
    "overgang_til": None,
    "regelsett_id": "SEED-2024",
    "forlengelser": [],
    "tilskuddssatser": [],
    "permisjoner": [],
    "siste_vurdering": None,
    "base_cap_tom": "2026-01-05",
    "total_cap_tom": "2026-07-05",
    "days_to_tom": 123,
    "days_to_total_cap": 489,
    "extension_possible": _UTVIDELSE,
    "next_review_due": None,
    "review_status": None,
    "current_rate": None,
    "next_rate_change_date": None,
    "warnings": [],
    "open_alerts": [],
}
LOP_ENDRET = {
    **LOP,
    "versjon": 2,
    "posisjon": 5,
    "tom": "2025-10-03",
    "forlengelser": [{"ny_tom": "2025-10-03", "aarsak": "BEHOV_VIDERE"}],
    "days_to_tom": 214,
}
LOP_LEST = {**LOP_ENDRET, "posisjon": None}
LOP_ETTER_OVERGANG = {
    **LOP,
    "id": NY_LOP_ID,
    "lop_id": NY_LOP_ID,
    "posisjon": 9,
    "tiltakstype": "MIDLERTIDIG_LONNSTILSKUDD",
    "fom": "2025-04-01",
    "tom": "2026-03-31",
    "vedtak_ref": "VEDTAK-2025-000201",
    "tilskuddsprosent": 60,
    "forgjenger_lop_id": LOP_ID,
    "overgang_fra_tiltakstype": "ARBEIDSTRENING",
    "base_cap_tom": "2026-03-31",
    "total_cap_tom": "2026-03-31",
    "days_to_tom": 393,
    "days_to_total_cap": 393,
    "extension_possible": {"mulig": False, "grunner": []},
    "current_rate": 60,
}
GARANTI: dict[str, Any] = {
    "id": GARANTI_ID,
    "versjon": 1,
    "posisjon": 8,
    "per": "2025-03-03",
    "status": "AKTIV",
    "aarsak": None,
    "person": UNG_PERSON,
    "fom": "2025-01-06",
    "tom": None,
    "aldersgrense_dato": "2033-05-20",
    "nav_enhet": "0315",
    "bistandsbehov_vedtak_ref": "14A-2025-000045",
    "kontaktperson": None,
    "kontaktpersoner": [],
    "siste_samtale": None,
    "next_samtale_due": "2025-02-05",
    "aktiviteter": [],
    "regelsett_id": "SEED-2024",
    "open_alerts": ["KONTAKTPERSON_MANGLER", "SAMTALE_FORFALT"],
    "frister": {
        "KONTAKTPERSON_MANGLER": "2025-01-20",
        "SAMTALE_FORFALLER": "2025-02-05",
        "SAMTALE_FORFALT": "2025-02-05",
        "ALDERSGRENSE_NAERMER_SEG": "2033-05-20",
    },
}
GARANTI_ENDRET = {
    **GARANTI,
    "versjon": 3,
    "posisjon": 10,
    "kontaktperson": "Z990001",
    "kontaktpersoner": [{"nav_ident": "Z990001", "fom": "2025-01-08"}],
    "siste_samtale": "2025-02-03",
    "next_samtale_due": "2025-03-05",
    "open_alerts": ["SAMTALE_FORFALLER"],
    "frister": {**GARANTI["frister"], "SAMTALE_FORFALLER": "2025-03-05", "SAMTALE_FORFALT": "2025-03-05"},
}
GARANTI_LEST = {**GARANTI_ENDRET, "posisjon": None}
HISTORIKK = {
    "aggregat": "tiltakslop",
    "aggregat_id": LOP_ID,
    "elementer": [
        {
            "id": "075956ec-c9bc-576d-b96a-626cd043e6f1",
            "type": "TiltakslopInnvilget",
            "skjema_versjon": 1,
            "versjon": 1,
            "posisjon": 3,
            "registrert": "2025-03-03T09:14:08.136501Z",
            "aktor": {"nav_ident": "Z990001", "enhet": "0315"},
            "begrunnelse": None,
            "correlation_id": "32007bfc-3dac-4e8c-93d9-26c952a206e4",
            "regelsett_id": "SEED-2024",
            "lenke": "8273cf79f2a03030559df9f655a2e6cc05bcf061322a89717b6c07f1f42754e1",
            "data": {k: v for k, v in _ARBEIDSTRENING.items() if k != "person"} | {"fodselsdato": "1990-08-15"},
        },
        {
            "id": "d258fbf6-58b7-5174-9e20-d00d70f54904",
            "type": "TiltakslopForlenget",
            "skjema_versjon": 2,
            "versjon": 2,
            "posisjon": 5,
            "registrert": "2025-03-03T09:15:41.155631Z",
            "aktor": {"nav_ident": "Z990001", "enhet": "0315"},
            "begrunnelse": None,
            "correlation_id": "20cfdde1-2e14-468d-8882-2df99c784878",
            "regelsett_id": "SEED-2024",
            "lenke": "2f6f2cf1c4e87d2d93c4d17c954922744ec4808c578c60eff1b567112719a310",
            "data": {
                "ny_tom": "2025-10-03", "aarsak": "BEHOV_VIDERE", "begrunnelse": None, "forrige_tom": "2025-06-30",
            },
        },
    ],
}
GARANTI_HISTORIKK = {
    "aggregat": "ungdomsgaranti",
    "aggregat_id": GARANTI_ID,
    "elementer": [
        {
            "id": "9c1d7e0a-5b7f-5d3e-8a61-0f3b2c4d5e6f",
            "type": "UngdomsgarantiInnvilget",
            "skjema_versjon": 1,
            "versjon": 1,
            "posisjon": 8,
            "registrert": "2025-03-03T09:20:12.402113Z",
            "aktor": {"nav_ident": "Z990001", "enhet": "0315"},
            "begrunnelse": None,
            "correlation_id": "5f0e2d4c-1b3a-4c8e-9d7f-6a5b4c3d2e1f",
            "regelsett_id": "SEED-2024",
            "lenke": "0b7c6f0d9e4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c",
            "data": {
                "fodselsdato": "2003-05-20",
                "fom": "2025-01-06",
                "nav_enhet": "0315",
                "bistandsbehov_vedtak_ref": "14A-2025-000045",
            },
        }
    ],
}
OVERSIKT_SVAR = {"tiltakslop": [LOP_LEST], "ungdomsgarantier": []}
FRISTER = {
    "elementer": [
        {**LOP_LEST, "aggregat": "tiltakslop", "aggregat_id": LOP_ID},
        {**GARANTI_LEST, "aggregat": "ungdomsgaranti", "aggregat_id": GARANTI_ID},
    ],
    "neste": None,
}
_RELAY_KLAR = {"etterslep_hendelser": 0, "etterslep_sekunder": 0.0, "avviste": 0, "holdt": 0}
KLAR = {"klar": True, "database": True, "migrert": True, "nats": False,
        "projeksjoner": {"oversikt": {"etterslep_hendelser": 0, "etterslep_sekunder": 0.0}}, "relay": _RELAY_KLAR}
IKKE_KLAR = {"klar": False, "database": False, "migrert": False, "nats": True,
             "projeksjoner": {"oversikt": {"etterslep_hendelser": None, "etterslep_sekunder": None}},
             "relay": {"etterslep_hendelser": None, "etterslep_sekunder": None, "avviste": None, "holdt": None}}


# ---------------------------------------------------------------------------------------------------------
# Problems (application/problem+json)
# ---------------------------------------------------------------------------------------------------------

_TITLER = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    422: "Unprocessable Content",
    503: "Service Unavailable",
}
_BESKRIVELSER = {
    400: "INVALID_REQUEST: malformed JSON or query, wrong types, unknown fields, dates that do not exist, an "
    "identifier that fails mod-11, an unknown code, a missing required field the catalogue does not judge",
    401: "UNAUTHENTICATED: no valid bearer token",
    403: "FORBIDDEN: outside the token's role or offices (checked before the body is judged)",
    404: "NOT_FOUND: no løp or guarantee with this id (or no such version)",
    409: "VERSION_CONFLICT: another command on the same aggregate or person was stored first (not retried)",
    410: "PERSON_GLEMT: the person of this case has been forgotten (GDPR erasure); the case is no longer shown",
    412: "PRECONDITION_FAILED: If-Match names another version than the current one",
    422: "Refused by the rule catalogue (rules.md §7.2 / §5.2) with the limits that explain it, or "
    "IDEMPOTENCY_KEY_REUSED",
    503: "VIEWS_BEHIND: the views did not reach `min_posisjon` within 5 s",
}


def problem(status: int, code: str, detail: str, instance: str, **limits: Any) -> dict[str, Any]:
    return {
        "type": f"urn:forlop:problem:{code.lower()}",
        "title": _TITLER[status],
        "status": status,
        "code": code,
        "detail": detail,
        "instance": instance,
        "correlation_id": "c4ba2fcf-842e-4a99-8019-841bbbdc3dd7",
        **limits,
    }


def _standard(status: int, instance: str) -> dict[str, Any]:
    match status:
        case 400:
            return problem(400, "INVALID_REQUEST", "person.ident is not a valid identifier (11 digits, mod-11)",
                           instance)
        case 401:
            return problem(401, "UNAUTHENTICATED", "Invalid token", instance)
        case 403:
            return problem(403, "FORBIDDEN", "the case belongs to another office", instance)
        case 404:
            return problem(404, "NOT_FOUND", "aggregate not found", instance, id=LOP_ID)
        case 409:
            return problem(409, "VERSION_CONFLICT", "another command on this person was stored first", instance)
        case 410:
            return problem(410, "PERSON_GLEMT", "the person of this case has been forgotten", instance)
        case 412:
            return problem(412, "PRECONDITION_FAILED", "the aggregate has changed since that version", instance,
                           versjon=2)
        case 503:
            return problem(503, "VIEWS_BEHIND", "the views did not reach the position within 5 s", instance,
                           min_posisjon=120)
    raise ValueError(status)


def problemer(instance: str, *statuser: int, **eksempler: dict[str, Any]) -> dict[int, ResponseSpec]:
    """The refusals `statuser` as problem+json answers; `eksempler` overrides an example (`s422=...`)."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=MEDIA_TYPE,
            description=_BESKRIVELSER[status],
            generate_examples=False,
            examples=[
                _Eksempel(summary=(verdi := eksempler.get(f"s{status}") or _standard(status, instance))["code"],
                          value=verdi)
            ],
        )
        for status in statuser
    }


def answer_spec(status: int, container: Any, beskrivelse: str, summary: str, verdi: Any) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=container,
            description=beskrivelse,
            generate_examples=False,
            examples=[_Eksempel(summary=summary, value=verdi)],
        )
    }


_LOP_STI = f"/api/v1/tiltakslop/{LOP_ID}"
_GARANTI_STI = f"/api/v1/ungdomsgarantier/{GARANTI_ID}"
_KOMMANDO = (400, 401, 403, 404, 409, 410, 412, 422)
_OPPRETT = (400, 401, 403, 409, 422)


def _kommando(
    container: Any, hva: str, instance: str, statuser: tuple[int, ...], status: int, verdi: dict[str, Any],
    code: str, detail: str, **limits: Any,
) -> dict[int, ResponseSpec]:
    beskrivelse = (
        f"The {hva}'s state after the command: `ETag` is its new version, `Location` its URL and `posisjon` the "
        "position of the last event written. An idempotent repeat (same `Idempotency-Key` and body) gets the "
        "first answer."
    )
    return {
        **answer_spec(status, container, beskrivelse, f"The {hva}", verdi),
        **problemer(instance, *statuser, s422=problem(422, code, detail, instance, **limits)),
    }


def lop(endepunkt: str, code: str, detail: str, **limits: Any) -> dict[int, ResponseSpec]:
    """A command on an existing løp (`/{lop_id}<endepunkt>`): 200 with the new state, or a refusal; the
    422 example is `code` with its limits."""
    return _kommando(LopVisning, "løp", f"{_LOP_STI}{endepunkt}", _KOMMANDO, 200, LOP_ENDRET, code, detail, **limits)


def garanti(endepunkt: str, code: str, detail: str, **limits: Any) -> dict[int, ResponseSpec]:
    """A command on an existing guarantee (`/{garanti_id}<endepunkt>`)."""
    return _kommando(
        GarantiVisning, "guarantee", f"{_GARANTI_STI}{endepunkt}", _KOMMANDO, 200, GARANTI_ENDRET, code, detail,
        **limits,
    )


INNVILG_LOP_SVAR = _kommando(
    LopVisning, "new løp", "/api/v1/tiltakslop", _OPPRETT, 201, LOP,
    "EXCEEDS_BASE_DURATION", "tom is past the base duration", max_tom="2026-01-05",
)
OVERGANG_SVAR = _kommando(
    LopVisning, "new løp", f"{_LOP_STI}/overgang", _KOMMANDO, 201, LOP_ETTER_OVERGANG,
    "LOP_CLOSED", "the løp is ended or annulled",
)
INNVILG_GARANTI_SVAR = _kommando(
    GarantiVisning, "new guarantee", "/api/v1/ungdomsgarantier", _OPPRETT, 201, GARANTI,
    "AGE_BELOW_MINIMUM", "the person is not between 16 and 30 on fom",
)


def les(
    container: Any, instance: str, beskrivelse: str, verdi: Any, *statuser: int, **eksempler: dict[str, Any]
) -> dict[int, ResponseSpec]:
    """A read: 200 with an example, and its refusals."""
    return {**answer_spec(200, container, beskrivelse, "Example", verdi), **problemer(instance, *statuser, **eksempler)}


HENT_LOP_SVAR = les(
    LopVisning, _LOP_STI,
    "The løp for business date `per` (default today) with its limits (rules.md §8.1) and open alerts; `ETag` "
    "is its version.", LOP_LEST, 400, 401, 403, 404, 410,
)
LOP_HISTORIKK_SVAR = les(
    Historikk, f"{_LOP_STI}/historikk", "Every event of the løp in order, with its hash-chain link.", HISTORIKK,
    400, 401, 403, 404,
)
FORLENGELSE_SVAR = les(
    Forlengelsesmulighet, f"{_LOP_STI}/forlengelse",
    "The extension reasons allowed now and the latest `ny_tom` each reaches.", _UTVIDELSE, 400, 401, 403, 404, 410,
)
HENT_GARANTI_SVAR = les(
    GarantiVisning, _GARANTI_STI,
    "The guarantee for business date `per` (default today), with its deadlines; `ETag` is its version.",
    GARANTI_LEST, 400, 401, 403, 404, 410,
)
GARANTI_HISTORIKK_SVAR = les(
    Historikk, f"{_GARANTI_STI}/historikk", "Every event of the guarantee in order, with its hash-chain link.",
    GARANTI_HISTORIKK, 400, 401, 403, 404,
)
FORLENG_SVAR = lop("/forlengelser", "EXCEEDS_MAX_DURATION", "ny_tom is past the total cap", max_tom="2026-07-05")
AVKORT_SVAR = lop("/avkorting", "INVALID_DATE_RANGE", "ny_tom must be before tom and not before fom")
MALGRUPPE_SVAR = lop("/malgruppe", "LOP_CLOSED", "the løp is ended or annulled")
VURDERING_SVAR = lop("/vurderinger", "LOP_CLOSED", "the løp is ended or annulled")
TILSKUDDSSATS_SVAR = lop("/tilskuddssats", "RATE_ABOVE_MAXIMUM", "prosent is above the maximum", max_prosent=60)
PERMISJON_SVAR = lop("/permisjoner", "LEAVE_TOO_LONG", "the leave is longer than allowed", max_tom="2025-04-20")
AVSLUTT_LOP_SVAR = lop("/avslutning", "INVALID_DATE_RANGE", "sluttdato must be within fom and tom")
ANNULLER_SVAR = lop("/annullering", "BEGRUNNELSE_REQUIRED", "an annulment needs a begrunnelse")
KORRIGER_LOP_SVAR = lop("/korrigeringer", "BEGRUNNELSE_REQUIRED", "a correction needs a begrunnelse")
KONTAKTPERSON_SVAR = garanti("/kontaktperson", "GUARANTEE_CLOSED", "the guarantee is ended")
SAMTALE_SVAR = garanti("/samtaler", "GUARANTEE_CLOSED", "the guarantee is ended")
AKTIVITET_SVAR = garanti("/aktiviteter", "GUARANTEE_CLOSED", "the guarantee is ended")
AVSLUTT_GARANTI_SVAR = garanti("/avslutning", "BEGRUNNELSE_REQUIRED", "this reason needs a begrunnelse")
KORRIGER_GARANTI_SVAR = garanti("/korrigeringer", "BEGRUNNELSE_REQUIRED", "a correction needs a begrunnelse")


def oversikt_svar(container: Any) -> dict[int, ResponseSpec]:
    """`POST /personer/oversikt` (a read): the person's løp and guarantees of the caller's offices."""
    return les(
        container, "/api/v1/personer/oversikt",
        "All løp and guarantees of the person, evaluated for `per`; a SAKSBEHANDLER sees its own offices' only.",
        OVERSIKT_SVAR, 400, 401,
    )


def frister_svar(container: Any) -> dict[int, ResponseSpec]:
    return les(
        container, "/api/v1/frister",
        "One page of the deadline board; pass `neste` back as `?etter=` (null on the last page).",
        FRISTER, 400, 401, 403, 404, 503,
        s403=problem(403, "FORBIDDEN", "another office's cases", "/api/v1/frister"),
        s404=problem(404, "NOT_FOUND", "no replay for that instant: run `forlop replay --kjent-per` with it first",
                     "/api/v1/frister", kjent_per="2025-03-01T12:00:00Z"),
        s400=problem(400, "INVALID_REQUEST", "Validation failed for GET /api/v1/frister", "/api/v1/frister",
                     feil=[{"message": "Expected `date`, got `str`", "key": "per", "source": "query"}]),
    )


def klar_svar(container: Any) -> dict[int, ResponseSpec]:
    return {
        **answer_spec(200, container, "Ready: PostgreSQL answers and is migrated (NATS and lag are reported, "
                      "not required).", "Ready while NATS is down", KLAR),
        **answer_spec(503, container, "Not ready: PostgreSQL does not answer within the bound, or is not migrated.",
                      "Database down", IKKE_KLAR),
    }
LEVER_SVAR = answer_spec(200, dict[str, str], "The process is up (no token needed).", "Up", {"status": "ok"})


VARSLER = {
    "elementer": [
        {
            "varsel_id": "6f1c2b9e-3d4a-5e8f-9a0b-1c2d3e4f5a6b",
            "type": "SAMTALE_FORFALLER",
            "frist": "2025-03-05",
            "dager_igjen": 7,
            "aggregat": "ungdomsgaranti",
            "aggregat_id": GARANTI_ID,
            "nav_enhet": "0315",
            "kontaktperson": "Z990001",
            "per": "2025-02-26",
            "forsinket": False,
            "publisert": "2025-02-26T05:00:02.118000Z",
        }
    ],
    "neste": None,
}


def liste_svar(
    container: Any, instance: str, beskrivelse: str, verdi: Any, *statuser: int, **eksempler: dict[str, Any]
) -> dict[int, ResponseSpec]:
    """A list read (`{"elementer": [...], "neste": ...}`): 200 with an example, and 400 (a bad query or
    cursor), 401 and 403 (another office) unless `statuser` names others."""
    return les(container, instance, beskrivelse, verdi, *(statuser or (400, 401, 403)), **eksempler)


def varsler_svar(container: Any) -> dict[int, ResponseSpec]:
    return liste_svar(
        container, "/api/v1/varsler",
        "One page of the alerts decided for the offices, newest fire date first; pass `neste` back as `?etter=`.",
        VARSLER,
        s403=problem(403, "FORBIDDEN", "another office's cases", "/api/v1/varsler"),
    )


HENDELSER = {
    "elementer": [
        {
            "id": "075956ec-c9bc-576d-b96a-626cd043e6f1",
            "posisjon": 3,
            "aggregat": "tiltakslop",
            "aggregat_id": LOP_ID,
            "versjon": 1,
            "type": "TiltakslopInnvilget",
            "skjema_versjon": 1,
            "registrert": "2025-03-03T09:14:08.136501Z",
            "aktor": {"nav_ident": "Z990001", "enhet": "0315"},
            "correlation_id": "32007bfc-3dac-4e8c-93d9-26c952a206e4",
            "data": {k: v for k, v in _ARBEIDSTRENING.items() if k != "person"}
            | {"person_pseudonym": "5d41402abc4b2a76b9719d911017c592ae2f1e6b5b0f8e1e3c1d2a3b4c5d6e7f"},
        }
    ],
    "neste": 3,
}


def hendelser_svar(container: Any) -> dict[int, ResponseSpec]:
    """`GET /hendelser` (REVISOR, SYSTEM): one page of the global feed."""
    return liste_svar(
        container, "/api/v1/hendelser",
        "One page of the published events after `etter`, in log order, as the NATS envelopes of contract.md §3; "
        "`neste` is always the position to ask after next (it moves past gaps and unpublished events).",
        HENDELSER,
        s403=problem(403, "FORBIDDEN", "only REVISOR and SYSTEM may read the global event feed", "/api/v1/hendelser"),
        s400=problem(400, "INVALID_REQUEST", "Validation failed for GET /api/v1/hendelser", "/api/v1/hendelser",
                     feil=[{"message": "Expected `int`, got `str`", "key": "etter", "source": "query"}]),
    )


_SJEKKPUNKT = {
    "nr": 12,
    "posisjon": 120000,
    "antall": 119874,
    "segment": "9f2c1e0d8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6",
    "sammendrag": "3a7d4c1b9e8f706152433425160718293a4b5c6d7e8f90a1b2c3d4e5f6071829",
    "nokkel_id": "8c1f2e3d4a5b6c7d",
    "signatur": "b1" * 64,
    "opprettet": "2025-03-03T09:00:00.000000Z",
}
VERIFISERING_OK = {
    "ok": True,
    "omfang": "logg",
    "hendelser": 120311,
    "strommer": 30544,
    "til_posisjon": 120437,
    "sekunder": 0.412,
    "lenkefeil": [],
    "antall_lenkefeil": 0,
    "sjekkpunkter": 12,
    "sjekkpunktfeil": [],
    "siste_sjekkpunkt": _SJEKKPUNKT,
    "algoritme": "Ed25519",
    "offentlig_nokkel": "4f3e2d1c0b0a09080706050403020100ffeeddccbbaa99887766554433221100",
}
VERIFISERING_FEIL = {
    **VERIFISERING_OK,
    "ok": False,
    "lenkefeil": [{"aggregat_id": LOP_ID, "versjon": 3, "posisjon": 1187, "grunn": "LINK_MISMATCH"}],
    "antall_lenkefeil": 1,
    "sjekkpunktfeil": [{"nr": 2, "posisjon": 20000, "grunner": ["LOG_CHANGED"]}],
}


def verifisering_svar(container: Any) -> dict[int, ResponseSpec]:
    """`GET /revisjon/verifisering` (REVISOR only)."""
    return {
        200: ResponseSpec(
            data_container=container,
            description=(
                "The verification: `ok` only if every link and every checkpoint holds; `lenkefeil` names each "
                "event whose link does not hold (at most 1000; `antall_lenkefeil` counts all), `sjekkpunktfeil` "
                "each failing checkpoint with its reasons."
            ),
            generate_examples=False,
            examples=[
                _Eksempel(summary="Everything holds", value=VERIFISERING_OK),
                _Eksempel(summary="A row altered and a stream rewritten", value=VERIFISERING_FEIL),
            ],
        ),
        **problemer(
            "/api/v1/revisjon/verifisering", 400, 401, 403,
            s403=problem(403, "FORBIDDEN", "only REVISOR may use /revisjon", "/api/v1/revisjon/verifisering"),
            s400=problem(400, "INVALID_REQUEST", "Validation failed for GET /api/v1/revisjon/verifisering",
                         "/api/v1/revisjon/verifisering",
                         feil=[{"message": "Invalid UUID", "key": "aggregat_id", "source": "query"}]),
        ),
    }


# ---------------------------------------------------------------------------------------------------------
# Request headers of the commands (contract.md §2): documented through the operation (`operation_class=`),
# since the handlers read them from the request and Litestar documents only what a signature declares
# ---------------------------------------------------------------------------------------------------------

_IDEMPOTENCY_KEY = OpenAPIParameter(
    name="Idempotency-Key",
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING),
    description=(
        "The command's id (rules.md LOP-12), global across paths: a repeat with the same key and body gets the "
        "first answer and appends nothing; the same key with another body is 422 `IDEMPOTENCY_KEY_REUSED`."
    ),
    examples={"uuid": Example(summary="A UUID per command", value="b7e0c8a2-4f1d-4c3b-9e6a-2d5f8a1c0e37")},
)
_IF_MATCH = OpenAPIParameter(
    name="If-Match",
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING),
    description=(
        'The version the command expects, as the `ETag` gave it (`"3"`, `W/"3"` or `3`; `*` matches any): '
        "another current version is 412 `PRECONDITION_FAILED`; a value that names no version is 400."
    ),
    examples={"versjon": Example(summary="Version 2", value='"2"')},
)


@dataclass
class Opprett(Operation):
    """A command that creates an aggregate: documents `Idempotency-Key`."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), _IDEMPOTENCY_KEY]


@dataclass
class Kommando(Operation):
    """A command on an existing aggregate: documents `Idempotency-Key` and `If-Match`."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), _IDEMPOTENCY_KEY, _IF_MATCH]


# ---------------------------------------------------------------------------------------------------------
# The read log (`GET /revisjon/innsyn`) and the history export (`GET …/historikk/eksport`)
# ---------------------------------------------------------------------------------------------------------

INNSYN = {
    "elementer": [
        {
            "nr": 41,
            "tidspunkt": "2025-03-03T09:16:02.511734Z",
            "nav_ident": "Z990001",
            "roller": ["SAKSBEHANDLER"],
            "person_pseudonym": "5d0e8f3c2b9a41768e0f1d2c3b4a59687f6e5d4c3b2a19081726354453627180",
            "endepunkt": "GET /api/v1/tiltakslop/{lop_id}/historikk",
            "aggregat": "tiltakslop",
            "aggregat_id": LOP_ID,
            "correlation_id": "20cfdde1-2e14-468d-8882-2df99c784878",
        }
    ],
    "neste": None,
}


def innsyn_svar(container: Any) -> dict[int, ResponseSpec]:
    return liste_svar(
        container, "/api/v1/revisjon/innsyn",
        "One page of the read log, oldest first; pass `neste` back as `?etter=` (null on the last page).",
        INNSYN,
        s403=problem(403, "FORBIDDEN", "only REVISOR may read the audit endpoints", "/api/v1/revisjon/innsyn"),
        s400=problem(400, "INVALID_REQUEST", "person_pseudonym: 64 hex digits", "/api/v1/revisjon/innsyn",
                     felt="person_pseudonym"),
    )


_HTML = "text/html"


@dataclass
class Eksport(Operation):
    """`…/historikk/eksport`: the 200 answer is JSON (`format=json`) or a printable HTML page (`format=html`)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if ok is not None and not isinstance(ok, Reference) and ok.content is not None:
            ok.content[_HTML] = OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description="a self-contained, printable HTML page"),
            )


LOP_EKSPORT_SVAR = les(
    Historikk, f"{_LOP_STI}/historikk/eksport",
    "The løp's history for archiving or printing: `format=json` is exactly what `…/historikk` answers; "
    "`format=html` a self-contained page with one table of the events (actor, time, reason, rule set). "
    "Sent as an attachment (`Content-Disposition`).",
    HISTORIKK, 400, 401, 403, 404,
)
GARANTI_EKSPORT_SVAR = les(
    Historikk, f"{_GARANTI_STI}/historikk/eksport",
    "The guarantee's history for archiving or printing (as for a løp).",
    GARANTI_HISTORIKK, 400, 401, 403, 404,
)
