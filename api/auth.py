"""Authentication (OpenID Connect access tokens, api/oidc.py) and authorisation (roles and offices, contract.md §2).

Every request's bearer token is verified by `TokenVerifier` against the JWKS of the configured issuer
(`FORLOP_AUTH_ISSUER`), or of the local development issuer when none is configured: one code path. The claims
named in `AuthSettings` give the actor (`NAVident`, else `sub`), the roles (`roller`) and the offices
(`enheter`); group ids in `groups` add the roles and offices `FORLOP_AUTH_GRUPPER` maps them to.

SAKSBEHANDLER acts only on cases of its own offices; REVISOR reads everything and writes nothing; SYSTEM reads
everything and runs every command, but not `/revisjon/*`.
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp

from api.oidc import DevIssuer, HttpJwks, TokenRefused, TokenSigner, TokenVerifier
from api.openapi import BEARER
from store.settings import AuthSettings, Settings


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


class ClaimMapping:
    """The `User` a verified token's claims describe, under the claim names of `AuthSettings`."""

    def __init__(self, auth: AuthSettings) -> None:
        self.auth = auth

    def _strings(self, claims: dict[str, Any], name: str) -> list[str] | None:
        value = claims.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None
        return value

    def user(self, claims: dict[str, Any]) -> User | None:
        """None when the claims name no actor or no role, or hold something of the wrong shape."""
        ident = next((claims[c] for c in self.auth.ident_claims if isinstance(claims.get(c), str) and claims[c]), None)
        roller_claim = self._strings(claims, self.auth.roller_claim)
        enheter = self._strings(claims, self.auth.enheter_claim)
        grupper = self._strings(claims, self.auth.grupper_claim) if self.auth.grupper else []
        if ident is None or roller_claim is None or enheter is None or grupper is None:
            return None
        try:
            roller = {Role(r) for r in roller_claim}
        except ValueError:
            return None
        offices = dict.fromkeys(enheter)
        for gruppe in grupper:
            access = self.auth.grupper.get(gruppe)
            if access is not None:
                roller.update(Role(r) for r in access.roller)
                offices.update(dict.fromkeys(access.enheter))
        if not roller:
            return None
        return User(ident=ident, roller=frozenset(roller), enheter=tuple(offices))


class OidcAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """`Authorization: Bearer <token>` verified by the verifier; its claims mapped to a `User`."""

    def __init__(
        self, app: ASGIApp, *, verifier: TokenVerifier, mapping: ClaimMapping, exclude: list[str],
        exclude_from_auth_key: str = "exclude_from_auth",
    ) -> None:
        # HEAD is authenticated like GET (its headers tell as much as the answer); CORS preflights never
        # reach here (Litestar answers them first), other OPTIONS requests are Litestar's own.
        super().__init__(app, exclude=exclude, exclude_from_auth_key=exclude_from_auth_key,
                         exclude_http_methods=["OPTIONS"])
        self.verifier = verifier
        self.mapping = mapping

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("no bearer token in the Authorization header")
        try:
            claims = await self.verifier.verify(token.strip())
        except TokenRefused as e:
            raise NotAuthorizedException(f"token refused: {e}") from None
        user = self.mapping.user(claims)
        if user is None:
            raise NotAuthorizedException("the token's claims name no actor or no known role")
        return AuthenticationResult(user=user, auth=claims)


def verifier_for(settings: Settings) -> TokenVerifier:
    """The verifier of the configured issuer, or of the local development issuer when none is configured."""
    auth = settings.auth
    if auth.issuer:
        assert auth.audience is not None  # settings refuse an issuer without an audience
        source = HttpJwks(auth.issuer, auth.jwks_url)
        return TokenVerifier(source, issuer=auth.issuer, audience=auth.audience, leeway_seconds=auth.leeway_seconds)
    dev = dev_issuer(settings)
    return TokenVerifier(dev, issuer=dev.issuer, audience=dev.audience, leeway_seconds=auth.leeway_seconds)


def dev_issuer(settings: Settings) -> DevIssuer:
    """The local development issuer of this data directory (`forlop token`, the console's sign-in)."""
    return DevIssuer(settings.data_dir)


@dataclass
class OidcAuth:
    """Adds the authentication middleware and the bearer requirement of the OpenAPI document to the app."""

    verifier: TokenVerifier
    mapping: ClaimMapping
    exclude: tuple[str, ...] = ("^/health", "^/metrics", "^/schema", "^/dev-issuer")

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.middleware.insert(0, DefineMiddleware(
            OidcAuthenticationMiddleware, verifier=self.verifier, mapping=self.mapping, exclude=list(self.exclude)
        ))
        if app_config.openapi_config is not None:
            app_config.openapi_config = copy(app_config.openapi_config)
            app_config.openapi_config.security = [*(app_config.openapi_config.security or []), {BEARER: []}]
        return app_config


def oidc_auth(settings: Settings) -> OidcAuth:
    return OidcAuth(verifier_for(settings), ClaimMapping(settings.auth))


def make_token(
    issuer: TokenSigner, *, ident: str, roller: list[str], enheter: list[str], gyldig: timedelta = timedelta(hours=12)
) -> str:
    """A token of the local development issuer (`forlop token`, the console's dev sign-in), or of `issuer`."""
    claims = {"sub": ident, "roller": [r.upper() for r in roller], "enheter": list(enheter)}
    return issuer.sign(claims, gyldig=gyldig)


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
