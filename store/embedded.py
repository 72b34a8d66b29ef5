"""An embedded PostgreSQL from pgserver, for `forlop up` and tests when DATABASE_URL is unset."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)


def start_postgres(data_dir: Path, *, cleanup_mode: str | None = "stop") -> tuple[str, object]:
    """Start (or attach to) an embedded server under `data_dir`; returns (dsn for asyncpg, server handle).

    pgserver listens on a unix socket inside the data directory; asyncpg takes the socket directory as
    the `host` query parameter.
    """
    import pgserver  # imported here: only the embedded path needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode=cleanup_mode)
    dsn = f"postgresql://postgres@/postgres?host={quote(str(data_dir), safe='/')}"
    log.info("embedded postgresql started", extra={"data_dir": str(data_dir)})
    return dsn, server


def with_database(dsn: str, database: str) -> str:
    """The same server, another database name."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
