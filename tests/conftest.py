"""Shared fixtures: one real PostgreSQL per test session (embedded pgserver unless DATABASE_URL is set),
and a fresh database per test for isolation, migrated (`database_url`) or empty (`tom_database_url`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from store.embedded import start_postgres, with_database
from store.migrations import migrate

# Per server: a database the migrations were applied to once this session; each test's database is a copy
# of it (CREATE DATABASE ... TEMPLATE), so the schema of every test is the migrations' own.
_MALER: dict[str, str] = {}


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        try:
            yield url
        finally:
            if url in _MALER:
                asyncio.run(_drop(url, _MALER.pop(url)))
        return
    data_dir = Path(tempfile.mkdtemp(prefix="forlop-test-pg-"))
    dsn, server = start_postgres(data_dir, cleanup_mode="delete")
    try:
        yield dsn
    finally:
        _MALER.pop(dsn, None)
        server.cleanup()  # type: ignore[attr-defined]


async def _drop(postgres_server_url: str, name: str) -> None:
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def migrert_mal(postgres_server_url: str) -> str:
    """The name of this session's migrated template database on the server (made on first use)."""
    if postgres_server_url not in _MALER:
        name = f"mal_{uuid.uuid4().hex[:16]}"
        admin = await asyncpg.connect(postgres_server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        await migrate(with_database(postgres_server_url, name))
        _MALER[postgres_server_url] = name
    return _MALER[postgres_server_url]


@contextlib.asynccontextmanager
async def ny_database(postgres_server_url: str, prefiks: str = "t", *, migrert: bool = True) -> AsyncIterator[str]:
    """A fresh database on the server, migrated (or, `migrert=False`, empty), dropped when the block ends;
    its URL."""
    name = f"{prefiks}_{uuid.uuid4().hex[:16]}"
    mal = f' TEMPLATE "{await migrert_mal(postgres_server_url)}"' if migrert else ""
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"{mal}')
    finally:
        await admin.close()
    try:
        yield with_database(postgres_server_url, name)
    finally:
        await _drop(postgres_server_url, name)


@pytest.fixture
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh database on the session's server, with the schema of the migrations; dropped after the test."""
    async with ny_database(postgres_server_url) as url:
        yield url


@pytest.fixture
async def tom_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database (no migration applied); dropped after the test."""
    async with ny_database(postgres_server_url, migrert=False) as url:
        yield url
