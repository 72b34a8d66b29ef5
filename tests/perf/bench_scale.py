"""`make bench-scale`: how the system behaves as the log grows to 10 million events (issue 19).

One fresh database (DATABASE_URL's server if set, else an embedded pgserver) is grown with
`forlop seed --bulk` (workers/seed_bulk.py: the seed plan judged by the command service in memory, written
with COPY) to each size of BENCH_SCALE_SIZES (default 0, 1M, 3M, 10M events; about 8.8 events per løp,
a quarter as many guarantees as løp, field encryption on as in production). At each size, each figure
beside its baseline measured in the same run, with the 1-minute load average and the CPU time the hypervisor
stole over the size (`steal` of /proc/stat: a shared virtual machine's load average does not show it):

- seed: the bulk rate, and (once, at the first size) the command path's rate (`forlop seed`, 16 writers)
  over BENCH_SCALE_COMMAND_LOP løp into a scratch database on the same server;
- raw read: the events read in notification order by keyset (2,000 a round trip) with nothing done; raw
  read + COPY: that read, and one row per aggregate (its last state) written with COPY into an unlogged
  scratch table: the I/O a rebuild cannot avoid;
- rebuild of every view (`projections.rebuild.rebuild_views`, in a subprocess of its own): time,
  events/s, and the peak RSS of that process tree (its worker processes included; psutil, sampled every
  0.1 s);
- verify (`store.verification.verify_log`, the whole log): events/s against the raw read;
- commands over HTTP (the API of tests/perf/bench_http.py's server: one uvicorn worker; 16 clients, a
  grant then three extensions each, BENCH_SCALE_SECONDS per round, BENCH_SCALE_ROUNDS rounds): p50/p99;
- reads over HTTP: GET /tiltakslop/{id} of open seeded løp, and /frister pages (100 rows, following
  `neste`, office by office, as a REVISOR who sees all offices): p99 with one client (a request's own
  latency; p50 and p99) and with 16 (closed loop on one worker: the queue is in the figure; p99); with the
  open løp count;
- one business day's alert pass (`workers.varsler.run_once`, what `forlop varsler kjor --per D` runs:
  everything open that day, over a process per CPU; no NATS, so it decides and leaves the alerts in the
  outbox): seconds, with the number of alerts decided, beside the same pass in one process; and the
  running worker's step on the next business date (`bestem(fra=D+1)`: the alerts whose fire date is that
  day, by the windows on the views' frist columns);
- relay catch-up from position 0 (`workers.relay.Relay`, a NATS server with `sync_interval: always`)
  over the first BENCH_SCALE_RELAY_WINDOW events, against raw `publish_async` of the same envelopes;
- disk: the events table with its indexes per million events, and the largest index of the database.

Each size's figures are written as soon as they are measured (docs/benchmarks.md, section "Growth to 10
million events", and the plot docs/benchmarks-growth.png; the raw figures in docs/benchmarks-growth.json),
so a run stopped part-way leaves what it measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
OUT_MD = DOCS / "benchmarks.md"
OUT_JSON = DOCS / "benchmarks-growth.json"
OUT_PNG = DOCS / "benchmarks-growth.png"
SECTION = "## Growth to 10 million events"

SIZES = [int(float(x)) for x in os.environ.get("BENCH_SCALE_SIZES", "0,1e6,3e6,1e7").split(",")]
SECONDS = float(os.environ.get("BENCH_SCALE_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_SCALE_ROUNDS", "3"))
RELAY_WINDOW = int(os.environ.get("BENCH_SCALE_RELAY_WINDOW", "50000"))
COMMAND_LOP = int(os.environ.get("BENCH_SCALE_COMMAND_LOP", "3000"))
EVENTS_PER_LOP = 8.8
I_DAG = date(2026, 11, 24)
CLIENTS = 16
BATCH = 2000


def say(text: str) -> None:
    print(f"[scale {datetime.now(UTC).strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_times() -> Any:
    import psutil

    return psutil.cpu_times()


def steal_pct(start: Any, end: Any) -> float | None:
    """The share of CPU time the hypervisor gave to others between two `cpu_times()` (Linux's `steal`): on a
    shared virtual machine the load average does not show it, and it slows every figure of the size."""
    felter = [f for f in start._fields if f not in ("guest", "guest_nice")]  # guest time is in user already
    total = sum(getattr(end, f) - getattr(start, f) for f in felter)
    if not total or "steal" not in felter:
        return None
    return round(100 * (end.steal - start.steal) / total, 1)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# --- the process-tree RSS of a subprocess ---------------------------------------------------------------------


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run `cmd`; (seconds, peak RSS in MB of it and its descendants, summed per sample)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env})
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        try:
            p = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            total = 0
            try:
                for q in [p, *p.children(recursive=True)]:
                    try:
                        total += q.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                break
            peak[0] = max(peak[0], total / 2**20)
            time.sleep(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    code = proc.wait()
    seconds = time.perf_counter() - start
    done.set()
    t.join()
    if code != 0:
        raise RuntimeError(f"{cmd} exited {code}")
    return seconds, peak[0]


def _rebuild_main(dsn: str, data_dir: str) -> None:
    """The subprocess: rebuild every view, as `forlop rebuild` does."""
    from projections.rebuild import rebuild_views
    from store.settings import load_settings
    from workers.registry import PROJEKSJONER

    settings = load_settings(environ={"DATABASE_URL": dsn}, data_dir=Path(data_dir))

    async def main() -> None:
        for lag in PROJEKSJONER.values():
            await rebuild_views(dsn, lag(settings))

    asyncio.run(main())


# --- baselines --------------------------------------------------------------------------------------------------


async def raw_read(conn: asyncpg.Connection, copy: bool) -> tuple[int, float]:
    """(events, seconds): the log read by keyset; with `copy`, one row per aggregate (its last state)
    written into an unlogged scratch table with COPY, in batches as they complete."""
    sql = (
        "SELECT notification_id, originator_id, originator_version, topic, state FROM forlop_events "
        "WHERE notification_id > $1 ORDER BY notification_id LIMIT $2"
    )
    if copy:
        await conn.execute("DROP TABLE IF EXISTS bench_scale_copy")
        await conn.execute(
            "CREATE UNLOGGED TABLE bench_scale_copy (id uuid, versjon bigint, topic text, state bytea)"
        )
    start = time.perf_counter()
    pos, n = 0, 0
    siste: dict[Any, tuple[Any, ...]] = {}
    stmt = await conn.prepare(sql)
    while True:
        rows = await stmt.fetch(pos, BATCH)
        if not rows:
            break
        n += len(rows)
        pos = rows[-1][0]
        if copy:
            for r in rows:
                siste[r[1]] = (r[1], r[2], r[3], r[4])
            if len(siste) >= 50_000:
                await conn.copy_records_to_table("bench_scale_copy", records=list(siste.values()))
                siste.clear()
    if copy and siste:
        await conn.copy_records_to_table("bench_scale_copy", records=list(siste.values()))
    seconds = time.perf_counter() - start
    if copy:
        await conn.execute("DROP TABLE bench_scale_copy")
    return n, seconds


# --- HTTP ---------------------------------------------------------------------------------------------------------


async def client_main(job: dict[str, Any]) -> dict[str, Any]:
    """A client subprocess: `frister` pages (the others are tests/perf/bench_http.py's client)."""
    from tests.perf.bench_http import Connection, closed_loop

    clients = int(job.get("clients", CLIENTS))
    conns = [Connection("127.0.0.1", job["port"], job["token"]) for _ in range(clients)]
    for c in conns:
        await c.open()
    enheter: list[str] = job["enheter"]
    cursor: list[str | None] = [None] * clients
    per = job["per"]

    async def side(w: int, i: int) -> bool:
        enhet = enheter[(w * 31 + i // 5) % len(enheter)]
        path = f"/api/v1/frister?per={per}&enhet={enhet}&antall=100"
        if cursor[w] is not None and i % 5:
            path += f"&etter={cursor[w]}"
        status, _, body = await conns[w].request("GET", path)
        cursor[w] = json.loads(body).get("neste") if status == 200 else None
        return status == 200

    sample = await closed_loop(job["seconds"], clients, side)
    for c in conns:
        c.writer.close()
    return {"count": sample.count, "seconds": sample.seconds, "latencies": sample.latencies, "errors": sample.errors}


async def run_frister_client(job: dict[str, Any]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.perf.bench_scale", "client",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, _ = await proc.communicate(json.dumps(job).encode())
    if proc.returncode != 0:
        raise RuntimeError("frister client failed")
    return json.loads(out)


async def http_figures(dsn: str, data_dir: Path, settings: Any, conn: asyncpg.Connection, idents: Any) -> dict[str, Any]:
    from api.identity import make_token
    from tests.perf import bench_http

    port = bench_http.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.perf.bench_http", "serve", dsn, str(data_dir), str(port)], cwd=ROOT
    )
    out: dict[str, Any] = {}
    try:
        await bench_http.wait_ready(port, server)
        skriver = make_token(settings.secret("jwt"), ident="Z990001", roller=["SAKSBEHANDLER"], enheter=["0315"])
        revisor = make_token(settings.secret("jwt"), ident="Z990002", roller=["REVISOR"], enheter=[])

        def cmd_job(seconds: float) -> dict[str, Any]:
            per_client = int(40 * seconds) + 20  # 2,500 commands/s: above one worker's ceiling
            return {
                "port": port, "token": skriver, "mode": "commands", "seconds": seconds, "clients": CLIENTS,
                "idents": [[next(idents) for _ in range(per_client)] for _ in range(CLIENTS)],
            }  # fmt: skip

        await bench_http.run_client(cmd_job(0.5))  # warm-up
        p50, p99, rates, feil = [], [], [], 0
        for _ in range(ROUNDS):
            s = await bench_http.run_client(cmd_job(SECONDS))
            p50.append(s.p(0.5))
            p99.append(s.p(0.99))
            rates.append(s.rate)
            feil += s.errors
        out["cmd_p50"], out["cmd_p99"], out["cmd_rate"] = (
            statistics.median(p50), statistics.median(p99), statistics.median(rates)
        )
        out["cmd_errors"] = feil
        open_ids = [
            str(r[0])
            for r in await conn.fetch(
                "SELECT lop_id FROM v_lop WHERE NOT annullert AND NOT avsluttet ORDER BY md5(lop_id::text) LIMIT 4000"
            )
        ]
        if open_ids:
            enheter = [r[0] for r in await conn.fetch("SELECT DISTINCT nav_enhet FROM v_lop ORDER BY 1")]

            async def get_runde(clients: int) -> tuple[float, float, int]:
                s = await bench_http.run_client(
                    {"port": port, "token": revisor, "mode": "get", "seconds": SECONDS, "clients": clients,
                     "lop_ids": open_ids}  # fmt: skip
                )
                return s.p(0.5), s.p(0.99), s.errors

            async def frister_runde(clients: int) -> tuple[float, float, int]:
                r = await run_frister_client(
                    {"port": port, "token": revisor, "seconds": SECONDS, "enheter": enheter,
                     "per": I_DAG.isoformat(), "clients": clients}  # fmt: skip
                )
                return pct(r["latencies"], 0.5) * 1000, pct(r["latencies"], 0.99) * 1000, r["errors"]

            # One client: a request's own latency; 16: the closed loop, with the queue on one worker in it.
            for navn, runde in (("get", get_runde), ("frister", frister_runde)):
                for suffiks, clients in (("", CLIENTS), ("_1", 1)):
                    p50, p99, errors = zip(*[await runde(clients) for _ in range(ROUNDS)], strict=True)
                    out[f"{navn}_p50{suffiks}"] = statistics.median(p50)
                    out[f"{navn}_p99{suffiks}"] = statistics.median(p99)
                    feil += sum(errors)
        out["http_errors"] = feil
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    return out


# --- relay ----------------------------------------------------------------------------------------------------------


async def relay_figures(dsn: str, url: str, settings: Any) -> dict[str, Any]:
    import msgspec
    import nats

    from projections.runner import SPORING, to_notifications
    from store.envelope import make_envelope, subject
    from store.mapper import mapper_for
    from tests.perf.bench_relay import drop_streams
    from workers.nats_setup import HENDELSER, ensure_streams
    from workers.relay import LOGG, Relay
    from workers.relay import NAVN as RELAY
    from workers.relay import opprett as opprett_relay

    pkey = settings.secret("pseudonym")
    mapper = mapper_for(settings.secret("person"), kryptert=settings.field_encryption)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM forlop_events "
            "WHERE notification_id <= $1 ORDER BY notification_id",
            RELAY_WINDOW,
        )
        await mapper.prepare_reading(conn, (bytes(r["state"]) for r in rows))
        meldinger = []
        for n in to_notifications(rows):
            k = make_envelope(mapper, n, pkey)
            if k is not None:
                meldinger.append((subject(k), msgspec.json.encode(k), str(k.id)))
        await opprett_relay(conn)
    finally:
        await conn.close()
    # raw publish_async, the relay's in-flight bound
    await drop_streams(url)
    nc = await nats.connect(url)
    await ensure_streams(nc.jetstream())
    await nc.close()
    start = time.perf_counter()
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=512)
        for s, data, mid in meldinger:
            await js.publish_async(s, data, headers={"Nats-Msg-Id": mid})
        await js.publish_async_completed()
        raw_rate = len(meldinger) / (time.perf_counter() - start)
        await js.stream_info(HENDELSER)
    finally:
        await nc.close()
    # the relay from position 0 until it has passed the window
    await drop_streams(url)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        await pool.execute(f"TRUNCATE {LOGG}")
        await pool.execute(f"UPDATE {SPORING} SET posisjon = 0 WHERE projeksjon = $1", RELAY)
        stopp = asyncio.Event()
        r = Relay(dsn, url, pkey, window=512, mapper=mapper_for(settings.secret("person"), kryptert=settings.field_encryption))
        start = time.perf_counter()
        task = asyncio.create_task(r.run(stopp))
        while r.status.posisjon < RELAY_WINDOW:
            if task.done():
                raise RuntimeError("the relay stopped")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        publisert = r.status.publisert
        stopp.set()
        await task
    finally:
        await pool.close()
    return {"relay_rate": publisert / elapsed, "relay_raw_rate": raw_rate, "relay_messages": len(meldinger)}


# --- one size ---------------------------------------------------------------------------------------------------------


async def disk(conn: asyncpg.Connection) -> dict[str, Any]:
    tabell = await conn.fetchval("SELECT pg_total_relation_size('forlop_events')")
    indekser = await conn.fetchval("SELECT pg_indexes_size('forlop_events')")
    navn, storst = await conn.fetchrow(
        "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'i' AND n.nspname = 'public' ORDER BY 2 DESC LIMIT 1"
    )
    db = await conn.fetchval("SELECT pg_database_size(current_database())")
    return {"events_bytes": tabell, "events_index_bytes": indekser, "largest_index": navn,
            "largest_index_bytes": storst, "database_bytes": db}  # fmt: skip


async def measure_size(
    dsn: str, data_dir: Path, settings: Any, url: str, idents: Any, nr: int, fig: dict[str, Any], lagre: Any
) -> None:
    """Fill `fig` with one size's figures; `lagre()` after each step (a run stopped part-way keeps them)."""
    from projections.oversikt import Oversikt
    from store import verification
    from store.mapper import mapper_for
    from workers.varsler import bestem, run_once, standard_arbeidere

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
        fig["events"] = await conn.fetchval("SELECT count(*) FROM forlop_events")
        fig["load_start"] = load()
        fig.update(await disk(conn))
        n, s = await raw_read(conn, copy=False)
        fig["raw_read_rate"] = n / s if n else None
        n, s = await raw_read(conn, copy=True)
        fig["raw_copy_rate"] = n / s if n else None
        fig["load_end"] = load()
        lagre()
        say(f"{fig['events']:,} events: raw read {fig['raw_read_rate'] or 0:,.0f}/s, read+COPY {fig['raw_copy_rate'] or 0:,.0f}/s")
    finally:
        await conn.close()
    secs, rss = run_measured(
        [sys.executable, "-m", "tests.perf.bench_scale", "rebuild", dsn, str(data_dir)], {}
    )
    fig["rebuild_seconds"], fig["rebuild_rss_mb"] = secs, rss
    fig["rebuild_rate"] = fig["events"] / secs if fig["events"] else None
    say(f"rebuild {secs:.1f} s, peak RSS {rss:.0f} MB")
    lagre()
    conn = await asyncpg.connect(dsn)
    try:
        nokkel = verification.signing_key_from(settings.secret("signing"))
        start = time.perf_counter()
        svar = await verification.verify_log(conn, nokkel.public_key())
        fig["verify_seconds"] = time.perf_counter() - start
        fig["verify_ok"] = svar.ok
        fig["verify_rate"] = svar.hendelser / fig["verify_seconds"] if svar.hendelser else None
        say(f"verify {fig['verify_seconds']:.1f} s ok={svar.ok}")
        lagre()
        fig["open_lop"] = await conn.fetchval("SELECT count(*) FROM v_lop WHERE NOT annullert AND NOT avsluttet")
        fig.update(await http_figures(dsn, data_dir, settings, conn, idents))
        fig["load_end"] = load()
        lagre()
        say(f"http: cmd p50 {fig['cmd_p50']:.1f} p99 {fig['cmd_p99']:.1f} ms; get p99 {fig.get('get_p99_1', 0):.1f} / "
            f"{fig.get('get_p99', 0):.1f}; frister p99 {fig.get('frister_p99_1', 0):.1f} / {fig.get('frister_p99', 0):.1f}")
        oversikt = Oversikt(mapper_for(settings.secret("person"), kryptert=settings.field_encryption), settings.regler,
                            settings.secret("person"))  # fmt: skip
        dag = I_DAG + timedelta(days=nr)
        # Baseline: the same full pass in this one process, rolled back (so the pass below decides it anew).
        start = time.perf_counter()
        tr = conn.transaction()
        await tr.start()
        try:
            fig["alerts_decided_1"] = len(await bestem(conn, dag, oversikt, arbeidere=1))
            fig["alerts_seconds_1"] = time.perf_counter() - start
        finally:
            await tr.rollback()
        fig["alerts_workers"] = await standard_arbeidere(conn)
        start = time.perf_counter()
        besluttet, _, _ = await run_once(dsn, None, oversikt, dag, arbeidere=fig["alerts_workers"])
        fig["alerts_seconds"], fig["alerts_decided"] = time.perf_counter() - start, besluttet
        say(f"alert pass {fig['alerts_seconds']:.1f} s over {fig['alerts_workers']} processes ({besluttet} decided); "
            f"one process {fig['alerts_seconds_1']:.1f} s")
        # The running worker's step on the next business date (workers/varsler.py, step 2): the alerts whose
        # fire date is that day, through the windows on the views' frist columns, in the pass's transaction.
        neste = dag + timedelta(days=1)
        start = time.perf_counter()
        async with conn.transaction():
            fig["alerts_day_decided"] = len(await bestem(conn, neste, oversikt, fra=neste))
        fig["alerts_day_seconds"] = time.perf_counter() - start
        say(f"next day's window step {fig['alerts_day_seconds']:.2f} s ({fig['alerts_day_decided']} decided)")
        fig["load_end"] = load()
        lagre()
    finally:
        await conn.close()
    if fig["events"] >= RELAY_WINDOW:
        fig.update(await relay_figures(dsn, url, settings))
        say(f"relay {fig['relay_rate']:,.0f}/s vs raw {fig['relay_raw_rate']:,.0f}/s")
    fig["load_end"] = load()
    lagre()


# --- the run -------------------------------------------------------------------------------------------------------------


async def command_path_rate(server_dsn: str, settings: Any) -> dict[str, Any]:
    from store.embedded import with_database
    from workers.seed import seed_database
    from workers.seed_bulk import seed_bulk

    out: dict[str, Any] = {}
    for sti in ("command", "bulk"):
        name = f"bench_scale_{sti}_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(server_dsn)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        dsn = with_database(server_dsn, name)
        kw: dict[str, Any] = dict(lop=COMMAND_LOP, garantier=COMMAND_LOP // 4, seed=5, i_dag=I_DAG,
                                  kryptert=settings.field_encryption)  # fmt: skip
        try:
            if sti == "command":
                _, r = await seed_database(dsn, settings.regler, settings.secret("person"), **kw)
            else:
                r = await seed_bulk(dsn, settings.regler, settings.secret("person"), **kw)
            out[f"{sti}_rate"] = r.per_sekund
            say(f"{sti} path over {COMMAND_LOP} løp: {r.hendelser} events, {r.per_sekund:,.0f} events/s")
        finally:
            admin = await asyncpg.connect(server_dsn)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    return out


async def _run(server_dsn: str, work: Path) -> None:
    from store.embedded import with_database
    from store.migrations import migrate
    from store.settings import load_settings
    from tests.perf.bench_http import synthetic_idents
    from workers.embedded_nats import start_nats, stop_nats
    from workers.seed_bulk import seed_bulk, standard_arbeidere

    name = f"bench_scale_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = with_database(server_dsn, name)
    data_dir = work / "data"
    data_dir.mkdir()
    settings = load_settings(environ={"DATABASE_URL": dsn}, data_dir=data_dir)
    await migrate(dsn)
    from tests.integration.nats_hjelp import ledig_port

    url, nats_proc = start_nats(work / "nats", ledig_port(), sync_always=True)
    result: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="minutes"), "cpus": os.cpu_count(),
                              "sizes": []}  # fmt: skip
    # The HTTP clients' people: month + 80, which the seed (month + 40) never draws.
    idents = iter([i for i in synthetic_idents() if i[2:4] == "88"])
    brukt: set[str] = set()
    try:
        result["seed"] = await command_path_rate(server_dsn, settings)
        write(result)
        seeded = 0
        for nr, size in enumerate(SIZES):
            cpu_start = cpu_times()
            conn = await asyncpg.connect(dsn)
            now = await conn.fetchval("SELECT count(*) FROM forlop_events")
            await conn.close()
            bulk: dict[str, Any] = {}
            if size > now:
                lop = int((size - now) / EVENTS_PER_LOP) + 1
                say(f"bulk-seeding {lop:,} løp toward {size:,} events ...")
                r = await seed_bulk(
                    dsn, settings.regler, settings.secret("person"), lop=lop, garantier=lop // 4, seed=100 + nr,
                    i_dag=I_DAG, kryptert=settings.field_encryption, snapshot_every=settings.snapshot_interval,
                    brukt=brukt, arbeidere=standard_arbeidere(),
                )  # fmt: skip
                bulk = {"bulk_events": r.hendelser, "bulk_seconds": r.sekunder, "bulk_rate": r.per_sekund,
                        "bulk_refused": sum(r.avvist.values())}  # fmt: skip
                seeded += r.hendelser
                say(f"seeded {r.hendelser:,} events in {r.sekunder:.0f} s ({r.per_sekund:,.0f}/s)")
            fig: dict[str, Any] = {"size": size, **bulk}
            result["sizes"].append(fig)
            await measure_size(dsn, data_dir, settings, url, idents, nr, fig, lambda: write(result))
            fig["steal_pct"] = steal_pct(cpu_start, cpu_times())
            write(result)
    finally:
        stop_nats(nats_proc)
        admin = await asyncpg.connect(server_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


# --- output ---------------------------------------------------------------------------------------------------------------


def _f(v: Any, fmt: str = ",.0f", unit: str = "") -> str:
    return "–" if v is None or (isinstance(v, float) and v != v) else f"{v:{fmt}}{unit}"


def markdown(r: dict[str, Any]) -> str:
    sizes = r["sizes"]
    seed = r.get("seed", {})
    base = sizes[0] if sizes else {}
    lines = [
        SECTION,
        "",
        f"Generated by `make bench-scale` (tests/perf/bench_scale.py; module docstring for the method), started "
        f"{r['started']} UTC on {r['cpus']} CPUs shared with other work: absolute times are noisy, so each figure "
        "stands beside its baseline from the same run. Raw figures: docs/benchmarks-growth.json; plot: "
        "docs/benchmarks-growth.png.",
        "",
    ]
    if seed:
        ratio = seed.get("bulk_rate", 0) / seed["command_rate"] if seed.get("command_rate") else float("nan")
        lines += [
            f"Seeding, same plan ({COMMAND_LOP} løp): command path {_f(seed.get('command_rate'))} events/s, "
            f"`--bulk` {_f(seed.get('bulk_rate'))} events/s ({ratio:.1f}×).",
            "",
        ]
    head = ["events", "load (CPU steal)", "bulk seed /s", "raw read /s", "read+COPY /s", "rebuild s", "rebuild /s (× read+COPY)",
            "rebuild RSS MB", "verify /s (× raw)", "cmd p50/p99 ms", "open løp", "GET ms: 1 client p50/p99; 16 p99",
            "/frister ms: 1 client p50/p99; 16 p99", "alert pass s (decided); in 1 process (× faster split)", "next day's step s (decided)", "relay /s (× raw)", "events+idx MB per M", "largest index"]  # fmt: skip
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f in sizes:
        per_m = f["events_bytes"] / 2**20 / (f["events"] / 1e6) if f["events"] and f.get("events_bytes") else None
        storst = f"{f['largest_index']} ({f['largest_index_bytes'] / 2**20:.0f} MB)" if f.get("largest_index") else "–"
        def x(a: Any, b: Any) -> str:
            return f" ({a / b:.2f}×)" if a and b else ""
        lines.append("| " + " | ".join([
            _f(f["events"]), f"{f.get('load_start', '?')}–{f.get('load_end', '?')}"
            + (f", steal {f['steal_pct']:.0f}%" if f.get("steal_pct") is not None else ""), _f(f.get("bulk_rate")), _f(f.get("raw_read_rate")),
            _f(f.get("raw_copy_rate")), _f(f.get("rebuild_seconds"), ".1f"),
            _f(f.get("rebuild_rate")) + x(f.get("rebuild_rate"), f.get("raw_copy_rate")),
            _f(f.get("rebuild_rss_mb")), _f(f.get("verify_rate")) + x(f.get("verify_rate"), f.get("raw_read_rate")),
            f"{_f(f.get('cmd_p50'), '.1f')} / {_f(f.get('cmd_p99'), '.1f')}", _f(f.get("open_lop")),
            f"{_f(f.get('get_p50_1'), '.1f')}/{_f(f.get('get_p99_1'), '.1f')}; {_f(f.get('get_p99'), '.1f')}",
            f"{_f(f.get('frister_p50_1'), '.1f')}/{_f(f.get('frister_p99_1'), '.1f')}; {_f(f.get('frister_p99'), '.1f')}",
            f"{_f(f.get('alerts_seconds'), '.1f')} ({_f(f.get('alerts_decided'))}); 1 process {_f(f.get('alerts_seconds_1'), '.1f')}"
            + (x(f.get("alerts_seconds_1"), f.get("alerts_seconds")) if f.get("alerts_decided") else ""),
            f"{_f(f.get('alerts_day_seconds'), '.2f')} ({_f(f.get('alerts_day_decided'))})",
            _f(f.get("relay_rate")) + x(f.get("relay_rate"), f.get("relay_raw_rate")), _f(per_m, ".0f"),
            storst,
        ]) + " |")  # fmt: skip
    if r.get("stopped"):
        lines += ["", f"The run stopped {r['stopped']}."]
    lines += [f"- {_f(f['events'])} events: {f['note']}" for f in sizes if f.get("note")]
    if base and len(sizes) > 1:
        last = sizes[-1]
        if base.get("cmd_p99") and last.get("cmd_p99"):
            lines += ["", f"Command p99 at {last['events']:,} events over p99 at {base['events']:,}: "
                      f"{last['cmd_p99'] / base['cmd_p99']:.2f}× (target ≤ 1.2×)."]  # fmt: skip
    lines += [
        "",
        f"Relay: from position 0 over the first {RELAY_WINDOW:,} events, NATS with `sync_interval: always`; raw = "
        "`publish_async` of the same envelopes with the same in-flight bound. Alert pass: decide only (no NATS), "
        "business day I_DAG + size index, everything open that day (what `forlop varsler kjor --per D` decides, "
        "split by aggregate id over a process per CPU once the views are large: `workers.varsler.standard_arbeidere`), "
        "beside the same pass in one process (rolled back); "
        "next day's step: what the running worker decides on the following business date (the alerts whose fire "
        "date is that day). HTTP: one uvicorn worker; commands with 16 clients; GET and /frister as a REVISOR, "
        "with one client (a request's own latency) and with 16 (closed loop: p99 includes the queue of the "
        "other 15 on one worker).",
        "",
    ]
    return "\n".join(lines)


def plot(r: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [f for f in r["sizes"] if f["events"]]
    if not sizes:
        return
    xs = [f["events"] / 1e6 for f in sizes]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    for key, label in (("raw_read_rate", "raw read"), ("raw_copy_rate", "read + COPY"), ("rebuild_rate", "rebuild"),
                       ("verify_rate", "verify"), ("relay_rate", "relay"), ("bulk_rate", "bulk seed")):  # fmt: skip
        ys = [f.get(key) for f in sizes]
        if any(ys):
            ax.plot(xs, [y or float("nan") for y in ys], marker="o", label=label)
    ax.set(xlabel="events in the log (millions)", ylabel="events/s", title="Throughput", yscale="log")
    ax.legend(fontsize=8)
    ax = axes[1]
    xs_all = [f["events"] / 1e6 for f in r["sizes"]]
    for key, label in (("cmd_p50", "command p50"), ("cmd_p99", "command p99"), ("get_p99", "GET løp p99"),
                       ("get_p99_1", "GET løp p99, 1 client"), ("frister_p99", "/frister p99"),
                       ("frister_p99_1", "/frister p99, 1 client")):  # fmt: skip
        ax.plot(xs_all, [f.get(key) or float("nan") for f in r["sizes"]], marker="o", label=label)
    ax.set(xlabel="events in the log (millions)", ylabel="ms", title="HTTP latency")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(xs, [f.get("rebuild_seconds") or float("nan") for f in sizes], marker="o", label="rebuild (s)")
    ax.plot(xs, [f.get("alerts_seconds") or float("nan") for f in sizes], marker="o", label="alert pass (s)")
    ax.plot(xs, [(f.get("rebuild_rss_mb") or float("nan")) / 100 for f in sizes], marker="o", label="rebuild RSS (100 MB)")
    ax.plot(xs, [(f.get("database_bytes") or float("nan")) / 2**30 for f in sizes], marker="o", label="database (GB)")
    ax.set(xlabel="events in the log (millions)", title="Time, memory, disk")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT_PNG, dpi=90)
    plt.close(fig)


def write(r: dict[str, Any]) -> None:
    OUT_JSON.write_text(json.dumps(r, indent=1, default=str) + "\n", encoding="utf-8")
    from tests.perf.run_all import _sections

    text = OUT_MD.read_text(encoding="utf-8") if OUT_MD.exists() else "# Benchmarks\n"
    sections = _sections(text)
    head = text.split("\n## ", 1)[0].rstrip("\n") + "\n"
    sections[SECTION] = markdown(r)
    OUT_MD.write_text(head + "\n" + "\n".join(s.rstrip("\n") + "\n" for s in sections.values()), encoding="utf-8")
    try:
        plot(r)
    except Exception as e:  # a missing plot must not lose the figures
        say(f"plot failed: {e!r}")


def main() -> None:
    from store.embedded import start_postgres

    work = Path(tempfile.mkdtemp(prefix="forlop-bench-scale-", dir=os.environ.get("BENCH_SCALE_DIR")))
    server = None
    try:
        dsn = os.environ.get("DATABASE_URL")
        if not dsn:
            dsn, server = start_postgres(work / "pg", cleanup_mode="stop")
        asyncio.run(_run(dsn, work))
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "rebuild":
        _rebuild_main(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "client":
        import uvloop

        job = json.loads(sys.stdin.buffer.read())
        sys.stdout.write(json.dumps(uvloop.run(client_main(job))))
    else:
        main()
