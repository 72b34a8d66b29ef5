"""The drills' workload: a caseworker's command mix over keep-alive HTTP/1.1, from N concurrent clients.

Each client repeats one cycle over persons of its own (no two clients touch the same person or aggregate,
so there are no version conflicts and every 2xx command writes exactly one event of a published aggregate):
grant an ARBEIDSTRENING løp, read it, extend it, grant a youth guarantee to a younger person, assign its
contact person, record a follow-up talk, read the guarantee: 5 commands and 2 reads, and 3 of the 5 are
grants. Clients are spread over the API processes round-robin (what the reverse proxy does).

Every acknowledged command is kept as (aggregate id, version) for the reconciliation. A request that fails
on the wire (connection refused or reset) is an error, and the client opens a new connection and moves to
the next person; errors never stop the run.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
ENHET = "0315"
FODT_LOP, FODT_GARANTI = "1990-08-15", "2004-05-20"
FOM, TOM, NY_TOM = "2026-01-01", "2026-12-31", "2027-01-31"
API = "/api/v1"


def identer() -> list[str]:
    from tests.perf.bench_http import synthetic_idents

    return synthetic_idents()


class Forbindelse:
    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def lukk(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 1)
            except Exception:  # noqa: BLE001
                pass
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
        """(status, parsed body); status 0 when the request failed on the wire."""
        try:
            return await asyncio.wait_for(self._request(method, path, body), timeout)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, RuntimeError):
            await self.lukk()
            return 0, None

    async def _request(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n".encode() + self.auth
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n".encode()
        self.writer.write(head + b"\r\n" + data)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        match = _LENGTH.search(raw)
        if match is None:
            raise RuntimeError("response without content-length")
        content = await self.reader.readexactly(int(match.group(1)))
        if b"\r\nconnection: close" in raw.lower():
            await self.lukk()
        return int(raw[9:12]), (json.loads(content) if content else None)


@dataclass
class Resultat:
    kvitteringer: list[tuple[str, int]] = field(default_factory=list)  # (aggregate id, version)
    latenser: list[float] = field(default_factory=list)
    statuser: dict[int, int] = field(default_factory=dict)
    kommandoer: int = 0
    lesninger: int = 0
    feil: int = 0
    sekunder: float = 0.0
    # (monotonic instant the answer came, status, method) of every request: the chaos harness reads the
    # time to the first 503 and to the first acknowledgement after a fault from it.
    tidslinje: list[tuple[float, int, str]] = field(default_factory=list)

    def flett(self, annen: Resultat) -> None:
        self.kvitteringer += annen.kvitteringer
        self.latenser += annen.latenser
        for k, v in annen.statuser.items():
            self.statuser[k] = self.statuser.get(k, 0) + v
        self.kommandoer += annen.kommandoer
        self.lesninger += annen.lesninger
        self.feil += annen.feil
        self.tidslinje += annen.tidslinje

    def p(self, q: float) -> float:
        if not self.latenser:
            return float("nan")
        ordered = sorted(self.latenser)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Personer:
    """Hands out synthetic identifiers, each once."""

    def __init__(self, identer: list[str]) -> None:
        self._identer = identer
        self._neste = 0

    def neste(self) -> str:
        if self._neste >= len(self._identer):
            raise RuntimeError("out of synthetic identifiers")
        self._neste += 1
        return self._identer[self._neste - 1]


async def klient(
    urler: list[tuple[str, int]], nr: int, token: str, personer: Personer, stopp: asyncio.Event, frist: float
) -> Resultat:
    """One client's cycles until `stopp` is set or `frist` (monotonic) passes."""
    host, port = urler[nr % len(urler)]
    f = Forbindelse(host, port, token)
    res = Resultat()
    i_dag = date.today()
    g_fom = (i_dag - timedelta(days=10)).isoformat()

    def ferdig() -> bool:
        return stopp.is_set() or time.monotonic() >= frist

    async def send(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        t0 = time.perf_counter()
        status, svar = await f.request(method, path, body)
        res.latenser.append(time.perf_counter() - t0)
        res.statuser[status] = res.statuser.get(status, 0) + 1
        res.tidslinje.append((time.monotonic(), status, method))
        if method == "POST":
            res.kommandoer += 1
            if 200 <= status < 300 and isinstance(svar, dict):
                res.kvitteringer.append((svar["id"], int(svar["versjon"])))
        else:
            res.lesninger += 1
        if not 200 <= status < 300:
            res.feil += 1
        return status, svar

    try:
        while not ferdig():
            s, lop = await send("POST", f"{API}/tiltakslop", {
                "person": {"ident": personer.neste(), "fodselsdato": FODT_LOP},
                "tiltakstype": "ARBEIDSTRENING", "malgruppe": "NEDSATT_ARBEIDSEVNE", "fom": FOM, "tom": TOM,
                "nav_enhet": ENHET, "vedtak_ref": "VEDTAK-DRILL",
            })
            if s == 201 and not ferdig():
                await send("GET", f"{API}/tiltakslop/{lop['id']}")
                if not ferdig():
                    await send("POST", f"{API}/tiltakslop/{lop['id']}/forlengelser",
                               {"ny_tom": NY_TOM, "aarsak": "NEDSATT_ARBEIDSEVNE"})
            if ferdig():
                break
            s, g = await send("POST", f"{API}/ungdomsgarantier", {
                "person": {"ident": personer.neste(), "fodselsdato": FODT_GARANTI},
                "fom": g_fom, "nav_enhet": ENHET, "bistandsbehov_vedtak_ref": "14A-DRILL",
            })
            if s == 201:
                for path, body in (
                    ("kontaktperson", {"nav_ident": "Z111111", "fom": g_fom}),
                    ("samtaler", {"dato": (i_dag - timedelta(days=5)).isoformat(), "kanal": "MOTE"}),
                ):
                    if ferdig():
                        break
                    await send("POST", f"{API}/ungdomsgarantier/{g['id']}/{path}", body)
                if not ferdig():
                    await send("GET", f"{API}/ungdomsgarantier/{g['id']}")
            if s == 0 or 500 <= s:
                await asyncio.sleep(0.05)  # the backend is down: do not spin
    finally:
        await f.lukk()
    return res


async def last(
    urler: list[str], klienter: int, sekunder: float, token: str, personer: Personer,
    stopp: asyncio.Event | None = None,
) -> Resultat:
    """`klienter` concurrent clients for `sekunder` (or until `stopp`)."""
    adresser = []
    for u in urler:
        host, port = u.removeprefix("http://").split(":")
        adresser.append((host, int(port)))
    stopp = stopp or asyncio.Event()
    t0 = time.monotonic()
    deler = await asyncio.gather(
        *(klient(adresser, nr, token, personer, stopp, t0 + sekunder) for nr in range(klienter))
    )
    res = Resultat(sekunder=time.monotonic() - t0)
    for d in deler:
        res.flett(d)
    return res
