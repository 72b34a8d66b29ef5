"""The console in a real browser, as a caseworker and an auditor use it (console.md): sign in, grant, find
the løp on the board, extend past the cap and read the Norwegian refusal with the date, extend within it,
read both in the history; a stale version; a guarantee; the auditor's feed and a chain broken in the
database. Every page is checked with axe-core and photographed; no request may leave the instance."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import Page, expect

from api.identity import make_token
from tests.console.conftest import Nettleser, ingen_alvorlige_brudd, logg_inn, ny_side, skjermbilde
from tests.e2e.conftest import Server, ny_ident

ROOT = Path(__file__).resolve().parents[2]
async def sjekk_side(side: Page, skjermbilder: Path, navn: str) -> None:
    await ingen_alvorlige_brudd(side, navn)
    await skjermbilde(side, skjermbilder, navn)


def til_docs(skjermbilder: Path, navn: str, docs_navn: str) -> None:
    if os.environ.get("FORLOP_SKJERMBILDER_DOCS") == "1":
        shutil.copyfile(skjermbilder / f"{navn}.png", ROOT / "docs" / docs_navn)


def api_token(server: Server, rolle: str = "saksbehandler", *enheter: str, ident: str = "Z990002") -> dict[str, str]:
    return {"Authorization": "Bearer " + make_token(server.settings.secret("jwt"), ident=ident, roller=[rolle], enheter=list(enheter))}


async def innvilg_via_api(server: Server, ident: str, **felt: str) -> tuple[str, str]:
    body = {
        "person": {"ident": ident, "fodselsdato": "1990-08-15"},
        "tiltakstype": "ARBEIDSTRENING", "malgruppe": "NEDSATT_ARBEIDSEVNE",
        "fom": "2025-01-01", "tom": "2025-06-30", "nav_enhet": "0315", "vedtak_ref": "VEDTAK-API", **felt,
    }
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as c:
        r = await c.post("/api/v1/tiltakslop", json=body, headers=api_token(server, "saksbehandler", "0315"))
    assert r.status_code == 201, r.text
    return r.json()["id"], r.headers["ETag"]


async def test_saksbehandler_innvilger_finner_lopet_paa_tavla_og_forlenger(
    nettleser: Nettleser, konsoll_server: Server, skjermbilder: Path
) -> None:
    side = await ny_side(nettleser)
    await side.goto(f"{nettleser.base}/konsoll/")
    await side.get_by_role("heading", name="Logg inn (utvikling)").wait_for()
    await sjekk_side(side, skjermbilder, "01-logg-inn")
    await logg_inn(side, nettleser.base)

    ident = ny_ident()
    await side.get_by_role("link", name="Nytt tiltaksløp").click()
    await side.get_by_role("heading", name="Nytt tiltaksløp").wait_for()
    await side.get_by_label("Fødselsnummer").fill(ident)
    await side.get_by_label("Fødselsdato").fill("15.08.1990")
    await side.get_by_label("Tiltakstype").select_option(label="Arbeidstrening")
    await side.get_by_label("Målgruppe").select_option(label="Nedsatt arbeidsevne")
    await side.get_by_label("Fra og med").fill("01.01.2025")
    await side.get_by_label("Til og med").fill("30.06.2025")
    await side.get_by_label("NAV-enhet").fill("0315")
    await side.get_by_label("Vedtaksreferanse").fill("VEDTAK-KONSOLL-1")
    await sjekk_side(side, skjermbilder, "02-nytt-tiltakslop")
    await side.get_by_role("button", name="Innvilg").click()

    # The new løp's page: its caps (ARBEIDSTRENING, NEDSATT_ARBEIDSEVNE: 1 year base, 18 months in all).
    await side.get_by_role("heading", name="Arbeidstrening", level=1).wait_for()
    lop_id = side.url.rsplit("/", 1)[-1]
    uuid.UUID(lop_id)
    oversikt = side.get_by_role("region", name="Oversikt")
    await expect(oversikt).to_contain_text("01.01.2025 – 30.06.2025")
    await expect(oversikt).to_contain_text("31.12.2025")  # grunnperiode
    await expect(oversikt).to_contain_text("30.06.2026")  # makstid
    await expect(side.get_by_role("table", name="Mulige forlengelser")).to_contain_text("30.06.2026")

    # The board: the løp is there, its person masked, the identifier nowhere on the page.
    await side.get_by_role("link", name="Frister", exact=True).click()
    tavle = side.get_by_role("table", name="Frister")
    rad = tavle.get_by_role("row").filter(has=side.locator(f'a[href="/konsoll/tiltakslop/{lop_id}"]'))
    await expect(rad).to_have_count(1)
    await expect(rad).to_contain_text(ident[:6] + "*****")
    await expect(rad).to_contain_text("30.06.2025")
    assert ident not in await side.content()
    for kolonne in ("Person", "Tiltak", "Sluttdato", "Frist", "Varsel", "Dager igjen"):
        await expect(tavle.get_by_role("columnheader", name=kolonne, exact=True)).to_have_count(1)
    await sjekk_side(side, skjermbilder, "03-frister")
    til_docs(skjermbilder, "03-frister", "konsoll-frister.png")

    # Past the total cap: refused, in Norwegian, naming the date; nothing is stored.
    await rad.get_by_role("link").click()
    await side.get_by_role("heading", name="Arbeidstrening", level=1).wait_for()
    await side.get_by_label("Ny sluttdato").fill("31.12.2026")
    await side.get_by_label("Årsak", exact=True).select_option(label="Nedsatt arbeidsevne")
    await side.get_by_role("button", name="Forleng", exact=True).click()
    varsel = side.get_by_role("alert")
    await expect(varsel).to_contain_text("Kan ikke forlenges lenger enn til 30.06.2026")
    await sjekk_side(side, skjermbilder, "04-tiltakslop-avslag")

    # Within it: accepted, the page shows the new end date and the history has both events, newest first.
    await side.get_by_label("Ny sluttdato").fill("31.12.2025")
    await side.get_by_label("Årsak", exact=True).select_option(label="Behov for videre tiltak")
    await side.get_by_label("Begrunnelse", exact=True).fill("Trenger mer tid på arbeidsplassen")
    await side.get_by_role("button", name="Forleng", exact=True).click()
    await expect(side.get_by_role("status")).to_contain_text("Forlenget til 31.12.2025")
    await expect(side.get_by_role("region", name="Oversikt")).to_contain_text("01.01.2025 – 31.12.2025")
    historikk = side.get_by_role("list", name="Historikk")
    oppforinger = historikk.get_by_role("listitem")
    await expect(oppforinger).to_have_count(2)  # the refused extension stored nothing
    await expect(oppforinger.nth(0)).to_contain_text("Forlenget")
    await expect(oppforinger.nth(0)).to_contain_text("31.12.2025")
    await expect(oppforinger.nth(0)).to_contain_text("Z990001")
    await expect(oppforinger.nth(0)).to_contain_text("NAV-enhet 0315")
    await expect(oppforinger.nth(0)).to_contain_text("Trenger mer tid på arbeidsplassen")
    await expect(oppforinger.nth(0)).to_contain_text(re.compile(r"Registrert \d\d\.\d\d\.\d{4} kl\. \d\d:\d\d"))
    await expect(oppforinger.nth(1)).to_contain_text("Innvilget")
    await sjekk_side(side, skjermbilder, "05-tiltakslop")
    til_docs(skjermbilder, "05-tiltakslop", "konsoll-tiltakslop.png")

    # Each command went with If-Match and an Idempotency-Key of its own attempt.
    kommandoer = [f for f in nettleser.vakt.forespørsler if f["method"] == "POST" and f["path"].startswith("/api/v1/tiltakslop")]
    forlengelser = [f for f in kommandoer if f["path"].endswith("/forlengelser")]
    assert len(forlengelser) == 2
    assert all(f["headers"].get("if-match") for f in forlengelser)
    assert forlengelser[0]["headers"]["if-match"] == forlengelser[1]["headers"]["if-match"] == '"1"'
    nokler = [f["headers"].get("idempotency-key") for f in kommandoer]
    assert all(nokler) and len(set(nokler)) == len(nokler)
    assert not nettleser.vakt.fremmede, nettleser.vakt.fremmede
    await side.close()


async def test_en_foreldet_versjon_sier_at_andre_har_endret_saken_og_tilbyr_aa_laste_inn(
    nettleser: Nettleser, konsoll_server: Server, skjermbilder: Path
) -> None:
    lop_id, etag = await innvilg_via_api(konsoll_server, ny_ident())
    side = await ny_side(nettleser)
    await logg_inn(side, nettleser.base)
    await side.goto(f"{nettleser.base}/konsoll/tiltakslop/{lop_id}")
    await side.get_by_role("heading", name="Arbeidstrening", level=1).wait_for()

    # Someone else extends the løp meanwhile.
    async with httpx.AsyncClient(base_url=konsoll_server.url, trust_env=False) as c:
        r = await c.post(
            f"/api/v1/tiltakslop/{lop_id}/forlengelser", json={"ny_tom": "2025-09-30", "aarsak": "BEHOV_VIDERE"},
            headers={**api_token(konsoll_server, "saksbehandler", "0315"), "If-Match": etag},
        )
    assert r.status_code == 200, r.text

    await side.get_by_label("Ny sluttdato").fill("31.10.2025")
    await side.get_by_role("button", name="Forleng", exact=True).click()
    await expect(side.get_by_role("alert")).to_contain_text("Noen andre har endret saken")
    await sjekk_side(side, skjermbilder, "06-tiltakslop-foreldet")
    await side.get_by_role("button", name="Last inn på nytt").click()
    await expect(side.get_by_role("region", name="Oversikt")).to_contain_text("01.01.2025 – 30.09.2025")
    await side.get_by_role("button", name="Forleng", exact=True).click()
    await expect(side.get_by_role("status")).to_contain_text("Forlenget til 31.10.2025")
    oppforinger = side.get_by_role("list", name="Historikk").get_by_role("listitem")
    await expect(oppforinger).to_have_count(3)
    await expect(oppforinger.nth(1)).to_contain_text("Z990002")  # the other caseworker's extension
    assert not nettleser.vakt.fremmede, nettleser.vakt.fremmede
    await side.close()


async def test_ungdomsgaranti_kontaktperson_samtaler_og_varsler(
    nettleser: Nettleser, konsoll_server: Server, skjermbilder: Path
) -> None:
    async with httpx.AsyncClient(base_url=konsoll_server.url, trust_env=False) as c:
        r = await c.post(
            "/api/v1/ungdomsgarantier",
            json={"person": {"ident": ny_ident(), "fodselsdato": "2003-05-20"}, "fom": "2025-01-06",
                  "nav_enhet": "0315", "bistandsbehov_vedtak_ref": "14A-KONSOLL"},
            headers=api_token(konsoll_server, "saksbehandler", "0315"),
        )
    assert r.status_code == 201, r.text
    garanti_id = r.json()["id"]
    side = await ny_side(nettleser)
    await logg_inn(side, nettleser.base)
    await side.goto(f"{nettleser.base}/konsoll/ungdomsgarantier/{garanti_id}")
    await side.get_by_role("heading", name="Ungdomsgaranti", level=1).wait_for()
    oversikt = side.get_by_role("region", name="Oversikt")
    await expect(oversikt).to_contain_text("Ikke tildelt")
    await expect(side.get_by_role("list", name="Åpne varsler")).to_contain_text("Kontaktperson mangler")

    await side.get_by_label("Kontaktpersonens NAV-ident").fill("Z123456")
    await side.get_by_label("Kontaktperson fra og med").fill("10.01.2025")
    await side.get_by_role("button", name="Tildel kontaktperson").click()
    await expect(side.get_by_role("status")).to_contain_text("Z123456 er kontaktperson")
    await expect(oversikt).to_contain_text("Z123456")

    await side.get_by_label("Samtaledato").fill("20.02.2025")
    await side.get_by_label("Kanal").select_option(label="Telefon")
    await side.get_by_role("button", name="Registrer samtale").click()
    await expect(side.get_by_role("status")).to_contain_text("Samtalen er registrert")
    await expect(side.get_by_role("table", name="Samtaler")).to_contain_text("20.02.2025")
    await expect(side.get_by_role("table", name="Samtaler")).to_contain_text("Telefon")
    await expect(oversikt).to_contain_text("20.02.2025")  # siste samtale; the next is due from it
    historikk = side.get_by_role("list", name="Historikk").get_by_role("listitem")
    await expect(historikk).to_have_count(3)
    await expect(historikk.nth(0)).to_contain_text("Samtale gjennomført")
    await sjekk_side(side, skjermbilder, "07-ungdomsgaranti")

    await side.get_by_role("link", name="Varsler", exact=True).click()
    await side.get_by_role("heading", name="Varsler", level=1).wait_for()
    await expect(side.get_by_role("table", name="Varsler")).to_be_visible()
    await sjekk_side(side, skjermbilder, "08-varsler")
    assert not nettleser.vakt.fremmede, nettleser.vakt.fremmede
    await side.close()


async def test_avslutt_overgang_og_korriger_fra_lopets_side(
    nettleser: Nettleser, konsoll_server: Server, skjermbilder: Path
) -> None:
    forste, _ = await innvilg_via_api(konsoll_server, ny_ident())
    andre, _ = await innvilg_via_api(konsoll_server, ny_ident())
    side = await ny_side(nettleser)
    await logg_inn(side, nettleser.base)

    # Avslutt: a sluttdato after tom is refused in Norwegian, then one within the period ends the løp.
    await side.goto(f"{nettleser.base}/konsoll/tiltakslop/{forste}")
    await side.get_by_role("button", name="Avslutt", exact=True).click()
    avslutt = side.get_by_role("form", name="Avslutt tiltaksløpet")
    await avslutt.get_by_label("Sluttdato").fill("31.12.2025")
    await avslutt.get_by_label("Avslutningsårsak").select_option(label="Overgang til arbeid")
    await avslutt.get_by_role("button", name="Avslutt tiltaksløpet").click()
    await expect(avslutt.get_by_role("alert")).to_contain_text("Datoene henger ikke sammen")
    await sjekk_side(side, skjermbilder, "16-avslutt-avslag")
    await avslutt.get_by_label("Sluttdato").fill("28.02.2025")
    await avslutt.get_by_role("button", name="Avslutt tiltaksløpet").click()
    await expect(side.get_by_role("status")).to_contain_text("Avsluttet med sluttdato 28.02.2025")
    await expect(side.get_by_role("region", name="Oversikt")).to_contain_text("28.02.2025 (Overgang til arbeid)")
    await expect(side.get_by_role("list", name="Historikk").get_by_role("listitem").first).to_contain_text("Avsluttet")

    # Overgang: this løp ends and a new one starts, atomically; the console opens the new one.
    await side.goto(f"{nettleser.base}/konsoll/tiltakslop/{andre}")
    await side.get_by_role("button", name="Overgang", exact=True).click()
    overgang = side.get_by_role("form", name="Overgang til nytt tiltak")
    await overgang.get_by_label("Sluttdato").fill("28.02.2025")
    await overgang.get_by_label("Tiltakstype").select_option(label="Oppfølging")
    await overgang.get_by_label("Fra og med").fill("01.03.2025")
    await overgang.get_by_label("Til og med").fill("31.08.2025")
    await overgang.get_by_label("Vedtaksreferanse").fill("VEDTAK-OVERGANG")
    await sjekk_side(side, skjermbilder, "17-overgang")
    await overgang.get_by_role("button", name="Gjennomfør overgang").click()
    await side.get_by_role("heading", name="Oppfølging", level=1).wait_for()
    nytt = side.url.rsplit("/", 1)[-1]
    assert nytt != andre
    oversikt = side.get_by_role("region", name="Oversikt")
    await expect(oversikt.get_by_role("link", name="Arbeidstrening")).to_have_attribute("href", f"/konsoll/tiltakslop/{andre}")

    # Korriger: a wrong reference is corrected; the history keeps both.
    await side.get_by_role("button", name="Korriger", exact=True).click()
    korriger = side.get_by_role("form", name="Korriger tiltaksløpet")
    await korriger.get_by_label("Riktig vedtaksreferanse").fill("VEDTAK-OVERGANG-RETTET")
    await korriger.get_by_label("Begrunnelse for korrigeringen").fill("Feil referanse ved overgangen")
    await korriger.get_by_role("button", name="Lagre korrigering").click()
    await expect(side.get_by_role("status")).to_contain_text("Korrigeringen er lagret")
    await expect(oversikt).to_contain_text("VEDTAK-OVERGANG-RETTET")
    historikk = side.get_by_role("list", name="Historikk").get_by_role("listitem")
    await expect(historikk).to_have_count(2)
    await expect(historikk.nth(0)).to_contain_text("Korrigert")
    await expect(historikk.nth(0)).to_contain_text("Feil referanse ved overgangen")
    await expect(historikk.nth(1)).to_contain_text("VEDTAK-OVERGANG")
    await sjekk_side(side, skjermbilder, "18-korrigert")

    await side.goto(f"{nettleser.base}/konsoll/tiltakslop/{andre}")
    await expect(side.get_by_role("region", name="Oversikt").get_by_role("link", name="Oppfølging")).to_have_attribute(
        "href", f"/konsoll/tiltakslop/{nytt}"
    )
    assert not nettleser.vakt.fremmede, nettleser.vakt.fremmede
    await side.close()


async def test_revisor_ser_hendelsene_og_en_brutt_kjede_etter_en_endret_rad(
    nettleser: Nettleser, konsoll_server: Server, skjermbilder: Path
) -> None:
    lop_id, etag = await innvilg_via_api(konsoll_server, ny_ident())
    async with httpx.AsyncClient(base_url=konsoll_server.url, trust_env=False) as c:
        r = await c.post(
            f"/api/v1/tiltakslop/{lop_id}/forlengelser", json={"ny_tom": "2025-12-31", "aarsak": "BEHOV_VIDERE"},
            headers={**api_token(konsoll_server, "saksbehandler", "0315"), "If-Match": etag},
        )
    assert r.status_code == 200, r.text

    side = await ny_side(nettleser)
    await logg_inn(side, nettleser.base, rolle="Revisor", enheter="", ident="R990001")
    await side.get_by_role("link", name="Hendelser", exact=True).click()
    feed = side.get_by_role("table", name="Hendelser")
    await expect(feed.get_by_role("row").filter(has_text="Innvilget").first).to_be_visible()
    for kolonne in ("Posisjon", "Tidspunkt", "Type", "Aggregat", "Aktør"):
        await expect(feed.get_by_role("columnheader", name=kolonne, exact=True)).to_have_count(1)
    await expect(feed.get_by_role("row").filter(has=side.locator(f'a[href="/konsoll/historikk/tiltakslop/{lop_id}"]'))).to_have_count(2)
    await sjekk_side(side, skjermbilder, "09-hendelser")

    await side.get_by_role("link", name="Verifisering", exact=True).click()
    await expect(side.get_by_role("status")).to_contain_text("OK")
    await sjekk_side(side, skjermbilder, "10-verifisering-ok")

    # An event row altered directly in PostgreSQL: the extension now reads a year longer.
    conn = await asyncpg.connect(konsoll_server.database_url)
    try:
        endret = await conn.execute(
            "UPDATE forlop_events SET state = convert_to(replace(convert_from(state, 'UTF8'), '2025-12-31', '2026-12-31'), 'UTF8') "
            "WHERE originator_id = $1 AND originator_version = 2",
            uuid.UUID(lop_id),
        )
    finally:
        await conn.close()
    assert endret == "UPDATE 1"
    await side.get_by_role("button", name="Verifiser på nytt").click()
    brudd = side.get_by_role("alert")
    await expect(brudd).to_contain_text("Kjeden er brutt")
    await expect(brudd).to_contain_text(f"aggregat {lop_id}, versjon 2")
    tabell = side.get_by_role("table", name="Brudd i kjeden")
    await expect(tabell.get_by_role("row").filter(has_text=lop_id)).to_contain_text("Lenken stemmer ikke")
    await sjekk_side(side, skjermbilder, "11-verifisering-brudd")

    await side.get_by_role("link", name="Innsyn", exact=True).click()
    innsyn = side.get_by_role("table", name="Innsyn")
    await expect(innsyn.get_by_role("row").filter(has_text="Z990001").first).to_be_visible()
    await sjekk_side(side, skjermbilder, "12-innsyn")

    await side.goto(f"{nettleser.base}/konsoll/historikk/tiltakslop/{lop_id}")
    await expect(side.get_by_role("list", name="Historikk").get_by_role("listitem")).to_have_count(2)
    await sjekk_side(side, skjermbilder, "13-historikk-for-en-sak")

    await side.goto(f"{nettleser.base}/konsoll/frister?kjent_per=2025-03-01T00:00:00Z")
    await expect(side.get_by_role("alert")).to_contain_text("forlop replay --kjent-per")  # no replay built for it
    await sjekk_side(side, skjermbilder, "14-frister-kjent-per")
    assert not nettleser.vakt.fremmede, nettleser.vakt.fremmede
    await side.close()


async def test_vakta_stopper_og_melder_en_foresporsel_til_en_annen_vert(nettleser: Nettleser) -> None:
    """The guard the other tests rely on: a request for any other host is refused and recorded. Inside the
    page the console's Content-Security-Policy refuses it even before it reaches the guard."""
    side = await ny_side(nettleser)
    await side.goto(f"{nettleser.base}/konsoll/")
    nektet = await side.evaluate(
        """async url => {
            const brudd = new Promise(ok => document.addEventListener('securitypolicyviolation', e => ok(e.violatedDirective)));
            try { await fetch(url); return 'hentet'; } catch { return await brudd; }
        }""",
        "https://cdn.nav.no/aksel/fonts/SourceSans3-normal.woff2",
    )
    assert nektet == "connect-src"
    try:
        await side.goto("http://eksempel.invalid/x.js")
    except Exception as e:  # noqa: BLE001 - the guard aborts the navigation
        assert "ERR_BLOCKED_BY_CLIENT" in str(e)
    else:
        raise AssertionError("the guard let a request for another host through")
    assert nettleser.vakt.fremmede == ["http://eksempel.invalid/x.js"]
    nettleser.vakt.fremmede.clear()
    await side.close()
