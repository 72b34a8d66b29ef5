"""HEAD on every GET route, and `If-None-Match` → 304 on every read with an `ETag` (contract.md §2).

Plain ASGI around the Litestar app (ObservedApp calls it at its entry, before routing, since Litestar answers
a method a path does not serve before any middleware runs):

- a HEAD request is routed, authenticated and answered as the GET it mirrors, and only the status and
  headers are sent (`Content-Length` stays what the GET's would be);
- a GET or HEAD answered 200 with an `ETag` that the request's `If-None-Match` names (weak comparison, or
  `*`) becomes 304 with that `ETag` and no body. The answer is decided after the handler ran, so access is
  judged as for any read (403 stays 403, a stale tag gets the full answer).
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Send

# What a 304 keeps of the 200 it replaces (RFC 9110 §15.4.5), besides headers of our own.
_KEEP_ON_304 = frozenset({"etag", "cache-control", "content-location", "date", "expires", "vary", "x-correlation-id"})


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def none_match(header: str | None, etag: str | None) -> bool:
    """Whether `If-None-Match: header` names `etag` (weak comparison; `*` names any)."""
    if header is None or etag is None:
        return False
    wanted = {_opaque(t) for t in header.split(",") if t.strip()}
    return "*" in wanted or _opaque(etag) in wanted


async def conditional(app: ASGIApp, scope: HTTPScope, receive: Receive, send: Send) -> None:
    method = scope["method"]
    if method not in ("GET", "HEAD"):
        await app(scope, receive, send)
        return
    head = method == "HEAD"
    if_none_match = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"if-none-match"), None)
    if head:
        scope = scope.copy()
        scope["method"] = "GET"
    bodyless = head

    async def send_conditional(message: Message) -> None:
        nonlocal bodyless
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            if message["status"] == 200 and none_match(if_none_match, headers.get("etag")):
                message["status"] = 304
                for name in {k.lower() for k in headers} - _KEEP_ON_304:
                    del headers[name]
                bodyless = True
            await send(message)
        elif message["type"] == "http.response.body" and bodyless:
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await send(message)

    await app(scope, receive, send_conditional)
