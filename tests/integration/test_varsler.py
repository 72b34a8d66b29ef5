"""The deadline-alert worker on real PostgreSQL and a real nats-server: each alert type of rules.md §8.5 and
§5.3 decided on its fire date and not the day before (DATE-8), stored once, late ones `forsinket`, sent
once to `forlop.varsel.<TYPE>` with `Nats-Msg-Id` = varsel_id, kept while NATS is down; and the inbox
`GET /api/v1/varsler` over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import nats
import pytest
import uvicorn
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from api.app import create_app
from api.identity import make_token
from api.varsler import hent_varsler
from domain.commands import AvsluttLop, Forleng, RegistrerSamtale
from domain.config import STANDARD
from projections.oversikt import Oversikt
from projections.runner import opprett
from store.mapper import ForlopMapper
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service
from store.settings import load_settings
from tests.hjelp import garanti_grant, identer, ktx, lop_grant, ta_igjen
from tests.integration.nats_hjelp import ledig_port
from workers.embedded_nats import start_nats, stop_nats
from workers.nats_setup import VARSLER, ensure_streams
from workers.stack import _Server
from workers.varsler import (
    TABELL,
    VarselWorker,
    bestem,
    bestem_runde,
    etterslep,
    publiser,
    varsel_id,
)
from workers.varsler import opprett as opprett_varsler

KEY = b"test-person-key"
JWT = "varsler-test-jwt-secret-" + "x" * 32


IDENTER = identer(20)


def oversikt() -> Oversikt:
    return Oversikt(ForlopMapper(), STANDARD, KEY)


@pytest.fixture
async def tjeneste(database_url: str) -> AsyncIterator[Service]:
    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    await opprett(pool, oversikt())
    await opprett_varsler(pool)
    try:
        yield Service(EventStore(recorder), STANDARD, KEY)
    finally:
        await recorder.close()
        await pool.close()


@pytest.fixture
async def conn(database_url: str, tjeneste: Service) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(database_url)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, proc = start_nats(tmp_path_factory.mktemp("nats"), ledig_port())
    try:
        yield url
    finally:
        stop_nats(proc)


async def catch_up(database_url: str) -> None:
    await ta_igjen(database_url, oversikt())


async def lop(tjeneste: Service, nr: int, tiltakstype: str = "ARBEIDSTRENING", **extra: Any) -> UUID:
    grant: dict[str, Any] = dict(
        person=IDENTER[nr],
        fodselsdato=date(1990, 8, 15),
        tiltakstype=tiltakstype,
        malgruppe="NEDSATT_ARBEIDSEVNE",
        fom=date(2025, 1, 1),
        tom=date(2025, 12, 31),
        nav_enhet="0315",
        vedtak_ref="V-1",
    )
    grant.update(extra)
    return (await tjeneste.innvilg_lop(lop_grant(**grant), CommandContext(ktx()))).id


async def garanti(tjeneste: Service, nr: int, **extra: Any) -> UUID:
    grant: dict[str, Any] = dict(
        person=IDENTER[nr],
        fodselsdato=date(2000, 8, 15),
        fom=date(2025, 1, 2),
        nav_enhet="0315",
        bistandsbehov_vedtak_ref="14A-1",
    )
    grant.update(extra)
    return (await tjeneste.innvilg_garanti(garanti_grant(**grant), CommandContext(ktx()))).id


async def rader(conn: asyncpg.Connection, type: str | None = None) -> list[asyncpg.Record]:
    if type is None:
        return await conn.fetch(f"SELECT * FROM {TABELL} ORDER BY nr")
    return await conn.fetch(f"SELECT * FROM {TABELL} WHERE type = $1 ORDER BY nr", type)


# --- deciding: every alert type on its fire date, not the day before (DATE-8) -------------------------------


async def _tom_lop(tjeneste: Service) -> UUID:
    return await lop(tjeneste, 0)


async def _cap_lop(tjeneste: Service) -> UUID:
    # ARBEIDSTRENING NAE: base 1 y (2025-12-31), total 18 months (2026-06-30); extended to the cap.
    lop_id = await lop(tjeneste, 0)
    await tjeneste.forleng(
        lop_id, Forleng(ny_tom=date(2026, 6, 30), aarsak="NEDSATT_ARBEIDSEVNE"), CommandContext(ktx())
    )
    return lop_id


async def _aft(tjeneste: Service) -> UUID:
    return await lop(tjeneste, 0, tiltakstype="AFT")  # AFT-3: review every 3 months → 2025-04-01


async def _lonnstilskudd(tjeneste: Service) -> UUID:
    # MIDLERTIDIG AS: 40 % → 30 % after 6 months (§8.3): the change on 2025-07-01.
    return await lop(tjeneste, 0, tiltakstype="MIDLERTIDIG_LONNSTILSKUDD", malgruppe="ARBEIDSSOKER")


async def _garanti(tjeneste: Service) -> UUID:
    return await garanti(tjeneste, 1)


TILFELLER = [
    # type, setup, frist, fire date (frist − lead or the first overdue day)
    ("TOM_NAERMER_SEG", _tom_lop, date(2025, 12, 31), date(2025, 12, 1)),
    ("CAP_NAERMER_SEG", _cap_lop, date(2026, 6, 30), date(2026, 4, 1)),
    ("VURDERING_FORFALLER", _aft, date(2025, 4, 1), date(2025, 3, 18)),
    ("VURDERING_FORFALT", _aft, date(2025, 4, 1), date(2025, 4, 2)),
    ("RATE_ENDRES", _lonnstilskudd, date(2025, 7, 1), date(2025, 6, 1)),
    ("SAMTALE_FORFALLER", _garanti, date(2025, 2, 1), date(2025, 1, 25)),
    ("SAMTALE_FORFALT", _garanti, date(2025, 2, 1), date(2025, 2, 2)),
    ("KONTAKTPERSON_MANGLER", _garanti, date(2025, 1, 16), date(2025, 1, 17)),
    ("ALDERSGRENSE_NAERMER_SEG", _garanti, date(2030, 8, 15), date(2030, 5, 17)),
]


@pytest.mark.parametrize(("type", "oppsett", "frist", "fyring"), TILFELLER, ids=[t[0] for t in TILFELLER])
async def test_date_8_each_alert_is_decided_on_its_fire_date_and_not_the_day_before(
    tjeneste, conn, database_url, type, oppsett, frist, fyring
):
    aggregat_id = await oppsett(tjeneste)
    await catch_up(database_url)
    o = oversikt()

    # The worker started two days before and acts on each business date in turn.
    await bestem_runde(conn, fyring - timedelta(days=2), o, "forlop_events", start=True)
    await bestem_runde(conn, fyring - timedelta(days=1), o, "forlop_events")
    before = await rader(conn, type)
    await bestem_runde(conn, fyring, o, "forlop_events")
    await bestem_runde(conn, fyring, o, "forlop_events", start=True)  # a restart on the same day
    fired = await rader(conn, type)

    assert before == []
    assert len(fired) == 1
    r = fired[0]
    assert r["varsel_id"] == varsel_id(type, aggregat_id, frist)
    assert (r["frist"], r["per"], r["dager_igjen"]) == (frist, fyring, (frist - fyring).days)
    assert r["aggregat_id"] == aggregat_id and r["nav_enhet"] == "0315"
    assert r["aggregat"] == ("ungdomsgaranti" if oppsett is _garanti else "tiltakslop")
    assert r["forsinket"] is False and r["besluttet_per"] == fyring
    assert r["publisert"] is None and r["nats_sekvens"] is None


async def test_deciding_the_same_day_twice_stores_each_alert_once(tjeneste, conn, database_url):
    await _tom_lop(tjeneste)
    await _garanti(tjeneste)
    await catch_up(database_url)
    o = oversikt()

    first = await bestem(conn, date(2025, 2, 3), o)
    again = await bestem(conn, date(2025, 2, 3), o)
    window = await bestem(conn, date(2025, 2, 3), o, fra=date(2025, 2, 3))

    assert {v.type for v in first} == {"KONTAKTPERSON_MANGLER", "SAMTALE_FORFALT"}
    assert again == [] and window == []
    assert len(await rader(conn)) == 2


async def test_a_back_dated_decision_is_forsinket_and_keeps_its_fire_date(tjeneste, conn, database_url):
    tom_lop = await _tom_lop(tjeneste)
    await catch_up(database_url)
    o = oversikt()

    # First decided on 2025-12-05, four days after the fire date (the worker was not running).
    await bestem_runde(conn, date(2025, 12, 5), o, "forlop_events", start=True)
    # A back-dated fact: a løp granted on 2025-12-05 whose tom is within the lead already.
    ny = await lop(tjeneste, 2, fom=date(2025, 6, 1), tom=date(2025, 12, 20))
    await catch_up(database_url)
    await bestem_runde(conn, date(2025, 12, 5), o, "forlop_events")

    late = {r["aggregat_id"]: r for r in await rader(conn, "TOM_NAERMER_SEG")}
    assert late[tom_lop]["forsinket"] is True and late[tom_lop]["per"] == date(2025, 12, 1)
    assert late[tom_lop]["dager_igjen"] == 30 and late[tom_lop]["besluttet_per"] == date(2025, 12, 5)
    assert late[ny]["forsinket"] is True and late[ny]["per"] == date(2025, 11, 20)
    assert late[ny]["frist"] == date(2025, 12, 20)


async def test_days_the_worker_missed_are_caught_up_late_never_dropped(tjeneste, conn, database_url):
    aft = await _aft(tjeneste)
    await catch_up(database_url)
    o = oversikt()

    await bestem_runde(conn, date(2025, 3, 10), o, "forlop_events", start=True)
    nothing = await rader(conn)
    # Down from 2025-03-11 to 2025-04-04: the VURDERING_FORFALLER window (03-18..04-01) closed meanwhile.
    await bestem_runde(conn, date(2025, 4, 5), o, "forlop_events", start=True)

    got = {(r["type"], r["per"], r["forsinket"]) for r in await rader(conn)}
    assert nothing == []
    assert got == {
        ("VURDERING_FORFALLER", date(2025, 3, 18), True),
        ("VURDERING_FORFALT", date(2025, 4, 2), True),
    }
    assert all(r["aggregat_id"] == aft for r in await rader(conn))


async def test_no_alert_after_tom_or_for_a_closed_lop(tjeneste, conn, database_url):
    ended = await _tom_lop(tjeneste)
    await tjeneste.avslutt_lop(
        ended, AvsluttLop(sluttdato=date(2025, 11, 30), aarsak="FULLFORT"), CommandContext(ktx())
    )
    await lop(tjeneste, 3, fom=date(2025, 1, 1), tom=date(2025, 6, 30))
    await catch_up(database_url)

    await bestem(conn, date(2025, 12, 1), oversikt())

    assert await rader(conn) == []


# --- sending ------------------------------------------------------------------------------------------------


async def les_strom(url: str) -> list[tuple[int, str, dict[str, Any], dict[str, str]]]:
    """Every message of FORLOP_VARSLER as (sequence, subject, payload, headers)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(VARSLER)).state.messages
        sub = await js.pull_subscribe(
            "forlop.varsel.>",
            stream=VARSLER,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL),
        )
        out = []
        while len(out) < total:
            for m in await sub.fetch(total - len(out), timeout=5):
                out.append((m.metadata.sequence.stream, m.subject, msgspec.json.decode(m.data), dict(m.headers or {})))
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream(publish_async_max_pending=64)
    await ensure_streams(js)
    await js.purge_stream(VARSLER)
    try:
        yield js
    finally:
        await nc.close()


