"""The fast path of the busiest routes (api/rask.py) answers exactly as Litestar does.

Two apps, each on a fresh database of its own: one as deployed, one built with `rask=False` so that every
request goes through Litestar. The same requests, in the same order and with the same correlation ids, go to
both; every answer must be the same — status, headers (all but Date) and body, byte for byte once the ids
that differ are mapped (a løp granted without an Idempotency-Key gets a random id). Plain requests take the
fast path (counted), and the unusual ones it hands to Litestar are in the table too: bad tokens, REVISOR,
malformed or unknown-field bodies, a query string, a non-canonical id, If-Match and Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from api.auth import lag_token
from tests.conftest import ny_database
from tests.e2e.conftest import (
    API,
    IDENT_A,
    IDENT_B,
    IDENT_C,
    Server,
    arbeidstrening,
    e2e_settings,
    expired_token,
    serve,
)

LOP = f"{API}/tiltakslop"


class _Par:
    """The deployed app (`rask`) and the Litestar-only one (`litestar`), and the løp ids of each."""

    def __init__(self, rask: Server, litestar: Server, a: httpx.AsyncClient, b: httpx.AsyncClient) -> None:
        self.rask, self.litestar = rask, litestar
        self.klienter = (a, b)
        self.lop: dict[str, tuple[str, str]] = {}  # name → (id in rask, id in litestar)
        self.n = 0

    def token(self, rolle: str, *enheter: str) -> dict[str, str]:
        tok = lag_token(self.rask.settings.secret("jwt"), ident="Z990001", roller=[rolle], enheter=list(enheter))
        return {"Authorization": f"Bearer {tok}"}

    async def begge(
        self, method: str, path: str, *, lop: str | None = None, json: Any = None, content: bytes | None = None,
        headers: dict[str, str] | None = None, ny: str | None = None,
    ) -> httpx.Response:
        """Send the request to both apps; assert the answers are equal; return the fast path's."""
        self.n += 1
        cid = str(uuid.UUID(int=self.n))
        svar = []
        for i, klient in enumerate(self.klienter):
            sti = path.replace("{lop}", self.lop[lop][i]) if lop is not None else path
            svar.append(await klient.request(
                method, sti, json=json, content=content, headers={"X-Correlation-ID": cid, **(headers or {})}
            ))
        a, b = svar
        if ny is not None and a.status_code == 201:
            self.lop[ny] = (a.headers["location"].rsplit("/", 1)[1], b.headers["location"].rsplit("/", 1)[1])
        assert (a.status_code, _headers(a), a.content) == (
            b.status_code, _headers(b, self._til_rask), self._til_rask(b.content)
        ), f"{method} {path}: {a.status_code} {a.text[:300]} | {b.status_code} {b.text[:300]}"
        return a

    def _til_rask(self, data: bytes) -> bytes:
        for rask_id, litestar_id in self.lop.values():
            data = data.replace(litestar_id.encode(), rask_id.encode())
        return data


def _headers(svar: httpx.Response, omskriv: Any = lambda b: b) -> list[tuple[bytes, bytes]]:
    return [(k.lower(), omskriv(v)) for k, v in svar.headers.raw if k.lower() != b"date"]


