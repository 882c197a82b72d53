"""Panel settings on the real stack: a changed consent text is a new version and members keep
theirs, sign-ups must be old enough and name a known version, and rounds invites a member to
no more rounds per half-year than the panel allows."""

from __future__ import annotations

import uuid

from contracts.panels import ConfigurePanel, GetPanel, PanelSettings, PanelView
from contracts.recruitment import EnrolMember
from contracts.rounds import CreateRound, GetRound, Question, RoundView
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish
from infra.deadletter import list_dead_letters
from infra.queries import ask
from tests.conftest import Stack, recruitment_outcome
from tests.service.test_answers_under_load import MEMBERS, T, open_round

TEXT = "Vi sparar din e-postadress, ditt födelseår, kön och distrikt för panelen."


async def configure(stack: Stack, text: str = TEXT, **settings: object) -> None:
    cmd = ConfigurePanel(tenant=T, settings=PanelSettings(**settings), consent_text=text)
    await publish(stack.js, cmd)
    assert (await recruitment_outcome(stack, T, cmd.message_id)).status == "done"


async def panel(stack: Stack) -> PanelView:
    view = await ask(stack.nc, GetPanel(tenant=T), PanelView)
    assert view is not None
    return view


async def test_settings_versions_sign_up_rules_and_the_rounds_cap(stack: Stack) -> None:
    # 40 members of version 2026-1 and an open round (each member invited once).
    first_round, _ = await open_round(stack)
    view = await panel(stack)
    assert view.consent_version == "2026-1"
    assert view.consent_text == ""
    assert [(v.version, v.members) for v in view.consent_versions] == [("2026-1", MEMBERS)]

    await configure(stack, min_age=18, max_rounds_per_half_year=1, topics=("Skola",))
    view = await panel(stack)
    year = view.consent_versions[-1].version.split("-")[0]
    assert view.consent_version == f"{year}-2"
    assert view.settings.min_age == 18
    assert [v.members for v in view.consent_versions] == [MEMBERS, 0]
    # The same text again is no new version; a changed one is.
    await configure(stack, min_age=18, max_rounds_per_half_year=1)
    assert (await panel(stack)).consent_version == f"{year}-2"
    await configure(
        stack,
        TEXT + " Du kan lämna när du vill.",
        min_age=18,
        max_rounds_per_half_year=1,
        channels=("email",),
    )
    view = await panel(stack)
    assert view.consent_version == f"{year}-3"
    assert [v.version for v in view.consent_versions] == ["2026-1", f"{year}-2", f"{year}-3"]

    # Sign-ups: a known version is taken; a too young one or an unknown version is refused.
    ok = EnrolMember(
        tenant=T,
        member_id=str(uuid.uuid4()),
        email="ny@example.se",
        birth_year=1990,
        gender="female",
        district="Centrum",
        consent_version=f"{year}-3",
    )
    young = ok.model_copy(
        update={
            "message_id": str(uuid.uuid4()),
            "member_id": str(uuid.uuid4()),
            "email": "ung@example.se",
            "birth_year": int(year) - 17,
            "consent_version": "2026-1",
        }
    )
    unknown = ok.model_copy(
        update={
            "message_id": str(uuid.uuid4()),
            "member_id": str(uuid.uuid4()),
            "email": "x@example.se",
            "consent_version": "1999-9",
        }
    )
    pupil = ok.model_copy(
        update={
            "message_id": str(uuid.uuid4()),
            "member_id": str(uuid.uuid4()),
            "email": "elev@example.se",
            "connection": "pupil",
        }
    )
    texter = ok.model_copy(
        update={
            "message_id": str(uuid.uuid4()),
            "member_id": str(uuid.uuid4()),
            "email": "",
            "phone": "+46701234567",
        }
    )
    for cmd in (ok, young, unknown, pupil, texter):
        await publish(stack.js, cmd)

    async def refused() -> set[str]:
        return {d.original_message_id for d in await list_dead_letters(stack.js)}

    await wait_until(
        lambda: _contains(
            refused,
            {young.message_id, unknown.message_id, pupil.message_id, texter.message_id},
        ),
        timeout=15,
        what="the four sign-ups refused",
    )
    members = stack.services["recruitment"].runtime.db.members
    assert await members.find_one({"email": "ny@example.se"}) is not None

    # Rounds: at most one round per half-year now, and every member had one: nobody is
    # invited to the second round.
    async def cap_known() -> bool:
        doc = await stack.services["rounds"].runtime.db.panel_settings.find_one(
            {"_id": f"{T}:general"}
        )
        return doc is not None and doc["max_rounds_per_half_year"] == 1

    await wait_until(cap_known, timeout=10, what="rounds knows the cap")
    second = str(uuid.uuid4())
    questions = (Question(key="q", kind="single_choice", text="?", options=("a", "b")),)
    await publish(
        stack.js,
        CreateRound(tenant=T, round_id=second, title="Två", purpose="Test.", questions=questions),
    )

    async def created() -> bool:
        return await ask(stack.nc, GetRound(tenant=T, round_id=second), RoundView) is not None

    await wait_until(created, timeout=10, what="the second round")
    await open_now(stack.js, stack.nc, T, second)
    invitations = stack.services["rounds"].runtime.db.invitations
    assert await invitations.count_documents({"round_id": first_round}) == MEMBERS
    assert await invitations.count_documents({"round_id": second}) == 0


