"""Invited (representative) recruitment, owned by ``recruitment``: a campaign imports an extract
of the population register, draws a random sample stratified by district × age band × gender,
and gives each person drawn an invitation code for a letter; redeeming the code joins the panel.

The extract is identity: it stays in recruitment, and is deleted when the campaign closes.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.envelope import Command, Query
from contracts.recruitment import OPEN_CAMPAIGN_PATTERN as OPEN_CAMPAIGN_PATTERN
from contracts.recruitment import HeardFrom, RowRejection
from contracts.text import OneLine

CAMPAIGN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""A campaign id: letters, digits, ``-`` and ``_`` (UUID text fits)."""

MAX_REGISTER_ROWS = 2000
"""Most rows one ``ImportRegister`` command carries (about 350 kB on the bus)."""

REGISTER_FIELD_MAX = 300
"""Longest value a register row's field may carry on the bus; longer ones are cut to this by
the sender and refused by recruitment's own, tighter, limits."""

DrawMethod = Literal["proportional", "boost"]


class CreateCampaign(Command):
    """Start an invited-recruitment campaign: its register extract is imported next."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "create_campaign"

    campaign_id: str = Field(pattern=CAMPAIGN_ID_PATTERN, description="Id chosen by the sender.")
    title: OneLine = Field(min_length=2, max_length=120, description="E.g. 'Spring 2027 letters'.")
    closes_on: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description=(
            "Last day invitation codes can be redeemed (YYYY-MM-DD). The campaign closes the "
            "day after: its register extract is deleted and its codes stop working."
        ),
    )
    exclude_drawn_months: int = Field(
        default=24,
        ge=0,
        le=120,
        description="People drawn by an earlier campaign in this many months are left out.",
    )
    panel: str = Field(
        default="general",
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        description="The council's panel those who redeem their invitation join.",
    )


REGISTER_COLUMNS = (
    "name",
    "address",
    "postcode",
    "town",
    "birth_year",
    "gender",
    "district",
    "email",
    "mobile",
)
"""The fields of a ``RegisterRow``, in order: name and street address (for the letter),
postcode and post town ("" if not known), year of birth, gender (female/male, also k, kvinna,
m, man, f), district of residence, and e-mail address and mobile number ("" if not known)."""

RegisterValue = Annotated[str, StringConstraints(max_length=REGISTER_FIELD_MAX)]
RegisterRow = tuple[
    RegisterValue,
    RegisterValue,
    RegisterValue,
    RegisterValue,
    RegisterValue,
    RegisterValue,
    RegisterValue,
    RegisterValue,
    RegisterValue,
]
"""One person of a population-register extract, as read from the file: the text of each of
``REGISTER_COLUMNS``. A list, not an object: an extract has a million of them, and a list is
half the bytes on the bus and a fraction of the work to read.

Only the form travels with the command; recruitment checks each value and reports a bad row
with its number and a reason, instead of refusing the whole batch."""


class ImportRegister(Command):
    """One batch of a campaign's register extract. Each row is checked on its own; people
    already in the panel, or drawn recently, are left out and counted. A second copy of a
    batch changes nothing."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "import_register"

    campaign_id: str = Field(pattern=CAMPAIGN_ID_PATTERN, description="The campaign.")
    batch_no: int = Field(ge=1, le=100_000, description="Number of this batch, from 1.")
    first_row: int = Field(ge=1, description="Row number of rows[0] in the file.")
    rows: tuple[RegisterRow, ...] = Field(
        min_length=1,
        max_length=MAX_REGISTER_ROWS,
        description="The people, in file order, each a list of REGISTER_COLUMNS' values.",
    )


class FinishRegister(Command):
    """The whole extract was sent: how many batches and rows, so that the campaign knows when
    every batch is in (and the import page can show its progress until then)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "finish_register"

    campaign_id: str = Field(pattern=CAMPAIGN_ID_PATTERN, description="The campaign.")
    batches: int = Field(ge=0, le=100_000, description="Batches sent.")
    rows: int = Field(ge=0, description="Rows sent, in all batches.")


class DrawSample(Command):
    """Draw the campaign's sample from its imported extract, stratified by district × age band
    × gender: ``proportional`` to the extract, or ``boost`` (over-sample the strata the
    current panel lacks, so that the panel after recruitment is nearer the population)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "draw_sample"

    campaign_id: str = Field(pattern=CAMPAIGN_ID_PATTERN, description="The campaign.")
    size: int = Field(ge=1, le=100_000, description="How many people to invite.")
    method: DrawMethod = Field(default="proportional", description="How to allocate the size.")
    expected_response_pct: int = Field(
        default=15,
        ge=1,
        le=100,
        description="Share of those invited expected to join (for boost; Malmö saw 16 %).",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**53,
        description="Random seed, to reproduce a draw; None: one is chosen and recorded.",
    )


