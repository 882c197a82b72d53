"""Panel settings on the real stack: a changed consent text is a new version and members keep
theirs, sign-ups must be old enough and name a known version, and rounds invites a member to
no more rounds per half-year than the panel allows."""

from __future__ import annotations

import uuid

from contracts.panels import ConfigurePanel, GetPanel, PanelSettings, PanelView
from contracts.recruitment import EnrolMember
from contracts.rounds import ApproveRound, CreateRound, GetRound, OpenRound, Question, RoundView
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
        stack, TEXT + " Du kan lämna när du vill.", min_age=18, max_rounds_per_half_year=1
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
    for cmd in (ok, young, unknown):
        await publish(stack.js, cmd)

    async def refused() -> set[str]:
        return {d.original_message_id for d in await list_dead_letters(stack.js)}

    await wait_until(
        lambda: _contains(refused, {young.message_id, unknown.message_id}),
        timeout=15,
        what="the two sign-ups refused",
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
    await publish(stack.js, ApproveRound(tenant=T, round_id=second, approved_by="styrgrupp"))

    async def approved() -> bool:
        view = await ask(stack.nc, GetRound(tenant=T, round_id=second), RoundView)
        return view is not None and view.state == "approved"

    await wait_until(approved, timeout=10, what="the second round approved")
    await publish(stack.js, OpenRound(tenant=T, round_id=second))

    async def opened() -> RoundView | None:
        view = await ask(stack.nc, GetRound(tenant=T, round_id=second), RoundView)
        return view if view is not None and view.state == "open" else None

    await wait_until(opened, timeout=10, what="the second round open")
    invitations = stack.services["rounds"].runtime.db.invitations
    assert await invitations.count_documents({"round_id": first_round}) == MEMBERS
    assert await invitations.count_documents({"round_id": second}) == 0


async def _contains(found: object, wanted: set[str]) -> bool:
    return wanted <= await found()  # type: ignore[operator]
