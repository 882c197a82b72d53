"""The channel a message goes on: the member's preference (contact book) for messages sent on
the default channel, never for those that must reach one address; and which preferences a
member may choose."""

from __future__ import annotations

import pytest

from contracts.dispatch import SendMessage
from services.dispatch.mailroom import _channel
from services.recruitment import domain
from services.recruitment.self_service import check_channel

BOTH = {"email": "a@example.se", "phone": "+46701234567"}


def _send(template: str = "round_invitation", **fields: object) -> SendMessage:
    return SendMessage.model_validate(
        {"tenant": "gnosjo", "member_id": "m1", "template": template, **fields}
    )


@pytest.mark.parametrize(
    ("contact", "send", "expected"),
    [
        ({**BOTH, "channel": "sms"}, _send(), "sms"),
        ({**BOTH, "channel": "email"}, _send(), "email"),
        ({**BOTH}, _send(), "email"),  # recorded before preferences: e-mail
        ({"email": "a@example.se", "channel": "sms"}, _send(), "email"),  # no number
        ({"phone": "+46701234567", "email": None}, _send(), "sms"),  # a number only
        # A number only, confirming a first address: the link goes by mail, to it.
        (
            {"phone": "+46701234567", "email": None},
            _send("confirm_email_change", keep_channel=True),
            "email",
        ),
        # Messages that must reach one address keep their channel.
        ({**BOTH, "channel": "sms"}, _send("member_sign_in", keep_channel=True), "email"),
        ({**BOTH, "channel": "sms"}, _send("confirm_email_change", keep_channel=True), "email"),
        # A message with no SMS text goes by mail even without the flag.
        ({**BOTH, "channel": "sms"}, _send("confirm_membership"), "email"),
        # A message sent as SMS stays one.
        ({**BOTH, "channel": "email"}, _send("member_sign_in_code", channel="sms"), "sms"),
    ],
)
def test_the_channel_a_message_goes_on(
    contact: dict[str, object], send: SendMessage, expected: str
) -> None:
    assert _channel(send, contact) == expected


def test_a_members_preferred_channel() -> None:
    assert domain.preferred_channel("a@example.se", "+46701234567", "sms") == "sms"
    assert domain.preferred_channel("a@example.se", "+46701234567", None) == "email"
    assert domain.preferred_channel("a@example.se", "", "sms") == "email"
    assert domain.preferred_channel(None, "+46701234567", "email") == "sms"
    # A member who joined by SMS has a placeholder for an address.
    assert domain.channel_of({"email": domain.no_email("m1"), "phone": "+46701234567"}) == "sms"


@pytest.mark.parametrize(
    ("member", "chosen", "offered", "reason"),
    [
        ({"email": "a@example.se"}, "sms", ("email", "sms"), "no_phone"),
        (BOTH, "sms", ("email",), "sms_not_offered"),
        (
            {"email": domain.no_email("m1"), "phone": "+46701234567"},
            "email",
            ("email",),
            "no_email",
        ),
        (BOTH, "sms", ("email", "sms"), None),
        (BOTH, "email", ("sms",), None),
    ],
)
def test_which_channels_a_member_may_choose(
    member: dict[str, object], chosen: str, offered: tuple[str, ...], reason: str | None
) -> None:
    assert check_channel(member, chosen, offered) == reason
