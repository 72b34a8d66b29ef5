"""One `forlop up` for the chaos harness, with its embedded PostgreSQL and NATS, as an operator runs it:
the process and the servers it starts, found through /proc, so that faults can be put on each of them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from store.embedded import postmaster_pid
from tests.drill.klynge import FORLOP, ROOT, http, ledig_port

__all__ = ["ROOT", "ChaosStack"]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        s = _stat(int(stat.parent.name))
        if s is not None and s[1] == pid and s[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    s = _stat(pid)
    return s is not None and s[0] not in ("Z", "X")


class ChaosStack:
    def __init__(self, rot: Path) -> None:
        self.rot = rot
        self.data_dir = rot / "data"
        self.port, self.nats_port = ledig_port(), ledig_port()
        self.log = rot / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("FORLOP_", "DATABASE_URL", "NATS_URL"))}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={quote(str(self.pg_dir), safe='/')}"

    # --- start and stop --------------------------------------------------------------------------------

    def start(self, frist: float = 120.0) -> None:
        """`forlop up` on the data directory; returns when it printed its ready line and answers 200 on
        /health/ready (bounded)."""
        fra = self.log_size()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [FORLOP, "up", "--data-dir", str(self.data_dir), "--port", str(self.port),
                 "--nats-port", str(self.nats_port)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
            )
        slutt = time.monotonic() + frist
        while time.monotonic() < slutt:
            if self.proc.poll() is not None:
                raise RuntimeError(f"forlop up exited with {self.proc.returncode}:\n{self.tail(fra)}")
            if "forlop ready:" in self.tail(fra) and http("GET", f"{self.api_url}/health/ready", timeout=3)[0] == 200:
                return
            time.sleep(0.2)
        raise TimeoutError(f"forlop up not ready within {frist} s:\n{self.tail(fra)}")

    def token(self) -> str:
        out = subprocess.run(
            [FORLOP, "token", "--data-dir", str(self.data_dir), "--rolle", "saksbehandler", "--enhet", "0315"],
            env=self.env, capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
        )
        return out.stdout.strip()

    def postgres_pids(self) -> list[int]:
        pid = postmaster_pid(self.pg_dir.resolve())
        return [] if pid is None else [pid, *children(pid)]

    def nats_pid(self) -> int | None:
        if self.proc is None:
            return None
        for c in children(self.proc.pid):
            with contextlib.suppress(OSError):
                if b"nats-server" in Path(f"/proc/{c}/cmdline").read_bytes():
                    return c
        return None

    def kill_9(self) -> None:
        """SIGKILL to everything: the `forlop up` process group (the API, the workers, nats-server) and
        every postgres process of the data directory. Returns when they are gone."""
        pg = self.postgres_pids()
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in pg:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)
        slutt = time.monotonic() + 30
        while any(alive(p) for p in pg) and time.monotonic() < slutt:
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM to `forlop up` (it stops its servers); SIGKILL to what is left after 60 s. The
        directory (data and log) stays for `remove()`."""
        for pid in self.postgres_pids():  # a hung server would hold the stop
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if (n := self.nats_pid()) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(n, signal.SIGCONT)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill_9()
        if self.postgres_pids():
            self.kill_9()
        with contextlib.suppress(ProcessLookupError):
            if self.proc is not None:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def remove(self) -> None:
        shutil.rmtree(self.rot, ignore_errors=True)

    # --- faults --------------------------------------------------------------------------------------

    def signal_postgres(self, sig: int, *, postmaster_only: bool = False) -> list[int]:
        pids = self.postgres_pids()
        if not pids:
            raise RuntimeError("no postgres runs")
        for pid in pids[:1] if postmaster_only else pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def signal_nats(self, sig: int) -> list[int]:
        pid = self.nats_pid()
        if pid is None:
            raise RuntimeError("no nats-server runs")
        os.kill(pid, sig)
        return [pid]

    @staticmethod
    def cont(pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    # --- the log ---------------------------------------------------------------------------------------

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def tail(self, fra: int) -> str:
        with open(self.log, "rb") as f:
            f.seek(fra)
            return f.read().decode(errors="replace")

    def error_lines(self, fra: int) -> tuple[int, int]:
        """(log lines of level error or worse, log lines that carry a traceback) written since offset `fra`;
        a bare `Traceback` line (an uncaught one on stderr) counts as both."""
        errors = tracebacks = 0
        for line in self.tail(fra).splitlines():
            if line.startswith("Traceback"):
                errors, tracebacks = errors + 1, tracebacks + 1
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict):
                continue
            errors += str(rec.get("level", "")).lower() in ("error", "critical")
            tracebacks += "exception" in rec
        return errors, tracebacks
