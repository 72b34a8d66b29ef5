"""Rebuild a projection from the whole log into shadow tables, then swap them in atomically.

Two passes. The first (for a projection with `emner` and `fyll`) reads the log up to its head at the start
in aggregate order, not log order, split by aggregate id over a few forked processes: each aggregate's
events arrive together, are folded in memory and its final row is written once, by COPY, into tables
without secondary indexes (built afterwards). The second catches up from that head in log order with the
live runner's `anvend` (which also applies what the first pass skips, such as erasures after its start).

The shadow tables are made LIKE the live ones (`create_shadow_tables`): the migrations are the one
definition of the views' columns, constraints and indexes. The live runner keeps serving (and writing) the
live tables meanwhile. The swap happens in one
transaction that holds the projection's tracking row (so the live runner's next batch waits), catches the
shadow up to the head of the log, renames the tables and sets the position: a query sees either the old
complete view or the new complete one, never a half-built one.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import multiprocessing
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from projections.runner import SPORING, Projection, Rad, opprett, to_notifications
from store.mapper import as_uuid

log = logging.getLogger(__name__)
T = TypeVar("T")

SKYGGE = "__ny"
GAMMEL = "__gammel"

Fremdrift = Callable[[int, int, float], None]


def progress_line(stream=sys.stderr) -> Fremdrift:  # noqa: ANN001 - a text stream
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


async def rebuild_views(
    dsn: str,
    projeksjon: Projection,
    *,
    events_table: str = "forlop_events",
    batch: int = 2000,
    fremdrift: Fremdrift | None = None,
    arbeidere: int | None = None,
) -> int:
    """Rebuild `projeksjon` and swap it in; returns the position the new view stands at. The first pass
    runs in `arbeidere` processes (default: see `forste_gjennomgang`)."""
    conn = await asyncpg.connect(dsn)
    try:
        await opprett(conn, projeksjon)
        for tabell in projeksjon.tabeller(SKYGGE):
            await conn.execute(f"DROP TABLE IF EXISTS {tabell}")
        indekser = await create_shadow_tables(conn, projeksjon.tabeller(""), SKYGGE)
        hode = await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {events_table}")
        start = time.monotonic()
        pos, gjort = 0, 0
        if projeksjon.emner:
            # First pass by aggregate: each case folded in memory and written once (COPY), up to `hode`.
            await forste_gjennomgang(
                dsn, projeksjon, hode, events_table=events_table, arbeidere=arbeidere, fremdrift=fremdrift, start=start
            )
            pos = gjort = hode  # the whole log up to here is covered (the events no view needs were skipped)
        for statement in indekser:  # built once over the filled tables, not row by row
            await conn.execute(statement)
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
                    if (navn := live_index_name(indeks, gammel, SKYGGE)) != indeks:
                        await conn.execute(f"ALTER INDEX {indeks} RENAME TO {navn}")
            await conn.execute(
                f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1",
                projeksjon.navn,
                pos,
            )
        return pos
    finally:
        await conn.close()


def standard_arbeidere(hode: int) -> int:
    """The first pass's processes by default for a log up to position `hode`: one per CPU, at most 4, and
    one per 25,000 events (measured: over a 50,000-event sample two processes ran at 67-84k events/s, one at 51-53k)."""
    return per_cpu(hode, 25_000)


def per_cpu(enheter: int, per_arbeider: int) -> int:
    """Forked workers for `enheter` units of work: one per CPU, at most 4, and one per `per_arbeider` units
    (below that, forking costs more than it saves)."""
    return max(1, min(4, os.cpu_count() or 1, enheter // per_arbeider))


def _rader(rows: list[asyncpg.Record]) -> list[Rad]:
    """(aggregate id, version, topic, state) of rows in aggregate order: each aggregate's id converted
    once (the position is not needed)."""
    ut: list[Rad] = []
    forrige: object = None
    oid = UUID(int=0)  # set by the first row
    for r in rows:
        if r[0] != forrige:
            forrige, oid = r[0], as_uuid(r[0])
        ut.append((oid, r[1], r[2], r[3]))
    return ut


# `pg_get_indexdef`'s form: CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING method (...) [...]
_INDEXDEF = re.compile(r"^(CREATE (?:UNIQUE )?INDEX) (\S+) ON (?:ONLY )?(\S+) (USING .*)$", re.DOTALL)


def shadow_name(name: str, live: str, suffix: str) -> str:
    """The shadow's name of a live table's index or constraint: `v_lop_enhet_idx` → `v_lop__ny_enhet_idx`."""
    shadow = f"{live}{suffix}{name[len(live):]}" if name.startswith(live) else f"{name}{suffix}"
    if len(shadow) > 63:  # PostgreSQL would cut it short, and the swap could not find it again
        raise ValueError(f"shadow name {shadow!r} is longer than 63 bytes")
    return shadow


def live_index_name(name: str, live: str, suffix: str) -> str:
    """The inverse of `shadow_name` for an index of the swapped-in table (now named `live`)."""
    shadow = f"{live}{suffix}"
    if name.startswith(shadow):
        return live + name[len(shadow):]
    return name.removesuffix(suffix)


async def create_shadow_tables(conn: asyncpg.Connection, live: Sequence[str], suffix: str) -> list[str]:
    """Create `<table><suffix>` for each live table, LIKE it (columns, defaults, checks, storage), with its
    primary key and unique constraints; return the CREATE INDEX statements of its other indexes, to run once
    the shadow is filled (an index built once over the rows, not row by row)."""
    indexes: list[str] = []
    for table in live:
        shadow = shadow_name(table, table, suffix)
        await conn.execute(f"CREATE TABLE {shadow} (LIKE {table} INCLUDING ALL EXCLUDING INDEXES)")
        constraints = await conn.fetch(
            "SELECT conname, pg_get_constraintdef(oid), conindid FROM pg_constraint "
            "WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x') ORDER BY conname",
            table,
        )
        for name, definition, _ in constraints:
            await conn.execute(
                f"ALTER TABLE {shadow} ADD CONSTRAINT {shadow_name(name, table, suffix)} {definition}"
            )
        for (definition,) in await conn.fetch(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = $1::regclass "
            "AND NOT (indexrelid = ANY($2::oid[])) ORDER BY indexrelid",
            table,
            [c[2] for c in constraints],
        ):
            match = _INDEXDEF.match(definition)
            if match is None:
                raise ValueError(f"unexpected index definition of {table}: {definition}")
            create, name, qualified, rest = match.groups()
            schema = qualified.rpartition(".")[0]
            target = f"{schema}.{shadow}" if schema else shadow
            indexes.append(f"{create} {shadow_name(name, table, suffix)} ON {target} {rest}")
    return indexes


async def forste_gjennomgang(
    dsn: str,
    projeksjon: Projection,
    hode: int,
    *,
    events_table: str = "forlop_events",
    suffix: str = SKYGGE,
    arbeidere: int | None = None,
    fremdrift: Fremdrift | None = None,
    start: float | None = None,
) -> int:
    """The rebuild's first pass over the log up to position `hode` into the (fresh, empty) tables of
    `suffix`, split by aggregate id over `arbeidere` processes (default: one per CPU, at most 4, and one
    per 25,000 events; forked, each folds the aggregates of its share of the id space and COPYs their
    rows); the number of events read."""
    arbeidere = arbeidere or standard_arbeidere(hode)
    start = time.monotonic() if start is None else start
    deler = id_andeler(arbeidere)
    if arbeidere == 1:
        teller = _Teller()
        oppgave = asyncio.ensure_future(
            _fyll_del(_Del(dsn, projeksjon, events_table, suffix, hode, None, None), teller)
        )
        while not oppgave.done():
            await asyncio.wait([oppgave], timeout=0.5)
            if fremdrift is not None:
                fremdrift(min(teller.value, hode), hode, time.monotonic() - start)
        return oppgave.result()
    ctx = multiprocessing.get_context("fork")
    tellere = [ctx.Value("q", 0, lock=False) for _ in deler]
    prosesser = [
        ctx.Process(
            target=_arbeider,
            args=(_Del(dsn, projeksjon, events_table, suffix, hode, fra, til), teller),
            name=f"forlop-rebuild-{k}",
            daemon=True,
        )
        for k, ((fra, til), teller) in enumerate(zip(deler, tellere, strict=True))
    ]
    # The parent's objects out of the collector's sight while the workers run: a worker's collections then
    # neither walk them nor copy their pages (copy-on-write), as Python's docs advise before fork.
    gc.freeze()
    for p in prosesser:
        p.start()
    try:
        while any(p.is_alive() for p in prosesser):
            await asyncio.sleep(0.05)
            if fremdrift is not None:
                gjort = sum(t.value for t in tellere)
                fremdrift(min(gjort, hode), hode, time.monotonic() - start)
    finally:
        for p in prosesser:
            if p.is_alive():
                p.kill()
            p.join()
        gc.unfreeze()
    if feilet := [p.name for p in prosesser if p.exitcode != 0]:
        raise WorkerFailed(f"rebuild worker(s) failed: {', '.join(feilet)}")
    return sum(t.value for t in tellere)


class _Teller:
    value = 0


@dataclass(frozen=True)
class _Del:
    """One worker's share of the first pass: the aggregates with ids in [fra, til) (None: unbounded)."""

    dsn: str
    projeksjon: Projection
    events_table: str
    suffix: str
    hode: int
    fra: UUID | None
    til: UUID | None


