"""An embedded PostgreSQL from pgserver, for `forlop up` and tests when DATABASE_URL is unset.

After a crash (kill -9 of the stack, a power cut) the data directory keeps `postmaster.pid` and the socket's
lock file of a server that is gone. PostgreSQL refuses to start while the pid in them names a live process,
and a pid is soon reused (or left a zombie in a container without an init that reaps), so the files are
judged here first: a lock file whose pid is not a live postgres of this data directory is removed before the
server starts (docs/operations.md, "After a crash")."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import asyncpg

from store.unavailable import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)



def _process_state(pid: int) -> str | None:
    """The state letter of a process (`R`, `S`, `Z` …) from /proc, `?` where /proc is missing, None if the
    process does not exist."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except (OSError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "?"
    return "?"


def _is_postgres_of(pid: int, data_dir: Path) -> bool:
    """Is `pid` a live (not zombie) postgres process whose working directory is `data_dir`?"""
    state = _process_state(pid)
    if state is None or state in ("Z", "X"):
        return False
    if state == "?":  # no /proc: trust that the pid is ours
        return True
    try:
        return Path(f"/proc/{pid}/cwd").resolve() == data_dir.resolve()
    except OSError:
        return False


def _lock_pid(path: Path) -> int | None:
    try:
        first = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the running postmaster of `data_dir`, None if none runs (a stale lock file counts as none)."""
    pid = _lock_pid(data_dir / "postmaster.pid")
    return pid if pid is not None and _is_postgres_of(pid, data_dir) else None


def remove_stale_lock_files(data_dir: Path) -> bool:
    """Remove `postmaster.pid` (and the socket lock files it names) when no live postgres of `data_dir`
    holds it; True if something was removed. A running server's files are left alone."""
    pid_file = data_dir / "postmaster.pid"
    pid = _lock_pid(pid_file)
    if pid is None and not pid_file.exists():
        return False
    if pid is not None and _is_postgres_of(pid, data_dir):
        return False
    lines = pid_file.read_text(encoding="utf-8", errors="replace").splitlines() if pid_file.exists() else []
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else data_dir
    port = lines[3].strip() if len(lines) > 3 and lines[3].strip() else "5432"
    for stale in (socket_dir / f".s.PGSQL.{port}.lock", socket_dir / f".s.PGSQL.{port}"):
        # The socket's lock file may name another pid than postmaster.pid (a reused pid written into one
        # of them): it is kept only while it names a live postgres of this data directory.
        holder = _lock_pid(stale)
        if holder is None or holder == pid or not _is_postgres_of(holder, data_dir):
            stale.unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)
    log.warning("embedded postgresql: removed the lock file of a server that is gone",
                extra={"data_dir": str(data_dir), "stale_pid": pid})
    return True


def start_postgres(data_dir: Path, *, cleanup_mode: str | None = "stop") -> tuple[str, object]:
    """Start (or attach to) an embedded server under `data_dir`; returns (dsn for asyncpg, server handle).

    pgserver listens on a unix socket inside the data directory; asyncpg takes the socket directory as
    the `host` query parameter. Stale lock files of a crashed server are removed first.
    """
    import pgserver  # imported here: only the embedded path needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_lock_files(data_dir.resolve())
    server = pgserver.get_server(str(data_dir), cleanup_mode=cleanup_mode)
    dsn = f"postgresql://postgres@/postgres?host={quote(str(data_dir), safe='/')}"
    log.info("embedded postgresql started", extra={"data_dir": str(data_dir)})
    return dsn, server


def restart_postgres(server: object, data_dir: Path) -> None:
    """Start the embedded server of `data_dir` again after it died, through the handle `start_postgres`
    returned (the socket and the dsn stay the same); stale lock files are removed first."""
    import pgserver

    assert isinstance(server, pgserver.PostgresServer)
    remove_stale_lock_files(data_dir.resolve())
    server.ensure_postgres_running()


def stop_postgres(server: object, data_dir: Path, *, timeout: float = 30.0) -> None:
    """Stop the embedded server of `data_dir` for good. pgserver stops it when its last handle goes, but
    counts the handles of processes killed with -9 as alive forever, so a server still running after that
    gets PostgreSQL's own fast-shutdown signal (SIGINT to the postmaster)."""
    import pgserver

    assert isinstance(server, pgserver.PostgresServer)
    server.cleanup()
    pid = postmaster_pid(data_dir.resolve())
    if pid is None:
        return
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while postmaster_pid(data_dir.resolve()) == pid:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)
    log.info("embedded postgresql stopped", extra={"data_dir": str(data_dir)})


async def wait_for_database(
    dsn: str,
    *,
    timeout: float = 60.0,
    stopped: Callable[[], bool] = lambda: False,
    initial: float = 0.1,
    maximum: float = 2.0,
) -> None:
    """Wait until PostgreSQL accepts a connection at `dsn`, with exponential back-off; the wait is logged
    once (not each try). Raises TimeoutError after `timeout` seconds, or returns early when `stopped()`."""
    deadline = time.monotonic() + timeout
    delay, logged = initial, False
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=min(5.0, max(0.5, deadline - time.monotonic())))
        except DATABASE_UNAVAILABLE as e:
            if not logged:
                log.warning("waiting for postgresql", extra={"error": type(e).__name__})
                logged = True
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"postgresql did not accept connections within {timeout:.0f} s "
                                   f"({type(e).__name__})") from None
            if stopped():
                return
            await asyncio.sleep(delay)
            delay = min(maximum, delay * 2)
            continue
        await conn.close()
        if logged:
            log.info("postgresql accepts connections")
        return


def with_database(dsn: str, database: str) -> str:
    """The same server, another database name."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
