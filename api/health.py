"""`/health/live`, `/health/ready` and `/metrics` (contract.md §1 "Readiness").

Readiness of the API (`forlop api`, `forlop up`): PostgreSQL answers and its migrations are all applied.
NATS, the projections' and the relay's lag and the relay's refused events are reported in the body and on
`/metrics` but do not take the replica out of rotation (commands still succeed; the relay catches up).

Both answer within 2 s whatever hangs behind them: one probe of the database at a time (`Probe`: `SELECT 1`,
pending migrations, the lags) runs in a task of its own; a request waits for it at most
`PROBE_WAIT_SECONDS`. When the database has not answered `SELECT 1` by then, readiness is 503
(`database: false`); lags it did not give in time are left out (null in the body, families without samples
on `/metrics`: a stale value would mislead). A probe younger than `PROBE_MAX_AGE_SECONDS` is reused, so
scrapes and probes do not add load; a failed one is not.

`/metrics` shows prometheus_client's default registry: the HTTP families of Litestar's Prometheus
middleware (api/observability.py), the process and Python families, `forlop_build_info`, NATS, and the lag of
the projections, the relay and the alert outbox.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily

from api import examples
from projections.runner import etterslep
from store.migrations import pending

log = logging.getLogger(__name__)

#: How long a request waits for the database probe (the answer comes within 2 s: contract.md §1).
PROBE_WAIT_SECONDS = 1.0
#: A probe this young is answered again instead of asking the database once more.
PROBE_MAX_AGE_SECONDS = 1.0
#: The bound of the database gauges on /metrics (the same wait).
DATABASE_TIMEOUT_SECONDS = PROBE_WAIT_SECONDS


class Etterslep(msgspec.Struct, kw_only=True):
    """How far a follower of the log is behind: events and the age of the oldest (null: unknown)."""

    etterslep_hendelser: int | None = None
    etterslep_sekunder: float | None = None


class RelayTilstand(Etterslep, kw_only=True):
    """The relay's lag, and the events that wait (docs/operations.md, "A refused event")."""

    avviste: int | None = None
    holdt: int | None = None


class Readiness(msgspec.Struct, kw_only=True):
    klar: bool
    database: bool
    migrert: bool
    nats: bool
    projeksjoner: dict[str, Etterslep]
    relay: RelayTilstand


class HealthController(Controller):
    path = "/"
    tags = ["drift"]
    include_in_schema = True

    @get(
        "/health/live",
        summary="The process is up",
        security=[{}],
        responses=examples.LEVER_SVAR,
    )
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/health/ready",
        summary="200 when PostgreSQL answers and is migrated; NATS and lag are reported in the body",
        security=[{}],
        responses=examples.klar_svar(Readiness),
    )
    async def ready(self, state: State) -> Response[Readiness]:
        snapshot = await probe_of(state).fresh()
        nats_ok = _nats_connected(state)
        lag = snapshot.lag
        klar = snapshot.database and snapshot.migrert
        body = Readiness(
            klar=klar,
            database=snapshot.database,
            migrert=snapshot.migrert,
            nats=nats_ok,
            projeksjoner={navn: _etterslep(lag.projections.get(navn) if lag else None) for navn in PROJEKSJONER},
            relay=_relay(lag),
        )
        return Response(content=body, status_code=200 if klar else 503)

    @get(
        "/metrics",
        media_type=CONTENT_TYPE_LATEST,
        summary="Prometheus metrics",
        security=[{}],
        response_description="Prometheus text exposition format",
    )
    async def metrics(self, state: State) -> str:
        # Not Litestar's PrometheusController: its handler is documented as JSON in the OpenAPI schema,
        # and the gauges read from the database are refreshed here first (bounded; else the last ones).
        DATABASE_GAUGES.snapshot = (await probe_of(state).fresh()).lag
        NATS_CONNECTED.set(1 if _nats_connected(state) else 0)
        return generate_latest(REGISTRY).decode()


