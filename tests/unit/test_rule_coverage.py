"""Every rule id of rules.md §1, §2, §4, §5 and §7 is named by at least one test (issue 2's acceptance).

A test names rule `LOP-5` as `test_lop_5…` or `test_…_lop_5c_…`; the id must stand between underscores
(a sub-rule letter may follow), so `lop_1` does not count for LOP-10.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT.parent / "shared" / "domain" / "rules.md"
SECTIONS = ("1", "2", "4", "5", "7")
ID = re.compile(r"^\|\s*([A-Z]+(?:-[A-Z]*\d*[A-Z]*)+)\s*\|")
ID_IN_BULLET = re.compile(r"^\*\s*(UG-D\d+):")


def rule_ids() -> set[str]:
    assert RULES.exists(), f"the rule catalogue is missing at {RULES} (shared/ must sit beside the clone)"
    ids: set[str] = set()
    section = None
    for line in RULES.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^##\s+(\d+)\.", line)
        if heading:
            section = heading.group(1)
            continue
        if section not in SECTIONS:
            continue
        match = ID.match(line) or ID_IN_BULLET.match(line)
        if match:
            ids.add(match.group(1))
    return ids


def collect_test_names() -> list[str]:
    names = []
    for path in (ROOT / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names += [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
        ]
    return names


def test_catalogue_ids_are_found():
    ids = rule_ids()

    assert {"GEN-1", "DATE-9", "OPP-AGE", "VTAO-1", "UG-D8", "LOP-16"} <= ids
    assert len(ids) > 80


def test_every_rule_id_has_a_test():
    names = collect_test_names()

    missing = sorted(
        rule
        for rule in rule_ids()
        if not any(
            re.search(rf"(^|_){re.escape(rule.lower().replace('-', '_'))}[a-z]?(_|$)", name[len("test") :])
            for name in names
        )
    )

    assert missing == [], f"rule ids with no test naming them: {missing}"
