"""What rounds' timers do when they are due (``schedule`` sets them, ``infra.timers`` runs
them): open a scheduled round, send a reminder, close an open round.

Opening and closing go through the same handlers as staff's commands, with a command whose id
is derived from the timer (its id and generation): a timer run again after a crash takes a step
the round has already taken, which changes nothing. Each action first looks at the round: one
opened by hand, closed early or sent back needs nothing more.
"""

from __future__ import annotations

from contracts.rounds import CloseRound, OpenRound
from infra.bus import RetryLater
from infra.service import Runtime
from infra.timers import Action, Timer
from infra.tokens import derived_id
from services.rounds import handlers, reminders, schedule


def _command_id(timer: Timer) -> str:
    return derived_id(timer.timer_id, timer.generation)


def actions(rt: Runtime) -> dict[str, Action]:
    """The actions of rounds' timers, bound to this runtime."""

    async def open_when_due(timer: Timer) -> None:
        round_id = str(timer.params["round_id"])
        doc = await rt.db.rounds.find_one({"_id": round_id, "tenant": timer.tenant}, {"state": 1})
        if doc is None or doc["state"] != "scheduled":
            return  # opened by hand, or sent back meanwhile
        opening = OpenRound(tenant=timer.tenant, round_id=round_id, message_id=_command_id(timer))
        await handlers.open_round(rt, opening)

    async def remind_when_due(timer: Timer) -> None:
        await reminders.send_reminders(
            rt, timer.tenant, str(timer.params["round_id"]), int(timer.params["number"])
        )

    async def close_when_due(timer: Timer) -> None:
        round_id = str(timer.params["round_id"])
        doc = await rt.db.rounds.find_one({"_id": round_id, "tenant": timer.tenant}, {"state": 1})
        if doc is None:
            return
        if doc["state"] == "scheduled":
            raise RetryLater("the round has not opened yet", 5.0)
        if doc["state"] != "open":
            return  # closed by hand already
        closing = CloseRound(tenant=timer.tenant, round_id=round_id, message_id=_command_id(timer))
        await handlers.close_round(rt, closing)

    return {
        schedule.OPEN: open_when_due,
        schedule.REMIND: remind_when_due,
        schedule.CLOSE: close_when_due,
    }
