"""`make docs-assets` (`python -m workers.docs_assets`): fetch the scripts and styles of the pages under
/schema again, from the npm registry with `npm pack`, at the versions `api.openapi.ASSETS` pins, into
api/docs_assets/. Each file must match the digest pinned beside its version; to move to a new version,
change the version and the digests in api/openapi.py together (the run names the digest it found)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from api.openapi import ASSETS, ASSETS_DIR, Asset


def fetch(asset: Asset, work: Path) -> list[str]:
    """Unpack the package's tarball and copy its pinned files and licence; the problems found."""
    npm = shutil.which("npm")
    if npm is None:
        return ["npm is not installed"]
    name = subprocess.run(
        [npm, "pack", f"{asset.package}@{asset.version}", "--silent"], cwd=work, capture_output=True, text=True,
        check=True,
    ).stdout.strip().splitlines()[-1]
    with tarfile.open(work / name) as tar:
        tar.extractall(work / asset.folder, filter="data")
    package = work / asset.folder / "package"
    target = ASSETS_DIR / asset.folder
    target.mkdir(parents=True, exist_ok=True)
    problems = []
    for file, digest in asset.files.items():
        source = package / asset.source / file if (package / asset.source / file).exists() else package / file
        found = hashlib.sha256(source.read_bytes()).hexdigest()
        if found != digest:
            problems.append(f"{asset.folder}/{file}: sha256 {found}, api/openapi.py pins {digest}")
            continue
        shutil.copyfile(source, target / file)
    for licence in package.glob("LICENSE*"):
        shutil.copyfile(licence, target / licence.name)
    return problems


def main() -> int:
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="forlop-docs-assets-") as tmp:
        for asset in ASSETS:
            problems += fetch(asset, Path(tmp))
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{sum(len(a.files) for a in ASSETS)} files of {len(ASSETS)} packages in {ASSETS_DIR}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
