"""What every controller shares: the actor's context, the business date, If-Match and command answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import msgspec
from litestar import Litestar, Request, Response
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.utils.scope.state import ScopeState

from api.auth import User, bruker, skriver
from api.observability import correlation_id
from domain.common import Aktor, Kontekst
from domain.errors import InvalidRequest, NotFound
from store.service import Receipt, Service
from store.settings import Settings

OSLO = ZoneInfo("Europe/Oslo")
API = "/api/v1"


def tjeneste_av(request: Request[Any, Any, Any]) -> Service:
    """The service, for the hottest handlers: the same object the `tjeneste` dependency gives, without
    Litestar resolving a dependency on every request."""
    return request.app.state.tjeneste  # type: ignore[no-any-return]


def innstillinger_av(request: Request[Any, Any, Any]) -> Settings:
    """The settings, as the `settings` dependency gives them (see `tjeneste_av`)."""
    return request.app.state.settings  # type: ignore[no-any-return]


VAKTER = "forlop_vakter"


def vakter_uten_kopi(app: Litestar) -> None:
    """Run the `skriver` guard of the commands from `streng_kropp` (the app's `before_request`, before the
    body is read, as Litestar runs guards) instead of Litestar's own loop, which hands each guard a copy of
    the route handler (`copy(handler)`: tens of µs a request on a handler this size; `skriver` never looks
    at it). The handlers keep their declared `guards`."""
    egne = {skriver}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            vakter = handler.resolve_guards()
            if vakter and all(v in egne for v in vakter) and handler.resolve_before_request() is streng_kropp:
                handler.opt[VAKTER] = tuple(vakter)
                handler._resolved_guards = []  # noqa: SLF001 - Litestar's cache of the resolved guards


def header(request: Request[Any, Any, Any], navn: bytes) -> str | None:
    """The first value of header `navn` (lower case), as `request.headers.get` gives it, read from the scope
    without building Litestar's Headers object (a few µs each request, for the one or two headers a command
    looks at)."""
    for navn_, verdi in request.scope["headers"]:
        if navn_ == navn:
            return verdi.decode("latin-1")
    return None


def i_dag(settings: Settings) -> date:
    """The business date: pinned by `--today`, else today in Europe/Oslo."""
    return settings.today or datetime.now(OSLO).date()


def kontekst(request: Request[Any, Any, Any], enhet: str | None = None) -> Kontekst:
    """Who acts (token), for which office, under which correlation id and idempotency key."""
    user: User = bruker(request)
    if enhet is None and len(user.enheter) == 1:
        enhet = user.enheter[0]
    return Kontekst(
        aktor=Aktor(nav_ident=user.ident, enhet=enhet),
        correlation_id=correlation_id.get() or uuid4(),
        command_id=header(request, b"idempotency-key") or None,
    )


def forventet_versjon(request: Request[Any, Any, Any]) -> int | None:
    """If-Match: `"3"`, `W/"3"` or `3`; `*` matches any version."""
    raw = header(request, b"if-match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()):  # not "³", which isdigit() but int() refuses
        raise InvalidRequest("If-Match must name a version, as the ETag gives it")
    return int(value)


async def avtrykk(request: Request[Any, Any, Any], tjeneste: Service) -> str | None:
    """The fingerprint of an idempotent request: its path and its body as parsed JSON (contract.md §2)."""
    if header(request, b"idempotency-key") is None:
        return None
    raw = await request.body()
    body = msgspec.json.decode(raw) if raw else None
    return tjeneste.avtrykk("http", path=request.url.path, body=body, aktor=bruker(request).ident)


def json_svar(content: Any, headers: dict[str, str], status_code: int | None = None) -> Response[Any]:
    """The `Response(content, status_code=status_code, headers=headers)` of a plain JSON answer, made without
    `Response.__init__`'s checks for cookie and header objects (isinstance against typing's Mapping, a few
    µs of a small request); tests/unit/test_foresporselslogg.py compares the two."""
    svar: Response[Any] = Response.__new__(Response)
    svar.content = content
    svar.background = None
    svar.cookies = []
    svar.encoding = "utf-8"
    svar.headers = headers
    svar.media_type = None
    svar.status_code = status_code
    svar.response_type_encoders = {}
    return svar


def svar(kvittering: Receipt) -> Response[Any]:
    """201 with Location for a created aggregate, 200 otherwise; ETag is the new version."""
    sti = "tiltakslop" if kvittering.aggregat == "tiltakslop" else "ungdomsgarantier"
    return json_svar(
        kvittering.visning,
        {"ETag": f'"{kvittering.versjon}"', "Location": f"{API}/{sti}/{kvittering.id}"},
        201 if kvittering.opprettet else 200,
    )


def les_svar(visning: Any) -> Response[Any]:
    return json_svar(visning, {"ETag": f'"{visning.versjon}"'})


async def streng_kropp(request: Request[Any, Any, Any]) -> None:
    """Wrong types are 400 (contract.md §2), but Litestar converts bodies leniently (`"50"` → 50, `"true"` →
    True): a command's JSON body is first decoded strictly against the handler's schema (`before_request`).
    A body that fails is judged only after the office check, which comes first (403 before 400)."""
    for vakt in request.route_handler.opt.get(VAKTER, ()):
        await vakt(request, request.route_handler)
    parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return
    raw = await request.body()
    feil: ValidationException | None = None
    try:
        data = msgspec.json.decode(raw, type=parameter.annotation, strict=True)
        # What Litestar would decode the body to next (a strict decode that passes gives the same value as
        # its lenient one): handed over as the request's parsed JSON, so the body is decoded once.
        ScopeState.from_scope(request.scope).json = data
        return
    except msgspec.ValidationError as e:
        feil = ValidationException(
            f"Validation failed for {request.method} {request.url.path}",
            extra=[{"message": str(e), "source": "body"}],
        )
    except msgspec.DecodeError:
        pass  # not JSON at all: Litestar's own decoding answers 400, after the office check below
    await _sjekk_kontor(request, raw)
    if feil is not None:
        raise feil


async def _sjekk_kontor(request: Request[Any, Any, Any], raw: bytes) -> None:
    """The office check of a command whose body is malformed: the case's office (by the id in the path), or
    for a grant the `nav_enhet` of the body if it can be read; nothing to check if neither is known."""
    if skriver not in (request.route_handler.guards or ()):
        return
    agg_id = request.path_params.get("lop_id") or request.path_params.get("garanti_id")
    if agg_id is not None:
        try:
            enhet = (await request.app.state.tjeneste.store.get(agg_id)).nav_enhet
        except NotFound:
            return
    else:
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return
        enhet = body.get("nav_enhet") if isinstance(body, dict) else None
    if isinstance(enhet, str):
        bruker(request).sjekk_skriv(enhet)
