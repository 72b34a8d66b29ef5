"""Idempotent commands (LOP-12): a command id is stored in the same transaction as its events.

The record holds a fingerprint of the request and the answer the service gave. A repeat of the same
command id fails that save only, with `DuplicateCommand` carrying the stored record: the service returns
the first answer when the fingerprint matches, and refuses the request when it does not. The table is in
PostgreSQL, so this survives restarts. The write itself is part of the store's batch statement
(`store.recorder`); the table is made by store/migrations/0001_event_store.sql; this module reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

TABLE = "forlop_kommandoer"


@dataclass(frozen=True, slots=True)
class Kommando:
    """What a save records for its command: `svar` is the answer as bytes (e.g. msgspec JSON)."""

    command_id: str
    fingerprint: str
    svar: bytes


@dataclass(frozen=True, slots=True)
class LagretKommando:
    command_id: str
    fingerprint: str
    svar: bytes
    registrert: datetime


class DuplicateCommand(Exception):
    """The command id was already recorded (by this save's predecessor); nothing of this save is stored."""

    def __init__(self, stored: LagretKommando) -> None:
        self.stored = stored
        super().__init__(f"command {stored.command_id!r} already recorded at {stored.registrert.isoformat()}")


async def hent(
    pool: asyncpg.Pool | asyncpg.Connection, command_id: str, schema: str = "public"
) -> LagretKommando | None:
    row = await pool.fetchrow(
        f'SELECT command_id, fingerprint, svar, registrert FROM "{schema}"."{TABLE}" WHERE command_id = $1',
        command_id,
    )
    return None if row is None else LagretKommando(*row)
