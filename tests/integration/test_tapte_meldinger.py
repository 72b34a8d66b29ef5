"""Delivery that survives JetStream losing acknowledged messages: the log in PostgreSQL is the truth, and
the relay publishes again whatever the stream no longer holds (issue: Jepsen's NATS 2.12.1 analysis)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import nats
import pytest

from domain.config import STANDARD
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import Service
from tests.integration.nats_hjelp import i_rekkefolge_per_aggregat, ledig_port, les_strom
from tests.integration.test_relay import (
    PSEUDONYM_KEY,
    _eq,
    grant_and_extend,
    published_events,
    stream_count,
    tjeneste,  # noqa: F401 - fixture
    until,
)
from workers.embedded_nats import start_nats
from workers.nats_setup import HENDELSER
from workers.relay import Relay


@pytest.fixture
def nats_server(tmp_path):
    port = ledig_port()
    url, proc = start_nats(tmp_path / "nats", port, sync_always=True)
    server = {"url": url, "port": port, "dir": tmp_path / "nats", "proc": proc}
    yield server
    if server["proc"].poll() is None:
        server["proc"].terminate()
        server["proc"].wait(10)


async def test_purged_messages_are_published_again_from_the_log_and_nothing_else_repeats(tjeneste, database_url, nats_server):  # noqa: F811
    for nr in range(10):
        await grant_and_extend(tjeneste, nr)
    total = await published_events(tjeneste)
    relay = Relay(database_url, nats_server["url"], PSEUDONYM_KEY, poll_seconds=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await until(lambda: _eq(stream_count(nats_server["url"]), total))
    before = {m[1]["id"]: m[0] for m in await les_strom(nats_server["url"], HENDELSER, "forlop.hendelse.>")}

    nc = await nats.connect(nats_server["url"])
    await nc.jetstream().purge_stream(HENDELSER, seq=8)  # the stream drops sequences 1..7
    await nc.close()
    await relay.check_stream()  # what a reconnect does; the periodic check would get there in 30 s
    await until(lambda: _eq(stream_count(nats_server["url"]), total))
    stop.set()
    await task
    after = await les_strom(nats_server["url"], HENDELSER, "forlop.hendelse.>")

    assert relay.status.spolt_tilbake == 1
    assert len(after) == total == 20
    assert {m[1]["id"] for m in after} == set(before)
    republished = [m for m in after if m[0] > max(before.values())]
    assert sorted(m[1]["posisjon"] for m in republished) == sorted(
        m[1]["posisjon"] for m in after if before[m[1]["id"]] < 8
    )
    assert i_rekkefolge_per_aggregat(republished)


async def test_nats_killed_and_its_store_truncated_then_every_lost_event_is_republished(tjeneste, database_url, nats_server):  # noqa: F811
    relay = Relay(database_url, nats_server["url"], PSEUDONYM_KEY, poll_seconds=0.1, ack_timeout=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    for nr in range(5):
        await grant_and_extend(tjeneste, nr)
    await until(lambda: _eq(stream_count(nats_server["url"]), 10))
    nc = await nats.connect(nats_server["url"])
    await nc.jetstream().stream_info(HENDELSER)
    await nc.close()
    for nr in range(5, 10):
        await grant_and_extend(tjeneste, nr)
    await until(lambda: _eq(stream_count(nats_server["url"]), 20))

    nats_server["proc"].send_signal(signal.SIGKILL)
    nats_server["proc"].wait(10)
    blocks = sorted(Path(nats_server["dir"]).rglob("msgs/*.blk"))
    assert blocks, "no message blocks found to truncate"
    for block in blocks:
        size = block.stat().st_size
        with open(block, "r+b") as f:
            f.truncate(size // 3)  # lose the tail of what was acknowledged
    for index in Path(nats_server["dir"]).rglob("msgs/*.idx"):
        index.unlink()
    for state in Path(nats_server["dir"]).rglob("index.db"):
        state.unlink()
    _, nats_server["proc"] = start_nats(nats_server["dir"], nats_server["port"], sync_always=True)
    total = await published_events(tjeneste)
    await until(lambda: _eq(stream_count(nats_server["url"]), total), 90)
    stop.set()
    await task
    msgs = await les_strom(nats_server["url"], HENDELSER, "forlop.hendelse.>")

    # The relay found acknowledged events missing and rewound (counting the stream after the restart would
    # race the relay, which may have republished them already).
    assert relay.status.spolt_tilbake >= 1, "truncating the store lost nothing; the test did not exercise the loss"
    assert len(msgs) == total == 20
    assert len({m[1]["id"] for m in msgs}) == total
    assert i_rekkefolge_per_aggregat(msgs)


async def test_relay_replay_publishes_a_range_again_as_repeats_of_known_ids(tjeneste, database_url, nats_server, tmp_path):  # noqa: F811
    for nr in range(3):
        await grant_and_extend(tjeneste, nr)
    relay = Relay(database_url, nats_server["url"], PSEUDONYM_KEY, poll_seconds=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await until(lambda: _eq(stream_count(nats_server["url"]), 6))
    stop.set()
    await task
    env = {**os.environ, "DATABASE_URL": database_url, "NATS_URL": nats_server["url"],
           "FORLOP_PSEUDONYM_KEY": PSEUDONYM_KEY.decode()}

    out = subprocess.run(
        [sys.executable, "-m", "workers.cli", "relay", "replay", "--fra", "1", "--data-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )

    assert "published 6 events again; the stream dropped 6 as duplicates" in out.stdout
    assert await stream_count(nats_server["url"]) == 6


async def test_purged_alerts_are_sent_again_from_the_outbox(database_url, nats_server):
    from tests.integration.test_varsler import catch_up as views_catch_up
    from tests.integration.test_varsler import lop, oversikt, rader
    from tests.integration.test_varsler import tjeneste as _unused  # noqa: F401
    from workers.nats_setup import VARSLER
    from workers.varsler import VarselWorker

    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    service = Service(EventStore(recorder), STANDARD, b"person-key")
    from projections.runner import opprett

    await opprett(pool, oversikt())
    for nr in range(3):
        await lop(service, nr, fom=date(2025, 1, 1 + nr), tom=date(2025, 12, 29 + nr))
    await views_catch_up(database_url)
    worker = VarselWorker(
        database_url, nats_server["url"], oversikt(), lambda: date(2025, 12, 5), interval=0.3, poll_seconds=0.1
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))

    async def alert_count() -> int:
        nc = await nats.connect(nats_server["url"])
        try:
            return (await nc.jetstream().stream_info(VARSLER)).state.messages
        except Exception:  # noqa: BLE001 - no stream yet
            return -1
        finally:
            await nc.close()

    try:
        await until(lambda: _eq(alert_count(), 3))
        first = {m[1]["varsel_id"] for m in await les_strom(nats_server["url"], VARSLER, "forlop.varsel.>")}
        nc = await nats.connect(nats_server["url"])
        await nc.jetstream().purge_stream(VARSLER)
        await nc.close()
        await worker.check_stream()  # what a reconnect does; the periodic check gets there in 30 s
        await until(lambda: _eq(alert_count(), 3))
        again = await les_strom(nats_server["url"], VARSLER, "forlop.varsel.>")
        conn = await pool.acquire()
        try:
            outbox = await rader(conn)
        finally:
            await pool.release(conn)
    finally:
        stop.set()
        await task
        await recorder.close()
        await pool.close()

    assert len(first) == 3
    assert {m[1]["varsel_id"] for m in again} == first
    assert all(m[0] > 3 for m in again)  # sent again after the purge, as new stream messages
    assert all(r["publisert"] is not None and r["nats_sekvens"] > 3 for r in outbox)
