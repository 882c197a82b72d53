"""Start and stop the real infrastructure servers: nats-server (JetStream) and nx-27017.

Used by ``make up`` and by the service and end-to-end test fixtures. Every server binds to
127.0.0.1, keeps its data under the directory it is given, and is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin(name: str) -> str:
    # Prefer the executable installed beside this interpreter (the project's venv).
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found; run 'make install'")
    return found


def wait_for_port(
    port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Server:
    """A started server process."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    url: str

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID, then SIGKILL if it does not exit in time."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_nats(data_dir: Path, port: int | None = None, log_file: Path | None = None) -> Server:
    """nats-server with JetStream on loopback, storing streams under ``data_dir``."""
    port = port or free_port()
    monitor = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_file or data_dir / "nats.log", "ab")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [
            _bin("nats-server"),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            str(monitor),
            "-js",
            "-sd",
            str(data_dir),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, proc=proc)
    return Server("nats", proc, port, f"nats://127.0.0.1:{port}")


def start_store(data_dir: Path, port: int | None = None) -> Server:
    """nx-27017 (MongoDB wire protocol on SQLite), one file per logical database."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            _bin("nx-27017"),
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-file",
            str(data_dir / "nx.log"),
            "--pid-file",
            str(data_dir / "nx.pid"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    wait_for_port(port, proc=proc)
    return Server("store", proc, port, f"mongodb://127.0.0.1:{port}/?directConnection=true")
