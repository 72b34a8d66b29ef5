"""Identity in production (contract.md §1): tokens of an OpenID Connect issuer, verified against its JWKS.

A local issuer (an HTTP server in the test's thread: discovery document and JWKS, keys it can rotate) stands
in for Entra ID or TokenX; the app runs with FORLOP_AUTH_ISSUER / FORLOP_AUTH_AUDIENCE pointing at it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from api.identity import REFETCH_SECONDS, RemoteJwks
from store.settings import SettingsError, load_settings
from tests.e2e.conftest import API, JWT_SECRET, Server, serve

AUDIENCE = "forlop-test-client-id"
GROUP_SB, GROUP_REVISOR, GROUP_0315 = "6c1a…-saksbehandler", "9f2e…-revisor", "44b0…-0315"


class Issuer:
    """An OpenID Connect issuer on a loopback port: `/.well-known/openid-configuration` and `/jwks`."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}  # kid → private key
        self.published: list[str] = []
        self.jwks_requests = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_requests += 1
                    body = {"keys": [issuer.jwk(kid) for kid in issuer.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def add_key(self, kid: str, kind: str = "ES256", *, publish: bool = True) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1()) if kind == "ES256" else rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        if publish:
            self.published.append(kid)

    def jwk(self, kid: str) -> dict[str, Any]:
        key = self.keys[kid]
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "ES256", "use": "sig"}
        return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256", "use": "sig"}

    def token(self, kid: str, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 600,
            "NAVident": "Z990123", "sub": "opaque-subject-id", "groups": [GROUP_SB, GROUP_0315, "unrelated-group"],
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.keys[kid]
        algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
        return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    i = Issuer()
    i.add_key("key-1")
    yield i
    i.close()


def _settings(database_url: str, nats_url: str, data_dir: Path, issuer: Issuer) -> Any:
    return load_settings(
        environ={
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "FORLOP_PERSON_KEY": "e2e-person-key-" + "y" * 32,
            "FORLOP_JWT_SECRET": JWT_SECRET,
            "FORLOP_AUTH_ISSUER": issuer.url,
            "FORLOP_AUTH_AUDIENCE": AUDIENCE,
            "FORLOP_AUTH_ROLLER_CLAIM": "groups",
            "FORLOP_AUTH_ENHETER_CLAIM": "groups",
            "FORLOP_AUTH_GRUPPER": f"{GROUP_SB}=SAKSBEHANDLER,{GROUP_REVISOR}=REVISOR,{GROUP_0315}=enhet:0315",
        },
        data_dir=data_dir,
    )


@pytest.fixture
async def oidc_server(database_url: str, nats_url: str, tmp_path: Path, issuer: Issuer) -> Any:
    async with serve(_settings(database_url, nats_url, tmp_path, issuer)) as s:
        yield s


async def _meg(server: Server, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as c:
        return await c.get("/konsoll/meg", headers={"Authorization": f"Bearer {token}"})


async def test_a_token_of_the_issuer_names_the_actor_and_maps_groups_to_roles_and_offices(
    oidc_server: Server, issuer: Issuer
) -> None:
    r = await _meg(oidc_server, issuer.token("key-1"))
    assert r.status_code == 200, r.text
    assert r.json() == {"ident": "Z990123", "roller": ["SAKSBEHANDLER"], "enheter": ["0315"]}

    async with httpx.AsyncClient(base_url=oidc_server.url) as c:
        board = await c.get(f"{API}/frister", headers={"Authorization": f"Bearer {issuer.token('key-1')}"})
        other = await c.get(f"{API}/frister?enhet=4601", headers={"Authorization": f"Bearer {issuer.token('key-1')}"})
    assert board.status_code == 200 and other.status_code == 403


@pytest.mark.parametrize(
    ("why", "claims"),
    [
        ("wrong audience", {"aud": "another-app"}),
        ("wrong issuer", {"iss": "https://login.example.com/other/v2.0"}),
        ("expired beyond the leeway", {"exp": -31, "iat": -700}),  # seconds from now, taken when the test runs
        ("not yet valid beyond the leeway", {"nbf": 120}),
        ("no exp", {"exp": None}),
        ("no actor", {"NAVident": None, "sub": None}),
        ("no group that maps to a role", {"groups": [GROUP_0315, "unrelated-group"]}),
    ],
)
async def test_a_token_that_fails_a_check_is_401(oidc_server: Server, issuer: Issuer, why: str, claims: dict) -> None:
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "iat", "nbf") and v is not None else v for k, v in claims.items()}
    r = await _meg(oidc_server, issuer.token("key-1", **claims))
    assert r.status_code == 401, (why, r.text)
    assert r.json()["code"] == "UNAUTHENTICATED"


