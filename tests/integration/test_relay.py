"""The event relay against real PostgreSQL and real nats-server processes (contract.md §3)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date
from uuid import uuid4

import httpx
import pytest
from prometheus_client import REGISTRY

from domain.commands import Forleng, RegistrerSamtale
from domain.common import Aktor, Kontekst
from domain.config import STANDARD
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service
from tests.hjelp import garanti_grant, lop_grant
from tests.integration.nats_hjelp import i_rekkefolge_per_aggregat, ledig_port, les_strom
from tests.integration.test_projeksjoner import IDENTER
from workers.embedded_nats import start_nats
from workers.health import serve_health
from workers.nats_setup import HENDELSER
from workers.relay import Relay, skip_refused, waiting_events

PSEUDONYM_KEY = b"pseudonym-key"


def ktx() -> Kontekst:
    return Kontekst(aktor=Aktor("Z990001", "0315"), correlation_id=uuid4())


@pytest.fixture
async def tjeneste(database_url) -> AsyncIterator[Service]:
    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    try:
        yield Service(EventStore(recorder), STANDARD, b"person-key")
    finally:
        await recorder.close()
        await pool.close()


@pytest.fixture
def nats_server(tmp_path):
    port = ledig_port()
    url, proc = start_nats(tmp_path / "nats", port)
    server = {"url": url, "port": port, "dir": tmp_path / "nats", "proc": proc}
    yield server
    server["proc"].terminate()
    server["proc"].wait(10)


async def grant_and_extend(tjeneste: Service, nr: int) -> None:
    lop = await tjeneste.innvilg_lop(
        lop_grant(
            person=IDENTER[nr],
            fodselsdato=date(1990, 8, 15),
            tiltakstype="ARBEIDSTRENING",
            malgruppe="NEDSATT_ARBEIDSEVNE",
            fom=date(2025, 1, 1),
            tom=date(2025, 6, 30),
            nav_enhet="0315",
            vedtak_ref="V-1",
        ),
        CommandContext(ktx()),
    )
    await tjeneste.forleng(
        lop.id, Forleng(ny_tom=date(2025, 9, 30), aarsak="BEHOV_VIDERE"), CommandContext(ktx())
    )


async def published_events(tjeneste: Service) -> int:
    return await tjeneste.store.recorder.pool.fetchval(
        "SELECT count(*) FROM forlop_events WHERE topic NOT LIKE 'domain.person:%'"
    )


async def until(predicate, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def stream_count(url: str) -> int:
    import nats

    try:
        nc = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
    except Exception:  # noqa: BLE001 - not up yet
        return -1
    try:
        return (await nc.jetstream().stream_info(HENDELSER)).state.messages
    except Exception:  # noqa: BLE001 - no stream yet
        return -1
    finally:
        await nc.close()


async def test_relay_publishes_every_event_once_in_order_with_its_id_and_no_identifier(tjeneste, database_url, nats_server):
    for nr in range(10):
        await grant_and_extend(tjeneste, nr)
    stop = asyncio.Event()
    relay = Relay(database_url, nats_server["url"], PSEUDONYM_KEY, poll_seconds=0.1)
    task = asyncio.create_task(relay.run(stop))
    total = await published_events(tjeneste)

    await until(lambda: _eq(stream_count(nats_server["url"]), total))
    stop.set()
    await task
    msgs = await les_strom(nats_server["url"], HENDELSER, "forlop.hendelse.>")

    assert len(msgs) == total == 20
    assert len({m[1]["id"] for m in msgs}) == total
    assert all(m[2]["Nats-Msg-Id"] == m[1]["id"] for m in msgs)
    assert i_rekkefolge_per_aggregat(msgs)
    first = msgs[0][1]
    assert set(first) == {"id", "posisjon", "aggregat", "aggregat_id", "versjon", "type", "skjema_versjon",
                          "registrert", "aktor", "correlation_id", "data"}
    assert first["type"] == "TiltakslopInnvilget" and first["aggregat"] == "tiltakslop"
    assert re.fullmatch(r"[0-9a-f]{64}", first["data"]["person_pseudonym"])
    assert "fodselsdato" not in first["data"] and "person" not in first["data"]
    raw = "".join(str(m[1]) for m in msgs)
    assert not any(ident in raw for ident in IDENTER[:10])


async def _eq(coro, expected) -> bool:
    return (await coro) == expected


async def test_nats_down_while_commands_arrive_then_every_event_once_in_order(tjeneste, database_url, nats_server):
    stop = asyncio.Event()
    relay = Relay(database_url, nats_server["url"], PSEUDONYM_KEY, poll_seconds=0.1, ack_timeout=1.0)
    task = asyncio.create_task(relay.run(stop))
    for nr in range(5):
        await grant_and_extend(tjeneste, nr)
    await until(lambda: _eq(stream_count(nats_server["url"]), 10))

    nats_server["proc"].terminate()
    nats_server["proc"].wait(10)
    for nr in range(5, 15):
        await grant_and_extend(tjeneste, nr)
    await asyncio.sleep(1.5)
    _, nats_server["proc"] = start_nats(nats_server["dir"], nats_server["port"])
    total = await published_events(tjeneste)
    await until(lambda: _eq(stream_count(nats_server["url"]), total), 60)
    stop.set()
    await task
    msgs = await les_strom(nats_server["url"], HENDELSER, "forlop.hendelse.>")

    assert len(msgs) == total == 30
    assert len({m[1]["id"] for m in msgs}) == total
    assert i_rekkefolge_per_aggregat(msgs)


async def test_relay_killed_mid_batch_loses_nothing_and_the_stream_drops_the_repeats(tjeneste, database_url, nats_server, tmp_path):
    for nr in range(60):
        await grant_and_extend(tjeneste, nr)
    total = await published_events(tjeneste)
    env = {**os.environ, "DATABASE_URL": database_url, "NATS_URL": nats_server["url"],
           "FORLOP_PSEUDONYM_KEY": PSEUDONYM_KEY.decode(), "FORLOP_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "workers.cli", "relay", "--data-dir", str(tmp_path / "data")]
    pool = tjeneste.store.recorder.pool

    proc = subprocess.Popen(cmd, env=env)
    await until(lambda: _gt(stream_count(nats_server["url"]), 0))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    position_at_kill = await pool.fetchval("SELECT posisjon FROM forlop_sporing WHERE projeksjon = 'relay'")
    await pool.execute("UPDATE forlop_sporing SET posisjon = 0 WHERE projeksjon = 'relay'")  # worst case: ack lost
    proc = subprocess.Popen(cmd, env=env)
    try:
        await until(lambda: _eq(stream_count(nats_server["url"]), total), 60)
        await until(lambda: relay_caught_up(pool), 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    msgs = await les_strom(nats_server["url"], HENDELSER, "forlop.hendelse.>")

    assert position_at_kill is not None
    assert len(msgs) == total == 120
    assert len({m[1]["id"] for m in msgs}) == total
    assert i_rekkefolge_per_aggregat(msgs)


async def _gt(coro, n) -> bool:
    return (await coro) > n


async def relay_caught_up(pool) -> bool:
    return await pool.fetchval(
        "SELECT posisjon = (SELECT max(notification_id) FROM forlop_events) FROM forlop_sporing WHERE projeksjon = 'relay'"
    )


async def test_three_node_cluster_loses_nothing_when_a_node_stops_during_publishing(tjeneste, database_url, tmp_path):
    ports = [ledig_port() for _ in range(3)]
    cluster_ports = [ledig_port() for _ in range(3)]
    procs = []
    for i in range(3):
        peers = [p for j, p in enumerate(cluster_ports) if j != i]
        _, proc = start_nats(tmp_path / f"n{i}", ports[i], cluster=(f"n{i}", cluster_ports[i], peers))
        procs.append(proc)
    urls = ",".join(f"nats://127.0.0.1:{p}" for p in ports)
    try:
        await asyncio.sleep(2)  # let the cluster elect a meta leader
        stop = asyncio.Event()
        relay = Relay(database_url, urls, PSEUDONYM_KEY, replicas=3, poll_seconds=0.1, ack_timeout=2.0)
        task = asyncio.create_task(relay.run(stop))
        for nr in range(10):
            await grant_and_extend(tjeneste, nr)
        await until(lambda: _gt(stream_count(f"nats://127.0.0.1:{ports[0]}"), 0), 60)

        procs[2].terminate()
        procs[2].wait(10)
        for nr in range(10, 30):
            await grant_and_extend(tjeneste, nr)
        total = await published_events(tjeneste)
        await until(lambda: _eq(stream_count(f"nats://127.0.0.1:{ports[0]}"), total), 90)
        stop.set()
        await task
        msgs = await les_strom(f"nats://127.0.0.1:{ports[1]}", HENDELSER, "forlop.hendelse.>")

        assert len(msgs) == total == 60
        assert len({m[1]["id"] for m in msgs}) == total
        assert i_rekkefolge_per_aggregat(msgs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


async def test_a_run_of_one_aggregates_events_goes_out_in_order_without_a_pause(tjeneste, database_url, nats_server, caplog):
    """Many events of one aggregate in one read batch: each waits for the previous one's ack (never two of
    an aggregate in flight), which must not stall the batch (the earlier one is flushed before the wait)."""
    garanti = (
        await tjeneste.innvilg_garanti(
            garanti_grant(
                person=IDENTER[0],
                fodselsdato=date(2000, 8, 15),
                fom=date(2025, 1, 2),
                nav_enhet="0315",
                bistandsbehov_vedtak_ref="14A-1",
            ),
            CommandContext(ktx()),
        )
    ).id
    for dag in range(1, 26):
        await tjeneste.registrer_samtale(
            garanti, RegistrerSamtale(dato=date(2025, 2, dag), kanal="VIDEO"), CommandContext(ktx())
        )
    for nr in range(1, 6):
        await grant_and_extend(tjeneste, nr)
    total = await published_events(tjeneste)
    stop = asyncio.Event()
    relay = Relay(database_url, nats_server["url"], PSEUDONYM_KEY, poll_seconds=0.1, ack_timeout=5.0)
    task = asyncio.create_task(relay.run(stop))
    try:
        await until(lambda: _eq(stream_count(nats_server["url"]), total), 20)
        await until(lambda: _caught_up(relay, tjeneste), 10)
    finally:
        stop.set()
        await task
    msgs = await les_strom(nats_server["url"], HENDELSER, "forlop.hendelse.>")

    assert len(msgs) == total == 26 + 10
    assert len({m[1]["id"] for m in msgs}) == total
    assert all(m[2]["Nats-Msg-Id"] == m[1]["id"] for m in msgs)
    assert i_rekkefolge_per_aggregat(msgs)
    assert [m[1]["versjon"] for m in msgs if m[1]["aggregat_id"] == str(garanti)] == list(range(1, 27))
    assert relay.status.publisert == total and relay.status.spolt_tilbake == 0
    assert not [r for r in caplog.records if r.name == "workers.relay" and r.levelname == "WARNING"]
    logged = await tjeneste.store.recorder.pool.fetch("SELECT posisjon, sekvens FROM forlop_relay_logg ORDER BY posisjon")
    assert sorted(r["sekvens"] for r in logged) == sorted(m[0] for m in msgs)


async def _caught_up(relay: Relay, tjeneste: Service) -> bool:
    return relay.status.posisjon == await tjeneste.store.recorder.pool.fetchval("SELECT max(notification_id) FROM forlop_events")


# --- a message NATS refuses (issue 16): recorded, counted, unready; other aggregates flow, its own wait ---

PLASSHOLDER = "PLASSHOLDER-FOR-EN-STOR-BEGRUNNELSE"


async def _lop(tjeneste: Service, nr: int):
    return await tjeneste.innvilg_lop(
        lop_grant(
            person=IDENTER[nr],
            fodselsdato=date(1990, 8, 15),
            tiltakstype="ARBEIDSTRENING",
            malgruppe="NEDSATT_ARBEIDSEVNE",
            fom=date(2025, 1, 1),
            tom=date(2025, 6, 30),
            nav_enhet="0315",
            vedtak_ref="V-1",
        ),
        CommandContext(ktx()),
    )


async def _make_event_too_large(tjeneste: Service, aggregat_id) -> int:
    """Blow the placeholder `begrunnelse` of the aggregate's version 2 up to 1.1 MiB, straight in the table."""
    pool = tjeneste.store.recorder.pool
    nid, state = await pool.fetchrow(
        "SELECT notification_id, state FROM forlop_events WHERE originator_id = $1 AND originator_version = 2",
        aggregat_id,
    )
    assert PLASSHOLDER.encode() in state
    await pool.execute(
        "UPDATE forlop_events SET state = $2 WHERE notification_id = $1",
        nid,
        bytes(state).replace(PLASSHOLDER.encode(), b"x" * (1100 * 1024)),
    )
    return nid


