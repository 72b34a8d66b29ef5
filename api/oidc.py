"""Access tokens from an OpenID Connect issuer, verified against its JWKS (contract.md §1, "Identity").

`TokenVerifier` is the one code path for every token, in production and in development:

- the keys come from a `JwksSource`: `HttpJwks` finds the JWKS through `<issuer>/.well-known/
  openid-configuration` (or takes `FORLOP_AUTH_JWKS_URL`) and fetches it with PyJWT's `PyJWKClient`;
  `DevIssuer` is the local development issuer, whose ES256 key is kept under the data directory;
- the key set is cached; a token whose `kid` is not in it makes the set be fetched again, at most once a
  minute (`refetch_seconds`), before the token is refused, so the issuer can rotate its keys without a
  restart; the set is also fetched again when it is older than `max_age_seconds` (a key the issuer has
  withdrawn stops being accepted);
- asymmetric algorithms only (RS256, ES256): an HS256 token, or one whose `alg` does not fit its key, is
  refused before any key is looked at; `iss`, `aud`, `exp` (required) and `nbf` (when present) are checked
  with a small leeway (at most 30 s).

Fetching runs in a worker thread (PyJWKClient is blocking), so a slow issuer never stalls the event loop;
while one fetch runs, other requests that need it wait for the same one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import time
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.error import URLError

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Request, Router, get

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
MAX_LEEWAY_SECONDS = 30
DISCOVERY_PATH = "/.well-known/openid-configuration"

#: The development issuer's `iss` and the audience its tokens carry (`forlop token`, the console's sign-in).
DEV_ISSUER = "urn:forlop:dev-issuer"
DEV_AUDIENCE = "forlop"
DEV_ISSUER_PATH = "/dev-issuer"


class TokenRefused(Exception):
    """Why a token is not accepted (for the log and the 401's detail; never holds the token)."""


class JwksUnavailable(Exception):
    """The issuer's key set could not be fetched."""


class TokenSigner(Protocol):
    """What signs the tokens of `api.auth.make_token`: the dev issuer (or a test's issuer)."""

    def sign(self, claims: dict[str, Any], *, gyldig: timedelta = ...) -> str: ...


class JwksSource(Protocol):
    """Where the key set comes from. `fetch` blocks (it is run in a worker thread)."""

    def fetch(self) -> dict[str, Any]: ...


class HttpJwks:
    """The JWKS of an OpenID issuer over HTTP: `jwks_url`, else the `jwks_uri` of its discovery document."""

    def __init__(self, issuer: str, jwks_url: str | None = None, *, timeout: float = 5.0) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.timeout = timeout

    def discover(self) -> str:
        url = self.issuer.rstrip("/") + DISCOVERY_PATH
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as answer:
                document = json.load(answer)
        except (URLError, TimeoutError, OSError, ValueError) as e:
            raise JwksUnavailable(f"discovery document {url}: {e}") from None
        if not isinstance(document, dict) or not isinstance(document.get("jwks_uri"), str):
            raise JwksUnavailable(f"discovery document {url} has no jwks_uri")
        if document.get("issuer") != self.issuer:
            raise JwksUnavailable(f"discovery document {url} names issuer {document.get('issuer')!r}")
        return str(document["jwks_uri"])

    def fetch(self) -> dict[str, Any]:
        url = self.jwks_url or self.discover()
        try:
            data = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=self.timeout).fetch_data()
        except jwt.PyJWKClientError as e:
            raise JwksUnavailable(f"{url}: {e}") from None
        if not isinstance(data, dict):
            raise JwksUnavailable(f"{url}: not a JWK set")
        return data


