"""What every controller shares: the caller's command context, the business date, strict command bodies and
command answers."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID, uuid4

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

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


_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")
_IF_MATCH = re.compile(r'(?:W/)?"([0-9]{1,19})"|([0-9]{1,19})|\*')
_LARGEST_VERSION = 2**63 - 1  # a bigint in the store


def idempotency_key(request: Request[Any, Any, Any]) -> str | None:
    """`Idempotency-Key`: 1 to 200 visible ASCII characters (contract.md §2), else 400; None when absent."""
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(raw):
        raise InvalidRequest("Idempotency-Key must be 1 to 200 visible ASCII characters", felt="Idempotency-Key")
    return raw


def context(request: Request[Any, Any, Any]) -> Kontekst:
    """Who acts (token), for which office (the token's only one, until the case's office is known), under which
    correlation id and idempotency key."""
    user: User = bruker(request)
    return Kontekst(
        aktor=Aktor(nav_ident=user.ident, enhet=user.enheter[0] if len(user.enheter) == 1 else None),
        correlation_id=correlation_id.get() or uuid4(),
        command_id=idempotency_key(request),
    )


def expected_version(request: Request[Any, Any, Any]) -> int | None:
    """If-Match: a quoted version as the ETag gives it (`"3"`; also `W/"3"` and a bare `3`); `*` matches any
    version. Anything else, or a number past what the store holds, is 400 (never a parse error's 500)."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    match = _IF_MATCH.fullmatch(raw.strip())
    if match is None:
        raise InvalidRequest("If-Match must name a version, as the ETag gives it", felt="If-Match")
    digits = match.group(1) or match.group(2)
    if digits is None:  # `*`
        return None
    if int(digits) > _LARGEST_VERSION:
        raise InvalidRequest("If-Match names a version past any the store holds", felt="If-Match")
    return int(digits)


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
        raw = await self.body()  # over MAX_BODY: 413 PAYLOAD_TOO_LARGE (Litestar's request_max_body_size)
        data = self.route_handler.parsed_data_field
        refusal = _refusal(self, raw)
        if data is None:  # not a command route: Litestar's own reading
            if refusal is not None:
                raise refusal
            return await super().json()
        error: Exception
        if refusal is not None:
            error = refusal
        else:
            try:
                return without_blanks(msgspec.json.decode(raw, type=data.annotation, strict=True))
            except msgspec.ValidationError as e:
                error = ValidationException(
                    f"Validation failed for {self.method} {self.url.path}",
                    extra=[{"message": str(e), "source": "body"}],
                )
            except msgspec.DecodeError as e:
                error = ValidationException(f"the body is not JSON: {e}")
        await self.check_office(raw if not too_deep(raw) else b"")
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


#: contract.md §2 "Limits": the largest request body, and the deepest JSON nesting a body may have.
MAX_BODY = 64 * 1024
MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def too_deep(raw: bytes) -> bool:
    """Whether JSON `raw` nests arrays and objects deeper than MAX_DEPTH, found before it is decoded (a
    decoder's recursion limit is no answer to give a client); brackets inside strings do not count."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", raw)):
        depth += 1 if bracket in b"[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def _is_json(request: Request[Any, Any, Any]) -> bool:
    media_type, _ = request.content_type
    return media_type.strip().lower() == "application/json"


def _refusal(request: Request[Any, Any, Any], raw: bytes) -> Exception | None:
    """What is wrong with a body before it is decoded: not `application/json` (415), or nested too deep
    (400); None when it may be decoded."""
    if not _is_json(request):
        return HTTPException(status_code=415, detail="the body must be application/json")
    if too_deep(raw):
        return ValidationException(f"the body nests deeper than {MAX_DEPTH} levels")
    return None


# Characters that show nothing: besides whitespace, controls (NUL), format characters (zero-width, BOM,
# bidirectional marks, soft hyphen) and separators, a few letters and symbols drawn as blanks.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_BLANK_GLYPHS = frozenset("\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0\u034f")


def is_blank(text: str) -> bool:
    """Whether `text` is empty once whitespace and invisible characters are removed (contract.md §2: it
    counts as missing)."""
    return all(
        ch.isspace() or ch in _BLANK_GLYPHS or unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in text
    )


def without_blanks(value: Any) -> Any:
    """A decoded body with every string field that holds nothing visible set to None (missing), in nested
    Structs too, so that the rule owning the field judges it as it judges an absent one."""
    if not isinstance(value, msgspec.Struct):
        return value
    changes: dict[str, Any] = {}
    for info in msgspec.structs.fields(value):
        field = getattr(value, info.name)
        if isinstance(field, str) and is_blank(field):
            changes[info.name] = None
        elif isinstance(field, msgspec.Struct) and (cleaned := without_blanks(field)) is not field:
            changes[info.name] = cleaned
    return msgspec.structs.replace(value, **changes) if changes else value


def check_query(request: Request[Any, Any, Any]) -> None:
    """A query parameter the route does not take (as its OpenAPI operation lists them, `api.request_schema`)
    is 400, as an unknown field of a body is; so is a value with a control character (NUL, which no
    PostgreSQL text holds)."""
    known: dict[tuple[str, str], frozenset[str]] | None = getattr(request.app.state, "query_parameters", None)
    allowed = None if known is None else known.get((request.scope.get("path_template", ""), request.method))
    for name, value in request.query_params.multi_items():
        if allowed is not None and name not in allowed:
            raise InvalidRequest(f"?{name} is not a parameter of this route", felt=name)
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise InvalidRequest(f"?{name} holds a control character", felt=name)


async def check_empty_body(request: Request[Any, Any, Any]) -> None:
    """The app's `before_request`: a command without a body is malformed too, and Litestar answers 400 for it
    without reading it through `StrictRequest.json`, so its office check is made here. A query string with
    a control character (NUL, which no PostgreSQL text holds) is refused here too (400)."""
    check_query(request)
    if isinstance(request, StrictRequest) and request.route_handler.parsed_data_field is not None:
        if not await request.body():
            await request.check_office(b"")
