"""End-to-end test of the devtools CLI process (start, serve, SIGTERM)."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import httpx

from devstack.mailbox import Mailbox
from devstack.testing import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def _wait_live(url: str, proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "devtools exited early"
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not live after {timeout}s")


def test_cli_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    smtp_port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.devtools",
            "--data-dir",
            str(tmp_path),
            "--smtp-port",
            str(smtp_port),
            "--http-port",
            str(http_port),
            "--sms-user",
            "u",
            "--sms-password",
            "p",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{http_port}"
        _wait_live(f"{base}/health/live", proc)

        msg = EmailMessage()
        msg["From"] = "noreply@radslag.test"
        msg["To"] = "a@example.org"
        msg["Subject"] = "Hej"
        msg.set_content("body")
        with smtplib.SMTP("127.0.0.1", smtp_port, local_hostname="localhost", timeout=5) as smtp:
            smtp.send_message(msg)
        assert httpx.get(f"{base}/dev/mail/count").json() == {"count": 1}
        sms = httpx.post(
            f"{base}/a1/sms",
            auth=("u", "p"),
            data={"from": "Radslag", "to": "+46701234567", "message": "x"},
        )
        assert sms.status_code == 200

        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0, output
        assert "shutting down" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    kept = Mailbox(tmp_path)  # the mail is in the spool after the restart
    assert kept.count() == 1
    kept.close()
    assert (tmp_path / "sms" / "messages.jsonl").read_text().count("+46701234567") >= 1