def _refused_total() -> float:
    return REGISTRY.get_sample_value("forlop_relay_refused_events_total") or 0.0


async def _stream_has(url: str, n: int) -> bool:
    return await stream_count(url) == n


async def test_a_refused_event_is_recorded_and_the_other_aggregates_keep_flowing(tjeneste, database_url, nats_server):
    # Given: an aggregate whose version 2 is larger than NATS takes, and a version 3 after it; other
    # aggregates' events before and after it in the log.
    for nr in range(3):
        await grant_and_extend(tjeneste, nr)
    stor = await _lop(tjeneste, 5)
    await tjeneste.forleng(
        stor.id, Forleng(ny_tom=date(2025, 9, 30), aarsak="BEHOV_VIDERE", begrunnelse=PLASSHOLDER),
        CommandContext(ktx()),
    )
    await tjeneste.forleng(stor.id, Forleng(ny_tom=date(2025, 10, 31), aarsak="BEHOV_VIDERE"), CommandContext(ktx()))
    for nr in range(6, 9):
        await grant_and_extend(tjeneste, nr)
    refused_pos = await _make_event_too_large(tjeneste, stor.id)
    total = await published_events(tjeneste)
    before = _refused_total()

    # When: the relay runs.
    stop = asyncio.Event()
    relay = Relay(database_url, nats_server["url"], PSEUDONYM_KEY, poll_seconds=0.1, retry_seconds=0.2)
    health_port = ledig_port()
    task = asyncio.gather(relay.run(stop), serve_health(relay.readiness, health_port, stop, host="127.0.0.1"))
    health = httpx.AsyncClient(base_url=f"http://127.0.0.1:{health_port}", trust_env=False, timeout=5)
    try:
        # Then: every event but the refused one and the one behind it is published, without a stall ...
        await until(lambda: _stream_has(nats_server["url"], total - 2), 20)
        await until(lambda: _ready_is(relay, False), 10)
        # ... events written later still flow for other aggregates, and wait for the blocked one.
        await grant_and_extend(tjeneste, 9)
        await tjeneste.forleng(stor.id, Forleng(ny_tom=date(2025, 11, 30), aarsak="BEHOV_VIDERE"),
                               CommandContext(ktx()))
        await until(lambda: _stream_has(nats_server["url"], total - 2 + 2), 20)  # 2 of 3 new ones
        await until(lambda: _holds(relay, 2), 10)
        pool = tjeneste.store.recorder.pool
        waiting = await pool.fetch("SELECT posisjon, aggregat_id, grunn, storrelse FROM forlop_relay_venter ORDER BY posisjon")
        assert [r["aggregat_id"] for r in waiting] == [stor.id] * 3
        assert waiting[0]["posisjon"] == refused_pos
        assert "max_payload" in waiting[0]["grunn"] and waiting[0]["storrelse"] > 1024 * 1024
        assert [r["grunn"] for r in waiting[1:]] == [None, None]
        assert _refused_total() == before + 1
        assert relay.status.avviste == 1 and relay.status.holdt == 2
        assert not relay.ready
        ready = await health.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["avviste"] == 1 and ready.json()["holdt"] == 2, ready.text
        assert "forlop_relay_refused_events_total" in (await health.get("/metrics")).text

        # When: the operator clears the refused event.
        assert [r.posisjon for r in await waiting_events(database_url)] == [r["posisjon"] for r in waiting]
        assert not await skip_refused(database_url, waiting[1]["posisjon"])  # held, not refused
        assert await skip_refused(database_url, refused_pos)

        # Then: the events held behind it go out, in order, and the relay is ready again.
        await until(lambda: _stream_has(nats_server["url"], total + 3 - 1), 20)
        await until(lambda: _ready_is(relay, True), 10)
        assert await pool.fetchval("SELECT count(*) FROM forlop_relay_venter") == 0
        assert (await health.get("/health/ready")).status_code == 200
    finally:
        stop.set()
        await task
        await health.aclose()
    msgs = await les_strom(nats_server["url"], HENDELSER, "forlop.hendelse.>")
    assert i_rekkefolge_per_aggregat(msgs)
    assert [m[1]["versjon"] for m in sorted(msgs) if m[1]["aggregat_id"] == str(stor.id)] == [1, 3, 4]
    assert len({m[1]["id"] for m in msgs}) == len(msgs) == total + 3 - 1


async def _holds(relay: Relay, n: int) -> bool:
    return relay.status.holdt == n


async def _ready_is(relay: Relay, expected: bool) -> bool:
    return relay.ready is expected
