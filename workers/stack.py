"""The embedded stack behind `forlop up`: PostgreSQL and NATS unless their URLs are set, then the API and
every worker that exists. Parts start in order and stop in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import uvicorn

from api.app import create_app
from store.embedded import start_postgres
from store.migrations import migrate
from store.settings import Settings
from workers import registry
from workers.checkpoints import checkpoint_worker
from workers.embedded_nats import start_nats
from workers.projector import Projector
from workers.registry import PROJEKSJONER
from workers.relay import Relay
from workers.scheduler import scheduler
from workers.varsler import varsel_worker

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `forlop up` owns SIGINT/SIGTERM and stops every part."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pg_server: object | None = None
        self._nats_proc: subprocess.Popen[bytes] | None = None
        self._api: _Server | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        data_dir = self.settings.data_dir.resolve()
        database_url, nats_url = self.settings.database_url, self.settings.nats_url
        if database_url is None:
            embedded_db, self._pg_server = await asyncio.to_thread(start_postgres, data_dir / "pg")
            database_url = embedded_db
        if nats_url is None:
            embedded_nats, self._nats_proc = await asyncio.to_thread(
                start_nats, data_dir / "nats", self.settings.nats_port, sync_always=True
            )
            nats_url = embedded_nats
        await self._start_parts(database_url, nats_url, data_dir)

    async def _start_parts(self, database_url: str, nats_url: str, data_dir: Path) -> None:
        self.settings = replace(self.settings, database_url=database_url, nats_url=nats_url, data_dir=data_dir)
        await migrate(database_url)  # the schema before any worker follows it
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        for lag in PROJEKSJONER.values():
            runner = Projector(database_url, lag(self.settings), events_table=self.settings.events_table)
            self._workers.append(asyncio.create_task(runner.run(self._stop)))
        relay = Relay(
            database_url,
            nats_url,
            self.settings.secret("pseudonym"),
            events_table=self.settings.events_table,
            replicas=self.settings.nats_replicas,
            mapper=registry.mapper(self.settings),
        )
        self._workers.append(asyncio.create_task(relay.run(self._stop)))
        oversikt = registry.oversikt(self.settings)
        for worker in (
            varsel_worker(self.settings, database_url, nats_url, oversikt),
            scheduler(self.settings, database_url, oversikt),
            checkpoint_worker(self.settings, database_url),
        ):
            self._workers.append(asyncio.create_task(worker.run(self._stop)))
        self._api = _Server(config)
        self._api_task = asyncio.create_task(self._api.serve())
        while not self._api.started:
            if self._api_task.done():
                await self._api_task
                raise RuntimeError("the API did not start")
            await asyncio.sleep(0.05)

    def ready_line(self) -> str:
        return f"forlop ready: api=http://127.0.0.1:{self.settings.port} nats={self.settings.nats_url}"

    async def stop(self) -> None:
        self._stop.set()
        for task in self._workers:
            with contextlib.suppress(Exception):
                await task
        if self._api is not None and self._api_task is not None:
            self._api.should_exit = True
            with contextlib.suppress(Exception):
                await self._api_task
        if self._nats_proc is not None:
            self._nats_proc.terminate()
            await asyncio.to_thread(self._nats_proc.wait, 10)
        if self._pg_server is not None:
            await asyncio.to_thread(self._pg_server.cleanup)  # type: ignore[attr-defined]
