"""`forlop seed` on real PostgreSQL: every planned command is accepted, the same seed stores the same mix,
and the projection runner puts the seeded løp and guarantees on the deadline board."""

from __future__ import annotations

from collections import Counter
from datetime import date

import asyncpg

from domain.config import STANDARD
from projections import queries
from projections.oversikt import Oversikt
from projections.runner import Runner
from store.dto import garanti_visning, lop_visning
from store.mapper import ForlopMapper
from tests.conftest import ny_database
from workers.seed import planlegg, seed_database

KEY = b"test-person-key"
I_DAG = date(2026, 11, 24)
LOP, GARANTIER = 200, 50


async def _seed(dsn: str, seed: int = 7):
    return await seed_database(dsn, STANDARD, KEY, lop=LOP, garantier=GARANTIER, seed=seed, i_dag=I_DAG)


async def _mix(dsn: str) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """From the stored grants: measure mix, county mix and the stream count per aggregate type."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT topic, convert_from(state, 'UTF8')::json AS s FROM forlop_events "
            "WHERE topic LIKE '%TiltakslopInnvilget' OR topic LIKE '%UngdomsgarantiInnvilget'"
        )
    finally:
        await conn.close()
    import json

    tiltak: Counter[str] = Counter()
    fylker: Counter[str] = Counter()
    strommer: Counter[str] = Counter()
    for r in rows:
        s = json.loads(r["s"]) if isinstance(r["s"], str) else r["s"]
        if r["topic"].endswith("TiltakslopInnvilget"):
            strommer["tiltakslop"] += 1
            tiltak["/".join(x for x in (s["tiltakstype"], s.get("variant"), s["malgruppe"]) if x)] += 1
        else:
            strommer["ungdomsgaranti"] += 1
        fylker[s["nav_enhet"][:2]] += 1
    return tiltak, fylker, strommer


async def test_seed_stores_every_planned_aggregate_without_refusals_and_the_board_shows_them(
    database_url, postgres_server_url
):
    plan, res = await _seed(database_url)

    assert dict(res.avvist) == {}, res.avvist_eksempler
    assert (res.lop, res.garantier) == (LOP, GARANTIER)
    assert res.hendelser > 3 * LOP
    tiltak, fylker, strommer = await _mix(database_url)
    assert strommer == Counter(tiltakslop=LOP, ungdomsgaranti=GARANTIER)
    assert tiltak == plan.miks
    assert fylker == Counter(e[:2] for e in plan.enheter.elements())
    assert Counter(k.split("/")[-1] for k in tiltak.elements())["NEDSATT_ARBEIDSEVNE"] > LOP // 2  # seed 001

    # The same seed, another database: the same measure and office mix is stored.
    async with ny_database(postgres_server_url) as other:
        _, res2 = await _seed(other)
        assert dict(res2.avvist) == {}
        assert await _mix(other) == (tiltak, fylker, strommer)
    assert planlegg(LOP, GARANTIER, seed=8, i_dag=I_DAG, konfig=STANDARD).miks != plan.miks

    # The projection runner catches up; the board shows the open løp and guarantees.
    oversikt = Oversikt(ForlopMapper(), STANDARD, KEY)
    runner = Runner(database_url, oversikt)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        from projections.runner import opprett

        await opprett(pool, oversikt)
        while await runner.run_batch(pool):
            pass
        assert await pool.fetchval("SELECT count(*) FROM v_lop") == LOP
        assert await pool.fetchval("SELECT count(*) FROM v_garanti") == GARANTIER
        apne = await pool.fetchval(
            "SELECT count(*) FROM v_lop WHERE NOT annullert AND (NOT avsluttet OR opptatt_tom >= $1)", I_DAG
        ) + await pool.fetchval(
            "SELECT count(*) FROM v_garanti WHERE (aktiv OR tom >= $1) AND $1 < aldersgrense_dato", I_DAG
        )
        rader, etter = [], None
        while True:
            side, etter = await queries.frister(
                pool, per=I_DAG, enheter=None, type=None, fra=None, til=None, etter=etter, antall=100
            )
            rader += side
            if etter is None:
                break
    finally:
        await pool.close()
    assert len(rader) == apne and apne > LOP // 3
    assert {r.aggregat for r in rader} == {"tiltakslop", "ungdomsgaranti"}
    for r in rader:  # every row reads as GET /tiltakslop/{id} would show it
        agg = oversikt.dekod(r.aggregat_id, r.versjon, r.tilstand)
        visning = (lop_visning if r.aggregat == "tiltakslop" else garanti_visning)(agg, I_DAG, STANDARD)
        assert visning.status == "AKTIV"
