"""`/health/live`, `/health/ready` and `/metrics` (contract.md §1).

`/metrics` shows prometheus_client's default registry: the HTTP families of Litestar's Prometheus
middleware (api/observability.py), the process and Python families, `forlop_build_info`, and the lag of the
projections, the relay and the alert outbox, read from the database on each scrape within
`DATABASE_TIMEOUT_SECONDS` (past it, or when the database fails, those families are shown without samples).
"""

from __future__ import annotations

import asyncio
import logging
import platform
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

log = logging.getLogger(__name__)


class Readiness(msgspec.Struct, kw_only=True):
    klar: bool
    database: bool
    nats: bool
    projeksjoner: dict[str, bool]


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
        summary="200 only when the database, NATS and every projection are up",
        security=[{}],
        responses=examples.klar_svar(Readiness),
    )
    async def ready(self, state: State) -> Response[Readiness]:
        database = False
        try:
            async with state.pool.acquire(timeout=2) as conn:
                database = await conn.fetchval("SELECT 1", timeout=2) == 1
        except Exception:  # noqa: BLE001 - any failure means not ready
            database = False
        nc = state.nats.client
        nats_ok = nc is not None and nc.is_connected
        projeksjoner = {navn: await _projeksjon_klar(state, navn) for navn in PROJEKSJONER}
        klar = database and nats_ok and all(projeksjoner.values())
        body = Readiness(klar=klar, database=database, nats=nats_ok, projeksjoner=projeksjoner)
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
        # and the gauges read from the database are refreshed here first.
        DATABASE_GAUGES.snapshot = await lag_snapshot(state.pool, state.settings.events_table)
        return generate_latest(REGISTRY).decode()


PROJEKSJONER = ("oversikt",)
ARBEIDERE = (
    "relay",
)  # workers that follow the log from a position of their own (events behind, seconds behind)


DATABASE_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class LagSnapshot:
    """What the database said on the last scrape: (events behind, seconds behind) per projection and per
    worker (None: it never ran), and (unsent alerts, age in seconds of the oldest)."""

    projections: dict[str, tuple[int, float] | None]
    workers: dict[str, tuple[int, float] | None]
    varsler: tuple[int, float]


async def lag_snapshot(pool: Any, events_table: str) -> LagSnapshot | None:
    """The snapshot, or None when the database does not answer within the timeout or fails."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            return LagSnapshot(
                projections={navn: await etterslep(pool, navn, events_table) for navn in PROJEKSJONER},
                workers={navn: await etterslep(pool, navn, events_table) for navn in ARBEIDERE},
                varsler=await _varsel_etterslep(pool),
            )
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        log.warning("metrics: the database gauges are left out", extra={"error": type(e).__name__})
        return None


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
        if snapshot is not None:
            for kind, lags in (("projection", snapshot.projections), ("worker", snapshot.workers)):
                events, seconds = families[kind]
                for navn, lag in lags.items():
                    if lag is not None:
                        events.add_metric([navn], lag[0])
                        seconds.add_metric([navn], lag[1])
            unsent.add_metric([], snapshot.varsler[0])
            oldest.add_metric([], snapshot.varsler[1])
        return [*families["projection"], *families["worker"], unsent, oldest]


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


async def _projeksjon_klar(state: State, navn: str) -> bool:
    """Up, and not further behind than the configured bound (`FORLOP_PROJEKSJON_MAKS_ETTERSLEP`)."""
    try:
        lag = await etterslep(state.pool, navn, state.settings.events_table)
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
    return lag is not None and lag[1] <= state.settings.projeksjon_maks_etterslep_sekunder