def _arbeider(del_: _Del, teller: Any) -> None:
    """A forked worker of the first pass: failures are reported through the exit code."""
    try:
        i_egen_loop(lambda: _fyll_del(del_, teller))
    except BaseException as e:  # noqa: BLE001 - reported through the exit code
        log.error("rebuild worker failed", exc_info=e)
        sys.exit(1)


# --- for forked workers (this first pass; the split alert pass, workers/varsler.py) -----------------------


class WorkerFailed(RuntimeError):
    """A forked worker of a rebuild's first pass or of a split alert pass failed (its own log line says
    why); nothing of the pass is kept. The CLI reports it in one line."""


def id_andeler(antall: int) -> list[tuple[UUID | None, UUID | None]]:
    """The id space cut into `antall` equal ranges [fra, til) (None: unbounded), one per worker."""
    grenser = [None, *(UUID(int=(k << 128) // antall) for k in range(1, antall)), None]
    return list(itertools.pairwise(grenser))


def i_egen_loop(lag: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine `lag()` makes in an event loop of its own, in a thread of its own, and return its
    result (or raise its error): a forked worker then reuses nothing of the parent's running loop."""
    utfall: list[Any] = []

    def kjor() -> None:
        try:
            utfall.append((True, asyncio.run(lag())))
        except BaseException as e:  # noqa: BLE001 - raised again in the calling thread
            utfall.append((False, e))

    traad = threading.Thread(target=kjor)
    traad.start()
    traad.join()
    ok, verdi = utfall[0]
    if not ok:
        raise verdi
    return verdi  # type: ignore[no-any-return]


async def _fyll_del(del_: _Del, teller: Any, *, bit: int = 2000) -> int:
    """One share of the first pass: the projection's events up to `hode` of the aggregates with ids in
    [fra, til), read in aggregate order (the primary key's) in one transaction, handed to
    `projeksjon.fyll` in runs of whole aggregates."""
    projeksjon, fra, til = del_.projeksjon, del_.fra, del_.til
    monstre = [f"{emne}%" for emne in projeksjon.emner]
    vilkar, args = ["notification_id <= $1", "topic LIKE ANY($2::text[])"], [del_.hode, monstre]
    if fra is not None:
        args.append(fra)
        vilkar.append(f"originator_id >= ${len(args)}")
    if til is not None:
        args.append(til)
        vilkar.append(f"originator_id < ${len(args)}")
    conn = await asyncpg.connect(del_.dsn)
    try:
        async with conn.transaction():
            markor = await conn.cursor(
                "SELECT originator_id, originator_version, topic, state "
                f"FROM {del_.events_table} WHERE {' AND '.join(vilkar)} ORDER BY originator_id, originator_version",
                *args,
            )
            rest: list[Rad] = []
            while True:
                rows = await markor.fetch(bit)
                if not rows:
                    break
                hendelser = _rader(rows)
                siste, k = hendelser[-1][0], len(hendelser)
                while k > 0 and hendelser[k - 1][0] == siste:
                    k -= 1  # the last aggregate may go on in the next run
                hele, rest = rest + hendelser[:k], hendelser[k:]
                if hele:
                    await projeksjon.fyll(conn, hele, del_.suffix)
                teller.value += len(rows)
            if rest:
                await projeksjon.fyll(conn, rest, del_.suffix)
    finally:
        await conn.close()
    return teller.value


async def _batch(
    conn: asyncpg.Connection, projeksjon: Projection, events_table: str, pos: int, batch: int
) -> tuple[int, int]:
    rows = await conn.fetch(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        f"FROM {events_table} WHERE notification_id > $1 ORDER BY notification_id LIMIT $2",
        pos,
        batch,
    )
    if not rows:
        return 0, pos
    await projeksjon.anvend(conn, to_notifications(rows), SKYGGE)
    return len(rows), rows[-1][0]
