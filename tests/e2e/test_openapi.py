"""The OpenAPI document and the documentation pages under /schema, against the running app.

- The document validates with openapi-spec-validator (the bearer scheme carries no `name`), every schema
  title is unique, every code set of the rule catalogue is an `enum` with exactly the domain's codes, and
  every command documents request examples.
- Redoc, Swagger UI, Elements and RapiDoc reference only paths of this instance, and each script and style
  they load is served here, byte for byte the pinned package's file (api/openapi.py's digests).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from api.openapi import ASSETS, ASSETS_DIR, SCHEMA_PATH
from domain import katalog, koder
from domain.common import Malgruppe, SamtykkeForeldre
from tests.e2e.conftest import Server

PAGES = ("", "/redoc", "/swagger", "/elements", "/rapidoc")


@pytest.fixture
def server(shared_server: Server) -> Server:
    return shared_server


@pytest.fixture(scope="module")
async def document(shared_server: Server) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=shared_server.url, trust_env=False, timeout=30) as c:
        r = await c.get(f"{SCHEMA_PATH}/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


async def test_the_document_validates_with_openapi_spec_validator(document: dict[str, Any]) -> None:
    validate(document)

    bearer = document["components"]["securitySchemes"]["BearerToken"]
    assert bearer == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": bearer["description"]}
    assert document["security"] == [{"BearerToken": []}]


async def test_every_schema_title_is_unique(document: dict[str, Any]) -> None:
    titles = Counter(s.get("title", name) for name, s in document["components"]["schemas"].items())

    assert [t for t, n in titles.items() if n > 1] == []
    assert "Aktor" in titles  # history and the envelope share one


CODE_SETS: list[tuple[str, str, type[StrEnum]]] = [
    ("InnvilgLop", "tiltakstype", katalog.Tiltakstype),
    ("InnvilgLop", "variant", katalog.Variant),
    ("InnvilgLop", "malgruppe", Malgruppe),
    ("InnvilgLop", "samtykke_foreldre", SamtykkeForeldre),
    ("InnvilgLop", "stillingstype", katalog.Stillingstype),
    ("NyttLop", "tiltakstype", katalog.Tiltakstype),
    ("Forleng", "aarsak", katalog.Forlengelsesaarsak),
    ("EndreMalgruppe", "ny_malgruppe", Malgruppe),
    ("RegistrerVurdering", "type", katalog.Vurderingstype),
    ("InnvilgPermisjon", "type", katalog.Permisjonstype),
    ("AvsluttLop", "aarsak", katalog.Avslutningsaarsak),
    ("KorrigerLop", "aarsak", katalog.Avslutningsaarsak),
    ("KorrigerLop", "malgruppe", Malgruppe),
    ("KorrigerLop", "variant", katalog.Variant),
    ("RegistrerSamtale", "kanal", koder.Kanal),
    ("KobleAktivitet", "kind", koder.AktivitetKind),
    ("AvsluttGaranti", "aarsak", koder.Avslutningsaarsak),
    ("KorrigerGaranti", "aarsak", koder.Avslutningsaarsak),
]


@pytest.mark.parametrize(("schema", "field", "codes"), CODE_SETS, ids=[f"{s}.{f}" for s, f, _ in CODE_SETS])
async def test_every_code_set_of_the_catalogue_is_an_enum(
    document: dict[str, Any], schema: str, field: str, codes: type[StrEnum]
) -> None:
    prop = document["components"]["schemas"][schema]["properties"][field]

    assert prop["enum"] == [*sorted(str(c) for c in codes), None]


async def test_every_command_documents_request_examples(document: dict[str, Any]) -> None:
    missing = []
    for path, item in document["paths"].items():
        post = item.get("post")
        if not path.startswith("/api/v1/") or post is None or "requestBody" not in post:
            continue
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        if not schema.get("examples"):
            missing.append(path)

    assert missing == []


class _Links(HTMLParser):
    """Every URL a page names: src, href, spec-url and apiDescriptionUrl attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.lower() in ("src", "href", "spec-url", "apidescriptionurl") and value is not None:
                self.urls.append(value)


@pytest.fixture(scope="module")
async def http(shared_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shared_server.url, trust_env=False, timeout=30) as c:
        yield c


@pytest.mark.parametrize("page", PAGES)
async def test_a_documentation_page_loads_nothing_from_another_host(http: httpx.AsyncClient, page: str) -> None:
    r = await http.get(f"{SCHEMA_PATH}{page}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    links = _Links()
    links.feed(r.text)

    assert links.urls, "the page names no script"
    for url in links.urls:
        parts = urlsplit(url)
        assert parts.scheme in ("", "data") and not parts.netloc, f"{page or '/'} names {url}"
    assert "googleapis" not in r.text and "unpkg.com" not in r.text and "jsdelivr" not in r.text
    for url in (u for u in links.urls if u.startswith(f"{SCHEMA_PATH}/assets/")):
        asset = await http.get(url)
        assert asset.status_code == 200, url


async def test_every_asset_is_served_as_the_pinned_package_has_it(http: httpx.AsyncClient) -> None:
    for asset in ASSETS:
        for name, digest in asset.files.items():
            r = await http.get(asset.url(name))

            assert r.status_code == 200, asset.url(name)
            assert hashlib.sha256(r.content).hexdigest() == digest, f"{asset.folder}/{name}"
        assert any((ASSETS_DIR / asset.folder / lic).is_file() for lic in ("LICENSE", "LICENSE.txt"))


def test_the_asset_folder_holds_only_the_pinned_files() -> None:
    expected = {f"{a.folder}/{name}" for a in ASSETS for name in a.files}
    licences = {f"{a.folder}/{p.name}" for a in ASSETS for p in (ASSETS_DIR / a.folder).glob("LICENSE*")}

    present = {str(p.relative_to(ASSETS_DIR)) for p in ASSETS_DIR.rglob("*") if p.is_file()}

    assert present == expected | licences


def _examples(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every request example and every answer example of the document."""
    for path, item in document["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                for i, example in enumerate(body["schema"].get("examples") or []):
                    yield f"{method.upper()} {path} request #{i}", body["schema"], example
            for status, answer in op.get("responses", {}).items():
                for media, content in (answer.get("content") or {}).items():
                    for name, example in (content.get("examples") or {}).items():
                        if "value" in example:
                            yield f"{method.upper()} {path} {status} {media} {name}", content["schema"], example["value"]


async def test_every_example_validates_against_its_schema(document: dict[str, Any]) -> None:
    failures = []
    count = 0
    for where, schema, example in _examples(document):
        count += 1
        root = {k: v for k, v in schema.items() if k != "examples"} | {"components": document["components"]}
        for error in Draft202012Validator(root).iter_errors(example):
            failures.append(f"{where}: {error.json_path}: {error.message[:160]}")

    assert count > 50
    assert failures == [], "\n".join(failures[:30])
