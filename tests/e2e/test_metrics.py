"""`GET /metrics` (contract.md §1): Prometheus text without a token, Prometheus naming on every family (a
HELP text, base units, `_total` on counters), HTTP counts by route template (never the raw path),
`forlop_build_info`, the lag gauges read from the database, and an answer in time while the database
hangs."""

from __future__ import annotations

import asyncio
import platform
import re
import time
from importlib.metadata import version
from uuid import uuid4

import asyncpg
import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from api.health import DATABASE_TIMEOUT_SECONDS
from tests.e2e.conftest import API, Server, Token, bearer, garanti, ny_ident

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Units other than the base ones (seconds, bytes), also in Norwegian.
NOT_BASE_UNIT = re.compile(r"_(ms|millis|milliseconds|microseconds|minutes|hours|days|kilobytes|megabytes|"
                           r"sekunder|millisekunder|minutter|timer|dager)(_|$)")
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-")


async def scrape(client: httpx.AsyncClient) -> dict[str, Metric]:
    response = await client.get("/metrics")  # no token
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: dict[str, Metric], sample: str, **labels: str) -> float:
    """A sample's value, 0 when it is not there (a counter not incremented yet)."""
    found = [s.value for f in families.values() for s in f.samples if s.name == sample and s.labels == labels]
    assert len(found) <= 1
    return found[0] if found else 0.0


async def test_every_family_has_help_and_follows_prometheus_naming(server: Server, client):
    await client.get("/health/live")  # the HTTP families exist once a request was counted

    families = await scrape(client)

    for name, family in families.items():
        assert NAME.match(name), name
        assert family.documentation.strip(), f"{name} has no HELP text"
        assert not NOT_BASE_UNIT.search(name), f"{name}: not a base unit"
        if family.type == "counter":
            assert {s.name for s in family.samples} <= {f"{name}_total"}, name
        if name.startswith("forlop_") and re.search(r"(duration|lag|age|latency)", name):
            assert name.endswith(("_seconds", "_events")), f"{name}: a time is in seconds"
    assert {
        "forlop_build_info", "forlop_http_requests", "forlop_http_request_duration_seconds",
        "forlop_http_requests_in_progress", "forlop_projection_lag_events", "forlop_projection_lag_seconds",
        "forlop_worker_lag_events", "forlop_worker_lag_seconds", "forlop_varsler_unsent",
        "forlop_varsler_oldest_unsent_age_seconds",
    } <= set(families)
    assert families["forlop_http_requests"].type == "counter"
    assert families["forlop_http_request_duration_seconds"].type == "histogram"
    (build,) = families["forlop_build_info"].samples
    assert build.labels == {"version": version("forlop"), "python": platform.python_version()}
    assert build.value == 1


async def test_http_requests_are_counted_by_route_template_and_status(server: Server, client, token: Token):
    headers = bearer(token("saksbehandler", "0315"))
    before = await scrape(client)

    created = await client.post(f"{API}/ungdomsgarantier", json=garanti(ny_ident()), headers=headers)
    assert created.status_code == 201, created.text
    assert (await client.get(created.headers["Location"], headers=headers)).status_code == 200
    assert (await client.get(f"{API}/ungdomsgarantier/{uuid4()}", headers=headers)).status_code == 404
    after = await scrape(client)

    template = f"{API}/ungdomsgarantier/{{garanti_id}}"
    for method, path, status in (("POST", f"{API}/ungdomsgarantier", "201"), ("GET", template, "200"),
                                 ("GET", template, "404")):
        labels = {"method": method, "path": path, "status_code": status, "app_name": "forlop"}
        counted = value(after, "forlop_http_requests_total", **labels) - value(before, "forlop_http_requests_total", **labels)
        assert counted == 1, (method, path, status)
        timed = value(after, "forlop_http_request_duration_seconds_count", **labels) - value(
            before, "forlop_http_request_duration_seconds_count", **labels
        )
        assert timed == 1
    http = [s for name, f in after.items() if name.startswith("forlop_http") for s in f.samples]
    assert not [s for s in http if any(UUID_TEXT.search(v) or re.search(r"\d{11}", v) for v in s.labels.values())]
    buckets = {s.labels["le"] for s in after["forlop_http_request_duration_seconds"].samples if "le" in s.labels}
    assert {"0.001", "0.01", "0.1", "1.0", "+Inf"} <= buckets


async def test_the_lag_gauges_come_from_the_database(server: Server, client):
    deadline = time.monotonic() + 20
    while True:  # the projection runner writes its position once it has started
        families = await scrape(client)
        if families["forlop_projection_lag_events"].samples or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)

    events = {s.labels["projection"]: s.value for s in families["forlop_projection_lag_events"].samples}
    assert set(events) == {"oversikt"} and events["oversikt"] >= 0
    assert [s.labels for s in families["forlop_projection_lag_seconds"].samples] == [{"projection": "oversikt"}]
    assert [s.value for s in families["forlop_varsler_unsent"].samples] == [0]
    assert [s.value for s in families["forlop_varsler_oldest_unsent_age_seconds"].samples] == [0]


async def test_metrics_answer_in_time_while_the_database_hangs(server: Server, client):
    await client.get("/health/live")
    blocker = await asyncpg.connect(server.database_url)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE forlop_sporing IN ACCESS EXCLUSIVE MODE")  # every lag query waits

        started = time.monotonic()
        families = await scrape(client)
        elapsed = time.monotonic() - started

        assert DATABASE_TIMEOUT_SECONDS <= elapsed < 2
        for name in ("forlop_projection_lag_events", "forlop_projection_lag_seconds", "forlop_worker_lag_seconds",
                     "forlop_varsler_unsent"):
            assert families[name].documentation and families[name].samples == [], name
        assert families["forlop_build_info"].samples and families["forlop_http_requests"].samples
        await transaction.rollback()
    finally:
        await blocker.close()

    deadline = time.monotonic() + 20
    while not (await scrape(client))["forlop_varsler_unsent"].samples:  # back once the database answers
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
