"""The Litestar application: `create_app(settings)` wires controllers, auth, errors, logs and metrics.

Importing this module opens no sockets; the pool, the store, the service and the NATS connection are
opened in the lifespan and closed in `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide

from api.audit import HendelseController, RevisjonController
from api.auth import dev_issuer, oidc_auth
from api.common import StrictRequest, check_empty_body
from api.console import konsoll_ruter
from api.erasure import GlemController
from api.export import EksportController
from api.frister import FristController
from api.health import HealthController
from api.observability import PROMETHEUS, ObservedApp
from api.oidc import dev_issuer_router
from api.openapi import openapi_config
from api.personer import PersonController
from api.problem import EXCEPTION_HANDLERS
from api.read_log import InnsynController
from api.tiltakslop import TiltakslopController
from api.ungdomsgarantier import UngdomsgarantiController
from api.varsler import VarselController
from projections.oversikt import Oversikt
from store.mapper import mapper_for
from store.migrations import migrate
from store.read_log import ReadLog
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import Service
from store.settings import Settings

log = logging.getLogger(__name__)


class NatsConnection:
    """A NATS connection that keeps trying in the background, so the API starts while NATS is down."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.client: nats.NATS | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.url is not None:
            self._task = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        servers = (self.url or "").split(",")
        while True:
            try:
                self.client = await nats.connect(
                    servers, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2, name="forlop-api"
                )
                return
            except Exception:  # noqa: BLE001 - keep trying; readiness reports it meanwhile
                log.warning("nats not reachable yet")
                await asyncio.sleep(1)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()


def create_app(settings: Settings) -> Litestar:
    """The app for `settings`."""
    if settings.database_url is None:
        raise ValueError("create_app needs settings.database_url (forlop up fills it in for the embedded server)")
    database_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(database_url, min_size=2, max_size=20)
        recorder = AsyncPostgresRecorder(pool, events_table=settings.events_table)
        forbindelse = NatsConnection(settings.nats_url)
        innsyn = ReadLog(pool, settings.secret("pseudonym"))
        try:
            await migrate(database_url)
            app.state.innsynslogg = innsyn
            # One mapper (one key cache) for the store and the views of this process.
            mapper = mapper_for(settings.secret("person"), kryptert=settings.field_encryption)
            store = EventStore(recorder, mapper, snapshot_every=settings.snapshot_interval)
            app.state.service = Service(store, settings.regler, settings.secret("person"), today=settings.today)
            app.state.pool = pool
            app.state.nats = forbindelse
            app.state.oversikt = Oversikt(mapper, settings.regler, settings.secret("person"))
            app.state.settings = settings
            forbindelse.start()
            innsyn.start()
            yield
        finally:
            await innsyn.stopp()  # every read answered is logged before the pool closes
            await forbindelse.close()
            await recorder.close()
            await pool.close()

    def service(state: State) -> Service:
        return state.service

    def app_settings() -> Settings:
        return settings

    auth = oidc_auth(settings)  # api/auth.py: the configured OpenID issuer, else the local dev issuer
    dev_routes = [] if settings.auth.issuer else [dev_issuer_router(dev_issuer(settings))]
    app = ObservedApp(
        route_handlers=[
            TiltakslopController,
            UngdomsgarantiController,
            PersonController,
            GlemController,
            FristController,
            VarselController,
            HendelseController,
            RevisjonController,
            HealthController,
            InnsynController,
            EksportController,
            konsoll_ruter(),
            *dev_routes,
        ],
        lifespan=[lifespan],
        dependencies={
            "service": Provide(service, sync_to_thread=False),
            "settings": Provide(app_settings, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[PROMETHEUS.middleware],  # inside the JWT middleware: a refused token is not counted
        request_class=StrictRequest,  # wrong types in a body are 400, not coerced
        before_request=check_empty_body,
        on_app_init=[auth.on_app_init],
        state=State({"verifier": auth.verifier}),
        cors_config=cors_config(settings),  # its key cache (tests look at it)
        openapi_config=openapi_config(),  # api/openapi.py: the pages under /schema and their assets
        logging_config=None,
        debug=False,
    )
    return app


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS for the origins of `FORLOP_CORS_ORIGINS` only (contract.md §1, "Browsers"); none by default."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "HEAD", "POST"],
        allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key",
                       "X-Correlation-Id"],
        expose_headers=["ETag", "Location", "Retry-After", "X-Correlation-Id"],
        allow_credentials=False,  # bearer tokens, no cookies
        max_age=600,
    )


def freeze_startup_objects() -> None:
    """For a process entry point, once, right before it starts serving (`forlop api`, `forlop up`).

    What is built by then (modules, the app, its routes and schemas) lives as long as the process: frozen,
    out of the collector's sight, a full collection does not walk it again and again."""
    gc.collect()
    gc.freeze()


