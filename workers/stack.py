"""The embedded stack behind `forlop up`: PostgreSQL and NATS unless their URLs are set, then the parts
that exist. Each part is started in order and stopped in reverse order."""

from __future__ import annotations

import asyncio
import logging
import subprocess

import asyncpg

from store.embedded import start_postgres
from store.settings import Settings
from workers.embedded_nats import start_nats

log = logging.getLogger(__name__)


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database_url: str | None = settings.database_url
        self.nats_url: str | None = settings.nats_url
        self._pg_server: object | None = None
        self._nats_proc: subprocess.Popen[bytes] | None = None
        self.pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        data_dir = self.settings.data_dir.resolve()
        if self.database_url is None:
            self.database_url, self._pg_server = await asyncio.to_thread(
                start_postgres, data_dir / "pg", cleanup_mode="stop"
            )
        if self.nats_url is None:
            self.nats_url, self._nats_proc = await asyncio.to_thread(
                start_nats, data_dir / "nats", self.settings.nats_port
            )
        self.pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=10)
        await create_schema(self.pool, self.settings)

    def ready_line(self) -> str:
        api = f"http://127.0.0.1:{self.settings.port}"
        return f"forlop ready: api={api} nats={self.nats_url}"

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self._nats_proc is not None:
            self._nats_proc.terminate()
            await asyncio.to_thread(self._nats_proc.wait, 10)
        if self._pg_server is not None:
            await asyncio.to_thread(self._pg_server.cleanup)  # type: ignore[attr-defined]


async def create_schema(pool: asyncpg.Pool, settings: Settings) -> None:
    """Create every table the parts that exist need (idempotent)."""
    from store.recorder import AsyncPostgresRecorder

    await AsyncPostgresRecorder(pool, events_table=settings.events_table).create_tables()
