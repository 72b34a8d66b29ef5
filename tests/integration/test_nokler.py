"""`store.keys.KeyRing.sikre` on real PostgreSQL: one statement creates the missing keys and reads every
key, and concurrent creators of one person's key end up with the same key."""

from __future__ import annotations

import asyncio
import os
from uuid import uuid4

import asyncpg

from store.keys import TABELL, KeyRing
from store.recorder import create_pool


async def tabellen(pool, ids) -> dict:
    rows = await pool.fetch(f"SELECT person_id, nokkel FROM {TABELL} WHERE person_id = ANY($1::uuid[])", list(ids))
    return {r["person_id"]: r["nokkel"] for r in rows}


async def test_sikre_creates_reads_and_respects_erasure(database_url):
    pool = await create_pool(database_url)
    try:
        ring = KeyRing()
        ny, live, glemt = uuid4(), uuid4(), uuid4()
        await pool.execute(f"INSERT INTO {TABELL} (person_id, nokkel) VALUES ($1, $2), ($3, NULL)", live, os.urandom(32), glemt)
        await ring.sikre(pool, [ny, live, glemt])
        lagret = await tabellen(pool, [ny, live, glemt])
        assert len(lagret[ny]) == 32
        assert ring.nokkel(ny) == lagret[ny] and ring.nokkel(live) == lagret[live]
        assert ring.nokkel(glemt) is None and ring.er_glemt(glemt)  # forgotten stays forgotten
        # A new grant (`ny`): a fresh key in place of the forgotten one; a live key is kept.
        await KeyRing().sikre(pool, [live, glemt], ny=True)
        ring2 = KeyRing()
        await ring2.sikre(pool, [live, glemt], ny=True)
        etter = await tabellen(pool, [live, glemt])
        assert etter[live] == lagret[live] and len(etter[glemt]) == 32
        assert ring2.nokkel(glemt) == etter[glemt] and ring2.nokkel(live) == lagret[live]
    finally:
        await pool.close()


async def test_concurrent_creators_use_one_key(database_url):
    pool = await create_pool(database_url, min_size=2, max_size=10)
    try:
        ids = [uuid4() for _ in range(20)]
        ringer = [KeyRing() for _ in range(6)]
        await asyncio.gather(*(r.sikre(pool, ids[i % 3 :] + ids[: i % 3]) for i, r in enumerate(ringer)))
        lagret = await tabellen(pool, ids)
        assert len(lagret) == 20
        for ring in ringer:
            assert [ring.nokkel(p) for p in ids] == [lagret[p] for p in ids]
    finally:
        await pool.close()


async def test_a_key_committed_after_the_statement_began_is_read_again(database_url):
    """The other creator's insert is still open when `sikre` starts: its statement waits on the conflict, does
    nothing, and cannot see the winner's row in its snapshot; the row is read again after it."""
    pool = await create_pool(database_url)
    annen = await asyncpg.connect(database_url)
    try:
        ring = KeyRing()
        pid, vinner = uuid4(), os.urandom(32)
        transaksjon = annen.transaction()
        await transaksjon.start()
        await annen.execute(f"INSERT INTO {TABELL} (person_id, nokkel) VALUES ($1, $2)", pid, vinner)
        sikring = asyncio.create_task(ring.sikre(pool, [pid]))
        await asyncio.sleep(0.3)
        assert not sikring.done()  # waiting on the open insert
        await transaksjon.commit()
        await sikring
        assert ring.nokkel(pid) == vinner
    finally:
        await annen.close()
        await pool.close()
