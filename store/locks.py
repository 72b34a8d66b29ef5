"""Advisory locks: one active replica per worker (a session lock held on a connection of its own, see
workers/supervisor.py); the migrations take one too (store/migrations).

When the active replica's session ends (a crash, a kill, a lost network), PostgreSQL releases its lock and
a standby takes it at its next poll.
"""

from __future__ import annotations

import zlib

import asyncpg


def lock_key(name: str) -> int:
    """A stable 32-bit advisory-lock key for a worker or projection name."""
    return zlib.crc32(f"forlop.{name}".encode())


async def try_lock(conn: asyncpg.Connection, name: str) -> bool:
    """Take `name`'s session lock on `conn` if no other session holds it (closing `conn` releases it)."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(name)))
