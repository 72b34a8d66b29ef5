"""End-to-end fixtures: the real app under uvicorn on a loopback port, with real PostgreSQL and real NATS.

One embedded NATS server per session; one fresh database and one app per test (`database_url`). Clients
talk plain HTTP through httpx, with tokens signed the way `forlop token` signs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from api.app import create_app
from api.identity import make_token
from domain.ident import gyldig_ident
from store.settings import Settings, load_settings
from tests.conftest import ny_database
from workers.embedded_nats import start_nats, stop_nats
from workers.projector import Projector
from workers.registry import PROJEKSJONER
from workers.stack import _Server

TODAY = date(2025, 3, 3)
JWT_SECRET = "e2e-jwt-secret-" + "x" * 32
API = "/api/v1"

# Synthetic test identifiers (month +80), both control digits valid; the test persons' birth dates are
# authoritative and are not compared with the identifier (contract.md §2).
IDENT_A = "15885000093"
IDENT_B = "01817000092"
IDENT_C = "12866000024"
IDENT_D = "20881000076"
IDENT_E = "30039900005"
IDENTER = (IDENT_A, IDENT_B, IDENT_C, IDENT_D, IDENT_E)


_counter = itertools.count(random.randrange(1000))


def ny_ident() -> str:
    """A fresh synthetic identifier (month +80, both control digits valid): a new person for each call."""
    while True:
        n = next(_counter)
        stem = f"{1 + n % 28:02d}{81 + (n // 28) % 12:02d}{70 + (n // 336) % 30:02d}{n % 1000:03d}"
        for k in range(100):
            if gyldig_ident(stem + f"{k:02d}"):
                return stem + f"{k:02d}"


def expired_token(secret: bytes, *, enheter: tuple[str, ...] = ("0315",)) -> str:
    """A token of the dev issuer that expired an hour ago."""
    now = int(time.time())
    return make_token(secret, ident="Z990001", roller=["SAKSBEHANDLER"], enheter=list(enheter),
                      extra={"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    store_dir = Path(tempfile.mkdtemp(prefix="forlop-e2e-nats-"))
    url, proc = start_nats(store_dir, free_port())
    try:
        yield url
    finally:
        stop_nats(proc)


@pytest.fixture
def settings(database_url: str, nats_url: str, tmp_path: Path) -> Settings:
    return e2e_settings(database_url, nats_url, tmp_path)


@dataclass
class Server:
    url: str
    settings: Settings
    database_url: str
    app: Any = None


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Server]:
    """The app, served by uvicorn in this event loop on a free loopback port, with the projection runners
    `forlop up` starts beside it (workers/stack.py), until the block ends."""
    assert settings.database_url is not None
    stopp = asyncio.Event()
    runners = [
        asyncio.create_task(
            Projector(settings.database_url, lag(settings), events_table=settings.events_table, poll_seconds=0.2).run(stopp)
        )
        for lag in PROJEKSJONER.values()
    ]
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on", access_log=False
    )
    userver = _Server(config)  # uvicorn without its signal handlers
    app = config.app
    task = asyncio.create_task(userver.serve())
    while not userver.started:
        if task.done():
            await task
            raise RuntimeError("the API did not start")
        await asyncio.sleep(0.01)
    try:
        yield Server(f"http://127.0.0.1:{port}", settings, settings.database_url, app)
    finally:
        stopp.set()
        userver.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(task, *runners), 10)


def e2e_settings(database_url: str, nats_url: str, data_dir: Path) -> Settings:
    return load_settings(
        environ={
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "FORLOP_JWT_SECRET": JWT_SECRET,
            "FORLOP_PERSON_KEY": "e2e-person-key-" + "y" * 32,
        },
        data_dir=data_dir,
        today=TODAY,
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    """A fresh app on a fresh database for this test."""
    async with serve(settings) as s:
        yield s


@pytest.fixture(scope="module")
async def shared_server(postgres_server_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory,
                        ) -> AsyncIterator[Server]:
    """One app and database for a whole module, for tables of requests that must not change anything
    (refusals, authorisation): a module overrides `server` with it. Tests still run one at a time."""
    async with ny_database(postgres_server_url, "e2e") as url:
        async with serve(e2e_settings(url, nats_url, tmp_path_factory.mktemp("app"))) as s:
            yield s


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as c:
        yield c


Token = Callable[..., str]


@pytest.fixture
def token(server: Server) -> Token:
    """`token("saksbehandler", "0315")`, `token("revisor")`, `token("system")`: a JWT the app accepts."""

    def make(rolle: str = "saksbehandler", *enheter: str, ident: str = "Z990001", gyldig: timedelta | None = None) -> str:
        return make_token(
            server.settings.secret("jwt"),
            ident=ident,
            roller=[rolle],
            enheter=list(enheter),
            **({"gyldig": gyldig} if gyldig is not None else {}),
        )

    return make


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


@pytest.fixture
def sb_0315(token: Token) -> dict[str, str]:
    """A SAKSBEHANDLER of NAV office 0315 (Oslo)."""
    return bearer(token("saksbehandler", "0315"))


@pytest.fixture
def system(token: Token) -> dict[str, str]:
    return bearer(token("system"))


@pytest.fixture
def revisor(token: Token) -> dict[str, str]:
    return bearer(token("revisor"))


async def count_events(database_url: str, originator_id: Any = None, *, topic: str | None = None) -> int:
    """Events stored (for one aggregate, or of one event type) — what a refused command must not change."""
    conn = await asyncpg.connect(database_url)
    try:
        if originator_id is not None:
            return int(await conn.fetchval(
                "SELECT count(*) FROM forlop_events WHERE originator_id = $1", uuid.UUID(str(originator_id))
            ))
        if topic is not None:
            return int(await conn.fetchval("SELECT count(*) FROM forlop_events WHERE topic LIKE $1", f"%{topic}"))
        return int(await conn.fetchval("SELECT count(*) FROM forlop_events"))
    finally:
        await conn.close()


def person(ident: str = IDENT_A, fodselsdato: str = "1990-08-15") -> dict[str, str]:
    return {"ident": ident, "fodselsdato": fodselsdato}


def arbeidstrening(ident: str = IDENT_A, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "person": person(ident),
        "tiltakstype": "ARBEIDSTRENING",
        "malgruppe": "NEDSATT_ARBEIDSEVNE",
        "fom": "2025-01-01",
        "tom": "2025-06-30",
        "nav_enhet": "0315",
        "vedtak_ref": "VEDTAK-1",
    }
    body.update(extra)
    return body


def garanti(ident: str = IDENT_B, fodselsdato: str = "2003-05-20", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "person": person(ident, fodselsdato),
        "fom": "2025-01-06",
        "nav_enhet": "0315",
        "bistandsbehov_vedtak_ref": "14A-1",
    }
    body.update(extra)
    return body
