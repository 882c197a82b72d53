"""The hand-built mail reads back as the standard library would read it."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from services.dispatch.channels import compose, envelope_sender


def _read(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_swedish_subject_body_and_sender_survive_the_round_trip() -> None:
    body = "Hej!\n\nVad tycker du om kvällsbussarna i Gnosjö?\nSvara här: https://x/a/tok\n"
    raw = compose(
        "Medborgarpanelen Gnosjö <panel@gnosjo.se>",
        "anna@example.se",
        "Ny fråga: kvällsbussar – vad tycker du?",
        body,
        "<m1@radslag>",
    )
    mail = _read(raw)
    assert mail["Subject"] == "Ny fråga: kvällsbussar – vad tycker du?"
    assert mail["To"] == "anna@example.se"
    assert mail["From"].addresses[0].display_name == "Medborgarpanelen Gnosjö"
    assert mail["Message-ID"] == "<m1@radslag>"
    assert mail.get_content().replace("\r\n", "\n") == body
    assert b"\r\n\r\n" in raw
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_a_subject_cannot_add_headers() -> None:
    raw = compose("p@x.se", "a@b.se", "Hej\r\nBcc: evil@x.se", "text", "<m2@r>")
    mail = _read(raw)
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Hej Bcc: evil@x.se"


@pytest.mark.parametrize("to", ["", "a@b.se\r\nBcc: e@x.se", "a b@c.se"])
def test_a_recipient_must_be_one_address(to: str) -> None:
    with pytest.raises(ValueError, match="single"):
        compose("p@x.se", to, "S", "text", "<m3@r>")


def test_envelope_sender_is_the_bare_address() -> None:
    assert envelope_sender("Medborgarpanelen <panel@radslag.local>") == "panel@radslag.local"