class CloseCampaign(Command):
    """Close a campaign now: its codes stop working and its extract is deleted (what is kept:
    counts per stratum, and a salted hash of each person drawn, to leave them out of the
    next draws)."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "close_campaign"

    campaign_id: str = Field(pattern=CAMPAIGN_ID_PATTERN, description="The campaign.")


class RedeemInvitation(Command):
    """A person drawn joins the panel with their invitation (the link's token, or the short
    code typed from the letter). What the register knows (birth year, gender, district) is
    taken from it; the person gives an e-mail address."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "redeem_invitation"

    code: str = Field(min_length=8, max_length=100, description="Link token or short code.")
    email: str = Field(max_length=254, description="The new member's e-mail address.")
    consent_version: str = Field(max_length=40, description="Version of the consent text.")
    locale: Literal["sv", "en"] = Field(default="sv", description="Preferred language.")
    heard_from: HeardFrom = Field(default="letter", description="Where they heard of it.")


class GetInvitationCode(Query):
    """What an invitation code stands for (to pre-fill the joining page); the reply is
    ``InvitedView``, or not found for an unknown code."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_invitation_code"

    code: str = Field(min_length=8, max_length=100, description="Link token or short code.")


class InvitedView(BaseModel):
    """A person invited, as their joining page shows them what the register says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Name, as on the letter.")
    birth_year: int = Field(description="Year of birth.")
    gender: Literal["female", "male"] = Field(description="Gender.")
    district: str = Field(description="District (coded).")
    email: str = Field(description="E-mail address, if the register had one.")
    state: Literal["invited", "joined", "expired"] = Field(
        description="invited: can join; joined: used; expired: the campaign closed."
    )
    closes_on: str = Field(description="Last day to join (YYYY-MM-DD).")
    panel: str = Field(default="general", description="The panel the invitation is to.")


class GetCampaign(Query):
    """A campaign: import progress, draw and conversion; the reply is ``CampaignView``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_campaign"

    campaign_id: str = Field(pattern=CAMPAIGN_ID_PATTERN, description="The campaign.")


class ListCampaigns(Query):
    """The council's campaigns, newest first; the reply is ``CampaignList``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "list_campaigns"


class StratumView(BaseModel):
    """One stratum of a campaign: the extract, the sample and who joined."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    district: str = Field(description="District (coded; '' for a council without a list).")
    age_band: str = Field(description="Age band (contracts.bands).")
    gender: Literal["female", "male"] = Field(description="Gender.")
    eligible: int = Field(description="People in the extract who could be drawn.")
    invited: int = Field(description="People drawn.")
    joined: int = Field(description="People drawn who joined.")
    conversion: float = Field(description="Per cent of those drawn who joined.")


class CampaignView(BaseModel):
    """A campaign, for its page."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign_id: str = Field(description="The campaign.")
    title: str = Field(description="Its title.")
    state: Literal["importing", "drawn", "closed"] = Field(description="Where it stands.")
    created_on: str = Field(description="Day it was created (YYYY-MM-DD).")
    closes_on: str = Field(description="Last day its codes can be redeemed.")
    exclude_drawn_months: int = Field(description="Recently drawn people left out (months).")
    panel: str = Field(default="general", description="The panel those who join join.")
    batches_expected: int | None = Field(description="Batches sent; None while sending.")
    batches_done: int = Field(description="Batches imported so far.")
    rows: int = Field(description="Rows imported so far.")
    eligible: int = Field(description="Rows that can be drawn.")
    rejected: int = Field(description="Rows refused (see the rejections).")
    excluded: int = Field(description="Rows left out: already members, or drawn recently.")
    seed: int | None = Field(description="The draw's seed, once drawn.")
    method: str = Field(description="The draw's method ('' until drawn).")
    invited: int = Field(description="People drawn.")
    joined: int = Field(description="People drawn who joined.")
    strata: tuple[StratumView, ...] = Field(description="Strata with anyone eligible or drawn.")


