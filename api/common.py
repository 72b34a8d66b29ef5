"""What every controller shares: the caller's command context, the business date, strict command bodies and
command answers."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID, uuid4

import msgspec
from litestar import Request, Response
from litestar.exceptions import ValidationException

from api.auth import User, bruker, skriver
from api.observability import correlation_id
from domain.common import Aktor, Kontekst
from domain.errors import DomainError, InvalidRequest
from store.service import CommandContext, Receipt, Service, business_date
from store.settings import Settings

if TYPE_CHECKING:
    from litestar.di import NamedDependency
else:
    try:
        from litestar.di import NamedDependency
    except ImportError:  # Litestar 2.22: an injected parameter is marked with params.Dependency
        from litestar.params import Dependency

        NamedDependency = Annotated[TypeVar("T"), Dependency()]

__all__ = ["API", "NamedDependency", "ServiceDep", "SettingsDep", "StrictRequest"]

API = "/api/v1"
ServiceDep = NamedDependency[Service]
SettingsDep = NamedDependency[Settings]


def today(settings: Settings) -> date:
    """The business date: pinned by `--today`, else today in Europe/Oslo."""
    return business_date(settings.today)


def context(request: Request[Any, Any, Any]) -> Kontekst:
    """Who acts (token), for which office (the token's only one, until the case's office is known), under which
    correlation id and idempotency key."""
    user: User = bruker(request)
    return Kontekst(
        aktor=Aktor(nav_ident=user.ident, enhet=user.enheter[0] if len(user.enheter) == 1 else None),
        correlation_id=correlation_id.get() or uuid4(),
        command_id=request.headers.get("idempotency-key") or None,
    )


def expected_version(request: Request[Any, Any, Any]) -> int | None:
    """If-Match: `"3"`, `W/"3"` or `3`; `*` matches any version."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()):  # not "³", which isdigit() but int() refuses
        raise InvalidRequest("If-Match must name a version, as the ETag gives it")
    return int(value)


def command_context(request: Request[Any, Any, Any], service: Service) -> CommandContext:
    """A command's context over HTTP: the caller, If-Match, the business date its answer shows, and the
    caller's office check (contract.md §2: SAKSBEHANDLER its own offices, SYSTEM any)."""
    return CommandContext(
        kontekst=context(request),
        expected_version=expected_version(request),
        per=service.business_date(),
        access=bruker(request).check_write,
    )


def answer(receipt: Receipt) -> Response[Any]:
    """201 with Location for a created aggregate, 200 otherwise; ETag is the new version."""
    resource = "tiltakslop" if receipt.aggregat == "tiltakslop" else "ungdomsgarantier"
    headers = {"ETag": f'"{receipt.versjon}"', "Location": f"{API}/{resource}/{receipt.id}"}
    return Response(content=receipt.view, headers=headers, status_code=201 if receipt.created else 200)


R = TypeVar("R")


async def office_first(request: Request[Any, Any, Any], service: Service, agg_id: UUID, read: Awaitable[R]) -> R:
    """`read` of one case, whose refusal (no such version, nothing known at that instant, the person forgotten)
    is answered only once the caller is known to see the case's office: a case outside one's offices is 403
    on every path and query, never a 404 or 410 that tells whether it exists or what it holds (contract.md
    §2). The answer's own office is checked by the caller, as before."""
    try:
        return await read
    except DomainError:
        user = bruker(request)
        if not user.sees_all and (enhet := await service.office(agg_id)) is not None:
            user.check_read(enhet)
        raise


def read_answer(view: Any) -> Response[Any]:
    return Response(content=view, headers={"ETag": f'"{view.versjon}"'})


class StrictRequest(Request[Any, Any, Any]):
    """The app's requests: a JSON body decoded once, strictly, into the handler's `data` type (a command, or
    the person of a lookup).

    Litestar converts bodies leniently (`"50"` → 50, `"true"` → True), but wrong types are 400 (contract.md
    §2), so `json()`, which Litestar calls for the handler's `data`, decodes against the command's type in
    strict mode. A body that fails is answered only after the office check (403 before 400, contract.md §2):
    the case's office by the id in the path, or for a grant the `nav_enhet` of the body if it can be read."""

    async def json(self) -> Any:
        raw = await self.body()
        data = self.route_handler.parsed_data_field
        if data is None:  # not a command route: Litestar's own reading
            return await super().json()
        error: Exception
        try:
            return msgspec.json.decode(raw, type=data.annotation, strict=True)
        except msgspec.ValidationError as e:
            error = ValidationException(
                f"Validation failed for {self.method} {self.url.path}",
                extra=[{"message": str(e), "source": "body"}],
            )
        except msgspec.DecodeError as e:
            error = ValidationException(f"the body is not JSON: {e}")
        await self.check_office(raw)
        raise error

    async def check_office(self, raw: bytes) -> None:
        """The office check of a command whose body is malformed; nothing to check if no office is known."""
        if skriver not in (self.route_handler.guards or ()):
            return
        agg_id = self.path_params.get("lop_id") or self.path_params.get("garanti_id")
        if isinstance(agg_id, UUID):
            service: Service = self.app.state.service
            enhet = await service.office(agg_id)
        else:
            try:
                body = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                return
            enhet = body.get("nav_enhet") if isinstance(body, dict) else None
        if isinstance(enhet, str):
            bruker(self).check_write(enhet)


async def check_empty_body(request: Request[Any, Any, Any]) -> None:
    """The app's `before_request`: a command without a body is malformed too, and Litestar answers 400 for it
    without reading it through `StrictRequest.json`, so its office check is made here."""
    if isinstance(request, StrictRequest) and request.route_handler.parsed_data_field is not None:
        if not await request.body():
            await request.check_office(b"")
