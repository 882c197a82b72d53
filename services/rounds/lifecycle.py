"""A round's life cycle: political approval, edits, the schedule, publishing and archiving,
every step recorded with who took it and when.

A step is one guarded update of the round document: it matches only the state the step starts
from and the number of steps taken so far, so two replicas (or a redelivery racing a second
click) never both take it. The record of the step goes to ``round_steps``, one document per step
whose ``_id`` is derived from the causing command (the store turns sub-documents pushed onto an
array into text, so the history is not an array). The same update leaves the record in the round
under ``steps_pending.<id>`` until it is written there, so a crash between the two writes loses
nothing; a redelivered command finds its record and changes nothing.

Which step may follow which is ``domain.next_state``: a command for a step the round has not
reached yet is retried (``domain.NotYet``), one for a step it has passed is rejected.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.envelope import Envelope
from contracts.round_lifecycle import (
    ArchiveRound,
    ExtendRound,
    PublishResults,
    ResultsPublished,
    ReturnRound,
    RoundSchedule,
    RoundStep,
    ScheduleRound,
    SubmitRound,
)
from contracts.rounds import CreateRound, EditRound
from infra.bus import Rejected, RetryLater
from infra.service import Runtime
from infra.store import Document, epoch_ms, from_epoch_ms, insert_new, with_outbox
from infra.tokens import derived_id
from services.rounds import domain, languages, schedule

Changes = Document | Callable[[Document], Document]
"""What a step changes besides the state: an update, or a function of the round as it was."""


def step_id(cause_id: str) -> str:
    """The id of the record of the step a command caused."""
    return derived_id(cause_id, "round_step")


async def _write_pending(rt: Runtime, doc: Document) -> None:
    """Move step records a crash left in the round to ``round_steps``."""
    pending: Document = doc.get("steps_pending") or {}
    if not pending:
        return
    await insert_new(rt.db.round_steps, [{"_id": key, **entry} for key, entry in pending.items()])
    await rt.db.rounds.update_one(
        {"_id": doc["_id"]}, {"$unset": {f"steps_pending.{key}": "" for key in pending}}
    )


def revision_is(revision: int | None) -> Callable[[Document], None]:
    """A check that the round is still the revision a decision was made on (None: any)."""

    def check(doc: Document) -> None:
        if revision is not None and int(doc.get("revision") or 0) != revision:
            raise Rejected("the round was edited after it was read")

    return check


async def take_step(
    rt: Runtime,
    cmd: Envelope,
    round_id: str,
    step: str,
    *,
    by: str,
    changes: Changes | None = None,
    comment: str = "",
    check: Callable[[Document], None] | None = None,
    question_comments: dict[str, str] | None = None,
) -> bool:
    """Take ``step`` for ``cmd`` on the council's round, with its ``changes``, and record it;
    False when there was nothing to do (a redelivered command, or the round is there already).

    ``Rejected`` for an unknown round, a step it has passed, or what ``check`` refuses;
    ``domain.NotYet`` for a step it has not reached yet.
    """
    doc = await rt.db.rounds.find_one({"_id": round_id, "tenant": cmd.tenant})
    if doc is None:
        raise Rejected("unknown round")
    await _write_pending(rt, doc)
    key = step_id(cmd.message_id)
    if key in (doc.get("steps_pending") or {}) or await rt.db.round_steps.find_one(
        {"_id": key}, {"_id": 1}
    ):
        return False  # redelivered: done before
    state = str(doc["state"])
    try:
        target = domain.next_state(state, step)
    except ValueError as exc:
        raise Rejected(str(exc)) from exc
    if target is None:
        return False  # a second click: there already
    if check is not None:
        check(doc)
    taken = int(doc.get("steps") or 0)
    record = {
        "tenant": cmd.tenant,
        "round_id": round_id,
        "step": step,
        "state": target,
        "by": by,
        "at_ms": epoch_ms(),  # when the step was taken (a retried command was sent earlier)
        "seq": taken + 1,
        "comment": comment,
    }
    if question_comments:
        record["question_comments"] = question_comments
    update = dict(changes(doc) if callable(changes) else changes or {})
    update["$set"] = {
        **update.get("$set", {}),
        "state": target,
        "steps": taken + 1,
        f"steps_pending.{key}": record,
    }
    guard: Document = {"_id": round_id, "tenant": cmd.tenant, "state": state}
    guard["steps"] = taken if "steps" in doc else {"$exists": False}
    result = await rt.db.rounds.update_one(guard, update)
    if not result.matched_count:
        raise RetryLater("the round changed meanwhile", 0.2)
    await insert_new(rt.db.round_steps, [{"_id": key, **record}])
    await rt.db.rounds.update_one({"_id": round_id}, {"$unset": {f"steps_pending.{key}": ""}})
    if update.get("$inc", {}).get("outbox_pending"):
        await rt.flush("rounds", [round_id])
    return True


async def record_created(rt: Runtime, cmd: CreateRound) -> None:
    """Record who drafted a round (once, whatever the redeliveries)."""
    record = {
        "_id": step_id(cmd.message_id),
        "tenant": cmd.tenant,
        "round_id": cmd.round_id,
        "step": "created",
        "state": "draft",
        "by": cmd.created_by,
        "at_ms": epoch_ms(cmd.occurred_at),
        "seq": 0,
        "comment": "",
    }
    await insert_new(rt.db.round_steps, [record])


async def history(rt: Runtime, doc: Document) -> tuple[RoundStep, ...]:
    """A round's recorded steps, oldest first (with any a crash left pending)."""
    found = {
        entry["_id"]: entry
        async for entry in rt.db.round_steps.find({"round_id": doc["_id"], "tenant": doc["tenant"]})
    }
    found.update(doc.get("steps_pending") or {})
    entries = sorted(found.values(), key=lambda e: (int(e["seq"]), int(e["at_ms"])))
    return tuple(
        RoundStep(
            step=e["step"],
            state=e["state"],
            by=e["by"],
            at=from_epoch_ms(int(e["at_ms"])),
            comment=e.get("comment") or "",
            question_comments=dict(e.get("question_comments") or {}),
        )
        for e in entries
    )


