"""Two helpers of api/common.py the request path uses:

- `api.common.header` reads a header as Litestar's `request.headers.get` does;
- `api.common.json_svar` is the Response Litestar makes.

The request log's own pieces that were tested here (SamletStrom, the copied LogRecord, the direct request
line, ny_uuid4) are gone: api/observability.py logs through structlog now, and tests/unit/test_logging.py
and tests/e2e/test_logg.py check what it writes.
"""

from __future__ import annotations

from litestar.datastructures.headers import Headers

from api.common import header


def test_header_reads_as_litestar_headers_get() -> None:
    raw = [(b"host", b"x"), (b"if-match", b'"1"'), (b"if-match", b'"2"'), (b"idempotency-key", b"n\xe6kkel")]

    class _Request:
        scope = {"headers": raw}

    litestar = Headers.from_scope({"headers": raw})  # type: ignore[arg-type]
    for navn in ("if-match", "idempotency-key", "host", "authorization"):
        assert header(_Request(), navn.encode()) == litestar.get(navn)  # type: ignore[arg-type]


def test_json_svar_is_the_response_litestar_makes() -> None:
    from litestar import Response

    from api.common import json_svar

    for status in (None, 200, 201):
        headers = {"ETag": '"3"', "Location": "/api/v1/tiltakslop/x"}
        laget, litestar = json_svar({"a": 1}, dict(headers), status), Response({"a": 1}, status_code=status, headers=headers)
        felter = {f for cls in type(litestar).__mro__ for f in getattr(cls, "__slots__", ())}
        felter |= set(getattr(litestar, "__dict__", {}))
        assert "content" in felter and "headers" in felter
        assert type(laget) is type(litestar)
        assert {f: getattr(laget, f) for f in felter} == {f: getattr(litestar, f) for f in felter}
