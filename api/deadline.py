"""A deadline on every request that may wait for PostgreSQL (contract.md §2, "Failing dependencies").

Each statement has asyncpg's `command_timeout` and each pool wait its acquire timeout, but a request that
runs several statements against a hung server would add them up. This middleware bounds the whole request
(`FORLOP_DB_REQUEST_DEADLINE`, 8 s by default): past it the handler is cancelled and the TimeoutError is
answered like every other database timeout, 503 DATABASE_UNAVAILABLE with Retry-After (api/problem.py),
within the 10 s the contract allows. `/health/*` and `/metrics` bound their own checks (api/health.py);
`/revisjon/verifisering` reads the whole log on purpose and is left out.
"""

from __future__ import annotations

import asyncio
import re

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_OWN_BOUNDS = re.compile(r"^/health/|^/metrics$|/revisjon/verifisering$")


def _own_bounds(scope: Scope) -> bool:
    """Paths that bound their own waits, or read the whole log on purpose."""
    return _OWN_BOUNDS.search(scope["path"]) is not None


class RequestDeadline(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.should_bypass_for_scope = _own_bounds

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await next_app(scope, receive, sending)
        except TimeoutError:
            if started:  # the answer is on its way; nothing else can be sent
                return
            raise
