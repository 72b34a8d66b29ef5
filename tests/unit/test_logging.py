"""What `configure_logging` writes (api/observability.py): one JSON object a line for every logger, the
context's correlation id on each line, every run of 11 or more digits masked wherever it stands (UUIDs
kept), and the writing done off the logging thread."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from api.observability import configure_logging, flush_logs, mask

IDENT = "15085012344"
STARS = "*" * 11


@contextlib.contextmanager
def configured(level: str, stream: io.StringIO) -> Iterator[io.StringIO]:
    """The process's logging set up by `configure_logging`; put back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    configure_logging(level, stream=stream)
    try:
        yield stream
    finally:
        flush_logs()
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)
        logging.getLogger("uvicorn.access").disabled = False


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    with configured("DEBUG", io.StringIO()) as stream:
        yield stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    flush_logs()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (IDENT, STARS),
        (f"/api/v1/tiltakslop/x{IDENT}", f"/api/v1/tiltakslop/x{STARS}"),
        (f"id_{IDENT}", f"id_{STARS}"),
        (f"{IDENT}abc", f"{STARS}abc"),
        (f"a-{IDENT}-b", f"a-{STARS}-b"),
        ("123456789012345", "*" * 15),  # longer runs too
        (f"{IDENT} og {IDENT}", f"{STARS} og {STARS}"),
        ("1234567890", "1234567890"),  # ten digits: not an identifier
        ("2025-03-03T10:00:00.123456+00:00", "2025-03-03T10:00:00.123456+00:00"),
        # A UUID's last group may be twelve decimal digits: the UUID stays as it is.
        ("550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-446655440000"),
        (f"/api/v1/tiltakslop/550e8400-e29b-41d4-a716-446655440000?per={IDENT}",
         f"/api/v1/tiltakslop/550e8400-e29b-41d4-a716-446655440000?per={STARS}"),
        # Twelve hex digits glued to more hex are no UUID group: the digits are masked.
        ("550e8400-e29b-41d4-a716-4466554400001", "550e8400-e29b-41d4-a716-" + "*" * 13),
    ],
)
def test_mask_hides_every_run_of_eleven_digits_but_not_a_uuid(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_every_logger_writes_one_json_object_a_line(logs: io.StringIO) -> None:
    logging.getLogger("workers.relay").info("published %d events", 3, extra={"stream": "FORLOP"})
    structlog.get_logger("forlop.test").warning("a structlog line", antall=2)
    logging.getLogger("asyncpg").debug("a library's line")
    logging.getLogger("uvicorn.error").info("Started server process", extra={"color_message": "\x1b[36mStarted\x1b[0m"})

    written = lines(logs)

    assert [(r["logger"], r["level"], r["message"]) for r in written] == [
        ("workers.relay", "info", "published 3 events"),
        ("forlop.test", "warning", "a structlog line"),
        ("asyncpg", "debug", "a library's line"),
        ("uvicorn.error", "info", "Started server process"),
    ]
    assert written[0]["stream"] == "FORLOP" and written[1]["antall"] == 2
    assert "color_message" not in written[3]  # uvicorn's message with terminal colours
    assert all(list(r)[:4] == ["time", "level", "logger", "message"] for r in written)
    assert all(r["time"].endswith("Z") for r in written)


def test_the_level_is_respected_and_uvicorns_access_log_is_off() -> None:
    with configured("WARNING", io.StringIO()) as stream:
        logging.getLogger("forlop.x").info("not at WARNING")
        structlog.get_logger("forlop.x").info("nor this")
        logging.getLogger("forlop.x").warning("this")
        logging.getLogger("uvicorn.access").warning('127.0.0.1 - "GET /x HTTP/1.1" 200')

        assert [r["message"] for r in lines(stream)] == ["this"]


def test_digits_are_masked_in_messages_fields_keys_numbers_nested_values_and_tracebacks(logs: io.StringIO) -> None:
    class Person:
        def __str__(self) -> str:
            return f"Person({IDENT})"

    logging.getLogger("forlop.a").info(
        "no person %s", IDENT, extra={"path": f"/x{IDENT}", f"id_{IDENT}": int(IDENT), "andel": float(IDENT) + 0.5,
                                      "nested": {"list": [IDENT, {"k": f"v{IDENT}"}], "person": Person()}},
    )
    structlog.get_logger("forlop.b").info(f"ident={IDENT}", identer=(IDENT,), tall=int(IDENT))
    try:
        raise ValueError(f"Key (ident)=({IDENT}) already exists")
    except ValueError:
        logging.getLogger("asyncpg").exception("failed for %s", IDENT)
        structlog.get_logger("forlop.c").exception("failed")

    written = lines(logs)

    assert IDENT not in logs.getvalue()
    a, b, c, d = written
    assert a["message"] == f"no person {STARS}" and a["path"] == f"/x{STARS}"
    assert a[f"id_{STARS}"] == STARS and a["andel"] == f"{STARS}.5"
    assert a["nested"] == {"list": [STARS, {"k": f"v{STARS}"}], "person": f"Person({STARS})"}
    assert b["message"] == f"ident={STARS}" and b["identer"] == [STARS] and b["tall"] == STARS
    assert "ValueError: Key (ident)=(" + STARS + ") already exists" in c["exception"]
    assert c["message"] == f"failed for {STARS}" and STARS in d["exception"]


def test_a_small_number_and_a_uuid_are_logged_as_they_are(logs: io.StringIO) -> None:
    structlog.get_logger("forlop.d").info("ok", posisjon=1234567890, id="550e8400-e29b-41d4-a716-446655440000")
    (line,) = lines(logs)
    assert line["posisjon"] == 1234567890 and line["id"] == "550e8400-e29b-41d4-a716-446655440000"


def test_the_bound_correlation_id_is_on_every_line_logged_in_its_context_only(logs: io.StringIO) -> None:
    cid = "32007bfc-3dac-4e8c-93d9-26c952a206e4"
    with structlog.contextvars.bound_contextvars(correlation_id=cid):
        logging.getLogger("forlop.api").warning("inside, stdlib")
        structlog.get_logger("forlop.api").warning("inside, structlog")
        logging.getLogger("asyncpg").warning("inside, a library")
    logging.getLogger("forlop.api").warning("outside")

    written = lines(logs)

    assert [r.get("correlation_id") for r in written] == [cid, cid, cid, None]


class BlockingStream(io.StringIO):
    """A stream whose writes wait until `release` is set, and that notes which threads wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.writers: set[int] = set()

    def write(self, s: str) -> int:
        self.writers.add(threading.get_ident())
        self.release.wait(10)
        return super().write(s)


def test_the_logging_thread_does_not_wait_for_the_stream() -> None:
    stream = BlockingStream()
    with configured("INFO", stream):
        try:
            started = time.perf_counter()
            for i in range(100):
                logging.getLogger("forlop.x").info("line %d", i)
            assert time.perf_counter() - started < 1  # the stream holds every write for up to 10 s
            assert stream.getvalue() == ""
        finally:
            stream.release.set()
        flush_logs()
        assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
            f"line {i}" for i in range(100)
        ]
        assert threading.get_ident() not in stream.writers


def test_configuring_again_writes_what_the_previous_setup_queued_first(logs: io.StringIO) -> None:
    logging.getLogger("forlop.x").warning("to the first")
    second = io.StringIO()
    configure_logging("INFO", stream=second)
    logging.getLogger("forlop.x").warning("to the second")

    assert [r["message"] for r in lines(logs)] == ["to the first"]
    assert [r["message"] for r in lines(second)] == ["to the second"]


def test_asyncpgs_pool_warning_during_an_outage_is_one_line_without_a_traceback(logs: io.StringIO) -> None:
    """asyncpg's pool logs a warning with a traceback each time it fails to restore its connection floor
    (seen in `make chaos` while PostgreSQL was stopped): the line stays, with the error, the traceback goes."""
    import asyncpg

    try:
        raise asyncpg.CannotConnectNowError("the database system is shutting down")
    except asyncpg.CannotConnectNowError:
        logging.getLogger("asyncpg.pool").warning("Failed to restore the pool connection floor; retrying", exc_info=True)
    try:
        raise ValueError(f"a bug near {IDENT}")
    except ValueError:
        logging.getLogger("workers.relay").exception("our own error keeps its traceback")

    pool_line, own_line = lines(logs)

    assert pool_line["logger"] == "asyncpg.pool" and pool_line["level"] == "warning"
    assert pool_line["message"] == (
        "Failed to restore the pool connection floor; retrying: CannotConnectNowError: the database system is shutting down"
    )
    assert "exception" not in pool_line
    assert "Traceback" in own_line["exception"] and IDENT not in json.dumps(own_line)
