"""Correlation ids, structured JSON logs and the HTTP metrics' configuration, for the API and the workers.

Logs: `configure_logging(level)` sends every logger (ours, structlog's, uvicorn's, asyncpg's, nats') through
structlog's `ProcessorFormatter` to one JSON object a line. The line is rendered in the thread that logs
(where the request's context variables are) and written by a `QueueListener` thread, so the event loop never
waits on the stream. Any run of 11 or more digits in a line is masked, wherever it stands.

Requests: `ObservedApp` is Litestar with one addition at its ASGI entry point: every HTTP response carries
`X-Correlation-ID` (the caller's, when it is a UUID, else a new one), every line logged while the request
runs carries it, and one line per request holds the method, the path, the route, the status and the
duration; never a body. HTTP metrics come from Litestar's Prometheus middleware (`PROMETHEUS`).
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import re
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TextIO, cast
from uuid import UUID, uuid4

import msgspec
import structlog
from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import (
    HTTPScope,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Message,
    Receive,
    Scope,
    Send,
)

from api.conditional import ConditionalMiddleware

HEADER = "x-correlation-id"
_HEADER_BYTES = HEADER.encode()
correlation_id: ContextVar[UUID | None] = ContextVar("correlation_id", default=None)

# --- masking ------------------------------------------------------------------------------------------------

# A UUID is matched whole (its last group may be twelve decimal digits) and kept; any other run of 11 or more
# digits is masked, also one glued to letters or `_` (`x15085012344`, `id_15085012344`).
_HEX = "[0-9A-Fa-f]"
_UUID_OR_DIGITS = re.compile(
    rf"(?<!{_HEX}){_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}(?!{_HEX})|\d{{11,}}"
)
_ELEVEN_DIGITS = re.compile(r"\d{11}")  # the cheap test first: most strings have no such run
_LARGEST_SHORT_INT = 10**10 - 1


def _star(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if "-" in text else "*" * len(text)


def mask(text: str) -> str:
    """`text` with every run of 11 or more digits (a fødselsnummer, maybe) replaced by as many `*`."""
    if len(text) < 11 or not _ELEVEN_DIGITS.search(text):
        return text
    return _UUID_OR_DIGITS.sub(_star, text)


def _masked(value: Any) -> Any:
    """`value` with every string in it masked; a number with such a run becomes a masked string, anything
    that is not JSON already becomes its masked `str` (what would be logged of it)."""
    kind = type(value)
    if kind is str:
        return mask(value)
    if kind is int and -_LARGEST_SHORT_INT <= value <= _LARGEST_SHORT_INT or value is None or kind is bool:
        return value
    if isinstance(value, int | float):
        text = str(value)
        masked = mask(text)
        return value if masked == text else masked
    if isinstance(value, str):  # a subclass (an enum member, say)
        return mask(value)
    if isinstance(value, Mapping):
        return {mask(str(k)): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_masked(v) for v in value]
    return mask(str(value))


_FIRST = ("time", "level", "logger", "message", "correlation_id")  # at the start of a line, for a reader


def mask_identifiers(_logger: Any, _method: str, event_dict: Any) -> dict[str, Any]:
    """structlog processor, the last before rendering: every key and value masked, the usual keys first."""
    line = {k: event_dict[k] for k in _FIRST if k in event_dict}
    line.update(event_dict)
    return {mask(k): _masked(v) for k, v in line.items()}


# --- logging ------------------------------------------------------------------------------------------------

_CONTEXT: list[Any] = [
    structlog.contextvars.merge_contextvars,  # the request's correlation id
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
]
# What a structlog logger runs where it is called; ProcessorFormatter does the rest, as for any stdlib record.
_STRUCTLOG_CHAIN: list[Any] = [
    structlog.stdlib.filter_by_level,
    *_CONTEXT,
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]
_ENCODER = msgspec.json.Encoder()


def _drop_color_message(_logger: Any, _method: str, event_dict: Any) -> Any:
    """uvicorn adds its message with terminal colours as an extra: the plain one is enough."""
    event_dict.pop("color_message", None)
    return event_dict


def _json(event_dict: dict[str, Any], **_: Any) -> str:
    return _ENCODER.encode(event_dict).decode()  # only JSON values are left once masked


def _formatter() -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_CONTEXT, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            mask_identifiers,
            structlog.processors.JSONRenderer(serializer=_json),
        ],
    )


@dataclass
class _Setup:
    level: str
    stream: TextIO
    listener: logging.handlers.QueueListener | None


_setup: _Setup | None = None  # what configure_logging set up last


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Every logger of the process to `stream` (stderr), one JSON object a line, from `level` up.

    Called again, it replaces the previous setup (the lines that one queued are written first)."""
    global _setup
    _stop()
    log_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    to_queue = logging.handlers.QueueHandler(log_queue)
    to_queue.setFormatter(_formatter())  # QueueHandler.prepare formats in the logging thread
    target = stream or sys.stderr
    listener = logging.handlers.QueueListener(log_queue, logging.StreamHandler(target))
    listener.start()
    _setup = _Setup(level, target, listener)
    _install(to_queue, level)


