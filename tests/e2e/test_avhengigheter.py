"""Failing dependencies (issue 16, contract.md §1 "Readiness", §2 "Failing dependencies").

A PostgreSQL of its own per test (pgserver under tmp_path), so that stopping it (pg_ctl stop) or hanging it
(SIGSTOP of the postmaster and every backend) touches nothing else. Requests that need it get 503
DATABASE_UNAVAILABLE with Retry-After within 10 s (never a 500, never a hang), `/health/ready` and
`/metrics` answer within 2 s, and service resumes by itself when it is back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from api.health import Probe, ProbeResult
from api.identity import make_token
from store.embedded import start_postgres
from store.migrations import migrate
from store.recorder import create_pool
from tests.conftest import ny_database
from tests.e2e.conftest import API, Server, arbeidstrening, bearer, e2e_settings, free_port, ny_ident, serve
from workers.embedded_nats import start_nats


@pytest.fixture
def egen_postgres() -> Iterator[dict[str, Any]]:
    data_dir = Path(tempfile.mkdtemp(prefix="forlop-test-pg-dep-"))  # as tests/conftest.py: pgserver's own user reads it
    dsn, server = start_postgres(data_dir, cleanup_mode="stop")
    pg = {"dsn": dsn, "dir": data_dir, "server": server}
    try:
        yield pg
    finally:
        _cont(data_dir)
        with contextlib.suppress(Exception):
            pg["server"].cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def _postgres_processes(data_dir: Path) -> list[psutil.Process]:
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    postmaster = psutil.Process(pid)
    return [postmaster, *postmaster.children(recursive=True)]


def _stop_signal(data_dir: Path) -> None:
    """Hang PostgreSQL: it keeps its socket (connections are accepted by the kernel) and answers nothing."""
    for p in _postgres_processes(data_dir):
        p.send_signal(signal.SIGSTOP)


def _cont(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError, psutil.Error, ValueError, IndexError):
        for p in _postgres_processes(data_dir):
            p.send_signal(signal.SIGCONT)


@contextlib.asynccontextmanager
async def app_on(pg: dict[str, Any], nats_url: str, tmp_path: Path) -> AsyncIterator[tuple[Server, httpx.AsyncClient, dict[str, str]]]:
    async with ny_database(pg["dsn"], "dep") as url:
        async with serve(e2e_settings(url, nats_url, tmp_path / "app")) as server:
            headers = bearer(make_token(server.settings.secret("jwt"), ident="Z990001", roller=["saksbehandler"],
                                        enheter=["0315"]))
            async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=60, headers=headers) as c:
                yield server, c, headers


async def _create(client: httpx.AsyncClient) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    r = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()))
    return r, time.monotonic() - start


async def _get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    r = await client.get(path)
    return r, time.monotonic() - start


async def _until_created(client: httpx.AsyncClient, seconds: float) -> float:
    """Seconds until a command succeeds again."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        r, _ = await _create(client)
        if r.status_code == 201:
            return time.monotonic() - start
        assert r.status_code == 503, r.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"no command succeeded within {seconds} s after the database came back")


async def _until_ready(client: httpx.AsyncClient, seconds: float) -> None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        r, elapsed = await _get(client, "/health/ready")
        assert elapsed < 2
        if r.status_code == 200:
            assert r.json()["database"] is True and r.json()["migrert"] is True
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not ready within {seconds} s after the database came back: {r.text}")


def _assert_unavailable(r: httpx.Response, elapsed: float) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "DATABASE_UNAVAILABLE"
    assert int(r.headers["Retry-After"]) >= 1
    assert elapsed < 10, f"answered after {elapsed:.1f} s"


async def test_postgres_hung_gives_503_within_10_s_and_health_within_2_s_then_resumes(egen_postgres, nats_url, tmp_path):
    async with app_on(egen_postgres, nats_url, tmp_path) as (_, client, _h):
        r, _ = await _create(client)
        assert r.status_code == 201, r.text

        _stop_signal(egen_postgres["dir"])
        try:
            results = await asyncio.gather(
                *(_create(client) for _ in range(5)),
                _get(client, f"{API}/tiltakslop/{r.json()['id']}"),
            )
            for res, elapsed in results:
                _assert_unavailable(res, elapsed)
            ready, ready_s = await _get(client, "/health/ready")
            metrics, metrics_s = await _get(client, "/metrics")
            assert ready.status_code == 503 and ready.json()["database"] is False and ready_s < 2, ready_s
            assert metrics.status_code == 200 and metrics_s < 2, metrics_s
            assert "forlop_build_info" in metrics.text
        finally:
            _cont(egen_postgres["dir"])

        await _until_created(client, 20)
        await _until_ready(client, 5)


