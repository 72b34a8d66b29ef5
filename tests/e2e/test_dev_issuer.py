"""The dev issuer looks like any OpenID issuer (contract.md §1): without FORLOP_AUTH_ISSUER the API serves its
discovery document and JWKS, and a verifier that knows it only over HTTP (as another local service would,
with RemoteJwks: discovery, then the JWKS) accepts `forlop token`'s tokens and refuses others."""

from __future__ import annotations

import httpx
import pytest
from litestar.exceptions import NotAuthorizedException

from api.identity import DEV_AUDIENCE, DEV_ISSUER, ClaimNames, RemoteJwks, Verifier, make_token
from tests.e2e.conftest import API


async def test_the_dev_issuer_serves_discovery_and_jwks_that_verify_its_tokens(server):
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as c:
        discovery = await c.get("/dev-issuer/.well-known/openid-configuration")
        jwks = await c.get("/dev-issuer/jwks.json")

    assert discovery.status_code == 200 and jwks.status_code == 200
    assert discovery.json()["issuer"] == DEV_ISSUER
    assert discovery.json()["jwks_uri"] == f"{server.url}/dev-issuer/jwks.json"
    assert [k["alg"] for k in jwks.json()["keys"]] == ["ES256"]
    assert all("d" not in k for k in jwks.json()["keys"])  # public keys only

    elsewhere = Verifier(RemoteJwks(f"{server.url}/dev-issuer"), issuer=DEV_ISSUER, audience=DEV_AUDIENCE,
                         claims=ClaimNames())
    secret = server.settings.secret("jwt")
    user = await elsewhere.user(make_token(secret, ident="Z990042", roller=["revisor"], enheter=[]))
    assert user.ident == "Z990042" and [r.value for r in user.roller] == ["REVISOR"]
    with pytest.raises(NotAuthorizedException):
        await elsewhere.user(make_token(b"another-" + b"k" * 32, ident="Z1", roller=["system"], enheter=[]))


async def test_with_a_configured_issuer_no_dev_issuer_is_served(database_url, nats_url, tmp_path):
    from store.settings import load_settings
    from tests.e2e.conftest import serve

    settings = load_settings(environ={"DATABASE_URL": database_url, "NATS_URL": nats_url,
                                      "FORLOP_AUTH_ISSUER": "https://login.example.com/t/v2.0",
                                      "FORLOP_AUTH_AUDIENCE": "forlop-api"}, data_dir=tmp_path)
    async with serve(settings) as s, httpx.AsyncClient(base_url=s.url, trust_env=False) as c:
        r = await c.get("/dev-issuer/jwks.json")
        refused = await c.get(f"{API}/frister?enhet=0315")

    assert r.status_code == 404
    assert refused.status_code == 401
