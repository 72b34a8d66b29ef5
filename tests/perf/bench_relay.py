"""The event relay beside raw nats-py publishing in the same run, against embedded nats-servers with
JetStream's default sync and with `sync_interval: always` (docs/operations.md, "NATS durability").

1. A log of at least BENCH_RELAY_EVENTS (default 50,000) events is written through the command service
   (`workers.seed`, 16 writers): real rows; about half are the person record's, which the relay reads and
   does not publish.
2. (a) Throughput, two servers started side by side (one `nats-server -js` with the default sync, one with
   `jetstream { sync_interval: always }`), BENCH_RELAY_ROUNDS (3) interleaved rounds of four runs each:
   raw and relay against each server; the median of each is reported.
   - relay: `workers.relay.Relay` in this process from position 0 with an empty relay log and no streams:
     the time from its start (pool, lock, connect, streams) until its position reaches the end of the log;
     events/s = published messages / that time.
   - raw: nats-py `publish_async` with `Nats-Msg-Id` of the very envelopes the relay sends (encoded once
     beforehand from the same log: same count, same sizes, same subjects), the same in-flight bound (512),
     into a freshly created stream; the time from connect until every ack is in. Target relay >= 0.5x raw.
   The cost of fsync is each rate with `always` over the same rate with the default.
3. (b) Command-to-subscriber latency: the relay runs as `forlop relay` (its own process) against the
   `always` server (the embedded deployment's setting) while grants of new people (80 % løp, 20 %
   guarantees) are issued at a fixed 500 commands/s for BENCH_RELAY_LATENCY_SECONDS (20 s) after a 2 s
   warm-up; a JetStream push consumer in this process records when each event arrives. Latency = arrival
   minus the instant the command's answer returned (its commit), matched by `posisjon`. Target p99 <= 200 ms.
   Then the same against the default-sync server, to show what fsync adds.

`python -m tests.perf.bench_relay` prints the section; `python -m tests.perf.run_all relay` writes it into
docs/benchmarks.md. Uses DATABASE_URL's server if set, else an embedded pgserver; always a fresh database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import nats
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from domain.commands import InnvilgGaranti, InnvilgLop
from domain.common import Kontekst
from domain.config import STANDARD
from projections.runner import SPORING, to_notifications
from store.embedded import start_postgres, with_database
from store.envelope import make_envelope, subject
from store.mapper import ForlopMapper
from store.migrations import migrate
from store.service import CommandContext
from tests.integration.nats_hjelp import ledig_port
from workers.embedded_nats import start_nats
from workers.nats_setup import HENDELSER, VARSLER, ensure_streams
from workers.relay import LOGG, Relay
from workers.relay import NAVN as RELAY
from workers.relay import opprett as opprett_relay

EVENTS = int(os.environ.get("BENCH_RELAY_EVENTS", "50000"))
ROUNDS = int(os.environ.get("BENCH_RELAY_ROUNDS", "3"))
# With `sync_interval: always` JetStream takes about 1,000 messages/s on this disk: the always pair publishes
# the last ALWAYS_EVENTS messages of the log (relay from the position before them), to keep the run short.
ALWAYS_EVENTS = int(os.environ.get("BENCH_RELAY_ALWAYS_EVENTS", "10000"))
LATENCY_SECONDS = float(os.environ.get("BENCH_RELAY_LATENCY_SECONDS", "20"))
LATENCY_RATE = 500
WARMUP = 2.0
I_LUFTEN = 512  # the relay's default in-flight bound; the raw baseline uses the same
EVENTS_PER_LOP = 8.5
KEY = b"bench-person-key"
PSEUDONYM_KEY = b"bench-pseudonym-key"
I_DAG = date(2026, 11, 24)
ROOT = Path(__file__).resolve().parents[2]


def say(text: str) -> None:
    print(f"[relay] {text}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


@dataclass
class Results:
    log_rows: int = 0
    published: int = 0
    payload_bytes: float = 0.0
    seed_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # messages per run, by sync
    rates: dict[str, list[float]] = field(default_factory=dict)  # "relay/default" -> events/s per round
    envelope_rate: float = 0.0  # the relay's CPU work alone: read, decode, envelope, encode
    latency: dict[str, Latency] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)  # 1-minute load average at start, after (a), at the end


@dataclass
class Latency:
    ms: list[float] = field(default_factory=list)
    warmup: list[float] = field(default_factory=list)
    rate: float = 0.0
    refused: int = 0
    missing: int = 0
    per_second: list[float] = field(default_factory=list)


# --- 1. the log ---------------------------------------------------------------------------------------------


async def seed(dsn: str, res: Results) -> set[str]:
    from workers.seed import planlegg, seed_database

    brukt: set[str] = set()
    lop = int(EVENTS / EVENTS_PER_LOP) + 1
    conn = await asyncpg.connect(dsn)
    try:
        total, runde = 0, 0
        while total < EVENTS:
            antall = lop if runde == 0 else int((EVENTS - total) / EVENTS_PER_LOP) + 100
            say(
                f"seeding {antall} løp and {antall // 4} guarantees through the command service (16 writers) ..."
            )
            plan = planlegg(antall, antall // 4, seed=2026 + runde, i_dag=I_DAG, konfig=STANDARD, brukt=brukt)
            _, r = await seed_database(
                dsn, STANDARD, KEY, lop=antall, garantier=antall // 4, seed=runde, i_dag=I_DAG, plan=plan
            )
            res.seed_seconds += r.sekunder
            total = await conn.fetchval("SELECT count(*) FROM forlop_events")
            runde += 1
        res.log_rows = total
        await conn.execute("VACUUM ANALYZE forlop_events")
    finally:
        await conn.close()
    say(f"seeded {res.log_rows} log rows in {res.seed_seconds:.0f} s")
    return brukt


async def envelopes(dsn: str) -> list[tuple[str, bytes, str]]:
    """(subject, payload, Nats-Msg-Id) of every message the relay sends for the log, encoded as it does."""
    mapper = ForlopMapper()
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM forlop_events "
            "ORDER BY notification_id"
        )
    finally:
        await conn.close()
    ut = []
    for n in to_notifications(rows):
        k = make_envelope(mapper, n, PSEUDONYM_KEY)
        if k is not None:
            ut.append((subject(k), msgspec.json.encode(k), str(k.id)))
    return ut


# --- 2. (a) throughput --------------------------------------------------------------------------------------


async def drop_streams(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for navn in (HENDELSER, VARSLER):
            try:
                await js.delete_stream(navn)
            except NotFoundError:
                pass
    finally:
        await nc.close()


async def raw(url: str, meldinger: list[tuple[str, bytes, str]]) -> float:
    """Messages per second of plain pipelined publish_async with Msg-Ids into fresh streams."""
    await drop_streams(url)
    nc0 = await nats.connect(url)
    await ensure_streams(nc0.jetstream())
    await nc0.close()
    start = time.perf_counter()
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=I_LUFTEN)
        for s, data, mid in meldinger:
            await js.publish_async(s, data, headers={"Nats-Msg-Id": mid})
        await js.publish_async_completed()
        elapsed = time.perf_counter() - start
        info = await js.stream_info(HENDELSER)
        assert info.state.messages == len(meldinger), (info.state.messages, len(meldinger))
    finally:
        await nc.close()
    return len(meldinger) / elapsed


async def relay(dsn: str, url: str, pool: asyncpg.Pool, fra: int, antall: int) -> float:
    """Published events per second of the relay from its start (after position `fra`) until its position
    reaches the end of the log."""
    await drop_streams(url)
    await pool.execute(f"TRUNCATE {LOGG}")
    await pool.execute(f"UPDATE {SPORING} SET posisjon = $2 WHERE projeksjon = $1", RELAY, fra)
    slutt = await pool.fetchval("SELECT max(notification_id) FROM forlop_events")
    stopp = asyncio.Event()
    r = Relay(dsn, url, PSEUDONYM_KEY, window=I_LUFTEN)
    start = time.perf_counter()
    task = asyncio.create_task(r.run(stopp))
    try:
        while r.status.posisjon < slutt:
            if task.done():
                raise RuntimeError("the relay stopped")
            if time.perf_counter() - start > 600:
                raise RuntimeError("the relay did not reach the end in 10 minutes")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
    finally:
        stopp.set()
        await task
    assert r.status.publisert == antall, (r.status.publisert, antall)
    return antall / elapsed


async def throughput(dsn: str, servers: dict[str, str], res: Results) -> None:
    start = time.perf_counter()
    meldinger = await envelopes(dsn)
    res.envelope_rate = len(meldinger) / (time.perf_counter() - start)
    res.published = len(meldinger)
    res.payload_bytes = statistics.mean(len(d) for _, d, _ in meldinger)
    say(
        f"{res.published} messages to publish (mean payload {res.payload_bytes:.0f} bytes); reading and "
        f"encoding them alone: {res.envelope_rate:,.0f}/s"
    )
    utvalg = {"default": meldinger, "always": meldinger[-ALWAYS_EVENTS:]}
    fra = {k: msgspec.json.decode(v[0][1])["posisjon"] - 1 for k, v in utvalg.items()}
    res.counts = {k: len(v) for k, v in utvalg.items()}
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        await opprett_relay(pool)
        await raw(servers["default"], meldinger[:2000])  # warm-up: imports, connections, first stream
        for runde in range(1, ROUNDS + 1):
            for sync, url in servers.items():
                rate = await raw(url, utvalg[sync])
                res.rates.setdefault(f"raw/{sync}", []).append(rate)
                say(f"round {runde}/{ROUNDS}: raw publish_async, sync {sync}: {rate:,.0f} msg/s")
                rate = await relay(dsn, url, pool, fra[sync], res.counts[sync])
                res.rates.setdefault(f"relay/{sync}", []).append(rate)
                say(f"round {runde}/{ROUNDS}: relay, sync {sync}: {rate:,.0f} events/s")
    finally:
        await pool.close()


# --- 3. (b) command-to-subscriber latency --------------------------------------------------------------------


async def latency(dsn: str, url: str, data_dir: Path, brukt: set[str], seed: int) -> Latency:
    from store.recorder import AsyncPostgresRecorder, create_pool
    from store.repository import EventStore
    from store.service import Service
    from workers.seed import grant_command, planlegg

    # The stream starts empty and the relay at the end of the log: only the new commands' events travel.
    await drop_streams(url)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"TRUNCATE {LOGG}")
    head = await admin.fetchval("SELECT max(notification_id) FROM forlop_events")
    await admin.execute(f"UPDATE {SPORING} SET posisjon = $2 WHERE projeksjon = $1", RELAY, head)
    await admin.close()

    n = int((LATENCY_SECONDS + WARMUP) * LATENCY_RATE)
    plan = planlegg(
        int(n * 0.8) + 50, int(n * 0.2) + 50, seed=seed, i_dag=I_DAG, konfig=STANDARD, brukt=brukt
    )
    forste = [p.steg[0] for p in plan.personer if p.steg][:n]
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "NATS_URL": url,
        "FORLOP_PERSON_KEY": KEY.decode(),
        "FORLOP_PSEUDONYM_KEY": PSEUDONYM_KEY.decode(),
        "FORLOP_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "relay", "--data-dir", str(data_dir)], env=env, cwd=ROOT
    )
    pool = await create_pool(dsn, min_size=2, max_size=24)
    recorder = AsyncPostgresRecorder(pool)
    tjeneste = Service(EventStore(recorder, snapshot_every=50), STANDARD, KEY)
    nc = await nats.connect(url)
    res = Latency()
    try:
        js = nc.jetstream()
        # The relay creates the streams on start; the consumer needs the stream to exist.
        deadline = time.monotonic() + 60
        while True:
            try:
                await js.stream_info(HENDELSER)
                break
            except NotFoundError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the relay did not create the stream") from None
                await asyncio.sleep(0.05)
        ankomst: dict[int, float] = {}

        async def motta(msg: Any) -> None:
            t = time.perf_counter()
            ankomst[msgspec.json.decode(msg.data)["posisjon"]] = t

        sub = await js.subscribe(
            "forlop.hendelse.>",
            cb=motta,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        )
        committed: list[tuple[float, int]] = []
        refused = [0]

        async def command(steg: Any) -> None:
            ctx = CommandContext(Kontekst(aktor=steg.aktor, correlation_id=steg.correlation_id))
            try:
                if steg.kind == "innvilg_lop":
                    k = await tjeneste.innvilg_lop(grant_command(steg.felter, InnvilgLop), ctx)
                else:
                    k = await tjeneste.innvilg_garanti(grant_command(steg.felter, InnvilgGaranti), ctx)
                committed.append((time.perf_counter(), k.posisjon))
            except Exception:  # noqa: BLE001 - a refused grant is counted, not timed
                refused[0] += 1

        say(
            f"latency: {len(forste)} grants at {LATENCY_RATE}/s ({WARMUP:g} s warm-up) with `forlop relay` "
            "in its own process ..."
        )
        tasks = []
        start = time.perf_counter()
        for i, steg in enumerate(forste):
            delay = start + i / LATENCY_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(command(steg)))
            if i % (LATENCY_RATE * 5) == 0 and i:
                say(f"latency: {i} commands issued, {len(ankomst)} events received")
        await asyncio.gather(*tasks)
        res.rate = len(committed) / (time.perf_counter() - start)
        vente = time.monotonic() + 30
        while any(p not in ankomst for _, p in committed) and time.monotonic() < vente:
            await asyncio.sleep(0.02)
        await sub.unsubscribe()
        res.refused = refused[0]
        per_sekund: dict[int, list[float]] = {}
        for t_commit, p in committed:
            if p not in ankomst:
                res.missing += 1
                continue
            ms = (ankomst[p] - t_commit) * 1000
            if t_commit - start < WARMUP:
                res.warmup.append(ms)
                continue
            res.ms.append(ms)
            per_sekund.setdefault(int(t_commit - start), []).append(ms)
        res.per_second = [pct(v, 99) for _, v in sorted(per_sekund.items())]
    finally:
        await nc.close()
        await recorder.close()
        await pool.close()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return res


# --- running it -------------------------------------------------------------------------------------------


async def _measure(dsn: str, work: Path) -> Results:
    res = Results()
    servers: dict[str, str] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for sync, always in (("default", False), ("always", True)):
            url, proc = start_nats(work / f"nats-{sync}", ledig_port(), sync_always=always)
            servers[sync] = url
            procs.append(proc)
        res.load.append(os.getloadavg()[0])
        brukt = await seed(dsn, res)
        await throughput(dsn, servers, res)
        res.load.append(os.getloadavg()[0])
        for nr, sync in enumerate(("always", "default")):
            res.latency[sync] = await latency(dsn, servers[sync], work / "data", brukt, 4243 + nr)
            say(
                f"latency, sync {sync}: p50 {pct(res.latency[sync].ms, 50):.1f} ms, p99 {pct(res.latency[sync].ms, 99):.1f} ms"
            )
        res.load.append(os.getloadavg()[0])
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    return res


def measure(server_dsn: str) -> Results:
    name = f"bench_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    asyncio.run(migrate(with_database(server_dsn, name)))
    # The NATS stores on the machine's disk (not tmpfs), so `sync_interval: always` pays a real fsync.
    work = Path(tempfile.mkdtemp(prefix="forlop-bench-relay-", dir=os.environ.get("BENCH_RELAY_DIR")))
    try:
        return asyncio.run(_measure(with_database(server_dsn, name), work))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(work, ignore_errors=True)


def markdown(r: Results) -> str:
    med = {k: statistics.median(v) for k, v in r.rates.items()}

    def runs(key: str) -> str:
        return ", ".join(f"{v:,.0f}" for v in r.rates[key])

    def yes(ok: bool) -> str:
        return "yes" if ok else "**no**"

    lines = [
        "## Event relay to NATS (`tests/perf/bench_relay.py`)",
        "",
        f"Log: {r.log_rows:,} events written through the command service ({r.published:,} of them published; "
        f"the rest are the person record's, read and skipped), mean payload {r.payload_bytes:.0f} bytes. "
        "Two embedded nats-servers side by side (JetStream file store on the machine's disk, ext4): the default "
        "sync, and `jetstream { sync_interval: always }`. Median of "
        f"{ROUNDS} interleaved rounds (raw and relay on each server per round). 1-minute load average at the "
        f"start, after (a) and at the end: {', '.join(f'{x:.1f}' for x in r.load)} (on {os.cpu_count()} CPUs).",
        "",
        "(a) Throughput",
        "",
        "| Measurement | Sync | Messages | Rate (events/s) | × raw, same sync | × default sync | Target | Met | Rounds |",
        "|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    for sync in ("default", "always"):
        raw_ = med[f"raw/{sync}"]
        rel = med[f"relay/{sync}"]
        n = r.counts[sync]
        lines.append(
            f"| raw nats-py publish_async + Nats-Msg-Id (baseline) | {sync} | {n:,} | {raw_:,.0f} | 1.00 | "
            f"{raw_ / med['raw/default']:.2f} | | | {runs(f'raw/{sync}')} |"
        )
        lines.append(
            f"| relay, start to position at the end | {sync} | {n:,} | {rel:,.0f} | {rel / raw_:.2f} | "
            f"{rel / med['relay/default']:.2f} | >= 0.5x raw | {yes(rel / raw_ >= 0.5)} | {runs(f'relay/{sync}')} |"
        )
    lines += [
        f"| relay's CPU work alone: read + decode + envelope + encode, no NATS | | {r.published:,} | "
        f"{r.envelope_rate:,.0f} | {r.envelope_rate / med['raw/default']:.2f} (default) | | | | 1 run |",
        "",
        f"(b) Command → JetStream subscriber latency, {LATENCY_RATE} commands/s for {LATENCY_SECONDS:g} s, relay live",
        "",
        "| Sync | p50 | p99 | max | Commands answered /s | Target | Met | p99 per second (ms) |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for sync in ("always", "default"):
        lat = r.latency[sync]
        p99 = pct(lat.ms, 99)
        lines.append(
            f"| {sync}{' (as deployed)' if sync == 'always' else ''} | {pct(lat.ms, 50):.1f} ms | {p99:.1f} ms | "
            f"{max(lat.ms, default=float('nan')):.1f} ms | {lat.rate:.0f} | p99 <= 200 ms | {yes(p99 <= 200)} | "
            f"{', '.join(f'{x:.0f}' for x in lat.per_second)} |"
        )
    lines += [
        "",
        f"- (a) Raw publishes the same envelopes the relay sends (encoded beforehand from the same log: same "
        f"count, sizes and subjects), pipelined with the relay's in-flight bound ({I_LUFTEN}), into freshly "
        "created streams, timed from connect to the last ack. The relay runs in this process with an empty "
        "relay log and no streams, timed from its start (pool, advisory lock, connect, stream check) until its "
        "acknowledged position reaches the end of the log. It reads the rows (half a window at a time), decodes "
        "the published ones, pseudonymises, encodes, publishes them on the core connection with a reply "
        "subject under its own ack inbox (never two events of one aggregate in flight), and commits the "
        "position and stream sequences beside the publishing (one statement per run of acks). With "
        f"`always`, both publish the last {r.counts['always']:,} messages of the log (the relay starts from "
        "the position before them), because the server takes only about a thousand messages a second then.",
        f"- Cost of fsync (`sync_interval: always` / default): raw {med['raw/always'] / med['raw/default']:.2f}x, "
        f"relay {med['relay/always'] / med['relay/default']:.2f}x.",
        "- (b) Grants of new people (80 % løp, 20 % guarantees), launched at a fixed rate after a "
        f"{WARMUP:g} s warm-up. `forlop relay` runs in its own process. Latency is the arrival at an ordered "
        "JetStream push consumer in the bench process, minus the instant the command's answer returned "
        "(matched by `posisjon`). "
        + "; ".join(
            f"{sync}: {len(lat.ms):,} timed, warm-up p99 {pct(lat.warmup, 99):.0f} ms, refused {lat.refused}, "
            f"not received {lat.missing}"
            for sync, lat in r.latency.items()
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def run() -> str:
    """The benchmark section (markdown) for run_all."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return markdown(measure(url))
    data_dir = Path(tempfile.mkdtemp(prefix="forlop-bench-pg-"))
    dsn, server = start_postgres(data_dir, cleanup_mode="delete")
    try:
        return markdown(measure(dsn))
    finally:
        server.cleanup()  # type: ignore[attr-defined]


if __name__ == "__main__":
    print(run())
