"""Rules of panel membership (pure, no I/O)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import get_args

from contracts.addresses import InvalidEmail as InvalidEmail  # raised by the handlers
from contracts.addresses import normalise_email as normalise_email  # used by the handlers
from contracts.recruitment import Gender, MemberRow

MEMBER_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GENDERS = frozenset(get_args(Gender))
LOCALES = frozenset({"sv", "en"})
BIRTH_YEARS = range(1900, 2101)
DISTRICT_MAX = 80
CONSENT_VERSION_MAX = 40


class RowRejected(ValueError):
    """An import row that cannot become a member; ``reason`` is a short code, never a value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MemberDetails:
    """A member's checked details as they are stored: e-mail normalised, district trimmed."""

    member_id: str
    email: str
    birth_year: int
    gender: str
    district: str
    locale: str
    district_code: str = ""
    """The district as the council's list names it ("" when the council keeps no list)."""
    phone: str = ""
    """Mobile number in E.164, "" if none."""
    consent_version: str = ""
    """The row's own consent text version ("" : the batch's)."""
    consent_given: str = ""
    """When the row says consent was given, normalised: ``YYYY-MM-DD``, or an ISO date and
    time in UTC ("" : the row does not say)."""


def consent_given(text: str, today: date | None = None) -> str:
    """A consent date as a source wrote it, normalised (see ``MemberDetails.consent_given``);
    ``RowRejected`` if it cannot be read (``invalid_consent_date``) or is after today
    (``future_consent_date``). A time without a zone is kept as written: the source's local
    time, which nothing here can convert."""
    value = text.strip()
    today = today or datetime.now(UTC).date()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            normalised = day.isoformat()
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC)
            day = moment.date()
            normalised = moment.isoformat()
    except ValueError:
        raise RowRejected("invalid_consent_date") from None
    if day > today:
        raise RowRejected("future_consent_date")
    if day.year < 1900:
        raise RowRejected("invalid_consent_date")
    return normalised


def district_code(districts: Sequence[str], district: str) -> str | None:
    """The council's name for ``district`` (case and spacing aside), "" when the council keeps
    no list, None when it keeps one and ``district`` is not on it.

    Only this coded form leaves recruitment: what a resident typed could single them out.
    """
    if not districts:
        return ""
    wanted = " ".join(district.split()).casefold()
    for name in districts:
        if " ".join(name.split()).casefold() == wanted:
            return name
    return None


def check_row(
    row: MemberRow,
    districts: Sequence[str] = (),
    *,
    require_consent_evidence: bool = False,
    today: date | None = None,
) -> MemberDetails:
    """The details of one import row, or ``RowRejected`` naming the first field that is wrong.

    A council that keeps a list of districts accepts only rows whose district is on it. With
    ``require_consent_evidence`` a row must name its own consent date and version."""
    if not MEMBER_ID_RE.fullmatch(row.member_id):
        raise RowRejected("invalid_member_id")
    try:
        email = normalise_email(row.email)
    except InvalidEmail:
        raise RowRejected("invalid_email") from None
    if row.birth_year not in BIRTH_YEARS:
        raise RowRejected("invalid_birth_year")
    if row.gender not in GENDERS:
        raise RowRejected("invalid_gender")
    district = row.district.strip()
    code = district_code(districts, district)
    if not 1 <= len(district) <= DISTRICT_MAX or code is None:
        raise RowRejected("invalid_district")
    if row.locale not in LOCALES:
        raise RowRejected("invalid_locale")
    if not row.consent_date.strip():
        if require_consent_evidence:
            raise RowRejected("missing_consent_date")
        given = ""
    else:
        given = consent_given(row.consent_date, today)
    version = row.consent_version.strip()
    if not version and require_consent_evidence:
        raise RowRejected("missing_consent_version")
    if len(version) > CONSENT_VERSION_MAX or not version.isprintable():
        raise RowRejected("invalid_consent_version")
    return MemberDetails(
        row.member_id,
        email,
        row.birth_year,
        row.gender,
        district,
        row.locale,
        code,
        consent_version=version,
        consent_given=given,
    )


def check_rows(
    rows: Iterable[MemberRow],
    first_row: int = 1,
    districts: Sequence[str] = (),
    *,
    require_consent_evidence: bool = False,
    today: date | None = None,
) -> tuple[list[tuple[int, MemberDetails]], list[tuple[int, str]]]:
    """Split a batch into (row number, details) to import and (row number, reason) to reject.

    Within the batch an e-mail address or a member id counts once: the first row with it is
    kept, later rows are rejected as duplicates.
    """
    accepted: list[tuple[int, MemberDetails]] = []
    rejected: list[tuple[int, str]] = []
    emails: set[str] = set()
    ids: set[str] = set()
    for number, row in enumerate(rows, start=first_row):
        try:
            member = check_row(
                row, districts, require_consent_evidence=require_consent_evidence, today=today
            )
        except RowRejected as exc:
            rejected.append((number, exc.reason))
            continue
        if member.email in emails:
            rejected.append((number, "duplicate_email"))
        elif member.member_id in ids:
            rejected.append((number, "duplicate_member_id"))
        else:
            emails.add(member.email)
            ids.add(member.member_id)
            accepted.append((number, member))
    return accepted, rejected


def import_batch_id(import_id: str, batch_no: int) -> str:
    """The id of a batch's report, and the mark its members carry: ``import_id:batch_no``."""
    return f"{import_id}:{batch_no}"


def leave_link(portal_url: str, tenant: str, token: str) -> str:
    """The member's link to leave the panel, in every mail."""
    return f"{portal_url.rstrip('/')}/t/{tenant}/leave/{token}"


def confirm_link(portal_url: str, tenant: str, token: str) -> str:
    """The double opt-in link in the confirmation mail."""
    return f"{portal_url.rstrip('/')}/t/{tenant}/join/confirm/{token}"


NO_EMAIL_PREFIX = "none:"
"""What a member who signed up by mobile number only has for an address: a placeholder named
after the member (the unique index on council and address stays satisfied, on MongoDB too)."""


def no_email(member_id: str) -> str:
    """The address placeholder of a member without one."""
    return f"{NO_EMAIL_PREFIX}{member_id}"


def email_of(stored: object) -> str | None:
    """A stored address as the member gave it: None for a placeholder (none given, erased)."""
    if not isinstance(stored, str) or "@" not in stored:
        return None
    return stored


def phone_key(tenant: str, phone: str) -> str:
    """The id of a mobile number's claim and SMS code in a council: a hash, so neither
    document keeps the number in the clear."""
    return hashlib.sha256(f"phone:{tenant}:{phone}".encode()).hexdigest()


def preferred_channel(email: str | None, phone: str | None, chosen: object) -> str:
    """How panel messages reach a member: the only channel they gave, else their choice
    (e-mail unless they chose SMS)."""
    if not email and phone:
        return "sms"
    if not phone:
        return "email"
    return "sms" if chosen == "sms" else "email"


def channel_of(member: dict[str, object]) -> str:
    """A stored member's preferred channel (``preferred_channel`` of their record)."""
    return preferred_channel(
        email_of(member.get("email")), str(member.get("phone") or ""), member.get("channel")
    )
