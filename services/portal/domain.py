"""The portal's rules, pure: what a valid sign-up, answer, round or feedback is; rate-limit windows.

Every text a person typed is trimmed before any rule looks at it: here for the pages, and by
``TrimmedText`` for the JSON API's request bodies, so a text of only spaces is empty in both.
Error messages are English msgids marked with ``N_``; they are translated where they are shown.
"""

from __future__ import annotations

import csv
import dataclasses
import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

from pydantic import ValidationError

from contracts import questions as rules
from contracts.addresses import InvalidEmail, InvalidPhone, normalise_email, normalise_phone
from contracts.languages import Language, RoundTranslation
from contracts.panels import Connection
from contracts.recruitment import Gender, HeardFrom, PopulationRow, PreferredChannel
from contracts.rounds import OneLine as OneLine  # for the API's request bodies
from contracts.rounds import Plan, Promise, Question, Target, clean_line, clean_text
from contracts.rounds import TrimmedText as TrimmedText  # for the API's request bodies
from services.portal import round_builder
from services.portal.i18n import N_

CONSENT_VERSION: Final = "2026-1"
"""Version of the consent text on the sign-up page; changes when the text changes."""

FREE_TEXT_MAX: Final = 2000
"""Longest free-text answer, in characters."""

FEEDBACK_MAX: Final = 10000
"""Longest feedback text, in characters."""

GENDERS: Final[Mapping[str, str]] = {
    "female": N_("Female"),
    "male": N_("Male"),
    "other": N_("Other"),
    "undisclosed": N_("Prefer not to say"),
}
"""The genders a resident can give, with their labels."""

HEARD_FROM: Final[Mapping[str, str]] = {
    "letter": N_("A letter from the council"),
    "friend": N_("A friend or family member"),
    "newspaper": N_("A newspaper"),
    "event": N_("An event or meeting"),
    "social_media": N_("Social media"),
    "other": N_("Somewhere else"),
}
"""Where a resident can say they heard of the panel (optional), with their labels."""

HONEYPOT_FIELD: Final = "website"
"""A form field people never see and bots fill in: a sign-up with it is dropped, silently."""

ROUND_STATES: Final[Mapping[str, str]] = {
    "draft": N_("Draft"),
    "submitted": N_("Submitted for approval"),
    "returned": N_("Returned"),
    "approved": N_("Approved"),
    "scheduled": N_("Scheduled"),
    "open": N_("Open"),
    "closed": N_("Closed"),
    "published": N_("Results published"),
    "archived": N_("Archived"),
}
"""A round's life-cycle states, with their labels."""

ROUND_STEPS: Final[Mapping[str, str]] = {
    "created": N_("Drafted"),
    "edited": N_("Edited"),
    "submitted": N_("Submitted to the steering group"),
    "returned": N_("Returned by the steering group"),
    "approved": N_("Approved by the steering group"),
    "scheduled": N_("Scheduled"),
    "extended": N_("Closing moved"),
    "opened": N_("Opened"),
    "closed": N_("Closed"),
    "results_published": N_("Results published"),
    "archived": N_("Archived"),
    "review_asked": N_("Methodology review asked"),
    "method_approved": N_("Method approved"),
    "changes_asked": N_("Changes asked by the methodologist"),
}
"""The recorded steps of a round's life cycle, with their labels (its page's history)."""

AFTER_OPENING: Final = frozenset({"open", "closed", "published", "archived"})
"""States of a round that has been open: it has results and turnout to show."""
RESULTS_PUBLIC: Final = frozenset({"published", "archived"})
"""States of a round whose results are published: feedback to the panel may follow."""

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_ROUND_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_TENANT_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")

assert set(GENDERS) == set(get_args(Gender)), "GENDERS must list every contract gender"

Errors = dict[str, str]
"""Field name → message (msgid) for each field that is wrong."""


def is_tenant_slug(value: str) -> bool:
    """Whether ``value`` can be a council's slug at all (before asking who exists)."""
    return bool(_TENANT_RE.fullmatch(value))


def is_link_token(value: str) -> bool:
    """Whether ``value`` looks like a personal-link token (URL-safe, 20-100 characters)."""
    return bool(_TOKEN_RE.fullmatch(value))