async def test_postgres_stopped_gives_503_not_500_then_resumes_when_it_is_started(egen_postgres, nats_url, tmp_path):
    async with app_on(egen_postgres, nats_url, tmp_path) as (_, client, _h):
        r, _ = await _create(client)
        assert r.status_code == 201, r.text

        egen_postgres["server"].cleanup()  # pg_ctl stop: the socket goes away
        results = await asyncio.gather(*(_create(client) for _ in range(3)), _get(client, f"{API}/frister?enhet=0315"))
        for res, elapsed in results:
            _assert_unavailable(res, elapsed)
        ready, ready_s = await _get(client, "/health/ready")
        assert ready.status_code == 503 and ready_s < 2

        _, egen_postgres["server"] = start_postgres(egen_postgres["dir"], cleanup_mode="stop")
        await _until_created(client, 20)
        await _until_ready(client, 5)



async def test_nats_down_keeps_the_api_ready_logs_once_and_reconnects(database_url, tmp_path, caplog):
    # Given: the API started against a NATS that is not there.
    port = free_port()
    caplog.set_level(logging.INFO)
    async with serve(e2e_settings(database_url, f"nats://127.0.0.1:{port}", tmp_path / "app")) as server:
        headers = bearer(make_token(server.settings.secret("jwt"), ident="Z990001", roller=["saksbehandler"],
                                    enheter=["0315"]))
        async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30, headers=headers) as client:
            # When: it runs for a while (nats-py tries every 0.5 s meanwhile).
            await asyncio.sleep(3)

            # Then: ready (PostgreSQL answers and is migrated), NATS reported down, commands succeed ...
            ready, _ = await _get(client, "/health/ready")
            assert ready.status_code == 200 and ready.json()["nats"] is False, ready.text
            r, _ = await _create(client)
            assert r.status_code == 201, r.text
            metrics, _ = await _get(client, "/metrics")
            assert "forlop_nats_connected 0.0" in metrics.text
            # ... and the outage is one line, without a traceback.
            nats_lines = [rec for rec in caplog.records if "nats" in rec.getMessage().lower() or rec.name.startswith("nats")]
            assert [rec.getMessage() for rec in nats_lines] == ["api lost nats; reconnecting by itself"]
            assert not [rec for rec in caplog.records if rec.exc_info]

            # When: NATS comes; then: one line, and readiness says so.
            _, proc = start_nats(tmp_path / "nats", port)
            try:
                for _ in range(100):
                    ready, _ = await _get(client, "/health/ready")
                    if ready.json()["nats"]:
                        break
                    await asyncio.sleep(0.1)
                assert ready.status_code == 200 and ready.json()["nats"] is True, ready.text
                assert [rec.getMessage() for rec in caplog.records if rec.getMessage() == "api reconnected to nats"] == [
                    "api reconnected to nats"]
            finally:
                proc.terminate()
                proc.wait(10)


async def test_readiness_needs_the_migrations(tom_database_url):
    # Given: a database that answers but has no schema yet.
    pool = await create_pool(tom_database_url, min_size=1, max_size=2)
    try:
        probe = Probe(pool, "forlop_events")

        # When / then: it answers, and is not ready.
        first = await probe.fresh()
        assert (first.database, first.migrert) == (True, False)

        # When: migrated; then: ready (once the last probe is older than its reuse window).
        await migrate(tom_database_url)
        probe.last = ProbeResult(first.database, first.migrert, None, 0.0)
        second = await probe.fresh()
        assert (second.database, second.migrert) == (True, True) and second.lag is not None
    finally:
        await pool.close()


async def test_the_read_log_says_once_that_the_database_is_gone_keeps_its_rows_and_writes_them_after(egen_postgres, caplog):
    """`make chaos` found the read log's writer logging an ERROR with a traceback per failed write while
    PostgreSQL was stopped: an outage is one warning without a traceback, and the rows wait."""
    from store.read_log import ReadLog

    await migrate(egen_postgres["dsn"])
    caplog.set_level(logging.INFO, logger="store.read_log")
    pool = await create_pool(egen_postgres["dsn"], min_size=1, max_size=2, command_timeout=1.0, connect_timeout=1.0)
    logg = ReadLog(pool, b"k" * 32, intervall=0.05)
    logg.start()
    kwargs: dict[str, Any] = dict(nav_ident="Z1", roller=["REVISOR"], endepunkt="GET /x", correlation_id=uuid.uuid4())
    try:
        egen_postgres["server"].cleanup()  # pg_ctl stop
        logg.registrer(personer=[("15885000093", None, None)], **kwargs)
        await asyncio.sleep(3.0)  # several write attempts (one every 0.5 s at this interval)
        assert logg.ventende == 1
        records = [r for r in caplog.records if r.name == "store.read_log"]
        assert [(r.levelname, r.getMessage()) for r in records] == [
            ("WARNING", "read log: database unavailable; rows kept until it answers")
        ]
        assert records[0].exc_info is None

        _, egen_postgres["server"] = start_postgres(egen_postgres["dir"], cleanup_mode="stop")
        slutt = time.monotonic() + 20
        while logg.ventende and time.monotonic() < slutt:
            await asyncio.sleep(0.1)
        assert logg.ventende == 0
        assert await pool.fetchval("SELECT count(*) FROM forlop_innsyn") == 1
        assert [r.getMessage() for r in caplog.records if r.name == "store.read_log"][-1] == (
            "read log: database answers again; queued rows written"
        )
    finally:
        await logg.stopp()
        await pool.close()
