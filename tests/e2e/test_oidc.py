"""Identity over real HTTP (contract.md §1): the app verifies access tokens against the JWKS of an OpenID
issuer on a loopback port (tests/oidc_issuer.py), found through its discovery document."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from api.auth import ClaimMapping, dev_issuer, make_token, verifier_for
from api.oidc import DEV_AUDIENCE, DEV_ISSUER, DevIssuer, TokenRefused, TokenVerifier
from store.settings import AuthSettings, SettingsError, load_settings
from tests.e2e.conftest import API, Server, e2e_settings, serve
from tests.oidc_issuer import LocalIssuer

pytestmark = pytest.mark.usefixtures("server")

SB = {"sub": "Z990001", "roller": ["SAKSBEHANDLER"], "enheter": ["0315"]}


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer(audience="forlop-oidc-test")


@pytest.fixture(scope="module")
async def server(postgres_server_url, nats_url, tmp_path_factory, issuer) -> AsyncIterator[Server]:
    from tests.conftest import ny_database

    async with ny_database(postgres_server_url, "oidc") as url:
        base = e2e_settings(url, nats_url, tmp_path_factory.mktemp("oidc"))
        settings = load_settings(
            environ={
                "DATABASE_URL": url, "NATS_URL": base.nats_url or "", "FORLOP_PERSON_KEY": "o" * 40,
                **issuer.env(FORLOP_AUTH_LEEWAY_SEKUNDER="5"),
                "FORLOP_AUTH_GRUPPER": '{"grp-sb-oslo": {"roller": ["SAKSBEHANDLER"], "enheter": ["0315"]},'
                                       ' "grp-revisor": {"roller": ["REVISOR"]}}',
            },
            data_dir=base.data_dir, today=base.today,
        )
        async with serve(settings) as s:
            yield s


async def _status(server: Server, token: str) -> int:
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as c:
        r = await c.get(f"{API}/frister", params={"enhet": "0315"}, headers={"Authorization": f"Bearer {token}"})
    if r.status_code == 401:
        assert r.json()["code"] == "UNAUTHENTICATED"
    return r.status_code


async def test_a_token_of_the_issuer_is_accepted_through_discovery_and_jwks(server, issuer):
    assert await _status(server, issuer.sign(SB)) == 200


async def test_a_new_key_is_accepted_without_a_restart_and_a_withdrawn_one_is_not_after_a_refetch(server, issuer):
    old = issuer.signing_kid
    assert await _status(server, issuer.sign(SB)) == 200
    new = issuer.rotate("RS256")
    verifier: TokenVerifier = server.app.state.verifier
    verifier.fetched_at = None  # as if the last fetch were over a minute ago (no sleeping in tests)

    assert await _status(server, issuer.sign(SB)) == 200
    assert new in verifier.keys and old in verifier.keys


@pytest.mark.parametrize(
    "what",
    ["wrong audience", "wrong issuer", "expired", "not yet valid", "no exp", "HS256", "none", "unknown kid",
     "no sub", "no roller", "roller not a list", "unknown role", "signature by another key"],
)
async def test_a_token_that_fails_a_check_is_401(server, issuer, what):
    c = issuer.claims
    tokens = {
        "wrong audience": lambda: issuer.token(c(**SB) | {"aud": "another-app"}),
        "wrong issuer": lambda: issuer.token(c(**SB) | {"iss": "https://evil.example"}),
        "expired": lambda: issuer.token(c(**SB) | {"exp": int(time.time()) - 60}),
        "not yet valid": lambda: issuer.token(c(**SB) | {"nbf": int(time.time()) + 120}),
        "no exp": lambda: issuer.token({k: v for k, v in c(**SB).items() if k != "exp"}),
        "HS256": lambda: jwt.encode(c(**SB), "s" * 32, algorithm="HS256", headers={"kid": issuer.signing_kid}),
        "none": lambda: jwt.encode(c(**SB), None, algorithm="none", headers={"kid": issuer.signing_kid}),
        "unknown kid": lambda: issuer.token(c(**SB), kid="nobody", key=issuer.new_key("ES256"), alg="ES256"),
        "no sub": lambda: issuer.sign({"roller": ["SAKSBEHANDLER"], "enheter": ["0315"]}),
        "no roller": lambda: issuer.sign({"sub": "Z990001", "enheter": ["0315"]}),
        "roller not a list": lambda: issuer.sign({"sub": "Z990001", "roller": "SAKSBEHANDLER", "enheter": ["0315"]}),
        "unknown role": lambda: issuer.sign({"sub": "Z990001", "roller": ["KONGE"], "enheter": ["0315"]}),
        "signature by another key": lambda: issuer.token(c(**SB), key=issuer.new_key("ES256"), alg="ES256"),
    }

    assert await _status(server, tokens[what]()) == 401


async def test_an_unknown_kid_refetches_the_jwks_at_most_once_a_minute(server, issuer):
    verifier: TokenVerifier = server.app.state.verifier
    verifier.fetched_at = None
    stranger = LocalIssuer(audience=issuer.audience)
    before = issuer.jwks_requests

    statuses = [await _status(server, issuer.token(issuer.claims(**SB), kid=stranger.signing_kid,
                                                   key=stranger.keys[stranger.signing_kid][1]))
                for _ in range(5)]

    assert statuses == [401] * 5
    assert issuer.jwks_requests - before == 1


async def test_group_ids_map_to_roles_and_offices(server, issuer):
    entra = {"NAVident": "Z990077", "sub": "opaque-subject", "groups": ["grp-sb-oslo", "an-unmapped-group"]}
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as c:
        me = await c.get("/konsoll/meg", headers={"Authorization": f"Bearer {issuer.sign(entra)}"})
        other = await c.get(f"{API}/frister", params={"enhet": "4601"},
                            headers={"Authorization": f"Bearer {issuer.sign(entra)}"})

    assert me.status_code == 200, me.text
    assert me.json()["ident"] == "Z990077"
    assert me.json()["roller"] == ["SAKSBEHANDLER"] and me.json()["enheter"] == ["0315"]
    assert other.status_code == 403
    assert await _status(server, issuer.sign({"sub": "Z1", "groups": ["an-unmapped-group"]})) == 401


async def test_the_dev_issuer_goes_through_the_same_verifier_and_serves_its_jwks(tmp_path: Path):
    settings = load_settings(environ={}, data_dir=tmp_path)
    verifier = verifier_for(settings)
    token = make_token(dev_issuer(settings), ident="Z990001", roller=["saksbehandler"], enheter=["0315"])

    claims = await verifier.verify(token)
    user = ClaimMapping(settings.auth).user(claims)

    assert isinstance(verifier, TokenVerifier)
    assert (claims["iss"], claims["aud"], jwt.get_unverified_header(token)["alg"]) == (DEV_ISSUER, DEV_AUDIENCE, "ES256")
    assert user is not None and user.ident == "Z990001" and user.enheter == ("0315",)
    # A key added under the data directory while the verifier runs is picked up (rotation without restart).
    DevIssuer(tmp_path).rotate()
    verifier.fetched_at = None
    rotated = make_token(dev_issuer(settings), ident="Z990002", roller=["revisor"], enheter=[])
    assert (await verifier.verify(rotated))["sub"] == "Z990002"
    with pytest.raises(TokenRefused):
        await verifier.verify(make_token(DevIssuer(tmp_path / "elsewhere"), ident="Z1", roller=["system"], enheter=[]))


def test_identity_settings_refuse_what_would_silently_weaken_them(tmp_path: Path):
    with pytest.raises(SettingsError, match="FORLOP_JWT_SECRET is no longer used"):
        load_settings(environ={"FORLOP_JWT_SECRET": "x" * 40}, data_dir=tmp_path)
    with pytest.raises(SettingsError, match="FORLOP_AUTH_AUDIENCE is required"):
        load_settings(environ={"FORLOP_AUTH_ISSUER": "https://issuer.example"}, data_dir=tmp_path)
    with pytest.raises(SettingsError, match="FORLOP_AUTH_GRUPPER"):
        load_settings(environ={"FORLOP_AUTH_ISSUER": "https://i", "FORLOP_AUTH_AUDIENCE": "a",
                               "FORLOP_AUTH_GRUPPER": '{"g": {"roller": ["KONGE"]}}'}, data_dir=tmp_path)
    with pytest.raises(SettingsError, match="FORLOP_AUTH_GRUPPER"):
        load_settings(environ={"FORLOP_AUTH_ISSUER": "https://i", "FORLOP_AUTH_AUDIENCE": "a",
                               "FORLOP_AUTH_GRUPPER": '{"g": {"rolle": ["SYSTEM"]}}'}, data_dir=tmp_path)
    with pytest.raises(SettingsError, match="FORLOP_AUTH_LEEWAY_SEKUNDER"):
        load_settings(environ={"FORLOP_AUTH_LEEWAY_SEKUNDER": "300"}, data_dir=tmp_path)
    auth = load_settings(environ={"FORLOP_AUTH_IDENT_CLAIM": "NAVident, oid"}, data_dir=tmp_path).auth
    assert auth.ident_claims == ("NAVident", "oid")
    assert AuthSettings().ident_claims == ("NAVident", "sub")
