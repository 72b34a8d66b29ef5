"""`ObservedApp` (api/observability.py) on a small app, in process: the correlation id in and out and on
every line logged while a request runs, one request line per request (unknown routes and methods too), the
path masked, never a body."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
import structlog
from litestar import get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import TestClient

from api.observability import PROMETHEUS, ObservedApp, correlation_id, flush_logs
from tests.unit.test_logging import configured

IDENT = "15085012344"


@get("/ting/{ting_id:str}", sync_to_thread=False)
def ting(ting_id: FromPath[str]) -> dict[str, Any]:
    logging.getLogger("forlop.api").info("stdlib line in the handler")
    structlog.get_logger("forlop.api").info("structlog line in the handler")
    cid = correlation_id.get()
    return {"id": ting_id, "correlation_id": str(cid)}


@post("/ting", sync_to_thread=False)
def ny_ting(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    return {"ok": True}


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    with configured("INFO", io.StringIO()) as stream:
        yield stream


@pytest.fixture
def client() -> Iterator[TestClient[ObservedApp]]:
    app = ObservedApp(route_handlers=[ting, ny_ting], middleware=[PROMETHEUS.middleware], logging_config=None)
    with TestClient(app) as c:
        yield c


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """The app's lines (not the test client's own, which logs each request it sent)."""
    flush_logs()
    return [r for r in map(json.loads, stream.getvalue().splitlines()) if r["logger"] != "httpx"]


def requests(stream: io.StringIO) -> list[dict[str, Any]]:
    return [r for r in lines(stream) if r["logger"] == "forlop.http"]


def test_the_callers_uuid_is_echoed_and_on_every_line_of_the_request(client, logs) -> None:
    cid = str(uuid4())

    response = client.get("/ting/abc", headers={"X-Correlation-ID": cid})

    assert response.status_code == 200 and response.headers["X-Correlation-ID"] == cid
    assert response.json()["correlation_id"] == cid
    written = lines(logs)
    assert [r["message"] for r in written] == [
        "stdlib line in the handler", "structlog line in the handler", "request"
    ]
    assert all(r["correlation_id"] == cid for r in written)
    request = written[-1]
    assert {k: request[k] for k in ("method", "path", "route", "status")} == {
        "method": "GET", "path": "/ting/abc", "route": "/ting/{ting_id}", "status": 200
    }
    assert isinstance(request["duration_ms"], float) and request["duration_ms"] >= 0


def test_a_header_that_is_no_uuid_is_replaced_by_a_new_one_each_time(client, logs) -> None:
    seen = set()
    for value in (IDENT.encode(), b"not-a-uuid", b"", "\u00e6".encode()):
        response = client.get("/ting/abc", headers={"X-Correlation-ID": value})
        seen.add(UUID(response.headers["X-Correlation-ID"]))
    response = client.get("/ting/abc")
    seen.add(UUID(response.headers["X-Correlation-ID"]))

    logged = {UUID(r["correlation_id"]) for r in requests(logs)}
    assert len(seen) == 5 and all(u.version == 4 for u in seen)
    assert logged == seen
    assert IDENT not in logs.getvalue() and "not-a-uuid" not in logs.getvalue()


def test_one_request_line_per_request_also_for_an_unknown_route_or_method(client, logs) -> None:
    statuses = [
        client.get(f"/x{IDENT}").status_code,
        client.get(f"/ting/id_{IDENT}").status_code,
        client.delete("/ting/abc").status_code,
        client.get("/ting/abc").status_code,
    ]

    assert statuses == [404, 200, 405, 200]
    written = requests(logs)
    assert [(r["method"], r["path"], r["route"], r["status"]) for r in written] == [
        ("GET", "/x" + "*" * 11, "unmatched", 404),
        ("GET", "/ting/id_" + "*" * 11, "/ting/{ting_id}", 200),
        ("DELETE", "/ting/abc", "unmatched", 405),
        ("GET", "/ting/abc", "/ting/{ting_id}", 200),
    ]
    assert IDENT not in logs.getvalue()


def test_no_body_is_logged(client, logs) -> None:
    marker = "a-body-value-that-must-not-be-logged"

    response = client.post("/ting", json={"begrunnelse": marker, "ident": IDENT})

    assert response.status_code == 201
    assert [r["status"] for r in requests(logs)] == [201]
    assert marker not in logs.getvalue() and IDENT not in logs.getvalue()