async def test_published_alerts_arrive_on_their_subject_with_the_msg_id_and_a_repeat_is_dropped(
    tjeneste, conn, database_url, js, nats_url
):
    await _garanti(tjeneste)
    await _tom_lop(tjeneste)
    await catch_up(database_url)
    per = date(2025, 2, 3)
    await bestem(conn, per, oversikt())

    sent = await publiser(conn, js, per)
    stream = await les_strom(nats_url)
    stored = {r["varsel_id"]: r for r in await rader(conn)}

    assert sent == 2 and len(stream) == 2
    for seq, subject, payload, headers in stream:
        r = stored[UUID(payload["varsel_id"])]
        assert subject == f"forlop.varsel.{r['type']}"
        assert headers["Nats-Msg-Id"] == str(r["varsel_id"])
        assert r["nats_sekvens"] == seq and r["publisert"] is not None
        assert payload == {
            "varsel_id": str(r["varsel_id"]),
            "type": r["type"],
            "frist": r["frist"].isoformat(),
            "dager_igjen": r["dager_igjen"],
            "aggregat": "ungdomsgaranti",
            "aggregat_id": str(r["aggregat_id"]),
            "nav_enhet": "0315",
            "per": r["per"].isoformat(),
            "forsinket": True,  # KONTAKTPERSON_MANGLER (01-17) and SAMTALE_FORFALT (02-02) first decided 02-03
        }
    # A repeat (a crash after the ack, before the row was marked) is dropped by the stream's Msg-Id window.
    await conn.execute(f"UPDATE {TABELL} SET publisert = NULL")
    again = await publiser(conn, js, per)
    after = {r["varsel_id"]: r["nats_sekvens"] for r in await rader(conn)}
    assert again == 2
    assert len(await les_strom(nats_url)) == 2
    assert after == {k: v["nats_sekvens"] for k, v in stored.items()}
    assert await publiser(conn, js, per) == 0  # nothing unsent


