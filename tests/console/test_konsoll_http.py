"""What the API process serves for the console (api/console.py), over HTTP against the real app: the app
shell on every path of the console, the sign-in configuration, the dev issuer's token (and no such token
behind a login proxy), and a clear problem+json when the console is not built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import api.console
from tests.conftest import ny_database
from tests.console.conftest import konsoll_settings
from tests.e2e.conftest import Server, serve

PROBLEM = "application/problem+json"


@pytest.fixture
async def dev(konsoll_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """The module's app with the dev issuer (no key from configuration)."""
    async with httpx.AsyncClient(base_url=konsoll_server.url, trust_env=False) as c:
        yield c


@pytest.fixture
async def bak_proxy(postgres_server_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    """A deployment's key from configuration: the console expects the login proxy's tokens."""
    async with ny_database(postgres_server_url) as url:
        settings = konsoll_settings(url, nats_url, tmp_path, FORLOP_JWT_SECRET="deploy-" + "k" * 40)
        async with serve(settings) as s:
            async with httpx.AsyncClient(base_url=s.url, trust_env=False) as c:
                yield s, c


async def test_every_path_of_the_console_is_the_app_shell_with_a_policy_that_keeps_it_on_the_instance(
    dev: httpx.AsyncClient,
) -> None:
    for sti in ("/konsoll/", "/konsoll", "/konsoll/frister", "/konsoll/tiltakslop/3f1e4a9a-0000-4000-8000-000000000001"):
        r = await dev.get(sti, follow_redirects=True)
        assert r.status_code == 200, (sti, r.text)
        assert r.headers["content-type"].startswith("text/html")
        assert '<div id="root">' in r.text and "/konsoll/assets/" in r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "connect-src 'self'" in r.headers["content-security-policy"]
    skript = r.text.split('src="', 1)[1].split('"', 1)[0]
    asset = await dev.get(skript)
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    assert "immutable" in asset.headers["cache-control"]
    mangler = await dev.get("/konsoll/assets/finnes-ikke.js")
    assert mangler.status_code == 404 and mangler.headers["content-type"] == PROBLEM
    assert mangler.json()["code"] == "NOT_FOUND"


async def test_the_dev_issuer_signs_a_token_the_api_accepts(dev: httpx.AsyncClient) -> None:
    assert (await dev.get("/konsoll/config.json")).json() == {"innlogging": "utvikling"}
    r = await dev.post("/konsoll/dev-token", json={"rolle": "saksbehandler", "enheter": ["0315"], "ident": "Z990001"})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await dev.get("/konsoll/meg", headers=auth)).json() == {
        "ident": "Z990001", "roller": ["SAKSBEHANDLER"], "enheter": ["0315"],
    }
    assert (await dev.get("/api/v1/frister", headers=auth)).status_code == 200
    annet = await dev.get("/api/v1/frister", params={"enhet": "4601"}, headers=auth)
    assert annet.status_code == 403  # the token carries the offices chosen, no more


async def test_a_bad_sign_in_is_400_and_no_token_is_401(dev: httpx.AsyncClient) -> None:
    for kropp in ({"rolle": "sjef"}, {"rolle": "revisor", "enheter": ["15"]}, {"rolle": "revisor", "ident": ""},
                  {"rolle": "revisor", "ekstra": 1}):
        r = await dev.post("/konsoll/dev-token", json=kropp)
        assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST", (kropp, r.text)
    meg = await dev.get("/konsoll/meg")
    assert meg.status_code == 401 and meg.json()["code"] == "UNAUTHENTICATED"


async def test_behind_the_login_proxy_there_is_no_dev_token(bak_proxy: tuple[Server, httpx.AsyncClient]) -> None:
    _, c = bak_proxy
    assert (await c.get("/konsoll/config.json")).json() == {"innlogging": "proxy"}
    r = await c.post("/konsoll/dev-token", json={"rolle": "system"})
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM and r.json()["code"] == "NOT_FOUND"


async def test_without_a_build_the_console_answers_503_problem_json(
    dev: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.console, "KANDIDATER", [tmp_path / "ingen-dist"])
    for sti in ("/konsoll/", "/konsoll/frister"):
        r = await dev.get(sti)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "CONSOLE_NOT_BUILT" and "make install" in r.json()["detail"]
    assert (await dev.get("/konsoll/config.json")).status_code == 200  # the rest still answers
