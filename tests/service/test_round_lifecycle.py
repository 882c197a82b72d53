"""A round's life cycle on the real stack: political approval with a return and an edit, every
step recorded with who and when, redelivered commands that change nothing, a command ahead of
its step retried and one behind it refused; the schedule's timers open it, remind those who
have not answered (with a new link, once each), move their closing and close it; and two
replicas of rounds fire each timer once."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.recruitment import ImportMember, Outcome
from contracts.round_lifecycle import (
    ExtendRound,
    ReturnRound,
    ScheduleRound,
    SubmitRound,
)
from contracts.rounds import (
    ApproveRound,
    CreateRound,
    EditRound,
    GetInvitation,
    GetRound,
    InvitationView,
    OpenRound,
    Question,
    ResponseOutcome,
    RoundView,
    SubmitResponse,
)
from devstack.rounds import wait_for_state
from devstack.testing import wait_until
from infra.bus import Rejected, publish
from infra.deadletter import list_dead_letters
from infra.queries import ask
from infra.service import Service, ServiceSettings
from infra.store import Document, epoch_ms
from services.rounds import domain, handlers, lifecycle, reminders, schedule
from services.rounds.app import create_service
from tests.conftest import PORTAL_URL, Stack, register_council

T = "gnosjo"
QUESTIONS = (
    Question(key="bus", kind="single_choice", text="Later buses?", options=("Yes", "No")),
    Question(key="why", kind="free_text", text="Why?"),
)
"""Two questions: invitations with a link (a round of one question is answered in the mail)."""


async def _members(stack: Stack, count: int) -> list[str]:
    """``count`` active members of the council, in rounds' panel; their addresses."""
    await register_council(stack, T)
    emails = [f"m{n}@example.se" for n in range(count)]
    for n, email in enumerate(emails):
        await publish(
            stack.js,
            ImportMember(
                tenant=T,
                member_id=str(uuid.uuid4()),
                email=email,
                birth_year=1960 + n,
                gender=("female", "male")[n % 2],
                district="Centrum",
                consent_version="2026-1",
                source="paper",
            ),
        )
    panelists = stack.services["rounds"].runtime.db.panelists

    async def enrolled() -> bool:
        return await panelists.count_documents({"tenant": T}) == count

    await wait_until(enrolled, timeout=30, what="members in rounds' panel")
    return emails


async def _draft(stack: Stack, title: str = "Kvällsbussar") -> str:
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title=title,
            purpose="Underlag.",
            questions=QUESTIONS,
            created_by="anna",
        ),
    )
    await wait_for_state(stack.nc, T, round_id, "draft")
    return round_id


async def _view(stack: Stack, round_id: str) -> RoundView:
    view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
    assert view is not None
    return view


def _steps(view: RoundView) -> list[tuple[str, str, str]]:
    return [(s.step, s.state, s.by) for s in view.history]


async def _approved(stack: Stack, round_id: str) -> None:
    await publish(stack.js, SubmitRound(tenant=T, round_id=round_id, submitted_by="anna"))
    await wait_for_state(stack.nc, T, round_id, "submitted")
    await publish(stack.js, ApproveRound(tenant=T, round_id=round_id, approved_by="stig"))
    await wait_for_state(stack.nc, T, round_id, "approved")


async def _due_now(stack: Stack, timer_id: str) -> None:
    """Time passes: the timer is due now."""
    timers = stack.services["rounds"].runtime.db.timers
    result = await timers.update_one({"_id": timer_id}, {"$set": {"due_ms": epoch_ms()}})
    assert result.matched_count == 1, timer_id


def _links(stack: Stack, to: str, subject: str) -> list[str]:
    found = []
    items, _ = stack.devtools.mailbox.list_mails(limit=100, to=to)
    for item in items:
        if not item.subject.startswith(subject):
            continue
        text = stack.devtools.mailbox.get_mail(item.id).text
        match = re.search(rf"{re.escape(PORTAL_URL)}/t/{T}/a/([A-Za-z0-9_-]+)", text)
        assert match, text
        found.append(match.group(1))
    return found


