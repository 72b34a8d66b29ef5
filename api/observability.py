"""Correlation ids, structured JSON logs and Prometheus metrics for the API.

Every response carries `X-Correlation-ID` (the caller's, when it is a UUID, else a new one) and every log
line written while a request runs carries it too. Log lines hold the method, the path (whose only
parameters are aggregate ids: the person identifier never travels in a URL), the status and the duration;
never a body.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-correlation-id"
_HEADER_BYTES = HEADER.encode()
correlation_id: contextvars.ContextVar[UUID | None] = contextvars.ContextVar("correlation_id", default=None)
log = logging.getLogger("forlop.http")
# What json.dumps(entry, default=str, ensure_ascii=False) builds on every call, built once.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
# The same JSON for the common entries (str, int, float, bool, None values), several times faster.
_RASK = msgspec.json.Encoder()
_ENKLE = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, correlation id and the record's extras."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        felt = record.__dict__.get(_FELT)
        if felt is not None:  # a request line (`_foresporsel`): its extras are these, all simple values
            return _foresporselslinje(felt, record.__dict__[_CID], record.created)
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = correlation_id.get()
        if cid is not None:
            entry["correlation_id"] = str(cid)
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if all(type(v) in _ENKLE for v in entry.values()):
            return _RASK.encode(entry).decode()
        return _ENCODER.encode(entry)


class SamletStrom(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes the lines logged in one turn of the running event loop together: one
    write and one flush at the end of the turn instead of one each per line (a request line costs a syscall
    otherwise, and several requests often finish in the same turn). Outside an event loop, or from a thread
    other than the loop's, a line is written at once, as StreamHandler writes it. `flush` and `close` write
    what is queued, so nothing queued is lost at a clean exit (logging.shutdown flushes every handler)."""

    _MAKS = 256  # lines queued before they are written anyway

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._ko: list[str] = []
        self._planlagt: asyncio.AbstractEventLoop | None = None  # the loop whose turn will write the queue

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held (Handler.handle)
        try:
            linje = self.format(record)
        except Exception:  # noqa: BLE001 - as StreamHandler.emit: logging never raises into the caller
            self.handleError(record)
            return
        self._legg_til(linje, record)

    def skriv_linje(self, linje: str) -> None:
        """Queue a line formatted already (`_foresporselslinje`), as `emit` queues the lines it formats."""
        with self.lock:  # type: ignore[union-attr]
            self._legg_til(linje, None)

    def _legg_til(self, linje: str, record: logging.LogRecord | None) -> None:
        self._ko.append(linje)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        planlagt = self._planlagt
        if planlagt is not None and planlagt.is_closed():  # that loop ended before its turn came
            planlagt = self._planlagt = None
        if loop is not None and planlagt is loop and len(self._ko) < self._MAKS:
            return
        if loop is not None and planlagt is None:
            self._planlagt = loop
            loop.call_soon(self._skriv_planlagt)
            return
        self._skriv(record)

    def _skriv_planlagt(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._planlagt = None
            self._skriv(None)

    def _skriv(self, record: logging.LogRecord | None) -> None:
        ko, self._ko = self._ko, []
        if not ko:
            return
        try:
            self.stream.write(self.terminator.join(ko) + self.terminator)
            self.stream.flush()
        except Exception:  # noqa: BLE001
            if record is not None:
                self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._skriv(None)
        super().flush()


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    handler = SamletStrom(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Attributes of every LogRecord that no line of ours shows (JsonFormatter writes none of them), each
    # a lookup per record: off.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True  # our own request line replaces it


_FELT = "_forlop_felt"
_CID = "_forlop_cid"
_MAL: dict[str, Any] = {}  # the attributes of a request line's record that do not change, made once
os.register_at_fork(after_in_child=_MAL.clear)  # a child is another process


def _foresporsel(felt: dict[str, Any], cid: str) -> logging.LogRecord:
    """The record `log.info("request", extra=felt)` would make, made as a copy of one made once: LogRecord's
    constructor looks up the thread, the process, the file name and more on every call, the same each time
    for this line (a tenth of a small request's CPU went into the request line). The extras are also kept
    together under `_FELT`, so JsonFormatter need not scan the record for them."""
    if not _MAL or _MAL["thread"] != (threading.get_ident() if logging.logThreads else None):
        mal = vars(log.makeRecord(log.name, logging.INFO, __file__, 0, "request", (), None, "correlation_middleware"))
        _MAL.clear()
        _MAL.update(mal)
    record = logging.LogRecord.__new__(logging.LogRecord)
    attributter = record.__dict__
    attributter.update(_MAL)
    naa = time.time()
    attributter["created"] = naa
    attributter["msecs"] = int((naa - int(naa)) * 1000) + 0.0  # as LogRecord computes them
    attributter["relativeCreated"] = (naa - _MAL["created"]) * 1000 + _MAL["relativeCreated"]
    if "taskName" in attributter:  # Python 3.12+: the task logging, which differs from line to line
        oppgave = asyncio.current_task() if logging.logAsyncioTasks else None  # type: ignore[attr-defined]
        attributter["taskName"] = oppgave.get_name() if oppgave is not None else None
    attributter.update(felt)
    attributter[_FELT] = felt
    attributter[_CID] = cid
    return record


def _direkte_strom() -> SamletStrom | None:
    """The handler a request line would reach, if logging is set up as `configure_logging` sets it up and
    nothing was added since: then `_foresporselslinje` may go straight to it, for the same line without a
    record and the logging machinery (a sixth of a small request's HTTP work). Else None: any other
    handler, filter or formatter (a test capturing the logs, say) gets the record through `log.handle`."""
    logger: logging.Logger | None = log
    while logger is not None and logger is not logging.root:
        if logger.handlers or logger.filters or logger.disabled or not logger.propagate:
            return None
        logger = logger.parent
    rot = logging.root
    if rot.filters or len(rot.handlers) != 1:
        return None
    handler = rot.handlers[0]
    if (
        type(handler) is not SamletStrom or handler.filters or handler.level > logging.INFO
        or type(handler.formatter) is not JsonFormatter
    ):
        return None
    return handler


def _foresporselslinje(felt: dict[str, Any], cid: str, naa: float) -> str:
    """The request line at time `naa`: what JsonFormatter writes for `_foresporsel(felt, cid)` (it calls this),
    the same line its general path writes for `log.info("request", extra=felt)` (a unit test compares)."""
    entry: dict[str, Any] = {
        "time": datetime.fromtimestamp(naa, UTC).isoformat(),
        "level": "INFO",
        "logger": log.name,
        "message": "request",
        "correlation_id": cid,
    }
    entry.update(felt)
    return _RASK.encode(entry).decode()


_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """In-process counters and a latency histogram per route, rendered as Prometheus text."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(_BUCKETS) + 1))
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.gauges: dict[str, Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        key = (method, route)
        self.sums[key] += seconds
        # Per bucket, the samples of that bucket alone (the last: above every bound); render() adds them up.
        self.buckets[key][bisect_left(_BUCKETS, seconds)] += 1

    def render(self) -> str:
        lines = [
            "# HELP forlop_http_requests_total HTTP requests by method, route and status.",
            "# TYPE forlop_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(f'forlop_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
        lines += [
            "# HELP forlop_http_request_duration_seconds HTTP request duration.",
            "# TYPE forlop_http_request_duration_seconds histogram",
        ]
        for (method, route), counts in sorted(self.buckets.items()):
            labels = f'method="{method}",route="{route}"'
            cumulative = 0
            for bound, n in zip(_BUCKETS, counts, strict=False):
                cumulative += n
                lines.append(f'forlop_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {cumulative}')
            total = cumulative + counts[-1]
            lines.append(f'forlop_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
            lines.append(f"forlop_http_request_duration_seconds_sum{{{labels}}} {self.sums[(method, route)]:.6f}")
            lines.append(f"forlop_http_request_duration_seconds_count{{{labels}}} {total}")
        typed: set[str] = set()
        for name, value in sorted(self.gauges.items()):
            base = name.partition("{")[0]
            if base not in typed:
                typed.add(base)
                lines.append(f"# TYPE {base} gauge")
            lines.append(f"{name} {value() if callable(value) else value}")
        return "\n".join(lines) + "\n"


def _route_of(scope: Scope) -> str:
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    if paths:
        return scope.get("path_template") or next(iter(paths))
    return "unmatched"


def correlation_middleware(metrics: Metrics) -> Any:
    """ASGI middleware: correlation id in and out, one JSON log line and one metrics sample per request."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            raw = None
            for name, value in scope["headers"]:  # ASGI: names lower-case; the last one counts, as in a dict
                if name == _HEADER_BYTES:
                    raw = value
            cid = _parse(raw)
            token = correlation_id.set(cid)
            started = time.perf_counter()
            status = 500
            cycle = getattr(send, "__self__", None)
            samlet: _SamletSkriving | None = None
            if type(cycle).__name__ != "RequestResponseCycle" or not hasattr(cycle, "transport"):
                cycle = None

            cid_tekst = str(cid)

            async def send_with_id(message: Message) -> None:
                nonlocal status, samlet
                if message["type"] == "http.response.start":
                    status = message["status"]
                    _set_header(message, cid_tekst)
                    if cycle is not None and samlet is None:
                        samlet = _SamletSkriving(cycle)
                    await send(message)
                    return
                await send(message)
                if samlet is not None:
                    samlet.ferdig()
                    samlet = None

            try:
                await app(scope, receive, send_with_id)
            finally:
                if samlet is not None:
                    samlet.ferdig()
                elapsed = time.perf_counter() - started
                route = _route_of(scope)
                metrics.observe(scope["method"], route, status, elapsed)
                if log.isEnabledFor(logging.INFO):
                    felt = {
                        "method": scope["method"],
                        "path": _DIGITS.sub(_mask, scope["path"]),
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    }
                    strom = _direkte_strom()
                    if strom is not None:
                        strom.skriv_linje(_foresporselslinje(felt, cid_tekst, time.time()))
                    else:
                        log.handle(_foresporsel(felt, cid_tekst))
                correlation_id.reset(token)

        return wrapped

    return middleware


class _SamletSkriving:
    """The status line and headers of a response written to the socket together with its body, in one
    write instead of two (a write to a socket costs as much as a small handler).

    uvicorn's protocol cycles (httptools and h11) write each ASGI message to `cycle.transport` at once;
    while a response starts, the cycle writes to this object instead, which keeps the head and hands it to
    the real transport with the first body message (`ferdig`, right after that message was sent). Any
    other use of the transport passes through; `close` writes what is kept first."""

    __slots__ = ("_cycle", "_transport", "_deler")

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle
        self._transport = cycle.transport
        self._deler: list[bytes] = []
        cycle.transport = self

    def write(self, data: bytes) -> None:
        self._deler.append(data)

    def writelines(self, data: Any) -> None:
        self._deler.extend(data)

    def close(self) -> None:
        self.ferdig()
        self._transport.close()

    def ferdig(self) -> None:
        """Put the real transport back and write what was kept, as one write."""
        if self._cycle.transport is self:
            self._cycle.transport = self._transport
        deler, self._deler = self._deler, []
        if deler:
            self._transport.write(deler[0] if len(deler) == 1 else b"".join(deler))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _set_header(message: Message, value: str) -> None:
    """`X-Correlation-ID: value` on a response start, replacing one the app set (it sets none)."""
    headers = message.get("headers")
    if isinstance(headers, list):
        for name, _ in headers:
            if name.lower() == _HEADER_BYTES:
                break
        else:
            headers.append((_HEADER_BYTES, value.encode("latin-1")))
            return
    MutableScopeHeaders.from_message(message)[HEADER] = value


_DIGITS = re.compile(r"(?<![\w-])\d{11,}(?![\w-])")  # not inside a UUID or a word


def _mask(match: re.Match[str]) -> str:
    """A client that puts an identifier in a URL anyway does not get it logged."""
    return "*" * len(match.group(0))


def _parse(raw: bytes | None) -> UUID:
    if raw:
        try:
            return UUID(raw.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            pass
    return ny_uuid4()


_TILFELDIGE: list[int] = []  # random version-4 UUID values, drawn 256 at a time
_VERSJON4_MASKE = ~(0xF000 << 64) & ~(0xC000 << 48)
_VERSJON4 = (4 << 76) | (0x8000 << 48)
os.register_at_fork(after_in_child=_TILFELDIGE.clear)  # a child never hands out its parent's


def ny_uuid4() -> UUID:
    """A random (version 4) UUID, as `uuid.uuid4()` makes it, from os.urandom drawn for 256 at a time: one
    system call per request was a noticeable part of a small request's CPU (the request's correlation id)."""
    while True:
        try:
            verdi = _TILFELDIGE.pop()  # atomic; another thread may have taken the last one
            break
        except IndexError:
            tilfeldig = os.urandom(16 * 256)
            _TILFELDIGE.extend(
                (int.from_bytes(tilfeldig[i : i + 16], "big") & _VERSJON4_MASKE) | _VERSJON4
                for i in range(0, len(tilfeldig), 16)
            )
    return UUID(int=verdi)