def is_round_id(value: str) -> bool:
    """Whether ``value`` looks like a round id (UUID text or similar)."""
    return bool(_ROUND_ID_RE.fullmatch(value))


@dataclass(frozen=True)
class SignUp:
    """A resident's valid sign-up."""

    email: str
    birth_year: int
    gender: Gender
    district: str
    heard_from: HeardFrom = ""
    works_for_council: bool | None = None
    phone: str = ""
    """Mobile number in E.164 ("" if none); without an address, an SMS code confirms."""
    connection: Connection = "resident"
    """How the resident is connected to the council (when the panel takes more than residents)."""
    topics: tuple[str, ...] = ()
    """The panel's topics the resident follows."""
    via: str = ""
    """The open campaign (or 'friend') whose link brought the resident, if any."""
    channel: PreferredChannel = "email"
    """How panel messages should reach the resident when they give an address and a number."""

    @property
    def by_code(self) -> bool:
        """Whether the sign-up is confirmed by a code sent by SMS (a number, no address)."""
        return bool(self.phone) and not self.email


PHONE_ERRORS: Final = {
    "SE": N_("Enter a Swedish mobile number, for example 070-123 45 67."),
    "NO": N_("Enter a Norwegian mobile number, for example 412 34 567."),
}


def check_phone(phone: str, country: str) -> tuple[str, str | None]:
    """A mobile number of the council's country in E.164, or "" with the message to show."""
    try:
        return normalise_phone(phone, country), None
    except InvalidPhone:
        return "", PHONE_ERRORS.get(country, PHONE_ERRORS["SE"])


def check_channel(
    chosen: str, *, phone: str, offered: Sequence[str]
) -> tuple[PreferredChannel, str | None]:
    """The channel a resident chose for panel messages ('' : e-mail), or e-mail with the
    message to show: SMS needs a mobile number and a panel that offers SMS."""
    if chosen in ("", "email"):
        return "email", None
    if chosen != "sms":
        return "email", N_("Choose one of the options.")
    if "sms" not in offered:
        return "email", N_("This panel does not send its messages by SMS.")
    if not phone.strip():
        return "email", N_("Give your mobile number to get the panel's messages by SMS.")
    return "sms", None


SignInBy = Literal["email", "phone"]


def check_sign_in(raw: str, country: str) -> tuple[tuple[SignInBy, str] | None, Errors]:
    """What a resident typed to sign in, normalised: an e-mail address (it has an @) or a
    mobile number of the council's country; or the message to show (field ``contact``)."""
    value = raw.strip()
    if "@" in value:
        try:
            return ("email", normalise_email(value)), {}
        except InvalidEmail:
            return None, {"contact": N_("Enter an e-mail address in the form name@example.se.")}
    if not any(c.isdigit() for c in value):
        return None, {"contact": N_("Enter your e-mail address or your mobile number.")}
    number, error = check_phone(value, country)
    if error:
        return None, {"contact": error}
    return ("phone", number), {}


