"""Messages owned by ``dispatch`` about the health of members' contacts: which members cannot
be reached on a channel, for staff to follow up. Never the address or number itself."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from contracts.dispatch import Channel
from contracts.envelope import Query


class ListInvalidContacts(Query):
    """The council's members whose contact failed for good on a channel (a permanent refusal
    by the mail server or SMS provider), by member id; the reply is ``InvalidContacts``. A
    member leaves the list when their contact changes."""

    owner: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "list_invalid_contacts"

    after: str = Field(
        default="",
        max_length=80,
        description="Continue after this entry (``next_after`` of the page before).",
    )
    limit: int = Field(default=100, ge=1, le=500, description="Most entries in the reply.")


class InvalidContact(BaseModel):
    """A member who cannot be reached on one channel: what failed and since when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    member_id: str = Field(description="The member.")
    channel: Channel = Field(description="The channel whose contact failed.")
    reason: str = Field(
        description="Why, as a code: e.g. smtp_550 (the mail server refused the address)."
    )
    since: str = Field(description="When it first failed (ISO date and time, UTC).")


class InvalidContacts(BaseModel):
    """Reply to ``ListInvalidContacts``: one page, by member id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contacts: tuple[InvalidContact, ...] = Field(description="The entries, by member id.")
    next_after: str | None = Field(description="Ask again with this ``after``; None: no more.")
