"""Open quick polls on the real bus and store: one answer per browser, answers from one
browser spaced, nobody invited, answers counted once, redeliveries change nothing."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

from contracts.recruitment import Outcome
from contracts.rounds import (
    CloseRound,
    CreateRound,
    GetResults,
    GetRound,
    ListPolls,
    PollList,
    Question,
    RoundResults,
    RoundView,
    SubmitPollAnswer,
)
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish, publish_raw
from infra.queries import ask
from services.portal.gateway import NatsGateway
from services.rounds import polls, tallies
from tests.conftest import Stack, register_council

T = "gnosjo"
QUESTIONS = (Question(key="skatepark", kind="yes_no", text="Skatepark?"),)


def _browser(n: int) -> str:
    return hashlib.sha256(f"browser-{n}".encode()).hexdigest()


async def _open_poll(stack: Stack, public: bool = True) -> str:
    await register_council(stack, T)
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title="Skatepark",
            purpose="Fritidsnämnden.",
            questions=QUESTIONS,
            public=public,
        ),
    )
    await open_now(stack.js, stack.nc, T, round_id)
    return round_id


async def _answer(gateway: NatsGateway, commands: list[SubmitPollAnswer]) -> list[Outcome]:
    for command in commands:
        await gateway.submit_poll_answer(command)
    return [
        o or Outcome(status="pending")
        for o in [await gateway.outcome(c.message_id, 30) for c in commands]
    ]


async def test_one_answer_per_browser_spaced_and_counted_once(
    stack: Stack, monkeypatch: Any
) -> None:
    round_id = await _open_poll(stack)
    rt = stack.services["rounds"].runtime
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        first = [
            SubmitPollAnswer(
                tenant=T, round_id=round_id, browser=_browser(n), answers={"skatepark": "yes"}
            )
            for n in range(6)
        ]
        assert await _answer(gateway, first) == [Outcome(status="done")] * 6
        # The same delivery again, past the duplicate window: nothing changes.
        await publish_raw(
            stack.js,
            f"rounds.{T}.cmd.submit_poll_answer",
            first[0].model_dump_json().encode(),
            f"copy-{first[0].message_id}",
        )
        again = SubmitPollAnswer(
            tenant=T, round_id=round_id, browser=_browser(0), answers={"skatepark": "no"}
        )
        bad = SubmitPollAnswer(
            tenant=T, round_id=round_id, browser=_browser(9), answers={"skatepark": "kanske"}
        )
        elsewhere = SubmitPollAnswer(
            tenant="kinda", round_id=round_id, browser=_browser(8), answers={"skatepark": "no"}
        )
        await register_council(stack, "kinda")
        assert await _answer(gateway, [again, bad, elsewhere]) == [
            Outcome(status="refused", reason="already_answered"),
            Outcome(status="refused", reason="invalid_answers"),
            Outcome(status="refused", reason="unknown_poll"),
        ]
        # One browser answering another poll within the spacing is asked to wait.
        other = await _open_poll(stack)
        soon = SubmitPollAnswer(
            tenant=T, round_id=other, browser=_browser(1), answers={"skatepark": "no"}
        )
        assert await _answer(gateway, [soon]) == [Outcome(status="refused", reason="too_soon")]
        # … and may answer once the time is up.
        monkeypatch.setattr(polls, "POLL_SPACING_SECONDS", 0)
        later = SubmitPollAnswer(
            tenant=T, round_id=other, browser=_browser(1), answers={"skatepark": "no"}
        )
        assert await _answer(gateway, [later]) == [Outcome(status="done")]
    finally:
        await gateway.close()
    await asyncio.sleep(0.5)  # let the copy land
    view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
    assert view is not None
    assert (view.public, view.invited, view.responded) == (True, 0, 6)
    assert await rt.db.invitations.count_documents({"round_id": round_id}) == 0
    responses = await rt.db.responses.find({"round_id": round_id}).to_list()
    assert {r["channel"] for r in responses} == {"poll"}
    assert len(responses) == 6
    kept = await tallies.kept(rt, T, round_id, 1)
    assert tallies.nonzero(kept) == tallies.nonzero(await tallies.recount(rt, T, round_id))

    await publish(stack.js, CloseRound(tenant=T, round_id=round_id))

    async def closed() -> bool:
        v = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
        return v is not None and v.state == "closed"

    await wait_until(closed, timeout=15, what="poll closed")
    results = await ask(stack.nc, GetResults(tenant=T, round_id=round_id), RoundResults)
    assert results is not None
    assert results.round.responded == 6
    assert results.caveat.startswith("Anyone could answer this quick poll")
    assert [(c.channel, c.answers) for c in results.by_channel] == [("poll", 6)]
    listed = await ask(stack.nc, ListPolls(tenant=T), PollList)
    assert listed is not None
    assert {p.round_id: p.state for p in listed.polls} == {round_id: "closed", other: "open"}


async def test_an_ordinary_round_takes_no_poll_answers(stack: Stack) -> None:
    round_id = await _open_poll(stack, public=False)
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        command = SubmitPollAnswer(
            tenant=T, round_id=round_id, browser=_browser(1), answers={"skatepark": "yes"}
        )
        assert await _answer(gateway, [command]) == [
            Outcome(status="refused", reason="unknown_poll")
        ]
    finally:
        await gateway.close()
    listed = await ask(stack.nc, ListPolls(tenant=T), PollList)
    assert listed == PollList(polls=())
