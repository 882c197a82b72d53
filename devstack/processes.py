"""Start and stop the real infrastructure servers: nats-server (JetStream) and nx-27017.

Used by ``make up`` and by the service and end-to-end test fixtures. Every server binds to
127.0.0.1, keeps its data under the directory it is given, and is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra.natsauth import USERS, BusLogin, local_authorization, new_password

_HANDED_OUT: set[int] = set()
"""Ports ``free_port`` has returned in this process. A port is only free until something
binds it, and the system may offer the same one again before then: a stack picks all its
ports first and starts its servers afterwards, so a second pick must never repeat a first."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now and not handed out before by this
    process."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def executable(name: str) -> str:
    """The path of an installed program: the one beside this interpreter (the project's venv)
    first, else the one on PATH."""
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


@dataclass
class NatsServer(Server):
    """A started nats-server, its log and the password of each of its users."""

    log_file: Path | None = None
    passwords: dict[str, str] = field(default_factory=dict, repr=False)

    def login(self, user: str) -> BusLogin:
        """How ``user`` connects to this server."""
        return BusLogin(self.url, user, self.passwords[user])


def bus_refusals(log_file: Path) -> list[str]:
    """Lines of a nats-server log saying it refused a client something: a login, a publish or
    a subscription ("Authorization/Publish/Subscription Violation"). A normal run has none:
    every permission it needs is granted."""
    if not log_file.exists():
        return []
    text = log_file.read_text(errors="replace")
    return [line for line in text.splitlines() if " Violation" in line]


def nats_config(data_dir: Path, port: int, monitor: int, passwords: Mapping[str, str]) -> str:
    """A local nats-server's configuration: loopback, JetStream, and every user's
    permissions (``infra.natsauth``) with its password bcrypt-hashed."""
    return "\n".join(
        [
            "# Written by devstack at every start. Passwords appear only as bcrypt hashes.",
            f"listen: 127.0.0.1:{port}",
            f"http: 127.0.0.1:{monitor}",
            f"jetstream {{ store_dir: {json.dumps(str(data_dir))} }}",
            local_authorization(passwords),
        ]
    )


def start_nats(
    data_dir: Path,
    port: int | None = None,
    log_file: Path | None = None,
    passwords: Mapping[str, str] | None = None,
) -> NatsServer:
    """nats-server with JetStream on loopback, storing streams under ``data_dir``.

    Every user of ``infra.natsauth`` logs in with its password from ``passwords`` (fresh
    random ones when not given); anonymous clients are refused.
    """
    port = port or free_port()
    monitor = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    passwords = dict(passwords) if passwords is not None else {u: new_password() for u in USERS}
    config = data_dir / "nats-server.conf"
    config.write_text(nats_config(data_dir, port, monitor, passwords))
    config.chmod(0o600)
    log_file = log_file or data_dir / "nats.log"
    out = open(log_file, "ab")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [executable("nats-server"), "-c", str(config)],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, proc=proc)
    return NatsServer("nats", proc, port, f"nats://127.0.0.1:{port}", log_file, passwords)


def start_store(data_dir: Path, port: int | None = None) -> Server:
    """nx-27017 (MongoDB wire protocol on SQLite), one file per logical database."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            executable("nx-27017"),
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
