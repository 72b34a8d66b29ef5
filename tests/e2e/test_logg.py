"""The person identifier never reaches a log line (contract.md §2), and every request is logged as one JSON line
with its correlation id — checked on everything the process writes while clients send identifiers in bodies,
and one careless client sends them in URL paths, query strings and headers too."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from uuid import UUID, uuid4

import httpx
import pytest

from api.identity import make_token
from api.observability import configure_logging, flush_logs
from store.settings import Settings
from tests.e2e.conftest import (
    API,
    IDENTER,
    JWT_SECRET,
    Server,
    arbeidstrening,
    bearer,
    garanti,
    ny_ident,
    person,
    serve,
)

# Eleven digits anywhere, once the UUIDs are taken out (a UUID's last group may be twelve decimal digits).
ELEVEN_DIGITS = re.compile(r"\d{11}")
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
BODY_MARKER = "a-body-value-no-log-line-may-hold"


class Captured:
    """What the process wrote while the test ran: the app's log stream and the file descriptors 1 and 2."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd
        self.logs = io.StringIO()

    def text(self) -> str:
        flush_logs()
        out, err = self.capfd.readouterr()
        return self.logs.getvalue() + out + err


@pytest.fixture
def json_logs(capfd: pytest.CaptureFixture[str]) -> Iterator[Captured]:
    """The app's own logging setup (`forlop up`: one JSON object a line) at DEBUG, with uvicorn's, Litestar's,
    asyncpg's and every other logger propagating to it, plus whatever reaches stdout and stderr; restored
    afterwards."""
    captured = Captured(capfd)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    names = ("uvicorn", "uvicorn.error", "uvicorn.asgi", "litestar", "asyncpg", "nats", "forlop", "projections")
    client_side = ("httpx", "httpcore")  # the test's own HTTP client: not the app, and it logs whole URLs
    saved_levels = {n: logging.getLogger(n).level for n in (*names, *client_side)}
    configure_logging("DEBUG", stream=captured.logs)
    for n in names:
        logging.getLogger(n).setLevel(logging.DEBUG)
    for n in client_side:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        yield captured
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        for n, level in saved_levels.items():
            logging.getLogger(n).setLevel(level)
        logging.getLogger("uvicorn.access").disabled = False


@pytest.fixture
async def logged_server(json_logs, settings: Settings) -> AsyncIterator[Server]:
    """The server started only once logging is captured, so its start and stop lines are captured too."""
    async with serve(settings) as s:
        yield s


async def test_no_identifier_reaches_any_log_line_and_every_request_line_is_json_with_its_correlation_id(
    logged_server, json_logs
):
    sent: dict[str, int] = {}
    idents = [*IDENTER, ny_ident()]
    headers = bearer(make_token(JWT_SECRET.encode(), ident="Z990001", roller=["SAKSBEHANDLER"], enheter=["0315"]))

    async with httpx.AsyncClient(base_url=logged_server.url, trust_env=False) as client:

        async def call(method: str, url: str, **kw) -> httpx.Response:
            cid = str(uuid4())
            kw["headers"] = {**headers, "X-Correlation-ID": cid, **kw.get("headers", {})}
            response = await client.request(method, url, **kw)
            if UUID(response.headers["X-Correlation-ID"]) == UUID(cid):
                sent[cid] = response.status_code
            return response

        for ident in idents:
            lop = await call("POST", f"{API}/tiltakslop", json=arbeidstrening(ident))
            assert lop.status_code == 201, lop.text
            await call("POST", f"{lop.headers['Location']}/forlengelser", json={"ny_tom": "2025-09-30"})
            await call("GET", lop.headers["Location"], params={"per": "2025-04-01"})
            await call("GET", f"{lop.headers['Location']}/historikk")
            await call("POST", f"{API}/personer/oversikt", json={"person": person(ident)})
            await call("POST", f"{API}/ungdomsgarantier", json=garanti(ident, fodselsdato="2004-04-04"))
            await call("POST", f"{API}/tiltakslop", json=arbeidstrening(ident), headers={"Idempotency-Key": ident})
            await call("POST", f"{API}/tiltakslop", json=arbeidstrening(ident, tom="2025-05-31"),
                       headers={"Idempotency-Key": ident})
        bad = idents[0][:-1] + str((int(idents[0][-1]) + 1) % 10)
        await call("POST", f"{API}/tiltakslop", json=arbeidstrening(bad))
        await call("POST", f"{API}/tiltakslop", json=arbeidstrening() | {"person": {"ident": int(idents[1]),
                                                                                   "fodselsdato": "1990-01-01"}})
        await call("POST", f"{API}/tiltakslop", json=arbeidstrening() | {"fnr": idents[2]})
        await call("POST", f"{API}/personer/oversikt", json={"person": {"ident": bad}})
        await call("POST", f"{API}/tiltakslop", json=arbeidstrening() | {"merknad": BODY_MARKER})
        # A careless client: the identifier in the path, the query string and headers.
        for ident in idents:
            await call("GET", f"{API}/personer/{ident}")
            await call("GET", f"{API}/tiltakslop/{ident}")
            await call("POST", f"{API}/tiltakslop/{ident}/forlengelser", json={})
            await call("GET", f"{API}/tiltakslop/{uuid4()}", params={"fnr": ident})
            await call("GET", f"{API}/tiltakslop/{uuid4()}", params={"per": ident})
            await call("GET", f"/{ident}")
            await call("GET", f"{API}/tiltakslop/x{ident}")  # glued to a letter or `_`: masked all the same
            await call("GET", f"/id_{ident}")
            await call("GET", f"{API}/frister", params={"enhet": ident})
        await call("GET", f"{API}/tiltakslop/{uuid4()}", headers={"Authorization": f"Bearer {idents[0]}"})
        unlogged = await client.get(f"{API}/personer/{idents[0]}", headers={"X-Correlation-ID": idents[0]})
        assert UUID(unlogged.headers["X-Correlation-ID"])  # not a UUID: replaced, never echoed
        await client.get("/health/ready")
        await client.get("/metrics")
    assert len(sent) > 60

    everything = json_logs.text()
    assert everything.strip(), "nothing was logged"
    for ident in [*idents, bad]:
        assert ident not in everything
    assert BODY_MARKER not in everything
    assert not ELEVEN_DIGITS.findall(UUID_TEXT.sub("", everything)), ELEVEN_DIGITS.findall(UUID_TEXT.sub("", everything))
    lines = [line for line in everything.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line that is not JSON: {line!r}\n{everything[-6000:]}")
    requests = [r for r in records if r.get("logger") == "forlop.http" and r.get("message") == "request"]
    assert len(requests) == len(sent) + 3
    assert all(UUID(r["correlation_id"]) for r in requests)
    logged = {r["correlation_id"]: r["status"] for r in requests}
    assert {cid: logged.get(cid) for cid in sent} == sent
    assert {"method", "path", "route", "status", "duration_ms"} <= set(requests[0])
    masked = [r["path"] for r in requests if r["path"].startswith(f"{API}/personer/*")]
    assert masked and all(p == f"{API}/personer/" + "*" * 11 for p in masked)
    glued = {r["path"] for r in requests if "*" * 11 in r["path"] and "personer" not in r["path"]}
    assert {f"{API}/tiltakslop/x" + "*" * 11, "/id_" + "*" * 11} <= glued
