"""The environment the suite runs in is uv.lock's: every installed distribution is a locked package at its
locked version, every declared dependency is installed, and each locked version lies in the declared range.
(`make test` also runs `uv sync --locked --check`, which sees missing and extra packages.)"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _locked() -> dict[str, set[str]]:
    """Every locked version of each package (uv locks two versions of one package when the Python versions
    the project supports resolve differently, e.g. numpy for 3.11 and for 3.12+)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    versions: dict[str, set[str]] = {}
    for p in lock["package"]:
        versions.setdefault(canonicalize_name(p["name"]), set()).add(p["version"])
    return versions


def _installed() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    texts = list(project["project"]["dependencies"])
    texts += project["project"]["optional-dependencies"]["embedded"]
    for group in project["dependency-groups"].values():
        texts += group
    return [Requirement(t) for t in texts]


def test_every_installed_distribution_is_locked_at_its_locked_version():
    locked, installed = _locked(), _installed()
    assert {n: v for n, v in installed.items() if v not in locked.get(n, set())} == {}


def test_every_declared_dependency_is_installed_and_its_locked_version_is_in_the_declared_range():
    locked, installed = _locked(), _installed()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in installed, f"{name} is declared but not installed"
        assert requirement.specifier.contains(installed[name], prereleases=True), (requirement, installed[name])
        assert installed[name] in locked[name], (name, installed[name], locked[name])
