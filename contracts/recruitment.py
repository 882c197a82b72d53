"""Messages owned by ``recruitment``: tenants, members, consent. The only home of identity."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Command, Event, Query
from contracts.text import OneLine

Gender = Literal["female", "male", "other", "undisclosed"]
OPEN_CAMPAIGN_PATTERN = r"^[a-z0-9][a-z0-9-]{1,39}$"
"""An open campaign's name, as its sign-up link carries it (``/t/<council>/join?via=<name>``)."""
VIA_PATTERN = r"^([a-z0-9][a-z0-9-]{1,39})?$"
"""What a sign-up says brought it: an open campaign's name, or '' for nothing."""

Connection = Literal["resident", "second_home", "pupil", "business_owner", "moved_away"]
"""How someone may be connected to the council: lives there, owns a second home there, goes
to one of its schools, runs a business there, or moved away from it."""
HeardFrom = Literal["", "letter", "friend", "newspaper", "event", "social_media", "other"]
"""Where a resident heard of the panel ("" if not said): what brings people in."""
PreferredChannel = Literal["email", "sms"]
"""How a member with both an e-mail address and a mobile number wants panel messages (round
invitations, results, notices) to reach them."""
Country = Literal["SE", "NO"]
"""A council's country (ISO 3166): how its residents' mobile numbers are read."""
PANEL_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
"""A panel's name within its council (``general``, ``youth``, ``north-district``, …)."""
GENERAL_PANEL = "general"
"""Every council's general panel."""


class RegisterTenant(Command):
    """Create a council (tenant) on the installation, or rename it. Region admins only."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "register_tenant"

    display_name: str = Field(min_length=2, max_length=80, description="The council's name.")
    districts: tuple[OneLine, ...] = Field(
        default=(),
        max_length=200,
        description=(
            "The council's districts, as its statistics name them. Residents choose one; only "
            "this coded form reaches rounds and the results. Empty: no district breakdown."
        ),
    )
    country: Country = Field(
        default="SE",
        description="The council's country: mobile numbers without +prefix are read as its.",
    )


class EnrolMember(Command):
    """A resident asks to join the council's panel by e-mail address, mobile number or both:
    a double opt-in mail (link) follows for an address, an SMS with a 6-digit code for a
    number given without an address (confirmed by ``ConfirmByCode``)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "enrol_member"

    member_id: str = Field(description="Id chosen by the sender for the new member (UUID text).")
    email: str = Field(
        default="", max_length=254, description="The resident's e-mail address ('' if none)."
    )
    phone: str = Field(
        default="",
        max_length=32,
        description=(
            "The resident's mobile number ('' if none), E.164 or as the council's country "
            "writes it; recruitment normalises it to E.164 and refuses an invalid one."
        ),
    )
    channel: PreferredChannel = Field(
        default="email",
        description=(
            "How panel messages should reach the resident when both an address and a number "
            "are given (sms only where the panel offers SMS); with one of them, that one."
        ),
    )
    birth_year: int = Field(ge=1900, le=2100, description="Year of birth (for age bands).")
    gender: Gender = Field(description="Self-described gender, or undisclosed.")
    district: str = Field(min_length=1, max_length=80, description="District of residence.")
    consent_version: str = Field(
        max_length=40, description="Version of the consent text the resident agreed to."
    )
    locale: Literal["sv", "en"] = Field(default="sv", description="Preferred language.")
    heard_from: HeardFrom = Field(
        default="", description="Where the resident heard of the panel (optional)."
    )
    works_for_council: bool | None = Field(
        default=None,
        description="Whether the resident works for the council (optional; None: not said).",
    )
    connection: Connection = Field(
        default="resident",
        description="How the resident is connected to the council (the panel says which "
        "connections may join; see contracts.panels).",
    )
    topics: tuple[OneLine, ...] = Field(
        default=(), max_length=30, description="Topics of the panel's the resident follows."
    )
    via: str = Field(
        default="",
        pattern=VIA_PATTERN,
        description="The open campaign (or 'friend') whose link the resident came through.",
    )
    panel: str = Field(
        default=GENERAL_PANEL,
        pattern=PANEL_PATTERN,
        description="The council's panel the resident joins (its settings decide who may).",
    )


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
    council: str = Field(
        default="", max_length=80, description="The council's name, which every mail names."
    )
    sealed: str = Field(
        default="",
        max_length=8000,
        description=(
            "The member's own link to leave the panel, sealed with the installation's seal "
            "keys (it is a working link: only dispatch opens it, to put it in every mail)."
        ),
    )
    channel: PreferredChannel = Field(
        default="email",
        description=(
            "How the member wants panel messages: a message sent on the default channel goes "
            "by SMS to a member who prefers SMS and has a number."
        ),
    )


