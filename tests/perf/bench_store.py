"""Write throughput of the event store against the raw asyncpg transaction rate, in one run.

Baseline: one connection doing `BEGIN; INSERT one row; COMMIT` (three round trips), measured before and
after the store runs (the mean is used). Store: (a) create a new aggregate per save, (b) load + command +
save, with 1 and 16 concurrent writers; and 16 writers doing (b) where 1% of the saves use a stale copy and
fail with VersionConflict. Targets (docs/design.md, ARCHITECTURE.md): single writer >= 0.8x raw; 16 writers
>= 4x raw single-writer; 1% conflicts >= 0.5x the conflict-free 16-writer rate.

`python -m tests.perf.bench_store` prints the section; `tests.perf.run_all` puts it in docs/benchmarks.md.
Uses DATABASE_URL's server if set, else an embedded pgserver; always a fresh database.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg

from domain.feil import VersionConflict
from store.embedded import start_postgres, with_database
from tests.integration.eksempel import REGELSETT, close_store, kontekst, ny_konto, open_store

SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
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


async def _raw_rate(dsn: str) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_bench (originator_id uuid, originator_version bigint, topic text, "
            "state bytea, notification_id bigserial)"
        )
        state = b"x" * 420  # about the size of a stored deposit event
        sql = "INSERT INTO raw_bench (originator_id, originator_version, topic, state) VALUES ($1, 1, 't', $2)"

        async def op(_: int, __: int) -> None:
            async with conn.transaction():
                await conn.execute(sql, uuid.uuid4(), state)

        await _for(0.5, 1, op)  # warm up
        return await _for(SECONDS, 1, op)
    finally:
        await conn.close()


async def _store_rates(dsn: str) -> dict[str, float]:
    store = await open_store(dsn, snapshot_every=50)
    rates: dict[str, float] = {}
    try:

        async def create(_: int, __: int) -> None:
            await store.save(ny_konto())

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

        await _for(0.5, 1, create)  # warm up: prepared statements, committer task
        rates["create_1"] = await _for(SECONDS, 1, create)
        rates["command_1"] = await _for(SECONDS, 1, lambda w, i: command(0, i))
        rates["create_16"] = await _for(SECONDS, WRITERS, create)
        rates["command_16"] = await _for(SECONDS, WRITERS, command)
        saves_before = store.recorder.batches
        rates["conflicts_16"] = await _for(SECONDS, WRITERS, command_with_conflicts)
        rates["conflicts_seen"] = conflicts[0]
        rates["batches_conflicts_16"] = store.recorder.batches - saves_before
    finally:
        await close_store(store)
    return rates


async def measure(server_dsn: str) -> list[Row]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = with_database(server_dsn, name)
    try:
        raw_before = await _raw_rate(dsn)
        rates = await _store_rates(dsn)
        raw_after = await _raw_rate(dsn)
    finally:
        admin = await asyncpg.connect(server_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    raw = (raw_before + raw_after) / 2

    def row(key: str, title: str, writers: int, factor: float | None, base: float, target: str) -> Row:
        rate = rates[key]
        ratio = rate / base
        return Row(title, writers, rate, rate / raw, target, None if factor is None else ratio >= factor)

    return [
        Row(
            "raw asyncpg BEGIN; INSERT; COMMIT (baseline)",
            1,
            raw,
            1.0,
            note=f"before {raw_before:.0f}/s, after {raw_after:.0f}/s",
        ),
        row("create_1", "store: create aggregate", 1, 0.8, raw, ">= 0.8x raw"),
        row("command_1", "store: load + command + save", 1, None, raw, ""),
        row("create_16", "store: create aggregate", WRITERS, 4.0, raw, ">= 4x raw"),
        row("command_16", "store: load + command + save", WRITERS, 4.0, raw, ">= 4x raw"),
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
            "  (conflicts / transactions in that run)",
            WRITERS,
            rates["conflicts_seen"],
            note=f"{rates['conflicts_seen']:.0f} VersionConflict, {rates['batches_conflicts_16']:.0f} transactions",
        )
    ]


def markdown(rows: list[Row]) -> str:
    lines = [
        "## Event store writes (`tests/perf/bench_store.py`)",
        "",
        f"{SECONDS:g} s per measurement; rates are saves (or raw transactions) per second; ratio is against "
        "the raw single-writer baseline. The 1%-conflict target compares with the conflict-free 16-writer "
        "rate (its own ratio is in the Target column's check).",
        "",
        "| Measurement | Writers | Rate (/s) | × raw | Target | Met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        if r.name.startswith("  "):
            lines.append(f"| {r.name.strip()} | {r.writers} | | | {r.note} | |")
            continue
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        met = "" if r.ok is None else ("yes" if r.ok else "**no**")
        target = r.target or r.note
        lines.append(f"| {r.name} | {r.writers} | {r.rate:,.0f} | {ratio} | {target} | {met} |")
    conflict = next(r for r in rows if "1% conflicts" in r.name)
    command16 = next(r for r in rows if r.name == "store: load + command + save" and r.writers == WRITERS)
    lines += ["", f"1%-conflict rate / conflict-free 16-writer rate: {conflict.rate / command16.rate:.2f}.", ""]
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