def schedule_of(doc: Document) -> RoundSchedule | None:
    """When a scheduled round opens and closes, and its reminder days; None before that (also
    for a round an edit sent back: its old schedule no longer holds)."""
    if doc.get("open_at_ms") is None or doc["state"] in domain.BEFORE_SCHEDULE:
        return None
    return RoundSchedule(
        open_at=from_epoch_ms(int(doc["open_at_ms"])),
        close_at=from_epoch_ms(int(doc["close_at_ms"])),
        reminder_days=tuple(int(d) for d in doc.get("reminder_days") or ()),
    )


# --- the commands ---------------------------------------------------------------------------


async def submit_round(rt: Runtime, cmd: SubmitRound) -> None:
    """A draft (or a returned round) goes to the steering group (once a methodology review
    was asked, only when it passed for this revision: ``review.check_submittable``)."""
    from services.rounds import review  # review builds on this module

    check = review.check_submittable
    await take_step(rt, cmd, cmd.round_id, "submitted", by=cmd.submitted_by, check=check)


async def return_round(rt: Runtime, cmd: ReturnRound) -> None:
    """The steering group sends a submitted round back, with its comment."""
    await take_step(
        rt,
        cmd,
        cmd.round_id,
        "returned",
        by=cmd.returned_by,
        comment=cmd.comment,
        check=revision_is(cmd.revision),
    )


def _settings_changed(cmd: EditRound) -> dict[str, object]:
    """The promise, plan and settings an edit gives (those it leaves out stay)."""
    changed: dict[str, object] = {}
    if cmd.promise is not None:
        changed["promise"] = cmd.promise.model_dump(mode="json")
    if cmd.plan is not None:
        changed["plan"] = cmd.plan.model_dump(mode="json")
    if cmd.introduction is not None:
        changed["introduction"] = cmd.introduction
    for name in ("longitudinal", "public", "allow_changes"):
        value = getattr(cmd, name)
        if value is not None:
            changed[name] = "yes" if value else "no"
    return changed


async def edit_round(rt: Runtime, cmd: EditRound) -> None:
    """Replace what the round asks; a submitted, approved or scheduled round goes back to
    draft, and its timers (if any) are cancelled."""
    await take_step(
        rt,
        cmd,
        cmd.round_id,
        "edited",
        by=cmd.edited_by,
        changes={
            "$set": {
                "title": cmd.title,
                "purpose": cmd.purpose,
                "questions": [q.model_dump() for q in cmd.questions],
                "panel": cmd.panel,
                "target": cmd.target.model_dump(mode="json"),
                **languages.stored(cmd),
                **_settings_changed(cmd),
            },
            "$inc": {"revision": 1},
        },
    )
    await schedule.cancel_unless_scheduled(rt, cmd.tenant, cmd.round_id)


async def schedule_round(rt: Runtime, cmd: ScheduleRound) -> None:
    """An approved round gets its times: timers open and close it and send its reminders."""
    if epoch_ms(cmd.closes) <= epoch_ms(cmd.occurred_at):
        raise Rejected("the round would close in the past")
    await take_step(
        rt,
        cmd,
        cmd.round_id,
        "scheduled",
        by=cmd.scheduled_by,
        changes={
            "$set": {
                "open_at_ms": epoch_ms(cmd.open_at),
                "close_at_ms": epoch_ms(cmd.closes),
                "reminder_days": list(cmd.reminder_days),
                "schedule_generation": cmd.message_id,
                "close_generation": cmd.message_id,
            }
        },
    )
    # Also on a redelivery: the first delivery may have died before it set the timers.
    await schedule.set_timers(rt, cmd.tenant, cmd.round_id)


async def extend_round(rt: Runtime, cmd: ExtendRound) -> None:
    """Move the closing of a scheduled or open round; its close timer is replaced."""
    close_ms = epoch_ms(cmd.close_at)

    def check(doc: Document) -> None:
        if close_ms <= epoch_ms(cmd.occurred_at) or close_ms <= int(doc["open_at_ms"]):
            raise Rejected("the new closing time is past, or before the opening")

    await take_step(
        rt,
        cmd,
        cmd.round_id,
        "extended",
        by=cmd.extended_by,
        changes={"$set": {"close_at_ms": close_ms, "close_generation": cmd.message_id}},
        check=check,
    )
    await schedule.set_timers(rt, cmd.tenant, cmd.round_id)


async def publish_results(rt: Runtime, cmd: PublishResults) -> None:
    """A closed round's results become public (``ResultsPublished``, in the same update)."""

    def changes(doc: Document) -> Document:
        published = ResultsPublished.follow(
            cmd,
            round_id=cmd.round_id,
            title=doc["title"],
            invited=int(doc.get("invited") or 0),
            responded=int(doc.get("responded") or 0),
        )
        return with_outbox({}, published)

    await take_step(
        rt, cmd, cmd.round_id, "results_published", by=cmd.published_by, changes=changes
    )


async def archive_round(rt: Runtime, cmd: ArchiveRound) -> None:
    """A round whose results are published is archived."""
    await take_step(rt, cmd, cmd.round_id, "archived", by=cmd.archived_by)
