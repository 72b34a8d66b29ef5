"""The projection runner and the `oversikt` views on real PostgreSQL: exactly once, rebuildable, one
active runner, and the §8 columns read for business dates on both sides of each deadline."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, timedelta

import asyncpg
import pytest

from domain.commands import Avkort, AvsluttLop, Forleng, KorrigerLop, NyttLop, Overgang, TildelKontaktperson
from domain.config import STANDARD
from projections import queries
from projections.oversikt import Oversikt
from projections.rebuild import create_shadow_tables, rebuild_views
from projections.runner import etterslep, opprett, posisjon, to_notifications
from store.dto import garanti_visning, lop_visning
from store.mapper import mapper_for
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service
from tests.hjelp import garanti_grant, identer, ktx, lop_grant, ta_igjen
from workers.projector import Projector

KEY = b"test-person-key"


IDENTER = identer(60)


def oversikt() -> Oversikt:
    # Field encryption as `forlop projeksjon`/`forlop rebuild` run it by default (settings.field_encryption).
    return Oversikt(mapper_for(KEY, kryptert=True), STANDARD, KEY)


@pytest.fixture
async def tjeneste(database_url) -> AsyncIterator[Service]:
    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    await opprett(pool, oversikt())
    try:
        yield Service(EventStore(recorder), STANDARD, KEY)
    finally:
        await recorder.close()
        await pool.close()


async def innvilg(tjeneste: Service, nr: int, tiltakstype="ARBEIDSTRENING", **extra):
    grant = dict(
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
    return await tjeneste.innvilg_lop(lop_grant(**grant), CommandContext(ktx()))


async def catch_up(database_url: str) -> None:
    await ta_igjen(database_url, oversikt())


async def tabell(conn, navn: str) -> list[tuple]:
    kolonne = "lop_id" if navn.startswith("v_lop") else "garanti_id"
    return [tuple(r) for r in await conn.fetch(f"SELECT * FROM {navn} ORDER BY {kolonne}")]


async def kontroll(database_url: str) -> tuple[list[tuple], list[tuple]]:
    """Views built from scratch, straight from the log, into tables of their own."""
    conn = await asyncpg.connect(database_url)
    try:
        projeksjon = oversikt()
        await conn.execute("DROP TABLE IF EXISTS v_lop__kontroll, v_garanti__kontroll")
        for statement in await create_shadow_tables(conn, projeksjon.tabeller(), "__kontroll"):
            await conn.execute(statement)
        rows = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM forlop_events "
            "ORDER BY notification_id"
        )
        async with conn.transaction():
            await projeksjon.anvend(conn, to_notifications(rows), "__kontroll")
        return await tabell(conn, "v_lop__kontroll"), await tabell(conn, "v_garanti__kontroll")
    finally:
        await conn.close()


async def live(database_url: str) -> tuple[list[tuple], list[tuple]]:
    conn = await asyncpg.connect(database_url)
    try:
        return await tabell(conn, "v_lop"), await tabell(conn, "v_garanti")
    finally:
        await conn.close()


async def test_runner_applies_each_event_once_and_records_its_position(tjeneste, database_url):
    first = await innvilg(tjeneste, 0)
    await tjeneste.forleng(
        first.id, Forleng(ny_tom=date(2026, 3, 31), aarsak="NEDSATT_ARBEIDSEVNE"), CommandContext(ktx())
    )

    await catch_up(database_url)
    await catch_up(database_url)  # a second pass finds nothing new and changes nothing

    pool = tjeneste.store.recorder.pool
    row = await pool.fetchrow("SELECT * FROM v_lop WHERE lop_id = $1", first.id)
    assert row["versjon"] == 2
    assert row["tom"] == date(2026, 3, 31)
    assert row["total_cap_tom"] == date(2026, 6, 30)
    assert await posisjon(pool, "oversikt") == await pool.fetchval(
        "SELECT max(notification_id) FROM forlop_events"
    )
    assert await etterslep(pool, "oversikt", "forlop_events") == (0, 0.0)
    assert await live(database_url) == await kontroll(database_url)


async def test_runner_survives_gaps_in_notification_ids(tjeneste, database_url):
    await innvilg(tjeneste, 0)
    await tjeneste.store.recorder.pool.execute(
        "SELECT nextval('forlop_events_notification_id_seq') FROM generate_series(1, 5)"
    )
    await innvilg(tjeneste, 1)

    await catch_up(database_url)

    assert len((await live(database_url))[0]) == 2


async def test_rebuild_swaps_in_views_equal_to_the_log(tjeneste, database_url):
    for nr in range(5):
        await innvilg(tjeneste, nr)
    await catch_up(database_url)
    await tjeneste.store.recorder.pool.execute("UPDATE v_lop SET tom = NULL")  # a damaged view

    pos = await rebuild_views(database_url, oversikt())

    assert pos == await tjeneste.store.recorder.pool.fetchval(
        "SELECT max(notification_id) FROM forlop_events"
    )
    assert await live(database_url) == await kontroll(database_url)
    await rebuild_views(database_url, oversikt())  # and again: the swapped-in tables' names are reusable
    indexes = await tjeneste.store.recorder.pool.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'v_lop'"
    )
    assert {"v_lop_enhet_idx", "v_lop_person_idx"} <= {r[0] for r in indexes}


@pytest.mark.parametrize("arbeidere", [1, 3])
async def test_rebuild_by_aggregate_in_parallel_equals_the_log_applied_in_order(tjeneste, database_url, arbeidere):
    """The first pass reads by aggregate id in `arbeidere` forked processes and COPYs final rows; its views
    equal the live runner's way (every event applied in log order), over cases written in clear before
    encryption and encrypted ones, several events per case, a transition, guarantees and an erasure."""
    from domain.ident import Fodselsnummer
    from domain.person import person_id
    from store.envelope import pseudonym

    kryptert = Service(EventStore(tjeneste.store.recorder, mapper_for(KEY, kryptert=True)), STANDARD, KEY)
    lop = []
    for nr in range(12):
        t = tjeneste if nr % 3 == 0 else kryptert
        lop.append(await innvilg(t, nr))
        for steg in range(nr % 3):
            await t.forleng(
                lop[-1].id,
                Forleng(ny_tom=date(2026, 1 + steg, 28), aarsak="NEDSATT_ARBEIDSEVNE"),
                CommandContext(ktx()),
            )
    await kryptert.avslutt_lop(
        lop[4].id, AvsluttLop(sluttdato=date(2025, 11, 30), aarsak="FULLFORT"), CommandContext(ktx())
    )
    await kryptert.overgang(
        lop[7].id,
        Overgang(
            sluttdato=date(2025, 6, 30),
            til=NyttLop(
                tiltakstype="OPPFOLGING",
                malgruppe="NEDSATT_ARBEIDSEVNE",
                fom=date(2025, 7, 1),
                tom=date(2025, 12, 31),
                nav_enhet="0315",
                vedtak_ref="V-2",
            ),
        ),
        CommandContext(ktx()),
    )
    for nr in range(20, 24):
        garanti = await kryptert.innvilg_garanti(
            garanti_grant(
                person=IDENTER[nr],
                fodselsdato=date(2000, 8, 15),
                fom=date(2025, 1, 2),
                nav_enhet="0315",
                bistandsbehov_vedtak_ref="14A-1",
            ),
            CommandContext(ktx()),
        )
        await kryptert.tildel_kontaktperson(
            garanti.id,
            TildelKontaktperson(nav_ident=f"Z12345{nr % 10}", fom=date(2025, 1, 10)),
            CommandContext(ktx()),
        )
    glemt = Fodselsnummer(IDENTER[5])
    await kryptert.glem(glemt, ktx("SYSTEM", None), pseudonym(b"pseudonym-key", glemt))
    await innvilg(kryptert, 30)  # after the erasure

    pos = await rebuild_views(database_url, oversikt(), arbeidere=arbeidere)

    pool = tjeneste.store.recorder.pool
    assert pos == await pool.fetchval("SELECT max(notification_id) FROM forlop_events")
    lop_rader, garanti_rader = await live(database_url)
    assert (lop_rader, garanti_rader) == await kontroll(database_url)
    assert len(lop_rader) == 13 - 1 + 1  # 12 granted, one forgotten, the transition's new løp, one more
    assert len(garanti_rader) == 4
    assert await pool.fetchval("SELECT count(*) FROM v_lop WHERE person = $1", person_id(KEY, glemt)) == 0
    assert [r[1] for r in lop_rader if r[0] == lop[2].id] == [3]  # granted and extended twice


async def test_rebuild_while_commands_arrive_never_shows_a_partial_view(tjeneste, database_url):
    for nr in range(20):
        await innvilg(tjeneste, nr)
    stop = asyncio.Event()
    runner = Projector(database_url, oversikt(), poll_seconds=0.05)
    runner_task = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(0.5)
    seen: list[int] = []

    async def commands():
        for nr in range(20, 40):
            await innvilg(tjeneste, nr)
            await asyncio.sleep(0.01)

    async def reader():
        conn = await asyncpg.connect(database_url)
        try:
            while not stop.is_set():
                seen.append(await conn.fetchval("SELECT count(*) FROM v_lop"))
                await asyncio.sleep(0.005)
        finally:
            await conn.close()

    reader_task = asyncio.create_task(reader())
    await asyncio.gather(commands(), rebuild_views(database_url, oversikt(), batch=7))
    for _ in range(100):
        lag = await etterslep(tjeneste.store.recorder.pool, "oversikt", "forlop_events")
        if lag is not None and lag[0] == 0:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(runner_task, reader_task)

    assert seen and min(seen) >= 20
    assert all(a <= b for a, b in zip(seen, seen[1:], strict=False)), "a query saw rows disappear"
    assert await live(database_url) == await kontroll(database_url)
    assert len((await live(database_url))[0]) == 40


async def test_only_one_runner_is_active_and_a_standby_takes_over(tjeneste, database_url):
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a, b = (
        Projector(database_url, oversikt(), poll_seconds=0.05),
        Projector(database_url, oversikt(), poll_seconds=0.05),
    )
    task_a = asyncio.create_task(a.run(stop_a))
    await asyncio.sleep(0.3)
    task_b = asyncio.create_task(b.run(stop_b))
    await asyncio.sleep(0.3)

    both_active = a.active and b.active
    stop_a.set()
    await task_a
    for _ in range(100):
        if b.active:
            break
        await asyncio.sleep(0.05)
    await innvilg(tjeneste, 0)
    for _ in range(100):
        if len((await live(database_url))[0]) == 1:
            break
        await asyncio.sleep(0.05)
    stop_b.set()
    await task_b

    assert not both_active
    assert b.active is False  # it stopped
    assert len((await live(database_url))[0]) == 1


async def test_runner_killed_mid_batch_resumes_and_equals_a_fresh_rebuild(tjeneste, database_url, tmp_path):
    for nr in range(60):
        lop = await innvilg(tjeneste, nr)
        for k in range(4):
            await tjeneste.avkort(
                lop.id, Avkort(ny_tom=date(2025, 12, 31) - timedelta(days=k + 1)), CommandContext(ktx())
            )
    total = await tjeneste.store.recorder.pool.fetchval("SELECT max(notification_id) FROM forlop_events")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "FORLOP_PERSON_KEY": KEY.decode(),
        "FORLOP_LOG_LEVEL": "WARNING",
    }
    cmd = [
        sys.executable,
        "-m",
        "workers.cli",
        "projeksjon",
        "--view",
        "oversikt",
        "--batch",
        "20",
        "--data-dir",
        str(tmp_path),
    ]

    proc = subprocess.Popen(cmd, env=env)
    pool = tjeneste.store.recorder.pool
    for _ in range(400):
        pos = await posisjon(pool, "oversikt") or 0
        if pos > 0:
            break
        await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    killed_at = await posisjon(pool, "oversikt")
    proc = subprocess.Popen(cmd, env=env)
    try:
        for _ in range(600):
            if await posisjon(pool, "oversikt") == total:
                break
            await asyncio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)

    assert 0 < killed_at < total, "the kill did not land mid-run; make the log longer"
    assert await posisjon(pool, "oversikt") == total
    assert await live(database_url) == await kontroll(database_url)


async def board(pool, per: date, **filters) -> list:
    rows, _ = await queries.frister(
        pool,
        per=per,
        enheter=filters.pop("enheter", None),
        type=filters.pop("type", None),
        fra=filters.pop("fra", None),
        til=filters.pop("til", None),
        etter=None,
        antall=100,
    )
    o = oversikt()
    await o.forbered(pool, [r.tilstand for r in rows])
    out = []
    for r in rows:
        agg = o.dekod(r.aggregat_id, r.versjon, r.tilstand)
        out.append(
            lop_visning(agg, per, STANDARD)
            if r.aggregat == "tiltakslop"
            else garanti_visning(agg, per, STANDARD)
        )
    return out


async def test_aft_3_review_cadence_on_the_board_both_sides_of_the_due_date(tjeneste, database_url):
    await innvilg(tjeneste, 0, tiltakstype="AFT", fom=date(2025, 1, 1), tom=date(2025, 12, 31))
    await catch_up(database_url)
    pool = tjeneste.store.recorder.pool

    on_due = (await board(pool, date(2025, 4, 1)))[0]
    after = (await board(pool, date(2025, 4, 2)))[0]
    before_lead = (await board(pool, date(2025, 3, 17)))[0]
    filtered = await board(
        pool, date(2025, 4, 2), type="VURDERING_FORFALT", fra=date(2025, 4, 1), til=date(2025, 4, 1)
    )
    outside = await board(
        pool, date(2025, 4, 2), type="VURDERING_FORFALT", fra=date(2025, 4, 2), til=date(2025, 5, 1)
    )

    assert on_due.next_review_due == date(2025, 4, 1)
    assert on_due.review_status == "DUE_SOON" and "VURDERING_FORFALT" not in on_due.open_alerts
    assert after.review_status == "OVERDUE" and "VURDERING_FORFALT" in after.open_alerts
    assert before_lead.review_status == "OK"
    assert len(filtered) == 1 and outside == []


async def test_lts_5_rate_schedule_on_the_board_steps_down_on_the_change_date(tjeneste, database_url):
    await innvilg(
        tjeneste,
        0,
        tiltakstype="MIDLERTIDIG_LONNSTILSKUDD",
        malgruppe="ARBEIDSSOKER",
        fom=date(2025, 1, 1),
        tom=date(2025, 12, 31),
    )
    await catch_up(database_url)
    pool = tjeneste.store.recorder.pool

    before = (await board(pool, date(2025, 6, 30)))[0]
    on = (await board(pool, date(2025, 7, 1)))[0]
    alert_window = await board(
        pool, date(2025, 6, 1), type="RATE_ENDRES", fra=date(2025, 7, 1), til=date(2025, 7, 1)
    )

    assert (before.current_rate, before.next_rate_change_date) == (40, date(2025, 7, 1))
    assert on.current_rate == 30
    assert [v.lop_id for v in alert_window] == [before.lop_id]
    assert "RATE_ENDRES" in alert_window[0].open_alerts


async def test_date_8_tom_and_cap_alerts_on_the_board_fire_at_their_lead(tjeneste, database_url):
    await innvilg(tjeneste, 0, fom=date(2025, 1, 1), tom=date(2025, 12, 31))
    await catch_up(database_url)
    pool = tjeneste.store.recorder.pool

    day_before = (await board(pool, date(2025, 11, 30)))[0]
    fire_day = (await board(pool, date(2025, 12, 1)))[0]
    after_tom = (await board(pool, date(2026, 1, 1)))[0]
    cap = await board(
        pool, date(2025, 12, 1), type="CAP_NAERMER_SEG", fra=date(2026, 6, 30), til=date(2026, 6, 30)
    )

    assert "TOM_NAERMER_SEG" not in day_before.open_alerts
    assert "TOM_NAERMER_SEG" in fire_day.open_alerts
    assert after_tom.open_alerts == []
    assert fire_day.total_cap_tom == date(2026, 6, 30) and fire_day.base_cap_tom == date(2025, 12, 31)
    assert len(cap) == 1


async def test_ug_d8_guarantee_alerts_on_the_board_and_the_contact_person_caseload(tjeneste, database_url):
    garanti = await tjeneste.innvilg_garanti(
        garanti_grant(
            person=IDENTER[1],
            fodselsdato=date(2000, 8, 15),
            fom=date(2025, 1, 2),
            nav_enhet="0315",
            bistandsbehov_vedtak_ref="14A-1",
        ),
        CommandContext(ktx()),
    )
    await catch_up(database_url)
    pool = tjeneste.store.recorder.pool

    day_15 = (await board(pool, date(2025, 1, 16)))[0]
    day_16 = (await board(pool, date(2025, 1, 17)))[0]
    await tjeneste.tildel_kontaktperson(
        garanti.id, TildelKontaktperson(nav_ident="Z123456", fom=date(2025, 1, 10)), CommandContext(ktx())
    )
    await catch_up(database_url)
    assigned = (await board(pool, date(2025, 1, 17)))[0]
    caseload = await queries.kontaktperson_caseload(pool, max_caseload=0)

    assert "KONTAKTPERSON_MANGLER" not in day_15.open_alerts
    assert "KONTAKTPERSON_MANGLER" in day_16.open_alerts
    assert "KONTAKTPERSON_MANGLER" not in assigned.open_alerts
    assert caseload == [{"nav_ident": "Z123456", "antall": 1, "over_maks": True}]


async def test_tiltakshistorikk_lists_every_lop_of_the_person_with_the_transition_link(
    tjeneste, database_url
):
    fra = await innvilg(tjeneste, 0)
    ny = await tjeneste.overgang(
        fra.id,
        Overgang(
            sluttdato=date(2025, 6, 30),
            til=NyttLop(
                tiltakstype="OPPFOLGING",
                malgruppe="NEDSATT_ARBEIDSEVNE",
                fom=date(2025, 7, 1),
                tom=date(2025, 12, 31),
                nav_enhet="0315",
                vedtak_ref="V-2",
            ),
        ),
        CommandContext(ktx()),
    )
    await innvilg(tjeneste, 1)
    await catch_up(database_url)

    from domain.ident import Fodselsnummer
    from domain.person import person_id

    rows = await queries.tiltakshistorikk(
        tjeneste.store.recorder.pool, person_id(KEY, Fodselsnummer(IDENTER[0]))
    )

    o = oversikt()
    await o.forbered(tjeneste.store.recorder.pool, [r.tilstand for r in rows])
    lop = [o.dekod(r.aggregat_id, r.versjon, r.tilstand) for r in rows]
    assert [x.id for x in lop] == [fra.id, ny.id]
    assert lop[1].forgjenger_lop_id == fra.id


async def test_replay_as_known_before_a_correction_shows_the_uncorrected_view_and_after_it_the_corrected(
    tjeneste, database_url, tmp_path
):
    from datetime import UTC, datetime

    from projections import as_known

    lop = await innvilg(tjeneste, 0, fom=date(2025, 1, 1), tom=date(2025, 12, 31))
    await asyncio.sleep(1.1)
    before = datetime.now(UTC)
    await asyncio.sleep(1.1)
    await tjeneste.korriger_lop(
        lop.id, KorrigerLop(tom=date(2025, 10, 31), begrunnelse="feil tom i vedtaket"), CommandContext(ktx())
    )
    await asyncio.sleep(1.1)
    after = datetime.now(UTC)
    env = {**os.environ, "DATABASE_URL": database_url, "FORLOP_PERSON_KEY": KEY.decode()}

    for instant in (before, after):
        subprocess.run(
            [sys.executable, "-m", "workers.cli", "replay", "--kjent-per", instant.isoformat(), "--data-dir", str(tmp_path)],
            env=env, check=True, capture_output=True, timeout=60,
        )
    pool = tjeneste.store.recorder.pool
    views = {}
    for instant in (before, after):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {as_known.schema_for(as_known.to_second(instant))}, public")
            views[instant] = await board(conn, date(2025, 6, 1))

    assert await as_known.finnes(pool, before) and await as_known.finnes(pool, after)
    assert [v.tom for v in views[before]] == [date(2025, 12, 31)]
    assert [v.tom for v in views[after]] == [date(2025, 10, 31)]