class TokenVerifier:
    """Verifies access tokens of one issuer for one audience; returns their claims."""

    def __init__(
        self,
        source: JwksSource,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: float = MAX_LEEWAY_SECONDS,
        refetch_seconds: float = 60.0,
        max_age_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.issuer = issuer
        self.audience = audience
        self.leeway = min(leeway_seconds, MAX_LEEWAY_SECONDS)
        self.refetch_seconds = refetch_seconds
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched_at: float | None = None
        self.fetches = 0
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("not a JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise TokenRefused(f"algorithm {alg!r} is not accepted (only {', '.join(ALGORITHMS)})")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("the token names no key (kid)")
        key = await self.key(kid)
        if key.key_type != KEY_TYPES[alg] or key.algorithm_name != alg:
            raise TokenRefused(f"key {kid} does not sign {alg}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as e:
            raise TokenRefused(str(e)) from None
        return claims

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key `kid` of the cached set; an unknown one fetches the set again (at most once a minute)."""
        now = self.clock()
        stale = self.fetched_at is None or now - self.fetched_at >= self.max_age_seconds
        if stale or (kid not in self.keys and self._may_refetch(now)):
            async with self._lock:
                now = self.clock()
                stale = self.fetched_at is None or now - self.fetched_at >= self.max_age_seconds
                if stale or (kid not in self.keys and self._may_refetch(now)):
                    await self.refresh()
        if kid not in self.keys:
            raise TokenRefused(f"unknown key {kid}")
        return self.keys[kid]

    def _may_refetch(self, now: float) -> bool:
        return self.fetched_at is None or now - self.fetched_at >= self.refetch_seconds

    async def refresh(self) -> None:
        """Fetch the key set; on failure keep the keys we have (and try again after `refetch_seconds`)."""
        self.fetched_at = self.clock()
        self.fetches += 1
        try:
            data = await asyncio.to_thread(self.source.fetch)
            keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(data).keys if k.key_id}
        except (JwksUnavailable, jwt.PyJWTError) as e:
            log.warning("jwks not refreshed: %s", e)
            return
        if not keys:
            log.warning("jwks not refreshed: no key has a kid")
            return
        self.keys = keys


# --- the development issuer ------------------------------------------------------------------------------------


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC public key: the key's `kid`."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return jwt.utils.base64url_encode(hashlib.sha256(canonical.encode()).digest()).decode()


class DevIssuer:
    """The local development issuer: an ES256 key under `data_dir/keys/issuer/`, its JWKS and tokens.

    Every `*.pem` there is in the key set (the newest signs), so a key can be added (`rotate`) while an
    instance runs: its verifier fetches the set again when it meets the new `kid`."""

    def __init__(self, data_dir: Path, *, issuer: str = DEV_ISSUER, audience: str = DEV_AUDIENCE) -> None:
        self.directory = Path(data_dir) / "keys" / "issuer"
        self.issuer = issuer
        self.audience = audience

    def _paths(self) -> list[Path]:
        return sorted(self.directory.glob("*.pem"))

    def _load(self, path: Path) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: not an EC key")
        return key

    def rotate(self) -> str:
        """A new signing key (kept beside the old ones); returns its kid."""
        self.directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        name = f"{time.time_ns():020d}"
        tmp = self.directory / f".{name}.{secrets.token_hex(4)}.tmp"
        tmp.write_bytes(pem)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, self.directory / f"{name}.pem")
        finally:
            tmp.unlink(missing_ok=True)
        return self._jwk(key)["kid"]

    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        paths = self._paths()
        if not paths:
            self.rotate()
            paths = self._paths()
        return self._load(paths[-1])

    @staticmethod
    def _jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update(kid=_thumbprint(jwk), use="sig", alg="ES256")
        return jwk

    def fetch(self) -> dict[str, Any]:
        """The JWKS (`JwksSource`): every key under the directory."""
        if not self._paths():
            self.signing_key()
        return {"keys": [self._jwk(self._load(p)) for p in self._paths()]}

    def discovery(self, base_url: str) -> dict[str, Any]:
        """The discovery document served at `<base_url>/.well-known/openid-configuration`."""
        return {
            "issuer": self.issuer,
            "jwks_uri": base_url.rstrip("/") + "/jwks.json",
            "id_token_signing_alg_values_supported": ["ES256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["token"],
        }

    def sign(self, claims: dict[str, Any], *, gyldig: timedelta = timedelta(hours=12)) -> str:
        """A token of this issuer for its audience with `claims` (valid for `gyldig`)."""
        key = self.signing_key()
        now = datetime.now(UTC)
        payload = {"iss": self.issuer, "aud": self.audience, "iat": now, "nbf": now, "exp": now + gyldig,
                   **claims}
        return jwt.encode(payload, key, algorithm="ES256", headers={"kid": self._jwk(key)["kid"]})


def dev_issuer_router(issuer: DevIssuer) -> Router:
    """`/dev-issuer/.well-known/openid-configuration` and `/dev-issuer/jwks.json`: the development issuer, for
    tools and other local services that verify its tokens (`FORLOP_AUTH_ISSUER=urn:forlop:dev-issuer`,
    `FORLOP_AUTH_JWKS_URL=<api>/dev-issuer/jwks.json`)."""

    @get("/.well-known/openid-configuration", sync_to_thread=False)
    def discovery(request: Request[Any, Any, Any]) -> dict[str, Any]:
        return issuer.discovery(str(request.base_url).rstrip("/") + DEV_ISSUER_PATH)

    @get("/jwks.json", sync_to_thread=True)
    def jwks() -> dict[str, Any]:
        return issuer.fetch()

    return Router(DEV_ISSUER_PATH, route_handlers=[discovery, jwks], include_in_schema=False,
                  opt={"exclude_from_auth": True})
