"""Message contracts: envelope, validation, subjects."""

from __future__ import annotations

import pydantic
import pytest

from contracts import subject_for, subject_pattern, tenant_of_subject
from contracts.dispatch import SendMessage
from contracts.registry import MESSAGES, by_subject_name
from contracts.subjects import dead_letter_subject, stream_name


def test_subjects_are_built_from_owner_tenant_kind_and_name() -> None:
    msg = SendMessage(tenant="gnosjo", member_id="m", template="round_invitation")
    assert subject_for(msg) == "dispatch.gnosjo.cmd.send_message"
    assert subject_pattern(SendMessage) == "dispatch.*.cmd.send_message"
    assert tenant_of_subject("dispatch.gnosjo.cmd.send_message") == "gnosjo"
    assert tenant_of_subject("nonsense") is None
    assert stream_name("dispatch", "cmd") == "DISPATCH_CMD"
    assert dead_letter_subject("DISPATCH_CMD", "c") == "deadletter.dispatch_cmd.c"


@pytest.mark.parametrize("tenant", ["", "A", "gnosjo.kinda", "g*", "ale kommun", "1ale"])
def test_a_tenant_cannot_break_out_of_its_subject_token(tenant: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        SendMessage(tenant=tenant, member_id="m", template="t")


def test_messages_are_frozen_and_refuse_unknown_fields() -> None:
    msg = SendMessage(tenant="ale", member_id="m", template="t")
    with pytest.raises(pydantic.ValidationError):
        SendMessage(tenant="ale", member_id="m", template="t", surprise=1)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        msg.member_id = "other"  # type: ignore[misc]


def test_a_caused_message_keeps_tenant_and_correlation() -> None:
    cause = SendMessage(tenant="ale", member_id="m", template="t")
    effect = SendMessage.follow(cause, member_id="n", template="t")
    assert effect.tenant == "ale"
    assert effect.correlation_id == cause.correlation_id
    assert effect.causation_id == cause.message_id
    assert effect.message_id != cause.message_id


def test_every_message_is_unique_documented_and_findable() -> None:
    names = [(m.owner, m.kind, m.name) for m in MESSAGES]
    assert len(names) == len(set(names))
    for message in MESSAGES:
        assert message.__doc__
        assert by_subject_name(message.owner, message.kind, message.name) is message
        for name, field in message.model_fields.items():
            assert field.description, f"{message.__name__}.{name} has no description"
