"""Reminders: at the days after opening staff chose, every invited member who has not answered
yet gets a reminder through dispatch, with a new personal link.

Links are kept only as hashes of their tokens, so the invitation's first link cannot be sent
again: a reminder makes a new link document for the same invitation, with a fresh token (either
link answers, once). Each reminder mail's id is derived from the invitation and the reminder's
number, and the invitation is marked ``reminded_<n>`` in the same guarded update that holds the
mail, so a reminder run again after a crash reminds only whom it had not, and sends nothing
twice. ``round_reminders`` keeps, per round and reminder, when it went and how many it reached.
"""

from __future__ import annotations

from pymongo import UpdateOne

from contracts.dispatch import SendMessage
from contracts.round_lifecycle import ReminderView
from contracts.rounds import Question
from infra.bus import RetryLater
from infra.service import Runtime
from infra.store import Document, epoch_ms, from_epoch_ms, insert_new, with_outbox
from infra.tokens import derived_id, new_token, token_hash
from services.rounds import domain, languages, ways_to_answer
from services.rounds.schedule import reminder_due_ms

BATCH = 500
"""Invitations reminded per store round trip."""
WRITTEN = "invitations_written"
"""Set on a round once its opening has written every invitation (reminders wait for it)."""


def _mark(number: int) -> str:
    return f"reminded_{number}"


async def send_reminders(rt: Runtime, tenant: str, round_id: str, number: int) -> None:
    """Remind the round's invited members who have not answered (reminder ``number``).

    Retried later (``RetryLater``) while the round has not opened or its invitations are still
    being written; nothing is sent once it closed or if it has no such reminder."""
    doc = await rt.db.rounds.find_one({"_id": round_id, "tenant": tenant})
    if doc is None:
        return
    if doc["state"] == "scheduled":
        raise RetryLater("the round has not opened yet", 5.0)
    days = doc.get("reminder_days") or []
    if doc["state"] != "open" or not 1 <= number <= len(days) or doc.get("public") == "yes":
        return  # closed first, sent back, or a quick poll (nobody invited): no reminder
    if doc.get(WRITTEN) != "yes":
        raise RetryLater("the invitations are still being written", 2.0)
    run = f"{round_id}:{number}"
    await insert_new(
        rt.db.round_reminders,
        [
            {
                "_id": run,
                "tenant": tenant,
                "round_id": round_id,
                "number": number,
                "state": "sending",
                "sent": 0,
                "started_ms": epoch_ms(),
            }
        ],
    )
    mark = _mark(number)
    waiting = await rt.db.invitations.find(
        {"round_id": round_id, "tenant": tenant, "state": "invited", mark: {"$exists": False}},
        {"member_id": 1},
    ).to_list()
    closes = from_epoch_ms(int(doc["close_at_ms"])).date().isoformat()
    # Like the invitation: one click in the mail, or the SMS's first question (but not to a
    # member already part-way through the SMS conversation: a plain reminder, with the link).
    questions = [Question.model_validate(q) for q in doc["questions"]]
    translated = languages.mail_params(doc, ("title", "question"))
    fresh = ways_to_answer.params(questions) | translated
    under_way = ways_to_answer.params(questions, by_sms=False) | translated
    correlation = derived_id(round_id, f"reminder:{number}")
    for start in range(0, len(waiting), BATCH):
        batch = waiting[start : start + BATCH]
        tokens = {str(i["_id"]): new_token() for i in batch}
        talking = {
            s["_id"]
            async for s in rt.db.sms_sessions.find({"_id": {"$in": list(tokens)}}, {"_id": 1})
        }
        # Links first: a mail never goes out before its link works.
        await insert_new(
            rt.db.links,
            [
                {"_id": token_hash(token), "tenant": tenant, "invitation_id": invitation}
                for invitation, token in tokens.items()
            ],
        )
        updates = []
        for invitation in batch:
            mail = SendMessage(
                tenant=tenant,
                correlation_id=correlation,
                message_id=derived_id(str(invitation["_id"]), f"reminder:{number}"),
                member_id=invitation["member_id"],
                template="round_reminder",
                params={"title": doc["title"], "closes": closes}
                | (under_way if invitation["_id"] in talking else fresh),
                # The working links are sealed: no copy of the outbox or the queue can answer.
                sealed=rt.sealer.seal_params(
                    ways_to_answer.sealed(
                        questions,
                        domain.answer_link(
                            rt.settings.portal_url, tenant, tokens[str(invitation["_id"])]
                        ),
                    )
                ),
            )
            updates.append(
                UpdateOne(
                    {"_id": invitation["_id"], "state": "invited", mark: {"$exists": False}},
                    with_outbox({"$set": {mark: "sent"}}, mail),
                )
            )
        result = await rt.db.invitations.bulk_write(updates, ordered=False)
        await rt.flush("invitations", [i["_id"] for i in batch])
        await rt.db.round_reminders.update_one(
            {"_id": run}, {"$inc": {"sent": int(result.modified_count)}}
        )
    # Counted afresh at the end: a run cut short by a crash counted only what it did.
    sent = await rt.db.invitations.count_documents(
        {"round_id": round_id, "tenant": tenant, mark: {"$exists": True}}
    )
    await rt.db.round_reminders.update_one(
        {"_id": run}, {"$set": {"state": "sent", "sent": sent, "sent_ms": epoch_ms()}}
    )


async def reminder_views(rt: Runtime, doc: Document) -> tuple[ReminderView, ...]:
    """The round's reminders: due when, and for those that went, when and to how many."""
    if doc.get("open_at_ms") is None or doc["state"] in domain.BEFORE_SCHEDULE:
        return ()
    runs = {
        int(r["number"]): r
        async for r in rt.db.round_reminders.find({"round_id": doc["_id"], "tenant": doc["tenant"]})
    }
    over = doc["state"] not in ("scheduled", "open")
    views = []
    for number, days in enumerate(doc.get("reminder_days") or (), start=1):
        run = runs.get(number)
        state = "not_sent" if over else "waiting"
        if run is not None:
            state = "sent" if run["state"] == "sent" else "sending"
        views.append(
            ReminderView(
                number=number,
                days=int(days),
                due_at=from_epoch_ms(reminder_due_ms(int(doc["open_at_ms"]), int(days))),
                state=state,
                sent=int(run["sent"]) if run else 0,
                sent_at=from_epoch_ms(int(run["sent_ms"])) if run and run.get("sent_ms") else None,
            )
        )
    return tuple(views)
