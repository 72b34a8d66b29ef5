"""The operator's side of the `forlop` command (issue 17 point 5), with real processes, PostgreSQL and NATS:
`tail` keyed by its subject, progress with ETA on seed, replay and relay replay, NATS options on every
command that publishes, `--version`, and standby workers that say they wait for the lock."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import nats
import pytest
from click.testing import CliRunner

from workers.cli import forlop, resolve
from workers.embedded_nats import start_nats
from workers.nats_setup import ensure_streams
from workers.tail import TailRefused, durable_for, tail


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def nats_server() -> Iterator[str]:
    url, proc = start_nats(Path(tempfile.mkdtemp(prefix="forlop-cli-nats-")), free_port())
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workers.cli", *args], capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=timeout)


async def _tail(url: str, subject: str, durable: str | None) -> list[str]:
    """What `forlop tail` prints for `subject` within a second (the consumer code of the command)."""
    out, stop = io.StringIO(), asyncio.Event()
    task = asyncio.create_task(tail(url, subject, durable, stop=stop, out=out))
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.wait_for(task, 10)
    return out.getvalue().splitlines()


async def test_tail_is_keyed_by_its_subject_and_refuses_a_durable_of_another_subject(nats_server):
    nc = await nats.connect(nats_server)
    js = nc.jetstream()
    await ensure_streams(js)
    for data, subject in (("a1", "forlop.hendelse.a"), ("b1", "forlop.hendelse.b"), ("a2", "forlop.hendelse.a")):
        await js.publish(subject, data.encode())
    await nc.close()
    a, b = "forlop.hendelse.a", "forlop.hendelse.b"
    # Ephemeral by default: each run shows the subject's events from the start, and only those.
    assert await _tail(nats_server, a, None) == ["a1", "a2"]
    assert await _tail(nats_server, a, None) == ["a1", "a2"]
    # --resume: a durable per subject, so another subject never shows the old one's events …
    assert await _tail(nats_server, a, durable_for(a)) == ["a1", "a2"]
    assert durable_for(a) != durable_for(b)
    assert await _tail(nats_server, b, durable_for(b)) == ["b1"]
    # … and a restart with the same subject resumes after what it acknowledged.
    assert await _tail(nats_server, a, durable_for(a)) == []
    # A named durable that follows another subject is refused, not silently reused (the command's message).
    assert await _tail(nats_server, a, "mine") == ["a1", "a2"]
    with pytest.raises(TailRefused, match="follows 'forlop.hendelse.a', not 'forlop.hendelse.b'"):
        await _tail(nats_server, b, "mine")
    refused = subprocess.run([sys.executable, "-m", "workers.cli", "tail", "--nats-url", nats_server, "--subject", b,
                              "--durable", "mine"], capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1 and "follows 'forlop.hendelse.a'" in refused.stderr, refused.stderr


def test_seed_replay_and_relay_replay_show_progress_with_eta_and_take_a_nats_url(database_url, nats_server):
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("NATS_URL", None)
    with tempfile.TemporaryDirectory() as data_dir:
        seeded = _cli("seed", "--lop", "3", "--data-dir", data_dir, "--today", "2025-03-03", env=env)
        assert seeded.returncode == 0, seeded.stderr
        assert "seed: " in seeded.stderr and "ETA " in seeded.stderr, seeded.stderr

        replayed = _cli("relay", "replay", "--fra", "1", "--nats-url", nats_server, "--data-dir", data_dir, env=env)
        assert replayed.returncode == 0, replayed.stderr
        assert "published" in replayed.stdout
        last = [x for x in replayed.stderr.splitlines() if x.startswith("relay replay: ")][-1]
        assert "(100 %)" in last and "ETA 0:00" in last, replayed.stderr

        known = _cli("replay", "--kjent-per", "2100-01-01T00:00:00Z", "--data-dir", data_dir, env=env)
        assert known.returncode == 0, known.stderr
        last = [x for x in known.stderr.splitlines() if x.startswith("replay: ")][-1]
        assert "(100 %)" in last and "ETA 0:00" in last, known.stderr

        # The alert run publishes to the NATS given on its command line.
        alerts = _cli("varsler", "kjor", "--per", "2025-03-03", "--nats-url", nats_server, "--data-dir", data_dir,
                      env=env)
        assert alerts.returncode == 0, alerts.stderr
        assert "unsent" in alerts.stdout and "not reachable" not in alerts.stderr, alerts.stderr


@pytest.mark.parametrize("argv", [
    ["relay", "--nats-url", "nats://n:4222"],
    ["relay", "replay", "--fra", "1", "--nats-url", "nats://n:4222"],
    ["varsler", "kjor", "--per", "2025-03-03", "--nats-url", "nats://n:4222"],
    ["varsler", "kjor-arbeider", "--nats-url", "nats://n:4222"],
    ["tail", "--nats-url", "nats://n:4222"],
])
def test_every_command_that_publishes_takes_a_nats_url(argv):
    assert resolve(argv)[-1][1]["nats_url"] == "nats://n:4222"


def test_version():
    result = CliRunner().invoke(forlop, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"forlop, version {version('forlop')}\n"


def test_a_standby_worker_says_it_waits_for_the_lock(database_url):
    env = {**os.environ, "DATABASE_URL": database_url}
    with tempfile.TemporaryDirectory() as data_dir:
        args = [sys.executable, "-m", "workers.cli", "planlegger", "--today", "2025-03-03", "--data-dir", data_dir]
        first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            assert first.stdout is not None
            deadline = time.monotonic() + 30
            seen = ""
            while "active" not in seen and time.monotonic() < deadline:
                seen += first.stdout.readline()
            assert "active" in seen, seen
            second = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
            try:
                assert second.stdout is not None
                line = ""
                deadline = time.monotonic() + 30
                while "standby" not in line and time.monotonic() < deadline:
                    line = second.stdout.readline()
                assert "another replica holds the lock; waiting for it" in line, line
            finally:
                second.send_signal(signal.SIGTERM)
                second.communicate(timeout=30)
        finally:
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=30)
