"""What the dead-letter CLI prints names fields, never personal values."""

from __future__ import annotations

import json
from dataclasses import replace

from contracts.recruitment import EnrolMember
from infra.deadletter import DeadLetter
from infra.sealing import Sealer, new_key


def _letter(data: bytes) -> DeadLetter:
    return DeadLetter(
        sequence=7,
        subject="recruitment.ale.cmd.enrol_member",
        reason="rejected",
        error="invalid e-mail address",
        stream="RECRUITMENT_CMD",
        consumer="recruitment_enrol_member",
        delivered="1",
        failed_at="2026-11-24T10:00:00Z",
        original_message_id="m-1",
        data=data,
    )


def test_the_summary_shows_the_envelope_and_field_names_only() -> None:
    command = EnrolMember(
        tenant="ale",
        member_id="5b0c7f38-3bde-4a7e-9c55-9a4f3f0b6a11",
        email="sara.lind@example.se",
        birth_year=1961,
        gender="female",
        district="Surte",
        consent_version="2026-1",
    )
    summary = _letter(command.model_dump_json().encode()).summary()
    printed = json.dumps(summary, ensure_ascii=False)
    for personal in ("sara.lind", "1961", "Surte", command.member_id):
        assert personal not in printed
    body = summary["body"]
    assert isinstance(body, dict)
    assert body["tenant"] == "ale"
    assert body["message_id"] == command.message_id
    assert "email" in body["fields"]  # type: ignore[operator]


def test_a_body_that_is_not_json_is_described_by_its_size() -> None:
    depth = 100_000
    nested = b"[" * depth + b"]" * depth
    assert _letter(nested).summary()["body"] == {"bytes": 2 * depth, "json": False}
    assert _letter(b"anna@example.se").summary()["body"] == {"bytes": 15, "json": False}


def test_a_sealed_error_is_shown_only_to_the_holder_of_the_keys() -> None:
    sealer = Sealer(new_key())
    error = "DuplicateKeyError: {'email': 'sara.lind@example.se'}"
    letter = replace(
        _letter(sealer.seal(b'{"tenant": "ale"}')),
        reason="exhausted",
        error=sealer.seal(error.encode()).decode(),
    )
    assert "sara" not in json.dumps(letter.summary())
    assert letter.summary()["error"] == "(sealed: set SEAL_KEYS to read it)"
    assert letter.summary()["body"] == {"bytes": len(letter.data), "sealed": True}
    opened = letter.summary(sealer)
    assert opened["error"] == error
    assert opened["body"] == {"bytes": 17, "json": True, "fields": ["tenant"], "tenant": "ale"}
    assert letter.summary(Sealer(new_key()))["error"] == "(sealed with a key not in SEAL_KEYS)"
