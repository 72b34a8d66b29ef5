"""History export over real HTTP: JSON is exactly the history, HTML is one self-contained printable page with
every event and every value escaped, access is the history's, and each export is in the read log."""

from __future__ import annotations

import re
import uuid
from html import escape

import asyncpg

from tests.e2e.conftest import API, arbeidstrening, bearer, garanti, ny_ident

SKRIPT = "<script>alert('x')</script> & \"sitat\""


async def _lop_med_historikk(client, system) -> str:
    created = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=system)
    assert created.status_code == 201, created.text
    lop = created.headers["Location"]
    extended = await client.post(
        f"{lop}/forlengelser", json={"ny_tom": "2025-09-30", "aarsak": "BEHOV_VIDERE"}, headers=system
    )
    annulled = await client.post(f"{lop}/annullering", json={"begrunnelse": SKRIPT}, headers=system)
    assert extended.status_code == annulled.status_code == 200, (extended.text, annulled.text)
    return lop


async def test_the_json_export_is_the_history(client, system, revisor):
    lop = await _lop_med_historikk(client, system)
    historikk = await client.get(f"{lop}/historikk", headers=revisor)

    for params in ({"format": "json"}, {}):
        export = await client.get(f"{lop}/historikk/eksport", params=params, headers=revisor)

        assert export.status_code == 200, export.text
        assert export.headers["content-type"].startswith("application/json")
        assert export.json() == historikk.json()
        assert export.headers["content-disposition"].startswith("attachment; filename=")
    assert [e["type"] for e in historikk.json()["elementer"]] == [
        "TiltakslopInnvilget", "TiltakslopForlenget", "TiltakslopAnnullert"
    ]
    assert historikk.json()["elementer"][1]["skjema_versjon"] == 2
    assert historikk.json()["elementer"][1]["data"]["forrige_tom"] == "2025-06-30"


async def test_the_html_export_is_a_printable_page_with_every_event_and_every_value_escaped(client, system, revisor):
    lop = await _lop_med_historikk(client, system)
    historikk = (await client.get(f"{lop}/historikk", headers=revisor)).json()

    r = await client.get(f"{lop}/historikk/eksport", params={"format": "html"}, headers=revisor)

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"].endswith('.html"')
    page = r.text
    assert page.startswith("<!DOCTYPE html>")
    assert "@media print" in page
    assert "<script" not in page.lower()  # the begrunnelse is text, not markup
    assert escape(SKRIPT, quote=True) in page
    assert not re.search(r"(src|href)\s*=|https?://|@import|url\(", page)  # no external assets
    assert len(re.findall(r"<tr>", page)) == 1 + len(historikk["elementer"])  # header row + one per event
    for event in historikk["elementer"]:
        for value in (event["type"], event["registrert"], event["aktor"]["nav_ident"], event["regelsett_id"],
                      event["lenke"], event["correlation_id"]):
            assert escape(str(value)) in page


async def test_guarantee_export_and_the_access_rules_of_the_history(client, token, system):
    ug = await client.post(f"{API}/ungdomsgarantier", json=garanti(ny_ident()), headers=system)
    assert ug.status_code == 201, ug.text
    url = f"{ug.headers['Location']}/historikk/eksport"

    own = await client.get(url, params={"format": "html"}, headers=bearer(token("saksbehandler", "0315")))
    other = await client.get(url, headers=bearer(token("saksbehandler", "4601")))
    anonymous = await client.get(url)
    unknown = await client.get(f"{API}/tiltakslop/{uuid.uuid4()}/historikk/eksport", headers=system)
    bad_format = await client.get(url, params={"format": "pdf"}, headers=system)

    assert own.status_code == 200 and "UngdomsgarantiInnvilget" in own.text
    assert (other.status_code, anonymous.status_code, unknown.status_code, bad_format.status_code) == (
        403, 401, 404, 400
    )


async def test_an_export_is_recorded_in_the_read_log(server, client, system, revisor):
    lop = await _lop_med_historikk(client, system)
    cid = str(uuid.uuid4())

    r = await client.get(f"{lop}/historikk/eksport", params={"format": "html"},
                         headers={**revisor, "X-Correlation-ID": cid})

    assert r.status_code == 200
    assert (await client.get(f"{API}/revisjon/innsyn", headers=revisor)).status_code == 200  # writes the queue
    conn = await asyncpg.connect(server.database_url)
    try:
        rows = await conn.fetch("SELECT * FROM forlop_innsyn WHERE correlation_id = $1", uuid.UUID(cid))
    finally:
        await conn.close()
    assert [(r["endepunkt"], str(r["aggregat_id"]), r["roller"]) for r in rows] == [
        ("GET /api/v1/tiltakslop/{lop_id}/historikk/eksport", lop.rsplit("/", 1)[1], ["REVISOR"])
    ]