def check_sign_up(
    *,
    email: str,
    birth_year: str,
    gender: str,
    district: str,
    consent: bool,
    this_year: int,
    districts: Sequence[str] = (),
    heard_from: str = "",
    works_for_council: str = "",
    phone: str = "",
    country: str = "SE",
) -> tuple[SignUp | None, Errors]:
    """Validate a sign-up form; the sign-up, or None with a message per wrong field.

    An e-mail address or a mobile number (of the council's ``country``) is needed, or both.
    A council that keeps a list of districts takes only a district from it (as the list
    names it); else the resident's own words, which stay in recruitment."""
    errors: Errors = {}
    email = email.strip()
    phone = phone.strip()
    if phone:
        phone, phone_error = check_phone(phone, country)
        if phone_error:
            errors["phone"] = phone_error
    if not email and not phone and "phone" not in errors:
        errors["email"] = N_("Enter your e-mail address or your mobile number.")
    elif email:
        try:
            email = normalise_email(email)
        except InvalidEmail:
            errors["email"] = N_("Enter an e-mail address in the form name@example.se.")
    year: int | None = None
    try:
        year = int(birth_year.strip())
    except ValueError:
        errors["birth_year"] = (
            N_("Enter your year of birth.")
            if not birth_year.strip()
            else N_("Enter your year of birth as four digits, for example 1984.")
        )
    else:
        if not 1900 <= year <= this_year:
            errors["birth_year"] = N_("Enter a year of birth between 1900 and this year.")
    if gender not in GENDERS:
        errors["gender"] = N_("Choose one of the options, or “Prefer not to say”.")
    district = " ".join(district.split())
    if not district:
        errors["district"] = N_("Enter the district where you live.")
    elif len(district) > 80:
        errors["district"] = N_("The district can be at most 80 characters.")
    elif districts:
        listed = {" ".join(d.split()).casefold(): d for d in districts}
        if district.casefold() in listed:
            district = listed[district.casefold()]
        else:
            errors["district"] = N_("Choose your district from the list.")
    if heard_from not in ("", *HEARD_FROM):
        errors["heard_from"] = N_("Choose one of the options, or leave it empty.")
    if works_for_council not in ("", "yes", "no"):
        errors["works_for_council"] = N_("Choose one of the options, or leave it empty.")
    if not consent:
        errors["consent"] = N_("You must give your consent to join the panel.")
    if errors or year is None:
        return None, errors
    return SignUp(
        email=email,
        birth_year=year,
        gender=cast(Gender, gender),
        district=district,
        heard_from=cast(HeardFrom, heard_from),
        works_for_council={"yes": True, "no": False}.get(works_for_council),
        phone=phone,
    ), errors


SELF_SELECTED: Final = N_(
    "The panel's answers are not a survey of all residents: members chose to join, and those "
    "who answer choose to. The figures describe the panel members who answered."
)
"""The caveat on results that are not weighted."""
ANSWER_CHANNELS: Final = {
    "web": N_("Personal link"),
    "sms": N_("SMS replies"),
    "paper": N_("Paper forms"),
    "mail": N_("One click in the mail"),
    "poll": N_("Open quick poll"),
}
"""How answers came in, as staff read it."""

INVITATION_CHANNELS: Final = {
    "email": N_("Invited by e-mail"),
    "sms": N_("Invited by SMS"),
    "not_sent": N_("Invitation not sent"),
}
"""How invitations went out, as staff read it (``not_sent``: no channel took it yet)."""

YES_NO_LABELS: Final = {"yes": N_("Yes"), "no": N_("No")}
"""How a yes/no question's answers read."""

ANSWER_PROBLEMS: Final = {
    "wrong_type": N_("Answer in the form the question asks for."),
    "not_an_option": N_("Choose one of the options."),
    "too_few": N_("Choose more of the options."),
    "too_many": N_("Choose fewer of the options."),
    "out_of_range": N_("Enter a number within the range shown."),
    "not_whole": N_("Enter a whole number."),
    "too_long": N_("Your answer is too long."),
    "not_a_ranking": N_("Give every option its own place."),
    "bad_pin": N_("Choose a place for each mark, or leave its row empty."),
    "hidden": N_("This question does not apply to your earlier answer."),
    "unknown": N_("Unknown question."),
}
"""What each of contracts.questions' problem codes tells the resident."""


def check_answers(
    questions: Sequence[Question], raw: Mapping[str, Any]
) -> tuple[dict[str, Any], Errors]:
    """Validate answers to a round's questions (any may be skipped, not all), by the rules
    the rounds service applies (contracts.questions).

    Returns the answers to send and the errors, keyed by question key.
    """
    answers, problems = rules.check_answers(questions, raw)
    errors: Errors = {key: ANSWER_PROBLEMS.get(code, code) for key, code in problems.items()}
    if not answers and not errors:
        errors["_form"] = N_("Answer at least one question before you send.")
    return answers, errors


