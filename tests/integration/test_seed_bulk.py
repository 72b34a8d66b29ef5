"""`forlop seed --bulk` (workers/seed_bulk.py) on real PostgreSQL, at small size, with field encryption on:

- the bulk log equals the command path's log for the same seed: per aggregate, the same decoded events in
  the same versions. What must differ is ignored: the ids of løp and guarantees (uuid4 in both paths; each
  is named by its first event's topic, person and fom instead), the timestamps and the links (which cover
  ids, timestamps and ciphertexts), and the event ids a correction names (derived from the løp's id). Person records have the same ids in both (a keyed hash of the identifier).
- notification ids are gap-free and follow the log order, keys exist for every person, snapshots as the
  repository takes them;
- `verify_log` holds over it (with a checkpoint signed over it);
- the views `rebuild_views` builds from it equal those the live runner builds for the same log;
- a second bulk seed that would touch the same people is refused and writes nothing;
- `forlop seed` refuses while a scheduler holds its lock (issue 17).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import click
import msgspec
import pytest
from eventsourcing.persistence import StoredEvent

from domain.config import STANDARD
from domain.ident import Fodselsnummer
from domain.tiltakslop import hendelse_id
from projections.oversikt import Oversikt
from projections.rebuild import rebuild_views
from projections.runner import Runner, opprett
from store import verification
from store.locks import lock_key
from store.mapper import mapper_for
from store.settings import load_settings
from tests.conftest import ny_database
from workers import cli
from workers.scheduler import NAVN as PLANLEGGER
from workers.seed import seed_database
from workers.seed_bulk import BulkRefused, samlet_plan, seed_bulk

KEY = b"test-person-key"
I_DAG = date(2026, 11, 24)
LOP, GARANTIER = 150, 40
NOKKEL = verification.signing_key_from(b"test-signing-key-" + b"s" * 32)


def _json(obj: Any) -> Any:
    if isinstance(obj, Fodselsnummer):
        return obj.verdi
    return str(obj)


async def _logg(dsn: str) -> tuple[dict[str, list[tuple[int, str, str]]], list[int], int, int]:
    """Decoded events per aggregate (ids of løp and guarantees replaced by a name, and so the event ids
    derived from them, `domain.tiltakslop.hendelse_id`; no timestamps or links),
    the notification ids in log order, the number of keys and of snapshots."""
    mapper = mapper_for(KEY, kryptert=True)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM forlop_events "
            "ORDER BY notification_id"
        )
        await mapper.prepare_reading(conn, (bytes(r["state"]) for r in rows))
        nokler = await conn.fetchval("SELECT count(*) FROM forlop_personnokler WHERE nokkel IS NOT NULL")
        snapshots = await conn.fetchval("SELECT count(*) FROM forlop_snapshots")
    finally:
        await conn.close()
    hendelser = []
    navn: dict[str, str] = {}
    for r in rows:
        event = mapper.to_domain_event(StoredEvent(r[1], r[2], r[3], bytes(r[4])))
        state = {k: v for k, v in vars(event).items() if k not in ("timestamp", "lenke", "originator_id")}
        oid = str(r[1])
        if r[2] == 1 and "person" in state and "fom" in state:  # a løp or guarantee: named by what it is
            navn[oid] = f"{r[3].rsplit('.', 1)[-1]}:{_json(state['person'])}:{state['fom']}"
        hendelser.append((oid, r[2], r[3], msgspec.json.encode(state, enc_hook=_json).decode()))
    for oid, versjon, _, _ in list(hendelser):  # a correction names an event by an id derived from the løp's
        if oid in navn:
            navn[str(hendelse_id(UUID(oid), versjon))] = f"{navn[oid]}#{versjon}"
    per_aggregat: dict[str, list[tuple[int, str, str]]] = {}
    for oid, versjon, topic, tekst in hendelser:
        for gammel, ny in navn.items():
            tekst = tekst.replace(gammel, ny)
        per_aggregat.setdefault(navn.get(oid, oid), []).append((versjon, topic, tekst))
    return per_aggregat, [r[0] for r in rows], nokler, snapshots


async def _visninger(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {t: [tuple(r) for r in await conn.fetch(f"SELECT * FROM {t} ORDER BY 1")] for t in ("v_lop", "v_garanti")}
    finally:
        await conn.close()


async def test_bulk_log_equals_the_command_path_verifies_and_rebuilds_to_the_live_views(postgres_server_url):
    kw: dict[str, Any] = dict(lop=LOP, garantier=GARANTIER, seed=11, i_dag=I_DAG, kryptert=True, snapshot_every=5)
    async with ny_database(postgres_server_url) as kommando, ny_database(postgres_server_url) as bulk:
        # In parts of 60 løp (as a large seed is drawn), so the bulk side runs its worker process.
        plan = samlet_plan(LOP, GARANTIER, seed=11, i_dag=I_DAG, konfig=STANDARD, del_lop=60)
        _, res = await seed_database(kommando, STANDARD, KEY, plan=plan, **kw)
        bres = await seed_bulk(bulk, STANDARD, KEY, arbeidere=1, del_lop=60, **kw)
        assert bres.deler == 3
        assert dict(res.avvist) == {} == dict(bres.avvist)
        assert (bres.lop, bres.garantier, bres.kommandoer, bres.hendelser) == (
            res.lop, res.garantier, res.kommandoer, res.hendelser
        )

        logg_k, ids_k, nokler_k, snap_k = await _logg(kommando)
        logg_b, ids_b, nokler_b, snap_b = await _logg(bulk)
        assert len(logg_b) == len(logg_k) > LOP + GARANTIER
        assert logg_b == logg_k  # every aggregate: the same events, versions, topics and decoded fields
        assert ids_b == list(range(1, len(ids_b) + 1))  # gap-free, in log order
        assert nokler_b == nokler_k > 0
        assert snap_b == snap_k > 0

        # The bulk log verifies, with a checkpoint signed over all of it.
        conn = await asyncpg.connect(bulk)
        try:
            punkt = await verification.write_checkpoint(conn, NOKKEL)
            assert punkt is not None and punkt.posisjon == len(ids_b)
            svar = await verification.verify_log(conn, NOKKEL.public_key())
        finally:
            await conn.close()
        assert svar.ok and svar.hendelser == len(ids_b) and svar.sjekkpunkter == 1, svar

        # The live runner's views, then a rebuild over the same log: equal row for row.
        oversikt = Oversikt(mapper_for(KEY, kryptert=True), STANDARD, KEY)
        pool = await asyncpg.create_pool(bulk, min_size=1, max_size=2)
        try:
            await opprett(pool, oversikt)
            runner = Runner(bulk, oversikt)
            while await runner.run_batch(pool):
                pass
        finally:
            await pool.close()
        live = await _visninger(bulk)
        assert len(live["v_lop"]) == LOP and len(live["v_garanti"]) == GARANTIER
        pos = await rebuild_views(bulk, Oversikt(mapper_for(KEY, kryptert=True), STANDARD, KEY), arbeidere=1)
        assert pos == len(ids_b)
        assert await _visninger(bulk) == live

        # The same people again: refused, nothing written.
        with pytest.raises(BulkRefused):
            await seed_bulk(bulk, STANDARD, KEY, **kw)
        assert (await _logg(bulk))[1] == ids_b


async def test_seed_refuses_while_a_scheduler_runs(database_url, tmp_path):
    settings = load_settings(None, data_dir=tmp_path, today=I_DAG)
    holder = await asyncpg.connect(database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", lock_key(PLANLEGGER))
        for bulk in (False, True):
            with pytest.raises(click.ClickException, match="scheduler"):
                await cli._seed(settings, database_url, 5, 0, 1, 4, False, bulk)
        assert await holder.fetchval("SELECT count(*) FROM forlop_events") == 0
    finally:
        await holder.close()
    assert await cli._seed(settings, database_url, 5, 0, 1, 4, False, True) == 0  # lock released: it seeds
    conn = await asyncpg.connect(database_url)
    try:
        assert Counter(r[0].rsplit(".", 1)[-1] for r in await conn.fetch(
            "SELECT topic FROM forlop_events WHERE originator_version = 1"
        ))["TiltakslopInnvilget"] == 5
    finally:
        await conn.close()

