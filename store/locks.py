"""Advisory locks: one active replica per worker (a session lock held on a connection of its own, see
workers/supervisor.py) and the schema lock.

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


SKJEMA_LAAS = "skjema"


async def skjemalaas(conn: asyncpg.Connection) -> None:
    """Serialise schema creation across processes (call inside a transaction): concurrent
    `CREATE TABLE IF NOT EXISTS` of one table can fail in PostgreSQL; under this lock it cannot."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(SKJEMA_LAAS))


async def kjor_ddl(pool: asyncpg.Pool | asyncpg.Connection, statements: list[str]) -> None:
    """Run DDL statements in one transaction under the schema lock."""
    if isinstance(pool, asyncpg.Pool):
        async with pool.acquire() as conn:
            await kjor_ddl(conn, statements)
        return
    async with pool.transaction():
        await skjemalaas(pool)
        for statement in statements:
            await pool.execute(statement)
