"""HEAD and conditional reads for every GET route (contract.md §2): plain ASGI middleware.

- HEAD is served as the GET of the same path, with the GET's status and headers (`Content-Length` included)
  and no body, so every GET route answers HEAD without a second handler.
- A GET or HEAD whose `If-None-Match` names the answer's `ETag` (or `*`) gets 304 with that `ETag` and no
  body: a client that holds the current version of a løp or guarantee does not download it again. Only a 200
  with an ETag is turned into a 304; errors and answers without one pass unchanged.
"""

from __future__ import annotations

from typing import cast

from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

# What a 304 carries over from the 200 it replaces (RFC 9110 §15.4.5).
_KEPT_ON_304 = frozenset({"etag", "cache-control", "vary", "date", "expires", "content-location", "x-correlation-id"})


def _tags(value: str) -> set[str]:
    """The entity tags of an If-None-Match value, compared weakly (a `W/` prefix does not count)."""
    return {t.strip().removeprefix("W/") for t in value.split(",") if t.strip()}


class ConditionalMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or cast("HTTPScope", scope)["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        head = cast("HTTPScope", scope)["method"] == "HEAD"
        wanted = _tags(Headers.from_scope(scope).get("if-none-match", ""))
        if head:
            as_get = cast("HTTPScope", dict(scope))
            as_get["method"] = "GET"
            scope = as_get
        swallow = head

        async def conditional_send(message: Message) -> None:
            nonlocal swallow
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                etag = headers.get("etag")
                if wanted and message["status"] == 200 and etag is not None and (
                    "*" in wanted or etag.removeprefix("W/") in wanted
                ):
                    kept = [(k, v) for k, v in message.get("headers", []) if k.decode("latin-1").lower() in _KEPT_ON_304]
                    message = {**message, "status": 304, "headers": kept}
                    swallow = True
                await send(message)
                return
            if message["type"] == "http.response.body" and swallow:
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, conditional_send)
