"""Who a request comes from: access tokens verified against an OpenID Connect issuer's keys (contract.md §1,
"Identity in production").

One code path for every issuer. `Verifier` checks a token's signature with a key of its issuer's JWKS
(asymmetric algorithms only: RS256, ES256), then `iss`, `aud`, `exp` and `nbf` with at most 30 s leeway, and
reads the actor, roles and offices from configurable claims. Its keys come from a `KeySource`:

- `RemoteJwks`: a real issuer (Entra ID, TokenX, ...): the JWKS found through
  `<issuer>/.well-known/openid-configuration` (or given directly), cached; a token whose `kid` is not in the
  cached set makes it fetch the set again, at most once a minute, so keys rotate without a restart.
- `StaticKeys`: the local dev issuer (no `FORLOP_AUTH_ISSUER`): an ES256 key derived from the development
  secret under the data directory (or FORLOP_JWT_SECRET), which `make_token` (`forlop token`, the console's
  dev sign-in) signs with.

The middleware is Litestar's documented extension point for authentication
(`AbstractAuthenticationMiddleware`); a request without a valid token is 401 `UNAUTHENTICATED`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from api.auth import Role, User
from store.settings import Settings

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30
REFETCH_SECONDS = 60.0  # an unknown `kid` fetches the JWKS again at most this often
RETRY_SECONDS = 5.0  # while no key set could be fetched yet
FETCH_TIMEOUT_SECONDS = 5.0
DEV_ISSUER = "urn:forlop:dev-issuer"
DEV_AUDIENCE = "forlop"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class KeySource(Protocol):
    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The issuer's key `kid` (None: the token names none), or None when the issuer has no such key."""
        ...


def _pick(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    try:
        return keys[kid]
    except KeyError:
        return None


class StaticKeys:
    """A fixed key set: the dev issuer's."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self.jwks = dict(jwks)
        self._keys = jwt.PyJWKSet.from_dict(self.jwks)

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        return _pick(self._keys, kid)


class RemoteJwks:
    """An issuer's JWKS over HTTPS, cached; fetched at the first token, again for an unknown `kid` at most
    once a minute (a withdrawn or forged `kid` cannot make us hammer the issuer)."""

    def __init__(
        self,
        issuer: str,
        jwks_url: str | None = None,
        *,
        refetch_seconds: float = REFETCH_SECONDS,
        timeout: float = FETCH_TIMEOUT_SECONDS,
    ) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.refetch_seconds = refetch_seconds
        self.timeout = timeout
        self.fetches = 0
        self._keys: jwt.PyJWKSet | None = None
        self._attempted_at = float("-inf")
        self._refetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        if self._keys is not None and (found := _pick(self._keys, kid)) is not None:
            return found
        async with self._lock:  # one fetch at a time; those who waited look again first
            if self._keys is not None and (found := _pick(self._keys, kid)) is not None:
                return found
            now = time.monotonic()
            if self._keys is None:  # not fetched yet, or every fetch failed: try again after a pause
                if now - self._attempted_at < RETRY_SECONDS:
                    return None
            elif now - self._refetched_at < self.refetch_seconds:
                return None  # an unknown kid fetched the set less than a minute ago
            else:
                self._refetched_at = now
            await self._fetch()
        return _pick(self._keys, kid) if self._keys is not None else None

    async def _fetch(self) -> None:
        self._attempted_at = time.monotonic()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                url = self.jwks_url
                if url is None:
                    discovery = await client.get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
                    discovery.raise_for_status()
                    url = str(discovery.json()["jwks_uri"])
                answer = await client.get(url)
                answer.raise_for_status()
                self._keys = jwt.PyJWKSet.from_dict(answer.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError, jwt.PyJWTError) as e:
            log.warning("the issuer's keys could not be fetched", extra={"issuer": self.issuer, "error": str(e)})


@dataclass(frozen=True)
class ClaimNames:
    """Which claims carry the actor, the roles and the offices (FORLOP_AUTH_*_CLAIM), and how an identity
    provider's group ids map to roles and offices (FORLOP_AUTH_GRUPPER: `<group>=SAKSBEHANDLER`,
    `<group>=enhet:0315`)."""

    ident: tuple[str, ...] = ("NAVident", "sub")
    roller: str = "roller"
    enheter: str = "enheter"
    grupper: Mapping[str, str] = field(default_factory=dict)


def _strings(value: object) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


class Verifier:
    """Verifies a bearer token and makes the `User` it speaks for."""

    def __init__(self, keys: KeySource, *, issuer: str, audience: str | None, claims: ClaimNames) -> None:
        self.keys, self.issuer, self.audience, self.claims = keys, issuer, audience, claims

    async def user(self, token: str) -> User:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise NotAuthorizedException("the token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise NotAuthorizedException("the token's algorithm is not accepted (RS256, ES256)")
        kid = header.get("kid")
        key = await self.keys.key(kid if isinstance(kid, str) else None)
        if key is None:
            raise NotAuthorizedException("the token is signed with a key the issuer does not publish")
        required = ["exp", "iss"] + (["aud"] if self.audience else [])
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": required, "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as e:
            raise NotAuthorizedException(f"the token is not valid: {e}") from None
        user = self._user(claims)
        if user is None:
            raise NotAuthorizedException("the token does not name an actor with a role")
        return user

    def _user(self, claims: Mapping[str, Any]) -> User | None:
        ident = next((claims[c] for c in self.claims.ident if isinstance(claims.get(c), str) and claims[c]), None)
        roller_claim, enheter_claim = _strings(claims.get(self.claims.roller)), _strings(claims.get(self.claims.enheter))
        if ident is None or roller_claim is None or enheter_claim is None:
            return None
        grupper = self.claims.grupper
        roller: set[Role] = set()
        enheter: list[str] = []
        for value in roller_claim:
            mapped = grupper.get(value, value)
            if mapped.upper() in Role.__members__:
                roller.add(Role(mapped.upper()))
            elif not grupper:  # without a mapping the claim holds role names only
                return None
        for value in enheter_claim:
            office = grupper.get(value)
            if office is not None and office.startswith("enhet:"):
                enheter.append(office.removeprefix("enhet:"))
            elif office is None and not grupper:
                enheter.append(value)
        if not roller:
            return None
        return User(ident=ident, roller=frozenset(roller), enheter=tuple(dict.fromkeys(enheter)))


class TokenMiddleware(AbstractAuthenticationMiddleware):
    """Litestar's authentication middleware with our verifier: `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, verifier: Verifier, exclude: Sequence[str] | None = None) -> None:
        super().__init__(app, exclude=list(exclude) if exclude else None)
        self.verifier = verifier

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("no bearer token")
        user = await self.verifier.user(token.strip())
        return AuthenticationResult(user=user, auth=token.strip())