def answers_from_form(questions: Sequence[Question], form: Any) -> dict[str, Any]:
    """A resident's answers as the answer page's form posts them (``form``: a multi-dict
    with ``get`` and ``getlist``), in the shape ``check_answers`` takes. Answers to questions
    the resident's own answers hide are dropped: the page hides them (or, without scripts,
    says when to skip them), and the resident cannot be faulted for having filled one in."""
    raw: dict[str, Any] = {}
    for q in questions:
        if q.kind == "multiple_choice":
            raw[q.key] = [str(v) for v in form.getlist(q.key)]
        elif q.kind == "ranking":
            places = {o: str(form.get(f"{q.key}-{i}", "")).strip() for i, o in enumerate(q.options)}
            if all(not p for p in places.values()):
                continue
            ranked = sorted(places, key=lambda o: (places[o] or "99", q.options.index(o)))
            if sorted(places.values()) != [str(n) for n in range(1, len(q.options) + 1)]:
                raw[q.key] = ranked[:-1]  # not a ranking: refused as such
            else:
                raw[q.key] = ranked
        elif q.kind == "map":
            pins = []
            for i in range(q.max_pins):
                pin = {
                    part: str(form.get(f"{q.key}-{i}-{part}", "")).strip()
                    for part in ("district", "category", "comment", "lat", "lon")
                }
                if not any(pin.values()):
                    continue
                pins.append({k: v for k, v in pin.items() if v})
            raw[q.key] = pins
        else:
            raw[q.key] = str(form.get(q.key, ""))
    clean, _ = rules.check_answers(questions, raw)
    visible = rules.shown(questions, clean)
    return {key: value for key, value in raw.items() if key in visible}


@dataclass(frozen=True)
class RoundDraft:
    """A new round as staff wrote it, ready to send as ``CreateRound``."""

    title: str
    purpose: str
    questions: tuple[Question, ...]
    panel: str = "general"
    target: Target = dataclasses.field(default_factory=Target)
    longitudinal: bool = False
    public: bool = False
    allow_changes: bool = False
    promise: Promise = dataclasses.field(default_factory=Promise)
    plan: Plan = dataclasses.field(default_factory=Plan)
    introduction: str = ""
    languages: tuple[Language, ...] = ("sv",)
    translations: dict[Language, RoundTranslation] = dataclasses.field(default_factory=dict)


def check_round_form(
    *, title: str, purpose: str, blocks: Sequence[dict[str, str]]
) -> tuple[RoundDraft | None, Errors]:
    """Validate the round builder's form: title, purpose and the question blocks
    (``services.portal.round_builder``)."""
    errors: Errors = {}
    # Titles and questions become mail subjects and headings: one line, whatever was posted.
    title = clean_line(title)
    purpose = clean_text(purpose)
    if not title:
        errors["title"] = N_("Enter a title.")
    elif len(title) > 200:
        errors["title"] = N_("The title can be at most 200 characters.")
    if not purpose:
        errors["purpose"] = N_("Say what the answers will be used for.")
    elif len(purpose) > 2000:
        errors["purpose"] = N_("The purpose can be at most 2000 characters.")
    questions, question_errors = round_builder.questions_from_blocks(blocks)
    errors.update(question_errors)
    if errors:
        return None, errors
    return RoundDraft(title=title, purpose=purpose, questions=tuple(questions)), errors


def check_questions(questions: Sequence[Question]) -> Errors:
    """The rounds service's rules for questionnaires (contracts.questions), as messages."""
    return {
        key: round_builder.PROBLEMS.get(code, code)
        for key, code in rules.question_problems(questions).items()
    }


def check_feedback(text: str) -> tuple[str, Errors]:
    """Validate the council's feedback on a round."""
    text = clean_text(text)
    if not text:
        return text, {"text": N_("Write the feedback before you publish it.")}
    if len(text) > FEEDBACK_MAX:
        return text, {"text": N_("The feedback can be at most 10000 characters.")}
    return text, {}


def response_rate(invited: int, responded: int) -> float:
    """Responded / invited as a percentage, 0 when nobody was invited."""
    return 100.0 * responded / invited if invited else 0.0


def safe_next(candidate: str | None, prefix: str, default: str) -> str:
    """Where to go after logging in: only a local path under ``prefix``, never another site."""
    if (
        candidate
        and candidate.startswith(prefix)
        and "//" not in candidate
        and "\\" not in candidate
    ):
        return candidate
    return default