class LeavePanel(Command):
    """A member leaves the panel through the link in any mail: their data is erased
    everywhere (as ``EraseMember``, asked by the member)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "leave_panel"

    token: str = Field(min_length=20, max_length=100, description="The token from the link.")


class EraseMember(Command):
    """Erase a member and everything every service holds about them (GDPR art. 17).

    Recruitment erases its own record at once and sends ``MemberErased``; each service that
    holds something about members forgets it and says so (``rounds.MemberForgotten``,
    ``dispatch.ContactForgotten``); recruitment records when all have, and then keeps no
    trace of the member id."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "erase_member"

    member_id: str = Field(description="The member.")
    requested_by: str = Field(
        min_length=1, max_length=80, description="Who asked: 'member', or the staff username."
    )


class MemberErased(Event):
    """A member's personal data was erased from recruitment; every replica erases its copy.

    ``reason``: "unconfirmed" for a sign-up left unconfirmed for ``PENDING_DAYS`` days,
    "requested" for an erasure asked for (``EraseMember``), "retired" for a member whose term
    ended (rotation).
    """

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "member_erased"

    member_id: str = Field(description="The member.")
    reason: Literal["unconfirmed", "requested", "retired"] = Field(
        description="Why the data was erased."
    )


class MemberEnrolled(Event):
    """A member confirmed and is now active in the panel. Carries no contact details."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "member_enrolled"

    member_id: str = Field(description="The member.")
    birth_year: int = Field(description="Year of birth, for age bands.")
    gender: Gender = Field(description="Gender as given at sign-up.")
    district: str = Field(
        description=(
            "District of residence as the council's list names it (coded); empty when the "
            "council keeps no list. What the resident typed stays in recruitment."
        )
    )
    panels: tuple[str, ...] = Field(
        default=(GENERAL_PANEL,),
        min_length=1,
        description="The council's panels the member belongs to (rounds of these invite them).",
    )
    topics: tuple[str, ...] = Field(
        default=(), max_length=50, description="Topics the member follows (for targeting)."
    )


class TenantView(BaseModel):
    """A council as the portal shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str = Field(description="The council's slug.")
    display_name: str = Field(description="The council's name.")
    districts: tuple[str, ...] = Field(default=(), description="The council's districts.")
    country: Country = Field(default="SE", description="The council's country.")
    members_active: int = Field(description="Confirmed, active panel members.")
    members_pending: int = Field(description="Signed up, not yet confirmed.")


class ListTenants(Query):
    """Every council on the installation (send with any tenant slug, e.g. ``region``)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "list_tenants"


class TenantList(BaseModel):
    """Reply to ``ListTenants``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenants: tuple[TenantView, ...] = Field(description="The councils, by slug.")


class MembershipOutcome(Query):
    """How a ``ConfirmMembership`` command went (the portal asks right after sending it)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "membership_outcome"

    command_id: str = Field(description="message_id of the ConfirmMembership command.")


class GetSignUp(Query):
    """What a pending sign-up's opt-in link would confirm; the reply is ``SignUpView`` or not
    found (an unknown, used or expired link)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_sign_up"

    token: str = Field(min_length=20, max_length=100, description="The token from the link.")


class SignUpView(BaseModel):
    """The details a confirmation would make a member with, shown on the opt-in page so that
    the owner of the mailbox confirms knowing what (the newest sign-up's details win)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str = Field(description="The address the link was sent to.")
    birth_year: int = Field(description="Year of birth.")
    gender: Gender = Field(description="Gender.")
    district: str = Field(description="District, as given.")
    consent_version: str = Field(description="The consent text's version agreed to.")


class Outcome(BaseModel):
    """The result of a command, for the sender that waits for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["pending", "done", "refused"] = Field(
        description="pending: not handled yet; done: applied; refused: not applied (see reason)."
    )
    reason: str | None = Field(default=None, description="Why it was refused, as a short code.")


