"""Authorisation over real HTTP: every endpoint of contract.md §2 that the app serves, and the open ones of §1,
against every kind of caller (contract.md §2: 401 without a valid token, 403 outside one's role or offices,
checked before the body is judged; REVISOR reads everything and writes nothing; SYSTEM may do everything)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.app import create_app
from store.settings import load_settings
from tests.e2e.conftest import API, Server, arbeidstrening, garanti, ny_ident, person

# The cases all belong to NAV office 0315 (Oslo); the "other office" is 4601 (Bergen).
#
# endpoint                             no token  REVISOR  SB 4601  SB 0315  SYSTEM
MATRIX: list[tuple[str, int, int, int, int, int]] = [
    ("POST /tiltakslop",                    401,     403,     403,     201,     201),
    ("POST /tiltakslop/{lop}/forlengelser", 401,     403,     403,     200,     200),
    ("POST /tiltakslop/{lop}/forlengelser past the cap", 401, 403, 403, 422,   422),
    ("POST /tiltakslop/{lop}/avkorting",    401,     403,     403,     200,     200),
    ("POST /tiltakslop/{lop}/malgruppe",    401,     403,     403,     200,     200),
    ("POST /tiltakslop/{aft}/vurderinger",  401,     403,     403,     200,     200),
    ("POST /tiltakslop/{vlt}/tilskuddssats", 401,    403,     403,     200,     200),
    ("POST /tiltakslop/{vta}/permisjoner",  401,     403,     403,     200,     200),
    ("POST /tiltakslop/{lop}/avslutning",   401,     403,     403,     200,     200),
    ("POST /tiltakslop/{aft}/overgang",     401,     403,     403,     201,     201),
    ("POST /tiltakslop/{lop}/annullering",  401,     403,     403,     200,     200),
    ("POST /tiltakslop/{lop}/korrigeringer", 401,    403,     403,     200,     200),
    ("POST /ungdomsgarantier",              401,     403,     403,     201,     201),
    ("POST /ungdomsgarantier/{ug}/kontaktperson", 401, 403,   403,     200,     200),
    ("POST /ungdomsgarantier/{ug}/samtaler", 401,    403,     403,     200,     200),
    ("POST /ungdomsgarantier/{ug}/aktiviteter", 401, 403,     403,     200,     200),
    ("POST /ungdomsgarantier/{ug}/avslutning", 401,  403,     403,     200,     200),
    ("POST /ungdomsgarantier/{ug}/korrigeringer", 401, 403,   403,     200,     200),
    ("GET /tiltakslop/{lop}",               401,     200,     403,     200,     200),
    ("GET /tiltakslop/{lop}/historikk",     401,     200,     403,     200,     200),
    ("GET /tiltakslop/{lop}/forlengelse",   401,     200,     403,     200,     200),
    ("GET /ungdomsgarantier/{ug}",          401,     200,     403,     200,     200),
    ("GET /ungdomsgarantier/{ug}/historikk", 401,    200,     403,     200,     200),
    ("GET /tiltakslop/{lop}/historikk/eksport?format=html", 401, 200, 403, 200,  200),
    ("GET /ungdomsgarantier/{ug}/historikk/eksport", 401, 200,   403,     200,     200),
    ("POST /personer/oversikt",             401,     200,     200,     200,     200),  # SB 4601: empty lists
    ("POST /personer/glem",                 401,     403,     403,     403,     200),  # erasure: SYSTEM only
    ("GET /frister",                        401,     200,     200,     200,     200),  # SB: own offices only
    ("GET /frister?enhet=0315",             401,     200,     403,     200,     200),
    ("GET /varsler",                        401,     200,     200,     200,     200),  # SB: own offices only
    ("GET /varsler?enhet=0315",             401,     200,     403,     200,     200),
    ("GET /hendelser",                      401,     200,     403,     403,     200),  # REVISOR and SYSTEM
    ("GET /revisjon/verifisering",          401,     200,     403,     403,     403),  # REVISOR only
    ("GET /revisjon/innsyn",                401,     200,     403,     403,     403),
    ("GET /health/live",                    200,     200,     200,     200,     200),
    ("GET /health/ready",                   200,     200,     200,     200,     200),
    ("GET /metrics",                        200,     200,     200,     200,     200),
    ("GET /schema",                         200,     200,     200,     200,     200),
    ("GET /schema/openapi.json",            200,     200,     200,     200,     200),
    ("GET /konsoll/config.json",            200,     200,     200,     200,     200),  # the console's sign-in mode
    ("POST /konsoll/dev-token",             404,     404,     404,     404,     404),  # a key from configuration: no dev issuer
    ("GET /konsoll/meg",                    401,     200,     200,     200,     200),
    ("GET /dev-issuer/.well-known/openid-configuration", 200, 200, 200, 200, 200),  # no FORLOP_AUTH_ISSUER
    ("GET /dev-issuer/jwks.json",           200,     200,     200,     200,     200),
]
CALLERS = ("no token", "REVISOR", "SB 4601", "SB 0315", "SYSTEM")

BODIES: dict[str, dict[str, Any]] = {
    "POST /tiltakslop": {},  # filled in per call: a fresh person
    "POST /tiltakslop/{lop}/forlengelser": {"ny_tom": "2025-09-30", "aarsak": "BEHOV_VIDERE"},
    "POST /tiltakslop/{lop}/forlengelser past the cap": {"ny_tom": "2027-01-01", "aarsak": "NEDSATT_ARBEIDSEVNE"},
    "POST /tiltakslop/{lop}/avkorting": {"ny_tom": "2025-05-31"},
    "POST /tiltakslop/{lop}/malgruppe": {"ny_malgruppe": "ARBEIDSSOKER", "fom": "2025-03-01", "vedtak_ref": "V-2"},
    "POST /tiltakslop/{aft}/vurderinger": {"dato": "2025-03-01", "type": "AFT_STATUS_PROGRESJON", "utfall": "FORTSETTER"},
    "POST /tiltakslop/{vlt}/tilskuddssats": {"prosent": 70, "fom": "2025-03-01"},
    "POST /tiltakslop/{vta}/permisjoner": {"fom": "2025-04-01", "tom": "2025-06-30", "type": "HOSPITERING"},
    "POST /tiltakslop/{lop}/avslutning": {"sluttdato": "2025-03-31", "aarsak": "FULLFORT"},
    "POST /tiltakslop/{aft}/overgang": {
        "sluttdato": "2025-03-31",
        "til": {k: v for k, v in arbeidstrening(fom="2025-04-01", tom="2025-12-31").items() if k != "person"},
    },
    "POST /tiltakslop/{lop}/annullering": {"begrunnelse": "feil"},
    "POST /tiltakslop/{lop}/korrigeringer": {"vedtak_ref": "V-3", "begrunnelse": "skrivefeil"},
    "POST /ungdomsgarantier": {},  # filled in per call
    "POST /ungdomsgarantier/{ug}/kontaktperson": {"nav_ident": "Z123456", "fom": "2025-01-10"},
    "POST /ungdomsgarantier/{ug}/samtaler": {"dato": "2025-02-10", "kanal": "TELEFON"},
    "POST /ungdomsgarantier/{ug}/aktiviteter": {"kind": "ARBEID", "fom": "2025-02-01"},
    "POST /ungdomsgarantier/{ug}/avslutning": {"tom": "2025-03-01", "aarsak": "FLYTTET_UTLAND"},
    "POST /ungdomsgarantier/{ug}/korrigeringer": {"bistandsbehov_vedtak_ref": "14A-2", "begrunnelse": "ny ref"},
    "POST /konsoll/dev-token": {"rolle": "saksbehandler", "enheter": ["0315"]},
}
_UTENFOR_API = ("/health", "/metrics", "/schema", "/konsoll", "/dev-issuer")
# The console's files (app shell and assets: tests/console), like the OpenAPI viewers, are not in the table.
_KONSOLL_API = {"/konsoll/config.json", "/konsoll/dev-token", "/konsoll/meg"}


def _route(endpoint: str) -> tuple[str, str]:
    """`POST /tiltakslop/{lop}/avkorting past the cap` → ("POST", "/api/v1/tiltakslop/{}/avkorting")."""
    method, template = endpoint.split(" ")[:2]
    path = re.sub(r"\{[^}]*\}", "{}", template.split("?")[0])
    return method, path if path.startswith(_UTENFOR_API) else API + path


def _served() -> set[tuple[str, str]]:
    """The (method, path) pairs the app serves, besides the OpenAPI viewers under /schema/."""
    app = create_app(load_settings(environ={"DATABASE_URL": "postgresql://unused/x", "FORLOP_JWT_SECRET": "s" * 32}))
    served = set()
    for route in app.routes:
        path = re.sub(r"\{[^}]*\}", "{}", route.path)
        if path.startswith("/schema/") and path != "/schema/openapi.json":
            continue
        if path.startswith("/konsoll") and path not in _KONSOLL_API:
            continue
        served |= {(m, path) for m in getattr(route, "methods", ()) if m not in ("OPTIONS", "HEAD")}
    return served


SERVED = _served()


def _params() -> list[Any]:
    return [
        pytest.param(endpoint, caller, status, id=f"{endpoint} | {caller} -> {status}")
        for endpoint, *expected in MATRIX
        for caller, status in zip(CALLERS, expected, strict=True)
    ]


def test_the_app_serves_every_endpoint_of_the_contract_in_the_table():
    listed = {_route(endpoint) for endpoint, *_ in MATRIX}

    missing = listed - SERVED

    assert not missing, f"contract.md §2 endpoints the app does not serve: {sorted(missing)}"


def test_the_table_names_every_endpoint_the_app_serves():
    listed = {_route(endpoint) for endpoint, *_ in MATRIX}

    unlisted = SERVED - listed

    assert not unlisted, f"add these endpoints to MATRIX with the status each caller gets: {sorted(unlisted)}"


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    return shared_server


@pytest.fixture
def callers(token) -> dict[str, dict[str, str]]:
    def bearer(tok: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tok}"}

    return {
        "no token": {},
        "REVISOR": bearer(token("revisor")),
        "SB 4601": bearer(token("saksbehandler", "4601")),
        "SB 0315": bearer(token("saksbehandler", "0315")),
        "SYSTEM": bearer(token("system")),
    }


async def _cases(client, system: dict[str, str], ident: str, needs: list[str]) -> dict[str, str]:
    """Fresh cases of office 0315 (the løp for the person `ident`), so that every call acts on its own."""
    grants = {
        "lop": ("/tiltakslop", arbeidstrening(ident)),
        "aft": ("/tiltakslop", arbeidstrening(ny_ident(), tiltakstype="AFT")),
        "vlt": ("/tiltakslop", arbeidstrening(ny_ident(), tiltakstype="VARIG_LONNSTILSKUDD", tom=None)),
        "vta": ("/tiltakslop", arbeidstrening(ny_ident(), tiltakstype="VTA", tom=None)),
        "ug": ("/ungdomsgarantier", garanti(ny_ident())),
    }
    made = {name: await client.post(API + grants[name][0], json=grants[name][1], headers=system) for name in needs}
    assert all(r.status_code == 201 for r in made.values()), [r.text for r in made.values()]
    return {name: r.json()["id"] for name, r in made.items()}


@pytest.mark.parametrize("endpoint,caller,expected", _params())
async def test_each_endpoint_answers_each_kind_of_caller_as_the_contract_says(
    endpoint, caller, expected, client, system, callers
):
    method, template = endpoint.split(" ")[:2]
    params = None
    if "?" in template:
        template, query = template.split("?")
        params = dict(p.split("=") for p in query.split("&"))
    needs = [name for name in ("lop", "aft", "vlt", "vta", "ug") if "{" + name + "}" in template]
    ident = ny_ident()
    if template.startswith("/personer/"):
        needs = ["lop"]
    ids = await _cases(client, system, ident, needs)
    path = template.format(**ids)
    url = path if template.startswith(_UTENFOR_API) else API + path
    body = BODIES.get(endpoint)
    if endpoint == "POST /tiltakslop":
        body = arbeidstrening(ny_ident())
    elif endpoint == "POST /ungdomsgarantier":
        body = garanti(ny_ident())
    elif endpoint in ("POST /personer/oversikt", "POST /personer/glem"):
        body = {"person": person(ident)}

    response = await client.request(
        method, url, params=params, json=body if method == "POST" else None, headers=callers[caller]
    )

    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == {401: "UNAUTHENTICATED", 403: "FORBIDDEN"}.get(expected, response.json()["code"])
    if endpoint == "POST /personer/oversikt" and expected == 200:
        seen = response.json()["tiltakslop"]
        assert [x["id"] for x in seen] == ([] if caller == "SB 4601" else [ids["lop"]])


async def test_a_saksbehandler_sees_only_its_own_offices_cases_in_the_person_overview(client, token, system):
    ident = ny_ident()
    oslo = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ident), headers=system)
    bergen = await client.post(
        f"{API}/tiltakslop",
        json=arbeidstrening(ident, fom="2025-07-01", tom="2025-12-31", nav_enhet="4601"),
        headers=system,
    )
    bergen_ug = await client.post(
        f"{API}/ungdomsgarantier", json=garanti(ident, fodselsdato="2000-02-02", nav_enhet="4601"), headers=system
    )
    assert oslo.status_code == bergen.status_code == bergen_ug.status_code == 201
    body = {"person": person(ident)}

    async def overview(*enheter: str, rolle: str = "saksbehandler") -> tuple[list[str], list[str]]:
        r = await client.post(
            f"{API}/personer/oversikt", json=body, headers={"Authorization": f"Bearer {token(rolle, *enheter)}"}
        )
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["tiltakslop"]], [x["id"] for x in r.json()["ungdomsgarantier"]]

    only_oslo = await overview("0315")
    only_bergen = await overview("4601")
    both = await overview("0315", "4601")
    elsewhere = await overview("5001")
    as_system = await overview(rolle="system")
    as_revisor = await overview(rolle="revisor")

    assert only_oslo == ([oslo.json()["id"]], [])
    assert only_bergen == ([bergen.json()["id"]], [bergen_ug.json()["id"]])
    assert both == as_system == as_revisor == ([oslo.json()["id"], bergen.json()["id"]], [bergen_ug.json()["id"]])
    assert elsewhere == ([], [])


async def test_a_saksbehandler_of_several_offices_acts_for_the_cases_office_in_the_history(client, token, system):
    both = {"Authorization": f"Bearer {token('saksbehandler', '4601', '0315', ident='Z777777')}"}
    created = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=both)
    assert created.status_code == 201, created.text

    shortened = await client.post(f"{created.headers['Location']}/avkorting", json={"ny_tom": "2025-05-31"},
                                  headers=both)

    assert shortened.status_code == 200
    history = (await client.get(f"{created.headers['Location']}/historikk", headers=system)).json()["elementer"]
    assert [e["aktor"] for e in history] == [{"nav_ident": "Z777777", "enhet": "0315"}] * 2


async def test_a_saksbehandlers_deadline_board_holds_only_its_own_offices_cases(client, token, system):
    oslo = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=system)
    bergen = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident(), nav_enhet="4601"), headers=system)
    assert oslo.status_code == bergen.status_code == 201
    posisjon = bergen.json()["posisjon"]

    async def board(*enheter: str, rolle: str = "saksbehandler", **params: str) -> set[str]:
        r = await client.get(
            f"{API}/frister", params={"min_posisjon": posisjon, "antall": 1000, **params},
            headers={"Authorization": f"Bearer {token(rolle, *enheter)}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["neste"] is None
        return {x["aggregat_id"] for x in r.json()["elementer"]}

    seen_by_oslo = await board("0315")
    seen_by_bergen = await board("4601")
    seen_by_system = await board(rolle="system")
    seen_by_system_for_bergen = await board(rolle="system", enhet="4601")

    ids = {oslo.json()["id"], bergen.json()["id"]}
    assert oslo.json()["id"] in seen_by_oslo and bergen.json()["id"] not in seen_by_oslo
    assert bergen.json()["id"] in seen_by_bergen and oslo.json()["id"] not in seen_by_bergen
    assert ids <= seen_by_system
    assert bergen.json()["id"] in seen_by_system_for_bergen and oslo.json()["id"] not in seen_by_system_for_bergen
