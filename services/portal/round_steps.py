"""A round's life cycle in the portal: which steps each role may take in which state, and the
command each step sends (``contracts.round_lifecycle`` has the life cycle itself).

Approving and returning a submitted round is the political steering group's, and only theirs
(the issue: approval "belongs to a steering-group role" that cannot edit). Drafting, editing,
submitting, scheduling, opening, closing, extending, publishing the results and archiving are
the panel manager's (and ``staff``'s, and a region admin's). Other roles, such as ``analyst``,
read rounds and results and take no step. The page shows each role the buttons it may use;
the routes refuse the others (403), and a step that does not fit the round's state sends nothing
(``WrongState``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from contracts.envelope import Command
from contracts.round_lifecycle import (
    DEFAULT_OPEN_DAYS,
    DEFAULT_REMINDER_DAYS,
    MAX_REMINDERS,
    ArchiveRound,
    ExtendRound,
    PublishResults,
    ReturnRound,
    ScheduleRound,
    SubmitRound,
)
from contracts.rounds import ApproveRound, CloseRound, EditRound, OpenRound, RoundView
from services.portal.accounts import Account
from services.portal.domain import Errors, RoundDraft
from services.portal.handlers import Portal, WrongState
from services.portal.i18n import N_
from services.portal.rendering import TIMEZONE

MANAGERS: Final = frozenset({"panel_manager", "staff", "region_admin"})
"""Roles that draft, edit, submit, schedule, open, close, extend, publish and archive rounds."""
STEERING_GROUP: Final = "steering_group"
"""The politicians' role: reads rounds and results, approves or returns submitted rounds."""


@dataclass(frozen=True)
class Step:
    """A step staff take on a round: the states it is taken from, the state it leads to (None:
    the round stays where it is, or an edit decides), and whether it is the steering group's."""

    states: frozenset[str]
    after: str | None
    steering: bool = False


STEPS: Final[Mapping[str, Step]] = {
    "edit": Step(frozenset({"draft", "returned", "submitted", "approved", "scheduled"}), None),
    "submit": Step(frozenset({"draft", "returned"}), "submitted"),
    "approve": Step(frozenset({"submitted"}), "approved", steering=True),
    "return": Step(frozenset({"submitted"}), "returned", steering=True),
    "schedule": Step(frozenset({"approved"}), "scheduled"),
    "open": Step(frozenset({"scheduled"}), "open"),
    "extend": Step(frozenset({"scheduled", "open"}), None),
    "close": Step(frozenset({"open"}), "closed"),
    "publish": Step(frozenset({"closed"}), "published"),
    "archive": Step(frozenset({"published"}), "archived"),
}
"""Every step, by the name its route and button use."""


class NotYours(Exception):
    """The account's role may not take this step (403)."""

    def __init__(self, step: str) -> None:
        super().__init__(f"your role may not {step} rounds")
        self.step = step


def may(account: Account, step: str) -> bool:
    """Whether ``account``'s role may take ``step``."""
    if STEPS[step].steering:
        return account.role == STEERING_GROUP
    return account.role in MANAGERS


def may_draft(account: Account) -> bool:
    """Whether ``account``'s role may draft new rounds."""
    return account.role in MANAGERS


def may_tag(account: Account) -> bool:
    """Whether ``account``'s role may tag written answers: those who work with the results
    (managers, staff, analysts), not the steering group, which reads them."""
    return account.role != STEERING_GROUP


def steps_for(view: RoundView, account: Account) -> tuple[str, ...]:
    """The steps ``account`` may take on the round as it is now (its page's buttons); no
    submission while a methodology review that was asked has not passed."""
    return tuple(
        s
        for s, rule in STEPS.items()
        if view.state in rule.states and may(account, s) and not _review_blocks(view, s)
    )


def _review_blocks(view: RoundView, step: str) -> bool:
    if step != "submit":
        return False
    if view.review is None:
        return view.plan.review_needed
    return view.review.blocks_submission


@dataclass(frozen=True)
class Details:
    """What some steps carry besides the round: a return's comment, a schedule, a new
    closing time, an edit's new content."""

    comment: str = ""
    open_at: datetime | None = None
    close_at: datetime | None = None
    reminder_days: tuple[int, ...] = ()
    draft: RoundDraft | None = None
    revision: int | None = None


def _command(step: str, view: RoundView, by: str, details: Details, **envelope: Any) -> Command:
    ids = {**envelope, "round_id": view.round_id}
    # What the steering group decides on is the revision it read (the page's), or the one
    # the portal reads now.
    revision = view.revision if details.revision is None else details.revision
    if step == "submit":
        return SubmitRound(**ids, submitted_by=by)
    if step == "approve":
        return ApproveRound(**ids, approved_by=by, revision=revision)
    if step == "return":
        return ReturnRound(**ids, returned_by=by, comment=details.comment, revision=revision)
    if step == "schedule":
        assert details.open_at is not None
        return ScheduleRound(
            **ids,
            open_at=details.open_at,
            close_at=details.close_at,
            reminder_days=details.reminder_days,
            scheduled_by=by,
        )
    if step == "extend":
        assert details.close_at is not None
        return ExtendRound(**ids, close_at=details.close_at, extended_by=by)
    if step == "open":
        return OpenRound(**ids, opened_by=by)
    if step == "close":
        return CloseRound(**ids, closed_by=by)
    if step == "publish":
        return PublishResults(**ids, published_by=by)
    if step == "archive":
        return ArchiveRound(**ids, archived_by=by)
    assert step == "edit"
    assert details.draft is not None
    draft = details.draft
    return EditRound(
        **ids,
        title=draft.title,
        purpose=draft.purpose,
        questions=draft.questions,
        panel=draft.panel,
        target=draft.target,
        edited_by=by,
        promise=draft.promise,
        plan=draft.plan,
        longitudinal=draft.longitudinal,
        public=draft.public,
        allow_changes=draft.allow_changes,
        introduction=draft.introduction,
        languages=draft.languages,
        translations=draft.translations,
    )


