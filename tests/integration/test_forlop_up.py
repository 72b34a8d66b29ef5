"""`forlop up` (what `make run` runs) starts the embedded stack, prints its ready line and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time


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
