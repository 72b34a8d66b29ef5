"""The busiest routes dispatched straight to their Litestar handlers (`rask_vei`).

A command over HTTP cost about 850 µs of server CPU against about 545 µs for the same command called
in-process, and a read of a løp about 285 µs (tests/perf/bench_http.py). Part of the difference was
Litestar's per-request machinery around a handler: the router, the authentication middleware and its
connection object, the guard loop, the kwargs and signature models, the response objects. For the requests
caseworker UIs send most (grant a løp, extend it, read it) this module does that work directly: about 40 µs
less per command and 50 µs less per read, measured with the server's own CPU time per request.

What stays the same: the handler is the controller's own method (`route_handler.fn`, the object Litestar
calls) with the same arguments; an exception is answered by Litestar's `ExceptionHandlerMiddleware` with
the route's exception handlers (the same problem+json); the token must be one the app's JWT middleware has
accepted and still remembers (`api.auth.Tokener`, until its `exp`), and the body is decoded strictly against
the handler's schema, as `streng_kropp` does. A
plain JSON answer (a `Response` with headers only) is written here as `Response.to_asgi_response` writes
it; any other answer goes through the route's `to_response`.

What is handed to Litestar, untouched, with the body replayed if it was read: any other route or method, a
query string, a path not in canonical form (an upper-case or brace-less UUID, a root path), a token the
middleware has not accepted yet (the first request with a token: Litestar decodes and remembers it), a
missing, refused, expired or non-Bearer token, a role the `skriver` guard refuses, a body that is not
strictly valid or is larger than the route allows, a Host header Litestar refuses. Litestar then gives the
answer it always gave (400, 401, 403, 413, ...). tests/e2e/test_rask.py sends the same requests, plain and
unusual, to the app and to the app built without this path, and requires the same status, headers and body
from both.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec
from litestar import Litestar, MediaType, Response
from litestar._asgi.utils import is_valid_host, wrap_in_exception_handler
from litestar.connection import Request
from litestar.handlers import HTTPRouteHandler
from litestar.serialization import encode_json, get_serializer
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send
from litestar.utils import normalize_path
from litestar.utils.helpers import get_enum_string_value
from litestar.utils.scope.state import ScopeState

from api.auth import Tokener, User, skriver
from api.common import API, VAKTER

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# (method, path pattern, the route's path as the controller declares it)
RUTER: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(rf"^{API}/tiltakslop/?$"), f"{API}/tiltakslop"),
    ("POST", re.compile(rf"^{API}/tiltakslop/(?P<lop_id>{_UUID})/forlengelser$"),
     f"{API}/tiltakslop/{{lop_id}}/forlengelser"),
    ("GET", re.compile(rf"^{API}/tiltakslop/(?P<lop_id>{_UUID})$"), f"{API}/tiltakslop/{{lop_id}}"),
)
_KJENTE_PARAMETRE = {"request", "data", "lop_id"}
_FEIL = "forlop.rask.feil"  # the handler's exception, from `_Rute.kall` to `_reis` (inside the exception middleware)
_SVAR = "forlop.rask.svar"  # the handler's answer and request, from `_Rute.kall` to `_Rute._til_svar`


async def _reis(scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG001
    raise scope.pop(_FEIL)  # type: ignore[misc]


class _Rute:
    """One route of the fast path: its handler and what Litestar's router would put in the scope."""

    __slots__ = (
        "handler", "mal", "datatype", "valgfrie", "makskropp", "unntak", "skriver", "feil", "svar", "koder",
        "egen_gjengivelse",
    )

    def __init__(self, handler: HTTPRouteHandler, mal: str) -> None:
        self.handler = handler
        self.mal = mal
        parametre = handler.parsed_fn_signature.parameters
        data = parametre.get("data")
        self.datatype = data.annotation if data is not None else None
        # Query parameters: the fast path takes only requests without a query string, so each is its default.
        self.valgfrie: dict[str, None] = {}
        for navn, parameter in parametre.items():
            if navn in _KJENTE_PARAMETRE:
                continue
            definisjon = parameter.kwarg_definition
            if parameter.default is not None or any(
                getattr(definisjon, kilde, None) is not None for kilde in ("header", "cookie", "query")
            ):
                raise RuntimeError(f"the fast path cannot serve {handler}: {navn!r} is not an optional query parameter")
            self.valgfrie[navn] = None
        self.makskropp = handler.resolve_request_max_body_size()
        self.unntak = handler.resolve_exception_handlers()
        vakter = tuple(handler.opt.get(VAKTER, ())) or tuple(handler.resolve_guards())
        if any(v is not skriver for v in vakter) or handler.resolve_after_response() is not None:
            raise RuntimeError(f"the fast path cannot serve {handler}: guards or hooks it does not know")
        self.skriver = skriver in vakter
        # Answers are written here, as `to_response` would write them, only if the route adds nothing to them.
        self.egen_gjengivelse = not (
            handler.resolve_response_headers() or handler.resolve_response_cookies() or handler.resolve_return_dto()
            or any(lag.after_request for lag in handler.ownership_layers) or handler.background
        )
        self.koder = get_serializer(handler.resolve_type_encoders())
        # Litestar's exception middleware, as Litestar wraps each route: it answers an exception the handler
        # raised (`feil`), and wraps an answer that goes through the route's `to_response` (`svar`). A
        # plain answer is written without it: it does nothing then but note that the response started.
        self.feil = wrap_in_exception_handler(app=_reis)
        self.svar = wrap_in_exception_handler(app=self._til_svar)

    async def kall(self, scope: Scope, receive: Receive, send: Send, kwargs: dict[str, Any]) -> None:
        """Call the handler and answer, as Litestar's route would inside its exception middleware."""
        request: Request[Any, Any, Any] = Request(scope, receive, send)
        kwargs["request"] = request
        try:
            data = await self.handler.fn(**kwargs)
            ferdig = self._ferdig(data) if self.egen_gjengivelse and type(data) is Response else None
        except Exception as exc:  # noqa: BLE001 - answered by the route's exception handlers
            scope[_FEIL] = exc  # type: ignore[literal-required]
            await self.feil(scope, receive, send)
            return
        if ferdig is not None:
            await send(ferdig[0])  # type: ignore[arg-type]
            await send(ferdig[1])  # type: ignore[arg-type]
            return
        scope[_SVAR] = (data, request)  # type: ignore[literal-required]
        await self.svar(scope, receive, send)

    async def _til_svar(self, scope: Scope, receive: Receive, send: Send) -> None:
        data, request = scope.pop(_SVAR)  # type: ignore[misc]
        svar = await self.handler.to_response(app=scope["litestar_app"], data=data, request=request)
        await svar(scope, receive, send)

    def _ferdig(self, data: Response[Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The two messages `Response.to_asgi_response` would send for a plain JSON answer, or None."""
        status = data.status_code or self.handler.status_code
        start = self._start(data, status)
        if start is None:
            return None
        body = encode_json(data.content, self.koder)
        start["headers"].append((b"content-length", str(len(body)).encode()))
        return start, {"type": "http.response.body", "body": body, "more_body": False}

    def _start(self, data: Response[Any], status: int) -> dict[str, Any] | None:
        """The response start Litestar's `Response.to_asgi_response` would send for a JSON answer with a body and
        plain headers, or None for anything else (cookies, a background task, own encoders, another media type,
        a status without a body): those go through `to_response`."""
        if (
            data.cookies or data.background is not None or data.response_type_encoders
            or get_enum_string_value(data.media_type or self.handler.media_type or MediaType.JSON) != MediaType.JSON.value
            or status < 200 or status in (204, 304)
        ):
            return None
        headers = [(navn.lower().encode("latin-1"), verdi.encode("latin-1")) for navn, verdi in data.headers.items()]
        if any(navn in (b"content-type", b"content-length") for navn, _ in headers):
            return None
        headers.append((b"content-type", b"application/json"))
        return {"type": "http.response.start", "status": status, "headers": headers}


def _gjenta(meldinger: list[ReceiveMessage], receive: Receive) -> Receive:
    """`receive` for Litestar after the fast path has received `meldinger` (the body, or part of it): those
    again first, then the rest from the server."""
    if not meldinger:
        return receive
    ko = deque(meldinger)

    async def motta() -> ReceiveMessage:
        return ko.popleft() if ko else await receive()

    return motta


def rask_vei(app: Litestar, tokener: Tokener) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: the routes of `RUTER` to their handlers directly; every other request to `neste`."""
    ruter: list[tuple[str, re.Pattern[str], _Rute]] = []
    for metode, monster, sti in RUTER:
        eksempel = sti.replace("{lop_id}", "00000000-0000-0000-0000-000000000000")
        _, handler, _, _, mal = app.asgi_router.handle_routing(path=eksempel, method=metode)  # type: ignore[arg-type]
        if not isinstance(handler, HTTPRouteHandler) or mal != sti:
            raise RuntimeError(f"the fast path's route {metode} {sti} is not the app's ({mal})")
        ruter.append((metode, monster, _Rute(handler, mal)))
    betjent: Counter[str] = Counter()  # requests answered here, by route template (tests)
    app.state.rask_betjent = betjent

    def middleware(neste: ASGIApp) -> ASGIApp:
        async def rask(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["query_string"] or scope.get("root_path"):
                await neste(scope, receive, send)
                return
            funnet = _finn(ruter, scope["method"], scope["path"])  # type: ignore[typeddict-item]
            if funnet is None:
                await neste(scope, receive, send)
                return
            rute, treff = funnet
            if await _tjen(rute, treff, scope, receive, send, neste, tokener):
                betjent[rute.mal] += 1

        return rask

    return middleware


def _finn(ruter: list[tuple[str, re.Pattern[str], _Rute]], metode: str, sti: str) -> tuple[_Rute, re.Match[str]] | None:
    for m, monster, rute in ruter:
        if m == metode and (treff := monster.match(sti)) is not None:
            return rute, treff
    return None


async def _tjen(
    rute: _Rute, treff: re.Match[str], scope: Scope, receive: Receive, send: Send, neste: ASGIApp, tokener: Tokener
) -> bool:
    """Answer the request; False if it was handed to Litestar instead."""
    autorisasjon = vert = lengde = None
    for navn, verdi in scope["headers"]:  # the first of each, as Litestar reads them
        if navn == b"authorization":
            autorisasjon = verdi if autorisasjon is None else autorisasjon
        elif navn == b"host":
            vert = verdi if vert is None else vert
        elif navn == b"content-length":
            lengde = verdi if lengde is None else lengde
    kjent = (
        tokener.hent(autorisasjon[7:].decode("latin-1"))
        if autorisasjon is not None and autorisasjon.startswith(b"Bearer ")
        else None
    )
    bruker = kjent.user if kjent is not None else None
    if (
        not isinstance(bruker, User) or vert is None or not is_valid_host(vert)
        or (rute.skriver and not bruker.kan_skrive)
    ):
        await neste(scope, receive, send)
        return False
    kwargs: dict[str, Any] = dict(rute.valgfrie)
    if rute.datatype is not None:
        if lengde is not None and (not lengde.isdigit() or rute.makskropp is not None and int(lengde) > rute.makskropp):
            await neste(scope, receive, send)
            return False
        meldinger: list[ReceiveMessage] = []  # as received, to replay to Litestar
        deler: list[bytes] = []
        storrelse = 0
        while True:
            melding = await receive()
            meldinger.append(melding)
            if melding["type"] != "http.request":  # the client went away: Litestar's answer to that
                await neste(scope, _gjenta(meldinger, receive), send)
                return False
            if body := melding.get("body", b""):
                deler.append(body)
                storrelse += len(body)
                if rute.makskropp is not None and storrelse > rute.makskropp:
                    await neste(scope, _gjenta(meldinger, receive), send)
                    return False
            if not melding.get("more_body", False):
                break
        raw = deler[0] if len(deler) == 1 else b"".join(deler)
        try:
            kwargs["data"] = msgspec.json.decode(raw, type=rute.datatype, strict=True)
        except (msgspec.ValidationError, msgspec.DecodeError):
            await neste(scope, _gjenta(meldinger, receive), send)
            return False
        ScopeState.from_scope(scope).body = raw  # what Request.body() gives the handler (Idempotency-Key)
    if treff.re.groups:  # the routes with an id in the path
        lop_id = UUID(treff["lop_id"])
        kwargs["lop_id"] = lop_id
        scope["path_params"] = {"lop_id": lop_id}  # type: ignore[dict-item]  # as Litestar's router puts it
    else:
        scope["path_params"] = {}
    if scope["path"].endswith("/"):
        scope["path"] = normalize_path(scope["path"])  # as Litestar's router leaves it (a problem's `instance`)
    scope["route_handler"] = rute.handler
    scope["path_template"] = rute.mal
    scope["user"], scope["auth"] = bruker, kjent.auth  # type: ignore[union-attr]
    ScopeState.from_scope(scope).exception_handlers = rute.unntak
    await rute.kall(scope, receive, send, kwargs)
    return True
