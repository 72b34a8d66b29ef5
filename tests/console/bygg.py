"""The console's build for the tests: `npm ci` and `npm run build` when console/dist is missing or older than
its sources or the Python code behind the API (what `make console` does: the build generates the API's types
from the app's OpenAPI document), so that `python -m pytest` alone tests the console against the API as it is
now."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KONSOLL = ROOT / "console"
DIST = KONSOLL / "dist"
KILDER = ("src", "index.html", "vite.config.ts", "tsconfig.json", "package.json", "package-lock.json", "scripts")
API = ("api", "store", "domain")  # the OpenAPI document the types are generated from


def _nyeste(sti: Path, monster: str = "*") -> float:
    if sti.is_file():
        return sti.stat().st_mtime
    return max((p.stat().st_mtime for p in sti.rglob(monster) if p.is_file()), default=0.0)


def utdatert() -> bool:
    index = DIST / "index.html"
    if not index.is_file():
        return True
    kilder = max(_nyeste(KONSOLL / k) for k in KILDER if (KONSOLL / k).exists())
    kilder = max(kilder, *(_nyeste(ROOT / d, "*.py") for d in API))
    return kilder > index.stat().st_mtime


def bygg() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (Node 20 with npm is needed to build the console)")
    env = {**os.environ, "FORLOP_PYTHON": sys.executable}
    las = KONSOLL / "node_modules" / ".package-lock.json"
    if not las.is_file() or las.stat().st_mtime < (KONSOLL / "package-lock.json").stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=KONSOLL, env=env, check=True)
    subprocess.run([npm, "run", "build"], cwd=KONSOLL, env=env, check=True)


def sikre_bygget() -> None:
    if utdatert():
        bygg()
