from __future__ import annotations
import json
import pytest
from tests.e2e.conftest import API, arbeidstrening, bearer, garanti, ny_ident

@pytest.fixture(scope="module")
def server(shared_server):
    return shared_server

async def test_probe(client, token):
    sb = bearer(token("saksbehandler", "0315"))
    doc = (await client.get("/schema/openapi.json")).json()
    out = []
    async def new_lop(path):
        t = {"tiltakstype": "ARBEIDSTRENING", "tom": "2025-07-04"}
        if path.endswith("/tilskuddssats"): t = {"tiltakstype": "MIDLERTIDIG_LONNSTILSKUDD", "tom": "2025-12-31", "tilskuddsprosent": 60}
        elif path.endswith("/permisjoner"): t = {"tiltakstype": "VTA", "tom": "2026-01-05"}
        elif path.endswith("/vurderinger"): t = {"tiltakstype": "AFT", "tom": "2025-12-31"}
        r = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident(), **t), headers=sb)
        assert r.status_code == 201, r.text
        return r.json()["id"]
    async def new_g():
        r = await client.post(f"{API}/ungdomsgarantier", json=garanti(ny_ident()), headers=sb)
        assert r.status_code == 201, r.text
        return r.json()["id"]
    for path, item in doc["paths"].items():
        op = item.get("post")
        if not op or "requestBody" not in op: continue
        exs = op["requestBody"]["content"]["application/json"]["schema"].get("examples") or []
        for ex in exs:
            def fields(b, pre=""):
                for k, v in b.items():
                    yield pre + k
                    if isinstance(v, dict):
                        yield from fields(v, pre + k + ".")
            for f in list(fields(ex)):
                for mode in ("missing", "null"):
                    body = json.loads(json.dumps(ex))
                    if isinstance(body.get("person"), dict): body["person"]["ident"] = ny_ident()
                    *par, last = f.split(".")
                    t = body
                    for p in par: t = t[p]
                    if mode == "missing": del t[last]
                    else: t[last] = None
                    url = path
                    if "{lop_id}" in path: url = path.replace("{lop_id}", await new_lop(path))
                    if "{garanti_id}" in path: url = path.replace("{garanti_id}", await new_g())
                    r = await client.post(url, json=body, headers=sb)
                    code = r.json().get("code") if r.headers.get("content-type","").startswith("application/") else None
                    out.append((path, json.dumps(ex)[:60], f, mode, r.status_code, code))
    with open("/tmp/edgeprobe/out.txt", "w") as fh:
        for o in out: fh.write(" | ".join(map(str, o)) + "\n")
