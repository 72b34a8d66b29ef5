"""Browser tests of the console: Debian's Chromium (/usr/bin/chromium) driven by Playwright against the real
app under uvicorn with real PostgreSQL and NATS (tests/e2e/conftest.py's `serve`), one app per module.

Chromium runs headless with its background services off and a fresh profile, and every request the page
makes goes through `Vakt`: anything not for the instance itself is recorded and refused, and each test
checks that nothing was. Screenshots of every page go under the session's temporary directory (printed at
the end); with FORLOP_SKJERMBILDER_DOCS=1 the board and a løp's page are also copied into docs/.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import BrowserContext, Page, Playwright, Route, async_playwright

from store.settings import Settings, load_settings
from tests.conftest import ny_database
from tests.console.bygg import sikre_bygget
from tests.e2e import conftest as e2e
from tests.e2e.conftest import Server, serve

nats_url = e2e.nats_url  # the same session fixture: one embedded NATS server for these tests too

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TODAY = date(2025, 3, 3)
PERSON_KEY = "konsoll-person-key-" + "p" * 32


def konsoll_settings(database_url: str, nats_url: str, data_dir: Path, **env: str) -> Settings:
    """Settings of a console test: no FORLOP_JWT_SECRET, so the dev issuer's key under `data_dir` signs."""
    return load_settings(
        environ={"DATABASE_URL": database_url, "NATS_URL": nats_url, "FORLOP_PERSON_KEY": PERSON_KEY, **env},
        data_dir=data_dir,
        today=TODAY,
    )


@pytest.fixture(scope="session")
def konsoll_bygget() -> None:
    sikre_bygget()


AXE_FUNN: dict[str, dict[str, int]] = {}  # page → axe violations below "serious", by impact


@pytest.fixture(scope="session")
def skjermbilder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    mappe = tmp_path_factory.mktemp("konsoll-skjermbilder")
    yield mappe
    print(f"\nkonsoll: screenshots of every page in {mappe}")
    mindre = {side: funn for side, funn in AXE_FUNN.items() if funn}
    print(f"konsoll: axe-core on {len(AXE_FUNN)} pages: no serious or critical violation; minor/moderate: {mindre or 'none'}")


@pytest.fixture(scope="module")
async def konsoll_server(
    konsoll_bygget: None, postgres_server_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    async with ny_database(postgres_server_url, "konsoll") as url:
        settings = konsoll_settings(url, nats_url, tmp_path_factory.mktemp("konsoll-data"))
        async with serve(settings) as s:
            yield s


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium (apt-get install -y chromium)")
    async with async_playwright() as p:
        yield p


@dataclass
class Vakt:
    """Every request of the browser: the instance's go through, any other host is refused and recorded."""

    tillatt: str  # scheme://host:port of the instance
    fremmede: list[str] = field(default_factory=list)
    forespørsler: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, route: Route) -> None:
        request = route.request
        deler = urlsplit(request.url)
        if f"{deler.scheme}://{deler.netloc}" != self.tillatt:
            self.fremmede.append(request.url)
            await route.abort("blockedbyclient")
            return
        self.forespørsler.append(
            {"method": request.method, "path": deler.path, "headers": dict(request.headers), "body": request.post_data}
        )
        await route.continue_()


@dataclass
class Nettleser:
    context: BrowserContext
    vakt: Vakt
    base: str


@pytest.fixture(scope="module")
async def nettleser(
    playwright: Playwright, konsoll_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Nettleser]:
    """Chromium with a fresh profile; each `ny_side` is a tab of its own (its own sessionStorage: its own
    sign-in)."""
    profil = tempfile.mkdtemp(prefix="forlop-chromium-")
    context = await playwright.chromium.launch_persistent_context(
        profil,
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
        locale="nb-NO",
        timezone_id="Europe/Oslo",
    )
    vakt = Vakt(konsoll_server.url)
    await context.route("**/*", vakt)
    try:
        yield Nettleser(context, vakt, konsoll_server.url)
    finally:
        await context.close()
        shutil.rmtree(profil, ignore_errors=True)


async def ny_side(n: Nettleser) -> Page:
    side = await n.context.new_page()
    side.set_default_timeout(15_000)
    return side


async def logg_inn(side: Page, base: str, rolle: str = "Saksbehandler", enheter: str = "0315", ident: str = "Z990001") -> None:
    await side.goto(f"{base}/konsoll/")
    await side.get_by_role("heading", name="Logg inn (utvikling)").wait_for()
    await side.get_by_label("Rolle").select_option(label=rolle)
    await side.get_by_label("Enheter").fill(enheter)
    await side.get_by_label("NAV-ident").fill(ident)
    await side.get_by_role("button", name="Logg inn").click()
    await side.get_by_role("heading", name="Frister", exact=True).wait_for()


AXE = Axe()


async def ingen_alvorlige_brudd(side: Page, navn: str) -> dict[str, int]:
    """axe-core on the page as it is: no serious or critical violation. Returns the counts by impact."""
    resultat = await AXE.run(side)
    brudd = resultat.response["violations"]
    alvorlige = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in brudd
        if v["impact"] in ("serious", "critical")
    ]
    assert not alvorlige, f"axe on {navn}: " + "; ".join(alvorlige)
    telling: dict[str, int] = {}
    for v in brudd:
        telling[f"{v['id']} ({v['impact']})"] = len(v["nodes"])
    AXE_FUNN[navn] = telling
    return telling


async def skjermbilde(side: Page, mappe: Path, navn: str) -> Path:
    fil = mappe / f"{navn}.png"
    await side.screenshot(path=str(fil), full_page=True)
    return fil