class ImportMember(Command):
    """Add a member whose consent was collected outside the web (paper, phone, register sample).

    The member is active at once: there is no opt-in mail to follow.
    """

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "import_member"

    member_id: str = Field(description="Id chosen by the sender (UUID text).")
    email: str = Field(max_length=254, description="The member's e-mail address.")
    birth_year: int = Field(ge=1900, le=2100, description="Year of birth (for age bands).")
    gender: Gender = Field(description="Gender as given.")
    district: str = Field(min_length=1, max_length=80, description="District of residence.")
    consent_version: str = Field(max_length=40, description="Version of the consent text given.")
    source: Literal["paper", "phone", "register_sample", "demo"] = Field(
        description="Where the consent was collected."
    )
    locale: Literal["sv", "en"] = Field(default="sv", description="Preferred language.")


MAX_IMPORT_ROWS = 1000
"""Most rows one ``ImportMembers`` command may carry (about 200 kB on the bus)."""

IMPORT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""An import id: letters, digits, ``-`` and ``_`` (UUID text fits), so ``import_id:batch_no``
names one batch unambiguously."""


class MemberRow(BaseModel):
    """One member in an ``ImportMembers`` command, as read from the source (a file, a register).

    Only the types are checked with the command; the values are checked row by row, so a bad
    row is reported with its number and a reason code instead of refusing the whole batch.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    member_id: str = Field(description="Id chosen by the sender for the new member (UUID text).")
    email: str = Field(description="The member's e-mail address (at most 254 characters).")
    birth_year: int = Field(description="Year of birth, 1900-2100 (for age bands).")
    gender: str = Field(description="One of female, male, other, undisclosed.")
    district: str = Field(description="District of residence (1-80 characters).")
    locale: str = Field(default="sv", description="Preferred language: sv or en.")
    consent_date: str = Field(
        default="",
        max_length=40,
        description=(
            "When the member gave consent, as the source recorded it: YYYY-MM-DD, or an ISO "
            "date and time. A date after today, or one that cannot be read, rejects the row. "
            "Empty: the command's time."
        ),
    )
    consent_version: str = Field(
        default="",
        max_length=80,
        description=(
            "Version of the consent text this member agreed to (at most 40 characters); "
            "empty: the command's ``consent_version``."
        ),
    )


class ImportMembers(Command):
    """Add many members whose consent was collected outside the web, in one batch of rows.

    Each row is checked on its own: a bad row, an e-mail address twice in the batch or an
    address that is already a member is rejected with its row number and a reason code, and the
    other rows go in as active members. The batch's report is kept under ``import_id:batch_no``
    (see ``GetImport``); a second copy of a batch changes nothing.
    """

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "import_members"

    import_id: str = Field(
        pattern=IMPORT_ID_PATTERN,
        description="Id of the whole import (UUID text), the same in each of its batches.",
    )
    batch_no: int = Field(ge=1, description="Number of this batch within the import, from 1.")
    first_row: int = Field(
        default=1,
        ge=1,
        description="Row number of rows[0] in the source; rejected rows are named by it.",
    )
    consent_version: str = Field(max_length=40, description="Version of the consent text given.")
    source: Literal["paper", "phone", "register_sample", "demo", "file"] = Field(
        description=(
            "Where the consents were collected; ``file``: a file of members staff uploaded, "
            "e.g. a previous vendor's export (``consent_source`` names it)."
        )
    )
    consent_source: OneLine = Field(
        default="",
        max_length=120,
        description=(
            "Where the consent evidence comes from, as staff name it (e.g. 'Netigate export "
            "2026'): kept with each member's consent instead of ``source`` when given."
        ),
    )
    panel: str = Field(
        default=GENERAL_PANEL,
        pattern=PANEL_PATTERN,
        description="The council's panel the members join.",
    )
    require_consent_evidence: bool = Field(
        default=False,
        description=(
            "Reject rows without their own consent date (missing_consent_date) or consent "
            "version (missing_consent_version), as for a file from a previous vendor."
        ),
    )
    last_batch: bool = Field(
        default=False,
        description="This is the import's last batch: ``GetImport`` knows how many to expect.",
    )
    rows: tuple[MemberRow, ...] = Field(
        min_length=1, max_length=MAX_IMPORT_ROWS, description="The members, in source order."
    )


