"""Messages owned by ``recruitment``: tenants, members, consent. The only home of identity."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts.envelope import Command, Event

Gender = Literal["female", "male", "other", "undisclosed"]


class RegisterTenant(Command):
    """Create a council (tenant) on the installation, or rename it. Region admins only."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "register_tenant"

    display_name: str = Field(min_length=2, max_length=80, description="The council's name.")


class EnrolMember(Command):
    """A resident asks to join the council's panel; a double opt-in mail follows."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "enrol_member"

    member_id: str = Field(description="Id chosen by the sender for the new member (UUID text).")
    email: str = Field(max_length=254, description="The resident's e-mail address.")
    birth_year: int = Field(ge=1900, le=2100, description="Year of birth (for age bands).")
    gender: Gender = Field(description="Self-described gender, or undisclosed.")
    district: str = Field(min_length=1, max_length=80, description="District of residence.")
    consent_version: str = Field(
        max_length=40, description="Version of the consent text the resident agreed to."
    )
    locale: Literal["sv", "en"] = Field(default="sv", description="Preferred language.")


class ConfirmMembership(Command):
    """The resident followed the double opt-in link; activate the membership."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "confirm_membership"

    token: str = Field(min_length=20, max_length=100, description="The token from the link.")


class ContactRecorded(Event):
    """A member's contact details were recorded; dispatch keeps them in its contact book."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "contact_recorded"

    member_id: str = Field(description="The member.")
    email: str | None = Field(default=None, description="E-mail address, if any.")
    phone: str | None = Field(default=None, description="Mobile number in E.164, if any.")
    locale: Literal["sv", "en"] = Field(default="sv", description="Preferred language.")


class MemberEnrolled(Event):
    """A member confirmed and is now active in the panel. Carries no contact details."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "member_enrolled"

    member_id: str = Field(description="The member.")
    birth_year: int = Field(description="Year of birth, for age bands.")
    gender: Gender = Field(description="Gender as given at sign-up.")
    district: str = Field(description="District of residence.")
