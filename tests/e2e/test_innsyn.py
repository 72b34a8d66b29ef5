"""The read log over real HTTP and real PostgreSQL: every read that shows a person's data leaves exactly one
row per case shown (who, roles, when, whose pseudonym, which route and aggregate, which correlation id), the
table refuses UPDATE / DELETE / TRUNCATE, no identifier is stored, and `GET /revisjon/innsyn` is REVISOR's
only, with filters and paging."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from domain.ident import Fodselsnummer
from store.envelope import pseudonym
from store.read_log import ReadLog, ReadLogFull
from tests.e2e.conftest import API, Server, arbeidstrening, bearer, garanti, ny_ident, person

LESER = "Z123456"


def _pseudonym(server: Server, ident: str) -> str:
    return pseudonym(server.settings.secret("pseudonym"), Fodselsnummer(ident))


async def _rader(server: Server, client, revisor, **filter: Any) -> list[dict[str, Any]]:
    """The read log's rows as stored (asking /revisjon/innsyn first: it writes the app's queue)."""
    r = await client.get(f"{API}/revisjon/innsyn", params={"antall": 1}, headers=revisor)
    assert r.status_code == 200, r.text
    conn = await asyncpg.connect(server.database_url)
    try:
        where = " AND ".join(f"{k} = ${i}" for i, k in enumerate(filter, 1)) or "true"
        rows = await conn.fetch(f"SELECT * FROM forlop_innsyn WHERE {where} ORDER BY nr", *filter.values())
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def _saker(client, system) -> dict[str, Any]:
    ident_lop, ident_ug = ny_ident(), ny_ident()
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ident_lop), headers=system)
    ug = await client.post(f"{API}/ungdomsgarantier", json=garanti(ident_ug), headers=system)
    assert lop.status_code == ug.status_code == 201, (lop.text, ug.text)
    return {
        "ident_lop": ident_lop, "lop": lop.json()["id"], "ident_ug": ident_ug, "ug": ug.json()["id"],
        "posisjon": max(lop.json()["posisjon"], ug.json()["posisjon"]),
    }


async def test_every_personal_data_read_leaves_exactly_one_row_with_who_when_whom_where_and_correlation_id(
    server, client, token, system, revisor
):
    saker = await _saker(client, system)
    leser = bearer(token("saksbehandler", "0315", ident=LESER))
    lop_p, ug_p = _pseudonym(server, saker["ident_lop"]), _pseudonym(server, saker["ident_ug"])
    lesninger = [
        ("GET", f"/tiltakslop/{saker['lop']}", None, "/api/v1/tiltakslop/{lop_id}", "tiltakslop", saker["lop"], lop_p),
        ("GET", f"/tiltakslop/{saker['lop']}/historikk", None, "/api/v1/tiltakslop/{lop_id}/historikk",
         "tiltakslop", saker["lop"], lop_p),
        ("GET", f"/ungdomsgarantier/{saker['ug']}", None, "/api/v1/ungdomsgarantier/{garanti_id}",
         "ungdomsgaranti", saker["ug"], ug_p),
        ("GET", f"/ungdomsgarantier/{saker['ug']}/historikk", None,
         "/api/v1/ungdomsgarantier/{garanti_id}/historikk", "ungdomsgaranti", saker["ug"], ug_p),
        ("POST", "/personer/oversikt", {"person": person(saker["ident_lop"])}, "/api/v1/personer/oversikt",
         "tiltakslop", saker["lop"], lop_p),
    ]
    before = datetime.now(UTC)
    for metode, sti, body, mal, aggregat, agg_id, forventet in lesninger:
        cid = str(uuid.uuid4())
        r = await client.request(metode, API + sti, json=body, headers={**leser, "X-Correlation-ID": cid})
        assert r.status_code == 200, r.text

        rader = await _rader(server, client, revisor, correlation_id=uuid.UUID(cid))

        assert len(rader) == 1, (sti, rader)
        rad = rader[0]
        assert rad["person_pseudonym"] == forventet
        assert rad["endepunkt"] == f"{metode} {mal}"
        assert (rad["aggregat"], str(rad["aggregat_id"])) == (aggregat, agg_id)
        assert (rad["nav_ident"], rad["roller"]) == (LESER, ["SAKSBEHANDLER"])
        assert before - timedelta(seconds=1) <= rad["tidspunkt"] <= datetime.now(UTC)


async def test_the_deadline_board_and_the_inbox_log_one_row_per_case_shown(server, client, token, system, revisor):
    saker = await _saker(client, system)
    leser = bearer(token("saksbehandler", "0315", ident=LESER))
    cid = str(uuid.uuid4())

    board = await client.get(
        f"{API}/frister", params={"min_posisjon": saker["posisjon"]}, headers={**leser, "X-Correlation-ID": cid}
    )

    assert board.status_code == 200, board.text
    shown = {e["aggregat_id"] for e in board.json()["elementer"]}
    assert {saker["lop"], saker["ug"]} <= shown
    rader = await _rader(server, client, revisor, correlation_id=uuid.UUID(cid))
    assert sorted(str(r["aggregat_id"]) for r in rader) == sorted(shown)
    assert {str(r["aggregat_id"]): r["person_pseudonym"] for r in rader}[saker["lop"]] == _pseudonym(
        server, saker["ident_lop"]
    )
    assert {r["endepunkt"] for r in rader} == {"GET /api/v1/frister"}

    # The inbox: an alert decided for the guarantee (written as the alert worker writes its outbox).
    conn = await asyncpg.connect(server.database_url)
    try:
        await conn.execute(
            "INSERT INTO forlop_varsler (varsel_id, type, frist, per, dager_igjen, aggregat, aggregat_id, nav_enhet, "
            "kontaktperson, forsinket, besluttet_per) VALUES ($1, 'SAMTALE_FORFALLER', $2, $3, 2, 'ungdomsgaranti', "
            "$4, '0315', NULL, false, $3)",
            uuid.uuid4(), date(2025, 3, 5), date(2025, 3, 3), uuid.UUID(saker["ug"]),
        )
    finally:
        await conn.close()
    cid = str(uuid.uuid4())
    inbox = await client.get(f"{API}/varsler", headers={**leser, "X-Correlation-ID": cid})
    assert inbox.status_code == 200, inbox.text
    assert [e["aggregat_id"] for e in inbox.json()["elementer"]] == [saker["ug"]]
    rader = await _rader(server, client, revisor, correlation_id=uuid.UUID(cid))
    assert [(r["endepunkt"], str(r["aggregat_id"]), r["person_pseudonym"]) for r in rader] == [
        ("GET /api/v1/varsler", saker["ug"], _pseudonym(server, saker["ident_ug"]))
    ]


async def test_a_lookup_that_shows_no_case_is_logged_and_a_refused_read_is_not(server, client, token, system, revisor):
    saker = await _saker(client, system)
    bergen = bearer(token("saksbehandler", "4601", ident="Z460100"))

    refused = await client.get(f"{API}/tiltakslop/{saker['lop']}", headers=bergen)
    lookup = await client.post(
        f"{API}/personer/oversikt", json={"person": person(saker["ident_lop"])},
        headers={**bergen, "X-Correlation-ID": (cid := str(uuid.uuid4()))},
    )

    assert refused.status_code == 403
    assert lookup.status_code == 200 and lookup.json()["tiltakslop"] == []
    rader = await _rader(server, client, revisor, nav_ident="Z460100")
    assert [(str(r["correlation_id"]), r["aggregat"], r["aggregat_id"]) for r in rader] == [(cid, None, None)]
    assert rader[0]["person_pseudonym"] == _pseudonym(server, saker["ident_lop"])


async def test_no_identifier_is_stored_and_the_log_refuses_update_delete_and_truncate(server, client, system, revisor):
    saker = await _saker(client, system)
    for sti in (f"/tiltakslop/{saker['lop']}", f"/ungdomsgarantier/{saker['ug']}/historikk"):
        assert (await client.get(API + sti, headers=system)).status_code == 200
    assert (await client.post(f"{API}/personer/oversikt", json={"person": person(saker["ident_ug"])},
                              headers=system)).status_code == 200
    rader = await _rader(server, client, revisor)
    assert len(rader) == 3

    conn = await asyncpg.connect(server.database_url)
    try:
        dump = await conn.fetchval("SELECT string_agg(t::text, '|') FROM forlop_innsyn t")
        for ident in (saker["ident_lop"], saker["ident_ug"]):
            assert ident not in dump
        for sql in (
            "UPDATE forlop_innsyn SET nav_ident = 'X'",
            "DELETE FROM forlop_innsyn",
            "TRUNCATE forlop_innsyn",
        ):
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                await conn.execute(sql)
        assert await conn.fetchval("SELECT count(*) FROM forlop_innsyn") == 3
        assert await conn.fetchval("SELECT count(*) FROM forlop_innsyn WHERE nav_ident = 'X'") == 0
    finally:
        await conn.close()


async def test_revisjon_innsyn_is_revisors_with_filters_and_paging(server, client, token, system, revisor):
    saker = await _saker(client, system)
    a = bearer(token("saksbehandler", "0315", ident="Z000001"))
    b = bearer(token("saksbehandler", "0315", ident="Z000002"))
    await client.get(f"{API}/tiltakslop/{saker['lop']}", headers=a)
    await client.get(f"{API}/tiltakslop/{saker['lop']}/historikk", headers=a)
    await client.get(f"{API}/ungdomsgarantier/{saker['ug']}", headers=b)
    await asyncio.sleep(0.01)
    midt = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await client.get(f"{API}/ungdomsgarantier/{saker['ug']}/historikk", headers=a)

    async def innsyn(headers: dict[str, str] = revisor, **params: Any) -> Any:
        return await client.get(f"{API}/revisjon/innsyn", params=params, headers=headers)

    alle = await innsyn()
    assert alle.status_code == 200, alle.text
    assert alle.json()["neste"] is None
    assert [(e["nav_ident"], e["aggregat_id"]) for e in alle.json()["elementer"]] == [
        ("Z000001", saker["lop"]), ("Z000001", saker["lop"]), ("Z000002", saker["ug"]), ("Z000001", saker["ug"]),
    ]
    element = alle.json()["elementer"][0]
    assert set(element) == {"nr", "tidspunkt", "nav_ident", "roller", "person_pseudonym", "endepunkt", "aggregat",
                            "aggregat_id", "correlation_id"}

    lop_p = _pseudonym(server, saker["ident_lop"])
    by_person = (await innsyn(person_pseudonym=lop_p)).json()["elementer"]
    assert [e["endepunkt"] for e in by_person] == [
        "GET /api/v1/tiltakslop/{lop_id}", "GET /api/v1/tiltakslop/{lop_id}/historikk"
    ]
    assert [e["aggregat_id"] for e in (await innsyn(nav_ident="Z000002")).json()["elementer"]] == [saker["ug"]]
    z = midt.isoformat().replace("+00:00", "Z")
    assert len((await innsyn(fra=z)).json()["elementer"]) == 1
    assert len((await innsyn(til=z)).json()["elementer"]) == 3
    assert (await innsyn(fra=z, nav_ident="Z000002")).json()["elementer"] == []

    sider, etter = [], None
    while True:
        params = {"antall": 1} | ({"etter": etter} if etter else {})
        side = (await innsyn(**params)).json()
        sider += side["elementer"]
        etter = side["neste"]
        if etter is None:
            break
    assert sider == alle.json()["elementer"]

    assert (await innsyn(system)).status_code == 403
    assert (await innsyn(bearer(token("saksbehandler", "0315")))).status_code == 403
    assert (await innsyn({})).status_code == 401
    assert (await innsyn(person_pseudonym="15885000093")).status_code == 400
    assert (await innsyn(etter="abc")).status_code == 400
    assert (await innsyn(antall=0)).status_code == 400
    assert (await innsyn(fra="2025-03-03T10:00:00")).status_code == 400  # an instant needs its offset


async def test_queued_rows_are_written_on_shutdown_and_a_full_queue_refuses_instead_of_losing(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        logg = ReadLog(pool, b"k" * 32, intervall=3600, maks=3)  # the writer would wait an hour
        logg.start()
        kwargs = dict(nav_ident="Z1", roller=["REVISOR"], endepunkt="GET /x", correlation_id=uuid.uuid4())
        logg.registrer(personer=[("15885000093", "tiltakslop", uuid.uuid4()), ("01817000092", None, None)], **kwargs)
        with pytest.raises(ReadLogFull):
            logg.registrer(personer=[("12866000024", None, None)] * 2, **kwargs)

        await logg.stopp()

        assert logg.ventende == 0
        assert await pool.fetchval("SELECT count(*) FROM forlop_innsyn") == 2
    finally:
        await pool.close()
