"""Rebuild a projection from the whole log into shadow tables, then swap them in atomically.

The live runner keeps serving (and writing) the live tables meanwhile. The swap happens in one
transaction that holds the projection's tracking row (so the live runner's next batch waits), catches the
shadow up to the head of the log, renames the tables and sets the position: a query sees either the old
complete view or the new complete one, never a half-built one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import asyncpg

from projections.runner import SPORING, Projeksjon, opprett, til_notifikasjoner

SKYGGE = "__ny"
GAMMEL = "__gammel"

Fremdrift = Callable[[int, int, float], None]


def fremdriftslinje(stream=sys.stderr) -> Fremdrift:  # noqa: ANN001 - a text stream
    """A progress bar on a terminal line: `[#####.....]  52% 520000/1000000 events  48000/s`."""

    def vis(gjort: int, totalt: int, sekunder: float) -> None:
        andel = 1.0 if totalt == 0 else min(1.0, gjort / totalt)
        fylt = int(andel * 30)
        rate = gjort / sekunder if sekunder > 0 else 0.0
        stream.write(
            f"\r[{'#' * fylt}{'.' * (30 - fylt)}] {andel:4.0%} {gjort}/{totalt} events {rate:8.0f}/s"
        )
        if gjort >= totalt:
            stream.write("\n")
        stream.flush()

    return vis


async def gjenoppbygg(
    dsn: str,
    projeksjon: Projeksjon,
    *,
    events_table: str = "forlop_events",
    batch: int = 2000,
    fremdrift: Fremdrift | None = None,
) -> int:
    """Rebuild `projeksjon` and swap it in; returns the position the new view stands at."""
    conn = await asyncpg.connect(dsn)
    try:
        await opprett(conn, projeksjon)
        for tabell in projeksjon.tabeller(SKYGGE):
            await conn.execute(f"DROP TABLE IF EXISTS {tabell}")
        for statement in projeksjon.ddl(SKYGGE):
            await conn.execute(statement)
        hode = await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {events_table}")
        start = time.monotonic()
        pos, gjort = 0, 0
        while True:
            async with conn.transaction():
                n, pos = await _batch(conn, projeksjon, events_table, pos, batch)
            gjort += n
            if fremdrift is not None:
                fremdrift(min(gjort, hode), max(hode, gjort), time.monotonic() - start)
            if n == 0:
                break
        async with conn.transaction():
            await conn.fetchval(
                f"SELECT posisjon FROM {SPORING} WHERE projeksjon = $1 FOR UPDATE", projeksjon.navn
            )
            while True:
                n, pos = await _batch(conn, projeksjon, events_table, pos, batch)
                if n == 0:
                    break
            live, skygge = projeksjon.tabeller(""), projeksjon.tabeller(SKYGGE)
            await conn.execute(f"LOCK TABLE {', '.join(live)} IN ACCESS EXCLUSIVE MODE")
            for gammel, ny in zip(live, skygge, strict=True):
                await conn.execute(f"ALTER TABLE {gammel} RENAME TO {gammel}{GAMMEL}")
                await conn.execute(f"ALTER TABLE {ny} RENAME TO {gammel}")
                await conn.execute(f"DROP TABLE {gammel}{GAMMEL}")
                # The indexes keep the shadow's names; give them the live names the next rebuild expects free.
                for (indeks,) in await conn.fetch(
                    "SELECT indexname FROM pg_indexes WHERE tablename = $1", gammel
                ):
                    if indeks.startswith(ny):
                        await conn.execute(f"ALTER INDEX {indeks} RENAME TO {gammel}{indeks[len(ny) :]}")
            await conn.execute(
                f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1",
                projeksjon.navn,
                pos,
            )
        return pos
    finally:
        await conn.close()


async def _batch(
    conn: asyncpg.Connection, projeksjon: Projeksjon, events_table: str, pos: int, batch: int
) -> tuple[int, int]:
    rows = await conn.fetch(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        f"FROM {events_table} WHERE notification_id > $1 ORDER BY notification_id LIMIT $2",
        pos,
        batch,
    )
    if not rows:
        return 0, pos
    await projeksjon.anvend(conn, til_notifikasjoner(rows), SKYGGE)
    return len(rows), rows[-1][0]
