"""The repository stands on its own: README.md and docs/*.md link only to files in the repo (every relative
link resolves), none names a path outside it (`../shared`, `contract.md`, `rules.md` as a file), and the
LICENSE is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_PATH = re.compile(r"`([^`\s]+\.(?:md|py|json|png|toml|sql|yaml|yml))`")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("document", DOCUMENTS, ids=_ids(DOCUMENTS))
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # http(s), mailto: not a file
        path = (document.parent / target.split("#")[0]).resolve()
        if not path.exists() or ROOT not in (path, *path.parents):
            broken.append(target)

    assert broken == [], f"{document.relative_to(ROOT)} links to {broken}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_ids(DOCUMENTS))
def test_no_document_names_a_file_outside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")

    assert "../shared" not in text and "shared/" not in text
    outside = [p for p in CODE_PATH.findall(text) if p.endswith(("contract.md", "rules.md", "ARCHITECTURE.md"))]
    assert outside == [], f"{document.relative_to(ROOT)} names {outside}"
    missing = [
        p for p in CODE_PATH.findall(text)
        if "/" in p and not p.startswith(("http", "/")) and "*" not in p and "<" not in p
        and not (ROOT / p).exists() and not (document.parent / p).exists()
    ]
    assert missing == [], f"{document.relative_to(ROOT)} names files that do not exist: {missing}"


def test_the_glossary_points_to_the_generated_catalogue() -> None:
    glossary = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")

    assert "](regelkatalog.md)" in glossary and "docs/rules.md" not in glossary


def test_the_licence_is_mit_and_names_nav() -> None:
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")

    assert licence.startswith("MIT License") and "NAV" in licence and "2026" in licence