class SlidingWindow:
    """At most ``limit`` requests per ``seconds``, judged from two fixed windows' counts.

    Requests are counted per fixed window (``start`` .. ``start + seconds``). A request is
    allowed while the current window's count (this request included) plus the previous
    window's count, weighted by how much of it still lies within the last ``seconds``, is at
    most ``limit``: a sliding window in two counters, without the double burst a fixed window
    lets through at its edge. Times are epoch milliseconds, so every replica agrees on the
    windows (given clocks kept in step by NTP).
    """

    def __init__(self, limit: int, seconds: int) -> None:
        if limit < 1 or seconds < 1:
            raise ValueError("a rate limit needs a limit and a window of at least 1")
        self.limit = limit
        self.seconds = seconds
        self.length_ms = seconds * 1000

    def start(self, now_ms: int) -> int:
        """Where the fixed window holding ``now_ms`` starts."""
        return now_ms - now_ms % self.length_ms

    def estimate(self, previous: int, current: int, now_ms: int) -> float:
        """Requests in the last ``seconds``, from the previous and current windows' counts."""
        elapsed = (now_ms - self.start(now_ms)) / self.length_ms
        return previous * (1.0 - elapsed) + current

    def allows(self, previous: int, current: int, now_ms: int) -> bool:
        """Whether the request that made the current count ``current`` is within the limit."""
        return self.estimate(previous, current, now_ms) <= self.limit

    def retry_after(self, previous: int, current: int, now_ms: int) -> int:
        """Whole seconds (at least 1) until one more request would be allowed, if none comes
        meanwhile."""
        start = self.start(now_ms)
        room = self.limit - current - 1
        if room >= 0:
            # This window has room once enough of the previous one has slid out of it.
            fraction = 1.0 - room / previous if previous else 0.0
            wait_ms = fraction * self.length_ms - (now_ms - start)
        else:
            # Only in the next window, once enough of this one has slid out.
            fraction = max(0.0, 1.0 - (self.limit - 1) / current)
            wait_ms = start + self.length_ms - now_ms + fraction * self.length_ms
        return max(1, math.ceil(wait_ms / 1000))


def client_key(address: str) -> str:
    """What a rate limit counts by: the client's IPv4 address, or the /64 of its IPv6 address
    (the smallest network a provider hands a subscriber, which one client can roam at will)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


POPULATION_COLUMNS = ("district", "age_band", "gender", "population")
POPULATION_ROWS_MAX = 5000


def parse_population_csv(text: str) -> tuple[list[PopulationRow], Errors]:
    """Population figures from a CSV of official statistics, with the header
    ``district,age_band,gender,population`` (comma or semicolon; ``district`` may be empty
    for a council without districts); the rows, or a message per wrong row.

    Only the form is checked here; whether districts and bands fit the council is
    recruitment's to say (it keeps the refusals with the figures)."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines:
        return [], {"file": "The file is empty."}
    dialect = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.DictReader(lines, delimiter=dialect)
    header = [h.strip().lower() for h in reader.fieldnames or ()]
    missing = [c for c in POPULATION_COLUMNS if c not in header]
    if missing:
        return [], {"file": f"Missing columns: {', '.join(missing)}."}
    reader.fieldnames = header
    rows: list[PopulationRow] = []
    errors: Errors = {}
    for number, raw in enumerate(reader, start=1):
        if number > POPULATION_ROWS_MAX:
            return [], {"file": f"At most {POPULATION_ROWS_MAX} rows."}
        values = {k: (raw.get(k) or "").strip() for k in POPULATION_COLUMNS}
        try:
            rows.append(
                PopulationRow(
                    district=" ".join(values["district"].split()),
                    age_band=values["age_band"],
                    gender=values["gender"].lower(),
                    population=int(values["population"].replace(" ", "")),
                )
            )
        except (ValueError, ValidationError):
            errors[f"row {number}"] = (
                "Needs a district (or none), an age band, female or male, and a whole number."
            )
    if not rows and not errors:
        errors["file"] = "The file has no rows."
    return rows, errors


CODE_RE: Final = re.compile(r"^[0-9]{6}$")


def check_code(phone: str, code: str, country: str) -> tuple[tuple[str, str] | None, Errors]:
    """The mobile number (E.164) and the 6-digit code typed on the code page, or the errors."""
    errors: Errors = {}
    number, phone_error = check_phone(phone, country)
    if phone_error:
        errors["phone"] = phone_error
    code = "".join(code.split())
    if not CODE_RE.fullmatch(code):
        errors["code"] = N_("Enter the 6 digits of the code in the SMS.")
    if errors:
        return None, errors
    return (number, code), errors