@pytest.fixture
async def par(postgres_server_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[_Par]:
    async with ny_database(postgres_server_url) as dsn_a, ny_database(postgres_server_url) as dsn_b:
        async with (
            serve(e2e_settings(dsn_a, nats_url, tmp_path / "a")) as rask,
            serve(e2e_settings(dsn_b, nats_url, tmp_path / "b"), rask=False) as litestar,
            httpx.AsyncClient(base_url=rask.url, trust_env=False, timeout=30) as a,
            httpx.AsyncClient(base_url=litestar.url, trust_env=False, timeout=30) as b,
        ):
            yield _Par(rask, litestar, a, b)


async def test_the_fast_path_answers_every_request_as_litestar_does(par: _Par) -> None:
    sb = par.token("saksbehandler", "0315")
    annet_kontor = par.token("saksbehandler", "0301")
    revisor = par.token("revisor")
    system = par.token("system")
    forleng = {"ny_tom": "2025-09-30", "aarsak": "BEHOV_VIDERE"}

    # A token's first request goes through Litestar, whose JWT middleware decodes and remembers it; from then
    # on the fast path takes it. (An unknown løp: 404 either way.)
    for tok in (sb, annet_kontor, revisor, system):
        assert (await par.begge("GET", f"{LOP}/{uuid.UUID(int=3)}", headers=tok)).status_code == 404

    # Grants: plain, idempotent (and its repeat, and the key reused with another body), refused ones.
    assert (await par.begge("POST", f"{LOP}/", json=arbeidstrening(IDENT_A), headers=sb, ny="a")).status_code == 201
    nokkel = {**sb, "Idempotency-Key": "rask-grant-1"}
    assert (await par.begge("POST", LOP, json=arbeidstrening(IDENT_B), headers=nokkel, ny="b")).status_code == 201
    assert (await par.begge("POST", LOP, json=arbeidstrening(IDENT_B), headers=nokkel)).status_code == 201
    assert (await par.begge("POST", LOP, json=arbeidstrening(IDENT_C), headers=nokkel)).status_code >= 400
    assert (await par.begge("POST", f"{LOP}/", json=arbeidstrening(IDENT_A), headers=sb)).status_code == 422  # overlap
    assert (await par.begge("POST", f"{LOP}/", json=arbeidstrening("12345678901"), headers=sb)).status_code >= 400
    assert (await par.begge("POST", f"{LOP}/", json=arbeidstrening(IDENT_C), headers=annet_kontor)).status_code == 403
    assert (await par.begge("POST", f"{LOP}/", json=arbeidstrening(IDENT_C), headers=revisor)).status_code == 403
    assert (await par.begge("POST", f"{LOP}/", json=arbeidstrening(IDENT_C, fom=20250101), headers=sb)).status_code == 400
    assert (await par.begge("POST", f"{LOP}/", json=arbeidstrening(IDENT_C, ukjent=1), headers=sb)).status_code == 400
    assert (await par.begge("POST", f"{LOP}/", content=b"{not json", headers=sb)).status_code == 400

    # Reads: plain, with a query string, a non-canonical id, other office, REVISOR, SYSTEM, unknown, no token.
    lest = await par.begge("GET", f"{LOP}/{{lop}}", lop="a", headers=sb)
    assert lest.status_code == 200 and lest.headers["etag"] == '"1"'
    await par.begge("GET", f"{LOP}/{{lop}}?per=2025-04-01", lop="a", headers=sb)
    par.lop["a_stor"] = tuple(i.upper() for i in par.lop["a"])  # type: ignore[assignment]
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a_stor", headers=sb)).status_code == 200
    del par.lop["a_stor"]
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a", headers=annet_kontor)).status_code == 403
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a", headers=revisor)).status_code == 200
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a", headers=system)).status_code == 200
    assert (await par.begge("GET", f"{LOP}/{uuid.UUID(int=7)}", headers=sb)).status_code == 404
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a")).status_code == 401
    utlopt = {"Authorization": f"Bearer {expired_token(par.rask.settings.secret('jwt'))}"}
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a", headers=utlopt)).status_code == 401
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a", headers={"Authorization": "Bearer x.y.z"})).status_code == 401
    # A token the fast path has accepted (and remembers) is refused once it expires, as Litestar refuses it.
    kort = lag_token(par.rask.settings.secret("jwt"), ident="Z990001", roller=["saksbehandler"], enheter=["0315"],
                     gyldig=timedelta(seconds=2))
    kort_header = {"Authorization": f"Bearer {kort}"}
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a", headers=kort_header)).status_code == 200
    await asyncio.sleep(max(0.0, jwt.decode(kort, options={"verify_signature": False})["exp"] - time.time()) + 1.1)
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a", headers=kort_header)).status_code == 401

    # Extensions: plain, If-Match (stale, current, malformed), idempotent and repeated, and refusals.
    sti = f"{LOP}/{{lop}}/forlengelser"
    forlenget = await par.begge("POST", sti, lop="a", json=forleng, headers=sb)
    assert forlenget.status_code == 200 and forlenget.headers["etag"] == '"2"'
    videre = {"ny_tom": "2025-12-31", "aarsak": "BEHOV_VIDERE"}
    assert (await par.begge("POST", sti, lop="a", json=videre, headers={**sb, "If-Match": '"1"'})).status_code == 412
    assert (await par.begge("POST", sti, lop="a", json=videre, headers={**sb, "If-Match": "tre"})).status_code == 400
    assert (await par.begge("POST", sti, lop="a", json=videre, headers={**sb, "If-Match": '"2"'})).status_code == 200
    nokkel = {**sb, "Idempotency-Key": "rask-forleng-1"}
    langt = {"ny_tom": "2026-03-31", "aarsak": "BEHOV_VIDERE"}
    assert (await par.begge("POST", sti, lop="b", json=forleng, headers=nokkel)).status_code == 200
    assert (await par.begge("POST", sti, lop="b", json=forleng, headers=nokkel)).status_code == 200
    assert (await par.begge("POST", sti, lop="b", json=langt, headers=nokkel)).status_code >= 400
    assert (await par.begge("POST", sti, lop="a", json={"ny_tom": "2031-12-31", "aarsak": "BEHOV_VIDERE"},
                            headers=sb)).status_code == 422
    assert (await par.begge("POST", sti, lop="a", json={**videre, "ukjent": True}, headers=sb)).status_code == 400
    assert (await par.begge("POST", sti, lop="a", json={"ny_tom": 5, "aarsak": "BEHOV_VIDERE"}, headers=sb)).status_code == 400
    assert (await par.begge("POST", sti, lop="a", content=b"", headers=sb)).status_code == 400
    stor = b'{"ny_tom": "2025-12-31", "aarsak": "BEHOV_VIDERE", "begrunnelse": "' + b"x" * 10_000_001 + b'"}'
    assert (await par.begge("POST", sti, lop="a", content=stor, headers=sb)).status_code == 413  # over the limit
    assert (await par.begge("POST", sti, lop="a", json=videre, headers=annet_kontor)).status_code == 403
    assert (await par.begge("POST", sti, lop="a", json=videre, headers=revisor)).status_code == 403
    assert (await par.begge("POST", sti, lop="a", json=videre)).status_code == 401
    assert (await par.begge("POST", f"{LOP}/{uuid.UUID(int=9)}/forlengelser", json=videre, headers=sb)).status_code == 404
    assert (await par.begge("POST", sti, lop="a", json={"ny_tom": "2025-11-30", "aarsak": "BEHOV_VIDERE"},
                            headers=system)).status_code == 422  # not after the current tom

    # The state both ended in, as the fast path and Litestar read it.
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="a", headers=sb)).json()["tom"] == "2025-12-31"
    assert (await par.begge("GET", f"{LOP}/{{lop}}", lop="b", headers=sb)).json()["tom"] == "2025-09-30"

    # The comparison meant something: the fast path answered the plain requests of all three routes itself.
    betjent = par.rask.app.state.rask_betjent
    assert betjent[f"{API}/tiltakslop"] >= 6
    assert betjent[f"{API}/tiltakslop/{{lop_id}}"] >= 6
    assert betjent[f"{API}/tiltakslop/{{lop_id}}/forlengelser"] >= 8
    assert not hasattr(par.litestar.app.state, "rask_betjent")
