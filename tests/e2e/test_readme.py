"""The README's walkthrough ("A løp from innvilget to overgang with curl") runs as written, so it cannot drift.

The test reads README.md itself: every `sh` block of that section in order, its variable assignments and its
curl commands (method, headers, body, URL, parsed with shlex after the shell variables are filled in), and the
answer block shown after each command. It runs them against a fresh stack: a fresh database and data
directory, the business date the README's answers show (`"per"`), and a token from the README's own
`forlop token` command. Ids are taken from the answers (`$LOP` is the id of the løp the first command
granted), and the README's ids are mapped to the real ones before comparing.

Every answer must have the status, `etag` and `location` the README shows, and every `"key": value` pair the
README shows (strings, numbers, booleans, null, not those it elides with `…`) must appear in the real answer,
at any depth. Only what differs on every run is left out: event ids, instants, correlation ids and links.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from domain.ident import gyldig_ident
from store.settings import load_settings
from tests.conftest import ny_database
from tests.e2e.conftest import serve
from workers.cli import forlop

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## A løp from innvilget to overgang with curl"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
PAIR = re.compile(r'"(\w+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)')
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VOLATILE = {"registrert", "correlation_id", "lenke", "x-correlation-id"}


@dataclass
class Step:
    command: str  # one shell command, continuation lines joined
    expected: str | None = None  # the answer block shown after it


@dataclass
class Expected:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


def walkthrough() -> list[Step]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    steps: list[Step] = []
    for lang, block in FENCE.findall(section):
        if lang == "sh":
            steps += [Step(c) for c in _commands(block)]
        elif steps and steps[-1].expected is None and "curl" in steps[-1].command:
            steps[-1].expected = block
    return steps


def _commands(block: str) -> Iterator[str]:
    """The block's commands: continuation lines joined, a quoted argument kept across lines, comments
    after two spaces dropped."""
    buffer = ""
    for line in re.sub(r"\\\n\s*", " ", block).splitlines():
        buffer = f"{buffer}\n{line}" if buffer else line.split("  #")[0].strip()
        try:
            shlex.split(buffer)
        except ValueError:
            continue  # a quote still open: the argument goes on in the next line
        if _runnable(buffer):
            yield buffer
        buffer = ""
    assert not buffer, f"unbalanced quotes in {buffer!r}"


def _runnable(line: str) -> bool:
    line = line.strip()
    return bool(line) and not line.startswith(("#", "make ", ".venv/bin/forlop up"))


def parse_expected(block: str) -> Expected:
    lines = block.splitlines()
    if not lines[0].startswith("HTTP/"):
        status = json.loads(m.group(1)) if (m := re.search(r'"status":\s*(\d+)', block)) else None
        return Expected(status, body=block)
    headers: dict[str, str] = {}
    i = 1
    while i < len(lines) and lines[i].strip():
        name, _, value = lines[i].partition(":")
        headers[name.strip().lower()] = value.strip()
        i += 1
    return Expected(int(lines[0].split()[1]), headers, "\n".join(lines[i:]))


def scalars(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, scalar) pair of a JSON value, at any depth."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list):
                yield from scalars(v)
            else:
                yield k, v
    elif isinstance(value, list):
        for v in value:
            yield from scalars(v)


def curl(argv: list[str]) -> tuple[str, str, dict[str, str], str | None]:
    assert argv[0] == "curl", argv
    method, headers, body, url = "GET", {}, None, None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            body = next(args)
            method = "POST" if method == "GET" else method
        elif arg.startswith("-"):
            assert set(arg[1:]) <= {"s", "i"}, f"the test does not know curl's {arg}"
        else:
            url = arg
    assert url is not None, argv
    return method, url, headers, body


def business_date() -> date:
    match = re.search(r'"per":"(\d{4}-\d{2}-\d{2})"', README.read_text(encoding="utf-8"))
    assert match, "the README's first answer shows no business date (per)"
    return date.fromisoformat(match.group(1))


def test_the_walkthrough_uses_a_valid_synthetic_identifier() -> None:
    idents = re.findall(r'"ident":\s*"(\d{11})"', README.read_text(encoding="utf-8"))

    assert idents
    for ident in idents:
        assert gyldig_ident(ident) and int(ident[2:4]) > 40, f"{ident} is not a synthetic test number"


async def test_the_readme_walkthrough_runs_as_written(postgres_server_url: str, nats_url: str, tmp_path: Path) -> None:
    steps = walkthrough()
    assert sum("curl" in s.command for s in steps) >= 7, "the walkthrough lost its curl commands"
    data_dir = tmp_path / "forlop"
    async with ny_database(postgres_server_url, "readme") as database_url:
        settings = load_settings(
            environ={"DATABASE_URL": database_url, "NATS_URL": nats_url, "FORLOP_PERSON_KEY": "readme-" + "k" * 32},
            data_dir=data_dir,
            today=business_date(),
        )
        async with serve(settings) as server, httpx.AsyncClient(trust_env=False, timeout=30) as http:
            env: dict[str, str] = {}
            ids: dict[str, str] = {}  # README id → the id of this run
            ran = 0
            for step in steps:
                command = step.command
                if assignment := re.match(r"^(\w+)=(.*)$", command):
                    env[assignment.group(1)] = _value(assignment.group(2), env, ids, server.url, data_dir)
                    continue
                argv = shlex.split(_fill(command, env))
                method, url, headers, body = curl(argv)
                r = await http.request(method, url, headers=headers, content=body)
                ran += 1
                assert step.expected is not None, f"no answer shown after {command[:60]}"
                _compare(command, parse_expected(step.expected), r, ids)
            assert ran == sum("curl" in s.command for s in steps)


def _fill(command: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)", lambda m: env[m.group(1)], command)


def _value(raw: str, env: dict[str, str], ids: dict[str, str], base_url: str, data_dir: Path) -> str:
    raw = raw.strip()
    if raw.startswith("$(") and raw.endswith(")"):
        argv = shlex.split(raw[2:-1])
        assert argv[0].endswith("forlop"), raw
        out = CliRunner().invoke(forlop, [*argv[1:], "--data-dir", str(data_dir)], env={"FORLOP_JWT_SECRET": None})
        assert out.exit_code == 0, out.output
        return out.output.strip()
    if UUID.fullmatch(raw):
        assert raw in ids, f"{raw} is in no answer before it"
        return ids[raw]  # "the id from the answer above"
    return raw.replace("http://127.0.0.1:8000", base_url)


def _compare(command: str, expected: Expected, r: httpx.Response, ids: dict[str, str]) -> None:
    where = command[:70]
    if expected.status is not None:
        assert r.status_code == expected.status, f"{where}: {r.status_code} {r.text[:300]}"
    body = r.json()
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        shown = re.search(r'^\{"id":"([0-9a-f-]{36})"', expected.body.strip())
        if shown:
            ids.setdefault(shown.group(1), body["id"])
    for name, value in expected.headers.items():
        if name in VOLATILE:
            continue
        value = UUID.sub(lambda m: ids.get(m.group(0), m.group(0)), value)
        assert r.headers.get(name, "").startswith(value), f"{where}: {name} is {r.headers.get(name)}, README {value}"
    actual = set()
    for k, v in scalars(body):
        actual.add((k, json.dumps(v, ensure_ascii=False)))
    for key, raw in PAIR.findall(expected.body):
        if key in VOLATILE or "…" in raw:
            continue
        shown_id = UUID.search(raw)
        if shown_id is not None and shown_id.group(0) not in ids:
            continue  # an id of an event, not of an aggregate
        value = UUID.sub(lambda m: ids.get(m.group(0), m.group(0)), raw)
        assert (key, value) in actual, f"{where}: README shows {key}: {raw}, the answer has " + str(
            sorted(v for k, v in actual if k == key)
        )
