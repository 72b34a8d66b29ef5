"""What the API answers when the database fails mid-request (contract.md §2, "Failing dependencies").

Each exception is one that asyncpg raises when PostgreSQL is down, refuses, shuts down or breaks a connection
mid-statement; each must be 503 DATABASE_UNAVAILABLE with Retry-After, never a 500. InternalClientError is
what a fast shutdown in the middle of a statement can give (seen in `make chaos`, MagicStack/asyncpg#1069)."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from api.problem import EXCEPTION_HANDLERS, RETRY_AFTER_SECONDS

FEIL = {
    "internal client error": asyncpg.InternalClientError("got result for unknown protocol state 3"),
    "admin shutdown": asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    "connection gone": asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    "interface": asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "timeout": TimeoutError(),
}


@pytest.mark.parametrize("navn", list(FEIL))
def test_a_failing_database_is_503_database_unavailable_with_retry_after(navn: str) -> None:
    @get("/x", sync_to_thread=False)
    def feiler() -> None:
        raise FEIL[navn]

    with TestClient(Litestar([feiler], exception_handlers=EXCEPTION_HANDLERS)) as client:
        r = client.get("/x")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "DATABASE_UNAVAILABLE"
    assert r.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def test_an_unexpected_error_is_still_a_500_with_its_code() -> None:
    """The mapping above is not a blanket: a programming error stays visible as INTERNAL_ERROR."""

    @get("/x", sync_to_thread=False)
    def feiler() -> None:
        raise KeyError("a bug")

    with TestClient(Litestar([feiler], exception_handlers=EXCEPTION_HANDLERS)) as client:
        r = client.get("/x")
    assert r.status_code == 500
    assert r.json()["code"] == "INTERNAL_ERROR"
