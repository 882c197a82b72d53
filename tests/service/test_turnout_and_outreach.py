"""After a round: who took part by group (small groups hidden) and staff's notes on the
groups reached another way."""

from __future__ import annotations

from contracts.rounds import (
    CloseRound,
    GetResults,
    GetRound,
    NoteOutreach,
    RoundResults,
    RoundView,
    SubmitResponse,
)
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from tests.conftest import Stack
from tests.service.test_answers_under_load import T, open_round


async def test_turnout_by_group_and_outreach_notes(stack: Stack) -> None:
    round_id, tokens = await open_round(stack)
    for token in tokens[:10]:
        await publish(stack.js, SubmitResponse(tenant=T, token=token, answers={"bus": "Yes"}))

    async def answered() -> bool:
        view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
        return view is not None and view.responded == 10

    await wait_until(answered, timeout=20, what="ten answers")
    note = NoteOutreach(
        tenant=T,
        round_id=round_id,
        groups="Unga män i Centrum",
        method="Besök på fritidsgården: 12 svar på papper.",
        noted_by="anna",
    )
    await publish(stack.js, note)
    await publish(stack.js, CloseRound(tenant=T, round_id=round_id))

    async def results() -> RoundResults | None:
        found = await ask(stack.nc, GetResults(tenant=T, round_id=round_id), RoundResults)
        if found is None or found.round.state != "closed" or not found.outreach:
            return None
        return found

    found = await wait_until(results, timeout=20, what="the closed round's results")
    by_gender = {t.group: t for t in found.turnout if t.dimension == "gender"}
    assert sum(t.invited for t in by_gender.values()) == 40
    assert sum(t.answered for t in by_gender.values()) == 10
    # The council keeps no list of districts: no district breakdown.
    assert [t for t in found.turnout if t.dimension == "district"] == []
    assert {t.dimension for t in found.turnout} == {"age_band", "gender"}
    for t in found.turnout:
        assert t.rate == round(100 * t.answered / t.invited, 1)
    # Groups of fewer than five invited are not shown.
    assert all(t.invited >= found.suppression_threshold for t in found.turnout)
    [kept] = found.outreach
    assert (kept.groups, kept.noted_by) == ("Unga män i Centrum", "anna")
    # A copy of the note is kept once.
    await publish(stack.js, note)
    again = await ask(stack.nc, GetResults(tenant=T, round_id=round_id), RoundResults)
    assert again is not None
    assert len(again.outreach) == 1