async def test_approval_return_edit_and_a_history_of_who_and_when(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    await register_council(stack, T)
    round_id = await _draft(stack)
    submit = SubmitRound(tenant=T, round_id=round_id, submitted_by="anna")
    await publish(stack.js, submit)
    await wait_for_state(stack.nc, T, round_id, "submitted")
    await publish(
        stack.js,
        ReturnRound(tenant=T, round_id=round_id, returned_by="stig", comment="Fråga 1 leder."),
    )
    await wait_for_state(stack.nc, T, round_id, "returned")
    # The submission redelivered (as after a crash before its ack) changes nothing.
    await lifecycle.submit_round(rt, submit)
    assert (await _view(stack, round_id)).state == "returned"

    changed = (Question(key="bus", kind="single_choice", text="Buss?", options=("Ja", "Nej")),)
    edit = EditRound(
        tenant=T,
        round_id=round_id,
        title="Kvällsbussar 2027",
        purpose="Underlag för trafikplanen.",
        questions=changed,
        edited_by="anna",
    )
    await publish(stack.js, edit)

    async def edited() -> RoundView | None:
        view = await _view(stack, round_id)
        return view if view.revision == 1 else None

    view = await wait_until(edited, timeout=15, what="round edited")
    assert (view.state, view.title, view.questions) == ("returned", "Kvällsbussar 2027", changed)
    await lifecycle.edit_round(rt, edit)  # redelivered: not a second edit
    assert (await _view(stack, round_id)).revision == 1

    await publish(stack.js, SubmitRound(tenant=T, round_id=round_id, submitted_by="anna"))
    await wait_for_state(stack.nc, T, round_id, "submitted")
    # An approval of what the steering group read before the edit is refused.
    with pytest.raises(Rejected, match="edited"):
        await handlers.approve_round(
            rt, ApproveRound(tenant=T, round_id=round_id, approved_by="stig", revision=0)
        )
    # A command for a step the round has not reached is retried, not refused: the opening
    # waits until the round is scheduled, then opens it.
    await publish(stack.js, OpenRound(tenant=T, round_id=round_id, opened_by="anna"))
    with pytest.raises(domain.NotYet):
        await handlers.open_round(rt, OpenRound(tenant=T, round_id=round_id))
    approve = ApproveRound(tenant=T, round_id=round_id, approved_by="stig", revision=1)
    await publish(stack.js, approve)
    await wait_for_state(stack.nc, T, round_id, "approved", "scheduled", "open")
    opens = datetime.now(UTC) + timedelta(hours=2)
    await publish(
        stack.js,
        ScheduleRound(
            tenant=T, round_id=round_id, open_at=opens, reminder_days=(), scheduled_by="anna"
        ),
    )
    view = await wait_for_state(stack.nc, T, round_id, "open", timeout=30)
    await handlers.approve_round(rt, approve)  # redelivered: nothing

    # A command for a step the round has passed is refused (dead-lettered).
    with pytest.raises(Rejected):
        await lifecycle.submit_round(rt, SubmitRound(tenant=T, round_id=round_id, submitted_by="x"))
    late = EditRound(**{**edit.model_dump(exclude={"message_id"}), "title": "För sent"})
    await publish(stack.js, late)

    async def refused() -> bool:
        letters = await list_dead_letters(stack.js)
        return any(d.original_message_id == late.message_id for d in letters)

    await wait_until(refused, timeout=15, what="the late edit refused")
    [letter] = [d for d in await list_dead_letters(stack.js) if d.reason]
    assert letter.reason == "rejected"

    view = await _view(stack, round_id)
    assert _steps(view) == [
        ("created", "draft", "anna"),
        ("submitted", "submitted", "anna"),
        ("returned", "returned", "stig"),
        ("edited", "returned", "anna"),
        ("submitted", "submitted", "anna"),
        ("approved", "approved", "stig"),
        ("scheduled", "scheduled", "anna"),
        ("opened", "open", "anna"),
    ]
    assert view.history[2].comment == "Fråga 1 leder."
    assert [s.at for s in view.history] == sorted(s.at for s in view.history)
    assert view.schedule is not None
    assert view.schedule.close_at - view.schedule.open_at == timedelta(days=7)
    # One record per step, in a collection of their own (never an array in the round).
    assert await rt.db.round_steps.count_documents({"round_id": round_id}) == 8
    doc = await rt.db.rounds.find_one({"_id": round_id})
    assert doc is not None
    assert not doc.get("steps_pending")


async def test_an_edit_after_approval_sends_a_scheduled_round_back_to_draft(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    await register_council(stack, T)
    round_id = await _draft(stack)
    await _approved(stack, round_id)
    await publish(
        stack.js,
        ScheduleRound(
            tenant=T,
            round_id=round_id,
            open_at=datetime.now(UTC) + timedelta(days=1),
            reminder_days=(3, 6),
            scheduled_by="anna",
        ),
    )
    view = await wait_for_state(stack.nc, T, round_id, "scheduled")
    assert [r.days for r in view.reminders] == [3, 6]
    assert {r.state for r in view.reminders} == {"waiting"}
    pending = await rt.db.timers.find({"group": round_id}).to_list()
    assert sorted(t["_id"] for t in pending) == sorted(
        [
            schedule.open_timer(round_id),
            schedule.reminder_timer(round_id, 1),
            schedule.reminder_timer(round_id, 2),
            schedule.close_timer(round_id),
        ]
    )
    await publish(
        stack.js,
        EditRound(
            tenant=T,
            round_id=round_id,
            title="Ändrad",
            purpose="Ny.",
            questions=QUESTIONS,
            edited_by="anna",
        ),
    )
    view = await wait_for_state(stack.nc, T, round_id, "draft")
    assert (view.schedule, view.reminders) == (None, ())
    assert view.history[-1].step == "edited"
    timers = await rt.db.timers.find({"group": round_id}).to_list()
    assert {t["state"] for t in timers} == {"cancelled"}
    # Approved again and scheduled anew, its timers are set anew.
    await _approved(stack, round_id)
    later = datetime.now(UTC) + timedelta(days=2)
    again = ScheduleRound(
        tenant=T, round_id=round_id, open_at=later, reminder_days=(), scheduled_by="anna"
    )
    await publish(stack.js, again)
    await wait_for_state(stack.nc, T, round_id, "scheduled")
    opener = await rt.db.timers.find_one({"_id": schedule.open_timer(round_id)})
    assert opener is not None
    assert (opener["state"], opener["due_ms"]) == ("pending", epoch_ms(later))


async def test_the_schedule_opens_reminds_extends_and_closes(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    emails = await _members(stack, 6)
    round_id = await _draft(stack)
    await _approved(stack, round_id)
    closes = datetime.now(UTC) + timedelta(days=7)
    await publish(
        stack.js,
        ScheduleRound(
            tenant=T,
            round_id=round_id,
            open_at=datetime.now(UTC) - timedelta(minutes=1),  # past: opens at once
            close_at=closes,
            reminder_days=(2, 5),
            scheduled_by="anna",
        ),
    )
    view = await wait_for_state(stack.nc, T, round_id, "open", timeout=30)
    assert view.history[-1].step == "opened"
    assert view.history[-1].by == ""  # the schedule opened it
    await wait_until(
        lambda: all(_links(stack, e, "Ny enkät") for e in emails), timeout=30, what="invitations"
    )
    # The first member answers; the others do not.
    first_link = _links(stack, emails[0], "Ny enkät")[0]
    answer = SubmitResponse(tenant=T, token=first_link, answers={"bus": "Yes"})
    await publish(stack.js, answer)

    async def answered() -> bool:
        query = ResponseOutcome(tenant=T, command_id=answer.message_id)
        outcome = await ask(stack.nc, query, Outcome)
        return outcome is not None and outcome.status == "done"

    await wait_until(answered, timeout=15, what="the first answer")

    async def written() -> bool:
        doc = await rt.db.rounds.find_one({"_id": round_id})
        return doc is not None and doc.get(reminders.WRITTEN) == "yes"

    await wait_until(written, timeout=15, what="every invitation written")
    await _due_now(stack, schedule.reminder_timer(round_id, 1))
    await wait_until(
        lambda: all(_links(stack, e, "Påminnelse") for e in emails[1:]),
        timeout=30,
        what="reminders",
    )

    async def reminded() -> RoundView | None:
        view = await _view(stack, round_id)
        return view if view.reminders[0].state == "sent" else None

    view = await wait_until(reminded, timeout=15, what="the reminder recorded")
    first, second = view.reminders
    assert (first.days, first.sent, second.state, second.sent) == (2, 5, "waiting", 0)
    assert first.sent_at is not None
    assert _links(stack, emails[0], "Påminnelse") == []  # answered: no reminder
    # Run again (as after a crash): nobody gets a second reminder.
    await reminders.send_reminders(rt, T, round_id, 1)
    assert all(len(_links(stack, e, "Påminnelse")) == 1 for e in emails[1:])
    assert (await _view(stack, round_id)).reminders[0].sent == 5
    # The reminder's new link answers, once; the invitation's old link then says so too.
    new_link = _links(stack, emails[1], "Påminnelse")[0]
    old_link = _links(stack, emails[1], "Ny enkät")[0]
    assert new_link != old_link
    reply = await ask(stack.nc, GetInvitation(tenant=T, token=new_link), InvitationView)
    assert reply is not None
    assert reply.status == "open"
    await publish(stack.js, SubmitResponse(tenant=T, token=new_link, answers={"bus": "No"}))

    async def old_link_answered() -> bool:
        found = await ask(stack.nc, GetInvitation(tenant=T, token=old_link), InvitationView)
        return found is not None and found.status == "answered"

    await wait_until(old_link_answered, timeout=15, what="the second answer")

    # Extended: the close timer is replaced with the new time.
    extended = (closes + timedelta(days=3)).replace(microsecond=0)
    extend = ExtendRound(tenant=T, round_id=round_id, close_at=extended, extended_by="anna")
    await publish(stack.js, extend)

    async def moved() -> RoundView | None:
        view = await _view(stack, round_id)
        return view if view.schedule and view.schedule.close_at == extended else None

    await wait_until(moved, timeout=15, what="the closing moved")

    async def replaced() -> Document | None:
        return await rt.db.timers.find_one(
            {"_id": schedule.close_timer(round_id), "generation": extend.message_id}
        )

    closer = await wait_until(replaced, timeout=15, what="the close timer replaced")
    assert (closer["state"], closer["due_ms"]) == ("pending", epoch_ms(extended))

    await _due_now(stack, schedule.close_timer(round_id))
    view = await wait_for_state(stack.nc, T, round_id, "closed", timeout=30)
    assert (view.history[-1].step, view.history[-1].by) == ("closed", "")
    assert (view.invited, view.responded) == (6, 2)
    assert view.reminders[1].state == "not_sent"

    async def close_done() -> Document | None:
        query = {"_id": schedule.close_timer(round_id), "state": "done"}
        return await rt.db.timers.find_one(query)

    await wait_until(close_done, timeout=15, what="the close timer marked done")
    timers: dict[str, Document] = {
        t["_id"]: t async for t in rt.db.timers.find({"group": round_id})
    }
    assert timers[schedule.reminder_timer(round_id, 2)]["state"] == "cancelled"
    fired = [schedule.open_timer(round_id), schedule.reminder_timer(round_id, 1)]
    fired.append(schedule.close_timer(round_id))
    assert {i: (timers[i]["state"], timers[i]["attempts"]) for i in fired} == dict.fromkeys(
        fired, ("done", 1)
    )
    assert await list_dead_letters(stack.js) == []


async def _second_rounds(stack: Stack) -> Service:
    infra = stack.infra
    replica = create_service(
        ServiceSettings(
            mongodb_url=infra.mongodb_url,
            portal_url=PORTAL_URL,
            seal_keys=infra.seal_keys,
            **infra.bus("rounds"),
        )
    )
    await replica.start()
    return replica


async def test_two_replicas_fire_each_timer_once(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    emails = await _members(stack, 4)
    replica = await _second_rounds(stack)
    try:
        rounds = [await _draft(stack, f"Omgång {n}") for n in range(3)]
        for round_id in rounds:
            await _approved(stack, round_id)
            await publish(
                stack.js,
                ScheduleRound(
                    tenant=T,
                    round_id=round_id,
                    open_at=datetime.now(UTC) - timedelta(seconds=1),
                    reminder_days=(1,),
                    scheduled_by="anna",
                ),
            )
        for round_id in rounds:
            await wait_for_state(stack.nc, T, round_id, "open", timeout=30)

        async def written() -> bool:
            docs = await rt.db.rounds.find({"_id": {"$in": rounds}}).to_list()
            return all(d.get(reminders.WRITTEN) == "yes" for d in docs)

        await wait_until(written, timeout=30, what="every invitation written")
        for round_id in rounds:
            await _due_now(stack, schedule.reminder_timer(round_id, 1))
        await wait_until(
            lambda: all(len(_links(stack, e, "Påminnelse")) == 3 for e in emails),
            timeout=30,
            what="three reminders each",
        )
        for round_id in rounds:
            await _due_now(stack, schedule.close_timer(round_id))
        for round_id in rounds:
            await wait_for_state(stack.nc, T, round_id, "closed", timeout=30)

        async def all_done() -> list[Document] | None:
            found = await rt.db.timers.find({"group": {"$in": rounds}}).to_list()
            return found if {t["state"] for t in found} == {"done"} else None

        timers = await wait_until(all_done, timeout=15, what="every timer marked done")
        assert len(timers) == 9
        assert {(t["state"], t["attempts"]) for t in timers} == {("done", 1)}
        for email in emails:
            assert len(_links(stack, email, "Ny enkät")) == 3
            assert len(_links(stack, email, "Påminnelse")) == 3
        for round_id in rounds:
            steps = [s.step for s in (await _view(stack, round_id)).history]
            assert (steps.count("opened"), steps.count("closed")) == (1, 1)
    finally:
        await replica.stop()