class _OutageLine(logging.Filter):
    """asyncpg's pool logs a warning with a traceback each time it fails to restore its connection floor
    (backing off from 1 s) while PostgreSQL is down. The outage is logged once by our own code; here the
    warning stays, as one line with the error's type and message, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_OUTAGE_LINE = _OutageLine()


def _install(handler: logging.Handler, level: str) -> None:
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=_STRUCTLOG_CHAIN,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("asyncpg.pool").addFilter(_OUTAGE_LINE)  # a filter is added once, however often
    logging.getLogger("uvicorn.access").disabled = True  # our request line replaces it


def flush_logs() -> None:
    """Return once every line logged so far is written (it waits for the writing thread: not for a handler)."""
    if _setup is not None and _setup.listener is not None:
        _setup.listener.stop()  # writes what is queued, then ends its thread
        _setup.listener.start()


def _stop() -> None:
    if _setup is not None and _setup.listener is not None:
        _setup.listener.stop()
        _setup.listener = None


def _in_forked_child() -> None:
    """A forked child (`forlop rebuild --arbeidere`) has no listener thread and may end without atexit: it
    writes its lines itself, in the same format."""
    if _setup is None:
        return
    _setup.listener = None  # the parent's thread, not running here
    handler = logging.StreamHandler(_setup.stream)
    handler.setFormatter(_formatter())
    _install(handler, _setup.level)


atexit.register(_stop)  # registered after logging's own, so it runs first: nothing queued is lost
os.register_at_fork(after_in_child=_in_forked_child)

# --- requests -----------------------------------------------------------------------------------------------

_http_stdlib = logging.getLogger("forlop.http")
# Its own processors, so the request line is the same whether or not structlog.configure ran in this process.
_http_log = structlog.wrap_logger(
    _http_stdlib, processors=_STRUCTLOG_CHAIN, wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)

# HTTP metrics by route template (never the raw path: it may hold what a careless client put there).
PROMETHEUS = PrometheusConfig(
    app_name="forlop",
    prefix="forlop_http",
    group_path=True,
    buckets=[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
)


class ObservedApp(Litestar):
    """Litestar, with a correlation id and a request line for every HTTP request.

    At the ASGI entry point rather than in a middleware: Litestar answers an unknown route or method
    before any middleware runs, and those requests are logged too."""

    async def __call__(
        self, scope: Scope | LifeSpanScope, receive: Receive | LifeSpanReceive, send: Send | LifeSpanSend
    ) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        http_send = cast("Send", send)
        cid = _parse(scope)
        cid_text = str(cid)
        method, path = cast("HTTPScope", scope)["method"], scope["path"]
        started = time.perf_counter()
        status = 500  # if no answer starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)[HEADER] = cid_text
            await http_send(message)

        token = correlation_id.set(cid)
        bound = structlog.contextvars.bind_contextvars(correlation_id=cid_text)
        try:
            # HEAD and 304 (api/conditional.py) before Litestar routes: its router answers 405 to a HEAD.
            await ConditionalMiddleware(super().__call__)(scope, cast("Receive", receive), send_with_id)
        finally:
            if _http_stdlib.isEnabledFor(logging.INFO):
                _http_log.info(
                    "request",
                    method=method,
                    path=path,
                    route=scope.get("path_template", "unmatched"),
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            structlog.contextvars.reset_contextvars(**bound)
            correlation_id.reset(token)


def _parse(scope: Scope) -> UUID:
    raw = None
    for name, value in scope["headers"]:  # ASGI: names lower-case; the last one counts, as in a dict
        if name == _HEADER_BYTES:
            raw = value
    if raw:
        try:
            return UUID(raw.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            pass
    return uuid4()
