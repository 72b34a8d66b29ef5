"""Conditional reads, HEAD and CORS (contract.md §1 "Browsers" and §2): a client that holds the current version
gets 304 and no body; every GET route answers HEAD; only configured origins pass CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.identity import make_token
from store.settings import load_settings
from tests.e2e.conftest import API, JWT_SECRET, Server, arbeidstrening, bearer, garanti, ny_ident, serve

HEADERS = bearer(make_token(JWT_SECRET.encode(), ident="Z990001", roller=["SAKSBEHANDLER"], enheter=["0315"]))
ORIGIN = "https://saksbehandling.intern.nav.no"


@pytest.fixture
async def browser_server(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    settings = load_settings(
        environ={
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "FORLOP_JWT_SECRET": JWT_SECRET,
            "FORLOP_PERSON_KEY": "e2e-person-key-" + "y" * 32,
            "FORLOP_CORS_ORIGINS": f"{ORIGIN}, http://localhost:5173",
        },
        data_dir=tmp_path,
    )
    async with serve(settings) as s:
        yield s


async def test_if_none_match_with_the_current_version_is_304_without_a_body(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as c:
        made = await c.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()))
        g = await c.post(f"{API}/ungdomsgarantier", json=garanti(ny_ident()))
        assert made.status_code == 201 and g.status_code == 201, (made.text, g.text)
        for url in (made.headers["Location"], g.headers["Location"], made.headers["Location"] + "/historikk"):
            first = await c.get(url)
            etag = first.headers["ETag"]
            same = await c.get(url, headers={"If-None-Match": etag})
            assert same.status_code == 304 and same.content == b"" and same.headers["ETag"] == etag, url
            assert "content-type" not in same.headers
            listed = await c.get(url, headers={"If-None-Match": f'"999", W/{etag}'})
            assert listed.status_code == 304
            star = await c.get(url, headers={"If-None-Match": "*"})
            assert star.status_code == 304
            stale = await c.get(url, headers={"If-None-Match": '"0"'})
            assert stale.status_code == 200 and stale.json() == first.json()

        # After a change the old tag no longer matches: the new state comes back.
        lop = made.headers["Location"]
        old = (await c.get(lop)).headers["ETag"]
        changed = await c.post(f"{lop}/forlengelser", headers={"If-Match": old},
                               json={"ny_tom": "2025-12-31", "aarsak": "BEHOV_VIDERE", "begrunnelse": "Trenger mer tid"})
        assert changed.status_code == 200, changed.text
        again = await c.get(lop, headers={"If-None-Match": old})
        assert again.status_code == 200 and again.headers["ETag"] != old

        # Only a 200 becomes a 304: a refusal stays a refusal.
        other = await c.get(lop, headers={**bearer(make_token(JWT_SECRET.encode(), ident="Z2", roller=["SAKSBEHANDLER"],
                                                               enheter=["4601"])), "If-None-Match": "*"})
        assert other.status_code == 403


async def test_every_get_route_answers_head_with_the_gets_headers_and_no_body(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as c:
        lop = (await c.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()))).headers["Location"]
        document = (await c.get("/schema/openapi.json")).json()
        gets = [p for p, ops in document["paths"].items() if "get" in ops and "{" not in p]
        assert len(gets) >= 5
        for path in [*gets, lop, f"{lop}/historikk", "/health/live"]:
            got, head = await c.get(path), await c.head(path)
            assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
            assert head.content == b"", path
            assert head.headers.get("content-type") == got.headers.get("content-type"), path
            if got.status_code == 200 and "ETag" in got.headers:
                assert head.headers["ETag"] == got.headers["ETag"]
        unsigned = await c.head(lop, headers={"Authorization": ""})
        assert unsigned.status_code == 401 and unsigned.content == b""


async def test_cors_allows_only_the_configured_origins(browser_server: Server) -> None:
    async with httpx.AsyncClient(base_url=browser_server.url) as c:
        preflight = await c.options(f"{API}/tiltakslop", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, if-match, idempotency-key, if-none-match",
        })
        assert preflight.status_code in (200, 204), preflight.text
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "if-match", "if-none-match", "idempotency-key"} <= allowed
        read = await c.get(f"{API}/frister", headers={**HEADERS, "Origin": ORIGIN})
        assert read.status_code == 200 and read.headers["access-control-allow-origin"] == ORIGIN
        assert "etag" in read.headers["access-control-expose-headers"].lower()

        foreign = await c.options(f"{API}/tiltakslop", headers={
            "Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in foreign.headers
        read = await c.get(f"{API}/frister", headers={**HEADERS, "Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in read.headers


async def test_without_configured_origins_no_cors_header_is_sent(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as c:
        read = await c.get(f"{API}/frister", headers={**HEADERS, "Origin": ORIGIN})
        assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
