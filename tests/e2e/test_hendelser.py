"""The global event feed `GET /hendelser` and the audit `GET /revisjon/verifisering` over real HTTP (contract.md
§2, §3): paging through a log with gaps in its positions and with events that are not published, the
envelopes, who may read them, and verification of a log altered directly in PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from tests.e2e.conftest import API, Server, arbeidstrening, bearer, garanti, ny_ident
from tests.integration.eksempel import REGELSETT, close_store, kontekst, ny_konto, open_store

PUBLISERT = "topic LIKE 'domain.tiltakslop:%' OR topic LIKE 'domain.ungdomsgaranti:%'"


async def _hull(database_url: str, n: int = 3) -> None:
    """Positions drawn and never used (as by a rolled-back save): a gap in the notification ids."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(n):
            await conn.fetchval("SELECT nextval(pg_get_serial_sequence('forlop_events', 'notification_id'))")
    finally:
        await conn.close()


async def _skriv_logg(client: httpx.AsyncClient, server: Server, system: dict[str, str]) -> list[str]:
    """Three løp, one extended, and one guarantee, with gaps between them; then an event of an aggregate that
    is not published, last in the log. Returns the identifiers used."""
    identer = []
    for _ in range(3):
        ident = ny_ident()
        identer.append(ident)
        r = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ident), headers=system)
        assert r.status_code == 201, r.text
        await _hull(server.database_url)
    r = await client.post(
        f"{API}/tiltakslop/{r.json()['id']}/forlengelser", json={"ny_tom": "2025-09-30", "aarsak": "BEHOV_VIDERE"},
        headers=system,
    )
    assert r.status_code == 200, r.text
    ident = ny_ident()
    identer.append(ident)
    r = await client.post(f"{API}/ungdomsgarantier", json=garanti(ident), headers=system)
    assert r.status_code == 201, r.text
    await _hull(server.database_url)
    store = await open_store(server.database_url, snapshot_every=None)
    try:
        konto = ny_konto()
        konto.sett_inn(Decimal(1), kontekst(), REGELSETT)
        await store.save(konto)
    finally:
        await close_store(store)
    return identer


async def _posisjoner(database_url: str) -> tuple[list[int], int]:
    conn = await asyncpg.connect(database_url)
    try:
        publisert = [r[0] for r in await conn.fetch(
            f"SELECT notification_id FROM forlop_events WHERE {PUBLISERT} ORDER BY notification_id"
        )]
        return publisert, await conn.fetchval("SELECT max(notification_id) FROM forlop_events")
    finally:
        await conn.close()


async def _alle_sider(client: httpx.AsyncClient, headers: dict[str, str], antall: int) -> tuple[list[Any], int, int]:
    """Every page from the start until one comes back empty; (elements, last `neste`, pages)."""
    elementer: list[Any] = []
    etter, sider = 0, 0
    while True:
        r = await client.get(f"{API}/hendelser", params={"etter": etter, "antall": antall}, headers=headers)
        assert r.status_code == 200, r.text
        side = r.json()
        sider += 1
        assert isinstance(side["neste"], int) and side["neste"] >= etter
        assert len(side["elementer"]) <= antall
        elementer += side["elementer"]
        if not side["elementer"]:
            return elementer, side["neste"], sider
        etter = side["neste"]


# Check: paging by two through a log with gaps and unpublished events gives every published event once, in
# log order; `neste` of the last page moves past the unpublished event at the end; REVISOR and SYSTEM read
# the same feed.
async def test_the_feed_pages_through_a_log_with_gaps_in_order(client, server, system, revisor) -> None:
    identer = await _skriv_logg(client, server, system)
    publisert, hoyeste = await _posisjoner(server.database_url)
    assert len(publisert) == 5 and hoyeste > publisert[-1]
    assert publisert[-1] - publisert[0] + 1 > len(publisert)  # there are gaps and person events between

    elementer, neste, sider = await _alle_sider(client, revisor, antall=2)

    assert [e["posisjon"] for e in elementer] == publisert
    assert neste == hoyeste  # past the last (unpublished) event: nothing is asked for twice
    assert sider == 4
    assert [e["type"] for e in elementer] == [
        "TiltakslopInnvilget", "TiltakslopInnvilget", "TiltakslopInnvilget", "TiltakslopForlenget",
        "UngdomsgarantiInnvilget",
    ]
    forste = elementer[0]
    assert set(forste) == {"id", "posisjon", "aggregat", "aggregat_id", "versjon", "type", "skjema_versjon",
                           "registrert", "aktor", "correlation_id", "data"}
    assert forste["aggregat"] == "tiltakslop" and forste["versjon"] == 1
    assert forste["aktor"] == {"nav_ident": "Z990001", "enhet": "0315"}  # SYSTEM acts for the case's office
    assert len(forste["data"]["person_pseudonym"]) == 64
    assert not {"person", "fodselsdato"} & set(forste["data"])
    assert elementer[3]["aggregat_id"] == elementer[2]["aggregat_id"] and elementer[3]["versjon"] == 2
    assert elementer[4]["aggregat"] == "ungdomsgaranti"

    r = await client.get(f"{API}/hendelser", headers=system)  # antall defaults to 100: one page holds all
    assert r.status_code == 200
    assert r.json() == {"elementer": elementer, "neste": hoyeste}
    assert not any(ident in r.text for ident in identer)

    r = await client.get(f"{API}/hendelser", params={"etter": hoyeste + 50}, headers=system)
    assert r.json() == {"elementer": [], "neste": hoyeste + 50}


