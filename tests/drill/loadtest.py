"""`make loadtest`: bounded loopback load against two API processes of the local cluster
(tests/drill/klynge.py), then a reconciliation: acknowledged commands = stored events = messages on NATS
= events reflected in the views, with none lost or duplicated.

Stages of 16, 32 and 64 concurrent clients (LOADTEST_CLIENTS), LOADTEST_SECONDS each (default 20), the
command mix of tests/drill/last.py spread over the two APIs. After each stage the load stops until the relay
and the projection have caught up (bounded) and the whole log so far is reconciled. Results go to stdout and
to the section "Load drill" of docs/benchmarks.md (the other sections are kept).
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import sys
import time
from datetime import UTC, datetime

from tests.drill.klynge import Klynge, avstem, vent_til_avstemt
from tests.drill.last import Personer, identer, last
from tests.perf.run_all import OUTPUT, _sections

SECONDS = float(os.environ.get("LOADTEST_SECONDS", "20"))
CLIENTS = [int(c) for c in os.environ.get("LOADTEST_CLIENTS", "16,32,64").split(",")]
QUIET_BOUND = 300.0


def logg(tekst: str) -> None:
    print(f"[loadtest {time.strftime('%H:%M:%S')}] {tekst}", flush=True)


async def main() -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    k = Klynge()
    rows: list[str] = []
    recon: list[str] = []
    ok = True
    try:
        await asyncio.to_thread(k.start)
        logg(f"cluster up: api x{len(k.api)} {k.api_urler}, nats x3 (R3 streams), workers x2 each")
        token = k.token()
        personer = Personer(identer())
        kvitteringer: list[tuple[str, int]] = []
        for clients in CLIENTS:
            res = await last(k.api_urler, clients, SECONDS, token, personer)
            kvitteringer += res.kvitteringer
            cmd_lat = res.latenser  # all requests: commands and reads
            rate = (res.kommandoer + res.lesninger) / res.sekunder
            lagret, paa_nats, i_view, quiet = await vent_til_avstemt(k.dsn, k.nats_url, QUIET_BOUND)
            a = await avstem(k.dsn, k.nats_url, kvitteringer)
            ok = ok and a.likt() and a.kvitterte == a.lagret
            row = (
                f"| {clients} | {res.sekunder:.1f} | {res.kommandoer / res.sekunder:,.0f} | "
                f"{res.lesninger / res.sekunder:,.0f} | {rate:,.0f} | {res.p(0.5):.1f} | {res.p(0.99):.1f} | "
                f"{res.feil} | {quiet:.1f} |"
            )
            rows.append(row)
            recon.append(
                f"| {clients} | {a.kvitterte:,} | {a.lagret:,} | {a.nats:,} ({a.nats_unike:,} distinct) | "
                f"{a.visninger:,} | {a.tapt} | {a.duplikater} |"
            )
            logg(
                f"{clients} clients, {res.sekunder:.1f} s: {res.kommandoer} commands "
                f"({res.kommandoer / res.sekunder:.0f}/s), {res.lesninger} reads, {rate:.0f} req/s, "
                f"p50 {res.p(0.5):.1f} ms, p99 {res.p(0.99):.1f} ms, errors {res.feil} "
                f"{dict(sorted(res.statuser.items()))}; relay and view quiet {quiet:.1f} s after the stage"
            )
            logg(f"  RECONCILIATION after {clients} clients: {a.linje()}")
            del cmd_lat
    finally:
        await asyncio.to_thread(k.stopp)
        logg("every process stopped")
    section = "\n".join([
        "## Load drill: two API processes on a local cluster (`tests/drill/loadtest.py`, `make loadtest`)",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {os.cpu_count()} CPUs ({platform.machine()}), "
        "everything on one machine over loopback: embedded PostgreSQL (pgserver), three nats-server processes in "
        "one JetStream cluster (streams with 3 replicas, `sync_interval: always`), two `forlop api` processes "
        "(clients spread over both, as a proxy would) and two replicas of every worker (`forlop projeksjon`, "
        "`relay`, `varsler kjor-arbeider`, `planlegger`). Closed-loop clients on keep-alive HTTP/1.1, "
        f"{SECONDS:.0f} s per stage. Command mix per client cycle: grant an ARBEIDSTRENING løp, read it, extend "
        "it, grant a youth guarantee, assign its contact person, record a talk, read the guarantee (5 commands, "
        "2 reads; every person and aggregate belongs to one client, so no conflicts). Latencies are per request "
        "(commands and reads together) as the client sees them. After each stage the load pauses until the "
        "relay and the projection are quiet, then the whole log so far is reconciled.",
        "",
        "| Clients | Seconds | Commands/s | Reads/s | Requests/s | p50 (ms) | p99 (ms) | Errors | Quiet after (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Reconciliation (cumulative after each stage): acknowledged commands (each writes one event of a "
        "published aggregate), stored events of the published aggregates, messages in `FORLOP_HENDELSER` "
        "(distinct `Nats-Msg-Id`), events reflected in the views (sum of `versjon` over `v_lop` and `v_garanti`).",
        "",
        "| After stage | Acknowledged | Stored | On NATS | In views | Lost | Duplicated |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *recon,
        "",
        "All of it shares two cores (PostgreSQL, 3 NATS nodes, 2 API processes, 8 worker processes and the "
        "client), so these rates are the machine's, not the design's ceiling: see docs/operations.md, "
        "\"Write ceiling\".",
    ]) + "\n"
    print(section)
    if rows:
        text = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else "# Benchmarks\n"
        head = ("\n" + text).split("\n## ")[0].strip("\n") + "\n"
        kept = _sections(text)
        kept = {k2: v for k2, v in kept.items() if not k2.startswith("## Load drill")}
        OUTPUT.write_text(head + "\n" + "\n".join([*kept.values(), section]), encoding="utf-8")
        logg(f"wrote the Load drill section of {OUTPUT}")
    if not ok:
        logg("RECONCILIATION FAILED")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
