"""Messages owned by ``dispatch``: outgoing messages on every channel and their delivery."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts.envelope import Command, Event, Query

Channel = Literal["email", "sms"]


class SendMessage(Command):
    """Send one message to one member, rendered from a template in the member's language."""

    owner: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "send_message"

    member_id: str = Field(description="Recipient; dispatch looks the contact up.")
    channel: Channel = Field(
        default="email",
        description=(
            "Channel to send on. The default, email, goes by SMS to a member who prefers SMS "
            "(contact book) and has a number, unless ``keep_channel``."
        ),
    )
    template: str = Field(
        pattern=r"^[a-z0-9_]{1,60}$", description="Template name, e.g. round_invitation."
    )
    params: dict[str, str] = Field(
        default_factory=dict, max_length=30, description="Values filled into the template."
    )
    sealed: str = Field(
        default="",
        max_length=8000,
        description=(
            "More template values that must not rest in the clear (personal links), sealed "
            "with the installation's seal keys; only dispatch opens them, to render."
        ),
    )
    keep_channel: bool = Field(
        default=False,
        description=(
            "Send on ``channel`` whatever the member prefers: for a message that must reach one "
            "address (the e-mail sign-in link, the link confirming a new address)."
        ),
    )
    sender_ref: str = Field(
        default="",
        max_length=200,
        description="The sender's own reference for the message (e.g. rounds' invitation id), "
        "returned in ``MessageSent`` so the sender finds its record by id.",
    )


class MessageSent(Event):
    """A message left for its channel (accepted by the SMTP server or SMS provider)."""

    owner: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "message_sent"

    send_id: str = Field(description="message_id of the SendMessage command.")
    channel: Channel = Field(description="Channel used.")
    template: str = Field(description="Template used.")
    sender_ref: str = Field(default="", description="The SendMessage's ``sender_ref``.")


class ContactForgotten(Event):
    """dispatch has forgotten an erased member: their contact and the member id on every
    message sent to them."""

    owner: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "contact_forgotten"

    member_id: str = Field(description="The erased member.")


class GetMemberData(Query):
    """What dispatch holds about one member (the contact book entry and the messages sent);
    the reply is ``PersonalData``."""

    owner: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "get_member_data"

    member_id: str = Field(description="The member.")


class SmsReceived(Event):
    """A member replied by SMS: dispatch took the provider's inbound message, found the member
    by the sending number, and passes the text on (rounds reads answers from it)."""

    owner: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "sms_received"

    member_id: str = Field(description="The member whose number sent it.")
    text: str = Field(max_length=1600, description="The message as received.")
