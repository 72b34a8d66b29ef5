"""The worker supervisor against real PostgreSQL and nats-server: one active replica, takeover, reconnect
with back-off, and one log line per state change (never one per retry while a dependency is down)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
import pytest

from tests.integration.nats_hjelp import ledig_port
from workers.embedded_nats import start_nats
from workers.supervisor import Backoff, Session, State, Supervisor

FAST = Backoff(initial=0.02, maximum=0.1, jitter=0.01, healthy_after=60)


class Lines(logging.Handler):
    """The supervisor's log records, as (state, message, has a traceback)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def states(self) -> list[str]:
        return [r.__dict__["state"] for r in self.records if "state" in r.__dict__]


@pytest.fixture
def lines():
    log = logging.getLogger("tests.supervisor")
    log.setLevel(logging.DEBUG)
    handler = Lines()
    log.addHandler(handler)
    yield handler
    log.removeHandler(handler)


def supervisor(dsn: str, body, **kwargs) -> Supervisor:
    return Supervisor("worker", dsn, body, lock_name="test.worker", poll_seconds=0.05, backoff=FAST,
                      log=logging.getLogger("tests.supervisor"), **kwargs)


async def until(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def wait_for_stop(session: Session) -> None:
    await session.stop.wait()


async def test_one_replica_is_active_a_standby_says_it_waits_and_takes_over(database_url, lines):
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a, b = supervisor(database_url, wait_for_stop), supervisor(database_url, wait_for_stop)
    task_a = asyncio.create_task(a.run(stop_a))
    await until(lambda: a.active)
    task_b = asyncio.create_task(b.run(stop_b))
    await until(lambda: b.state == State.STANDBY)
    await asyncio.sleep(0.5)  # ten polls of the lock

    assert a.active and not b.active
    assert lines.states() == ["starting", "active", "starting", "standby"]
    stop_a.set()
    await task_a
    await until(lambda: b.active)
    stop_b.set()
    await task_b

    assert lines.states() == ["starting", "active", "starting", "standby", "stopped", "active", "stopped"]
    standby = [r.getMessage() for r in lines.records if r.__dict__.get("state") == "standby"]
    assert standby == ["worker standby: another replica holds the lock; waiting for it"]


async def test_a_database_that_is_down_is_logged_once_and_retried_with_back_off(lines):
    """A port that accepts and at once closes every connection, as a server going down does: each try is
    counted there."""
    tries = 0

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal tries
        tries += 1
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    s = supervisor(f"postgresql://forlop@127.0.0.1:{port}/forlop", wait_for_stop)
    task = asyncio.create_task(s.run(stop))
    try:
        await until(lambda: s.state == State.DATABASE_LOST)
        before = tries
        await asyncio.sleep(1.0)
        stop.set()
        await task
    finally:
        server.close()
        await server.wait_closed()

    assert lines.states() == ["starting", "database_lost", "stopped"]
    assert not any(r.exc_info for r in lines.records)
    assert 5 <= tries - before <= 60  # backed off (about 0.1 s apart), not given up and not spinning


async def test_a_lost_lock_connection_ends_the_active_role_at_once_and_it_comes_back(database_url, lines):
    cancelled = asyncio.Event()
    rounds = 0

    async def body(session: Session) -> None:
        nonlocal rounds
        rounds += 1
        try:
            await session.stop.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    stop = asyncio.Event()
    s = supervisor(database_url, body)
    task = asyncio.create_task(s.run(stop))
    await until(lambda: s.active)
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    finally:
        await admin.close()
    await until(cancelled.is_set)
    await until(lambda: rounds == 2 and s.active)
    stop.set()
    await task

    assert lines.states() == ["starting", "active", "database_lost", "reconnected", "active", "stopped"]
    lost = [r for r in lines.records if r.__dict__.get("state") == "database_lost"]
    assert lost[0].levelno == logging.WARNING and lost[0].__dict__["error"] == "LockLost"


async def test_a_failing_body_is_logged_with_its_traceback_once_and_retried(database_url, lines):
    calls = 0

    async def body(session: Session) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a row that does not decode")

    stop = asyncio.Event()
    s = supervisor(database_url, body)
    task = asyncio.create_task(s.run(stop))
    await until(lambda: calls >= 4)
    stop.set()
    await task

    # The first retry says it is active again; the same failure after it is not logged again, nor are the
    # retries after that (at least three).
    assert lines.states() == ["starting", "active", "failed", "active", "stopped"]
    failures = [r for r in lines.records if r.__dict__.get("state") == "failed"]
    assert failures[0].exc_info is not None
    assert failures[0].getMessage() == "worker failed; retrying with back-off"


async def test_nats_down_is_logged_once_and_its_return_once(database_url, lines, tmp_path):
    port = ledig_port()
    connected: list[bool] = []

    async def body(session: Session) -> None:
        nc = await session.wait_nats()
        connected.append(nc is not None and nc.is_connected)
        await session.stop.wait()

    stop = asyncio.Event()
    s = supervisor(database_url, body, nats_url=f"nats://127.0.0.1:{port}")
    task = asyncio.create_task(s.run(stop))
    await until(lambda: s.state == State.NATS_LOST)
    await asyncio.sleep(1.5)  # nats-py retries every 0.5 s meanwhile
    _, proc = start_nats(tmp_path / "nats", port)
    try:
        await until(lambda: connected == [True])
        stop.set()
        await task
    finally:
        proc.terminate()
        proc.wait(10)

    assert lines.states() == ["starting", "active", "nats_lost", "reconnected", "stopped"]
    assert not any(r.exc_info for r in lines.records)