async def test_symmetric_and_unsigned_tokens_are_refused(oidc_server: Server, issuer: Issuer) -> None:
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": AUDIENCE, "exp": now + 600, "NAVident": "Z1", "groups": [GROUP_SB]}
    hs256 = jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers={"kid": "key-1"})
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in (hs256, unsigned, "not-a-jwt"):
        r = await _meg(oidc_server, token)
        assert r.status_code == 401, r.text


async def test_a_dev_issuer_token_is_refused_when_a_real_issuer_is_configured(
    oidc_server: Server, issuer: Issuer
) -> None:
    from api.identity import make_token

    dev = make_token(JWT_SECRET.encode(), ident="Z1", roller=["SAKSBEHANDLER"], enheter=["0315"])
    assert (await _meg(oidc_server, dev)).status_code == 401
    async with httpx.AsyncClient(base_url=oidc_server.url) as c:
        assert (await c.get("/konsoll/config.json")).json() == {"innlogging": "proxy"}
        assert (await c.post("/konsoll/dev-token", json={"rolle": "saksbehandler"})).status_code == 404


async def test_keys_rotate_without_a_restart_and_an_unknown_kid_refetches_at_most_once_a_minute(
    oidc_server: Server, issuer: Issuer
) -> None:
    assert (await _meg(oidc_server, issuer.token("key-1"))).status_code == 200
    fetched = issuer.jwks_requests

    issuer.add_key("key-2", "RS256")  # the issuer rotates: a new key, the old one withdrawn
    issuer.published.remove("key-1")
    r = await _meg(oidc_server, issuer.token("key-2"))
    assert r.status_code == 200, r.text  # fetched again for the unknown kid, no restart
    assert issuer.jwks_requests == fetched + 1

    issuer.add_key("key-3", publish=False)  # a kid the issuer does not publish: refused ...
    for _ in range(3):
        assert (await _meg(oidc_server, issuer.token("key-3"))).status_code == 401
    assert issuer.jwks_requests == fetched + 1  # ... without fetching again within the minute


async def test_the_jwks_is_refetched_for_an_unknown_kid_once_the_minute_has_passed(issuer: Issuer) -> None:
    keys = RemoteJwks(issuer.url, refetch_seconds=2.0)
    assert (await keys.key("key-1")) is not None and keys.fetches == 1
    assert await keys.key("nope") is None and keys.fetches == 2  # an unknown kid: fetched again
    assert await keys.key("nope") is None and keys.fetches == 2  # within the interval: the cached set
    issuer.add_key("later")
    time.sleep(2.1)
    assert (await keys.key("later")) is not None and keys.fetches == 3
    assert REFETCH_SECONDS == 60


async def test_an_unreachable_issuer_gives_401_not_500(database_url: str, nats_url: str, tmp_path: Path) -> None:
    gone = Issuer()
    gone.close()
    async with serve(_settings(database_url, nats_url, tmp_path, gone)) as s:
        now = int(time.time())
        key = ec.generate_private_key(ec.SECP256R1())
        token = jwt.encode({"iss": gone.url, "aud": AUDIENCE, "exp": now + 60, "NAVident": "Z1"}, key, algorithm="ES256",
                           headers={"kid": "k"})
        r = await _meg(s, token)
        assert r.status_code == 401 and r.json()["code"] == "UNAUTHENTICATED"


def test_an_issuer_needs_an_audience_and_group_mappings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="FORLOP_AUTH_AUDIENCE"):
        load_settings(environ={"FORLOP_AUTH_ISSUER": "https://login.example.com/t/v2.0"}, data_dir=tmp_path)
    with pytest.raises(SettingsError, match="FORLOP_AUTH_GRUPPER"):
        load_settings(environ={"FORLOP_AUTH_GRUPPER": "just-a-group"}, data_dir=tmp_path)
