"""Verifying the log (`forlop verify`, store/verification.py) over at least 1,000,000 events, beside reading the
same rows with plain asyncpg in the same run. Target: verify >= 0.3x the raw read rate.

The log: STREAMS accounts (tests/integration/eksempel.py) of EVENTS events each are written through the event
store (the store's own encoding and hash chain); then that set is copied COPIES times under new aggregate
ids, each copy's links recomputed with store.mapper.chained_state (so every chain holds), and loaded with
COPY in version-major order (every stream's version 1, then every version 2, ...), so that streams
interleave in notification order as they do in a live log. Then one checkpoint is signed over all of it
(its rate is reported too), and the raw read and the verification run in ROUNDS interleaved rounds; the
medians are reported.

Raw read: the verifier's own query (keyset by notification id, BATCH rows per round trip) with nothing done
to the rows. Verify: the whole walk — every link recomputed, per-stream heads, the checkpoint's segment.

`python -m tests.perf.bench_verify` prints the section; `tests.perf.run_all` puts it in docs/benchmarks.md.
Uses DATABASE_URL's server if set, else an embedded pgserver; always a fresh database.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg

from store import verification
from store.embedded import start_postgres, with_database
from store.mapper import ZERO_LINK, chained_state
from store.migrations import migrate
from tests.integration.eksempel import REGELSETT, close_store, kontekst, ny_konto, open_store

STREAMS = int(os.environ.get("BENCH_VERIFY_STREAMS", "1000"))
EVENTS = 10  # per stream: opened + 9 deposits
COPIES = int(os.environ.get("BENCH_VERIFY_COPIES", "100"))  # 1000 x 10 x 100 = 1,000,000 events
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BATCH = verification.BATCH
TARGET = 0.3


async def _skriv_mal(dsn: str) -> list[tuple[uuid.UUID, int, str, bytes]]:
    store = await open_store(dsn, snapshot_every=None)
    try:
        kontoer = []
        for _ in range(STREAMS):
            konto = ny_konto()
            for i in range(EVENTS - 1):
                konto.sett_inn(Decimal(100 + i), kontekst(), REGELSETT)
            kontoer.append(konto)
        await asyncio.gather(*(store.save(k) for k in kontoer))
    finally:
        await close_store(store)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT originator_id, originator_version, topic, state FROM forlop_events "
            "ORDER BY originator_version, notification_id"
        )
    finally:
        await conn.close()
    return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]


async def _kopier(dsn: str, mal: list[tuple[uuid.UUID, int, str, bytes]]) -> float:
    """COPIES copies of the template under new ids with recomputed links; returns seconds."""
    start = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(COPIES):
            nye: dict[uuid.UUID, tuple[uuid.UUID, bytes]] = {}
            rader = []
            for oid, versjon, topic, state in mal:  # version-major: prev link is always known
                ny_id, forrige = nye.get(oid) or (uuid.uuid4(), ZERO_LINK)
                link, ny_state = chained_state(forrige, ny_id, versjon, topic, b"{" + state[verification.PREFIX:])
                nye[oid] = (ny_id, link)
                rader.append((ny_id, versjon, topic, ny_state))
            await conn.copy_records_to_table(
                "forlop_events", records=rader, columns=["originator_id", "originator_version", "topic", "state"]
            )
        await conn.execute("VACUUM ANALYZE forlop_events")
    finally:
        await conn.close()
    return time.perf_counter() - start


async def _raa(conn: asyncpg.Connection) -> tuple[int, float]:
    sql = (
        "SELECT notification_id, originator_id, originator_version, topic, state FROM forlop_events "
        "WHERE notification_id > $1 AND notification_id <= $2 ORDER BY notification_id LIMIT $3"
    )
    hoy = await conn.fetchval("SELECT max(notification_id) FROM forlop_events")
    start = time.perf_counter()
    n, etter = 0, 0
    while True:
        rows = await conn.fetch(sql, etter, hoy, BATCH)
        if not rows:
            break
        n += len(rows)
        etter = rows[-1][0]
    return n, time.perf_counter() - start


async def measure(server_dsn: str) -> dict[str, object]:
    name = f"bench_verify_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = with_database(server_dsn, name)
    await migrate(dsn)
    try:
        t0 = time.perf_counter()
        mal = await _skriv_mal(dsn)
        skrevet = time.perf_counter() - t0
        kopiert = await _kopier(dsn, mal)
        nokkel = verification.signing_key_from(b"bench-signing-key")
        conn = await asyncpg.connect(dsn)
        try:
            totalt = await conn.fetchval("SELECT count(*) FROM forlop_events")
            t0 = time.perf_counter()
            sp = await verification.write_checkpoint(conn, nokkel)
            signert = time.perf_counter() - t0
            assert sp is not None and sp.antall == totalt
            raa, verif = [], []
            for _ in range(ROUNDS):
                n, s = await _raa(conn)
                assert n == totalt
                raa.append(n / s)
                t0 = time.perf_counter()
                svar = await verification.verify_log(conn, nokkel.public_key())
                s = time.perf_counter() - t0
                assert svar.ok and svar.hendelser == totalt and svar.sjekkpunkter == 1, svar
                verif.append(totalt / s)
        finally:
            await conn.close()
        return {
            "events": totalt, "streams": STREAMS * (COPIES + 1), "written_s": skrevet, "copied_s": kopiert,
            "raw": statistics.median(raa), "verify": statistics.median(verif), "checkpoint": totalt / signert,
        }
    finally:
        admin = await asyncpg.connect(server_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def markdown(r: dict[str, object]) -> str:
    raw, verify = float(r["raw"]), float(r["verify"])  # type: ignore[arg-type]
    ratio = verify / raw
    return "\n".join([
        "## Verification (`tests/perf/bench_verify.py`)",
        "",
        f"`forlop verify` over {r['events']:,} events in {r['streams']:,} streams (store/verification.py), beside "
        "reading the same rows with plain asyncpg in the same run; median of "
        f"{ROUNDS} interleaved rounds. The log: {STREAMS:,} accounts × {EVENTS} events written through the event "
        f"store ({float(r['written_s']):.1f} s), then copied {COPIES}× under new ids with every link recomputed by "
        f"store.mapper.chained_state and loaded with COPY in version-major order ({float(r['copied_s']):.1f} s).",
        "",
        "| measurement | events/s | ratio to raw read | target | ok |",
        "|---|---:|---:|---|---|",
        f"| raw read (asyncpg, keyset batches of {BATCH:,}) | {raw:,.0f} | 1.00 | | |",
        f"| verify (every chain + the checkpoint) | {verify:,.0f} | {ratio:.2f} | >= {TARGET}x raw | "
        f"{'yes' if ratio >= TARGET else 'NO'} |",
        f"| first checkpoint signed over the whole log | {float(r['checkpoint']):,.0f} | "  # type: ignore[arg-type]
        f"{float(r['checkpoint']) / raw:.2f} | | |",  # type: ignore[arg-type]
        "",
    ])


def run() -> str:
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
