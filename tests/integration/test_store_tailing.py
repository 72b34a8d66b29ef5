"""Acceptance: a reader tailing the events table by notification id, while several stores (each its own
pool and committer, so their transactions really compete for the table lock) write concurrently, sees
strictly increasing ids and, in the end, every committed event exactly once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from domain.errors import VersionConflict
from tests.integration.eksempel import REGELSETT, close_store, kontekst, ny_konto, open_store

STORES = 4
WRITERS_PER_STORE = 2
SAVES_PER_WRITER = 40


async def test_tailing_reader_sees_increasing_ids_and_every_event_once(database_url: str) -> None:
    stores = [await open_store(database_url, snapshot_every=None) for _ in range(STORES)]
    committed: set[int] = set()
    done = asyncio.Event()

    async def writer(store, n: int) -> None:
        shared = ny_konto()  # written by this writer and raced by a neighbour now and then
        await store.save(shared)
        for i in range(SAVES_PER_WRITER):
            konto = ny_konto()
            konto.sett_inn(Decimal(i + 1), kontekst(), REGELSETT)
            committed.update(await store.save(konto))
            if i % 8 == 0:
                a = await store.get(shared.id)
                b = await stores[(n + 1) % STORES].get(shared.id)
                a.sett_inn(Decimal(1), kontekst(), REGELSETT)
                b.sett_inn(Decimal(2), kontekst(), REGELSETT)
                for r in await asyncio.gather(
                    store.save(a), stores[(n + 1) % STORES].save(b), return_exceptions=True
                ):
                    if isinstance(r, list):
                        committed.update(r)
                    else:
                        assert isinstance(r, VersionConflict), r

    seen: list[int] = []
    seen_keys: list[tuple[object, int]] = []

    async def reader() -> None:
        recorder = stores[0].recorder
        last = 0
        while True:
            finished = done.is_set()
            batch = await recorder.select_notifications(last, 50, inclusive_of_start=False)
            for n in batch:
                assert n.id > last
                last = n.id
                seen.append(n.id)
                seen_keys.append((n.originator_id, n.originator_version))
            if not batch:
                if finished:
                    return
                await asyncio.sleep(0.001)

    try:
        tail = asyncio.create_task(reader())
        await asyncio.gather(*(writer(stores[s], s) for s in range(STORES) for _ in range(WRITERS_PER_STORE)))
        done.set()
        await tail
    finally:
        for store in stores:
            await close_store(store)

    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert len(set(seen_keys)) == len(seen_keys)
    # Saves that returned ids are all there; the first creation saves were not collected, so ⊇.
    assert committed <= set(seen)
    assert len(seen) == len(committed) + STORES * WRITERS_PER_STORE