def _sender(portal: Portal, command: Command) -> Callable[[Any], Awaitable[None]]:
    gateway = portal.gateway
    senders: dict[type[Command], Callable[[Any], Awaitable[None]]] = {
        SubmitRound: gateway.submit_round,
        ApproveRound: gateway.approve_round,
        ReturnRound: gateway.return_round,
        ScheduleRound: gateway.schedule_round,
        ExtendRound: gateway.extend_round,
        OpenRound: gateway.open_round,
        CloseRound: gateway.close_round,
        PublishResults: gateway.publish_results,
        ArchiveRound: gateway.archive_round,
        EditRound: gateway.edit_round,
    }
    return senders[type(command)]


async def take(
    portal: Portal,
    tenant: str,
    round_id: str,
    step: str,
    account: Account,
    details: Details | None = None,
) -> str | None:
    """Send the command of ``step`` on the council's round; its message id, or None when the
    round is not the council's (or not one of the account's panels).

    ``NotYours`` when the account's role may not take the step; ``WrongState`` when it does
    not fit the round's state (e.g. a second click on Approve), so nothing is sent that the
    owner would refuse.
    """
    if not may(account, step):
        raise NotYours(step)
    view = await portal.round(tenant, round_id, account.panels)
    if view is None:
        return None
    if view.state not in STEPS[step].states:
        raise WrongState(view.state)
    if _review_blocks(view, step):
        raise WrongState("under methodology review")
    envelope = portal._envelope(tenant)
    command = _command(step, view, account.username, details or Details(), **envelope)
    return await portal._send(command, _sender(portal, command))


# --- the schedule's forms (times as the council's clock reads them) -------------------------

_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def local_time(text: str) -> datetime | None:
    """A ``datetime-local`` field's value (the council's clock) in UTC; None if unreadable."""
    try:
        naive = datetime.strptime(text.strip(), _LOCAL_FORMAT)
    except ValueError:
        return None
    return naive.replace(tzinfo=TIMEZONE).astimezone(UTC)


def local_text(moment: datetime) -> str:
    """A time as a ``datetime-local`` field shows it (the council's clock)."""
    return moment.astimezone(TIMEZONE).strftime(_LOCAL_FORMAT)


def schedule_defaults(now: datetime) -> dict[str, str]:
    """The schedule form's values: opening at the next whole hour, open 7 days, one reminder
    after 3 days (the seeds' advice)."""
    opens = now.astimezone(TIMEZONE).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return {
        "open_at": local_text(opens),
        "close_at": local_text(opens + timedelta(days=DEFAULT_OPEN_DAYS)),
        "reminder_days": ", ".join(str(d) for d in DEFAULT_REMINDER_DAYS),
    }


@dataclass(frozen=True)
class Schedule:
    """A valid schedule from the form."""

    open_at: datetime
    close_at: datetime
    reminder_days: tuple[int, ...]


def check_times(
    opens: datetime, closes: datetime | None, days: tuple[int, ...], now: datetime
) -> tuple[Schedule | None, Errors]:
    """Check a schedule: a closing (default: 7 days after the opening) after the opening and in
    the future, up to five reminder days from 1 to 90, each due before the closing. A past
    opening opens the round at once."""
    closes = closes or opens + timedelta(days=DEFAULT_OPEN_DAYS)
    if closes <= max(opens, now):
        return None, {"close_at": N_("The round must close after it opens, and in the future.")}
    if list(days) != sorted(set(days)) or len(days) > MAX_REMINDERS:
        return None, {"reminder_days": _REMINDER_DAYS}
    if any(not 1 <= d <= 90 for d in days):
        return None, {"reminder_days": _REMINDER_DAYS}
    if days and opens + timedelta(days=days[-1]) >= closes:
        return None, {"reminder_days": N_("Each reminder must be due before the round closes.")}
    return Schedule(opens, closes, days), {}


_REMINDER_DAYS = N_(
    "Give up to five whole numbers of days from 1 to 90, e.g. 3, 6; or leave it empty."
)


def check_schedule(
    open_at: str, close_at: str, reminder_days: str, now: datetime
) -> tuple[Schedule | None, Errors]:
    """Validate the schedule form (times on the council's clock, reminder days as a list
    such as ``3, 6``); see ``check_times``."""
    errors: Errors = {}
    opens = local_time(open_at)
    if opens is None:
        errors["open_at"] = N_("Give the opening as a date and a time.")
    closes = local_time(close_at) if close_at.strip() else None
    if close_at.strip() and closes is None:
        errors["close_at"] = N_("Give the closing as a date and a time.")
    words = [w for w in re.split(r"[,;\s]+", reminder_days) if w]
    if not all(w.isdigit() for w in words):
        errors["reminder_days"] = _REMINDER_DAYS
    if errors or opens is None:
        return None, errors
    return check_times(opens, closes, tuple(sorted(int(w) for w in words)), now)


def check_extension(
    close_at: str, view: RoundView, now: datetime
) -> tuple[datetime | None, Errors]:
    """Validate a new closing time: in the future and after the round's opening."""
    closes = local_time(close_at)
    if closes is None:
        return None, {"close_at": N_("Give the closing as a date and a time.")}
    opens = view.schedule.open_at if view.schedule else now
    if closes <= max(opens, now):
        return None, {"close_at": N_("The round must close after it opens, and in the future.")}
    return closes, {}