class CampaignList(BaseModel):
    """Reply to ``ListCampaigns``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    campaigns: tuple[CampaignView, ...] = Field(description="Newest first (no strata).")


class GetRegisterRejections(Query):
    """The rows of a campaign's extract that were refused or left out, by row number, a page
    at a time; the reply is ``RegisterRejections``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_register_rejections"

    campaign_id: str = Field(pattern=CAMPAIGN_ID_PATTERN, description="The campaign.")
    after_batch: int = Field(default=0, ge=0, description="Start after this batch number.")


class RegisterRejections(BaseModel):
    """A page of refused rows (never their values: row numbers and reason codes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rejections: tuple[RowRejection, ...] = Field(
        description=(
            "Row and reason: invalid_name, invalid_address, invalid_postcode, invalid_town, "
            "invalid_birth_year, too_young, invalid_gender, invalid_district, invalid_email, "
            "invalid_mobile, duplicate_person (in the file), already_member, drawn_recently."
        )
    )
    next_batch: int | None = Field(description="Ask again with after_batch=this; None: done.")


class GetLetters(Query):
    """The letters of a drawn campaign, a page at a time (names, addresses and working codes:
    for printing only); the reply is ``Letters``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "get_letters"

    campaign_id: str = Field(pattern=CAMPAIGN_ID_PATTERN, description="The campaign.")
    offset: int = Field(default=0, ge=0, description="Letters to skip.")
    limit: int = Field(default=500, ge=1, le=500, description="Letters in this page.")


class Letter(BaseModel):
    """One invitation letter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Recipient.")
    address: str = Field(description="Street address.")
    postcode: str = Field(description="Postcode.")
    town: str = Field(description="Post town.")
    link: str = Field(description="The personal link (also as a QR code).")
    code: str = Field(description="The short code, for typing on the joining page.")


class Letters(BaseModel):
    """Reply to ``GetLetters``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    council: str = Field(description="The council's name.")
    closes_on: str = Field(description="Last day to join.")
    total: int = Field(description="Letters in the campaign.")
    letters: tuple[Letter, ...] = Field(description="This page's letters, in draw order.")


FRIEND = "friend"
"""The standing tell-a-friend link every council has: members pass it on."""


class StartOpenCampaign(Command):
    """An open recruitment campaign: a sign-up link of its own, for a set time, towards a
    target size; the sign-ups and joins through it are counted. Starting one again with the
    same slug changes its title, dates and target."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "start_open_campaign"

    slug: str = Field(pattern=OPEN_CAMPAIGN_PATTERN, description="Its link's name, e.g. var-2027.")
    title: OneLine = Field(min_length=2, max_length=120, description="E.g. 'Spring fair 2027'.")
    starts_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="First day (YYYY-MM-DD).")
    ends_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="Last day (YYYY-MM-DD).")
    target: int = Field(ge=1, le=1_000_000, description="Members to gain through it.")


class ListOpenCampaigns(Query):
    """The council's open campaigns and the tell-a-friend link, with their counts; the reply
    is ``OpenCampaignList``."""

    owner: ClassVar[str] = "recruitment"
    name: ClassVar[str] = "list_open_campaigns"


class OpenCampaignView(BaseModel):
    """An open campaign and how it goes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slug: str = Field(description="Its link's name.")
    title: str = Field(description="Its title.")
    starts_on: str = Field(description="First day ('' for the tell-a-friend link).")
    ends_on: str = Field(description="Last day ('' for the tell-a-friend link).")
    target: int | None = Field(description="Members to gain (None for the tell-a-friend link).")
    state: Literal["upcoming", "running", "ended"] = Field(description="Where it stands today.")
    signed_up: int = Field(description="Sign-ups through its link.")
    joined: int = Field(description="Of them, members now (confirmed).")


class OpenCampaignList(BaseModel):
    """Reply to ``ListOpenCampaigns``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    campaigns: tuple[OpenCampaignView, ...] = Field(description="Tell-a-friend first, then newest.")
