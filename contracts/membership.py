"""Member self-service, owned by ``recruitment``: a member signs in by a mailed link or a code
sent by SMS, sees and changes their details, pauses, and asks for erasure.

Identity stays in recruitment: it keeps the member sessions (only a hash of each session's
token) and the portal passes the cookie's token in every self-service query and command, so
the portal stores nothing about members. Rounds learns what it needs for targeting and the
breakdowns from events (``MemberBackgroundChanged``, ``MemberPaused``, ``MemberResumed``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Command, Event, Query
from contracts.recruitment import Gender, HeardFrom, PreferredChannel

SessionToken = str
"""A member session's token, the cookie's value (the portal makes it; recruitment keeps only
its hash)."""

DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


class RequestSignIn(Command):
    """A resident asks for a sign-in link. If the address is an active member of the council,
    recruitment mails a single-use link (valid about 30 minutes); otherwise nothing happens,
    and the outcome is the same either way."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "request_sign_in"

    email: str = Field(max_length=254, description="The address the resident typed.")


class OpenMemberSession(Command):
    """Exchange a mailed sign-in link for a member session (the link is used up)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "open_member_session"

    token: str = Field(min_length=20, max_length=100, description="The token from the link.")
    session_hash: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description=(
            "SHA-256 (hex) of the new session's token, which the portal keeps in the member's "
            "cookie only: recruitment stores and sees no working session token here."
        ),
    )


class RequestSignInCode(Command):
    """A resident asks for a sign-in code by SMS. If the number is an active member's in the
    council, recruitment texts a 6-digit code (valid 10 minutes, 5 tries, single use);
    otherwise nothing happens, and the outcome is the same either way."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "request_sign_in_code"

    phone: str = Field(
        min_length=1,
        max_length=32,
        description=(
            "The mobile number the resident typed, E.164 or as the council's country writes "
            "it; recruitment normalises it."
        ),
    )


class OpenMemberSessionByCode(Command):
    """Exchange the code from a sign-in SMS for a member session (the code is used up).

    Refused: ``invalid_code`` (wrong, void after 5 wrong tries, or no code for the number: one
    answer for all, so nobody learns whether a number is a member's), ``expired`` and
    ``already_used`` (said only to whoever typed the right code)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "open_member_session_by_code"

    phone: str = Field(min_length=1, max_length=32, description="The mobile number, E.164.")
    code: str = Field(pattern=r"^[0-9]{6}$", description="The 6-digit code from the SMS.")
    session_hash: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description=(
            "SHA-256 (hex) of the new session's token, which the portal keeps in the member's "
            "cookie only (as for ``OpenMemberSession``)."
        ),
    )


class CloseMemberSession(Command):
    """Sign out: the member session ends."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "close_member_session"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")


class GetMyMembership(Query):
    """The signed-in member's own details; the reply is ``MyMembership``, or not found when
    the session is unknown, expired or of another council."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_my_membership"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")


class MyMembership(BaseModel):
    """What the member sees and may change on their own page."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    member_id: str = Field(description="The member.")
    email: str = Field(description="The member's e-mail address ('' if none).")
    birth_year: int = Field(description="Year of birth.")
    gender: Gender = Field(description="Gender.")
    district: str = Field(description="District, as given (from the council's list if it has one).")
    locale: Literal["sv", "en"] = Field(description="Preferred language.")
    heard_from: HeardFrom = Field(description="Where they heard of the panel ('' if not said).")
    works_for_council: bool | None = Field(description="Works for the council (None: not said).")
    paused_until: str | None = Field(
        description="Day (YYYY-MM-DD) the pause ends; None when not paused or the day has come."
    )
    email_change_to: str | None = Field(
        description="A new address awaiting confirmation from its mailbox, if any."
    )
    topics: tuple[str, ...] = Field(default=(), description="Topics the member follows.")
    topics_offered: tuple[str, ...] = Field(
        default=(), description="Topics the panel offers to follow."
    )
    phone: str = Field(default="", description="The member's mobile number, E.164 ('' if none).")
    channel: PreferredChannel = Field(
        default="email",
        description="How round invitations and other panel messages reach the member.",
    )
    channels_offered: tuple[str, ...] = Field(
        default=("email", "sms"),
        description="The channels the panel offers (SMS may be chosen only where it is one).",
    )


class ChangeMyDetails(Command):
    """The signed-in member changes their details (not the e-mail address: see
    ``ChangeMyEmail``). Changes of background variables reach rounds'
    panel replica (``MemberBackgroundChanged``)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "change_my_details"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")
    birth_year: int = Field(ge=1900, le=2100, description="Year of birth.")
    gender: Gender = Field(description="Gender.")
    district: str = Field(min_length=1, max_length=80, description="District of residence.")
    locale: Literal["sv", "en"] = Field(description="Preferred language.")
    heard_from: HeardFrom = Field(default="", description="Where they heard of the panel.")
    works_for_council: bool | None = Field(
        default=None, description="Works for the council (None: not said)."
    )
    topics: tuple[str, ...] | None = Field(
        default=None,
        max_length=30,
        description="Topics to follow, from the panel's (None: unchanged).",
    )
    channel: PreferredChannel | None = Field(
        default=None,
        description=(
            "How panel messages should reach the member (None: unchanged); sms needs a mobile "
            "number and a panel that offers SMS, email an e-mail address."
        ),
    )


class ChangeMyEmail(Command):
    """The signed-in member asks to change their address: a link goes to the new address,
    and the change takes effect only when it is followed (``ConfirmEmailChange``)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "change_my_email"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")
    email: str = Field(max_length=254, description="The new address.")


