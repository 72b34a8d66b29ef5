"""examples/subscriber.py against the real stack (the API with its projections and the event relay of
`forlop up`, real PostgreSQL and a NATS server of its own): every event applied once and in order per aggregate, a duplicate without
`Nats-Msg-Id` skipped, a message lost from the stream found as a gap by `versjon` and filled from
GET /hendelser, and a restart resuming from the durable consumer and the saved state."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js.errors import NotFoundError

from api.identity import make_token
from examples.subscriber import STREAM, SchemaError, Schemas, State, Subscriber, subject_of
from store.settings import load_settings
from tests.conftest import ny_database
from tests.e2e.conftest import API, TODAY, Server, arbeidstrening, free_port, garanti, serve
from workers import registry
from workers.embedded_nats import start_nats, stop_nats
from workers.relay import Relay


async def _stream_messages(js: Any, count: int) -> list[tuple[int, dict[str, Any]]]:
    for _ in range(200):
        info = await js.stream_info(STREAM)
        if info.state.messages >= count:
            break
        await asyncio.sleep(0.1)
    info = await js.stream_info(STREAM)
    assert info.state.messages >= count, info.state
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            found.append((seq, json.loads((await js.get_msg(STREAM, seq)).data)))
        except NotFoundError:  # deleted
            continue
    return found


@contextlib.asynccontextmanager
async def relay(settings: Any) -> AsyncIterator[None]:
    """The event relay of `forlop up`, for the length of the block."""
    stop = asyncio.Event()
    worker = Relay(settings.database_url, settings.nats_url, settings.secret("pseudonym"),
                   events_table=settings.events_table, mapper=registry.mapper(settings))
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_the_example_subscriber_dedupes_finds_gaps_by_versjon_and_catches_up(postgres_server_url, tmp_path: Path):
    nats_url, nats_proc = start_nats(tmp_path / "nats", free_port())
    try:
        async with ny_database(postgres_server_url, "eksempel") as database_url:
            settings = load_settings(
                environ={"DATABASE_URL": database_url, "NATS_URL": nats_url, "FORLOP_PERSON_KEY": "e" * 40},
                data_dir=tmp_path / "data", today=TODAY,
            )
            async with serve(settings) as server:
                await _run(server, settings, nats_url, tmp_path)
    finally:
        stop_nats(nats_proc)


async def _run(server: Server, settings: Any, nats_url: str, tmp_path: Path) -> None:
    issuer = settings.secret("jwt")  # the dev issuer of this data directory signs
    sb = {"Authorization": f"Bearer {make_token(issuer, ident='Z990001', roller=['saksbehandler'], enheter=['0315'])}"}
    system = make_token(issuer, ident="Z990009", roller=["system"], enheter=[])
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as c, relay(settings):
            lop = (await c.post(f"{API}/tiltakslop", json=arbeidstrening(), headers=sb)).json()
            r = await c.post(f"{API}/tiltakslop/{lop['id']}/avkorting", json={"ny_tom": lop["fom"]}, headers=sb)
            assert r.status_code == 200, r.text
            r = await c.post(f"{API}/tiltakslop/{lop['id']}/annullering", json={"begrunnelse": "Feilregistrert"},
                             headers=sb)
            assert r.status_code == 200, r.text
            ug = (await c.post(f"{API}/ungdomsgarantier", json=garanti(), headers=sb)).json()
            r = await c.post(f"{API}/ungdomsgarantier/{ug['id']}/kontaktperson",
                             json={"nav_ident": "Z990002", "fom": ug["fom"]}, headers=sb)
            assert r.status_code == 200, r.text
            messages = await _stream_messages(js, 5)

        real = messages[0][1]
        Schemas().check(subject_of(real), real)
        for broken in ({**real, "versjon": "2"}, {k: v for k, v in real.items() if k != "id"},
                       {**real, "aggregat": "person"}, {**real, "aktor": {"enhet": "0315"}}):
            with pytest.raises(SchemaError):
                Schemas().check(subject_of(real), broken)
        lost = next(seq for seq, e in messages if e["aggregat_id"] == lop["id"] and e["versjon"] == 2)
        assert await js.delete_msg(STREAM, lost)  # JetStream lost an acknowledged message

        applied: list[dict[str, Any]] = []

        async def apply(envelope: dict[str, Any]) -> None:
            applied.append(envelope)

        state_file = tmp_path / "tilstand.json"
        first = Subscriber(api_url=server.url, token=system, apply=apply, state=State.load(state_file))
        counts = await first.run(nats_url, "eksempel", idle_rounds=2)

        by_aggregate: dict[str, list[int]] = defaultdict(list)
        for e in applied:
            by_aggregate[e["aggregat_id"]].append(e["versjon"])
        assert by_aggregate == {lop["id"]: [1, 2, 3], ug["id"]: [1, 2]}
        assert (counts.gaps, counts.caught_up, counts.duplicates) == (1, 1, 0)
        assert json.loads(state_file.read_text())[lop["id"]][0] == 3

        # The relay comes back, finds the lost message and republishes it without Nats-Msg-Id (a duplicate
        # for this subscriber); one new event follows. A restarted subscriber resumes from its durable
        # consumer and its saved state.
        async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as c, relay(settings):
            r = await c.post(f"{API}/ungdomsgarantier/{ug['id']}/samtaler",
                             json={"dato": ug["fom"], "kanal": "TELEFON"}, headers=sb)
            assert r.status_code == 200, r.text
            await _stream_messages(js, 6)

        again = Subscriber(api_url=server.url, token=system, apply=apply, state=State.load(state_file))
        counts = await again.run(nats_url, "eksempel", idle_rounds=2)

        assert [e["versjon"] for e in applied if e["aggregat_id"] == lop["id"]] == [1, 2, 3]
        assert [e["versjon"] for e in applied if e["aggregat_id"] == ug["id"]] == [1, 2, 3]
        assert (counts.applied, counts.duplicates, counts.gaps) == (1, 1, 0)
    finally:
        await nc.close()