class RowRejection(BaseModel):
    """A row that was not imported, and why (never the row's values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    row: int = Field(description="Row number in the source.")
    reason: str = Field(
        description="Why, as a code: invalid_member_id, invalid_email, invalid_birth_year, "
        "invalid_gender, invalid_district, invalid_locale, duplicate_email, "
        "duplicate_member_id (both within the batch), already_member, member_id_taken, "
        "invalid_consent_date, future_consent_date, invalid_consent_version, "
        "missing_consent_date, missing_consent_version."
    )


class ImportBatch(BaseModel):
    """How one batch of an import went."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_no: int = Field(description="Number of the batch within the import.")
    rows: int = Field(description="Rows in the batch.")
    accepted: int = Field(description="Rows now members (also those imported by an earlier copy).")
    rejected: int = Field(description="Rows not imported.")


class GetImport(Query):
    """How an ``ImportMembers`` import went so far, batch by batch (for the import page)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_import"

    import_id: str = Field(pattern=IMPORT_ID_PATTERN, description="The import's id.")
    from_batch: int = Field(
        default=1,
        ge=1,
        description="List the rejected rows of the batches from this number on (paging).",
    )


class ImportView(BaseModel):
    """Reply to ``GetImport``: the batches handled so far and the rows they rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    import_id: str = Field(description="The import's id.")
    batches: tuple[ImportBatch, ...] = Field(description="Handled batches, by number.")
    accepted: int = Field(description="Rows accepted in all handled batches.")
    rejected: int = Field(description="Rows rejected in all handled batches.")
    rejections: tuple[RowRejection, ...] = Field(
        description=(
            "Rejected rows by row number, of whole batches from ``from_batch`` on, as many "
            "batches as fit in about 1000 rows (at least one)."
        )
    )
    next_batch: int | None = Field(
        default=None,
        description="Ask again with this ``from_batch`` for more rejected rows; None: no more.",
    )
    batches_expected: int | None = Field(
        default=None,
        description=(
            "How many batches the import has, once its last batch (``last_batch``) is handled; "
            "None before, or for an import that does not say."
        ),
    )


class GetErasure(Query):
    """How an erasure is going; the reply is ``ErasureView`` or not found."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_erasure"

    member_id: str = Field(description="The member whose erasure was asked for.")


class ErasureView(BaseModel):
    """Where an erasure stands: which services have forgotten the member, and since when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requested_on: str = Field(description="Day the erasure was asked for (YYYY-MM-DD).")
    requested_by: str = Field(description="'member', or the staff username.")
    forgotten_by: tuple[str, ...] = Field(description="Services that have forgotten the member.")
    completed_on: str | None = Field(description="Day every service had; None while pending.")


class GetMemberData(Query):
    """What recruitment holds about one member (the member record: contact, background,
    consent); the reply is ``PersonalData``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_member_data"

    member_id: str = Field(description="The member.")


class PopulationRow(BaseModel):
    """One cell of the council's population, from official statistics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    district: str = Field(
        max_length=80, description="District as the council's list names it; '' if none."
    )
    age_band: str = Field(max_length=10, description="Age band, e.g. 16-29 (contracts.bands).")
    gender: Literal["female", "male"] = Field(description="As official statistics count.")
    population: int = Field(ge=0, le=10_000_000, description="Residents in the cell.")


class SetPopulation(Command):
    """Replace the council's population figures (by district, age band and gender), against
    which the panel's representativeness is measured."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "set_population"

    source: OneLine = Field(
        min_length=1, max_length=120, description="Where the figures come from (e.g. SCB 2025)."
    )
    rows: tuple[PopulationRow, ...] = Field(max_length=5000, description="The cells.")


class PopulationChanged(Event):
    """The council's population figures were set: rounds weights results to them. Counts
    only, no personal data; ``occurred_at`` is when staff set them, so a late, older event
    changes nothing."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "population_changed"

    source: OneLine = Field(
        min_length=1, max_length=120, description="Where the figures come from (e.g. SCB 2025)."
    )
    rows: tuple[PopulationRow, ...] = Field(
        max_length=5000,
        description="The cells recruitment took (rows that did not fit the council left out).",
    )