async def test_an_alert_sent_on_its_fire_date_is_on_time_and_one_sent_later_is_forsinket(
    tjeneste, conn, database_url, js, nats_url
):
    first = await _tom_lop(tjeneste)
    second = await lop(tjeneste, 4, tom=date(2025, 12, 30))
    await catch_up(database_url)
    o = oversikt()
    await bestem_runde(conn, date(2025, 11, 29), o, "forlop_events", start=True)
    await bestem_runde(conn, date(2025, 11, 30), o, "forlop_events")  # second fires 11-30
    await bestem_runde(conn, date(2025, 12, 1), o, "forlop_events")  # first fires 12-01

    await publiser(conn, js, date(2025, 12, 1))  # NATS was away on 11-30

    flags = {p["aggregat_id"]: p["forsinket"] for _, _, p, _ in await les_strom(nats_url)}
    rows = {r["aggregat_id"]: r["forsinket"] for r in await rader(conn)}
    assert flags == {str(first): False, str(second): True}
    assert rows == {first: False, second: True}


async def wait_until(vilkar, sekunder: float = 20.0) -> None:  # noqa: ANN001 - an async predicate
    slutt = asyncio.get_running_loop().time() + sekunder
    while not await vilkar():
        if asyncio.get_running_loop().time() > slutt:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_with_nats_down_alerts_are_decided_and_sent_when_it_returns_late_ones_flagged(
    tjeneste, conn, database_url, tmp_path
):
    await _tom_lop(tjeneste)  # fires 2025-12-01
    await lop(tjeneste, 5, fom=date(2025, 1, 2), tom=date(2026, 1, 1))  # fires 2025-12-02
    await catch_up(database_url)
    port = ledig_port()
    url = f"nats://127.0.0.1:{port}"
    dag = [date(2025, 12, 1)]
    arbeider = VarselWorker(
        database_url, url, oversikt(), lambda: dag[0], interval=0.3, poll_seconds=0.1, ack_timeout=1.0
    )
    stopp = asyncio.Event()
    task = asyncio.create_task(arbeider.run(stopp))
    proc = None
    try:
        async def decided(n: int):  # noqa: ANN202
            async def sjekk() -> bool:
                return len(await rader(conn)) == n

            return sjekk

        await wait_until(await decided(1))
        lag_down = await etterslep(conn)
        dag[0] = date(2025, 12, 2)
        await wait_until(await decided(2))
        assert all(r["publisert"] is None for r in await rader(conn))

        _, proc = await asyncio.to_thread(start_nats, tmp_path / "nats", port)

        async def sent() -> bool:
            return all(r["publisert"] is not None for r in await rader(conn))

        await wait_until(sent, 30)
        stream = await les_strom(url)
    finally:
        stopp.set()
        await asyncio.wait_for(task, 15)
        if proc is not None:
            stop_nats(proc)

    assert lag_down[0] == 1 and lag_down[1] >= 0
    assert await etterslep(conn) == (0, 0.0)
    by_fire = {p["per"]: (p["forsinket"], seq) for seq, _, p, _ in stream}
    assert by_fire == {"2025-12-01": (True, by_fire["2025-12-01"][1]), "2025-12-02": (False, by_fire["2025-12-02"][1])}
    assert sorted(s for _, s in by_fire.values()) == [1, 2]  # in outbox order
    rows = {r["per"]: r["forsinket"] for r in await rader(conn)}
    assert rows == {date(2025, 12, 1): True, date(2025, 12, 2): False}


