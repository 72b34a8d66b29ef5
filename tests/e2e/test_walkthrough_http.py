"""examples/walkthrough.http holds the README walkthrough's requests, one for one (method, URL, headers and
body), so that it cannot drift from the README, which tests/e2e/test_readme.py runs against a real stack."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from tests.e2e.test_readme import _fill, curl, walkthrough

HTTP_FILE = Path(__file__).resolve().parents[2] / "examples" / "walkthrough.http"
# The README's shell variables as the .http file names them.
VARIABLES = {"API": "{{api}}", "TOKEN": "{{token}}", "LOP": "{{lop}}"}


def http_requests(text: str) -> list[tuple[str, str, dict[str, str], Any]]:
    """The requests of an .http file: blocks after `###`, `#` comment lines skipped."""
    out = []
    for block in re.split(r"^###.*$", text, flags=re.M)[1:]:
        lines = [line for line in block.strip().splitlines() if not line.startswith("#")]
        method, url = lines[0].split()
        headers: dict[str, str] = {}
        i = 1
        while i < len(lines) and lines[i].strip():
            name, _, value = lines[i].partition(":")
            headers[name.strip()] = value.strip()
            i += 1
        body = "\n".join(lines[i:]).strip()
        out.append((method, url, headers, json.loads(body) if body else None))
    return out


def test_the_http_file_sends_the_readme_walkthroughs_requests():
    readme = []
    for step in walkthrough():
        if "curl" not in step.command:
            continue
        method, url, headers, body = curl(shlex.split(_fill(step.command, VARIABLES)))
        readme.append((method, url, headers, json.loads(body) if body else None))
    text = HTTP_FILE.read_text(encoding="utf-8")

    assert http_requests(text) == readme
    assert "@lop = {{grant.response.body.$.id}}" in text and "# @name grant" in text