class ConfirmEmailChange(Command):
    """The link sent to a new address was followed: the address takes effect."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "confirm_email_change"

    token: str = Field(min_length=20, max_length=100, description="The token from the link.")


class ChangeMyPhone(Command):
    """The signed-in member asks to add or change their mobile number: a 6-digit code goes
    to the new number by SMS, and the change takes effect only when the code is typed
    (``ConfirmPhoneChange``)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "change_my_phone"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")
    phone: str = Field(
        min_length=1,
        max_length=32,
        description="The new number (as the council's country writes it, or E.164).",
    )


class ConfirmPhoneChange(Command):
    """The signed-in member typed the code sent to their new number: it takes effect."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "confirm_phone_change"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")
    code: str = Field(min_length=1, max_length=12, description="The code from the SMS.")


class PauseMembership(Command):
    """The signed-in member pauses: no invitations to rounds opened before ``until``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "pause_membership"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")
    until: str = Field(
        pattern=DAY_PATTERN,
        description="Day (YYYY-MM-DD, UTC) the pause ends: after today, at most a year ahead.",
    )


class ResumeMembership(Command):
    """The signed-in member ends their pause before its day."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "resume_membership"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")


class EraseMyMembership(Command):
    """The signed-in member asks for erasure (as ``EraseMember``, asked by "member"); every
    session of theirs ends."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "erase_my_membership"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")


class MemberBackgroundChanged(Event):
    """A member changed their background variables; replicas keep the newest ``revision``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "member_background_changed"

    member_id: str = Field(description="The member.")
    revision: int = Field(ge=1, description="Grows with each change of the member's record.")
    birth_year: int = Field(description="Year of birth, for age bands.")
    gender: Gender = Field(description="Gender.")
    district: str = Field(
        description="District as the council's list names it (coded); empty without a list."
    )
    topics: tuple[str, ...] | None = Field(
        default=None, max_length=50, description="Topics the member follows; None: unchanged."
    )


class MemberPaused(Event):
    """A member paused: rounds opened before ``until`` do not invite them. The pause ends by
    itself on that day (no event follows then)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "member_paused"

    member_id: str = Field(description="The member.")
    revision: int = Field(ge=1, description="Grows with each change of the member's record.")
    until: str = Field(pattern=DAY_PATTERN, description="Day (YYYY-MM-DD, UTC) the pause ends.")


class MemberResumed(Event):
    """A member ended their pause early: rounds opened from now on invite them again."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "member_resumed"

    member_id: str = Field(description="The member.")
    revision: int = Field(ge=1, description="Grows with each change of the member's record.")


class SearchMembers(Query):
    """The council's members for staff, without contact details: filtered by state, district,
    age band and gender, a page at a time in member-id order; the reply is ``MemberList``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "search_members"

    state: Literal["active", "pending", "paused", "any"] = Field(
        default="active", description="Members in this state (paused: active, on a pause)."
    )
    district: str = Field(default="", max_length=80, description="District (coded); '' any.")
    age_band: str = Field(default="", max_length=10, description="Age band; '' any.")
    gender: Literal["", "female", "male", "other", "undisclosed"] = Field(
        default="", description="Gender; '' any."
    )
    member_id: str = Field(
        default="", max_length=36, description="A member id, or its beginning; '' any."
    )
    panels: tuple[str, ...] = Field(
        default=(), max_length=20, description="Members of any of these panels; () any."
    )
    after: str = Field(default="", max_length=36, description="Start after this member id.")
    limit: int = Field(default=50, ge=1, le=200, description="Members in this page.")


class MemberSummary(BaseModel):
    """A member as staff without access to contact details see them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    member_id: str = Field(description="The member.")
    state: str = Field(description="active, pending or paused.")
    birth_year: int = Field(description="Year of birth.")
    age_band: str = Field(description="Age band now.")
    gender: Gender = Field(description="Gender.")
    district: str = Field(description="District (coded).")
    source: str = Field(description="How they joined: web, paper, phone, register_sample…")
    joined_on: str = Field(description="Day they signed up or were imported (YYYY-MM-DD).")
    panels: tuple[str, ...] = Field(default=("general",), description="Panels they belong to.")


class MemberList(BaseModel):
    """Reply to ``SearchMembers``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    members: tuple[MemberSummary, ...] = Field(description="This page, by member id.")
    next_after: str | None = Field(description="Ask again with after=this; None: no more.")
