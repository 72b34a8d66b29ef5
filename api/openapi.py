"""The OpenAPI document's configuration and its documentation pages under `/schema`, with nothing from outside.

Redoc (`/schema`, `/schema/redoc`), Swagger UI (`/schema/swagger`), Stoplight Elements (`/schema/elements`)
and RapiDoc (`/schema/rapidoc`) are Litestar's render plugins, given the URLs of their scripts and styles
under `/schema/assets/`, which this app serves from `api/docs_assets/` (the files of the pinned npm packages
named in `ASSETS`, shipped inside the Python package). No page loads a font, an icon or a script from another
host: Redoc without its Google fonts, RapiDoc without its font loader, an empty inline favicon instead of
Litestar's default (which is on a CDN), and a Content-Security-Policy that holds every page to this origin. `make docs-assets` fetches the packages again with `npm pack`;
tests/e2e/test_openapi.py checks the files against the digests below.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import ResponseHeader
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    RapidocRenderPlugin,
    RedocRenderPlugin,
    StoplightRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.openapi.spec import Components, License, SecurityScheme
from litestar.static_files import create_static_files_router

SCHEMA_PATH = "/schema"
ASSETS_PATH = "/assets"
ASSETS_DIR = Path(__file__).resolve().parent / "docs_assets"
BEARER = "BearerToken"  # the name of the bearer scheme in the document (api/identity.py verifies the tokens)
NO_FAVICON = '<link rel="icon" href="data:,">'
# The pages may load from this origin only. Redoc's sidebar always shows a logo from its CDN (no option turns
# it off): the policy refuses it and Redoc hides the image. Litestar's templates start the viewers in inline
# scripts and the viewers set inline styles, hence 'unsafe-inline' for those two; Redoc searches in a worker.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One npm package's files under `api/docs_assets/<folder>/`: `files` maps each name to its sha256."""

    package: str
    version: str
    folder: str
    source: str  # the folder inside the package's tarball
    files: dict[str, str]

    def url(self, name: str) -> str:
        return f"{SCHEMA_PATH}{ASSETS_PATH}/{self.folder}/{name}"


REDOC = Asset("redoc", "2.5.4", "redoc-2.5.4", "bundles", {
    "redoc.standalone.js": "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b",
    "redoc.standalone.js.LICENSE.txt": "eed602ec32e00b2b9df1984fbcc26a687b1b3193ec01961389c4b8439e6edf73",
})
SWAGGER = Asset("swagger-ui-dist", "5.35.0", "swagger-ui-5.35.0", "", {
    "swagger-ui-bundle.js": "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
    "swagger-ui-bundle.js.LICENSE.txt": "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb",
    "swagger-ui-standalone-preset.js": "5243d492e14505e0cab87ac8b0195d0e615943e651743b2b698450a46eb470be",
    "swagger-ui-standalone-preset.js.LICENSE.txt": "000580e4e2255ea6ccde0c47f6d75e2f703a1931298fde58756793b67c0daed9",
    "swagger-ui.css": "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
    "NOTICE": "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
})
ELEMENTS = Asset("@stoplight/elements", "9.0.25", "elements-9.0.25", "", {
    "web-components.min.js": "2cb7bb60bbf2846e077e2bd8357a61785120a1ab657885d482a6bd37b034c709",
    "web-components.min.js.LICENSE.txt": "58b2f880c6e49cc6eb9ef1b8752a22db028c373c3acf6f7ebeb1d6316c7c3294",
    "styles.min.css": "062127db60930e408a1598797004dfcd14742b83a059ed6b381f08d42c4b4d3c",
})
RAPIDOC = Asset("rapidoc", "9.3.8", "rapidoc-9.3.8", "dist", {
    "rapidoc-min.js": "affbd173a65e870e18f392cca963113bcdafb6e50e88cd2f6a834a65b22db94d",
    "rapidoc-min.js.LICENSE.txt": "b6366d212427ca41732dd93ce56a47ceaf7a0902edc2e90b22ca6a9d6feff20e",
})
ASSETS = (REDOC, SWAGGER, ELEMENTS, RAPIDOC)
"""Each folder also holds the package's LICENSE (LICENSE.txt for RapiDoc), copied from the tarball's root."""


class LocalRapidocRenderPlugin(RapidocRenderPlugin):
    """RapiDoc with `load-fonts="false"`: its own loader would fetch Open Sans from a font CDN.

    Litestar's template has no option for it; `render` is the documented place to change the template."""

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        page = super().render(request, openapi_schema)
        return page.replace(b"<rapi-doc ", b'<rapi-doc load-fonts="false" ', 1)


def render_plugins() -> list[Any]:
    common: dict[str, Any] = {"favicon": NO_FAVICON}
    return [
        RedocRenderPlugin(
            js_url=REDOC.url("redoc.standalone.js"), google_fonts=False, path=["/", "/redoc"], **common
        ),
        SwaggerRenderPlugin(
            js_url=SWAGGER.url("swagger-ui-bundle.js"),
            css_url=SWAGGER.url("swagger-ui.css"),
            standalone_preset_js_url=SWAGGER.url("swagger-ui-standalone-preset.js"),
            path="/swagger",
            **common,
        ),
        StoplightRenderPlugin(
            js_url=ELEMENTS.url("web-components.min.js"), css_url=ELEMENTS.url("styles.min.css"),
            path="/elements", **common,
        ),
        LocalRapidocRenderPlugin(js_url=RAPIDOC.url("rapidoc-min.js"), path="/rapidoc", **common),
        JsonRenderPlugin(path="/openapi.json"),
        YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"]),
    ]


def openapi_config() -> OpenAPIConfig:
    """The document's metadata, its bearer scheme, and the pages with their assets."""
    assets = create_static_files_router(
        path=ASSETS_PATH, directories=[ASSETS_DIR], include_in_schema=False, name="docs-assets"
    )
    return OpenAPIConfig(
        title="Forløp",
        version="1.0.0",
        description="Case lifecycles for NAV's labour-market measures and the youth guarantee (contract.md).",
        license=License(name="MIT", identifier="MIT"),
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="An access token of the instance's OpenID Connect issuer (RS256/ES256; NAVident or sub, "
                    "roles and offices; contract.md §1 and §2).",
                )
            }
        ),
        security=[{BEARER: []}],
        render_plugins=render_plugins(),
        openapi_router=Router(
            SCHEMA_PATH,
            route_handlers=[assets],
            include_in_schema=False,
            response_headers=[ResponseHeader(name="Content-Security-Policy", value=CSP)],
        ),
    )
