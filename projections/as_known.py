"""Replay as the system knew it: every view rebuilt into a schema of its own from the events recorded up
to an instant (`forlop replay --kjent-per INSTANT`), which `GET /frister?kjent_per=` reads.

"Recorded up to" is the event's own timestamp (`registrert`, set when its command ran). A correction
recorded after the instant is therefore not in that replay: the view shows the uncorrected facts, as the
board did then. Instants are taken to the second (UTC); the schema is named after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from domain.errors import InvalidRequest
from projections.runner import Projection, to_notifications

INFO = "replay_info"


def schema_for(kjent_per: datetime) -> str:
    if kjent_per.tzinfo is None:
        raise InvalidRequest("kjent_per must be an instant with an offset (RFC 3339)", felt="kjent_per")
    return f"kjent_{kjent_per.astimezone(UTC):%Y%m%dt%H%M%S}z"


def to_second(kjent_per: datetime) -> datetime:
    return kjent_per.astimezone(UTC).replace(microsecond=0)


async def spill_av(
    dsn: str, projeksjoner: list[Projection], kjent_per: datetime, *, events_table: str = "forlop_events",
    batch: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[str, int]:
    """Build every view as known at `kjent_per` into its own schema; returns (schema, events applied)."""
    kjent_per = to_second(kjent_per)
    skjema = schema_for(kjent_per)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {skjema} CASCADE")
        await conn.execute(f"CREATE SCHEMA {skjema}")
        # Unqualified view tables land in (and are read from) the replay schema; the log stays in public.
        # They are made like the live ones (the migrations' definition), indexes included.
        for projeksjon in projeksjoner:
            for tabell in projeksjon.tabeller(""):
                await conn.execute(f"CREATE TABLE {skjema}.{tabell} (LIKE public.{tabell} INCLUDING ALL)")
        await conn.execute(f"SET search_path TO {skjema}, public")
        pos, antall = 0, 0
        # Progress by log position (cheap, unlike counting the events known at the instant).
        last = await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM public.{events_table}")
        while True:
            rows = await conn.fetch(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM public.{events_table} WHERE notification_id > $1 "
                "AND (convert_from(state, 'UTF8')::json ->> 'timestamp')::timestamptz <= $2 "
                "ORDER BY notification_id LIMIT $3",
                pos,
                kjent_per,
                batch,
            )
            if not rows:
                break
            async with conn.transaction():
                for projeksjon in projeksjoner:
                    await projeksjon.anvend(conn, to_notifications(rows), "")
            pos, antall = rows[-1][0], antall + len(rows)
            if progress is not None:
                progress(pos, max(last, pos))
        if progress is not None:
            progress(max(last, pos), max(last, pos))
        await conn.execute(
            f"CREATE TABLE {INFO} (kjent_per timestamptz NOT NULL, posisjon bigint NOT NULL, "
            "bygget timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(f"INSERT INTO {INFO} (kjent_per, posisjon) VALUES ($1, $2)", kjent_per, pos)
        return skjema, antall
    finally:
        await conn.close()


async def finnes(conn: asyncpg.Connection | asyncpg.Pool, kjent_per: datetime) -> bool:
    """Whether a replay for that instant has been built (completely: the info table is written last)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2)",
            schema_for(to_second(kjent_per)),
            INFO,
        )
    )
