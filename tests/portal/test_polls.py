"""Open quick polls: answered by anyone from a link, one answer per browser, then an
invitation to join; past polls stay listed with self-selected results."""

from __future__ import annotations

from typing import Any

import httpx

from contracts.recruitment import Outcome
from contracts.rounds import (
    GetResults,
    PollView,
    Question,
    RoundResults,
    SubmitPollAnswer,
)
from services.rounds import results as computed
from services.rounds import tallies
from tests.portal.conftest import check_page, text_of
from tests.portal.fakes import FakeGateway, round_view

POLL = "7d9e2a41-3b6c-4f10-8e2d-5a6b7c8d9e0f"
PAST = "1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"
QUESTIONS = (
    Question(key="skatepark", kind="yes_no", text="Vill du ha en skatepark?"),
    Question(key="where", kind="single_choice", text="Var?", options=("Centrum", "Hillerstorp")),
)


def _polls(gateway: FakeGateway) -> None:
    gateway.polls["gnosjo"] = [
        PollView(
            round_id=POLL,
            title="Skatepark",
            purpose="Fritidsnämnden bestämmer i mars.",
            state="open",
            questions=QUESTIONS,
            answers=12,
            panel="unga",
        ),
        PollView(
            round_id=PAST,
            title="Sommarlov",
            purpose="Planering.",
            state="closed",
            questions=QUESTIONS,
            answers=40,
            panel="general",
        ),
    ]


async def test_the_polls_page_lists_open_and_past_polls(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _polls(gateway)
    response = await client.get("/t/gnosjo/polls")
    assert response.status_code == 200
    check_page(response.text)
    assert f'href="/t/gnosjo/polls/{POLL}"' in response.text
    assert f'href="/t/gnosjo/polls/{PAST}/results"' in response.text
    assert "Tidigare enkäter och deras resultat" in text_of(response.text)


async def test_a_poll_is_answered_without_joining_and_invites_to_join(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _polls(gateway)
    page = await client.get(f"/t/gnosjo/polls/{POLL}")
    assert page.status_code == 200
    check_page(page.text)
    cookie = page.cookies.get("poll_browser")
    assert cookie is not None
    assert len(cookie) == 43
    assert "httponly" in page.headers["set-cookie"].lower()
    answered = await client.post(
        f"/t/gnosjo/polls/{POLL}", data={"skatepark": "yes", "where": "Centrum"}
    )
    assert answered.status_code == 200
    text = text_of(answered.text)
    assert "Tack för dina svar" in text
    assert 'href="/t/gnosjo/join?panel=unga"' in answered.text
    [command] = gateway.sent(SubmitPollAnswer)
    assert command.round_id == POLL
    assert command.answers == {"skatepark": "yes", "where": "Centrum"}
    # Only a hash of the browser's cookie leaves the portal.
    assert cookie not in command.model_dump_json()
    assert len(command.browser) == 64
    # The same browser keeps its cookie: a second answer carries the same hash.
    await client.post(f"/t/gnosjo/polls/{POLL}", data={"skatepark": "no"})
    assert gateway.sent(SubmitPollAnswer)[1].browser == command.browser


async def test_poll_refusals_are_explained(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    _polls(gateway)
    gateway.response = Outcome(status="refused", reason="already_answered")
    twice = await client.post(f"/t/gnosjo/polls/{POLL}", data={"skatepark": "yes"})
    assert twice.status_code == 409
    assert "redan svarat" in text_of(twice.text)
    gateway.response = Outcome(status="refused", reason="too_soon")
    soon = await client.post(f"/t/gnosjo/polls/{POLL}", data={"skatepark": "yes"})
    assert soon.status_code == 429
    assert "20 sekunders mellanrum" in text_of(soon.text)
    bad = await client.post(f"/t/gnosjo/polls/{POLL}", data={"skatepark": "kanske"})
    assert bad.status_code == 400
    closed = await client.post(f"/t/gnosjo/polls/{PAST}", data={"skatepark": "yes"})
    assert closed.status_code == 410


async def test_only_the_councils_polls_are_open_to_the_public(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _polls(gateway)
    # An ordinary round (not a poll) and another council's poll are unknown here.
    other = "0b3c8a9e-5a1f-4a57-9a0e-6c3d1f7e2b10"
    gateway.rounds[("gnosjo", other)] = round_view(other, state="open")
    assert (await client.get(f"/t/gnosjo/polls/{other}")).status_code == 404
    assert (await client.get(f"/t/gnosjo/polls/{other}/results")).status_code == 404
    assert (await client.get(f"/t/vaggeryd/polls/{POLL}")).status_code == 404


async def test_poll_results_say_they_are_self_selected(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _polls(gateway)
    people = [{"answers": {"skatepark": "yes"}, "age_band": "", "gender": "", "district": ""}] * 30
    figures = RoundResults(
        round=round_view(PAST, state="closed", questions=QUESTIONS),
        response_rate=0.0,
        suppression_threshold=5,
        questions=computed.question_results(QUESTIONS, tallies.sum_cells(QUESTIONS, people)),
    )

    async def get_results(query: GetResults) -> RoundResults | None:
        return figures if query.round_id == PAST else None

    monkeypatch.setattr(gateway, "get_results", get_results)
    response = await client.get(f"/t/gnosjo/polls/{PAST}/results")
    assert response.status_code == 200
    check_page(response.text)
    text = text_of(response.text)
    assert "Vem som helst kunde svara på snabbenkäten" in text
    assert "100 %" in text
