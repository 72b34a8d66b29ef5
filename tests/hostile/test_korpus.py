"""A bounded hostile-input corpus over every route of the app's OpenAPI document: deep nesting, huge and invisible
strings, bodies that are not JSON or not UTF-8, wrong media types, bad headers, bad ids and bad queries. No answer
is a 5xx, and every refusal under /api/v1 is problem+json with a `code` (contract.md §2 "Limits")."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from uuid import uuid4

import httpx
import pytest

from api.identity import make_token
from tests.e2e.conftest import API, Server, arbeidstrening, bearer, garanti, ny_ident

DEEP = "[" * 10_000 + "]" * 10_000
HUGE = "x" * 60_000
STRINGS = ["", "\u0000", "\u200b\u2060\ufeff", "a\u0000b", "\ud7ff\ue000\U0010ffff", "15085012344", HUGE[:5000],
           "'; DROP TABLE forlop_events; --", "<script>alert(1)</script>", "../../etc/passwd", "%00", "\u202e"]  # fmt: skip
BODIES: list[tuple[str, bytes, str]] = [
    ("deep array", DEEP.encode(), "application/json"),
    ("deep object", ('{"a":' * 5000 + "1" + "}" * 5000).encode(), "application/json"),
    ("deep in a field", ('{"person": ' + DEEP + "}").encode(), "application/json"),
    ("over 64 KiB", json.dumps({"begrunnelse": "x" * 70_000}).encode(), "application/json"),
    ("not UTF-8", b'{"begrunnelse": "\xff\xfe"}', "application/json"),
    ("a lone surrogate", b'{"begrunnelse": "\\ud800"}', "application/json"),
    ("null", b"null", "application/json"),
    ("a number", b"1e999999", "application/json"),
    ("a string", b'"x"', "application/json"),
    ("truncated", b'{"person": {"ident": ', "application/json"),
    ("duplicate keys", b'{"begrunnelse": "a", "begrunnelse": "b"}', "application/json"),
    ("text/plain", b'{"begrunnelse": "x"}', "text/plain"),
    ("form", b"begrunnelse=x", "application/x-www-form-urlencoded"),
    ("no media type", b'{"begrunnelse": "x"}', ""),
    ("garbage media type", b'{"begrunnelse": "x"}', "\u00ff/\u00ff; ;;="),
]
HEADERS: list[tuple[str, dict[str, bytes]]] = [
    ("huge Idempotency-Key", {"Idempotency-Key": b"k" * 3000}),
    ("non-ASCII Idempotency-Key", {"Idempotency-Key": "nøkkel".encode()}),
    ("If-Match of 4,300 digits", {"If-Match": b"9" * 4300}),
    ("If-Match not a version", {"If-Match": b'"abc"'}),
    ("If-None-Match of 4,300 digits", {"If-None-Match": b"9" * 4300}),
    ("huge correlation id", {"X-Correlation-ID": b"c" * 8000}),
    ("garbage Authorization", {"Authorization": b"Bearer \xff\xfe" + b"." * 3000}),
    ("Authorization without scheme", {"Authorization": b"15085012344"}),
]
BAD_IDS = ["not-a-uuid", "x" * 3000, "15085012344", "00000000-0000-0000-0000-000000000000", "%00", "..%2f..%2f"]
QUERY_VALUES = ["", "0", "-1", "9" * 4300, "2025-02-30", "9999-12-31T23:59:59Z", "x" * 3000, "\u0000", "15085012344",
                "[]", "%"]  # fmt: skip


def assert_answer(response: httpx.Response, what: str, seen: Counter[int]) -> None:
    seen[response.status_code] += 1
    path = response.request.url.path
    ready = path == "/health/ready" and response.status_code == 503
    assert response.status_code < 500 or ready, f"{what}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400 and (path.startswith(API) or response.status_code in (404, 405, 413, 415)):
        assert response.headers.get("content-type", "").startswith("application/problem+json"), (what, response.text[:300])
        assert response.json().get("code"), (what, response.text[:300])


def _fill(template: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        template = template.replace("{" + name + "}", value)
    return template


def _example(operation: dict[str, Any]) -> Any:
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    examples = schema.get("examples") or []
    return examples[0] if examples else {}


def _string_fields(body: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(body, dict):
        return []
    out: list[tuple[str, ...]] = []
    for key, value in body.items():
        if isinstance(value, dict):
            out += _string_fields(value, (*prefix, key))
        elif isinstance(value, str):
            out.append((*prefix, key))
    return out


def _with(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    return shared_server


async def test_no_hostile_request_to_any_route_is_a_server_error_and_every_refusal_is_problem_json(
    server: Server,
) -> None:
    seen: Counter[int] = Counter()
    secret = server.settings.secret("jwt")
    sb = bearer(make_token(secret, ident="Z990001", roller=["SAKSBEHANDLER"], enheter=["0315"]))
    system = bearer(make_token(secret, ident="S990001", roller=["SYSTEM"], enheter=[]))
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as c:
        document = (await c.get("/schema/openapi.json")).json()
        lop = await c.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=sb)
        ug = await c.post(f"{API}/ungdomsgarantier", json=garanti(ny_ident(), fodselsdato="2004-04-04"), headers=sb)
        assert lop.status_code == ug.status_code == 201
        real = {"lop_id": lop.json()["id"], "garanti_id": ug.json()["id"]}
        unknown = {"lop_id": str(uuid4()), "garanti_id": str(uuid4())}
        operations = [
            (method.upper(), path, operation)
            for path, item in document["paths"].items()
            for method, operation in item.items()
            if method in ("get", "post", "put", "patch", "delete") and not path.startswith("/schema")
        ]
        assert len(operations) > 30

        for method, template, operation in operations:
            url = _fill(template, real)
            example = _example(operation)
            for caller in (sb, system):
                if method == "POST":
                    for what, content, media_type in BODIES:
                        headers = {**caller, **({"Content-Type": media_type.encode("latin-1")} if media_type else {})}
                        response = await c.request(method, url, content=content, headers=headers)
                        assert_answer(response, f"{method} {template} {what}", seen)
                    for field in _string_fields(example)[:8]:
                        for value in STRINGS:
                            body = _with(example, field, value)
                            response = await c.request(method, url, json=body, headers=caller)
                            assert_answer(response, f"{method} {template} {'.'.join(field)}={value[:20]!r}", seen)
                for what, extra in HEADERS:
                    headers = {**caller, **extra}
                    kwargs: dict[str, Any] = {"json": example} if method == "POST" else {}
                    response = await c.request(method, url, headers=headers, **kwargs)
                    assert_answer(response, f"{method} {template} {what}", seen)
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") != "query":
                        continue
                    for value in QUERY_VALUES:
                        if parameter["name"] == "min_posisjon" and value.isdigit() and len(value) < 19:
                            continue  # a position ahead of the views: 503 VIEWS_BEHIND after 5 s, as documented
                        response = await c.request(method, url, params={parameter["name"]: value}, headers=caller)
                        assert_answer(response, f"{method} {template} ?{parameter['name']}={value[:20]!r}", seen)
                    response = await c.request(method, url, params=[(parameter["name"], "1")] * 200, headers=caller)
                    assert_answer(response, f"{method} {template} ?{parameter['name']} x200", seen)
            if "{" in template:
                response = await c.request(method, _fill(template, unknown), json=example, headers=system)
                assert_answer(response, f"{method} {template} unknown id", seen)
                for bad in BAD_IDS:
                    bad_url = template
                    for name in ("lop_id", "garanti_id"):
                        bad_url = bad_url.replace("{" + name + "}", bad)
                    response = await c.request(method, bad_url, json=example, headers=system)
                    assert_answer(response, f"{method} {template} id={bad[:20]!r}", seen)
            for other in ("PUT", "PATCH", "DELETE"):
                if other.lower() not in document["paths"][template]:
                    response = await c.request(other, url, headers=sb)
                    assert_answer(response, f"{other} {template}", seen)
                    if template.startswith(API):
                        assert response.status_code == 405 and response.headers.get("allow"), response.headers
    print(f"\nhostile corpus: {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}")
    assert sum(seen.values()) > 2000