async def test_only_one_worker_is_active(tjeneste, database_url):
    stopp = asyncio.Event()
    a = VarselWorker(database_url, None, oversikt(), lambda: date(2025, 1, 1), poll_seconds=0.1)
    b = VarselWorker(database_url, None, oversikt(), lambda: date(2025, 1, 1), poll_seconds=0.1)
    tasks = [asyncio.create_task(w.run(stopp)) for w in (a, b)]
    try:
        await asyncio.sleep(1.0)
        assert [a.active, b.active].count(True) == 1
    finally:
        stopp.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


# --- GET /varsler -------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def app_server(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    settings = load_settings(
        environ={"DATABASE_URL": database_url, "FORLOP_JWT_SECRET": JWT, "FORLOP_PERSON_KEY": KEY.decode()},
        data_dir=tmp_path,
        today=date(2025, 2, 3),
    )
    port = ledig_port()
    server = _Server(
        uvicorn.Config(create_app(replace(settings, nats_url=None)), host="127.0.0.1", port=port, log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("the API did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def token(rolle: str, *enheter: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(JWT.encode(), ident='Z990001', roller=[rolle], enheter=list(enheter))}"}


async def test_varsler_endpoint_serves_an_office_its_inbox_and_refuses_another_office(
    tjeneste, conn, database_url, tmp_path
):
    oslo = await _garanti(tjeneste)
    bergen = await garanti(tjeneste, 6, nav_enhet="4601")
    await catch_up(database_url)
    await bestem(conn, date(2025, 2, 3), oversikt())
    await conn.execute(f"UPDATE {TABELL} SET publisert = now(), nats_sekvens = 7 WHERE type = 'SAMTALE_FORFALT'")

    async with app_server(database_url, tmp_path) as url, httpx.AsyncClient(base_url=url, trust_env=False) as c:
        own = await c.get("/api/v1/varsler", params={"per": "2025-02-03"}, headers=token("saksbehandler", "0315"))
        named = await c.get(
            "/api/v1/varsler", params={"enhet": "0315", "per": "2025-02-03"}, headers=token("saksbehandler", "0315")
        )
        other = await c.get("/api/v1/varsler", params={"enhet": "0315"}, headers=token("saksbehandler", "4601"))
        earlier = await c.get("/api/v1/varsler", params={"per": "2025-01-20"}, headers=token("saksbehandler", "0315"))
        typed = await c.get(
            "/api/v1/varsler", params={"type": "SAMTALE_FORFALT"}, headers=token("revisor")
        )
        unknown = await c.get("/api/v1/varsler", params={"type": "NOPE"}, headers=token("revisor"))
        page1 = await c.get("/api/v1/varsler", params={"antall": 3}, headers=token("system"))
        page2 = await c.get(
            "/api/v1/varsler", params={"antall": 3, "etter": page1.json()["neste"]}, headers=token("system")
        )
        anonymous = await c.get("/api/v1/varsler")

    assert own.status_code == 200 and named.status_code == 200
    body = own.json()
    assert body == named.json() and body["neste"] is None
    assert {(e["type"], e["aggregat_id"]) for e in body["elementer"]} == {
        ("SAMTALE_FORFALT", str(oslo)),
        ("KONTAKTPERSON_MANGLER", str(oslo)),
    }
    forfalt = next(e for e in body["elementer"] if e["type"] == "SAMTALE_FORFALT")
    mangler = next(e for e in body["elementer"] if e["type"] == "KONTAKTPERSON_MANGLER")
    assert body["elementer"] == [forfalt, mangler]  # newest fire date first
    assert forfalt["per"] == "2025-02-02" and forfalt["frist"] == "2025-02-01" and forfalt["dager_igjen"] == -1
    assert forfalt["forsinket"] is True and forfalt["publisert"] is not None and forfalt["nav_enhet"] == "0315"
    assert forfalt["varsel_id"] == str(varsel_id("SAMTALE_FORFALT", oslo, date(2025, 2, 1)))
    assert mangler["publisert"] is None and mangler["kontaktperson"] is None
    assert other.status_code == 403 and other.json()["code"] == "FORBIDDEN"
    assert [e["type"] for e in earlier.json()["elementer"]] == ["KONTAKTPERSON_MANGLER"]
    assert {e["aggregat_id"] for e in typed.json()["elementer"]} == {str(oslo), str(bergen)}
    assert unknown.status_code == 400 and unknown.json()["code"] == "INVALID_REQUEST"
    assert len(page1.json()["elementer"]) == 3 and page1.json()["neste"] is not None
    assert len(page2.json()["elementer"]) == 1 and page2.json()["neste"] is None
    ids = [e["varsel_id"] for e in page1.json()["elementer"] + page2.json()["elementer"]]
    assert len(set(ids)) == 4
    assert anonymous.status_code == 401


async def test_varsler_query_pages_in_order_and_scopes_by_office(tjeneste, conn, database_url):
    for nr in range(5):
        await garanti(tjeneste, 7 + nr, nav_enhet="0315" if nr % 2 == 0 else "4601")
    await catch_up(database_url)
    await bestem(conn, date(2025, 2, 3), oversikt())

    seen, etter = [], None
    while True:
        side, etter = await hent_varsler(conn, per=date(2025, 2, 3), enheter=["0315"], type=None, etter=etter, antall=2)
        seen += side
        if etter is None:
            break

    assert len(seen) == 6 and len({v.varsel_id for v in seen}) == 6
    assert all(v.nav_enhet == "0315" for v in seen)
    assert [v.per for v in seen] == sorted((v.per for v in seen), reverse=True)


async def test_forlop_varsler_kjor_decides_a_business_date_once_and_sends_it(
    tjeneste, conn, database_url, js, nats_url, tmp_path
):
    await _garanti(tjeneste)
    await catch_up(database_url)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "FORLOP_PERSON_KEY": KEY.decode(),
        "FORLOP_LOG_LEVEL": "WARNING",
    }
    args = [sys.executable, "-m", "workers.cli", "varsler", "kjor", "--per", "2025-02-03", "--data-dir", str(tmp_path)]

    # The first over two processes (the split full pass, forced on this small database), the second in one.
    first = await asyncio.to_thread(
        subprocess.run, [*args, "--arbeidere", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    second = await asyncio.to_thread(subprocess.run, args, env=env, capture_output=True, text=True, timeout=60)

    assert first.returncode == 0, first.stderr
    assert "2 decided, 2 published, 0 unsent" in first.stdout
    assert "0 decided, 0 published, 0 unsent" in second.stdout
    assert len(await les_strom(nats_url)) == 2
    assert all(r["nats_sekvens"] is not None for r in await rader(conn))


async def test_a_conversation_held_while_the_worker_was_down_does_not_hide_the_alerts_before_it(
    tjeneste, conn, database_url
):
    garanti_id = await _garanti(tjeneste)
    await catch_up(database_url)
    o = oversikt()
    await bestem_runde(conn, date(2025, 1, 20), o, "forlop_events", start=True)
    # Down until 2025-02-20; meanwhile a conversation was held on 02-10 (due 02-01: overdue from 02-02).
    await tjeneste.registrer_samtale(
        garanti_id, RegistrerSamtale(dato=date(2025, 2, 10), kanal="MOTE"), CommandContext(ktx())
    )
    await catch_up(database_url)
    await bestem_runde(conn, date(2025, 2, 20), o, "forlop_events", start=True)

    samtale = {(r["type"], r["frist"], r["per"], r["forsinket"]) for r in await rader(conn) if "SAMTALE" in r["type"]}
    assert samtale == {
        ("SAMTALE_FORFALLER", date(2025, 2, 1), date(2025, 1, 25), True),
        ("SAMTALE_FORFALT", date(2025, 2, 1), date(2025, 2, 2), True),
    }