def _nats_connected(state: State) -> bool:
    nats = state.get("nats")
    nc = nats.client if nats is not None else None
    return nc is not None and nc.is_connected


def _etterslep(lag: tuple[int, float] | None) -> Etterslep:
    return Etterslep() if lag is None else Etterslep(etterslep_hendelser=lag[0], etterslep_sekunder=lag[1])


def _relay(lag: LagSnapshot | None) -> RelayTilstand:
    if lag is None:
        return RelayTilstand()
    behind = _etterslep(lag.workers.get("relay"))
    return RelayTilstand(etterslep_hendelser=behind.etterslep_hendelser, etterslep_sekunder=behind.etterslep_sekunder,
                         avviste=lag.relay_waiting[0], holdt=lag.relay_waiting[1])


@dataclass(frozen=True)
class ProbeResult:
    database: bool
    migrert: bool
    lag: LagSnapshot | None
    at: float


class Probe:
    """One database probe at a time, in a task of its own (never cancelled by a request that stops
    waiting: a statement cancelled against a hung server would hold its connection for longer). It answers
    in two steps: whether the database answers and is migrated, then the lags (which a lock on a view's
    table can hold up without the database being down)."""

    def __init__(self, pool: Any, events_table: str) -> None:
        self.pool = pool
        self.events_table = events_table
        self.last = ProbeResult(False, False, None, 0.0)
        self._task: asyncio.Task[ProbeResult] | None = None
        self._basic: asyncio.Future[tuple[bool, bool]] | None = None

    async def fresh(self) -> ProbeResult:
        """A probe at most PROBE_MAX_AGE_SECONDS old, waiting at most PROBE_WAIT_SECONDS: past that, what
        the first step said (not ready if it did not answer either), without lags."""
        if time.monotonic() - self.last.at <= PROBE_MAX_AGE_SECONDS:
            return self.last
        if self._task is None or self._task.done():
            self._basic = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(self._basic), name="forlop-health-probe")
        task, basic = self._task, self._basic
        assert basic is not None
        await asyncio.wait({task}, timeout=PROBE_WAIT_SECONDS)
        if task.done():
            return task.result()
        database, migrert = basic.result() if basic.done() else (False, False)
        return ProbeResult(database, migrert, None, 0.0)

    async def _run(self, basic: asyncio.Future[tuple[bool, bool]]) -> ProbeResult:
        database = migrert = False
        try:
            async with self.pool.acquire(timeout=PROBE_WAIT_SECONDS * 2) as conn:
                database = await conn.fetchval("SELECT 1") == 1
                migrert = not await pending(conn)
                basic.set_result((database, migrert))
                lag = await lag_snapshot(conn, self.events_table) if migrert else None
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            log.warning("health: the database does not answer", extra={"error": type(e).__name__})
            if not basic.done():
                basic.set_result((False, False))
            # Not kept as fresh: the next request asks again (still one probe at a time).
            self.last = ProbeResult(database, migrert, None, 0.0)
        else:
            self.last = ProbeResult(database, migrert, lag, time.monotonic())
        return self.last


def probe_of(state: State) -> Probe:
    """The app's probe (made on first use, beside the pool the lifespan opened)."""
    probe = state.get("health_probe")
    if probe is None:
        probe = state["health_probe"] = Probe(state.pool, state.settings.events_table)
    assert isinstance(probe, Probe)
    return probe


PROJEKSJONER = ("oversikt",)
ARBEIDERE = (
    "relay",
)  # workers that follow the log from a position of their own (events behind, seconds behind)


@dataclass(frozen=True)
class LagSnapshot:
    """What the database said on the last scrape: (events behind, seconds behind) per projection and per
    worker (None: it never ran), and (unsent alerts, age in seconds of the oldest)."""

    projections: dict[str, tuple[int, float] | None]
    workers: dict[str, tuple[int, float] | None]
    varsler: tuple[int, float]
    #: Events waiting in the relay's table: (refused and not cleared, held behind them).
    relay_waiting: tuple[int, int] = (0, 0)


