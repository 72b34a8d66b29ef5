"""Commands and reads over real HTTP against the same commands called in-process, in one run.

One fresh database (DATABASE_URL's server if set, else an embedded pgserver). The workload is a caseworker's
command mix on ARBEIDSTRENING løp for NEDSATT_ARBEIDSEVNE: each of WRITERS clients grants a løp to a person
of its own (POST /tiltakslop) and then extends it three times (POST /tiltakslop/{id}/forlengelser, reason
NEDSATT_ARBEIDSEVNE, one month at a time), so 1 in 4 commands is a grant and no two clients touch the same
person or løp (no conflicts). Persons are synthetic identifiers (day 15, month +40/+80, both mod-11 digits
valid), one per grant.

- direct: `store.service.Service` called in this process on uvloop, with the arguments the HTTP handlers
  pass (business date, access check, the answer's view computed), WRITERS concurrent tasks.
- HTTP: the app of `api.app.create_app` served by uvicorn (uvloop, httptools, one worker, access log off,
  the JSON request log at INFO written to /dev/null) in a subprocess, driven by WRITERS concurrent
  keep-alive HTTP/1.1 connections from another subprocess (a minimal client on asyncio streams and uvloop,
  cheaper per request than httpx, so the client takes as little of the shared cores as possible). Each
  command carries a SAKSBEHANDLER token for office 0315.
- GET /tiltakslop/{id} over HTTP on løp written earlier, WRITERS connections, GETs alone (no commands running),
  and the same read in-process; and the same GETs while another client process runs the command mix
  (WRITERS connections each), on the same server.
- The same command mix and GETs against a second server: the same app on uvicorn with 2 worker processes
  (`--workers 2`; the API is stateless, group commit works per process), against the same direct baseline.

Rounds are interleaved (direct, HTTP, HTTP GET, direct read, GET under commands, 2 workers) ROUNDS times and each figure is the median over
rounds; latencies are per request, measured by the client (p50/p99 of each round, then the median).
Targets (the HTTP API issue): HTTP command rate >= 0.7x direct, command p99 <= 25 ms, GET p99 <= 10 ms.

`python -m tests.perf.bench_http` prints the section; `tests.perf.run_all` puts it in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

SECONDS = float(os.environ.get("BENCH_HTTP_SECONDS", "2.0"))
ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "5"))
WRITERS = 16
ENHET = "0315"
FODT = date(1990, 8, 15)
FOM, TOM = date(2026, 1, 1), date(2026, 12, 31)
NY_TOM = (date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31))  # within NAE's 18 months
PER_CLIENT = int(125 * SECONDS) + 50  # persons for one client in one round: 2x what 4k commands/s would grant
ROOT = Path(__file__).resolve().parents[2]


# --- workload --------------------------------------------------------------------------------------------


def synthetic_idents() -> list[str]:
    """Valid synthetic identifiers 15 MM YY III K1 K2 (month 48 or 88), in a fixed order."""
    from domain.ident import _K1, _K2, _kontrollsiffer, gyldig_ident

    out = []
    for month in ("48", "88"):
        for year in range(100):
            for individ in range(1000):
                digits = [int(c) for c in f"15{month}{year:02d}{individ:03d}"]
                k1 = _kontrollsiffer(digits, _K1)
                if k1 is None:
                    continue
                k2 = _kontrollsiffer([*digits, k1], _K2)
                if k2 is None:
                    continue
                ident = "".join(map(str, [*digits, k1, k2]))
                assert gyldig_ident(ident)
                out.append(ident)
    return out


def grant_body(ident: str) -> dict[str, Any]:
    return {
        "person": {"ident": ident, "fodselsdato": FODT.isoformat()},
        "tiltakstype": "ARBEIDSTRENING",
        "malgruppe": "NEDSATT_ARBEIDSEVNE",
        "fom": FOM.isoformat(),
        "tom": TOM.isoformat(),
        "nav_enhet": ENHET,
        "vedtak_ref": "VEDTAK-BENCH",
    }


def extend_body(step: int) -> dict[str, Any]:
    return {"ny_tom": NY_TOM[step - 1].isoformat(), "aarsak": "NEDSATT_ARBEIDSEVNE"}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Sample:
    """One round of one case: completed requests, seconds, per-request latencies (s), failures."""

    count: int
    seconds: float
    latencies: list[float]
    errors: int = 0
    lop_ids: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


async def closed_loop(seconds: float, writers: int, op: Callable[[int, int], Awaitable[bool]]) -> Sample:
    """`writers` loops calling `op(writer, i)` for `seconds`; op returns False for a failed request."""
    counts = [0] * writers
    errors = [0]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(w: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            ok = await op(w, i)
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors[0] += 1
            i += 1
        counts[w] = i

    start = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(writers)))
    return Sample(sum(counts), time.perf_counter() - start, latencies, errors[0])


# --- the HTTP client (a subprocess) ----------------------------------------------------------------------

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_LOCATION = re.compile(rb"\r\nlocation:\s*\S*/([0-9a-f-]{36})", re.IGNORECASE)


class Connection:
    """One keep-alive HTTP/1.1 connection; requests are sent one at a time."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n".encode() + self.auth
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        self.writer.write(head + b"\r\n" + (body or b""))
        raw = await self.reader.readuntil(b"\r\n\r\n")
        match = _LENGTH.search(raw)
        if match is None:
            raise RuntimeError(f"response without content-length: {raw[:200]!r}")
        content = await self.reader.readexactly(int(match.group(1)))
        return int(raw[9:12]), raw, content


