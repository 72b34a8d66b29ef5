"""The full alert pass split over forked processes (`workers.varsler.bestem(arbeidere=n)`, what
`forlop varsler kjor` runs on a large database) decides exactly what one process decides, and stores it in
the same outbox order; a worker that fails fails the pass and nothing of it is stored. On real PostgreSQL,
over a bulk-seeded log with field encryption (workers/seed_bulk.py) and its rebuilt views."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest

from domain.config import STANDARD
from projections.oversikt import Oversikt
from projections.rebuild import rebuild_views
from store.mapper import mapper_for
from workers.seed_bulk import seed_bulk
from workers.varsler import TABELL, bestem, run_once, standard_arbeidere
from workers.varsler import opprett as opprett_varsler

KEY = b"test-person-key"
I_DAG = date(2026, 11, 24)
ROOT = Path(__file__).resolve().parents[2]


def oversikt() -> Oversikt:
    return Oversikt(mapper_for(KEY, kryptert=True), STANDARD, KEY)


@pytest.fixture(scope="module")
async def seeded(postgres_server_url: str) -> AsyncIterator[str]:
    from tests.conftest import ny_database

    async with ny_database(postgres_server_url) as dsn:
        await seed_bulk(dsn, STANDARD, KEY, lop=400, garantier=100, seed=11, i_dag=I_DAG, kryptert=True, arbeidere=1)
        await rebuild_views(dsn, oversikt(), arbeidere=1)
        conn = await asyncpg.connect(dsn)
        try:
            await opprett_varsler(conn, oversikt())
        finally:
            await conn.close()
        yield dsn


@pytest.mark.parametrize("arbeidere", [2, 3])
async def test_a_split_full_pass_decides_what_one_process_decides_in_the_same_order(seeded: str, arbeidere: int):
    conn = await asyncpg.connect(seeded)
    try:
        for dag in (I_DAG, I_DAG + timedelta(days=40)):
            svar = {}
            for n in (1, arbeidere):
                tr = conn.transaction()
                await tr.start()
                try:
                    svar[n] = await bestem(conn, dag, oversikt(), arbeidere=n, dsn=seeded)  # Varsel compares by value
                    svar[n, "lagret"] = await conn.fetch(
                        f"SELECT varsel_id, type, frist, per, dager_igjen, aggregat, aggregat_id, nav_enhet, "
                        f"kontaktperson, forsinket, besluttet_per FROM {TABELL} ORDER BY nr"
                    )
                finally:
                    await tr.rollback()
            assert len(svar[1]) > 50  # the seed has open alerts on both days
            assert svar[arbeidere] == svar[1]
            assert [dict(r) for r in svar[arbeidere, "lagret"]] == [dict(r) for r in svar[1, "lagret"]]
    finally:
        await conn.close()


async def test_a_failing_worker_fails_the_pass_and_stores_nothing(seeded: str):
    conn = await asyncpg.connect(seeded)
    try:
        with pytest.raises(RuntimeError, match="alert pass worker forlop-varsler-"):
            async with conn.transaction():
                # The workers cannot reach this database (it does not exist): each fails on connecting.
                await bestem(conn, I_DAG, oversikt(), arbeidere=2, dsn=seeded.replace("/t_", "/borte_"))
        assert await conn.fetchval(f"SELECT count(*) FROM {TABELL}") == 0
        with pytest.raises(ValueError, match="dsn"):
            await bestem(conn, I_DAG, oversikt(), arbeidere=2)
    finally:
        await conn.close()


async def test_run_once_splits_a_large_database_and_stores_each_alert_once(seeded: str):
    conn = await asyncpg.connect(seeded)
    try:
        assert await standard_arbeidere(conn) == 1  # 500 rows: forking would cost more than it saves
        dag = I_DAG + timedelta(days=3)
        besluttet, sendt, usendt = await run_once(seeded, None, oversikt(), dag, arbeidere=2)
        assert besluttet > 50 and sendt == 0 and usendt == await conn.fetchval(f"SELECT count(*) FROM {TABELL}")
        assert (await run_once(seeded, None, oversikt(), dag, arbeidere=2))[0] == 0  # decided once
        await conn.execute(f"DELETE FROM {TABELL}")
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("kommando", "tabell", "kolonne", "feil"),
    [
        (["varsler", "kjor", "--per", I_DAG.isoformat()], "v_lop", "lop_id", f"varsler {I_DAG}: nothing decided: "),
        (["rebuild", "--view", "oversikt"], "forlop_events", "notification_id", "rebuild oversikt: nothing swapped in: "),
    ],
)
async def test_the_cli_names_a_failed_pass_in_one_line_and_keeps_nothing(
    seeded: str, tmp_path, kommando: list[str], tabell: str, kolonne: str, feil: str
):
    """A stored row that does not decode (here: trailing bytes after its JSON) fails `forlop varsler kjor`
    and `forlop rebuild`, split or not, with exit code 1 and one line saying what failed, not a traceback;
    the outbox and the views are as before."""
    felt = "state" if tabell == "forlop_events" else "tilstand"
    env = {**os.environ, "DATABASE_URL": seeded, "FORLOP_PERSON_KEY": KEY.decode(), "FORLOP_LOG_LEVEL": "CRITICAL"}
    conn = await asyncpg.connect(seeded)
    try:
        for_varsler = await conn.fetchval(f"SELECT count(*) FROM {TABELL}")
        for_visning = await conn.fetch("SELECT lop_id, versjon, tilstand FROM v_lop ORDER BY lop_id")
        await conn.execute(f"CREATE TEMP TABLE lagret AS SELECT {kolonne}, {felt} FROM {tabell}")
        await conn.execute(f"UPDATE {tabell} SET {felt} = {felt} || '\\x20'::bytea || '\\x78'::bytea")
        try:
            for arbeidere in ("2", "1"):
                ut = await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "workers.cli", *kommando, "--arbeidere", arbeidere, "--data-dir", str(tmp_path)],
                    env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                assert ut.returncode == 1, ut.stderr
                siste = ut.stderr.strip().splitlines()[-1]
                assert siste.startswith(f"Error: {feil}"), ut.stderr
                assert ("worker" in siste) == (arbeidere == "2") and "Traceback" not in ut.stderr
        finally:
            await conn.execute(f"UPDATE {tabell} t SET {felt} = l.{felt} FROM lagret l WHERE t.{kolonne} = l.{kolonne}")
        assert await conn.fetchval(f"SELECT count(*) FROM {TABELL}") == for_varsler
        assert await conn.fetch("SELECT lop_id, versjon, tilstand FROM v_lop ORDER BY lop_id") == for_visning
    finally:
        await conn.close()
