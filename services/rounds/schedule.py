"""A scheduled round's timers (``infra.timers``): one to open it, one per reminder, one to
close it, all in rounds' ``timers`` collection under the round's id as their group.

Their ids say what they do (``round:<id>:open``, ``round:<id>:reminder:<n>``,
``round:<id>:close``), their generation which command set them: the schedule sets all of them
with its message id, an extension the close timer with its own (replacing the old one, even
while it runs). Setting them again with the same generations changes nothing, so the handlers
set them on every delivery. A round sent back before its schedule loses its pending timers.
"""

from __future__ import annotations

from datetime import timedelta

from infra import timers
from infra.service import Runtime
from infra.store import Document, epoch_ms
from services.rounds import domain

OPEN, REMIND, CLOSE = "round_open", "round_reminder", "round_close"
"""The timers' actions (``timer_actions``)."""


def open_timer(round_id: str) -> str:
    """The id of the timer that opens a round."""
    return f"round:{round_id}:open"


def reminder_timer(round_id: str, number: int) -> str:
    """The id of the timer of a round's reminder ``number`` (1, 2, …)."""
    return f"round:{round_id}:reminder:{number}"


def close_timer(round_id: str) -> str:
    """The id of the timer that closes a round."""
    return f"round:{round_id}:close"


def reminder_due_ms(open_ms: int, days: int) -> int:
    """When the reminder ``days`` after a round's scheduled opening is due."""
    return open_ms + epoch_ms(timedelta(days=days))


def timer_documents(doc: Document) -> list[Document]:
    """The timers a scheduled round's document calls for."""
    round_id, tenant = str(doc["_id"]), str(doc["tenant"])
    opens, generation = int(doc["open_at_ms"]), str(doc["schedule_generation"])

    def timer(timer_id: str, action: str, due_ms: int, gen: str, **params: object) -> Document:
        return timers.timer_document(
            timer_id,
            tenant=tenant,
            group=round_id,
            action=action,
            due_ms=due_ms,
            generation=gen,
            params={"round_id": round_id, **params},
        )

    found = [timer(open_timer(round_id), OPEN, opens, generation)]
    for number, days in enumerate(doc.get("reminder_days") or (), start=1):
        due = reminder_due_ms(opens, int(days))
        timer_id = reminder_timer(round_id, number)
        found.append(timer(timer_id, REMIND, due, generation, number=number))
    closes, close_generation = int(doc["close_at_ms"]), str(doc["close_generation"])
    found.append(timer(close_timer(round_id), CLOSE, closes, close_generation))
    return found


async def set_timers(rt: Runtime, tenant: str, round_id: str) -> None:
    """Set the timers of a scheduled or open round as its document says (each unless it is
    set so already)."""
    doc = await rt.db.rounds.find_one({"_id": round_id, "tenant": tenant})
    if doc is None or doc["state"] not in ("scheduled", "open"):
        return
    for timer in timer_documents(doc):
        await timers.set_timer(rt.db.timers, timer)


async def cancel_unless_scheduled(rt: Runtime, tenant: str, round_id: str) -> None:
    """Cancel the round's pending timers if it is back before its schedule (an edit)."""
    doc = await rt.db.rounds.find_one({"_id": round_id, "tenant": tenant}, {"state": 1})
    if doc is not None and doc["state"] in domain.BEFORE_SCHEDULE:
        await timers.cancel_group(rt.db.timers, tenant, round_id)


async def cancel(rt: Runtime, tenant: str, round_id: str) -> None:
    """Cancel the round's pending timers (it closed: no reminder goes any more)."""
    await timers.cancel_group(rt.db.timers, tenant, round_id)
