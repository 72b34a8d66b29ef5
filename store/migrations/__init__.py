"""The schema: numbered SQL migrations (`NNNN_name.sql` beside this module, shipped inside the package).

`migrate(dsn)` applies those not yet applied, in order, each in a transaction of its own together with its
row in `forlop_schema_migrations` (version, name, SHA-256 of the file, when). It runs under a session
advisory lock, so processes that start at once (replicas, `forlop up` beside `forlop migrate`) apply each
migration exactly once: the others wait for the lock and then find nothing to do. It refuses to go on, and
so the process refuses to start, when a migration that was applied has changed since (its checksum) or the
database has a migration this code does not know (an older release against a newer schema).

Nothing else creates tables, indexes or functions at run time: `forlop migrate`, `forlop up` and `forlop api`
call `migrate`; the workers and the request paths assume the schema is there (readiness asks `pending`).
The admin commands that build throwaway tables on purpose (a rebuild's shadow tables, a replay's schema)
make them LIKE the tables these migrations define (projections/rebuild.py).

Migrations 0001-0007 are the baseline: written IF NOT EXISTS / OR REPLACE, they also adopt a database that
the code before migrations set up. A migration after them is written for the schema they leave. The names
are fixed (the events table is `forlop_events` in schema `public`); `EVENTS_TABLE` says so to the code.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import asyncpg

from store.locks import lock_key

log = logging.getLogger(__name__)

SCHEMA = "public"
EVENTS_TABLE = "forlop_events"
SNAPSHOTS_TABLE = "forlop_snapshots"
TABLE = "forlop_schema_migrations"
LOCK = "migrations"

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_CREATE_TABLE = (
    f'CREATE TABLE IF NOT EXISTS "{SCHEMA}"."{TABLE}" ('
    "version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now())"
)


class MigrationError(RuntimeError):
    """The database's schema history does not match this code's migrations: nothing was applied."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str  # the file name without `.sql`, e.g. "0001_event_store"
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the text, line endings normalised (a checkout with CRLF is the same migration)."""
        return hashlib.sha256(self.sql.replace("\r\n", "\n").encode()).hexdigest()


def load() -> list[Migration]:
    """The migrations shipped in this package, by version."""
    found: list[Migration] = []
    for entry in resources.files(__name__).iterdir():
        match = _FILE.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
            continue
        found.append(Migration(int(match[1]), entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {sorted(versions)}")
    return found


MIGRATIONS: list[Migration] = load()


async def migrate(dsn: str, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Apply the migrations not yet applied (idempotent); the names of those this call applied."""
    wanted = list(MIGRATIONS if migrations is None else migrations)
    conn = await asyncpg.connect(dsn)
    try:
        # Unqualified names in the migrations go to `public`, where the store's queries look for them.
        await conn.execute(f'SET search_path TO "{SCHEMA}"')
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key(LOCK))
        await conn.execute(_CREATE_TABLE)
        applied = await _applied(conn)
        _check(applied, wanted)
        done: list[str] = []
        for migration in wanted:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    f'INSERT INTO "{SCHEMA}"."{TABLE}" (version, name, checksum) VALUES ($1, $2, $3)',
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migration applied", extra={"migration": migration.name})
            done.append(migration.name)
        return done
    finally:
        await conn.close()  # ends the session, and so releases the advisory lock


async def pending(
    conn: asyncpg.Connection | asyncpg.Pool, migrations: Sequence[Migration] | None = None
) -> list[str]:
    """The names of the migrations not yet applied to the database (all of them on an empty one)."""
    wanted = MIGRATIONS if migrations is None else migrations
    if await conn.fetchval("SELECT to_regclass($1)", f'"{SCHEMA}"."{TABLE}"') is None:
        return [m.name for m in wanted]
    applied = await _applied(conn)
    return [m.name for m in wanted if m.version not in applied]


async def _applied(conn: asyncpg.Connection | asyncpg.Pool) -> dict[int, tuple[str, str]]:
    rows = await conn.fetch(f'SELECT version, name, checksum FROM "{SCHEMA}"."{TABLE}" ORDER BY version')
    return {r["version"]: (r["name"], r["checksum"]) for r in rows}


def _check(applied: dict[int, tuple[str, str]], wanted: Sequence[Migration]) -> None:
    known = {m.version: m for m in wanted}
    for version, (name, checksum) in applied.items():
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {name}, which this version does not know: a newer release "
                "migrated it; start that release (or a later one)"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {name} was changed after it was applied (checksum {checksum[:12]} in the database, "
                f"{migration.checksum[:12]} in the file): write a new migration instead of editing an applied one"
            )
    newest = max(applied, default=0)
    if late := [m.name for m in wanted if m.version not in applied and m.version < newest]:
        raise MigrationError(
            f"migration(s) {', '.join(late)} are older than {applied[newest][0]}, which is already applied: "
            "number a new migration after the newest one"
        )
