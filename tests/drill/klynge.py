"""A local cluster without Docker, for the drills: the embedded PostgreSQL, three nats-server processes in
one JetStream cluster, two `forlop api` processes and two replicas of every worker (`forlop projeksjon
--view oversikt`, `forlop relay`, `forlop varsler kjor-arbeider`, `forlop planlegger`), every one a process
of its own as in deploy/compose.yaml, all on 127.0.0.1.

Each process's DATABASE_URL carries `application_name=<its name>`, so `pg_locks` joined with
`pg_stat_activity` tells which replica holds a worker's advisory lock. Everything started here is stopped by
`stopp()` (also on an exception in `start()`), and every wait is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import nats
import nats.errors
import nats.js.errors

from store.embedded import start_postgres
from store.locks import lock_key
from workers.embedded_nats import start_nats, wait_for_port
from workers.nats_setup import HENDELSER, VARSLER

ROOT = Path(__file__).resolve().parents[2]
FORLOP = str(Path(sys.executable).with_name("forlop"))
# Fixed keys, as a Secret would give them: every process must sign and key alike.
NOKLER = {
    "FORLOP_JWT_SECRET": "drill-jwt-" + "0" * 40,
    "FORLOP_PERSON_KEY": "drill-person-" + "1" * 40,
    "FORLOP_PSEUDONYM_KEY": "drill-pseudonym-" + "2" * 40,
    "FORLOP_SIGNING_KEY": "drill-signing-" + "3" * 40,
}
# The worker name each process kind holds an advisory lock for (store/locks.py).
LAASER = {"projeksjon": "projeksjon.oversikt", "relay": "relay", "varsler": "varsler", "planlegger": "planlegger"}
KOMMANDO = {
    "projeksjon": ["projeksjon", "--view", "oversikt"],
    "relay": ["relay"],
    "varsler": ["varsler", "kjor-arbeider"],
    "planlegger": ["planlegger"],
}


def ledig_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: object | None = None, token: str | None = None, timeout: float = 5.0):
    """(status, parsed body or None, headers); a refused connection is status 0."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return e.code, parsed, dict(e.headers)
    except (OSError, urllib.error.URLError):
        return 0, None, {}


