"""The documentation pages under /schema in Chromium: each renders the document, and not one request leaves
the instance (the guard of tests/console/conftest.py refuses and records any other host): no script, style,
font or icon from a CDN, so the pages work on a network without internet."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import ny_database
from tests.console.conftest import Nettleser, konsoll_settings, ny_side
from tests.e2e.conftest import Server, serve

PAGES = ["/schema", "/schema/redoc", "/schema/swagger", "/schema/elements", "/schema/rapidoc"]


@pytest.fixture(scope="module")
async def konsoll_server(
    postgres_server_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    """The app without the console's build: these pages do not need it."""
    async with ny_database(postgres_server_url, "schemasider") as url:
        async with serve(konsoll_settings(url, nats_url, tmp_path_factory.mktemp("schema-data"))) as s:
            yield s


@pytest.mark.parametrize("path", PAGES)
async def test_the_page_renders_the_document_with_nothing_from_outside(nettleser: Nettleser, path: str) -> None:
    nettleser.vakt.fremmede.clear()
    nettleser.vakt.forespørsler.clear()
    side = await ny_side(nettleser)
    feil: list[str] = []
    side.on("pageerror", lambda e: feil.append(str(e)))

    await side.goto(f"{nettleser.base}{path}")
    await side.get_by_text("Case lifecycles for NAV").first.wait_for()
    await side.wait_for_load_state("networkidle")

    assert nettleser.vakt.fremmede == [], nettleser.vakt.fremmede
    assert feil == []
    assert any(r["path"].startswith("/schema/assets/") for r in nettleser.vakt.forespørsler)
    await side.close()
