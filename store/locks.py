"""One active replica per worker: a PostgreSQL session advisory lock held on a connection of its own.

A standby polls for the lock; when the active replica's session ends (a crash, a kill, a lost network),
PostgreSQL releases the lock and a standby takes it within one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib

import asyncpg


def laase_nokkel(navn: str) -> int:
    """A stable 32-bit advisory-lock key for a worker or projection name."""
    return zlib.crc32(f"forlop.{navn}".encode())


async def vent(stopp: asyncio.Event, sekunder: float) -> bool:
    """Wait up to `sekunder`; True if `stopp` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopp.wait(), sekunder)
    return stopp.is_set()


async def ta_laas(dsn: str, navn: str, stopp: asyncio.Event, poll_sekunder: float) -> asyncpg.Connection | None:
    """A connection holding `navn`'s lock (close it to release), or None once `stopp` is set."""
    conn = await asyncpg.connect(dsn)
    try:
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", laase_nokkel(navn)):
            if await vent(stopp, poll_sekunder):
                await conn.close()
                return None
    except BaseException:
        await conn.close()
        raise
    return conn
