"""The console's API types come from the app's OpenAPI document at build time, so a change of the contract
the console does not follow breaks the build (tsc), not the user: here a field the løp page reads is taken
out of the document, and the type check of the console's sources fails on it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.console.bygg import KONSOLL

_GENERER = """
import openapiTS, { astToString } from "openapi-typescript";
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [dok, ut] = process.argv.slice(2);
writeFileSync(ut, astToString(await openapiTS(pathToFileURL(dok))));
"""


def _typesjekk(dokument: dict, mappe: Path) -> subprocess.CompletedProcess[str]:
    prosjekt = mappe / "console"
    shutil.copytree(KONSOLL / "src", prosjekt / "src")
    for fil in ("tsconfig.json", "vite.config.ts", "package.json"):
        shutil.copy(KONSOLL / fil, prosjekt / fil)
    (prosjekt / "node_modules").symlink_to(KONSOLL / "node_modules")
    (mappe / "openapi.json").write_text(json.dumps(dokument), encoding="utf-8")
    (prosjekt / "generer.mjs").write_text(_GENERER, encoding="utf-8")
    subprocess.run(
        ["node", "generer.mjs", str(mappe / "openapi.json"), str(prosjekt / "src" / "api" / "schema.d.ts")],
        cwd=prosjekt, check=True, timeout=120,
    )
    return subprocess.run(
        ["node", str(KONSOLL / "node_modules" / "typescript" / "bin" / "tsc"), "--noEmit", "-p", "tsconfig.json"],
        cwd=prosjekt, capture_output=True, text=True, timeout=300,
    )


def test_a_field_taken_out_of_the_contract_fails_the_consoles_type_check(konsoll_bygget: None, tmp_path: Path) -> None:
    dokument = json.loads((KONSOLL / "openapi.json").read_text(encoding="utf-8"))
    assert _typesjekk(dokument, tmp_path / "som-den-er").returncode == 0  # the document as the app serves it

    lop = dokument["components"]["schemas"]["LopVisning"]
    del lop["properties"]["total_cap_tom"]
    lop["required"] = [f for f in lop.get("required", []) if f != "total_cap_tom"]
    endret = _typesjekk(dokument, tmp_path / "endret")

    assert endret.returncode != 0
    assert "total_cap_tom" in endret.stdout, endret.stdout
