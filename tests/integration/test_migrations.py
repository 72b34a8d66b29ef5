"""The schema's numbered migrations (store/migrations) on real PostgreSQL: applied once, in order, under a
lock; idempotent; a changed applied migration or an unknown one refused; an old database upgraded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from domain.config import STANDARD
from projections.as_known import spill_av
from projections.oversikt import Oversikt
from projections.rebuild import rebuild_views
from projections.runner import opprett
from store.mapper import mapper_for
from store.migrations import MIGRATIONS, TABLE, Migration, MigrationError, migrate, pending
from tests.integration.eksempel import REGELSETT, close_store, kontekst, ny_konto, open_store

ROOT = Path(__file__).resolve().parents[2]
ALLE = [m.name for m in MIGRATIONS]
GAMMELT_SKJEMA = Path(__file__).parent / "data" / "schema_before_migrations.sql"

# The schema as PostgreSQL's catalog holds it (names, columns, defaults, constraints, indexes, functions,
# triggers, storage options): two databases with equal snapshots have the same schema.
_KATALOG = {
    "kolonner": "SELECT table_name, column_name, data_type, is_nullable, column_default FROM "
    "information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    "indekser": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
    "skranker": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    "funksjoner": "SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
    "WHERE pronamespace = 'public'::regnamespace ORDER BY proname",
    "utlosere": "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname",
    "typer": "SELECT typname, typtype FROM pg_type WHERE typnamespace = 'public'::regnamespace ORDER BY typname",
    "tabeller": "SELECT relname, relkind, reloptions FROM pg_class "
    "WHERE relnamespace = 'public'::regnamespace ORDER BY relname",
}


async def katalog(dsn: str) -> dict[str, list[tuple]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {navn: [tuple(r) for r in await conn.fetch(sql)] for navn, sql in _KATALOG.items()}
    finally:
        await conn.close()


async def applied(dsn: str) -> list[tuple[int, str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(f"SELECT version, name, checksum FROM {TABLE} ORDER BY version")]
    finally:
        await conn.close()


async def test_an_empty_database_gets_every_migration_once_with_its_checksum_and_a_rerun_does_nothing(
    tom_database_url,
):
    conn = await asyncpg.connect(tom_database_url)
    try:
        assert await pending(conn) == ALLE
        assert await migrate(tom_database_url) == ALLE
        assert await pending(conn) == []
        assert await applied(tom_database_url) == [(m.version, m.name, m.checksum) for m in MIGRATIONS]
        foer = await katalog(tom_database_url)
        assert await migrate(tom_database_url) == []  # idempotent: nothing applied, nothing changed
        assert await katalog(tom_database_url) == foer
        assert await pending(conn) == []
    finally:
        await conn.close()


async def test_the_shipped_migrations_are_numbered_in_order_from_0001():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.name.startswith(f"{m.version:04d}_") for m in MIGRATIONS)
    assert len({m.checksum for m in MIGRATIONS}) == len(MIGRATIONS)


async def test_processes_starting_at_once_apply_each_migration_exactly_once(tom_database_url):
    """Not idempotent on purpose: run twice, the first migration fails (the table exists) and the second
    counts double. The first sleeps, so the others start while it holds the lock."""
    egne = [
        Migration(1, "0001_once", "CREATE TABLE once (n int); INSERT INTO once VALUES (1); SELECT pg_sleep(0.3)"),
        Migration(2, "0002_twice", "INSERT INTO once VALUES (2)"),
    ]
    resultater = await asyncio.gather(*(migrate(tom_database_url, egne) for _ in range(5)))
    assert sorted(navn for r in resultater for navn in r) == ["0001_once", "0002_twice"]
    assert sum(1 for r in resultater if r) == 1  # one caller applied both; the others found nothing to do
    conn = await asyncpg.connect(tom_database_url)
    try:
        assert [r["n"] for r in await conn.fetch("SELECT n FROM once ORDER BY n")] == [1, 2]
    finally:
        await conn.close()


def test_two_os_processes_migrating_at_once_both_start_and_apply_each_migration_once(tom_database_url):
    kode = (
        "import asyncio, sys\n"
        "from store.migrations import migrate\n"
        "print(','.join(asyncio.run(migrate(sys.argv[1]))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    prosesser = [
        subprocess.Popen([sys.executable, "-c", kode, tom_database_url], stdout=subprocess.PIPE, env=env, cwd=ROOT)
        for _ in range(2)
    ]
    ut = [p.communicate(timeout=60)[0].decode().strip() for p in prosesser]
    assert [p.returncode for p in prosesser] == [0, 0]
    brukt = [navn for linje in ut for navn in linje.split(",") if navn]
    assert sorted(brukt) == sorted(ALLE)
    assert asyncio.run(applied(tom_database_url)) == [(m.version, m.name, m.checksum) for m in MIGRATIONS]


async def test_an_applied_migration_whose_file_changed_is_refused_and_nothing_is_applied(tom_database_url):
    forste = Migration(1, "0001_a", "CREATE TABLE a (n int)")
    await migrate(tom_database_url, [forste])
    endret = Migration(1, "0001_a", "CREATE TABLE a (n bigint)")
    neste = Migration(2, "0002_b", "CREATE TABLE b (n int)")
    with pytest.raises(MigrationError, match="0001_a was changed after it was applied"):
        await migrate(tom_database_url, [endret, neste])
    conn = await asyncpg.connect(tom_database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('b')") is None
        assert await pending(conn, [endret, neste]) == ["0002_b"]
    finally:
        await conn.close()
    # The same text with CRLF line endings is the same migration.
    assert await migrate(tom_database_url, [Migration(1, "0001_a", "CREATE TABLE a (n int)".replace("\n", "\r\n")), neste])


async def test_a_database_migrated_by_a_newer_release_or_a_migration_numbered_too_low_is_refused(tom_database_url):
    a, b, c = (Migration(i, f"000{i}_{t}", f"CREATE TABLE {t} (n int)") for i, t in ((1, "a"), (2, "b"), (3, "c")))
    await migrate(tom_database_url, [a, c])
    with pytest.raises(MigrationError, match="0003_c, which this version does not know"):
        await migrate(tom_database_url, [a])
    with pytest.raises(MigrationError, match="0002_b are older than 0003_c"):
        await migrate(tom_database_url, [a, b, c])


async def test_a_failing_migration_rolls_back_alone_and_stays_pending(tom_database_url):
    ok = Migration(1, "0001_ok", "CREATE TABLE ok (n int)")
    feil = Migration(2, "0002_feil", "CREATE TABLE halv (n int); INSERT INTO ingen_slik VALUES (1)")
    etter = Migration(3, "0003_etter", "CREATE TABLE etter (n int)")
    with pytest.raises(asyncpg.UndefinedTableError):
        await migrate(tom_database_url, [ok, feil, etter])
    conn = await asyncpg.connect(tom_database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('ok') IS NOT NULL")
        assert await conn.fetchval("SELECT to_regclass('halv')") is None  # its first statement rolled back too
        assert await pending(conn, [ok, feil, etter]) == ["0002_feil", "0003_etter"]
    finally:
        await conn.close()


async def test_a_database_set_up_by_the_code_before_migrations_is_adopted_with_its_data(
    tom_database_url, database_url
):
    conn = await asyncpg.connect(tom_database_url)
    try:
        await conn.execute(GAMMELT_SKJEMA.read_text())
    finally:
        await conn.close()
    # Data written the old way: the store's batch function, a read-log row, a tracking row.
    store = await open_store(tom_database_url, snapshot_every=None)
    try:
        konto = ny_konto()
        konto.sett_inn(Decimal("5"), kontekst("k-1"), REGELSETT)
        ids = await store.save(konto)
    finally:
        await close_store(store)
    conn = await asyncpg.connect(tom_database_url)
    try:
        await conn.execute(
            "INSERT INTO forlop_innsyn (tidspunkt, nav_ident, roller, person_pseudonym, endepunkt, correlation_id) "
            "VALUES (now(), 'Z1', '{REVISOR}', $1, 'GET /x', $2)", "a" * 64, uuid4(),
        )
        await conn.execute("INSERT INTO forlop_sporing (projeksjon, posisjon) VALUES ('oversikt', $1)", ids[-1])

        assert await migrate(tom_database_url) == ALLE
        assert await pending(conn) == []
        # The schema is now exactly that of a database the migrations made from nothing.
        assert await katalog(tom_database_url) == await katalog(database_url)
        # The rows are still there, and the tables still behave: the store writes on, the read log refuses.
        assert await conn.fetchval("SELECT count(*) FROM forlop_events") == len(ids)
        assert await conn.fetchval("SELECT posisjon FROM forlop_sporing WHERE projeksjon = 'oversikt'") == ids[-1]
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM forlop_innsyn")
    finally:
        await conn.close()
    store = await open_store(tom_database_url, snapshot_every=None)
    try:
        igjen = await store.get(konto.id)
        igjen.sett_inn(Decimal("1"), kontekst("k-2"), REGELSETT)
        assert await store.save(igjen)
    finally:
        await close_store(store)


async def test_a_database_migrated_part_way_is_brought_up_to_date(tom_database_url, database_url):
    assert await migrate(tom_database_url, MIGRATIONS[:3]) == ALLE[:3]
    assert await migrate(tom_database_url) == ALLE[3:]
    assert await katalog(tom_database_url) == await katalog(database_url)


async def test_a_rebuild_and_a_replay_build_their_tables_from_the_migrations_definition(database_url):
    """The shadow tables a rebuild swaps in, and a replay's tables, have the live tables' columns,
    constraints and indexes (under the migrations' names after the swap)."""
    projeksjon = Oversikt(mapper_for(b"k" * 32, kryptert=True), STANDARD, b"k" * 32)
    conn = await asyncpg.connect(database_url)
    try:
        await opprett(conn, projeksjon)
    finally:
        await conn.close()
    foer = await katalog(database_url)
    await rebuild_views(database_url, projeksjon)
    await rebuild_views(database_url, projeksjon)  # the names are free again for the next one
    assert await katalog(database_url) == foer

    skjema, _ = await spill_av(database_url, [projeksjon], datetime(2025, 3, 1, tzinfo=UTC))
    conn = await asyncpg.connect(database_url)
    try:
        kolonner = (
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = ANY($2::text[]) ORDER BY table_name, ordinal_position"
        )
        indekser = (
            "SELECT tablename, replace(indexdef, $1 || '.', 'S.') FROM pg_indexes WHERE schemaname = $1 "
            "AND tablename = ANY($2::text[]) ORDER BY 1, 2"
        )
        tabeller = list(projeksjon.tabeller())
        assert [tuple(r) for r in await conn.fetch(kolonner, skjema, tabeller)] == [
            tuple(r) for r in await conn.fetch(kolonner, "public", tabeller)
        ]
        replay = {r[1].split(" ON ")[1] for r in await conn.fetch(indekser, skjema, tabeller)}
        live = {r[1].split(" ON ")[1] for r in await conn.fetch(indekser, "public", tabeller)}
        assert replay == live and len(live) == 14  # 0005 and 0009
    finally:
        await conn.close()
