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
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig

from api.audit import HendelseController, RevisjonController
from api.auth import Tokener, jwt_auth
from api.common import streng_kropp, vakter_uten_kopi
from api.erasure import GlemController
from api.export import EksportController
from api.frister import FristController
from api.health import HealthController
from api.observability import PROMETHEUS, ObservedApp
from api.personer import PersonController
from api.problem import EXCEPTION_HANDLERS
from api.rask import rask_vei
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
        while True:
            try:
                self.client = await nats.connect(
                    self.url.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2, name="forlop-api"
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


def create_app(settings: Settings, *, rask: bool = True) -> Litestar:
    """The app; `rask=False` leaves out the fast path of the busiest routes (api/rask.py), so that every request
    goes through Litestar (tests/e2e/test_rask.py compares the two)."""
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
            app.state.tjeneste = Service(store, settings.regler, settings.secret("person"))
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

    def tjeneste(state: State, settings: Settings) -> Service:  # noqa: ARG001
        # `settings` is unused: depending on it puts the two providers in separate batches, and Litestar
        # resolves a batch of two or more in an anyio task group per request (measured in bench_http).
        return state.tjeneste

    def innstillinger() -> Settings:
        return settings

    tokener = Tokener()  # the tokens accepted, for the JWT middleware and the fast path
    auth = jwt_auth(settings.secret("jwt"), tokener)
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
        ],
        lifespan=[lifespan],
        dependencies={
            "tjeneste": Provide(tjeneste, sync_to_thread=False),
            "settings": Provide(innstillinger, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[PROMETHEUS.middleware],  # inside the JWT middleware: a refused token is not counted
        before_request=streng_kropp,  # wrong types are 400, not coerced
        on_app_init=[auth.on_app_init],
        openapi_config=OpenAPIConfig(
            title="Forløp",
            version="1.0.0",
            description="Case lifecycles for NAV's labour-market measures and the youth guarantee (contract.md).",
            path="/schema",
        ),
        logging_config=None,
        debug=False,
    )
    vakter_uten_kopi(app)
    # The busiest routes straight to their handlers (api/rask.py), everything else to Litestar.
    if rask:
        app.asgi_handler = rask_vei(app, tokener)(app.asgi_handler)
    return app


def freeze_startup_objects() -> None:
    """For a process entry point, once, right before it starts serving (`forlop api`, `forlop up`).

    What is built by then (modules, the app, its routes and schemas) lives as long as the process: frozen,
    out of the collector's sight, a full collection does not walk it again and again."""
    gc.collect()
    gc.freeze()


