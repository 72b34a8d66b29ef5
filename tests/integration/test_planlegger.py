"""The scheduler of automatic commands on real PostgreSQL: the FYLT_30 end of a guarantee (rules.md UG-5,
UG-D5) is written once, on the 30th birthday and not the day before, with tom = the day before the
birthday; a second run, a restart and a second scheduler racing it write nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from domain.commands import AvsluttGaranti
from domain.common import Aktor, Kontekst
from domain.config import STANDARD
from projections.oversikt import Oversikt
from projections.runner import opprett
from store.mapper import ForlopMapper
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service
from tests.hjelp import garanti_grant, identer, ta_igjen
from workers.scheduler import Scheduler, avslutt_fylt30, fylt30_kontekst

KEY = b"test-person-key"


IDENT, IDENT_2 = identer(2, fodt="150895")
BURSDAG_30 = date(2025, 8, 15)


def oversikt() -> Oversikt:
    return Oversikt(ForlopMapper(), STANDARD, KEY)


@pytest.fixture
async def tjeneste(database_url: str) -> AsyncIterator[Service]:
    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    await opprett(pool, oversikt())
    try:
        yield Service(EventStore(recorder), STANDARD, KEY)
    finally:
        await recorder.close()
        await pool.close()


async def catch_up(database_url: str) -> None:
    await ta_igjen(database_url, oversikt())


async def garanti(tjeneste: Service, ident: str = IDENT, **extra: Any) -> UUID:
    grant: dict[str, Any] = dict(
        person=ident,
        fodselsdato=date(1995, 8, 15),
        fom=date(2025, 1, 2),
        nav_enhet="0315",
        bistandsbehov_vedtak_ref="14A-1",
    )
    grant.update(extra)
    ktx = Kontekst(aktor=Aktor("Z990001", "0315"), correlation_id=uuid4())
    return (await tjeneste.innvilg_garanti(garanti_grant(**grant), CommandContext(ktx))).id


async def avsluttet(database_url: str, garanti_id: UUID) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            "SELECT notification_id, originator_version FROM forlop_events "
            "WHERE originator_id = $1 AND topic LIKE '%UngdomsgarantiAvsluttet'",
            garanti_id,
        )
    finally:
        await conn.close()


async def test_fylt_30_ends_the_guarantee_on_the_30th_birthday_once_not_the_day_before(tjeneste, database_url):
    garanti_id = await garanti(tjeneste)
    await catch_up(database_url)
    pool = tjeneste.store.recorder.pool

    day_before = await avslutt_fylt30(pool, tjeneste, date(2025, 8, 14))
    none_yet = await avsluttet(database_url, garanti_id)
    on_birthday = await avslutt_fylt30(pool, tjeneste, BURSDAG_30)
    again_before_the_views_know = await avslutt_fylt30(pool, tjeneste, BURSDAG_30)
    await catch_up(database_url)
    after_the_views_know = await avslutt_fylt30(pool, tjeneste, date(2025, 8, 16))

    assert day_before == [] and none_yet == []
    assert on_birthday == [garanti_id]
    assert again_before_the_views_know == [garanti_id]  # answered by the idempotency key, nothing appended
    assert after_the_views_know == []
    assert len(await avsluttet(database_url, garanti_id)) == 1
    ended = await tjeneste.get_garanti(garanti_id)
    assert ended.avslutningsaarsak == "FYLT_30" and ended.avsluttet_tom == date(2025, 8, 14)  # UG-5
    history, _ = await tjeneste.history(garanti_id, "ungdomsgaranti")
    last = msgspec_builtins(history)[-1]
    assert last["aktor"] == {"nav_ident": "SYSTEM", "enhet": None}
    assert last["correlation_id"] == str(fylt30_kontekst(garanti_id).correlation_id)


def msgspec_builtins(history: Any) -> list[dict[str, Any]]:
    import msgspec

    raw = msgspec.to_builtins(history)
    return raw["elementer"] if isinstance(raw, dict) else raw


async def test_a_guarantee_ended_by_a_caseworker_before_the_views_knew_is_skipped(tjeneste, database_url):
    garanti_id = await garanti(tjeneste)
    await catch_up(database_url)
    ktx = Kontekst(aktor=Aktor("Z990001", "0315"), correlation_id=uuid4())
    await tjeneste.avslutt_garanti(
        garanti_id, AvsluttGaranti(tom=date(2025, 8, 1), aarsak="BEHOV_OPPHORT"), CommandContext(ktx)
    )

    answered = await avslutt_fylt30(tjeneste.store.recorder.pool, tjeneste, BURSDAG_30)

    assert answered == []
    assert len(await avsluttet(database_url, garanti_id)) == 1


async def test_two_schedulers_racing_write_the_end_once(tjeneste, database_url):
    ids = [await garanti(tjeneste), await garanti(tjeneste, IDENT_2, fodselsdato=date(1995, 3, 1))]
    await catch_up(database_url)
    pool = tjeneste.store.recorder.pool

    # Without the lock: two runs at once; the command id makes the loser's command a repeat.
    await asyncio.gather(*(avslutt_fylt30(pool, tjeneste, BURSDAG_30) for _ in range(3)))
    # With the lock: two scheduler replicas (one active) and a restart of each.
    for _ in range(2):
        stopp = asyncio.Event()
        planleggere = [
            Scheduler(database_url, oversikt(), lambda: BURSDAG_30, tjeneste=tjeneste, poll_seconds=0.05),
            Scheduler(database_url, oversikt(), lambda: BURSDAG_30, poll_seconds=0.05),  # its own service
        ]
        tasks = [asyncio.create_task(p.run(stopp)) for p in planleggere]
        await asyncio.sleep(0.5)
        active = [p.active for p in planleggere]
        stopp.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert active.count(True) == 1

    for garanti_id in ids:
        assert len(await avsluttet(database_url, garanti_id)) == 1
