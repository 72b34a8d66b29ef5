from tests.e2e.conftest import API, arbeidstrening, garanti, ny_ident, person

async def test_probe(client, sb_0315, system):
    async def show(label, r):
        print(f"\n## {label}: {r.status_code} {r.text[:300]}")
    vlt = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident(), tiltakstype="VARIG_LONNSTILSKUDD", tom=None, tilskuddsprosent="70", mottar_uforetrygd="true"), headers=sb_0315)
    await show("vlt str int/bool", vlt)
    await show("prosent str", await client.post(f"{vlt.headers['Location']}/tilskuddssats", json={"prosent": "50", "fom": "2025-03-01"}, headers=sb_0315))
    await show("prosent 50.0", await client.post(f"{vlt.headers['Location']}/tilskuddssats", json={"prosent": 50.0, "fom": "2025-03-02"}, headers=sb_0315))
    await show("vedtak_ref int", await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident(), vedtak_ref=123), headers=sb_0315))
