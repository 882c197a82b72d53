"""A round that invites a segment of its panel, or a random sample of it, on the real stack:
the preview counts what the opening then does, members invited recently are left out when
the round asks for rest days, and a redelivered opening invites the same members."""

from __future__ import annotations

import json
import uuid

from contracts.rounds import (
    CreateRound,
    GetRound,
    PreviewTarget,
    Question,
    RoundOpened,
    RoundView,
    Target,
    TargetPreview,
)
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from infra.tokens import token_hash
from services.rounds import handlers
from tests.conftest import Stack
from tests.service.test_answers_under_load import MEMBERS, T, open_round

QUESTIONS = (Question(key="q", kind="single_choice", text="?", options=("a", "b")),)


async def _preview(stack: Stack, target: Target) -> TargetPreview:
    reply = await ask(stack.nc, PreviewTarget(tenant=T, target=target), TargetPreview)
    assert reply is not None
    return reply


async def _open(stack: Stack, target: Target) -> str:
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title="Urval",
            purpose="Test.",
            questions=QUESTIONS,
            target=target,
        ),
    )

    async def state(wanted: str) -> bool:
        view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
        return view is not None and view.state == wanted

    await wait_until(lambda: state("draft"), timeout=10, what="round drafted")
    view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
    assert view is not None
    assert view.target == target
    await open_now(stack.js, stack.nc, T, round_id)
    return round_id


async def test_a_round_invites_a_segment_or_a_sample_as_the_preview_said(stack: Stack) -> None:
    await open_round(stack)  # 40 members (alternately female and male), each invited today
    rounds_db = stack.services["rounds"].runtime.db

    women = Target(genders=("female",), sample=7)
    preview = await _preview(stack, women)
    assert (preview.in_segment, preview.invited, preview.paused, preview.over_cap) == (
        MEMBERS // 2,
        7,
        0,
        0,
    )
    # Asking for a week's rest leaves out everyone: they all had a round today.
    rested = await _preview(stack, Target(rest_days=7))
    assert (rested.rested, rested.invited) == (MEMBERS, 0)

    round_id = await _open(stack, women)

    async def invited() -> list[dict[str, object]]:
        return await rounds_db.invitations.find({"round_id": round_id}).to_list()

    await wait_until(lambda: _count(invited, 7), timeout=20, what="seven invitations")
    chosen = await invited()
    assert {d["gender"] for d in chosen} == {"female"}

    async def choice_dropped() -> bool:  # kept only while the invitations are written
        return await rounds_db.round_choices.count_documents({}) == 0

    await wait_until(choice_dropped, timeout=10, what="the choice's record dropped")

    # A redelivered opening, after the rules have changed (everyone was just invited): the
    # same seven, no one more.
    evt = RoundOpened(tenant=T, round_id=round_id)
    rt = stack.services["rounds"].runtime
    await rounds_db.round_choices.insert_one(
        {
            "_id": round_id,
            "tenant": T,
            "members": json.dumps([token_hash(f"{round_id}:{d['member_id']}") for d in chosen]),
        }
    )
    await handlers.invite_panel(rt, evt)
    again = await invited()
    assert sorted(str(d["member_id"]) for d in again) == sorted(str(d["member_id"]) for d in chosen)


async def _count(found: object, n: int) -> bool:
    return len(await found()) == n  # type: ignore[operator]