# Check: who may read the feed and the verification, and what a wrong query gets.
async def test_who_may_read_the_feed_and_the_verification(client, token, revisor, system, sb_0315) -> None:
    hendelser, verifisering = f"{API}/hendelser", f"{API}/revisjon/verifisering"
    cases = [
        (hendelser, revisor, 200, None), (hendelser, system, 200, None),
        (hendelser, sb_0315, 403, "FORBIDDEN"), (hendelser, {}, 401, "UNAUTHENTICATED"),
        (verifisering, revisor, 200, None), (verifisering, system, 403, "FORBIDDEN"),
        (verifisering, sb_0315, 403, "FORBIDDEN"), (verifisering, {}, 401, "UNAUTHENTICATED"),
        (hendelser, bearer(token("revisor", "0315")), 200, None),
    ]
    for url, headers, status, code in cases:
        r = await client.get(url, headers=headers)
        assert r.status_code == status, (url, headers, r.text)
        if code is not None:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == code
    for params in ({"antall": 0}, {"antall": 1001}, {"etter": -1}, {"etter": "x"}):
        r = await client.get(hendelser, params=params, headers=revisor)
        assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST", (params, r.text)
    r = await client.get(verifisering, params={"aggregat_id": "nope"}, headers=revisor)
    assert r.status_code == 400


# Check: REVISOR's verification holds for an untouched log, and names the stream and version of a row
# altered directly in PostgreSQL; `aggregat_id` checks one stream.
async def test_the_verification_names_a_row_altered_in_the_database(client, server, system, revisor) -> None:
    await _skriv_logg(client, server, system)
    url = f"{API}/revisjon/verifisering"
    r = await client.get(url, headers=revisor)
    assert r.status_code == 200, r.text
    svar = r.json()
    conn = await asyncpg.connect(server.database_url)
    try:
        totalt = await conn.fetchval("SELECT count(*) FROM forlop_events")
        strom, versjon, posisjon = await conn.fetchrow(
            "SELECT originator_id, originator_version, notification_id FROM forlop_events "
            "WHERE topic LIKE '%.TiltakslopForlenget'"
        )
        assert svar["ok"] is True and svar["hendelser"] == totalt and svar["lenkefeil"] == []
        assert svar["algoritme"] == "Ed25519" and len(svar["offentlig_nokkel"]) == 64
        endret = await conn.execute(
            "UPDATE forlop_events SET state = convert_to(replace(convert_from(state, 'UTF8'), '2025-09-30', "
            "'2026-09-30'), 'UTF8') WHERE originator_id = $1 AND originator_version = $2", strom, versjon,
        )
        assert endret == "UPDATE 1"
    finally:
        await conn.close()

    r = await client.get(url, headers=revisor)
    en = await client.get(url, params={"aggregat_id": str(strom)}, headers=revisor)

    assert r.status_code == 200
    svar = r.json()
    assert svar["ok"] is False and svar["antall_lenkefeil"] == 1
    assert svar["lenkefeil"] == [
        {"aggregat_id": str(strom), "versjon": versjon, "posisjon": posisjon, "grunn": "LINK_MISMATCH"}
    ]
    assert en.json()["omfang"] == "strom" and en.json()["hendelser"] == versjon and en.json()["lenkefeil"] == svar["lenkefeil"]
