"""What a PostgreSQL that is down, refusing, shutting down, hung or gone mid-statement looks like to asyncpg.

One tuple for every place that waits for the database instead of failing: the API answers it 503
DATABASE_UNAVAILABLE (api/problem.py), the group-commit writer drops its connection (store/recorder.py),
the read log keeps its rows (store/read_log.py), the workers leave the active role and reconnect
(workers/supervisor.py), and `forlop up` waits for its embedded server (store/embedded.py)."""

from __future__ import annotations

import asyncpg

DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, a missing socket file
    TimeoutError,  # asyncpg's command or connect timeout: a hung server
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.OperatorInterventionError,  # class 57: shutting down, cannot connect now, statement cancelled
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # a connection closed under the statement
    asyncpg.InternalClientError,  # a fast shutdown mid-statement (MagicStack/asyncpg#1069)
)
