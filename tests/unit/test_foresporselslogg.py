"""The request log's cheaper pieces (api/observability.py): the same lines as before, written together.

- `SamletStrom` writes the lines of one event-loop turn in one write, in order, and a line logged outside a
  loop at once; `flush` writes what is queued; a loop that closed before its turn does not strand lines.
- `_foresporsel` makes the record `log.makeRecord(..., extra=...)` made, and JsonFormatter turns it into
  the same JSON line.
- `ny_uuid4` makes valid, distinct version-4 UUIDs.
- The request line written straight to the handler (`_foresporselslinje`) is the formatter's line, and only
  `configure_logging`'s setup alone takes that path.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from typing import Any

from api.observability import _FELT, JsonFormatter, SamletStrom, _foresporsel, correlation_id, log, ny_uuid4


class _Strom(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.skrivinger = 0

    def write(self, s: str) -> int:
        self.skrivinger += 1
        return super().write(s)


def _logger(strom: _Strom) -> tuple[logging.Logger, SamletStrom]:
    handler = SamletStrom(strom)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"test.samlet.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    return logger, handler


def test_lines_of_one_loop_turn_are_written_together_in_order() -> None:
    strom = _Strom()
    logger, _ = _logger(strom)

    async def main() -> None:
        for i in range(5):
            logger.info("linje %d", i)
        assert strom.getvalue() == ""  # not before the turn ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert strom.getvalue() == "".join(f"linje {i}\n" for i in range(5))
        assert strom.skrivinger == 1
        logger.info("neste")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert strom.getvalue().endswith("neste\n") and strom.skrivinger == 2

    asyncio.run(main())


def test_outside_a_loop_a_line_is_written_at_once() -> None:
    strom = _Strom()
    logger, _ = _logger(strom)
    logger.info("straks")
    assert strom.getvalue() == "straks\n"


def test_flush_writes_what_is_queued_and_a_closed_loop_strands_nothing() -> None:
    strom = _Strom()
    logger, handler = _logger(strom)

    async def logg_og_avslutt() -> None:
        logger.info("i siste runde")  # the loop closes before the turn that would write it

    loop = asyncio.new_event_loop()
    loop.run_until_complete(logg_og_avslutt())
    loop.close()
    logger.info("etterpå")  # outside any loop: written at once, after what was queued
    assert strom.getvalue() == "i siste runde\netterpå\n"

    async def logg() -> None:
        logger.info("køet")
        handler.flush()
        assert strom.getvalue().endswith("køet\n")

    asyncio.run(logg())
    assert strom.getvalue().count("køet") == 1


def test_the_request_record_is_the_one_make_record_made() -> None:
    felt = {"method": "POST", "path": "/api/v1/tiltakslop", "route": "/api/v1/tiltakslop", "status": 201,
            "duration_ms": 3.25}
    cid = ny_uuid4()
    gammel = log.makeRecord(log.name, logging.INFO, "x", 0, "request", (), None, "correlation_middleware", felt)
    ny = _foresporsel(dict(felt), str(cid))
    tid = {"created", "msecs", "relativeCreated"}
    egne = {_FELT, "_forlop_cid"}
    fast_gammel = {k: v for k, v in vars(gammel).items() if k not in tid | {"pathname", "filename", "module"}}
    fast_ny = {k: v for k, v in vars(ny).items() if k not in tid | egne | {"pathname", "filename", "module"}}
    assert fast_ny == fast_gammel
    assert ny.filename == "observability.py" and ny.module == "observability"
    assert abs(ny.created - gammel.created) < 5 and 0 <= ny.msecs < 1000
    assert abs((ny.relativeCreated - gammel.relativeCreated) - (ny.created - gammel.created) * 1000) < 1

    formatter = JsonFormatter()
    token = correlation_id.set(cid)
    try:
        forventet: dict[str, Any] = json.loads(formatter.format(gammel))
        faktisk: dict[str, Any] = json.loads(formatter.format(ny))
    finally:
        correlation_id.reset(token)
    assert list(faktisk) == list(forventet)
    forventet.pop("time"), faktisk.pop("time")
    assert faktisk == forventet == {"level": "INFO", "logger": "forlop.http", "message": "request",
                                    "correlation_id": str(cid), **felt}


def test_ny_uuid4_makes_valid_distinct_version_4_uuids() -> None:
    ider = [ny_uuid4() for _ in range(3000)]  # across several draws of 256
    assert len(set(ider)) == len(ider)
    for uid in ider:
        assert uid.version == 4 and uid.variant == uuid.RFC_4122
        assert uuid.UUID(str(uid)) == uid and hash(uuid.UUID(str(uid))) == hash(uid)


def test_the_direct_request_line_is_the_formatters_line() -> None:
    from api.observability import _foresporselslinje

    felt = {"method": "GET", "path": "/api/v1/tiltakslop/x", "route": "/api/v1/tiltakslop/{lop_id}", "status": 200,
            "duration_ms": 1.5}
    cid = str(ny_uuid4())
    record = _foresporsel(dict(felt), cid)
    assert _foresporselslinje(dict(felt), cid, record.created) == JsonFormatter().format(record)  # byte for byte


def test_the_direct_request_line_goes_only_to_the_plain_setup() -> None:
    """`configure_logging`'s setup alone: straight to its handler. Anything added (a capturing handler, a
    filter, another formatter, a level above INFO): through `log.handle`, so whatever was added sees it."""
    from api.observability import _direkte_strom, configure_logging

    rot = logging.getLogger()
    for_handlers, for_level = rot.handlers[:], rot.level
    try:
        configure_logging("INFO", stream=io.StringIO())
        handler = rot.handlers[0]
        assert _direkte_strom() is handler
        fanger = logging.Handler()
        rot.addHandler(fanger)
        assert _direkte_strom() is None
        rot.removeHandler(fanger)
        log.addFilter(lambda r: True)
        assert _direkte_strom() is None
        log.filters.clear()
        handler.setLevel(logging.WARNING)
        assert _direkte_strom() is None
        handler.setLevel(logging.NOTSET)
        handler.setFormatter(logging.Formatter())
        assert _direkte_strom() is None
        handler.setFormatter(JsonFormatter())
        log.propagate = False
        assert _direkte_strom() is None
        log.propagate = True
        assert _direkte_strom() is handler
    finally:
        rot.handlers[:] = for_handlers
        rot.setLevel(for_level)
