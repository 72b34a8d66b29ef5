"""The local dev issuer over HTTP (contract.md §1, "Identity"): its discovery document and JWKS, served while
no `FORLOP_AUTH_ISSUER` is configured, so that the dev issuer looks like any OpenID issuer to other local
services and tools. Another process accepts `forlop token`'s tokens with `FORLOP_AUTH_ISSUER=urn:forlop:dev-issuer`,
`FORLOP_AUTH_AUDIENCE=forlop` and `FORLOP_AUTH_JWKS_URL=<this API>/dev-issuer/jwks.json`, verifying them with the
same code as a real issuer's (api/identity.py, `RemoteJwks`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get

from api.identity import DEV_ISSUER, dev_jwks
from store.settings import Settings

PATH = "/dev-issuer"


def dev_issuer_router(settings: Settings) -> Router:
    jwks = dev_jwks(settings.secret("jwt"))  # public keys only

    @get("/.well-known/openid-configuration", sync_to_thread=False, summary="The dev issuer's discovery document")
    def discovery(request: Request[Any, Any, Any]) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/") + PATH
        return {
            "issuer": DEV_ISSUER,
            "jwks_uri": base + "/jwks.json",
            "id_token_signing_alg_values_supported": ["ES256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }

    @get("/jwks.json", sync_to_thread=False, summary="The dev issuer's public keys")
    def keys() -> dict[str, Any]:
        return jwks

    return Router(PATH, route_handlers=[discovery, keys], include_in_schema=False, opt={"exclude_from_auth": True})
