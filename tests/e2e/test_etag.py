"""Every read of one aggregate carries `ETag: "<version>"` (contract.md §2), history and what-if too."""

from __future__ import annotations

from tests.e2e.conftest import arbeidstrening, garanti


async def test_history_and_what_if_reads_carry_the_aggregates_version_as_etag(client, sb_0315):
    lop = (await client.post("/api/v1/tiltakslop", json=arbeidstrening(), headers=sb_0315)).json()
    avkortet = await client.post(
        f"/api/v1/tiltakslop/{lop['id']}/avkorting", json={"ny_tom": lop["fom"]}, headers=sb_0315
    )
    ug = (await client.post("/api/v1/ungdomsgarantier", json=garanti(), headers=sb_0315)).json()

    historikk = await client.get(f"/api/v1/tiltakslop/{lop['id']}/historikk", headers=sb_0315)
    hva_om = await client.get(f"/api/v1/tiltakslop/{lop['id']}/forlengelse", headers=sb_0315)
    ug_historikk = await client.get(f"/api/v1/ungdomsgarantier/{ug['id']}/historikk", headers=sb_0315)

    assert avkortet.status_code == 200, avkortet.text
    assert historikk.status_code == 200 and historikk.headers["etag"] == '"2"'
    assert hva_om.status_code == 200 and hva_om.headers["etag"] == '"2"'
    assert ug_historikk.status_code == 200 and ug_historikk.headers["etag"] == '"1"'
