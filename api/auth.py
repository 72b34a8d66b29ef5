"""Authentication (JWT, Litestar's JWTAuth) and authorisation (roles and offices, contract.md §2).

Claims: `sub` is the actor's NAV ident, `roller` holds SAKSBEHANDLER / REVISOR / SYSTEM, `enheter` the
offices. SAKSBEHANDLER acts only on cases of its own offices; REVISOR reads everything and writes
nothing; SYSTEM reads everything and runs every command, but not `/revisjon/*`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token

ALGORITHM = "HS256"


class Role(StrEnum):
    SAKSBEHANDLER = "SAKSBEHANDLER"
    REVISOR = "REVISOR"
    SYSTEM = "SYSTEM"


_SKRIVERE = frozenset({Role.SAKSBEHANDLER, Role.SYSTEM})
_SER_ALT = frozenset({Role.REVISOR, Role.SYSTEM})


@dataclass(frozen=True, slots=True)
class User:
    ident: str
    roller: frozenset[Role]
    enheter: tuple[str, ...]

    @property
    def kan_skrive(self) -> bool:
        return not self.roller.isdisjoint(_SKRIVERE)

    @property
    def ser_alt(self) -> bool:
        return not self.roller.isdisjoint(_SER_ALT)

    def har_enhet(self, enhet: str) -> bool:
        return self.ser_alt or enhet in self.enheter

    def sjekk_les(self, enhet: str) -> None:
        """A read of one case: REVISOR and SYSTEM see all; SAKSBEHANDLER its own offices."""
        if not self.har_enhet(enhet):
            raise PermissionDeniedException("the case belongs to another office")

    def sjekk_skriv(self, enhet: str) -> str | None:
        """A command on a case of office `enhet`; returns the office the actor acts for."""
        if not self.kan_skrive:
            raise PermissionDeniedException("the role may not run commands")
        if Role.SYSTEM in self.roller:
            return enhet
        if enhet not in self.enheter:
            raise PermissionDeniedException("the case belongs to another office")
        return enhet


async def _bruker_fra_token(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    try:
        roller = frozenset(Role(r) for r in token.extras.get("roller", ()))
    except (ValueError, TypeError):
        return None
    enheter = token.extras.get("enheter", ())
    if not roller or not isinstance(enheter, list) or not all(isinstance(e, str) for e in enheter):
        return None
    return User(ident=token.sub, roller=roller, enheter=tuple(enheter))


class Tokener:
    """The tokens the app's JWT middleware has accepted, remembered until their `exp`: a client sends the same
    token on every request, and decoding it (signature, claims, Token) is a tenth of a small request's CPU.
    One per app, shared by the middleware (Litestar builds one per route) and the fast path (api/rask.py),
    which takes only tokens found here. A refused token is never remembered."""

    _MAKS = 4096

    def __init__(self) -> None:
        self._kjente: dict[str, tuple[AuthenticationResult, float]] = {}  # token → result, its exp (epoch)

    def hent(self, encoded_token: str) -> AuthenticationResult | None:
        kjent = self._kjente.get(encoded_token)
        if kjent is None:
            return None
        if kjent[1] > time.time():
            return kjent[0]
        self._kjente.pop(encoded_token, None)
        return None

    def husk(self, encoded_token: str, resultat: AuthenticationResult) -> None:
        if len(self._kjente) >= self._MAKS:
            self._kjente.clear()
        self._kjente[encoded_token] = (resultat, resultat.auth.exp.timestamp())


def jwt_auth(secret: bytes, tokener: Tokener | None = None) -> JWTAuth[User, Token]:
    """Litestar's JWT auth with our claims, remembering accepted tokens in `tokener`."""
    kjente = tokener or Tokener()

    class _JWTMiddleware(JWTAuthenticationMiddleware):
        async def authenticate_token(
            self, encoded_token: str, connection: ASGIConnection[Any, Any, Any, Any]
        ) -> AuthenticationResult:
            kjent = kjente.hent(encoded_token)
            if kjent is not None:
                return kjent
            resultat = await super().authenticate_token(encoded_token, connection)
            kjente.husk(encoded_token, resultat)
            return resultat

    return JWTAuth[User, Token](
        token_secret=secret.decode(),
        retrieve_user_handler=_bruker_fra_token,
        algorithm=ALGORITHM,
        authentication_middleware_class=_JWTMiddleware,
        exclude=["^/health", "^/metrics", "^/schema"],
    )


def lag_token(
    secret: bytes, *, ident: str, roller: list[str], enheter: list[str], gyldig: timedelta = timedelta(hours=12)
) -> str:
    """A token the instance keyed by `secret` accepts (`forlop token`)."""
    token = Token(
        sub=ident,
        exp=datetime.now(UTC) + gyldig,
        extras={"roller": [r.upper() for r in roller], "enheter": list(enheter)},
    )
    return token.encode(secret.decode(), ALGORITHM)


def bruker(connection: ASGIConnection[Any, Any, Any, Any]) -> User:
    user = connection.user
    if not isinstance(user, User):  # the JWT middleware lets no request through without one
        raise PermissionDeniedException("no user")
    return user


async def skriver(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for commands: REVISOR is refused before anything else is looked at.

    Async on purpose: Litestar runs a sync guard in a worker thread on every request."""
    if not bruker(connection).kan_skrive:
        raise PermissionDeniedException("the role may not run commands")
