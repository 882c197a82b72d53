"""Answers from paper forms, entered by staff (``EnterPaperAnswers``).

The member's invitation becomes answered (so no reminder goes to them and the turnout counts
them), and the answers are stored as a response of their own, channel ``paper``, whose id
derives from the command's id: nothing in it leads to the member. Who entered which form is in
the portal's audit log, not here.

Exactly once: the command's mark (``submissions``, by message id) is written before the
invitation is taken, so a redelivery after a crash finds that it took the invitation and stores
the response it had not stored yet; a recorded outcome ends a redelivery at once.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from contracts.rounds import EnterPaperAnswers, Question
from infra import outcomes
from infra.service import Runtime
from infra.store import Document, insert_new
from services.rounds import answers, domain, tallies


async def enter_paper_answers(rt: Runtime, cmd: EnterPaperAnswers) -> None:
    """Take a paper form's answers for a member's invitation, or refuse with a reason."""
    if await outcomes.told_again(rt.db, rt.nc, cmd):
        return
    status, reason = await _take(rt, cmd)
    await rt.settle(cmd, status, reason)


async def _take(rt: Runtime, cmd: EnterPaperAnswers) -> tuple[str, str | None]:
    invitation_id = f"{cmd.round_id}:{cmd.member_id}"
    invitation = await rt.db.invitations.find_one(
        {"_id": invitation_id, "tenant": cmd.tenant},
        {"state": 1, "age_band": 1, "gender": 1, "district": 1, "round_id": 1, "channel": 1},
    )
    if invitation is None:
        return "refused", "not_invited"
    round_doc = await rt.db.rounds.find_one(
        {"_id": cmd.round_id, "tenant": cmd.tenant}, {"questions": 1}
    )
    if round_doc is None:
        return "refused", "not_invited"
    questions = tuple(Question.model_validate(q) for q in round_doc["questions"])
    try:
        clean = domain.check_answers(questions, cmd.answers)
    except domain.InvalidAnswers:
        return "refused", "invalid_answers"
    if not clean:
        return "refused", "invalid_answers"
    mine = await rt.db.submissions.find_one({"_id": cmd.message_id}, {"_id": 1}) is not None
    if invitation["state"] == "closed":
        return "refused", "round_closed"
    if invitation["state"] == "answered" and not mine:
        return "refused", "already_answered"
    if not mine:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        await insert_new(
            rt.db.submissions,
            [
                {
                    "_id": cmd.message_id,
                    "expires_at": today + timedelta(seconds=outcomes.RETENTION_SECONDS),
                }
            ],
        )
        taken = await rt.db.invitations.update_one(
            {"_id": invitation_id, "tenant": cmd.tenant, "state": "invited"},
            {"$set": {"state": "answered", "uncounted": True}},
        )
        if not taken.matched_count:
            again = await rt.db.invitations.find_one({"_id": invitation_id}, {"state": 1})
            state = again["state"] if again else "closed"
            return "refused", "already_answered" if state == "answered" else "round_closed"
    response_id = hashlib.sha256(f"paper:{cmd.message_id}".encode()).hexdigest()
    response: Document = {
        "_id": response_id,
        "tenant": cmd.tenant,
        "round_id": cmd.round_id,
        "answers": clean,
        "age_band": invitation["age_band"],
        "gender": invitation["gender"],
        "district": invitation["district"],
        "received_on": datetime.now(UTC).date().isoformat(),
        "channel": "paper",
        **answers.invited_by(invitation),
    }
    await tallies.store_one(rt, response, questions)
    await answers.count_answers(rt, cmd.tenant, cmd.round_id, {"_id": invitation_id})
    return "done", None