async def lag_snapshot(conn: Any, events_table: str) -> LagSnapshot:
    """What the database says of the lags now (the caller bounds it: `Probe`)."""
    return LagSnapshot(
        projections={navn: await etterslep(conn, navn, events_table) for navn in PROJEKSJONER},
        workers={navn: await etterslep(conn, navn, events_table) for navn in ARBEIDERE},
        varsler=await _varsel_etterslep(conn),
        relay_waiting=await _relay_venter(conn),
    )


class DatabaseGauges:
    """A prometheus_client collector of the last `LagSnapshot`: every family always, with HELP; samples only
    for what is known."""

    def __init__(self) -> None:
        self.snapshot: LagSnapshot | None = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families(None)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return self._families(self.snapshot)

    @staticmethod
    def _families(snapshot: LagSnapshot | None) -> list[GaugeMetricFamily]:
        families = {
            "projection": _lag_families("projection", "a projection (view)"),
            "worker": _lag_families("worker", "a worker that follows the log from its own position"),
        }
        unsent = GaugeMetricFamily("forlop_varsler_unsent", "Alerts decided and not yet published.")
        oldest = GaugeMetricFamily(
            "forlop_varsler_oldest_unsent_age_seconds", "Age of the oldest unsent alert; 0 when none is unsent."
        )
        waiting = GaugeMetricFamily(
            "forlop_relay_waiting_events",
            "Events the relay does not publish for now: refused by NATS (kind=refused) and held behind a refused "
            "event of their aggregate (kind=held); docs/operations.md.",
            labels=["kind"],
        )
        if snapshot is not None:
            waiting.add_metric(["refused"], snapshot.relay_waiting[0])
            waiting.add_metric(["held"], snapshot.relay_waiting[1])
            for kind, lags in (("projection", snapshot.projections), ("worker", snapshot.workers)):
                events, seconds = families[kind]
                for navn, lag in lags.items():
                    if lag is not None:
                        events.add_metric([navn], lag[0])
                        seconds.add_metric([navn], lag[1])
            unsent.add_metric([], snapshot.varsler[0])
            oldest.add_metric([], snapshot.varsler[1])
        return [*families["projection"], *families["worker"], unsent, oldest, waiting]


def _lag_families(kind: str, what: str) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(f"forlop_{kind}_lag_events", f"Events in the log not yet applied by {what}.", labels=[kind]),
        GaugeMetricFamily(
            f"forlop_{kind}_lag_seconds",
            f"Age of the oldest event not yet applied by {what}; 0 when it is at the end of the log.",
            labels=[kind],
        ),
    )


def _version() -> str:
    try:
        return version("forlop")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


# No `_created` series (a creation time per counter and histogram): in the text format each is a gauge family
# of its own, named against the conventions, that no dashboard reads.
disable_created_metrics()
DATABASE_GAUGES = DatabaseGauges()
REGISTRY.register(DATABASE_GAUGES)
BUILD_INFO = Gauge("forlop_build_info", "The running build: forlop's version and Python's, always 1.", ["version", "python"])
BUILD_INFO.labels(version=_version(), python=platform.python_version()).set(1)
NATS_CONNECTED = Gauge("forlop_nats_connected", "1 while the API's NATS connection is up, else 0.")


async def _varsel_etterslep(pool: Any) -> tuple[int, float]:
    """Unsent alerts in the outbox and the age of the oldest (the alert worker's lag)."""
    try:
        row = await pool.fetchrow(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(besluttet)), 0) FROM forlop_varsler "
            "WHERE publisert IS NULL"
        )
    except asyncpg.UndefinedTableError:  # the worker has not run yet
        return 0, 0.0
    return int(row[0]), max(0.0, float(row[1]))


async def _relay_venter(conn: Any) -> tuple[int, int]:
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE grunn IS NOT NULL AND NOT hopp_over), count(*) FILTER (WHERE grunn IS NULL) "
        "FROM forlop_relay_venter"
    )
    return int(row[0]), int(row[1])
