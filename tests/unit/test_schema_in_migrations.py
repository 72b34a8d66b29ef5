"""The schema lives in store/migrations only: no production module creates, alters or drops a table, index,
type, function or trigger at run time, except the admin commands that build throwaway tables on purpose
(a rebuild's shadow tables, a replay's schema; made LIKE the migrated tables) and the migration runner's
own history table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DDL = re.compile(
    r"\b(CREATE|ALTER|DROP)\s+(OR\s+REPLACE\s+)?(UNIQUE\s+)?"
    r"(TABLE|INDEX|TYPE|FUNCTION|TRIGGER|SCHEMA|SEQUENCE|VIEW|MATERIALIZED\s+VIEW|EXTENSION)\b",
    re.IGNORECASE,
)
ADMIN = {
    "store/migrations/__init__.py",  # forlop_schema_migrations, under the migration lock
    "projections/rebuild.py",  # `forlop rebuild`: shadow tables LIKE the live ones, swapped in
    "projections/as_known.py",  # `forlop replay --kjent-per`: a schema of its own, tables LIKE the live ones
}


def test_no_production_module_outside_the_migrations_runs_ddl():
    found = []
    for package in ("domain", "store", "projections", "api", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name in ADMIN:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if DDL.search(line):
                    found.append(f"{name}:{number}: {line.strip()}")
    assert found == []


def test_the_check_sees_ddl_written_the_ways_the_code_wrote_it():
    for line in ('f"CREATE TABLE IF NOT EXISTS {TABELL} ("', "CREATE OR REPLACE FUNCTION x()",
                 "create unique index i on t (c)", '"DROP TRIGGER IF EXISTS t ON x"'):
        assert DDL.search(line), line
