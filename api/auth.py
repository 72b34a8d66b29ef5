"""Authorisation (roles and offices, contract.md §2); tokens are verified in api/identity.py.

A user is an actor (NAV ident) with roles SAKSBEHANDLER / REVISOR / SYSTEM and offices. SAKSBEHANDLER acts
only on cases of its own offices; REVISOR reads everything and writes nothing; SYSTEM reads everything and runs every command, but not `/revisjon/*`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler


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
