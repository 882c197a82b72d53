"""A council's panel and its settings, owned by ``recruitment``: who may join (minimum age,
connection to the council), the channels offered, how many rounds a member may receive per
half-year, the membership term, the topics members can follow, and the consent text, whose
every change is a new version (members keep the version they agreed to).

Every council has its general panel, ``general``; its settings are the defaults below until
staff change them. A council may add more (a youth panel, a district's panel, a committee's),
each with its own members, eligibility, remit and owner: configuring a panel of a new name
creates it. A member belongs to one or more of the council's panels; a round asks one panel.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Command, Event, Query
from contracts.membership import SessionToken
from contracts.recruitment import GENERAL_PANEL, PANEL_PATTERN
from contracts.recruitment import Connection as Connection
from contracts.text import OneLine, TrimmedText

GENERAL = GENERAL_PANEL
"""The council's general panel."""

ChannelOffered = Literal["email", "sms", "paper"]

DEFAULT_CONSENT_VERSION = "2026-1"
"""The version of the built-in consent text (what every council's sign-up page showed before
panels had settings)."""


class PanelSettings(BaseModel):
    """What staff set for a panel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: OneLine = Field(
        default="Medborgarpanelen", min_length=2, max_length=80, description="Its name."
    )
    remit: TrimmedText = Field(
        default="", max_length=1000, description="What the panel is asked about, for whom."
    )
    owner: OneLine = Field(
        default="",
        max_length=120,
        description="Who owns the panel: the committee or department it serves ('' : the "
        "council as a whole). Staff accounts limited to panels see only theirs.",
    )
    min_age: int = Field(default=16, ge=13, le=25, description="Youngest age to join.")
    max_age: int | None = Field(
        default=None,
        ge=13,
        le=120,
        description="Oldest age to stay eligible to join (a youth panel: 19); None: no limit.",
    )
    districts: tuple[OneLine, ...] = Field(
        default=(),
        max_length=200,
        description="The districts whose residents may join (a district's panel); empty: all.",
    )
    connections: tuple[Connection, ...] = Field(
        default=("resident",),
        min_length=1,
        max_length=5,
        description="Who may join: residents only, or also these connections to the council.",
    )
    channels: tuple[ChannelOffered, ...] = Field(
        default=("email", "sms"), min_length=1, max_length=3, description="Channels offered."
    )
    max_rounds_per_half_year: int = Field(
        default=4, ge=1, le=26, description="Most rounds one member is invited to in 182 days."
    )
    term_years: int | None = Field(
        default=None, ge=1, le=10, description="Membership term (rotation); None: no limit."
    )
    allow_renewal: bool = Field(
        default=True, description="Whether a member whose term ends may renew it once asked."
    )
    topics: tuple[OneLine, ...] = Field(
        default=(), max_length=30, description="Topics members can choose to follow."
    )


class ConfigurePanel(Command):
    """Set a panel's settings and its consent text. A consent text that differs from the
    current one becomes a new version; members keep the version they agreed to."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "configure_panel"

    panel: str = Field(default=GENERAL, pattern=PANEL_PATTERN, description="The panel.")
    settings: PanelSettings = Field(description="The settings.")
    consent_text: TrimmedText = Field(
        min_length=20, max_length=5000, description="The consent text residents agree to."
    )


class PanelConfigured(Event):
    """A panel's settings changed: what rounds needs to target and pace its invitations."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "panel_configured"

    panel: str = Field(description="The panel.")
    max_rounds_per_half_year: int = Field(description="Most rounds per member in 182 days.")
    topics: tuple[str, ...] = Field(description="Topics members can follow.")


class GetPanel(Query):
    """A panel with its settings and current consent text; the reply is ``PanelView`` (the
    defaults for a council's general panel that was never configured)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_panel"

    panel: str = Field(default=GENERAL, pattern=PANEL_PATTERN, description="The panel.")


class ConsentVersion(BaseModel):
    """One version of a panel's consent text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(description="E.g. 2026-1, general-2, …")
    since: str = Field(description="Day it took effect (YYYY-MM-DD); '' for the built-in.")
    members: int = Field(description="Active members who agreed to this version.")


class PanelView(BaseModel):
    """A panel as staff and the sign-up page see it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    panel: str = Field(description="The panel.")
    settings: PanelSettings = Field(description="Its settings.")
    consent_text: str = Field(description="The current consent text ('' : the built-in one).")
    consent_version: str = Field(description="The current consent text's version.")
    consent_versions: tuple[ConsentVersion, ...] = Field(description="Every version, oldest first.")


class RenewMembership(Command):
    """A member whose term is ending renews it through the link in the notice (where the
    panel allows renewal): a new term starts today."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "renew_membership"

    token: str = Field(min_length=20, max_length=100, description="The token from the link.")


class ListPanels(Query):
    """The council's panels, the general one first; the reply is ``PanelList``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "list_panels"


class PanelSummary(BaseModel):
    """One of the council's panels in the list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    panel: str = Field(description="The panel.")
    name: str = Field(description="Its name.")
    owner: str = Field(description="Who owns it ('' : the council).")
    remit: str = Field(description="What it is asked about.")
    members: int = Field(description="Active members.")


class PanelList(BaseModel):
    """Reply to ``ListPanels``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    panels: tuple[PanelSummary, ...] = Field(description="The panels, the general one first.")


class ChangeMyPanels(Command):
    """A signed-in member chooses which of the council's panels they belong to (each one
    they join must take them: age, connection, district, channel). At least one."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "change_my_panels"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")
    panels: tuple[Annotated[str, Field(pattern=PANEL_PATTERN)], ...] = Field(
        min_length=1, max_length=20, description="The panels to belong to from now on."
    )


class MemberPanelsChanged(Event):
    """A member's panels changed: rounds invites them to the rounds of these panels only."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "member_panels_changed"

    member_id: str = Field(description="The member.")
    panels: tuple[str, ...] = Field(min_length=1, description="The panels they belong to now.")
    revision: int = Field(description="Grows with each change: a late, older one changes nothing.")


class GetMyPanels(Query):
    """The signed-in member's panels and the council's others, each saying whether it takes
    them; the reply is ``MyPanels``, or not found for an unknown or expired session."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_my_panels"

    session: SessionToken = Field(min_length=20, max_length=100, description="The session.")


class PanelChoice(BaseModel):
    """One of the council's panels as a member sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    panel: str = Field(description="The panel.")
    name: str = Field(description="Its name.")
    remit: str = Field(description="What it is asked about.")
    member: bool = Field(description="Whether the member belongs to it.")
    eligible: bool = Field(description="Whether it takes the member (age, connection, district).")


class MyPanels(BaseModel):
    """Reply to ``GetMyPanels``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    panels: tuple[PanelChoice, ...] = Field(description="The council's panels, general first.")
