"""Open quick polls: a public round anyone can answer from its link, without joining.

Svenljunga's youth panel asked quick questions of everyone through a link or a QR code. Such a
round (``public``) invites no one; its answers come as ``SubmitPollAnswer`` from the portal,
with a hash of the answering browser's random cookie. Abuse limits:

- one answer per browser and poll (``poll_browsers``, keyed by a hash of poll and browser);
- answers from one browser at least ``POLL_SPACING_SECONDS`` apart, across polls
  (``poll_spacing``, keyed by a hash of council and browser);
- the portal limits answers per address as well (its ``poll`` rate limit).

Answers are stored like any response (channel ``poll``, no background: nobody said who they
are) and counted into the kept results once. The results say they are self-selected.

A redelivered command finds its recorded outcome and changes nothing; one that crashed after
storing finds its response (its id derives from the command's id) and settles as done.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from contracts.rounds import (
    POLL_SPACING_SECONDS,
    ListPolls,
    PollList,
    PollView,
    Question,
    SubmitPollAnswer,
)
from infra import outcomes
from infra.service import Runtime
from infra.store import Document
from services.rounds import domain, languages, tallies

POLL_CAVEAT = (
    "Anyone could answer this quick poll, and those who did chose to: the answers show what "
    "they think, not what all residents think."
)


def _key(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()


async def submit_poll_answer(rt: Runtime, cmd: SubmitPollAnswer) -> None:
    """Take one answer to a quick poll, or refuse it with a reason."""
    if await outcomes.told_again(rt.db, rt.nc, cmd):
        return  # redelivered: its waiter is told the recorded outcome, nothing changes
    status, reason = await _take(rt, cmd)
    await rt.settle(cmd, status, reason)


async def _take(rt: Runtime, cmd: SubmitPollAnswer) -> tuple[str, str | None]:
    response_id = _key("poll-response", cmd.message_id)
    if await rt.db.responses.find_one({"_id": response_id}, {"_id": 1}) is not None:
        return "done", None  # stored before a crash
    poll = await rt.db.rounds.find_one({"_id": cmd.round_id, "tenant": cmd.tenant, "public": "yes"})
    if poll is None:
        return "refused", "unknown_poll"
    if poll["state"] != "open":
        return "refused", "round_closed"
    questions = tuple(Question.model_validate(q) for q in poll["questions"])
    try:
        answers = domain.check_answers(questions, cmd.answers)
    except domain.InvalidAnswers:
        return "refused", "invalid_answers"
    if not answers:
        return "refused", "invalid_answers"
    # One answer per browser and poll: the mark names the command that took it, so the same
    # command after a crash goes on.
    mark = {"_id": _key("poll", cmd.round_id, cmd.browser), "by": _key("by", cmd.message_id)}
    try:
        await rt.db.poll_browsers.insert_one(mark)
    except DuplicateKeyError:
        existing = await rt.db.poll_browsers.find_one({"_id": mark["_id"]})
        if existing is None or existing.get("by") != mark["by"]:
            return "refused", "already_answered"
    if not await _spaced(rt, cmd):
        await rt.db.poll_browsers.delete_one(mark)  # may answer again once the time is up
        return "refused", "too_soon"
    response: Document = {
        "_id": response_id,
        "tenant": cmd.tenant,
        "round_id": cmd.round_id,
        "answers": answers,
        "age_band": "",
        "gender": "",
        "district": "",
        "received_on": datetime.now(UTC).date().isoformat(),
        "channel": "poll",
    }
    if not await tallies.store_one(rt, response, questions):
        return "done", None  # another delivery of this command stored it meanwhile
    await rt.db.rounds.update_one(
        {"_id": cmd.round_id, "tenant": cmd.tenant}, {"$inc": {"responded": 1}}
    )
    return "done", None


async def _spaced(rt: Runtime, cmd: SubmitPollAnswer) -> bool:
    """Whether this browser's last poll answer is at least the spacing ago (then note now)."""
    now = int(time.time() * 1000)
    key = _key("spacing", cmd.tenant, cmd.browser)
    with contextlib.suppress(DuplicateKeyError):
        await rt.db.poll_spacing.insert_one({"_id": key, "last_ms": now, "by": cmd.message_id})
        return True
    taken = await rt.db.poll_spacing.update_one(
        {"_id": key, "last_ms": {"$lt": now - POLL_SPACING_SECONDS * 1000}},
        {"$set": {"last_ms": now, "by": cmd.message_id}},
    )
    if taken.matched_count:
        return True
    again = await rt.db.poll_spacing.find_one({"_id": key})
    return again is not None and again.get("by") == cmd.message_id


async def list_polls(rt: Runtime, q: ListPolls) -> PollList:
    """The council's quick polls that have opened, newest first."""
    docs = (
        await rt.db.rounds.find({"tenant": q.tenant, "public": "yes"})
        .sort("created_at", -1)
        .to_list()
    )
    return PollList(
        polls=tuple(
            PollView(
                round_id=d["_id"],
                title=d["title"],
                purpose=d["purpose"],
                state=d["state"],
                questions=tuple(Question.model_validate(x) for x in d["questions"]),
                answers=int(d.get("responded", 0)),
                panel=str(d.get("panel") or "general"),
                **languages.of(d),
            )
            for d in docs
            if d["state"] not in ("draft", "approved", "submitted", "returned", "scheduled")
        )
    )
