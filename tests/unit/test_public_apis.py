"""House rule "public APIs only" (ARCHITECTURE.md), checked over the production code: no import from a
private module of a dependency (`from litestar._asgi import ...`, `import nats.aio._x`), no private name
imported from one, and no access to `_names` of objects that are not our own (ruff's SLF001; a `noqa`
does not silence it here)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("domain", "store", "projections", "api", "workers")


def _private(dotted: str) -> bool:
    return any(part.startswith("_") and part != "__future__" for part in dotted.split("."))


def private_imports(source: str, filename: str = "<source>") -> list[str]:
    """`file:line module` for each import of a private module, or of a private name, from a dependency."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            modules = [(a.name, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [(node.module, node.module)] + [
                (node.module, f"{node.module}.{a.name}") for a in node.names if a.name.startswith("_")
            ]
        else:
            continue
        for module, what in modules:
            if module.split(".")[0] not in OURS and _private(what):
                found.append(f"{filename}:{node.lineno} {what}")
    return found


def production_files() -> list[Path]:
    return sorted(p for package in OURS for p in (ROOT / package).rglob("*.py"))


def test_the_check_finds_private_imports_and_leaves_public_and_our_own_alone():
    source = (
        "import litestar._asgi.utils\n"
        "from nats.aio._client import X\n"
        "from litestar.utils import _hidden, public\n"
        "from litestar import Litestar\n"
        "from __future__ import annotations\n"
        "from store.keys import _SIKRE\n"
        "import _thread\n"
    )
    assert private_imports(source) == [
        "<source>:1 litestar._asgi.utils",
        "<source>:2 nats.aio._client",
        "<source>:3 litestar.utils._hidden",
        "<source>:7 _thread",
    ]


def test_production_code_imports_no_private_module_or_name_of_a_dependency():
    files = production_files()
    assert len(files) > 50
    found = [hit for p in files for hit in private_imports(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert found == []


def _ruff_slf001(*paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--ignore-noqa", "--select", "SLF001",
         "--output-format", "concise", *paths],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_ruff_slf001_catches_access_to_a_private_member(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import nats\n\n\ndef f(nc: nats.NATS) -> None:\n    nc._flush_pending()  # noqa: SLF001\n")
    result = _ruff_slf001(str(bad))
    assert result.returncode == 1 and "SLF001" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("package", OURS)
def test_production_code_reaches_no_private_member_of_another_object(package):
    result = _ruff_slf001(package)
    assert result.returncode == 0, result.stdout + result.stderr
