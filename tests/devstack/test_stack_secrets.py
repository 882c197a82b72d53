"""Demo secrets never break the command lines that start the local stack (``make up``)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import stack as stack_module
from devstack.devtools import build_parser
from devstack.processes import Server
from devstack.stack import SECRET_ALPHABET, LocalStack, Ports, new_secret

# What token_urlsafe() produced for an unlucky earlier start, still stored under var/.
DASH_SECRET = "-Zq3_x-9kLmN4pQr"


class _FakeProcess:
    returncode = 0

    def poll(self) -> int | None:
        return None


def _store_secret(data_dir: Path, name: str, value: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "secrets.json").write_text(json.dumps({name: value}))


def _fake_server(name: str) -> Server:
    return Server(name, _FakeProcess(), 0, "")  # type: ignore[arg-type]


def test_start_passes_a_stored_secret_starting_with_dash_to_devtools_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store_secret(tmp_path, "sms_password", DASH_SECRET)
    spawned: dict[str, list[str]] = {}

    def spawn(self: LocalStack, name: str, args: list[str], port: int) -> Server:
        spawned[name] = args
        server = _fake_server(name)
        self.servers.append(server)
        return server

    monkeypatch.setattr(stack_module, "start_nats", lambda *a, **k: _fake_server("nats"))
    monkeypatch.setattr(stack_module, "start_store", lambda *a, **k: _fake_server("store"))
    monkeypatch.setattr(stack_module, "wait_for_port", lambda *a, **k: None)
    monkeypatch.setattr(LocalStack, "_spawn", spawn)
    monkeypatch.setattr(LocalStack, "_wait_ready", lambda self: None)

    stack = LocalStack(tmp_path)
    stack.start()

    argv = spawned["devtools"]
    assert argv[:2] == ["-m", "devstack.devtools"]
    # The devtools' own parser must read the value back unchanged, not take it for an option.
    args = build_parser().parse_args(argv[2:])
    assert args.sms_password == DASH_SECRET
    assert args.sms_user == stack_module.SMS_USER
    assert args.data_dir == tmp_path.resolve() / "devtools"


def test_devtools_process_starts_with_a_secret_starting_with_dash(tmp_path: Path) -> None:
    _store_secret(tmp_path, "sms_password", DASH_SECRET)
    stack = LocalStack(tmp_path, Ports.free())
    stack.sms_password = stack._secret("sms_password")
    server = stack._spawn("devtools", stack._devtools_args(), stack.ports.devtools)
    try:
        _wait_live(f"{stack.devtools_url}/health/live", server.proc)
        sms = httpx.post(
            f"{stack.devtools_url}/a1/sms",
            auth=(stack_module.SMS_USER, DASH_SECRET),
            data={"from": "Radslag", "to": "+46701234567", "message": "x"},
        )
        assert sms.status_code == 200
    finally:
        stack.stop()


def test_new_secrets_are_letters_and_digits_only() -> None:
    values = {new_secret() for _ in range(2000)}
    assert len(values) == 2000
    for value in values:
        assert len(value) == 16
        assert set(value) <= set(SECRET_ALPHABET)
        assert not value.startswith("-")


def test_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path)
    first = stack._secret("password_region")
    assert first == LocalStack(tmp_path)._secret("password_region")
    assert not first.startswith("-")
    stored: dict[str, Any] = json.loads((tmp_path / "secrets.json").read_text())
    assert stored == {"password_region": first}


def _wait_live(url: str, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"devtools exited with {proc.returncode}"
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not live after {timeout}s")