async def _contains(found: object, wanted: set[str]) -> bool:
    return wanted <= await found()  # type: ignore[operator]


async def test_terms_end_with_a_notice_a_renewal_or_a_retirement(stack: Stack) -> None:
    import re
    from datetime import UTC, datetime, timedelta

    from contracts.panels import RenewMembership
    from contracts.recruitment import GetPanelHistory, PanelHistory
    from infra.store import epoch_ms
    from services.recruitment import rotation

    await open_round(stack)  # 40 active members, each with a mail box
    await configure(stack, term_years=1)
    rt = stack.services["recruitment"].runtime
    members = await rt.db.members.find({"tenant": T, "state": "active"}).to_list()
    now = datetime.now(UTC)
    year_ago = epoch_ms(now - timedelta(days=365))
    # Three near the end of their term, one just past it (told long ago), the rest new.
    ending = members[:3]
    for m in ending:
        await rt.db.members.update_one(
            {"_id": m["_id"]},
            {"$set": {"term_started_ms": year_ago + epoch_ms(timedelta(days=10))}},
        )
    past = members[3]
    await rt.db.members.update_one(
        {"_id": past["_id"]},
        {
            "$set": {
                "term_started_ms": year_ago - epoch_ms(timedelta(days=1)),
                "term_notice_ms": epoch_ms(now - timedelta(days=31)),
            }
        },
    )
    done = await rotation.rotate(rt)
    assert done == {"notified": 3, "retired": 1, "left": 0}
    assert await rotation.rotate(rt) == {"notified": 0, "retired": 0, "left": 0}  # each once

    def notices() -> list[str]:
        items, _ = stack.devtools.mailbox.list_mails(limit=1000)
        texts = [stack.devtools.mailbox.get_mail(i.id).text for i in items]
        return [t for t in texts if "/renew/" in t]

    mails = await wait_until(
        lambda: notices() if len(notices()) == 3 else None, timeout=15, what="notices"
    )
    link = re.search(r"/t/" + T + r"/renew/([A-Za-z0-9_-]+)", mails[0])
    assert link
    renew = RenewMembership(tenant=T, token=link.group(1))
    await publish(stack.js, renew)
    assert (await recruitment_outcome(stack, T, renew.message_id)).status == "done"
    again = RenewMembership(tenant=T, token=link.group(1))
    await publish(stack.js, again)
    assert (await recruitment_outcome(stack, T, again.message_id)).reason == "already_used"
    renewed = await rt.db.members.count_documents(
        {
            "tenant": T,
            "term_notice_ms": {"$exists": False},
            "_id": {"$in": [m["_id"] for m in ending]},
        }
    )
    assert renewed == 1

    # The retired member is erased everywhere, and counted as retired this month.
    async def erased() -> bool:
        return await rt.db.members.find_one({"_id": past["_id"]}) is None

    await wait_until(erased, timeout=15, what="the retired member erased everywhere")
    history = await ask(stack.nc, GetPanelHistory(tenant=T, months=1), PanelHistory)
    assert history is not None
    assert (history.months[-1].left, history.months[-1].retired) == (1, 1)


async def test_the_index_is_kept_day_by_day_and_read_month_by_month(stack: Stack) -> None:
    from datetime import UTC, datetime, timedelta

    from contracts.recruitment import (
        GetRepresentativeness,
        GetRepresentativenessHistory,
        PopulationRow,
        Representativeness,
        RepresentativenessHistory,
        SetPopulation,
    )
    from services.recruitment import index_history

    await open_round(stack)  # 40 members in Centrum (a council without districts)
    cells = tuple(
        PopulationRow(district="", age_band=b, gender=g, population=100)
        for b in ("16-29", "30-44", "45-64", "65-79", "80+")
        for g in ("female", "male")
    )
    await publish(stack.js, SetPopulation(tenant=T, source="SCB 2025", rows=cells))

    async def measured() -> Representativeness | None:
        return await ask(stack.nc, GetRepresentativeness(tenant=T), Representativeness)

    now = await wait_until(measured, timeout=15, what="the population figures")
    rt = stack.services["recruitment"].runtime
    today = datetime.now(UTC)
    assert await index_history.snapshot(rt, today - timedelta(days=40)) == 1
    assert await index_history.snapshot(rt, today - timedelta(days=35)) == 1
    assert await index_history.snapshot(rt, today) == 1
    assert await index_history.snapshot(rt, today) == 1  # the day's snapshot, updated
    reply = await ask(
        stack.nc, GetRepresentativenessHistory(tenant=T, months=3), RepresentativenessHistory
    )
    assert reply is not None
    days = [p.day for p in reply.points]
    assert days[-1] == today.date().isoformat()
    assert len(days) == len({d[:7] for d in days})  # one point per month
    assert reply.points[-1].index == now.index
    assert reply.points[-1].members_compared == now.members_compared
