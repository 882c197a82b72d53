"""A service as a real process (``python -m services.<name>``) against a test's servers, as the
local stack runs it, for the tests that kill one with SIGKILL; stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from devstack.processes import free_port
from devstack.testing import wait_until
from tests.conftest import Infra


class ServiceProcess:
    """One service's process, logged in to the test's bus as that service."""

    def __init__(self, service: str, infra: Infra, log: Path, **env: str) -> None:
        self.service = service
        self.port = free_port()
        self.env = {
            **os.environ,
            "NATS_URL": infra.nats_url,
            "SEAL_KEYS": infra.seal_keys,
            "NATS_USER": service,
            "NATS_PASSWORD": infra.nats_passwords[service],
            "MONGODB_URL": infra.mongodb_url,
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        """Start it and wait until it is ready."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}", "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=Path(__file__).resolve().parents[2],
            )

        async def ready() -> bool:
            assert self.proc is not None
            assert self.proc.poll() is None, self.log.read_text()
            try:
                async with httpx.AsyncClient(timeout=1.0) as client:
                    reply = await client.get(f"http://127.0.0.1:{self.port}/health/ready")
                return reply.status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(ready, timeout=30, interval=0.1, what=f"{self.service} ready")

    def freeze(self) -> None:
        """Stop it where it is (SIGSTOP), to look at what it left before killing it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL: no clean-up, as a crash or a power cut."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Stop it if it still runs (SIGTERM, then SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
