"""Errors as `application/problem+json` (RFC 9457) with a machine `code` and the limits that explain them.

One map from exception to answer: domain errors carry their status and code; Litestar's own errors
(malformed body or query, no token, a guard's refusal, an unknown route) get the contract's codes.
Nothing reaches a client as a 500 with a stack trace; an unexpected error is logged with its correlation id.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)

from api.observability import correlation_id, mask
from domain.errors import DomainError
from store.unavailable import DATABASE_UNAVAILABLE

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("forlop.api")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The error body; refusals add their limits (`max_tom`, `max_prosent`, ...) as extra members."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    correlation_id: str | None = None


def _masker(verdi: Any) -> Any:
    """An identifier a client put in a URL or a query string is not echoed back in an error either: every run
    of 11 or more digits, also one glued to a letter or `_`, masked as in the logs (UUIDs kept)."""
    if isinstance(verdi, str):
        return mask(verdi)
    if isinstance(verdi, dict):
        return {k: _masker(v) for k, v in verdi.items()}
    if isinstance(verdi, list):
        return [_masker(v) for v in verdi]
    return verdi


def problem(request: Request[Any, Any, Any], status: int, code: str, detail: str | None, **limits: Any) -> Response[Any]:
    cid = correlation_id.get()
    body = msgspec.to_builtins(
        Problem(
            type=f"urn:forlop:problem:{code.lower()}",
            title=_TITLES.get(status, "Error"),
            status=status,
            code=code,
            detail=_masker(detail),
            instance=_masker(request.url.path),
            correlation_id=str(cid) if cid else None,
        )
    )
    body.update(_masker(msgspec.to_builtins(limits)))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(content=body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return problem(request, exc.status, exc.code, exc.message, **exc.limits)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    feil = exc.extra if isinstance(exc.extra, list) else None
    return problem(request, 400, "INVALID_REQUEST", exc.detail, **({"feil": feil} if feil else {}))


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code = {
        400: "INVALID_REQUEST",
        401: "UNAUTHENTICATED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        413: "PAYLOAD_TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        503: "UNAVAILABLE",
    }.get(status, "INVALID_REQUEST" if 400 <= status < 500 else "INTERNAL_ERROR")
    answer = problem(request, status, code, exc.detail)
    for name, value in (exc.headers or {}).items():  # 405's Allow, 503's Retry-After
        answer.set_header(name, value)
    return answer


_UTENFOR_KALENDEREN = re.compile(r"^(year -?\d+ is out of range|date value out of range)$")


def _kalender(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A date so far out (year 9999) that the limits computed from it leave the calendar: the dates are
    refused as a range the catalogue cannot judge (422 INVALID_DATE_RANGE), not a server error."""
    if _UTENFOR_KALENDEREN.match(str(exc)):
        return problem(request, 422, "INVALID_DATE_RANGE", "a date is so far out that its limits fall outside the calendar")
    return _unexpected(request, exc)


#: Retry-After of a 503 DATABASE_UNAVAILABLE when the app has no settings (FORLOP_DB_RETRY_AFTER).
RETRY_AFTER_SECONDS = 5


def _utilgjengelig(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """PostgreSQL is down, refuses connections, was shut down or did not answer in time (contract.md §2,
    "Failing dependencies"): 503 DATABASE_UNAVAILABLE with Retry-After, never a 500. A command answered so
    may or may not have been stored: repeating it with the same Idempotency-Key is safe."""
    log.warning("database unavailable", extra={"error": type(exc).__name__})
    settings = request.app.state.get("settings")
    retry_after = getattr(settings, "db_retry_after", RETRY_AFTER_SECONDS)
    response = problem(
        request, 503, "DATABASE_UNAVAILABLE",
        "the database is not reachable or does not answer; try again (with the same Idempotency-Key)",
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def _data(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """PostgreSQL refused a value a client sent (a data exception, SQLSTATE class 22: a character no text
    holds, a number out of range): the request is malformed (400), nothing was stored."""
    log.warning("value refused by the database", extra={"error": type(exc).__name__})
    return problem(request, 400, "INVALID_REQUEST", "a value in the request cannot be stored or compared")


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unexpected error", extra={"error": type(exc).__name__})
    return problem(request, 500, "INTERNAL_ERROR", "an unexpected error; the correlation id finds it in the logs")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: _domain,
    ValidationException: _validation,
    NotAuthorizedException: _http,
    PermissionDeniedException: _http,
    NotFoundException: _http,
    MethodNotAllowedException: _http,
    HTTPException: _http,
    ValueError: _kalender,  # date(10000, ...) in date arithmetic
    OverflowError: _kalender,  # date + timedelta past 9999-12-31
    asyncpg.DataError: _data,
    # PostgreSQL down, refusing, shutting down, hung (a command or pool timeout), a connection broken under
    # the statement: 503 DATABASE_UNAVAILABLE (store/unavailable.py).
    **dict.fromkeys(DATABASE_UNAVAILABLE, _utilgjengelig),
    Exception: _unexpected,
}