async def client_main(job: dict[str, Any]) -> dict[str, Any]:
    port, token, mode, seconds = job["port"], job["token"], job["mode"], job["seconds"]
    clients = int(job.get("clients", WRITERS))
    conns = [Connection("127.0.0.1", port, token) for _ in range(clients)]
    for c in conns:
        await c.open()
        await c.request("GET", "/health/live")
    api = "/api/v1/tiltakslop"
    if mode == "get":
        ids: list[str] = job["lop_ids"]

        async def read(w: int, i: int) -> bool:
            status, _, _ = await conns[w].request("GET", f"{api}/{ids[(w * 7919 + i) % len(ids)]}")
            return status == 200

        sample = await closed_loop(seconds, clients, read)
    else:
        idents: list[list[str]] = job["idents"]
        current: list[str | None] = [None] * WRITERS
        created: list[str] = []

        async def command(w: int, i: int) -> bool:
            step = i % 4
            if step == 0 or current[w] is None:
                body = json.dumps(grant_body(idents[w][i // 4])).encode()
                status, head, _ = await conns[w].request("POST", api + "/", body)
                match = _LOCATION.search(head)
                current[w] = match.group(1).decode() if match else None
                if current[w] is not None:
                    created.append(current[w])  # type: ignore[arg-type]
                return status == 201
            body = json.dumps(extend_body(step)).encode()
            status, _, _ = await conns[w].request("POST", f"{api}/{current[w]}/forlengelser", body)
            return status == 200

        sample = await closed_loop(seconds, clients, command)
        sample.lop_ids = created
    for c in conns:
        c.writer.close()
    return {
        "count": sample.count,
        "seconds": sample.seconds,
        "latencies": sample.latencies,
        "errors": sample.errors,
        "lop_ids": sample.lop_ids,
    }


async def run_client(job: dict[str, Any]) -> Sample:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.perf.bench_http", "client",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
    )
    out, _ = await proc.communicate(json.dumps(job).encode())
    if proc.returncode != 0:
        raise RuntimeError(f"bench client failed ({proc.returncode})")
    result = json.loads(out)
    return Sample(result["count"], result["seconds"], result["latencies"], result["errors"], result["lop_ids"])


# --- the server (a subprocess) ---------------------------------------------------------------------------


def app_factory() -> Any:
    """The benchmark's app in one server process (each of several uvicorn workers calls it), built and frozen
    as `forlop api` builds it (api/asgi.py)."""
    from api.app import create_app, freeze_startup_objects
    from api.observability import configure_logging
    from store.settings import load_settings

    settings = load_settings(
        environ={"DATABASE_URL": os.environ["BENCH_HTTP_DSN"]}, data_dir=Path(os.environ["BENCH_HTTP_DATA_DIR"])
    )
    configure_logging("INFO", stream=open(os.devnull, "w"))  # noqa: SIM115 - the process's lifetime
    app = create_app(settings)
    freeze_startup_objects()
    return app


def serve(dsn: str, data_dir: str, port: int, workers: int = 1) -> None:
    os.environ["BENCH_HTTP_DSN"], os.environ["BENCH_HTTP_DATA_DIR"] = dsn, data_dir
    import uvicorn

    uvicorn.run(
        app_factory() if workers == 1 else "tests.perf.bench_http:app_factory",
        factory=workers > 1,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        workers=workers,
        access_log=False,
        log_config=None,
        log_level="warning",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the benchmark server exited")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        if head.startswith(b"HTTP/1.1 200"):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the benchmark server did not become ready")


# --- the benchmark ---------------------------------------------------------------------------------------


@dataclass
class Results:
    samples: dict[str, list[Sample]]
    errors: int
    load: tuple[float, float] = (float("nan"), float("nan"))  # 1-minute load average at the start and the end


async def _measure(dsn: str, data_dir: Path) -> Results:
    from api.auth import Role, User
    from api.common import today
    from api.identity import make_token
    from domain.commands import Forleng, InnvilgLop, Personalia
    from domain.common import Aktor, Kontekst
    from store.mapper import mapper_for
    from store.recorder import AsyncPostgresRecorder, create_pool
    from store.repository import EventStore
    from store.service import CommandContext, Service
    from store.settings import load_settings

    settings = load_settings(environ={"DATABASE_URL": dsn}, data_dir=data_dir)
    token = make_token(settings.secret("jwt"), ident="Z990001", roller=["SAKSBEHANDLER"], enheter=[ENHET])
    port, port2 = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.perf.bench_http", "serve", dsn, str(data_dir), str(port)], cwd=ROOT
    )
    server2: subprocess.Popen[bytes] | None = None
    # The same pool and store the app's lifespan opens.
    pool = await create_pool(dsn, min_size=2, max_size=20)
    recorder = AsyncPostgresRecorder(pool, events_table=settings.events_table)
    try:
        await wait_ready(port, server)
        # Started once the first server is up (each server's lifespan checks the migrations again).
        server2 = subprocess.Popen(
            [sys.executable, "-m", "tests.perf.bench_http", "serve", dsn, str(data_dir), str(port2), "2"], cwd=ROOT
        )
        await wait_ready(port2, server2)
        mapper = mapper_for(settings.secret("person"), kryptert=settings.field_encryption)  # as the app's
        tjeneste = Service(EventStore(recorder, mapper, snapshot_every=settings.snapshot_interval),
                            settings.regler, settings.secret("person"))
        tilgang = User("Z990001", frozenset({Role.SAKSBEHANDLER}), (ENHET,)).check_write
        idents = iter(synthetic_idents())

        def ctx(per: date) -> CommandContext:
            """As the API builds it: the caller's office check and the business date of the answer."""
            kontekst = Kontekst(aktor=Aktor("Z990001", ENHET), correlation_id=uuid.uuid4())
            return CommandContext(kontekst, per=per, access=tilgang)

        def fra_grant(ident: str) -> InnvilgLop:
            return InnvilgLop(
                person=Personalia(ident=ident, fodselsdato=FODT),
                tiltakstype="ARBEIDSTRENING",
                malgruppe="NEDSATT_ARBEIDSEVNE",
                fom=FOM,
                tom=TOM,
                nav_enhet=ENHET,
                vedtak_ref="VEDTAK-BENCH",
                mottar_uforetrygd=False,
            )

        def direct_round() -> tuple[Callable[[int, int], Awaitable[bool]], list[uuid.UUID]]:
            mine = [[next(idents) for _ in range(PER_CLIENT)] for _ in range(WRITERS)]
            current: list[uuid.UUID | None] = [None] * WRITERS
            created: list[uuid.UUID] = []

            async def command(w: int, i: int) -> bool:
                step = i % 4
                per = today(settings)
                if step == 0 or current[w] is None:
                    k = await tjeneste.innvilg_lop(fra_grant(mine[w][i // 4]), ctx(per))
                    current[w] = k.id
                    created.append(k.id)
                    return True
                cmd = Forleng(ny_tom=NY_TOM[step - 1], aarsak="NEDSATT_ARBEIDSEVNE")
                await tjeneste.forleng(current[w], cmd, ctx(per))
                return True

            return command, created

        def http_job(
            mode: str, lop_ids: list[str] | None = None, clients: int = WRITERS, to: int = port
        ) -> dict[str, Any]:
            job: dict[str, Any] = {
                "port": to, "token": token, "mode": mode, "seconds": SECONDS, "clients": clients
            }
            if mode == "get":
                job["lop_ids"] = lop_ids
            else:
                job["idents"] = [[next(idents) for _ in range(PER_CLIENT)] for _ in range(WRITERS)]
            return job

        # Warm up both paths (prepared statements, plans, imports), untimed.
        op, created = direct_round()
        await closed_loop(0.5, WRITERS, op)
        warm = await run_client({**http_job("commands"), "seconds": 0.5})
        warm2 = await run_client({**http_job("commands", to=port2), "seconds": 0.5})
        lop_ids = [str(i) for i in created] + warm.lop_ids + warm2.lop_ids

        samples: dict[str, list[Sample]] = {}
        for _ in range(ROUNDS):
            op, created = direct_round()
            samples.setdefault("direct", []).append(await closed_loop(SECONDS, WRITERS, op))
            http = await run_client(http_job("commands"))
            samples.setdefault("http", []).append(http)
            lop_ids += [str(i) for i in created] + http.lop_ids
            samples.setdefault("http_get", []).append(await run_client(http_job("get", lop_ids[-4000:])))
            samples.setdefault("http_get_1", []).append(
                await run_client({**http_job("get", lop_ids[-4000:], 1), "seconds": SECONDS / 2})
            )
            ids = [uuid.UUID(i) for i in lop_ids[-4000:]]
            per = today(settings)

            async def read(w: int, i: int, ids: list[uuid.UUID] = ids, per: date = per) -> bool:
                visning = await tjeneste.read_lop(ids[(w * 7919 + i) % len(ids)], per)
                tilgang(visning.nav_enhet)
                return True

            samples.setdefault("direct_get", []).append(await closed_loop(SECONDS, WRITERS, read))
            # GETs while the command mix runs on the same server (two client processes at once).
            busy, reads = await asyncio.gather(
                run_client(http_job("commands")), run_client(http_job("get", lop_ids[-4000:]))
            )
            lop_ids += busy.lop_ids
            samples.setdefault("http_get_mixed", []).append(reads)
            samples.setdefault("http_cmd_mixed", []).append(busy)
            http2 = await run_client(http_job("commands", to=port2))
            samples.setdefault("http2", []).append(http2)
            lop_ids += http2.lop_ids
            samples.setdefault("http2_get", []).append(await run_client(http_job("get", lop_ids[-4000:], to=port2)))
        errors = sum(s.errors for values in samples.values() for s in values)
        return Results(samples, errors)
    finally:
        for proc in (server, server2):
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        await recorder.close()
        await pool.close()


def measure(server_dsn: str) -> Results:
    import asyncpg
    import uvloop

    from store.embedded import with_database
    from store.migrations import migrate

    load_before = os.getloadavg()[0]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    name = f"bench_http_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    asyncio.run(migrate(with_database(server_dsn, name)))
    data_dir = Path(tempfile.mkdtemp(prefix="forlop-bench-http-"))
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results = runner.run(_measure(with_database(server_dsn, name), data_dir))
        results.load = (load_before, os.getloadavg()[0])
        return results
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def markdown(results: Results) -> str:
    s = results.samples

    def med(key: str, f: Callable[[Sample], float]) -> float:
        return statistics.median(f(x) for x in s[key])

    def runs(key: str) -> str:
        return ", ".join(f"{x.rate:.0f}" for x in s[key])

    direct, http = med("direct", lambda x: x.rate), med("http", lambda x: x.rate)
    ratio = http / direct
    cmd_p99 = med("http", lambda x: x.p(0.99))
    get_p99 = med("http_get", lambda x: x.p(0.99))
    ratio2 = med("http2", lambda x: x.rate) / direct
    cmd2_p99 = med("http2", lambda x: x.p(0.99))
    get2_p99 = med("http2_get", lambda x: x.p(0.99))
    direct_get = med("direct_get", lambda x: x.rate)

    def yes(ok: bool) -> str:
        return "yes" if ok else "**no**"

    def line(key: str, title: str, vs: float | None, target: str, ok: bool | None, clients: int = WRITERS) -> str:
        rate = med(key, lambda x: x.rate)
        ratio_text = "" if vs is None else f"{rate / vs:.2f}"
        met = "" if ok is None else yes(ok)
        return (
            f"| {title} | {clients} | {rate:,.0f} | {ratio_text} | {med(key, lambda x: x.p(0.5)):.1f} | "
            f"{med(key, lambda x: x.p(0.99)):.1f} | {target} | {met} | runs {runs(key)} |"
        )

    lines = [
        "## HTTP API against the direct service (`tests/perf/bench_http.py`)",
        "",
        f"Median of {ROUNDS} interleaved rounds of {SECONDS:g} s each, {WRITERS} concurrent clients. Command mix: "
        "each client grants an ARBEIDSTRENING løp (NEDSATT_ARBEIDSEVNE) to a synthetic person of its own "
        "(`POST /api/v1/tiltakslop`) and then extends it three times (`POST …/forlengelser`), so 25% grants "
        "and 75% extensions; every command also writes the person record (docs/design.md), no conflicts, no "
        "Idempotency-Key. Direct: `store.service.Service` called in the benchmark process (uvloop), with "
        "the handlers' arguments (business date, access check, answer view), the same pool size and store "
        "settings as the app. HTTP: `api.app.create_app` on uvicorn (uvloop, httptools, 1 worker, access log "
        "off, the JSON request log at INFO to /dev/null) in a subprocess, driven by a separate client process "
        f"holding {WRITERS} keep-alive HTTP/1.1 connections (a minimal raw client on asyncio streams + uvloop; "
        "chosen over httpx so the client uses as little as possible of the cores it shares with the server "
        "and PostgreSQL), SAKSBEHANDLER token for office 0315. Latencies are per request as the client sees "
        "them: p50/p99 of each round, median over rounds. Reads: `GET /api/v1/tiltakslop/{id}` on løp written "
        f"earlier in the run with {WRITERS} clients (the target's row) and with one client (for the latency "
        "without queueing), and the same read (`Service.les` + access check) in-process. These GET rows run "
        "alone: no commands run meanwhile. Under load: the same GETs while a second client process runs the "
        f"command mix on the same server ({WRITERS} + {WRITERS} connections). 2 workers: the same app on "
        "uvicorn `--workers 2` (a second server, started alongside; the API is stateless and group commit "
        "works per process), the same command mix and GETs, against the same direct baseline. Two cores are "
        "shared by PostgreSQL, the server(s) and the client, and with one worker the server process is the "
        "bottleneck (one core).",
        "",
        "| Measurement | Clients | Rate (/s) | × direct | p50 (ms) | p99 (ms) | Target | Met | Rounds (/s) |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
        line("direct", "direct: commands (Service in-process)", direct, "", None),
        line("http", "HTTP: commands", direct, ">= 0.7x direct", ratio >= 0.7),
        f"| HTTP: commands, p99 | {WRITERS} | | | | {cmd_p99:.1f} | p99 <= 25 ms | {yes(cmd_p99 <= 25)} | |",
        line("direct_get", "direct: read a løp (Service.les)", direct_get, "", None),
        line("http_get", "HTTP: GET /tiltakslop/{id}", direct_get, "p99 <= 10 ms", get_p99 <= 10),
        line("http_get_1", "HTTP: GET /tiltakslop/{id}, one client (unloaded latency)", None, "", None, 1),
        line("http_get_mixed", "HTTP: GET /tiltakslop/{id} under load (command mix running meanwhile)", direct_get,
             "", None),
        line("http_cmd_mixed", "HTTP: commands, while those GETs run", direct, "", None),
        line("http2", "HTTP, 2 workers: commands", direct, ">= 0.7x direct", ratio2 >= 0.7),
        f"| HTTP, 2 workers: commands, p99 | {WRITERS} | | | | {cmd2_p99:.1f} | p99 <= 25 ms | "
        f"{yes(cmd2_p99 <= 25)} | |",
        line("http2_get", "HTTP, 2 workers: GET /tiltakslop/{id}", direct_get, "p99 <= 10 ms", get2_p99 <= 10),
        "",
        f"HTTP/direct command rate: {ratio:.2f} (1 worker), {ratio2:.2f} (2 workers). Failed requests in all "
        f"rounds: {results.errors}. Load average (1 min) at the start and the end of this section: "
        f"{results.load[0]:.1f} and {results.load[1]:.1f} on {os.cpu_count()} CPUs (above about 2, other work "
        "shared the cores and the rates say more about it than about the code).",
        "",
    ]
    return "\n".join(lines)


def run() -> str:
    """The benchmark section (markdown) for run_all."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return markdown(measure(url))
    from store.embedded import start_postgres

    data_dir = Path(tempfile.mkdtemp(prefix="forlop-bench-pg-"))
    dsn, server = start_postgres(data_dir, cleanup_mode="delete")
    try:
        return markdown(measure(dsn))
    finally:
        server.cleanup()  # type: ignore[attr-defined]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    elif len(sys.argv) > 1 and sys.argv[1] == "client":
        import uvloop

        job = json.loads(sys.stdin.buffer.read())
        result = uvloop.run(client_main(job))
        sys.stdout.write(json.dumps(result))
    else:
        print(run())