class GetRepresentativeness(Query):
    """How the council's active panel compares with its population; the reply is
    ``Representativeness``, or not found while no population figures are set."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_representativeness"

    panel: str = Field(
        default="",
        pattern=r"^([a-z0-9][a-z0-9-]{0,39})?$",
        description="One panel (against the population it draws from: its districts and "
        "ages), or '' for every member of the council.",
    )


class Share(BaseModel):
    """One group: the panel's share of it against the population's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str = Field(description="The group, e.g. '16-29', 'female', 'Kisa', or crossed.")
    members: int = Field(description="Active members in the group (comparable ones).")
    panel_share: float = Field(description="Per cent of the comparable panel.")
    population_share: float = Field(description="Per cent of the population.")
    gap: float = Field(description="Panel share minus population share, percentage points.")
    to_match: int = Field(
        description="Members the group would need to join for its share to match."
    )


class Representativeness(BaseModel):
    """The panel against the population: the index, the gaps, and whom to recruit next."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="Where the population figures come from.")
    index: float = Field(
        description=(
            "100 × (1 − ½ Σ |panel share − population share|) over the crossed cells: "
            "100 when the panel is composed like the population, 0 when nothing overlaps."
        )
    )
    members_compared: int = Field(description="Active members in some population cell.")
    members_not_compared: int = Field(
        description="Active members in none (gender other or undisclosed, under 16, no district)."
    )
    by_age_band: tuple[Share, ...] = Field(description="Age bands.")
    by_gender: tuple[Share, ...] = Field(description="Genders.")
    by_district: tuple[Share, ...] = Field(description="Districts (empty without a list).")
    recruit_next: tuple[Share, ...] = Field(
        description="The crossed cells furthest below their population share, most first."
    )
    rejected_rows: tuple[RowRejection, ...] = Field(
        description="Population rows that were not taken, and why."
    )
    by_cell: tuple[Share, ...] = Field(
        default=(),
        description="Every crossed cell (district · age band · gender), by name.",
    )


class GetPanelHistory(Query):
    """The panel month by month; the reply is ``PanelHistory``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_panel_history"

    months: int = Field(default=12, ge=1, le=120, description="How many months back.")


class PanelMonth(BaseModel):
    """One month of the panel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    month: str = Field(description="YYYY-MM.")
    joined: int = Field(description="Members who joined (confirmed, or imported) that month.")
    left: int = Field(description="Active members who left or were erased that month.")
    retired: int = Field(
        default=0, description="Of those who left, members whose term ended (rotation)."
    )
    size_at_end: int = Field(description="Active members at the month's end (so far, now).")


class PanelHistory(BaseModel):
    """The panel's size, joins and leaves per month, oldest first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    months: tuple[PanelMonth, ...] = Field(description="The months, oldest first.")


# --- sign-up by mobile number (SMS code) ---------------------------------------------------


class ConfirmByCode(Command):
    """The resident typed the 6-digit code the SMS after their sign-up carried. The outcome
    (``MembershipOutcome``) is done, or refused with ``invalid_code`` (wrong, expired, used
    up by too many attempts, or no code for that number: one answer for all, so nobody
    learns whether a number signed up) or ``already_used``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "confirm_by_code"

    phone: str = Field(min_length=1, max_length=32, description="The mobile number, E.164.")
    code: str = Field(pattern=r"^[0-9]{6}$", description="The 6-digit code from the SMS.")


class GetRepresentativenessHistory(Query):
    """How representative the panel was, month by month (the index at each month's last
    daily snapshot); the reply is ``RepresentativenessHistory``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_representativeness_history"

    months: int = Field(default=12, ge=1, le=120, description="How many months back.")


class IndexPoint(BaseModel):
    """The index on one day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    day: str = Field(description="YYYY-MM-DD.")
    index: float = Field(description="The representativeness index that day (0-100).")
    members_compared: int = Field(description="Active members it compared.")


class RepresentativenessHistory(BaseModel):
    """Reply to ``GetRepresentativenessHistory``: oldest first, one point per month."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    points: tuple[IndexPoint, ...] = Field(description="Oldest first.")
