"""rounds killed with SIGKILL while a timer is claimed, and while one is due: each fires once.

rounds runs as a real process (as in the local stack), with a short timer lease. A round is
scheduled and opens; its reminder becomes due and is claimed; the process is frozen the moment
the first reminders show in the store (the run half done: its first batch of 500 written, the
second not) and killed, its claim unfinished. The restarted process claims the timer again once
the lease has run out and runs it to the end: every member who has not answered has exactly one
reminder. Then rounds is killed while nothing runs, the closing becomes due while no rounds
process lives, and the next process closes the round once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts.recruitment import MemberRow
from contracts.round_lifecycle import ScheduleRound, SubmitRound
from contracts.rounds import ApproveRound, CreateRound, Question
from devstack.devtools import DevTools
from devstack.rounds import wait_for_state
from devstack.testing import wait_until
from infra.bus import publish
from infra.deadletter import list_dead_letters
from infra.queries import ask
from infra.store import connect, database, epoch_ms
from services.rounds import reminders, schedule
from tests.conftest import PORTAL_URL, Infra
from tests.service.processes import ServiceProcess

T = "kinda"
MEMBERS = 600
LEASE_SECONDS = 3


@pytest.fixture
async def others(infra: Infra, devtools: DevTools) -> AsyncIterator[None]:
    """recruitment, dispatch and feedback in this process; rounds is the test's to run."""
    from infra.service import ServiceSettings
    from services.dispatch.app import DispatchSettings
    from services.dispatch.app import create_service as dispatch
    from services.feedback.app import create_service as feedback
    from services.recruitment.app import create_service as recruitment

    common: dict[str, Any] = {
        "mongodb_url": infra.mongodb_url,
        "portal_url": PORTAL_URL,
        "seal_keys": infra.seal_keys,
    }
    services = [
        recruitment(ServiceSettings(**common, **infra.bus("recruitment"))),
        dispatch(DispatchSettings(**common, **infra.bus("dispatch"), smtp_port=devtools.smtp_port)),
        feedback(ServiceSettings(**common, **infra.bus("feedback"))),
    ]
    for service in services:
        await service.start()
    try:
        yield None
    finally:
        for service in services:
            await service.stop()


def _subjects_per_member(devtools: DevTools, prefix: str) -> Counter[str]:
    mails, _ = devtools.mailbox.list_mails(limit=10 * MEMBERS)
    return Counter(r for m in mails if m.subject.startswith(prefix) for r in m.rcpt_tos)