# --- the local dev issuer -------------------------------------------------------------------------------------


def dev_private_key(secret: bytes) -> ec.EllipticCurvePrivateKey:
    """The dev issuer's ES256 key: derived from the development secret (`Settings.secret("jwt")`), so every
    process of one instance signs and verifies with the same key without sharing a key file."""
    digest = hashlib.sha256(b"forlop dev issuer\x00" + secret).digest()
    return ec.derive_private_key(int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def _dev_kid(key: ec.EllipticCurvePrivateKey) -> str:
    numbers = key.public_key().public_numbers()
    return hashlib.sha256(numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")).hexdigest()[:16]


def dev_jwks(secret: bytes) -> dict[str, Any]:
    """The dev issuer's JWKS (what a real issuer publishes at its `jwks_uri`)."""
    key = dev_private_key(secret)
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": _dev_kid(key), "alg": "ES256", "use": "sig"}]}


def dev_verifier(secret: bytes) -> Verifier:
    return Verifier(StaticKeys(dev_jwks(secret)), issuer=DEV_ISSUER, audience=DEV_AUDIENCE, claims=ClaimNames())


def make_token(
    secret: bytes,
    *,
    ident: str,
    roller: list[str],
    enheter: list[str],
    gyldig: timedelta = timedelta(hours=12),
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A token of the local dev issuer (`forlop token`, the console's dev sign-in): ES256, `iss`, `aud`,
    `iat`, `nbf`, `exp`; `extra` adds or replaces claims."""
    key = dev_private_key(secret)
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": ident,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + gyldig).timestamp()),
        "roller": [r.upper() for r in roller],
        "enheter": list(enheter),
        **(extra or {}),
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": _dev_kid(key)})


def verifier_for(settings: Settings) -> Verifier:
    """The issuer of this instance's tokens: FORLOP_AUTH_ISSUER's, else the local dev issuer."""
    auth = settings.auth
    if not auth.issuer:
        return dev_verifier(settings.secret("jwt"))
    claims = ClaimNames(
        ident=(auth.ident_claim,) if auth.ident_claim else ClaimNames.ident,
        roller=auth.roller_claim,
        enheter=auth.enheter_claim,
        grupper=auth.group_map(),
    )
    return Verifier(RemoteJwks(auth.issuer, auth.jwks_url), issuer=auth.issuer, audience=auth.audience, claims=claims)
