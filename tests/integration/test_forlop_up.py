"""`forlop up` (what `make run` runs) starts the embedded stack, prints its ready line and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_forlop_up_starts_embedded_stack_and_stops_on_sigterm(tmp_path):
    nats_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "up", "--data-dir", str(tmp_path / "data"),
         "--port", str(free_port()), "--nats-port", str(nats_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("forlop ready:"):
                break

        ready = [line for line in lines if line.startswith("forlop ready:")]
        assert ready, "".join(lines)
        assert f"nats=nats://127.0.0.1:{nats_port}" in ready[0]
        with socket.create_connection(("127.0.0.1", nats_port), timeout=2):
            pass
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)

    assert proc.returncode == 0, "".join(lines) + out
    assert "forlop stopped" in out


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_forlop_api_with_two_workers_serves_from_the_app_factory_and_stops_on_sigterm(tmp_path, database_url):
    port = free_port()
    config = tmp_path / "forlop.toml"
    config.write_text("[ungdomsgaranti]\nmax_caseload = 7\n")
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("NATS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "api", "--workers", "2", "--port", str(port),
         "--data-dir", str(tmp_path / "data"), "--config", str(config), "--today", "2025-03-03"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        answer = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=2) as r:
                    answer = r.status
                    break
            except OSError:
                time.sleep(0.2)
        assert answer == 200, proc.stdout.read() if proc.poll() is not None else "no answer"
        # The server processes uvicorn spawned, each serving the app the factory built.
        spawned = [c for c in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(spawned) == 2, spawned
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)

    assert proc.returncode == 0, out