@pytest.mark.usefixtures("others")
async def test_killed_while_a_timer_is_claimed_or_due_each_fires_once(
    infra: Infra, devtools: DevTools, tmp_path: Path
) -> None:
    from contracts.recruitment import ImportMembers, ListTenants, RegisterTenant, TenantList

    client = connect(infra.mongodb_url)
    db = database(client, "rounds")
    nc = await infra.connect()
    js = nc.jetstream()
    settings = {
        "PORTAL_URL": PORTAL_URL,
        "LOG_LEVEL": "INFO",
        "TIMER_LEASE_SECONDS": str(LEASE_SECONDS),
        "TIMER_POLL_SECONDS": "0.1",
    }
    processes = [
        ServiceProcess("rounds", infra, tmp_path / f"rounds-{n}.log", **settings) for n in range(3)
    ]
    first, second, third = processes
    try:
        await first.start()
        await publish(js, RegisterTenant(tenant=T, display_name="Kinda kommun"))

        async def registered() -> bool:
            reply = await ask(nc, ListTenants(tenant="region"), TenantList)
            return reply is not None and T in {t.tenant for t in reply.tenants}

        # Members of a council not registered yet would be refused.
        await wait_until(registered, timeout=10, what="the council registered")
        rows = tuple(
            MemberRow(
                member_id=str(uuid.uuid4()),
                email=f"m{n}@kinda.example",
                birth_year=1950 + n % 50,
                gender=("female", "male")[n % 2],
                district="Kisa",
            )
            for n in range(MEMBERS)
        )

        async def imported() -> bool:
            return await db.panelists.count_documents({"tenant": T}) == MEMBERS

        await publish(
            js,
            ImportMembers(
                tenant=T,
                import_id="crash",
                batch_no=1,
                first_row=1,
                consent_version="2026-1",
                source="paper",
                rows=rows,
            ),
        )
        await wait_until(imported, timeout=60, what="members in rounds' panel")

        round_id = str(uuid.uuid4())
        questions = (
            Question(key="q", kind="single_choice", text="?", options=("a", "b")),
            Question(key="why", kind="free_text", text="Why?"),
        )
        await publish(
            js,
            CreateRound(
                tenant=T, round_id=round_id, title="Skolvägar", purpose="Plan.", questions=questions
            ),
        )
        await wait_for_state(nc, T, round_id, "draft")
        await publish(js, SubmitRound(tenant=T, round_id=round_id, submitted_by="anna"))
        await wait_for_state(nc, T, round_id, "submitted")
        await publish(js, ApproveRound(tenant=T, round_id=round_id, approved_by="stig"))
        await wait_for_state(nc, T, round_id, "approved")
        await publish(
            js,
            ScheduleRound(
                tenant=T,
                round_id=round_id,
                open_at=datetime.now(UTC) - timedelta(seconds=1),
                close_at=datetime.now(UTC) + timedelta(days=7),
                reminder_days=(3,),
                scheduled_by="anna",
            ),
        )
        await wait_for_state(nc, T, round_id, "open", timeout=30)

        async def written() -> bool:
            doc = await db.rounds.find_one({"_id": round_id})
            return doc is not None and doc.get(reminders.WRITTEN) == "yes"

        await wait_until(written, timeout=60, what="every invitation written")
        await wait_until(
            lambda: len(_subjects_per_member(devtools, "Ny enkät")) == MEMBERS,
            timeout=120,
            interval=0.5,
            what="every invitation mailed",
        )

        # 1. The reminder is due; the moment its claim shows, rounds is frozen, then killed.
        reminder = schedule.reminder_timer(round_id, 1)
        await db.timers.update_one({"_id": reminder}, {"$set": {"due_ms": epoch_ms()}})

        async def under_way() -> bool:
            # Claimed, and some members reminded already: the kill lands mid-run.
            return bool(
                await db.invitations.find_one(
                    {"round_id": round_id, "reminded_1": {"$exists": True}}, {"_id": 1}
                )
            )

        await wait_until(under_way, timeout=10, interval=0.002, what="the reminder under way")
        first.freeze()
        at_kill = await db.timers.find_one({"_id": reminder})
        assert at_kill is not None
        assert at_kill["state"] == "pending", "the reminder finished before the kill"
        first.kill()
        reminded_before = await db.invitations.count_documents(
            {"round_id": round_id, "reminded_1": {"$exists": True}}
        )

        await second.start()

        async def reminder_done() -> dict[str, Any] | None:
            return await db.timers.find_one({"_id": reminder, "state": "done"})

        done = await wait_until(
            reminder_done, timeout=LEASE_SECONDS + 60, what="the reminder fired after the restart"
        )
        assert done["attempts"] == 2  # claimed by the killed process, then by the new one
        assert done["owner"] != at_kill["owner"]
        await wait_until(
            lambda: len(_subjects_per_member(devtools, "Påminnelse")) == MEMBERS,
            timeout=120,
            interval=0.5,
            what="every member's reminder",
        )
        per_member = _subjects_per_member(devtools, "Påminnelse")
        assert set(per_member.values()) == {1}, "a member got more than one reminder"
        run = await db.round_reminders.find_one({"_id": f"{round_id}:1"})
        assert run is not None
        assert (run["state"], run["sent"]) == ("sent", MEMBERS)

        # 2. Killed again while nothing runs; the closing falls due while no rounds lives.
        second.kill()
        closer = schedule.close_timer(round_id)
        await db.timers.update_one({"_id": closer}, {"$set": {"due_ms": epoch_ms()}})
        await third.start()
        await wait_for_state(nc, T, round_id, "closed", timeout=60)

        async def close_done() -> dict[str, Any] | None:
            return await db.timers.find_one({"_id": closer, "state": "done"})

        closed = await wait_until(close_done, timeout=15, what="the close timer marked done")
        assert closed["attempts"] == 1
        steps = [s["step"] async for s in db.round_steps.find({"round_id": round_id})]
        assert Counter(steps) == Counter(
            ["created", "submitted", "approved", "scheduled", "opened", "closed"]
        )
        assert set(_subjects_per_member(devtools, "Ny enkät").values()) == {1}
        assert await list_dead_letters(js) == []
        print(f"reminders written before the kill: {reminded_before} of {MEMBERS}")
    finally:
        for process in processes:
            process.stop()
        await nc.close()
        await client.close()
