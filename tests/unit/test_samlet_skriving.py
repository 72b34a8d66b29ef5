"""The response head written together with the body (api.observability._SamletSkriving), on a stand-in for
uvicorn's protocol cycle: one write per response, nothing lost or reordered, streaming and errors intact."""

from __future__ import annotations

from typing import Any

import pytest

from api.observability import Metrics, correlation_middleware


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class RequestResponseCycle:
    """What the middleware relies on of uvicorn's cycle: `send` is its bound method and writes each message
    to `self.transport` at once."""

    def __init__(self) -> None:
        self.transport: Any = Transport()
        self.real = self.transport

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.transport.write(b"HEAD %d\r\n\r\n" % message["status"])
        else:
            self.transport.write(message.get("body", b""))
            if not message.get("more_body", False):
                self.transport.write(b"")  # uvicorn may write an empty chunk terminator; harmless


def app_sending(*bodies: tuple[bytes, bool], fail_after_start: bool = False) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if fail_after_start:
            raise RuntimeError("boom")
        for body, more in bodies:
            await send({"type": "http.response.body", "body": body, "more_body": more})

    return app


SCOPE = {"type": "http", "method": "GET", "path": "/x", "headers": []}


async def test_head_and_body_are_one_write() -> None:
    cycle = RequestResponseCycle()
    await correlation_middleware(Metrics())(app_sending((b"body", False)))(SCOPE, None, cycle.send)
    assert cycle.real.writes == [b"HEAD 200\r\n\r\nbody"]
    assert cycle.transport is cycle.real


async def test_a_streamed_body_sends_the_head_with_its_first_part() -> None:
    cycle = RequestResponseCycle()
    app = app_sending((b"a", True), (b"b", True), (b"c", False))
    await correlation_middleware(Metrics())(app)(SCOPE, None, cycle.send)
    assert cycle.real.writes[0] == b"HEAD 200\r\n\r\na"
    assert b"".join(cycle.real.writes) == b"HEAD 200\r\n\r\nabc"
    assert cycle.transport is cycle.real


async def test_an_error_after_the_start_still_writes_the_head_and_restores_the_transport() -> None:
    cycle = RequestResponseCycle()
    with pytest.raises(RuntimeError):
        await correlation_middleware(Metrics())(app_sending(fail_after_start=True))(SCOPE, None, cycle.send)
    assert cycle.real.writes == [b"HEAD 200\r\n\r\n"]
    assert cycle.transport is cycle.real


async def test_another_server_gets_its_messages_untouched() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await correlation_middleware(Metrics())(app_sending((b"body", False)))(SCOPE, None, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
