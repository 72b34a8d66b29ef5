"""Every error status of contract.md §2 over real HTTP: each answer is application/problem+json with a `code`
(and the limit that explains a refusal), and a refused command stores nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from api.identity import LEEWAY_SECONDS, make_token
from tests.e2e.conftest import (
    API,
    IDENT_B,
    IDENT_C,
    IDENT_D,
    IDENT_E,
    JWT_SECRET,
    Server,
    arbeidstrening,
    bearer,
    count_events,
    expired_token,
    garanti,
    ny_ident,
    person,
)


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    """The refusals here change nothing, so one app and database serve the whole module."""
    return shared_server


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body


@dataclass
class Saker:
    lop: str
    vta: str
    vlt: str
    garanti: str
    closed_lop: str
    closed_garanti: str


@pytest.fixture(scope="module")
async def saker(server: Server) -> Saker:
    """The module's cases (office 0315): an arbeidstrening, a VTA, a varig lønnstilskudd, a guarantee, and a
    løp and a guarantee that are ended although their end dates are still ahead of the business date."""
    headers = bearer(make_token(JWT_SECRET.encode(), ident="Z990001", roller=["SAKSBEHANDLER"], enheter=["0315"]))
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as c:
        made = [
            await c.post(f"{API}/tiltakslop", json=body, headers=headers)
            for body in (
                arbeidstrening(),
                arbeidstrening(IDENT_C, tiltakstype="VTA", tom=None),
                arbeidstrening(IDENT_D, tiltakstype="VARIG_LONNSTILSKUDD", tom=None),
                arbeidstrening(IDENT_E),
            )
        ]
        made += [
            await c.post(f"{API}/ungdomsgarantier", json=body, headers=headers)
            for body in (garanti(), garanti(IDENT_E, fodselsdato="2001-01-01"))
        ]
        assert all(r.status_code == 201 for r in made), [r.text for r in made]
        lop, vta, vlt, closed_lop, g, closed_g = (r.headers["Location"] for r in made)
        ended = [
            await c.post(f"{closed_lop}/avslutning", json={"sluttdato": "2025-05-31", "aarsak": "AVBRUTT"},
                         headers=headers),
            await c.post(f"{closed_g}/avslutning", json={"tom": "2025-06-30", "aarsak": "BEHOV_OPPHORT"},
                         headers=headers),
        ]
        assert all(r.status_code == 200 for r in ended), [r.text for r in ended]
        assert ended[0].json()["status"] == "AKTIV"  # its sluttdato is still ahead
    return Saker(lop, vta, vlt, g, closed_lop, closed_g)


def uten(body: dict[str, Any], *felt: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in felt}


def grant(**endring: Any) -> dict[str, Any]:
    return arbeidstrening(IDENT_B, fom="2025-08-01", tom="2025-12-31") | endring


def opplaering(**endring: Any) -> dict[str, Any]:
    return grant(tiltakstype="OPPLAERING", variant="AMO", malgruppe="ARBEIDSSOKER") | endring


# (target, path suffix, body): target "" is a POST to /tiltakslop or /ungdomsgarantier given by the suffix.
INVALID_REQUESTS = {
    "an unknown field": ("", "/tiltakslop", grant(farge="blå")),
    "a wrong type": ("", "/tiltakslop", grant(tom=20251231)),
    "a number sent as a string": ("vlt", "/tilskuddssats", {"prosent": "50", "fom": "2025-03-01"}),
    "a boolean sent as a string": ("", "/tiltakslop", grant(tiltakstype="VTA", tom=None, mottar_uforetrygd="true")),
    "a boolean sent as a number": ("", "/tiltakslop", grant(tiltakstype="VTA", tom=None, mottar_uforetrygd=1)),
    "a fraction for a whole percentage": ("vlt", "/tilskuddssats", {"prosent": 50.5, "fom": "2025-03-01"}),
    "a wrong type inside til": ("lop", "/overgang", {"sluttdato": "2025-03-31", "til": {"tilskuddsprosent": "70"}}),
    "a JSON array for a body": ("lop", "/avkorting", [{"ny_tom": "2025-05-31"}]),
    "a date that does not exist": ("", "/tiltakslop", grant(fom="2025-02-30")),
    "an identifier that fails mod-11": ("", "/tiltakslop", grant(person=person("01817000093"))),
    "an identifier of ten digits": ("", "/tiltakslop", grant(person=person("0181700009"))),
    "a nav_enhet whose county does not exist": ("", "/tiltakslop", grant(nav_enhet="2015")),
    "a nav_enhet of five digits": ("", "/tiltakslop", grant(nav_enhet="03150")),
    "a missing person": ("", "/tiltakslop", uten(grant(), "person")),
    "a null person": ("", "/tiltakslop", grant(person=None)),
    "a person without fodselsdato": ("", "/tiltakslop", grant(person={"ident": IDENT_B})),
    "a missing tiltakstype": ("", "/tiltakslop", uten(grant(), "tiltakstype")),
    "an unknown tiltakstype": ("", "/tiltakslop", grant(tiltakstype="SIRKUS")),
    "a missing variant on OPPLAERING": ("", "/tiltakslop", uten(opplaering(), "variant")),
    "an unknown variant on OPPLAERING": ("", "/tiltakslop", opplaering(variant="KLOVN")),
    "a missing malgruppe": ("", "/tiltakslop", uten(grant(), "malgruppe")),
    "an unknown malgruppe": ("", "/tiltakslop", grant(malgruppe="ALLE")),
    "a missing nav_enhet": ("", "/tiltakslop", uten(grant(), "nav_enhet")),
    "a missing vedtak_ref": ("", "/tiltakslop", uten(grant(), "vedtak_ref")),
    "a guarantee without a person": ("", "/ungdomsgarantier", uten(garanti(IDENT_C), "person")),
    "a guarantee with a bad nav_enhet": ("", "/ungdomsgarantier", garanti(IDENT_C, nav_enhet="9999")),
    "a missing malgruppe change": ("lop", "/malgruppe", {"fom": "2025-03-01", "vedtak_ref": "X"}),
    "a missing review type": ("lop", "/vurderinger", {"dato": "2025-03-01", "utfall": "FORTSETTER"}),
    "a missing review utfall": ("vta", "/vurderinger", {"dato": "2025-03-01", "type": "VTA_OVERFORINGSVURDERING"}),
    "a missing leave type": ("vta", "/permisjoner", {"fom": "2025-04-01", "tom": "2025-05-31"}),
    "a leave on a løp other than VTA": (
        "lop", "/permisjoner", {"fom": "2025-04-01", "tom": "2025-05-31", "type": "HOSPITERING"}
    ),
    "a missing end aarsak": ("lop", "/avslutning", {"sluttdato": "2025-03-31"}),
    "an unknown end aarsak": ("lop", "/avslutning", {"sluttdato": "2025-03-31", "aarsak": "LEI"}),
    "a missing kanal": ("garanti", "/samtaler", {"dato": "2025-02-01"}),
    "an unknown kanal": ("garanti", "/samtaler", {"dato": "2025-02-01", "kanal": "BREVDUE"}),
    "a missing kind": ("garanti", "/aktiviteter", {"fom": "2025-02-01"}),
    "a missing guarantee end aarsak": ("garanti", "/avslutning", {"tom": "2025-03-01"}),
    "a correction that names no field": ("lop", "/korrigeringer", {"begrunnelse": "ingenting"}),
}


@pytest.mark.parametrize("case", list(INVALID_REQUESTS), ids=list(INVALID_REQUESTS))
async def test_a_malformed_request_is_400_invalid_request_and_stores_nothing(case, client, system, saker, server):
    target, suffix, body = INVALID_REQUESTS[case]
    url = f"{API}{suffix}" if not target else getattr(saker, target) + suffix
    before = await count_events(server.database_url)

    response = await client.post(url, json=body, headers=system)

    assert_problem(response, 400, "INVALID_REQUEST")
    assert await count_events(server.database_url) == before


async def test_a_body_that_is_not_json_is_400_invalid_request(client, sb_0315, server):
    before = await count_events(server.database_url)

    response = await client.post(
        f"{API}/tiltakslop", content=b'{"person": ', headers={**sb_0315, "Content-Type": "application/json"}
    )

    assert_problem(response, 400, "INVALID_REQUEST")
    assert await count_events(server.database_url) == before


async def test_a_read_with_an_impossible_date_or_a_naive_instant_is_400(client, sb_0315, saker):
    bad_per = await client.get(saker.lop, params={"per": "2025-02-30"}, headers=sb_0315)
    naive = await client.get(saker.lop, params={"kjent_per": "2025-03-03T10:00:00"}, headers=sb_0315)
    zero = await client.get(saker.lop, params={"versjon": 0}, headers=sb_0315)

    assert_problem(bad_per, 400, "INVALID_REQUEST")
    assert_problem(naive, 400, "INVALID_REQUEST")
    assert_problem(zero, 400, "INVALID_REQUEST")


def _tokens(secret: bytes) -> dict[str, dict[str, str]]:
    return {
        "no token": {},
        "a garbage token": {"Authorization": "Bearer not.a.jwt"},
        "an expired token": bearer(expired_token(secret)),
        "a token signed with another key": bearer(
            make_token(b"another-key-" + b"z" * 32, ident="Z1", roller=["SAKSBEHANDLER"], enheter=["0315"])
        ),
        "a token with an unknown role": bearer(make_token(secret, ident="Z1", roller=["KONGE"], enheter=["0315"])),
        "a Basic header": {"Authorization": "Basic WjE6cGFzc29yZA=="},
    }


@pytest.mark.parametrize(
    "which",
    ["no token", "a garbage token", "an expired token", "a token signed with another key",
     "a token with an unknown role", "a Basic header"],
)
async def test_a_request_without_a_valid_token_is_401_unauthenticated(which, client, server, saker):
    headers = _tokens(server.settings.secret("jwt"))[which]

    command = await client.post(f"{API}/tiltakslop", json=grant(), headers=headers)
    read = await client.get(saker.lop, headers=headers)

    assert_problem(command, 401, "UNAUTHENTICATED")
    assert_problem(read, 401, "UNAUTHENTICATED")
    assert command.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_token_that_expires_after_it_was_accepted_is_refused_from_then_on(client, server, saker):
    # `exp` lies 28.5 s back: inside the leeway of 30 s at first, past it two seconds later.
    short = bearer(make_token(
        server.settings.secret("jwt"), ident="Z1", roller=["SAKSBEHANDLER"], enheter=["0315"],
        gyldig=timedelta(seconds=1.5 - LEEWAY_SECONDS),
    ))
    accepted = await client.get(saker.lop, headers=short)
    assert accepted.status_code == 200, accepted.text

    await asyncio.sleep(2.1)
    expired = await client.get(saker.lop, headers=short)

    assert_problem(expired, 401, "UNAUTHENTICATED")


async def test_an_actor_outside_its_role_or_offices_is_403_before_the_body_is_judged(
    client, token, saker, server
):
    revisor = bearer(token("revisor"))
    bergen = bearer(token("saksbehandler", "4601"))
    before = await count_events(server.database_url)

    revisor_grant = await client.post(f"{API}/tiltakslop", json={"tull": True}, headers=revisor)
    other_office_grant = await client.post(f"{API}/tiltakslop", json=grant(), headers=bergen)
    other_office_command = await client.post(f"{saker.lop}/forlengelser", json={}, headers=bergen)
    other_office_read = await client.get(saker.lop, headers=bergen)
    other_office_history = await client.get(f"{saker.garanti}/historikk", headers=bergen)
    not_an_office = await client.post(f"{API}/tiltakslop", json=grant(nav_enhet="2015"), headers=bergen)
    malformed_grant = await client.post(f"{API}/tiltakslop", json=grant(tom=5, farge="blå"), headers=bergen)
    malformed_command = await client.post(f"{saker.lop}/avkorting", json={"ny_tom": "31.05.2025"}, headers=bergen)
    not_json = await client.post(
        f"{saker.garanti}/samtaler", content=b"{", headers={**bergen, "Content-Type": "application/json"}
    )
    no_body = await client.post(
        f"{saker.lop}/avkorting", content=b"", headers={**bergen, "Content-Type": "application/json"}
    )

    assert_problem(revisor_grant, 403, "FORBIDDEN")
    assert_problem(other_office_grant, 403, "FORBIDDEN")
    assert_problem(other_office_command, 403, "FORBIDDEN")
    assert_problem(other_office_read, 403, "FORBIDDEN")
    assert_problem(other_office_history, 403, "FORBIDDEN")
    assert_problem(not_an_office, 403, "FORBIDDEN")  # the office check comes before the body is judged
    assert_problem(malformed_grant, 403, "FORBIDDEN")
    assert_problem(malformed_command, 403, "FORBIDDEN")
    assert_problem(not_json, 403, "FORBIDDEN")
    assert_problem(no_body, 403, "FORBIDDEN")
    assert await count_events(server.database_url) == before


async def test_a_command_without_a_body_is_400_for_a_caller_who_may_act(client, sb_0315, saker, server):
    before = await count_events(server.database_url)

    response = await client.post(
        f"{saker.lop}/avkorting", content=b"", headers={**sb_0315, "Content-Type": "application/json"}
    )

    assert_problem(response, 400, "INVALID_REQUEST")
    assert await count_events(server.database_url) == before


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/tiltakslop/{id}"),
        ("GET", "/tiltakslop/{id}/historikk"),
        ("GET", "/tiltakslop/{id}/forlengelse"),
        ("POST", "/tiltakslop/{id}/avkorting"),
        ("POST", "/tiltakslop/{id}/overgang"),
        ("GET", "/ungdomsgarantier/{id}"),
        ("GET", "/ungdomsgarantier/{id}/historikk"),
        ("POST", "/ungdomsgarantier/{id}/samtaler"),
        ("GET", "/finnes/ikke"),
    ],
)
async def test_an_unknown_id_or_route_is_404_not_found(method, path, client, system):
    url = API + path.format(id=uuid4())
    body = {"ny_tom": "2025-03-31"} if "avkorting" in path else {}

    response = await client.request(method, url, json=body if method == "POST" else None, headers=system)

    assert_problem(response, 404, "NOT_FOUND")


async def test_concurrent_commands_on_one_lop_one_wins_and_the_others_are_409(client, sb_0315, server):
    created = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident(), tiltakstype="AFT"),
                                headers=sb_0315)
    lop_url, lop_id = created.headers["Location"], created.json()["id"]
    # Reviews are valid in any order, so every loser lost a race, not a rule. Whether requests overlap is up
    # to the scheduler: send rounds of them until one round has raced.
    conflicts: list[httpx.Response] = []
    for _round in range(5):
        before = await count_events(server.database_url, lop_id)
        bodies = [{"dato": f"2025-0{2 + d % 2}-{1 + d:02d}", "type": "AFT_STATUS_PROGRESJON", "utfall": "FORTSETTER"}
                  for d in range(20)]

        responses = await asyncio.gather(
            *(client.post(f"{lop_url}/vurderinger", json=b, headers=sb_0315) for b in bodies)
        )

        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 409}, [r.text for r in responses if r.status_code not in (200, 409)]
        assert 200 in statuses
        assert await count_events(server.database_url, lop_id) == before + statuses.count(200)
        conflicts = [r for r in responses if r.status_code == 409]
        if conflicts:
            break
    assert conflicts, "no two commands raced in five rounds of twenty"
    for r in conflicts:
        assert_problem(r, 409, "VERSION_CONFLICT")


async def test_concurrent_grants_for_one_person_one_wins_and_the_others_are_refused(client, sb_0315, server):
    ident = ny_ident()
    grants = [grant(person=person(ident)), grant(person=person(ident), tiltakstype="AFT")] * 3
    before = await count_events(server.database_url, topic="TiltakslopInnvilget")

    responses = await asyncio.gather(*(client.post(f"{API}/tiltakslop", json=g, headers=sb_0315) for g in grants))

    created = [r for r in responses if r.status_code == 201]
    assert len(created) == 1, [r.text for r in responses]
    for r in responses:
        if r.status_code != 201:
            assert r.json()["code"] in ("VERSION_CONFLICT", "OVERLAPPING_MEASURE"), r.text
            assert r.status_code == (409 if r.json()["code"] == "VERSION_CONFLICT" else 422)
    assert await count_events(server.database_url, topic="TiltakslopInnvilget") == before + 1


async def test_if_match_with_a_stale_version_is_412_and_with_the_current_one_succeeds(client, sb_0315, server):
    created = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=sb_0315)
    lop_url, lop_id = created.headers["Location"], created.json()["id"]
    etag = (await client.get(lop_url, headers=sb_0315)).headers["ETag"]
    assert etag == '"1"'
    first = await client.post(f"{lop_url}/avkorting", json={"ny_tom": "2025-06-15"}, headers={**sb_0315, "If-Match": etag})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'

    stale = await client.post(f"{lop_url}/avkorting", json={"ny_tom": "2025-06-10"}, headers={**sb_0315, "If-Match": etag})
    after_stale = await count_events(server.database_url, lop_id)
    current = await client.post(
        f"{lop_url}/avkorting", json={"ny_tom": "2025-06-10"}, headers={**sb_0315, "If-Match": first.headers["ETag"]}
    )
    star = await client.post(f"{lop_url}/avkorting", json={"ny_tom": "2025-06-05"}, headers={**sb_0315, "If-Match": "*"})

    assert_problem(stale, 412, "PRECONDITION_FAILED")
    assert after_stale == 2
    assert current.status_code == 200 and current.headers["ETag"] == '"3"'
    assert star.status_code == 200 and star.headers["ETag"] == '"4"'


EXTENSION = "/forlengelser"

REFUSALS = {
    # name: (target, suffix, body, code, limits that must be in the answer)
    "a grant past the base cap": (
        "", "/tiltakslop", grant(fom="2025-08-01", tom="2026-08-01"), "EXCEEDS_BASE_DURATION",
        {"max_tom": "2026-07-31"},
    ),
    "a grant without fom": ("", "/tiltakslop", uten(grant(), "fom"), "INVALID_DATE_RANGE", {}),
    "a grant with tom before fom": ("", "/tiltakslop", grant(tom="2025-07-01"), "INVALID_DATE_RANGE", {}),
    "a closed-ended measure without tom": ("", "/tiltakslop", grant(tom=None), "INVALID_DATE_RANGE", {}),
    "a minor without both parents' consent": (
        "", "/tiltakslop", grant(person=person(IDENT_B, "2008-01-01"), samtykke_foreldre="EN"),
        "PARENTAL_CONSENT_REQUIRED", {},
    ),
    "a minor with no consent given": (
        "", "/tiltakslop", grant(person=person(IDENT_B, "2008-01-01")), "PARENTAL_CONSENT_REQUIRED", {},
    ),
    "a varig lønnstilskudd above 75 %": (
        "", "/tiltakslop", grant(tiltakstype="VARIG_LONNSTILSKUDD", tom=None, tilskuddsprosent=80),
        "RATE_ABOVE_MAXIMUM", {"max_prosent": 75},
    ),
    "a guarantee without a needs assessment": (
        "", "/ungdomsgarantier", uten(garanti(IDENT_C), "bistandsbehov_vedtak_ref"), "NEED_ASSESSMENT_REQUIRED", {},
    ),
    "a guarantee with an empty needs assessment": (
        "", "/ungdomsgarantier", garanti(IDENT_C, bistandsbehov_vedtak_ref=""), "NEED_ASSESSMENT_REQUIRED", {},
    ),
    "a second active guarantee": ("", "/ungdomsgarantier", garanti(fom="2025-02-01"), "ALREADY_ACTIVE", {}),
    "an extension without aarsak": ("lop", EXTENSION, {"ny_tom": "2025-09-30"}, "EXTENSION_REASON_REQUIRED", {}),
    "an extension with a null aarsak": (
        "lop", EXTENSION, {"ny_tom": "2025-09-30", "aarsak": None}, "EXTENSION_REASON_REQUIRED", {},
    ),
    "an extension with an unknown aarsak": (
        "lop", EXTENSION, {"ny_tom": "2025-09-30", "aarsak": "LYST"}, "EXTENSION_REASON_NOT_ALLOWED", {},
    ),
    "an extension with a reason the measure does not take": (
        "lop", EXTENSION, {"ny_tom": "2025-09-30", "aarsak": "SAERLIGE_GRUNNER"}, "EXTENSION_REASON_NOT_ALLOWED", {},
    ),
    "an extension without ny_tom": ("lop", EXTENSION, {"aarsak": "BEHOV_VIDERE"}, "INVALID_DATE_RANGE", {}),
    "an extension past the total cap": (
        "lop", EXTENSION, {"ny_tom": "2026-07-01", "aarsak": "NEDSATT_ARBEIDSEVNE"}, "EXCEEDS_MAX_DURATION",
        {"max_tom": "2026-06-30"},
    ),
    "an end without sluttdato": ("lop", "/avslutning", {"aarsak": "FULLFORT"}, "INVALID_DATE_RANGE", {}),
    "a shortening without ny_tom": ("lop", "/avkorting", {}, "INVALID_DATE_RANGE", {}),
    "an annulment without begrunnelse": ("lop", "/annullering", {}, "BEGRUNNELSE_REQUIRED", {}),
    "a varig rate above 75 %": ("vlt", "/tilskuddssats", {"prosent": 76, "fom": "2025-03-01"},
                                "RATE_ABOVE_MAXIMUM", {"max_prosent": 75}),
    "a leave longer than six months": (
        "vta", "/permisjoner", {"fom": "2025-04-01", "tom": "2025-10-01", "type": "HOSPITERING"}, "LEAVE_TOO_LONG", {},
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
async def test_a_refusal_by_the_rule_catalogue_is_422_with_its_code_and_limit_and_stores_nothing(
    case, client, sb_0315, saker, server
):
    target, suffix, body, code, limits = REFUSALS[case]
    url = f"{API}{suffix}" if not target else getattr(saker, target) + suffix
    before = await count_events(server.database_url)

    response = await client.post(url, json=body, headers=sb_0315)

    problem = assert_problem(response, 422, code)
    for key, value in limits.items():
        assert problem[key] == value, problem
    assert await count_events(server.database_url) == before


CLOSED_LOP_COMMANDS = {
    "forlengelser": {},
    "avkorting": {},
    "malgruppe": {},
    "vurderinger": {},
    "tilskuddssats": {},
    "permisjoner": {},
    "avslutning": {},
    "annullering": {},
    "overgang": {"sluttdato": "2025-05-31", "til": {}},
}


@pytest.mark.parametrize("command", list(CLOSED_LOP_COMMANDS))
async def test_a_command_on_a_lop_ended_ahead_of_today_is_lop_closed_before_any_other_rule(
    command, client, sb_0315, saker, server
):
    read = await client.get(saker.closed_lop, headers=sb_0315)
    assert read.json()["status"] == "AKTIV" and read.json()["sluttdato"] == "2025-05-31"
    before = await count_events(server.database_url)

    response = await client.post(f"{saker.closed_lop}/{command}", json=CLOSED_LOP_COMMANDS[command], headers=sb_0315)

    assert_problem(response, 422, "LOP_CLOSED")
    assert await count_events(server.database_url) == before


async def test_a_correction_is_accepted_on_a_closed_lop(client, sb_0315):
    created = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=sb_0315)
    lop_url = created.headers["Location"]
    await client.post(f"{lop_url}/avslutning", json={"sluttdato": "2025-05-31", "aarsak": "AVBRUTT"}, headers=sb_0315)

    corrected = await client.post(
        f"{lop_url}/korrigeringer", json={"sluttdato": "2025-04-30", "begrunnelse": "feil dato"}, headers=sb_0315
    )

    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["sluttdato"] == "2025-04-30"


@pytest.mark.parametrize(
    "command,body",
    [
        ("kontaktperson", {}),
        ("samtaler", {}),
        ("aktiviteter", {}),
        ("avslutning", {}),
    ],
)
async def test_a_command_on_an_ended_guarantee_is_guarantee_closed_before_any_other_rule(
    command, body, client, sb_0315, saker, server
):
    before = await count_events(server.database_url)

    response = await client.post(f"{saker.closed_garanti}/{command}", json=body, headers=sb_0315)

    assert_problem(response, 422, "GUARANTEE_CLOSED")
    assert await count_events(server.database_url) == before


async def test_concurrent_guarantees_for_one_person_one_wins_and_the_others_are_refused(client, sb_0315, server):
    body = garanti(ny_ident())
    before = await count_events(server.database_url, topic="UngdomsgarantiInnvilget")

    responses = await asyncio.gather(*(client.post(f"{API}/ungdomsgarantier", json=body, headers=sb_0315)
                                       for _ in range(5)))

    assert [r.status_code for r in responses].count(201) == 1, [r.text for r in responses]
    for r in responses:
        if r.status_code != 201:
            assert (r.status_code, r.json()["code"]) in ((409, "VERSION_CONFLICT"), (422, "ALREADY_ACTIVE")), r.text
    assert await count_events(server.database_url, topic="UngdomsgarantiInnvilget") == before + 1
