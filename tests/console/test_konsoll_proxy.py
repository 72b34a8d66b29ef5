"""The console behind a login proxy (Wonderwall on NAV's platform): no login form, no token of its own; the
proxy, played here by the browser's request routing, adds the user's token to every request it forwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Playwright, Route, expect

from api.identity import make_token
from tests.conftest import ny_database
from tests.console.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ingen_alvorlige_brudd,
    konsoll_settings,
    skjermbilde,
)
from tests.e2e.conftest import Server, serve


@pytest.fixture(scope="module")
async def proxy_server(
    konsoll_bygget: None, postgres_server_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    async with ny_database(postgres_server_url, "konsoll_proxy") as url:
        settings = konsoll_settings(
            url, nats_url, tmp_path_factory.mktemp("konsoll-proxy"), FORLOP_JWT_SECRET="deploy-" + "k" * 40
        )
        async with serve(settings) as s:
            yield s


async def test_behind_the_proxy_the_console_shows_no_login_and_sends_no_token_of_its_own(
    playwright: Playwright, proxy_server: Server, skjermbilder: Path
) -> None:
    brukerens_token = make_token(proxy_server.settings.secret("jwt"), ident="Z994242", roller=["SAKSBEHANDLER"], enheter=["4601"])
    fra_siden: list[tuple[str, str | None]] = []
    fremmede: list[str] = []

    async def wonderwall(route: Route) -> None:
        deler = urlsplit(route.request.url)
        if f"{deler.scheme}://{deler.netloc}" != proxy_server.url:
            fremmede.append(route.request.url)
            await route.abort("blockedbyclient")
            return
        headers = dict(route.request.headers)
        fra_siden.append((deler.path, headers.get("authorization")))
        await route.continue_(headers={**headers, "authorization": f"Bearer {brukerens_token}"})

    profil = tempfile.mkdtemp(prefix="forlop-chromium-")
    context = await playwright.chromium.launch_persistent_context(
        profil, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900}
    )
    try:
        await context.route("**/*", wonderwall)
        side = await context.new_page()
        side.set_default_timeout(15_000)
        await side.goto(f"{proxy_server.url}/konsoll/")
        await expect(side.get_by_role("heading", name="Frister", exact=True)).to_be_visible()
        await expect(side.get_by_text("Z994242")).to_be_visible()
        await expect(side.get_by_role("heading", name="Logg inn (utvikling)")).to_have_count(0)
        await expect(side.get_by_role("button", name="Logg inn")).to_have_count(0)
        await expect(side.get_by_role("link", name="Logg ut")).to_have_attribute("href", "/oauth2/logout")
        await ingen_alvorlige_brudd(side, "frister bak proxy")
        await skjermbilde(side, skjermbilder, "15-frister-bak-proxy")
    finally:
        await context.close()
        shutil.rmtree(profil, ignore_errors=True)

    api_kall = [(sti, auth) for sti, auth in fra_siden if sti.startswith("/api/v1/") or sti == "/konsoll/meg"]
    assert {"/konsoll/meg", "/api/v1/frister"} <= {sti for sti, _ in api_kall}
    assert all(auth is None for _, auth in fra_siden), fra_siden
    assert not fremmede, fremmede
