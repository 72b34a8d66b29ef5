"""`POST /api/v1/personer/glem` over HTTP: SYSTEM only, the person in the body, idempotent; afterwards the
person's cases answer 410 PERSON_GLEMT, their history shows the personal fields erased, and the overview
finds nothing."""

from __future__ import annotations

import dataclasses
import uuid

import asyncpg
import pytest

from tests.e2e.conftest import API, IDENT_A, IDENT_C, arbeidstrening, serve


@pytest.fixture
async def server(settings):
    async with serve(dataclasses.replace(settings, field_encryption=True)) as s:
        yield s


async def test_system_forgets_a_person_over_the_api(client, system, sb_0315, revisor, server):
    lop = (await client.post(f"{API}/tiltakslop", json=arbeidstrening(), headers=sb_0315)).json()
    annen = (await client.post(f"{API}/tiltakslop", json=arbeidstrening(IDENT_C), headers=sb_0315)).json()
    body = {"person": {"ident": IDENT_A}}

    for hvem in (sb_0315, revisor):
        assert (await client.post(f"{API}/personer/glem", json=body, headers=hvem)).status_code == 403
    svar = await client.post(f"{API}/personer/glem", json=body, headers=system)
    assert svar.status_code == 200, svar.text
    assert svar.json()["glemt"] is True and svar.json()["nokkel_odelagt"] is True
    igjen = (await client.post(f"{API}/personer/glem", json=body, headers=system)).json()
    assert igjen["nokkel_odelagt"] is False and igjen["posisjon"] is None

    les = await client.get(f"{API}/tiltakslop/{lop['id']}", headers=sb_0315)
    assert les.status_code == 410 and les.json()["code"] == "PERSON_GLEMT"
    historikk = (await client.get(f"{API}/tiltakslop/{lop['id']}/historikk", headers=sb_0315)).json()
    assert historikk["elementer"][0]["data"]["glemt"] is True
    assert historikk["elementer"][0]["data"]["fodselsdato"] is None
    oversikt = (await client.post(f"{API}/personer/oversikt", json=body, headers=sb_0315)).json()
    assert oversikt == {"tiltakslop": [], "ungdomsgarantier": []}
    assert (await client.get(f"{API}/tiltakslop/{annen['id']}", headers=sb_0315)).json()["person"]["ident"] == IDENT_C

    conn = await asyncpg.connect(server.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM v_lop WHERE lop_id = $1", uuid.UUID(lop["id"])) == 0
        for (state,) in await conn.fetch("SELECT state FROM forlop_events"):
            assert IDENT_A.encode() not in bytes(state)
    finally:
        await conn.close()
