"""No event larger than NATS takes is ever written (issue 16: one ~1 MiB `begrunnelse` stalled the relay for
every office): the store refuses the whole save with a problem+json, before anything of it is written."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from store.settings import NATS_ENVELOPE_HEADROOM, Settings, load_settings
from tests.e2e.conftest import API, Server, Token, arbeidstrening, bearer, count_events, ny_ident, serve

SMALL_NATS = NATS_ENVELOPE_HEADROOM + 8 * 1024  # a server whose max_payload leaves 8 KiB for an event


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    async with serve(dataclasses.replace(settings, nats_max_payload=SMALL_NATS)) as s:
        yield s


def test_the_limit_is_the_nats_max_payload_less_the_envelope_headroom() -> None:
    assert load_settings(environ={}).max_event_bytes == 1024 * 1024 - NATS_ENVELOPE_HEADROOM
    small = load_settings(environ={"FORLOP_NATS_MAX_PAYLOAD": str(SMALL_NATS)})
    assert small.max_event_bytes == 8 * 1024


async def test_an_event_over_the_nats_limit_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, token: Token, server: Server
) -> None:
    sb = bearer(token("saksbehandler", "0315"))
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=sb)
    assert lop.status_code == 201, lop.text
    before = await count_events(server.database_url)
    big = {"vedtak_ref": "V-2", "begrunnelse": "☃" * 4000}  # 12 kB of UTF-8, within its 4,000 characters
    key = {"Idempotency-Key": "stor-hendelse"}
    refused = await client.post(f"{lop.headers['Location']}/korrigeringer", json=big, headers=sb | key)
    assert refused.status_code == 413, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "PAYLOAD_TOO_LARGE"
    assert problem["max_bytes"] == 8 * 1024 and problem["storrelse_bytes"] > 8 * 1024
    assert await count_events(server.database_url) == before
    # The key was not spent on the refusal, and a command of ordinary size goes through.
    small = {"vedtak_ref": "V-2", "begrunnelse": "skrivefeil"}
    accepted = await client.post(f"{lop.headers['Location']}/korrigeringer", json=small, headers=sb | key)
    assert accepted.status_code == 200, accepted.text
    assert await count_events(server.database_url) == before + 1
