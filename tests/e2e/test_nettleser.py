"""Conditional reads, HEAD and CORS (contract.md §1 "Browsers", §2): what a browser client on another origin
and a caching client rely on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from api.conditional import none_match
from tests.e2e.conftest import API, Server, arbeidstrening, garanti, serve

ORIGIN = "https://saksbehandling.intern.nav.no"


@pytest.fixture
async def server(settings) -> AsyncIterator[Server]:
    async with serve(replace(settings, cors_origins=(ORIGIN, "http://localhost:5173"))) as s:
        yield s


async def test_if_none_match_naming_the_current_version_is_304_with_the_etag_and_no_body(client, sb_0315):
    lop = (await client.post(f"{API}/tiltakslop", json=arbeidstrening(), headers=sb_0315)).json()
    ug = (await client.post(f"{API}/ungdomsgarantier", json=garanti(), headers=sb_0315)).json()
    url, ug_url = f"{API}/tiltakslop/{lop['id']}", f"{API}/ungdomsgarantier/{ug['id']}"

    same = await client.get(url, headers={**sb_0315, "If-None-Match": '"1"'})
    weak = await client.get(ug_url, headers={**sb_0315, "If-None-Match": 'W/"1"'})
    history = await client.get(f"{url}/historikk", headers={**sb_0315, "If-None-Match": '"7", "1"'})
    await client.post(f"{url}/avkorting", json={"ny_tom": lop["fom"]}, headers=sb_0315)
    stale = await client.get(url, headers={**sb_0315, "If-None-Match": '"1"'})

    for r in (same, weak, history):
        assert r.status_code == 304, r.text
        assert r.headers["etag"] == '"1"' and r.content == b""
        assert "content-type" not in r.headers
    assert stale.status_code == 200 and stale.headers["etag"] == '"2"' and stale.json()["id"] == lop["id"]


async def test_if_none_match_does_not_get_round_access_checks(client, sb_0315, token):
    lop = (await client.post(f"{API}/tiltakslop", json=arbeidstrening(), headers=sb_0315)).json()
    other_office = {"Authorization": f"Bearer {token('saksbehandler', '4601')}", "If-None-Match": '"1"'}

    refused = await client.get(f"{API}/tiltakslop/{lop['id']}", headers=other_office)
    anonymous = await client.head(f"{API}/tiltakslop/{lop['id']}")

    assert refused.status_code == 403
    assert anonymous.status_code == 401


async def test_every_get_route_answers_head_with_the_gets_headers_and_no_body(client, sb_0315, system):
    lop = (await client.post(f"{API}/tiltakslop", json=arbeidstrening(), headers=sb_0315)).json()
    for path, headers in [
        (f"{API}/tiltakslop/{lop['id']}", sb_0315),
        (f"{API}/tiltakslop/{lop['id']}/historikk", sb_0315),
        (f"{API}/tiltakslop/{lop['id']}/forlengelse", sb_0315),
        (f"{API}/frister?enhet=0315", sb_0315),
        (f"{API}/hendelser", system),
        ("/health/live", {}),
        ("/schema/openapi.json", {}),
    ]:
        get = await client.get(path, headers=headers)
        head = await client.head(path, headers=headers)

        assert head.status_code == get.status_code == 200, (path, head.status_code, get.status_code)
        assert head.content == b"", path
        assert head.headers.get("etag") == get.headers.get("etag"), path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert int(head.headers["content-length"]) > 0, path
    cached = await client.head(f"{API}/tiltakslop/{lop['id']}", headers={**sb_0315, "If-None-Match": '"1"'})
    assert cached.status_code == 304 and cached.headers["etag"] == '"1"'


async def test_cors_allows_only_the_configured_origins_and_answers_the_preflight(client, sb_0315):
    preflight = await client.options(f"{API}/tiltakslop", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, if-match, if-none-match, idempotency-key",
    })
    foreign = await client.options(f"{API}/tiltakslop", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    })
    made = await client.post(f"{API}/tiltakslop", json=arbeidstrening(), headers={**sb_0315, "Origin": ORIGIN})
    read_elsewhere = await client.get(made.headers["location"], headers={**sb_0315, "Origin": "https://evil.example"})

    assert preflight.status_code in (200, 204), preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "if-match", "if-none-match", "idempotency-key", "content-type"} <= allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert foreign.status_code == 400 and "access-control-allow-origin" not in foreign.headers
    assert made.status_code == 201 and made.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip().lower() for h in made.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "location"} <= exposed
    assert "access-control-allow-origin" not in read_elsewhere.headers


async def test_without_configured_origins_no_cors_headers_are_sent(settings):
    async with serve(settings) as s, httpx.AsyncClient(base_url=s.url, trust_env=False) as c:
        preflight = await c.options(f"{API}/tiltakslop", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        read = await c.get("/health/live", headers={"Origin": ORIGIN})

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in read.headers


def test_none_match_compares_weakly_and_knows_star():
    assert none_match('"3"', '"3"') and none_match('W/"3"', '"3"') and none_match('"1", "3"', '"3"')
    assert none_match("*", '"9"')
    assert not none_match('"4"', '"3"') and not none_match(None, '"3"') and not none_match('"3"', None)