@dataclass
class Prosess:
    navn: str
    args: list[str]
    env: dict[str, str]
    logg: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.logg, "ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
            )

    def lever(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def drep(self) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        if self.lever():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def stopp(self, frist: float = 15.0) -> None:
        if self.lever():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(frist)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class Klynge:
    rot: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="forlop-drill-")))
    nats_noder: int = 3
    replikaer: int = 2
    poll_sekunder: float = 1.0
    dsn: str = ""
    pg: object | None = None
    nats: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    nats_porter: list[int] = field(default_factory=list)
    klynge_porter: list[int] = field(default_factory=list)
    api: list[Prosess] = field(default_factory=list)
    arbeidere: dict[str, list[Prosess]] = field(default_factory=dict)
    behold: bool = False

    # --- start and stop ----------------------------------------------------------------------------

    @property
    def nats_url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.nats_porter)

    @property
    def api_urler(self) -> list[str]:
        return [f"http://127.0.0.1:{p.env['FORLOP_PORT']}" for p in self.api]

    def _env(self, navn: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FORLOP_", "DATABASE_URL", "NATS_URL"))}
        env.update(NOKLER)
        env.update(
            DATABASE_URL=f"{self.dsn}&application_name={navn}",
            NATS_URL=self.nats_url,
            FORLOP_DATA_DIR=str(self.rot / "data"),
            FORLOP_NATS_REPLICAS=str(min(3, self.nats_noder)),
            FORLOP_LOG_LEVEL="WARNING",
            FORLOP_PROJEKSJON_MAKS_ETTERSLEP="30",
        )
        return env

    def start_nats_node(self, i: int) -> None:
        peers = [p for j, p in enumerate(self.klynge_porter) if j != i]
        _, proc = start_nats(
            self.rot / f"nats{i}", self.nats_porter[i], cluster=(f"n{i}", self.klynge_porter[i], peers),
            sync_always=True,
        )
        self.nats[i] = proc

    def start(self, apier: int = 2) -> None:
        try:
            self._start(apier)
        except BaseException:
            self.stopp()
            raise

    def _start(self, apier: int) -> None:
        (self.rot / "logg").mkdir(parents=True, exist_ok=True)
        self.dsn, self.pg = start_postgres(self.rot / "pg", cleanup_mode="stop")
        asyncio.run(self._max_connections_ok())
        self.nats_porter = [ledig_port() for _ in range(self.nats_noder)]
        self.klynge_porter = [ledig_port() for _ in range(self.nats_noder)]
        self.nats = [None] * self.nats_noder
        for i in range(self.nats_noder):
            self.start_nats_node(i)
        asyncio.run(self._vent_paa_jetstream(30.0))
        for i in range(apier):
            navn = f"api-{'ab'[i]}"
            env = self._env(navn)
            env["FORLOP_PORT"] = str(ledig_port())
            p = Prosess(navn, [FORLOP, "api", "--port", env["FORLOP_PORT"]], env, self.rot / "logg" / f"{navn}.log")
            p.start()
            self.api.append(p)
        for p in self.api:
            wait_for_port("127.0.0.1", int(p.env["FORLOP_PORT"]), 60)
        # The "a" replica of each worker starts first and takes the lock; "b" is the standby.
        for slag in KOMMANDO:
            self.arbeidere[slag] = []
            for r in range(self.replikaer):
                navn = f"{slag}-{'ab'[r]}"
                p = Prosess(navn, [FORLOP, *KOMMANDO[slag]], self._env(navn), self.rot / "logg" / f"{navn}.log")
                p.start()
                self.arbeidere[slag].append(p)
                if r == 0:
                    asyncio.run(self.vent_paa_aktiv(slag, 60.0))
        asyncio.run(self.vent_paa_klar(60.0))

    async def _max_connections_ok(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            print(f"postgresql max_connections={await conn.fetchval('SHOW max_connections')}", flush=True)
        finally:
            await conn.close()

    async def _vent_paa_jetstream(self, frist: float) -> None:
        slutt = time.monotonic() + frist
        while time.monotonic() < slutt:
            try:
                nc = await nats.connect(self.nats_url.split(","), connect_timeout=2, max_reconnect_attempts=1)
                try:
                    await nc.jetstream().account_info()
                    return
                finally:
                    await nc.close()
            except Exception:  # noqa: BLE001 - the meta leader is not elected yet
                await asyncio.sleep(0.5)
        raise TimeoutError("the JetStream cluster did not elect a meta leader")

    def stopp(self) -> None:
        for p in self.api:
            p.stopp()
        for ps in self.arbeidere.values():
            for p in ps:
                p.stopp()
        for proc in self.nats:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.cleanup()  # type: ignore[attr-defined]
            self.pg = None
        if not self.behold:
            shutil.rmtree(self.rot, ignore_errors=True)

    # --- PostgreSQL stop and start (the embedded server's own pg_ctl) ------------------------------------

    def stopp_postgres(self) -> None:
        from pgserver._commands import pg_ctl

        pg = self.pg
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg.pgdata, user=pg.system_user, timeout=30)  # type: ignore[attr-defined]

    def start_postgres(self) -> None:
        pg = self.pg
        with pg._lock:  # type: ignore[attr-defined]
            pg.ensure_postgres_running()  # type: ignore[attr-defined]

    # --- observations ------------------------------------------------------------------------------------

    async def aktiv(self, slag: str) -> str | None:
        """The application_name of the process holding the worker's lock, or None."""
        try:
            conn = await asyncpg.connect(self.dsn, timeout=2)
        except Exception:  # noqa: BLE001 - the database is down
            return None
        try:
            return await conn.fetchval(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1::bigint::oid",
                lock_key(LAASER[slag]),
            )
        finally:
            await conn.close()

    async def vent_paa_aktiv(self, slag: str, frist: float, ikke: str | None = None) -> tuple[str, float]:
        """Wait (bounded) until some replica other than `ikke` holds the lock; (its name, seconds waited)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < frist:
            navn = await self.aktiv(slag)
            if navn is not None and navn != ikke:
                return navn, time.monotonic() - t0
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no replica of {slag} took the lock within {frist} s")

    def prosess(self, navn: str) -> Prosess:
        for p in [*self.api, *(q for ps in self.arbeidere.values() for q in ps)]:
            if p.navn == navn:
                return p
        raise KeyError(navn)

    async def klar(self, url: str) -> int:
        status, _, _ = await asyncio.to_thread(http, "GET", f"{url}/health/ready", None, None, 3.0)
        return status

    async def vent_paa_klar(self, frist: float, status: int = 200) -> float:
        """Wait (bounded) until every API answers `status` on /health/ready; the seconds it took."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < frist:
            svar = [await self.klar(u) for u in self.api_urler]
            if all(s == status for s in svar):
                return time.monotonic() - t0
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the APIs did not all answer {status} on /health/ready within {frist} s: {svar}")

    def token(self) -> str:
        from api.identity import make_token

        return make_token(NOKLER["FORLOP_JWT_SECRET"].encode(), ident="Z990001", roller=["saksbehandler"], enheter=["0315"])


# --- reconciliation ----------------------------------------------------------------------------------------


@dataclass
class Avstemming:
    kvitterte: int  # commands answered 2xx (each writes one event of a public aggregate)
    kvitterte_funnet: int  # of those, whose event (aggregate id at the answered position) is stored
    lagret: int  # stored events of the public aggregates
    lagret_unike: int
    nats: int  # messages in FORLOP_HENDELSER
    nats_unike: int  # distinct event ids among them
    visninger: int  # sum of `versjon` over v_lop and v_garanti: events reflected in the views
    relay_posisjon_ok: bool
    varsler_nats: int = 0

    @property
    def tapt(self) -> int:
        return self.kvitterte - self.kvitterte_funnet

    @property
    def duplikater(self) -> int:
        return (self.nats - self.nats_unike) + (self.lagret - self.lagret_unike)

    def linje(self) -> str:
        return (
            f"acknowledged={self.kvitterte} acknowledged_stored={self.kvitterte_funnet} stored={self.lagret} "
            f"nats={self.nats} nats_distinct={self.nats_unike} views={self.visninger} "
            f"lost={self.tapt} duplicated={self.duplikater}"
        )

    def likt(self) -> bool:
        return self.lagret == self.nats_unike == self.visninger and self.tapt == 0 and self.duplikater == 0


async def _stille(_: Exception) -> None:
    """nats-py logs every refused connection to a stopped node; the drills stop nodes on purpose."""


async def antall_i_strom(nats_url: str, strom: str = HENDELSER) -> int:
    nc = await nats.connect(nats_url.split(","), connect_timeout=2, max_reconnect_attempts=2, error_cb=_stille)
    try:
        return (await nc.jetstream().stream_info(strom)).state.messages
    finally:
        await nc.close()


async def ider_i_strom(nats_url: str, strom: str = HENDELSER) -> list[str]:
    """Every message's `Nats-Msg-Id` (the event id), by an ephemeral pull consumer (bounded in time)."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await nats.connect(nats_url.split(","), connect_timeout=2, max_reconnect_attempts=2, error_cb=_stille)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(strom)).state.messages
        sub = await js.pull_subscribe(
            "forlop.hendelse.>", stream=strom,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL),
        )
        ider: list[str] = []
        slutt = time.monotonic() + 120
        while len(ider) < total and time.monotonic() < slutt:
            try:
                for msg in await sub.fetch(min(1000, total - len(ider)), timeout=5):
                    ider.append((msg.headers or {}).get("Nats-Msg-Id", ""))
            except nats.errors.TimeoutError:
                continue
            except nats.js.errors.ServiceUnavailableError:
                # In a three-node cluster a new ephemeral consumer answers "no responders" (503)
                # until its replicas have elected a leader; ask again shortly.
                await asyncio.sleep(0.2)
        await sub.unsubscribe()
        return ider
    finally:
        await nc.close()


def offentlige_prefikser() -> tuple[str, str]:
    """The topic prefixes of the two published aggregates (the relay's own list)."""
    from store.envelope import AGGREGATER

    lop, garanti = AGGREGATER
    return lop, garanti


async def lagrede_offentlige(dsn: str) -> tuple[int, int]:
    lop, garanti = offentlige_prefikser()
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT (originator_id, originator_version)) FROM forlop_events "
            "WHERE left(topic, length($1)) = $1 OR left(topic, length($2)) = $2",
            lop, garanti,
        )
        return int(row[0]), int(row[1])
    finally:
        await conn.close()


