"""Readiness and metrics of a worker process (contract.md §1 "Readiness"): `forlop relay --health-port N`
serves `GET /health/live`, `GET /health/ready` (200 when the worker can do its work, else 503, with the
reason in the body) and `GET /metrics` (prometheus_client's default registry: the worker's own families,
e.g. `forlop_relay_refused_events_total`). A small Litestar app under uvicorn in the worker's event loop;
the worker owns the signals.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from litestar import Litestar, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

#: What a worker's readiness says: `klar` and whatever explains it.
ReadyBody = dict[str, Any]


def worker_health_app(ready: Callable[[], ReadyBody]) -> Litestar:
    @get("/health/live", sync_to_thread=False)
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @get("/health/ready", sync_to_thread=False)
    def readiness() -> Response[ReadyBody]:
        body = ready()
        return Response(content=body, status_code=200 if body.get("klar") else 503)

    @get("/metrics", media_type=CONTENT_TYPE_LATEST, sync_to_thread=False)
    def metrics() -> str:
        return generate_latest(REGISTRY).decode()

    return Litestar(route_handlers=[live, readiness, metrics], openapi_config=None, logging_config=None)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the worker's command stops it with the worker."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_health(ready: Callable[[], ReadyBody], port: int, stop: asyncio.Event, host: str = "0.0.0.0") -> None:
    """Serve the worker's health on `port` until `stop` is set."""
    server = _Server(uvicorn.Config(worker_health_app(ready), host=host, port=port, log_config=None,
                                    access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        await task
