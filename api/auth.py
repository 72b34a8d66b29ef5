"""Authentication (JWT, Litestar's JWTAuth) and authorisation (roles and offices, contract.md §2).

Claims: `sub` is the actor's NAV ident, `roller` holds SAKSBEHANDLER / REVISOR / SYSTEM, `enheter` the
offices. SAKSBEHANDLER acts only on cases of its own offices; REVISOR reads everything and writes
nothing; SYSTEM reads everything and runs every command, but not `/revisjon/*`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

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
    def can_write(self) -> bool:
        return not self.roller.isdisjoint(_SKRIVERE)

    @property
    def sees_all(self) -> bool:
        return not self.roller.isdisjoint(_SER_ALT)

    def has_office(self, enhet: str) -> bool:
        return self.sees_all or enhet in self.enheter

    def check_read(self, enhet: str) -> None:
        """A read of one case: REVISOR and SYSTEM see all; SAKSBEHANDLER its own offices."""
        if not self.has_office(enhet):
            raise PermissionDeniedException("the case belongs to another office")

    def check_write(self, enhet: str) -> str | None:
        """A command on a case of office `enhet`; returns the office the actor acts for."""
        if not self.can_write:
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


def jwt_auth(secret: bytes) -> JWTAuth[User, Token]:
    """Litestar's JWT auth with our claims: every request's token is decoded and checked by its middleware."""
    return JWTAuth[User, Token](
        token_secret=secret.decode(),
        retrieve_user_handler=_bruker_fra_token,
        algorithm=ALGORITHM,
        exclude=["^/health", "^/metrics", "^/schema"],
    )


def make_token(
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
    if not bruker(connection).can_write:
        raise PermissionDeniedException("the role may not run commands")
