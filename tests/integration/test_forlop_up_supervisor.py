"""`forlop up` as a supervisor (issue 16 point 5, issue 17 point 5), with real processes: after a kill -9 of
the whole stack it starts again (stale postmaster.pid of a reused pid); a dead embedded NATS or PostgreSQL
is started again; a second instance on the same data directory or NATS port is refused clearly; a failed
or interrupted start leaves no child behind; idle and half-sent connections are closed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.embedded import postmaster_pid, start_postgres, stop_postgres
from workers.embedded_nats import port_in_use, start_nats


@pytest.fixture(scope="module")
def initialised_pg() -> Iterator[Path]:
    """An initialised, stopped PostgreSQL data directory (initdb once for the module, not per test)."""
    root = Path(tempfile.mkdtemp(prefix="forlop-up-template-"))
    _, server = start_postgres(root / "pg")
    stop_postgres(server, root / "pg")
    yield root / "pg"
    shutil.rmtree(root, ignore_errors=True)


def _copy_pg(source: Path, target: Path) -> None:
    """Copy a stopped data directory with its owner (PostgreSQL runs as `pgserver` when the tests are root)."""
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        st = (source / path.relative_to(target)).lstat()
        os.lchown(path, st.st_uid, st.st_gid)
    os.chown(target.parent, source.stat().st_uid, source.stat().st_gid)


@pytest.fixture
def tmp_path(initialised_pg: Path) -> Iterator[Path]:
    """A directory outside pytest's basetemp, which pytest (of any concurrent run) keeps at mode 0700: the
    embedded PostgreSQL runs as the user `pgserver` when the tests run as root, and must reach its data.
    `data/pg` in it is a copy of an initialised data directory."""
    path = Path(tempfile.mkdtemp(prefix="forlop-up-"))
    _copy_pg(initialised_pg, path / "data" / "pg")
    yield path
    shutil.rmtree(path, ignore_errors=True)



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
    return {**env, "FORLOP_HEADER_TIMEOUT": "1", "FORLOP_KEEP_ALIVE_TIMEOUT": "1", **extra}


class Up:
    """One `forlop up` process, its output in a file."""

    def __init__(self, tmp: Path, data_dir: Path, port: int, nats_port: int, env: dict[str, str] | None = None):
        self.log = tmp / f"up-{port}.log"
        self.out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "up", "--data-dir", str(data_dir), "--port", str(port),
             "--nats-port", str(nats_port)],
            stdout=self.out, stderr=subprocess.STDOUT, env=env or _env(), start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None or needle in self.text(), self.text()
            assert time.monotonic() < deadline, f"no {needle!r} in:\n{self.text()}"
            time.sleep(0.1)

    def exit_code(self, timeout: float = 60) -> int:
        """The exit code of a process that ends by itself."""
        code = self.proc.wait(timeout)
        self.out.close()
        return code

    def finish(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.out.close()
        return code


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _nats_pid(parent: int) -> int:
    for c in _children(parent):
        if b"nats-server" in Path(f"/proc/{c}/cmdline").read_bytes():
            return c
    raise AssertionError("no nats-server child")


def _wait(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _closed_by_server(port: int, send: bytes) -> bool:
    """Does the server close a connection that sent `send` and then nothing (within 5 s)?"""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        if send:
            s.sendall(send)
        try:
            return s.recv(1024) == b""
        except TimeoutError:
            return False


def test_up_supervises_refuses_a_second_instance_and_starts_after_a_kill_9(tmp_path, initialised_pg):
    data_dir = tmp_path / "data"
    port, nats_port = free_port(), free_port()
    # A start that fails after NATS and PostgreSQL came up (the API port is taken) stops both again.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        failed = Up(tmp_path, data_dir, taken.getsockname()[1], nats_port)
        assert failed.exit_code(timeout=90) != 0, failed.text()
    assert "the API did not start" in failed.text(), failed.text()
    assert not port_in_use("127.0.0.1", nats_port) and postmaster_pid(data_dir / "pg") is None

    first = Up(tmp_path, data_dir, port, nats_port)
    try:
        first.wait_for("forlop ready:")

        # Idle and half-sent connections are closed (FORLOP_HEADER_TIMEOUT=1, FORLOP_KEEP_ALIVE_TIMEOUT=1).
        assert _closed_by_server(port, b"")
        assert _closed_by_server(port, b"GET /health/live HTTP/1.1\r\nHost: x\r\n")

        # The same data directory: refused while the first runs, with the reason.
        second = Up(tmp_path, data_dir, free_port(), free_port())
        assert second.exit_code(timeout=30) == 1
        assert "in use by another running forlop up" in second.text(), second.text()
        # The same NATS port with another data directory: refused before anything publishes into it, and
        # the embedded PostgreSQL it had started is stopped again.
        other_dir = tmp_path / "other"
        _copy_pg(initialised_pg, other_dir / "pg")
        third = Up(tmp_path, other_dir, free_port(), nats_port)
        assert third.exit_code(timeout=60) == 1
        assert f"port {nats_port}" in third.text() and "already in use" in third.text(), third.text()
        assert postmaster_pid(other_dir / "pg") is None
        # `forlop seed` against the running instance refuses clearly (its scheduler would race the seed)
        # and leaves the instance's PostgreSQL running.
        seeded = subprocess.run([sys.executable, "-m", "workers.cli", "seed", "--lop", "1", "--data-dir", str(data_dir)],
                                capture_output=True, text=True, env=_env(), timeout=60)
        assert seeded.returncode == 1, seeded.stderr
        assert "a scheduler (forlop up or forlop planlegger) is running against this database" in seeded.stderr
        assert postmaster_pid(data_dir / "pg") is not None

        # A dead embedded NATS is started again on its port.
        nats_pid = _nats_pid(first.proc.pid)
        os.kill(nats_pid, signal.SIGKILL)
        first.wait_for("embedded nats started again", timeout=30)
        assert _nats_pid(first.proc.pid) != nats_pid and port_in_use("127.0.0.1", nats_port)

        # A dead embedded PostgreSQL too.
        pg_pid = postmaster_pid(data_dir / "pg")
        assert pg_pid is not None
        os.kill(pg_pid, signal.SIGKILL)
        first.wait_for("embedded postgresql started again", timeout=60)
        assert postmaster_pid(data_dir / "pg") not in (None, pg_pid)

        # kill -9 of the whole stack: forlop up, its NATS and its PostgreSQL.
        pg_pid, nats_pid = postmaster_pid(data_dir / "pg"), _nats_pid(first.proc.pid)
        for pid in (first.proc.pid, nats_pid, pg_pid):
            os.kill(pid, signal.SIGKILL)
        first.finish(timeout=10)
        _wait(lambda: postmaster_pid(data_dir / "pg") is None and not port_in_use("127.0.0.1", nats_port))
    finally:
        if first.proc.poll() is None:
            first.finish()
    # The pid in the stale postmaster.pid is reused by a live process (here a sleep): the next start must
    # see that it is no postgres of this directory.
    squatter = subprocess.Popen(["sleep", "120"])
    try:
        pid_file = data_dir / "pg" / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(squatter.pid), *lines[1:]]) + "\n")
        again = Up(tmp_path, data_dir, port, nats_port)
        try:
            again.wait_for("forlop ready:")
        finally:
            code = again.finish()
    finally:
        squatter.kill()
        squatter.wait()
    output = first.text() + again.text()
    assert code == 0, again.text()
    assert "Traceback" not in output, output
    assert _children(again.proc.pid) == []
    assert postmaster_pid(data_dir / "pg") is None and not port_in_use("127.0.0.1", nats_port)


def test_ctrl_c_while_waiting_for_postgresql_stops_at_once(tmp_path):
    """DATABASE_URL names a server that is not there: the wait is logged once, and Ctrl-C ends it."""
    absent = tmp_path / "nothing-here"
    absent.mkdir()
    env = _env(DATABASE_URL=f"postgresql://postgres@/postgres?host={absent}")
    nats_port = free_port()
    up = Up(tmp_path, tmp_path / "data", free_port(), nats_port, env=env)
    up.wait_for("waiting for postgresql", timeout=30)
    time.sleep(1.5)  # several tries with back-off
    code = up.finish(signal.SIGINT, timeout=15)
    assert code == 0, up.text()
    assert up.text().count("waiting for postgresql") == 1, up.text()
    assert "Traceback" not in up.text()
    assert not port_in_use("127.0.0.1", nats_port)


def test_a_nats_outage_is_logged_once_not_a_traceback_per_reconnect(tmp_path):
    """NATS_URL names a server that then stops: every part says so once (nats-py's default reported each
    failed reconnect with a traceback, ~150 in 20 s)."""
    url, nats = start_nats(tmp_path / "nats", free_port())
    up = Up(tmp_path, tmp_path / "data", free_port(), free_port(), env=_env(NATS_URL=url))
    try:
        up.wait_for("forlop ready:")
        time.sleep(1)  # the workers connect to NATS
        nats.kill()
        nats.wait()
        time.sleep(4)  # about eight reconnect attempts of each client
        during = up.text()
    finally:
        code = up.finish()
    assert code == 0, up.text()
    assert "Traceback" not in during, during
    assert during.count("api lost nats") == 1, during
