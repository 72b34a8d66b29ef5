"""`/health/live`, `/health/ready` and `/metrics` (contract.md §1)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State

from api import examples
from api.observability import Metrics
from projections.runner import etterslep


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
        media_type="text/plain; version=0.0.4",
        summary="Prometheus metrics",
        security=[{}],
        response_description="Prometheus text exposition format",
    )
    async def metrics(self, state: State) -> str:
        metrics: Metrics = state.metrics
        for navn in (*PROJEKSJONER, *ARBEIDERE):
            lag = await etterslep(state.pool, navn, state.settings.events_table)
            hendelser, sekunder = lag if lag is not None else (-1, -1.0)
            slag = "projeksjon" if navn in PROJEKSJONER else "arbeider"
            metrics.gauges[f'forlop_{slag}_etterslep_hendelser{{{slag}="{navn}"}}'] = hendelser
            metrics.gauges[f'forlop_{slag}_etterslep_sekunder{{{slag}="{navn}"}}'] = round(sekunder, 3)
        usendt, eldste = await _varsel_etterslep(state.pool)
        metrics.gauges["forlop_varsler_usendt"] = usendt
        metrics.gauges["forlop_varsler_eldste_usendt_sekunder"] = round(eldste, 3)
        return metrics.render()


PROJEKSJONER = ("oversikt",)
ARBEIDERE = (
    "relay",
)  # workers that follow the log from a position of their own (events behind, seconds behind)


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
