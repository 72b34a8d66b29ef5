"""A local OpenID Connect issuer for the tests: a small HTTP server (discovery document and JWKS) in a thread,
with keys that can be added, rotated and withdrawn while an app verifies its tokens."""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class LocalIssuer:
    def __init__(self, audience: str = "forlop-test") -> None:
        self.audience = audience
        self.keys: dict[str, tuple[str, Any]] = {}  # kid -> (alg, private key), published in the JWKS
        self.signing_kid = ""
        self.jwks_requests = 0
        self.discovery_requests = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    issuer.discovery_requests += 1
                    body = {"issuer": issuer.issuer, "jwks_uri": issuer.issuer + "/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_requests += 1
                    body = issuer.jwks()
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.rotate("ES256")

    def env(self, **extra: str) -> dict[str, str]:
        return {"FORLOP_AUTH_ISSUER": self.issuer, "FORLOP_AUTH_AUDIENCE": self.audience, **extra}

    @staticmethod
    def new_key(alg: str) -> Any:
        return ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else rsa.generate_private_key(65537, 2048)

    def rotate(self, alg: str = "ES256") -> str:
        """A new signing key, published beside the old ones; returns its kid."""
        kid = uuid.uuid4().hex
        self.keys[kid] = (alg, self.new_key(alg))
        self.signing_kid = kid
        return kid

    def withdraw(self, kid: str) -> None:
        del self.keys[kid]

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, (alg, key) in list(self.keys.items()):
            algorithm = jwt.algorithms.ECAlgorithm if alg == "ES256" else jwt.algorithms.RSAAlgorithm
            jwk = algorithm.to_jwk(key.public_key(), as_dict=True)
            jwk.update(kid=kid, use="sig", alg=alg)
            out.append(jwk)
        return {"keys": out}

    def claims(self, gyldig: timedelta = timedelta(hours=1), **claims: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.issuer, "aud": self.audience, "iat": now, "nbf": now,
                "exp": now + int(gyldig.total_seconds()), **claims}

    def token(self, claims: dict[str, Any], *, kid: str | None = None, key: Any = None, alg: str | None = None) -> str:
        """`claims` as they are (see `claims()`), signed with the key `kid` (default: the signing key)."""
        kid = kid or self.signing_kid
        key_alg, own_key = self.keys.get(kid, ("ES256", None))
        return jwt.encode(claims, key if key is not None else own_key, algorithm=alg or key_alg, headers={"kid": kid})

    def sign(self, claims: dict[str, Any], *, gyldig: timedelta = timedelta(hours=1)) -> str:
        """A valid token with `claims` (what api.auth.make_token calls)."""
        return self.token(self.claims(gyldig, **claims))


@functools.cache
def local_issuer() -> LocalIssuer:
    """One issuer for the whole test session (its thread is a daemon)."""
    return LocalIssuer()
