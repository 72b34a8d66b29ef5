"""Shared fixtures: one real PostgreSQL per test session (embedded pgserver unless DATABASE_URL is set),
and a fresh database per test for isolation."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from store.embedded import start_postgres, with_database


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    data_dir = Path(tempfile.mkdtemp(prefix="forlop-test-pg-"))
    dsn, server = start_postgres(data_dir, cleanup_mode="delete")
    try:
        yield dsn
    finally:
        server.cleanup()  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def ny_database(postgres_server_url: str, prefiks: str = "t") -> AsyncIterator[str]:
    """A fresh, empty database on the server, dropped when the block ends; its URL."""
    name = f"{prefiks}_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(postgres_server_url, name)
    finally:
        admin = await asyncpg.connect(postgres_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the session's server; dropped after the test."""
    async with ny_database(postgres_server_url) as url:
        yield url
