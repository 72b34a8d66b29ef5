"""The limits of contract.md §2 at the edge, each a problem+json with the contract's status and code, never a 500:
body size (413), media type (415), nesting (400), string lengths (`maxLength`, 400 naming the field), strings that
hold nothing visible (missing), Idempotency-Key and If-Match formats (400), and 405 with `Allow`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import API, Server, Token, arbeidstrening, bearer, count_events, garanti, ny_ident


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    return shared_server


@pytest.fixture
def sb(token: Token) -> dict[str, str]:
    return bearer(token("saksbehandler", "0315"))


@pytest.fixture(scope="module")
async def lop(shared_server: Server) -> str:
    from api.identity import make_token

    headers = bearer(make_token(shared_server.settings.secret("jwt"), ident="Z990001", roller=["SAKSBEHANDLER"],
                                enheter=["0315"]))  # fmt: skip
    async with httpx.AsyncClient(base_url=shared_server.url, trust_env=False) as c:
        made = await c.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=headers)
    assert made.status_code == 201, made.text
    return str(made.headers["Location"])


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body


async def test_a_body_over_64_kib_is_413_payload_too_large_and_stores_nothing(client, sb, server) -> None:
    before = await count_events(server.database_url)
    body = json.dumps(arbeidstrening(ny_ident(), vedtak_ref="V" * 65 * 1024))
    assert_problem(await client.post(f"{API}/tiltakslop", content=body, headers=sb | {"Content-Type": "application/json"}),
                   413, "PAYLOAD_TOO_LARGE")  # fmt: skip
    assert await count_events(server.database_url) == before


@pytest.mark.parametrize("path", ["/tiltakslop", "/ungdomsgarantier", "/personer/oversikt"])
@pytest.mark.parametrize("depth", [33, 10_000])
async def test_json_nested_deeper_than_32_is_400(path, depth, client, sb) -> None:
    nested = "[" * depth + "]" * depth
    for body in (nested, '{"person": ' + nested + "}", '{"a":' * depth + "1" + "}" * depth):
        response = await client.post(API + path, content=body, headers=sb | {"Content-Type": "application/json"})
        assert_problem(response, 400, "INVALID_REQUEST")


async def test_nesting_on_a_command_on_a_case_is_400(client, sb, lop) -> None:
    body = '{"begrunnelse": ' + "[" * 10_000 + "]" * 10_000 + "}"
    response = await client.post(f"{lop}/korrigeringer", content=body, headers=sb | {"Content-Type": "application/json"})
    assert_problem(response, 400, "INVALID_REQUEST")


INVISIBLE = ["\u0000", "\u0000\u0000", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u200b\t", "\u00ad", "\u3164",
             "\u2800", "\u202e", "\u0001\u007f"]  # fmt: skip


@pytest.mark.parametrize("blank", INVISIBLE, ids=[repr(b) for b in INVISIBLE])
async def test_a_string_of_only_invisible_characters_counts_as_missing(blank, client, sb, lop, server) -> None:
    before = await count_events(server.database_url)
    assert_problem(await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident(), vedtak_ref=blank), headers=sb),
                   400, "INVALID_REQUEST")  # fmt: skip
    assert_problem(await client.post(f"{API}/ungdomsgarantier",
                                     json=garanti(ny_ident(), bistandsbehov_vedtak_ref=blank), headers=sb),
                   422, "NEED_ASSESSMENT_REQUIRED")  # fmt: skip
    assert_problem(await client.post(f"{lop}/annullering", json={"begrunnelse": blank}, headers=sb),
                   422, "BEGRUNNELSE_REQUIRED")  # fmt: skip
    assert await count_events(server.database_url) == before


async def test_a_string_over_its_max_length_is_400_naming_the_field(client, sb, lop, server) -> None:
    before = await count_events(server.database_url)
    cases = [
        (f"{lop}/annullering", {"begrunnelse": "x" * 4001}, "begrunnelse"),
        (f"{lop}/korrigeringer", {"vedtak_ref": "V" * 101, "begrunnelse": "b"}, "vedtak_ref"),
        (f"{API}/tiltakslop", arbeidstrening(ny_ident(), vedtak_ref="V" * 101), "vedtak_ref"),
        (f"{API}/tiltakslop", arbeidstrening(ny_ident(), tiltakstype="A" * 101), "tiltakstype"),
        (f"{API}/ungdomsgarantier", garanti(ny_ident(), bistandsbehov_vedtak_ref="R" * 101), "bistandsbehov_vedtak_ref"),
        (f"{API}/personer/oversikt", {"person": {"ident": "1" * 101, "fodselsdato": "1990-08-15"}}, "ident"),
    ]
    for url, body, field in cases:
        problem = assert_problem(await client.post(url, json=body, headers=sb), 400, "INVALID_REQUEST")
        assert field in json.dumps(problem), problem
    assert await count_events(server.database_url) == before
    accepted = await client.post(f"{lop}/korrigeringer", json={"vedtak_ref": "V" * 100, "begrunnelse": "b" * 4000},
                                 headers=sb)  # fmt: skip
    assert accepted.status_code == 200, accepted.text


async def test_every_string_of_a_request_body_has_a_max_length_in_the_openapi_document(client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    request_schemas = set()
    for item in document["paths"].values():
        for operation in item.values():
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            for ref in [schema, *schema.get("allOf", [])]:
                if "$ref" in ref:
                    request_schemas.add(ref["$ref"].rsplit("/", 1)[1])
    assert len(request_schemas) > 15, request_schemas
    seen, missing, strings = set(request_schemas), [], 0

    def is_text(schema: dict[str, Any]) -> bool:
        return schema.get("type") == "string" and schema.get("format") not in ("date", "date-time", "uuid")

    def walk(schema: dict[str, Any], where: str, alternative: bool = False) -> None:
        nonlocal strings
        if "$ref" in schema:
            target = schema["$ref"].rsplit("/", 1)[1]
            if target not in seen:
                seen.add(target)
                walk(schemas[target], target)
            return
        alternatives = schema.get("oneOf", []) + schema.get("anyOf", []) + schema.get("allOf", [])
        if not alternative and (is_text(schema) or any(is_text(a) for a in alternatives)):
            strings += 1
            bounded = ("maxLength", "enum")
            if not any(k in schema for k in bounded) and not any(k in a for a in alternatives for k in bounded):
                missing.append(where)
            for limit in [schema.get("maxLength"), *(a.get("maxLength") for a in alternatives)]:
                allowed = {"begrunnelse": 4000, "vertsbedrift": 200}.get(where.rsplit(".", 1)[-1], 100)
                assert limit is None or limit <= allowed, (where, schema)
        for sub in alternatives:
            walk(sub, where, alternative=True)
        for prop, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{prop}")
        if "items" in schema:
            walk(schema["items"], f"{where}[]")

    for name in sorted(request_schemas):
        walk(schemas[name], name)
    assert strings > 40
    assert not missing, missing


BAD_KEYS = ["", "k" * 201, "k" * 3000, "nøkkel", "a b", "tab\tkey", "\u200b"]


@pytest.mark.parametrize("key", BAD_KEYS, ids=[f"{len(k)}:{k[:8]!r}" for k in BAD_KEYS])
async def test_an_idempotency_key_that_is_not_1_to_200_visible_ascii_characters_is_400(key, client, sb, lop, server):
    before = await count_events(server.database_url)
    headers = {**sb, "Idempotency-Key": key.encode("utf-8")}
    assert_problem(await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=headers),
                   400, "INVALID_REQUEST")  # fmt: skip
    assert_problem(await client.post(f"{lop}/avkorting", json={"ny_tom": "2025-06-29"}, headers=headers),
                   400, "INVALID_REQUEST")  # fmt: skip
    assert await count_events(server.database_url) == before


async def test_an_idempotency_key_of_200_characters_is_accepted(client, sb) -> None:
    response = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()),
                                 headers=sb | {"Idempotency-Key": "~" + "K" * 198 + "!"})  # fmt: skip
    assert response.status_code == 201, response.text


BAD_IF_MATCH = ["9" * 4300, '"' + "9" * 5000 + '"', '"' + "9" * 20 + '"', "abc", '"-1"', '"1.0"', '"1', '""', "W/",
                '"١"']  # fmt: skip


@pytest.mark.parametrize("value", BAD_IF_MATCH, ids=[f"{len(v)}:{v[:8]!r}" for v in BAD_IF_MATCH])
async def test_an_if_match_that_is_not_a_quoted_version_is_400(value, client, sb, lop) -> None:
    headers = {**sb, "If-Match": value.encode("utf-8")}
    assert_problem(await client.post(f"{lop}/avkorting", json={"ny_tom": "2025-06-29"}, headers=headers),
                   400, "INVALID_REQUEST")  # fmt: skip


MEDIA_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
               "application/xml", "application/jsonx", "text/json"]  # fmt: skip


@pytest.mark.parametrize("media_type", MEDIA_TYPES)
async def test_a_body_that_is_not_application_json_is_415(media_type, client, sb, lop, server) -> None:
    before = await count_events(server.database_url)
    body = json.dumps(arbeidstrening(ny_ident()))
    for url, content in ((f"{API}/tiltakslop", body), (f"{lop}/avkorting", '{"ny_tom": "2025-06-29"}'),
                         (f"{API}/personer/oversikt", '{"person": {"ident": "15885000093", "fodselsdato": "1990-08-15"}}')):
        response = await client.post(url, content=content, headers=sb | {"Content-Type": media_type})
        assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await count_events(server.database_url) == before


async def test_json_with_a_charset_is_accepted(client, sb) -> None:
    body = json.dumps(arbeidstrening(ny_ident()))
    response = await client.post(f"{API}/tiltakslop", content=body,
                                 headers=sb | {"Content-Type": "application/json; charset=utf-8"})  # fmt: skip
    assert response.status_code == 201, response.text


async def test_a_method_a_path_does_not_serve_is_405_with_allow(client, sb, lop) -> None:
    for method, url, allowed in (("PUT", f"{API}/tiltakslop", "POST"), ("DELETE", lop, "GET"),
                                 ("PATCH", f"{lop}/avkorting", "POST")):  # fmt: skip
        response = await client.request(method, url, headers=sb)
        assert_problem(response, 405, "METHOD_NOT_ALLOWED")
        assert allowed in [m.strip() for m in response.headers["Allow"].split(",")]
