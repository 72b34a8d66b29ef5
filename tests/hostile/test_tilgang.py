"""Access is judged on every request (contract.md §2): an idempotent repeat by a caller who may not act on the
case now is 403 and reveals nothing; a correction that moves a case to another office needs both offices; a
case outside one's offices is 403 on every path and query, never a 404 or 410 that tells it exists."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.e2e.conftest import API, Token, arbeidstrening, bearer, count_events, garanti, ny_ident


def assert_forbidden(response: httpx.Response, *secrets: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "FORBIDDEN"
    for secret in secrets:
        assert secret not in response.text


async def test_a_repeated_grant_is_403_to_a_caller_without_the_cases_office_and_reveals_nothing(
    client: httpx.AsyncClient, token: Token, server: Any
) -> None:
    ident = ny_ident()
    key = {"Idempotency-Key": f"k-{uuid4()}"}
    first = await client.post(
        f"{API}/tiltakslop", json=arbeidstrening(ident, nav_enhet="0301"),
        headers=bearer(token("saksbehandler", "0301")) | key,
    )  # fmt: skip
    assert first.status_code == 201, first.text
    lop_id = first.json()["id"]
    stored = await count_events(server.database_url)
    other = bearer(token("saksbehandler", "0315"))
    for body in (arbeidstrening(ident, nav_enhet="0301"), arbeidstrening(ident), arbeidstrening(ny_ident())):
        assert_forbidden(await client.post(f"{API}/tiltakslop", json=body, headers=other | key), ident, lop_id)
    for body in (garanti(ident), garanti(ny_ident())):
        assert_forbidden(await client.post(f"{API}/ungdomsgarantier", json=body, headers=other | key), ident, lop_id)
    stranger = bearer(token("saksbehandler", "0315", ident="Z770077"))
    assert_forbidden(await client.post(f"{API}/tiltakslop", json=arbeidstrening(ident), headers=stranger | key))
    assert await count_events(server.database_url) == stored


async def test_a_repeated_change_is_403_to_a_caller_without_the_cases_office(
    client: httpx.AsyncClient, token: Token
) -> None:
    oslo = bearer(token("saksbehandler", "0301"))
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident(), nav_enhet="0301"), headers=oslo)
    key = {"Idempotency-Key": f"k-{uuid4()}"}
    body = {"ny_tom": "2025-09-30", "aarsak": "BEHOV_VIDERE"}
    first = await client.post(f"{lop.headers['Location']}/forlengelser", json=body, headers=oslo | key)
    assert first.status_code == 200, first.text
    other = bearer(token("saksbehandler", "0315"))
    again = await client.post(f"{lop.headers['Location']}/forlengelser", json=body, headers=other | key)
    assert_forbidden(again, lop.json()["person"]["ident"])


async def test_a_repeat_after_the_case_moved_away_is_403(client: httpx.AsyncClient, token: Token) -> None:
    both = bearer(token("saksbehandler", "0315", "0301"))
    key = {"Idempotency-Key": f"k-{uuid4()}"}
    ident = ny_ident()
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ident), headers=both | key)
    assert lop.status_code == 201, lop.text
    moved = await client.post(
        f"{lop.headers['Location']}/korrigeringer", json={"nav_enhet": "0301", "begrunnelse": "flyttet"}, headers=both
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["nav_enhet"] == "0301"
    only_0315 = bearer(token("saksbehandler", "0315"))
    again = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ident), headers=only_0315 | key)
    assert_forbidden(again, ident)
    assert (await client.post(f"{API}/tiltakslop", json=arbeidstrening(ident), headers=both | key)).status_code == 201


@pytest.mark.parametrize(
    ("resource", "body"),
    [("tiltakslop", arbeidstrening), ("ungdomsgarantier", lambda ident: garanti(ident, fodselsdato="2004-04-04"))],
)
async def test_a_correction_that_moves_a_case_needs_both_offices(
    resource: str, body: Any, client: httpx.AsyncClient, token: Token, server: Any
) -> None:
    own = bearer(token("saksbehandler", "0315"))
    case = await client.post(f"{API}/{resource}", json=body(ny_ident()), headers=own)
    assert case.status_code == 201, case.text
    before = await count_events(server.database_url, case.json()["id"])
    move = {"nav_enhet": "4601", "begrunnelse": "flyttet"}
    assert_forbidden(await client.post(f"{case.headers['Location']}/korrigeringer", json=move, headers=own))
    assert await count_events(server.database_url, case.json()["id"]) == before
    assert (await client.get(case.headers["Location"], headers=own)).json()["nav_enhet"] == "0315"
    only_new = bearer(token("saksbehandler", "4601"))
    assert_forbidden(await client.post(f"{case.headers['Location']}/korrigeringer", json=move, headers=only_new))
    both = bearer(token("saksbehandler", "0315", "4601"))
    moved = await client.post(f"{case.headers['Location']}/korrigeringer", json=move, headers=both)
    assert moved.status_code == 200, moved.text
    assert moved.json()["nav_enhet"] == "4601"


async def test_a_case_outside_ones_offices_is_403_on_every_path_and_query(client: httpx.AsyncClient, token: Token) -> None:
    own = bearer(token("saksbehandler", "0315"))
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=own)
    ug = await client.post(f"{API}/ungdomsgarantier", json=garanti(ny_ident(), fodselsdato="2004-04-04"), headers=own)
    assert lop.status_code == ug.status_code == 201
    other = bearer(token("saksbehandler", "4601"))
    queries = [
        {}, {"versjon": "1"}, {"versjon": "99"}, {"versjon": str(2**63 - 1)}, {"per": "2025-04-01"},
        {"kjent_per": "2000-01-01T00:00:00Z"}, {"kjent_per": "2999-01-01T00:00:00Z"},
    ]  # fmt: skip
    for case in (lop, ug):
        url = case.headers["Location"]
        for params in queries:
            assert_forbidden(await client.get(url, params=params, headers=other), case.json()["person"]["ident"])
            assert (await client.head(url, params=params, headers=other)).status_code == 403
        for suffix in ("/historikk", "/historikk/eksport", "/historikk/eksport?format=html"):
            assert_forbidden(await client.get(url + suffix, headers=other))
    assert_forbidden(await client.get(f"{lop.headers['Location']}/forlengelse", headers=other))
    for params in ({"enhet": "0315"}, {"enhet": ["4601", "0315"]}):
        for path in ("/frister", "/varsler"):
            assert_forbidden(await client.get(API + path, params=params, headers=other))


@pytest.mark.parametrize("path", ["/tiltakslop/x{}", "/tiltakslop/id_{}", "/ungdomsgarantier/{}x/historikk", "/{}"])
async def test_an_identifier_glued_to_a_letter_in_a_path_is_not_echoed_in_the_error(
    path: str, client: httpx.AsyncClient, token: Token
) -> None:
    ident = ny_ident()
    response = await client.get(API + path.format(ident), headers=bearer(token("saksbehandler", "0315")))
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert ident not in response.text
    assert "*" * 11 in response.json()["instance"]
