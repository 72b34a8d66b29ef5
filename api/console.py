"""The web console at `/konsoll/` (console/, built by `make console` into console/dist), same origin as `/api/v1`.

What the console needs from the server besides the API:
- `GET /konsoll/config.json`: how the user signs in. `{"innlogging": "utvikling"}` when the local dev issuer
  signs the tokens (the console shows its own sign-in page and keeps the token for the tab), `{"innlogging":
  "proxy"}` when a login proxy in front of the API (Wonderwall on NAV's platform) adds the user's token to
  every request: the console then sends no Authorization header of its own and shows no login form.
- `POST /konsoll/dev-token` (dev issuer only, 404 otherwise): a token as `forlop token` prints it.
- `GET /konsoll/meg`: who the token (the console's or the proxy's) says the user is.
- Everything else under `/konsoll/` is the single-page app: its hashed assets, and `index.html` for every
  other path, so that a link to a løp's page opens that page. Without a build the console answers a
  problem+json 503 (`CONSOLE_NOT_BUILT`), never a 500.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File
from litestar.static_files import create_static_files_router

from api.auth import bruker
from api.common import SettingsDep
from api.examples import body, problem, problemer
from api.identity import make_token
from domain.errors import DomainError
from store.settings import Settings

KONSOLL = "/konsoll"
DEV_TOKEN_GYLDIG = timedelta(hours=8)  # a working day; the tab forgets it sooner

# No request leaves the instance: scripts, styles, fonts and API calls from this origin only. Aksel sets
# some styles inline (positions of popovers), hence 'unsafe-inline' for styles and nothing else.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_SIKKERHET = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# Where a built console may be: console/dist beside the packages (a checkout after `make install`), or
# `<prefix>/share/forlop/konsoll` (where the container image copies it).
KANDIDATER = [Path(__file__).resolve().parents[1] / "console" / "dist", Path(sys.prefix) / "share" / "forlop" / "konsoll"]


def built_directory() -> Path:
    """The first candidate holding an index.html; else the first (so a build made while the server runs is
    served from then on)."""
    for katalog in KANDIDATER:
        if (katalog / "index.html").is_file():
            return katalog
    return KANDIDATER[0]


class Innlogging(StrEnum):
    UTVIKLING = "utvikling"
    PROXY = "proxy"


def innlogging(settings: Settings) -> Innlogging:
    """How console users get their token. The dev issuer signs them when no OpenID issuer is configured
    (`FORLOP_AUTH_ISSUER`) and the signing key is the development key kept under the data directory. A key from configuration
    (`FORLOP_JWT_SECRET`) is a deployment's: its tokens are never handed out over HTTP, so the console
    then expects the login proxy."""
    if settings.auth.issuer:
        return Innlogging.PROXY
    return Innlogging.PROXY if settings.jwt_secret else Innlogging.UTVIKLING


def utsted_dev_token(settings: Settings, *, rolle: str, enheter: list[str], ident: str) -> str:
    """A token of the local dev issuer, as `forlop token` prints it (api/identity.py)."""
    return make_token(settings.secret("jwt"), ident=ident, roller=[rolle], enheter=enheter, gyldig=DEV_TOKEN_GYLDIG)


class KonsollConfig(msgspec.Struct, kw_only=True):
    innlogging: Innlogging


_ENHET = r"^\d{4}$"


class DevTokenCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    rolle: Literal["saksbehandler", "revisor", "system"]
    enheter: Annotated[
        list[Annotated[str, msgspec.Meta(pattern=_ENHET, max_length=4)]],
        # Litestar's OpenAPI leaves out the item's own limits: given here as well
        msgspec.Meta(max_length=50, extra_json_schema={"extra": {"items": {"type": "string", "pattern": _ENHET,
                                                                           "maxLength": 4}}}),
    ] = []
    ident: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9]{0,19}$", max_length=20)] = "Z990001"


DEV_TOKEN_EKSEMPLER = body(
    ("A caseworker of office 0315", {"rolle": "saksbehandler", "enheter": ["0315"], "ident": "Z990001"}),
    ("An auditor", {"rolle": "revisor", "enheter": [], "ident": "R990001"}),
)


class DevToken(msgspec.Struct, kw_only=True):
    token: str
    utloper: datetime


class Meg(msgspec.Struct, kw_only=True):
    ident: str
    roller: list[str]
    enheter: list[str]


class KonsollIkkeBygget(DomainError):
    status = 503

    def __init__(self, katalog: Path) -> None:
        super().__init__(
            "CONSOLE_NOT_BUILT",
            f"the console is not built (no {katalog.name}/index.html): run `make install` or `make console`",
        )


class KonsollController(Controller):
    path = KONSOLL
    tags = ["konsoll"]
    opt = {"exclude_from_auth": True}  # the app shell and its sign-in come before any token

    @get(
        "/config.json", summary="How the console signs users in (dev issuer or login proxy)",
        cache_control=CacheControlHeader(no_store=True), security=[{}],  # read before any sign-in: no token
    )
    async def config(self, settings: SettingsDep) -> KonsollConfig:
        return KonsollConfig(innlogging=innlogging(settings))

    @post(
        "/dev-token", summary="A token from the local dev issuer (404 behind a login proxy)", status_code=201,
        security=[{}],  # the sign-in itself: no token
        responses=problemer(
            f"{KONSOLL}/dev-token", 400, 404,
            s404=problem(404, "NOT_FOUND", "no dev issuer here: sign in through the login proxy", f"{KONSOLL}/dev-token"),
        ),
    )
    async def dev_token(
        self, settings: SettingsDep, data: Annotated[DevTokenCreate, DEV_TOKEN_EKSEMPLER]
    ) -> Response[DevToken]:
        if innlogging(settings) is not Innlogging.UTVIKLING:
            raise NotFoundException("no dev issuer here: sign in through the login proxy")
        token = utsted_dev_token(settings, rolle=data.rolle, enheter=list(data.enheter), ident=data.ident)
        return Response(
            DevToken(token=token, utloper=datetime.now(UTC) + DEV_TOKEN_GYLDIG), headers={"Cache-Control": "no-store"}
        )

    @get(
        "/meg", summary="Who the request's token says the user is", opt={"exclude_from_auth": False},
        responses=problemer(f"{KONSOLL}/meg", 401),
    )
    async def meg(self, request: Request[Any, Any, Any]) -> Meg:
        user = bruker(request)
        return Meg(ident=user.ident, roller=sorted(r.value for r in user.roller), enheter=list(user.enheter))

    @get("/", include_in_schema=False, media_type="text/html")
    async def start(self) -> File:
        return _app_skall("")

    @get("/{sti:path}", include_in_schema=False, media_type="text/html")
    async def app_skall(self, sti: FromPath[str]) -> File:
        return _app_skall(sti)


def _app_skall(sti: str) -> File:
    """index.html for every path of the app (its own router reads the path)."""
    katalog = built_directory()
    index = katalog / "index.html"
    if not index.is_file():
        raise KonsollIkkeBygget(katalog)
    if sti.lstrip("/").startswith("assets/"):  # an asset that is not there: no app shell in its place
        raise NotFoundException("no such asset")
    return File(
        index, filename="index.html", content_disposition_type="inline", media_type="text/html",
        headers={**_SIKKERHET, "Cache-Control": "no-cache"},
    )


def konsoll_ruter() -> Router:
    """The console: its controller and its built assets (hashed names, so cached for a year)."""
    ressurser = create_static_files_router(
        path=f"{KONSOLL}/assets",
        directories=[built_directory() / "assets"],
        name="konsoll-ressurser",
        opt={"exclude_from_auth": True},
        cache_control=CacheControlHeader(max_age=31_536_000, public=True, immutable=True),
        include_in_schema=False,
    )
    return Router(path="/", route_handlers=[KonsollController, ressurser])