async def vent_til_avstemt(dsn: str, nats_url: str, frist: float) -> tuple[int, int, int, float]:
    """Wait (bounded) until NATS and the views hold every stored public event; (stored, nats, views, s)."""
    t0 = time.monotonic()
    lagret = nats_antall = visninger = -1
    while time.monotonic() - t0 < frist:
        lagret, _ = await lagrede_offentlige(dsn)
        nats_antall = await antall_i_strom(nats_url)
        visninger = await i_visningene(dsn)
        if lagret == nats_antall == visninger:
            break
        await asyncio.sleep(0.25)
    return lagret, nats_antall, visninger, time.monotonic() - t0


async def i_visningene(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT (SELECT coalesce(sum(versjon), 0) FROM v_lop) + (SELECT coalesce(sum(versjon), 0) FROM v_garanti)"
            )
        )
    finally:
        await conn.close()


async def avstem(dsn: str, nats_url: str, kvitteringer: list[tuple[str, int]]) -> Avstemming:
    """`kvitteringer`: (aggregate id, version) of every acknowledged command."""
    lagret, lagret_unike = await lagrede_offentlige(dsn)
    ider = await ider_i_strom(nats_url)
    conn = await asyncpg.connect(dsn)
    try:
        funnet = 0
        for start in range(0, len(kvitteringer), 5000):
            del_ = kvitteringer[start : start + 5000]
            funnet += int(
                await conn.fetchval(
                    "SELECT count(*) FROM forlop_events e JOIN unnest($1::uuid[], $2::bigint[]) AS k(id, v) "
                    "ON e.originator_id = k.id AND e.originator_version = k.v",
                    [k[0] for k in del_], [k[1] for k in del_],
                )
            )
        relay_ok = bool(
            await conn.fetchval(
                "SELECT posisjon >= (SELECT coalesce(max(notification_id), 0) FROM forlop_events) "
                "FROM forlop_sporing WHERE projeksjon = 'relay'"
            )
        )
    finally:
        await conn.close()
    return Avstemming(
        kvitterte=len(kvitteringer),
        kvitterte_funnet=funnet,
        lagret=lagret,
        lagret_unike=lagret_unike,
        nats=len(ider),
        nats_unike=len(set(ider)),
        visninger=await i_visningene(dsn),
        relay_posisjon_ok=relay_ok,
    )


async def varsler_i_strom(nats_url: str) -> int:
    try:
        return await antall_i_strom(nats_url, VARSLER)
    except Exception:  # noqa: BLE001 - the stream does not exist yet
        return 0
