"""A round's methodology review: the panel manager asks for it, the council's methodologist
approves the method or asks for changes (``contracts.round_review`` has the rules).

The review sits beside the round's life-cycle state, in the round document (``review`` and the
``review_*`` fields), and each step is a life-cycle step that leaves the state as it is
(``lifecycle.take_step``): guarded by the number of steps taken, recorded with who and when,
and a redelivered command finds its record and changes nothing.

Once a review was asked, a submission needs the method approved for the revision submitted
(``check_submittable``): an edit after the approval makes the review stale, because what the
steering group would read is no longer what the methodologist approved.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.round_review import ApproveMethod, AskChanges, AskReview, ReviewView
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import Document, epoch_ms, from_epoch_ms
from services.rounds import lifecycle


class _NothingToDo(Exception):
    """The review is where the command would take it already (a second click)."""


def status_of(doc: Document) -> str:
    """The review's status: '' when none was asked; ``stale`` when the round was edited after
    the method was approved."""
    status = str(doc.get("review") or "")
    if status == "passed" and int(doc.get("review_revision") or 0) != int(doc.get("revision") or 0):
        return "stale"
    return status


def view_of(doc: Document) -> ReviewView | None:
    """The review as staff see it; None when none was asked."""
    status = status_of(doc)
    if not status:
        return None
    at_ms = doc.get("review_at_ms")
    return ReviewView.model_validate(
        {
            "status": status,
            "asked_by": str(doc.get("review_asked_by") or ""),
            "note": str(doc.get("review_note") or ""),
            "reviewed_by": str(doc.get("review_by") or ""),
            "reviewed_at": from_epoch_ms(int(at_ms)) if at_ms is not None else None,
            "revision": int(doc.get("review_revision") or 0),
            "comment": str(doc.get("review_comment") or ""),
            "question_comments": dict(doc.get("review_questions") or {}),
        }
    )


def check_submittable(doc: Document) -> None:
    """Refuse a submission while a review was asked and has not passed for this revision, or
    when the round's plan needs a review that has not passed."""
    status = status_of(doc)
    if status in ("asked", "changes_asked", "stale"):
        raise Rejected(f"the methodology review is {status}: it must pass before submitting")
    if (doc.get("plan") or {}).get("review_needed") and status != "passed":
        raise Rejected("the plan needs a methodology review: it must pass before submitting")


async def ask_review(rt: Runtime, cmd: AskReview) -> None:
    """The manager asks for a review of a draft or returned round (again after changes, or
    after an edit); a second ask while one is open changes nothing."""

    def check(doc: Document) -> None:
        if status_of(doc) == "asked":
            raise _NothingToDo

    changes = {
        "$set": {
            "review": "asked",
            "review_asked_by": cmd.asked_by,
            "review_note": cmd.note,
            "review_comment": "",
            "review_questions": {},
        }
    }
    try:
        await lifecycle.take_step(
            rt,
            cmd,
            cmd.round_id,
            "review_asked",
            by=cmd.asked_by,
            changes=changes,
            comment=cmd.note,
            check=check,
        )
    except _NothingToDo:
        return


def _decided(revision: int | None, outcome: str) -> Callable[[Document], None]:
    """The check of a reviewer's decision: a review is asked, of the revision read."""

    def check(doc: Document) -> None:
        status = status_of(doc)
        if status == outcome:
            raise _NothingToDo  # a second click
        if status != "asked":
            raise Rejected("no methodology review is asked for this round")
        lifecycle.revision_is(revision)(doc)

    return check


def _decision(doc: Document, by: str, outcome: str, comment: str) -> Document:
    return {
        "$set": {
            "review": outcome,
            "review_by": by,
            "review_at_ms": epoch_ms(),
            "review_revision": int(doc.get("revision") or 0),
            "review_comment": comment,
        }
    }


async def approve_method(rt: Runtime, cmd: ApproveMethod) -> None:
    """The reviewer approves the method of the revision read: the round may be submitted."""
    try:
        await lifecycle.take_step(
            rt,
            cmd,
            cmd.round_id,
            "method_approved",
            by=cmd.reviewed_by,
            changes=lambda doc: _decision(doc, cmd.reviewed_by, "passed", cmd.comment),
            comment=cmd.comment,
            check=_decided(cmd.revision, "passed"),
        )
    except _NothingToDo:
        return


async def ask_changes(rt: Runtime, cmd: AskChanges) -> None:
    """The reviewer asks for changes, with comments on the round and on single questions."""

    def changes(doc: Document) -> Document:
        update = _decision(doc, cmd.reviewed_by, "changes_asked", cmd.comment)
        update["$set"]["review_questions"] = dict(cmd.question_comments)
        return update

    try:
        await lifecycle.take_step(
            rt,
            cmd,
            cmd.round_id,
            "changes_asked",
            by=cmd.reviewed_by,
            changes=changes,
            comment=cmd.comment,
            question_comments=dict(cmd.question_comments),
            check=_decided(cmd.revision, "changes_asked"),
        )
    except _NothingToDo:
        return
