"""The Litestar application: `create_app(settings)` wires controllers, auth, errors, logs and metrics.

Importing this module opens no sockets; the pool, the store, the service and the NATS connection are
opened in the lifespan and closed in `finally`.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from api.audit import HendelseController, RevisjonController
from api.common import MAX_BODY, StrictRequest, check_empty_body
from api.console import konsoll_ruter
from api.deadline import RequestDeadline
from api.erasure import GlemController
from api.export import EksportController
from api.frister import FristController
from api.health import HealthController
from api.identity import TokenMiddleware, verifier_for
from api.observability import PROMETHEUS, ObservedApp
from api.openapi import openapi_config
from api.personer import PersonController
from api.problem import EXCEPTION_HANDLERS
from api.read_log import InnsynController
from api.request_schema import tighten
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
from workers.supervisor import NatsLink, OutageLog

log = logging.getLogger(__name__)


class NatsConnection:
    """A NATS connection that keeps trying in the background, so the API starts while NATS is down; an
    outage is logged once when it starts and once when it ends (workers/supervisor.py's NatsLink)."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._outages = OutageLog("api", log)
        self._link: NatsLink | None = None

    @property
    def client(self) -> nats.NATS | None:
        return self._link.client if self._link is not None else None

    def start(self) -> None:
        if self.url is not None:
            self._link = NatsLink(
                self.url, "forlop-api", lost=lambda e: self._outages.lost("nats", e),
                back=lambda: self._outages.back("nats"), log=log,
            )
            self._link.start()

    async def close(self) -> None:
        if self._link is not None:
            await self._link.close()


AUTH_EXCLUDED = ["^/health", "^/metrics", "^/schema"]  # and the routes with opt `exclude_from_auth`
# A browser on an allowed origin (FORLOP_CORS_ORIGINS) may send these and read these (contract.md §1).
CORS_HEADERS = ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", "X-Correlation-ID"]
CORS_EXPOSED = ["ETag", "Location", "Retry-After", "X-Correlation-ID"]


def create_app(settings: Settings) -> Litestar:
    """The app for `settings`."""
    if settings.database_url is None:
        raise ValueError("create_app needs settings.database_url (forlop up fills it in for the embedded server)")
    database_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(
            database_url,
            min_size=2,
            max_size=20,
            command_timeout=settings.db_command_timeout,
            connect_timeout=settings.db_connect_timeout,
        )
        recorder = AsyncPostgresRecorder(
            pool,
            events_table=settings.events_table,
            acquire_timeout=settings.db_acquire_timeout,
            max_event_bytes=settings.max_event_bytes,
        )
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

    tokens = DefineMiddleware(TokenMiddleware, verifier=verifier_for(settings), exclude=AUTH_EXCLUDED)
    origins = settings.auth.origins()
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
        ],
        lifespan=[lifespan],
        dependencies={
            "service": Provide(service, sync_to_thread=False),
            "settings": Provide(app_settings, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        # The metrics inside the token check: a refused token is not counted (HEAD and 304: ObservedApp). The
        # deadline answers a request stuck on a hung PostgreSQL with 503 DATABASE_UNAVAILABLE (api/deadline.py).
        middleware=[tokens, PROMETHEUS.middleware, RequestDeadline(settings.db_request_deadline)],
        request_class=StrictRequest,  # wrong types in a body are 400, not coerced
        before_request=check_empty_body,
        request_max_body_size=MAX_BODY,  # contract.md §2: over 64 KiB is 413 PAYLOAD_TOO_LARGE
        cors_config=CORSConfig(allow_origins=origins, allow_headers=CORS_HEADERS, expose_headers=CORS_EXPOSED,
                               allow_methods=["GET", "HEAD", "POST", "OPTIONS"]) if origins else None,
        openapi_config=openapi_config(),  # api/openapi.py: the pages under /schema and their assets
        logging_config=None,
        debug=False,
    )
    # Exact request bodies and queries in the document (required, no other fields or parameters, formats);
    # the query parameters each route takes, for check_query.
    app.state.query_parameters = tighten(app.openapi_schema)
    return app


def freeze_startup_objects() -> None:
    """For a process entry point, once, right before it starts serving (`forlop api`, `forlop up`).

    What is built by then (modules, the app, its routes and schemas) lives as long as the process: frozen,
    out of the collector's sight, a full collection does not walk it again and again."""
    gc.collect()
    gc.freeze()


