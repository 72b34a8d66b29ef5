"""The short cluster drill in `make test` (about a minute): the relay's and the projection runner's active
replicas are killed and their standbys take over within the stated bound, then stored events = NATS =
views with nothing lost or duplicated. `make drill` runs the full drill (tests/drill/drill.py)."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.drill.klynge import ROOT


def test_short_cluster_drill():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.drill.drill", "--kort"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        out, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the drill stops what it started
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    print(out)
    assert proc.returncode == 0, out[-4000:]
    assert "TAKEOVER relay" in out and "TAKEOVER projeksjon" in out
    assert "lost=0 duplicated=0" in out
