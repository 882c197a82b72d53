"""The methodology review and the topic backlog in the portal: the manager asks for a review and
cannot submit until it passes; the analyst reviews but cannot edit; the steering group adds topic
requests but does not turn them into rounds; staff accept, decline and make a round of one."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from contracts.round_review import ApproveMethod, AskChanges, AskReview
from contracts.rounds import Plan
from contracts.topics import AcceptTopic, DeclineTopic, PlanTopicRound, RequestTopic
from infra.store import Document
from services.portal.accounts import create_account
from tests.portal.conftest import (
    PASSWORD,
    api_login,
    check_page,
    client_for,
    form_login,
    text_of,
)
from tests.portal.fakes import FakeGateway, round_view

pytestmark = pytest.mark.usefixtures("accounts")

ROUND = "7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
URL = f"/t/gnosjo/staff/rounds/{ROUND}"


async def _signed_in(client: httpx.AsyncClient, username: str, path: str) -> str:
    assert (await form_login(client, "/t/gnosjo/staff/login", username)).status_code == 303
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


@pytest.fixture
async def more_accounts(db: AsyncDatabase[Document]) -> None:
    await create_account(db, "maja", PASSWORD, "gnosjo", "analyst")
    await create_account(db, "stig", PASSWORD, "gnosjo", "steering_group")


@pytest.mark.usefixtures("more_accounts")
async def test_ask_review_then_analyst_asks_changes_and_approves(
    app: FastAPI, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="draft")
    async with client_for(app) as web:
        csrf = await _signed_in(web, "anna", URL)
        page = await web.get(URL)
        assert f'action="{URL}/submit"' in page.text
        asked = await web.post(f"{URL}/review/ask", data={"csrf_token": csrf, "note": "Fråga 1"})
        assert asked.status_code == 303
        assert isinstance(gateway.commands[-1], AskReview)
        page = await web.get(URL)
        check_page(page.text)
        # While the review is asked, no submission: neither the button nor the route.
        assert f'action="{URL}/submit"' not in page.text
        await web.post(f"{URL}/submit", data={"csrf_token": csrf})
        assert isinstance(gateway.commands[-1], AskReview)
        # The manager does not decide the review.
        refused = await web.post(f"{URL}/review/approve", data={"csrf_token": csrf})
        assert refused.status_code == 403
    async with client_for(app) as web:
        csrf = await _signed_in(web, "maja", URL)
        page = await web.get(URL)
        check_page(page.text)
        assert f'action="{URL}/review/approve"' in page.text
        assert f"{URL}/edit" not in page.text
        assert (await web.get(f"{URL}/edit")).status_code == 403
        reviews = await web.get("/t/gnosjo/staff/reviews")
        assert ROUND in reviews.text
        changes = await web.post(
            f"{URL}/review/changes",
            data={"csrf_token": csrf, "comment": "Leder.", "q_q1": "Lägg till Vet inte."},
        )
        assert changes.status_code == 303
        sent = gateway.commands[-1]
        assert isinstance(sent, AskChanges)
        assert sent.question_comments == {"q1": "Lägg till Vet inte."}
        assert sent.reviewed_by == "maja"
    async with client_for(app) as web:
        csrf = await api_login(web, "gnosjo", "anna")
        headers = {"X-CSRF-Token": csrf}
        api = f"/api/t/gnosjo/rounds/{ROUND}/review"
        assert (await web.post(f"{api}/ask", json={}, headers=headers)).status_code == 202
        assert (await web.post(f"{api}/approve", json={}, headers=headers)).status_code == 403
    async with client_for(app) as web:
        csrf = await api_login(web, "gnosjo", "maja")
        headers = {"X-CSRF-Token": csrf}
        queue = await web.get("/api/t/gnosjo/reviews")
        assert [r["round_id"] for r in queue.json()["rounds"]] == [ROUND]
        done = await web.post(f"{api}/approve", json={"revision": 0}, headers=headers)
        assert done.status_code == 202
        assert isinstance(gateway.commands[-1], ApproveMethod)
        again = await web.post(f"{api}/approve", json={}, headers=headers)
        assert again.status_code == 409
    view = gateway.rounds[("gnosjo", ROUND)]
    assert view.review is not None
    assert view.review.status == "passed"


@pytest.mark.usefixtures("more_accounts")
async def test_backlog_roles_and_a_round_made_of_a_request(
    app: FastAPI, gateway: FakeGateway
) -> None:
    async with client_for(app) as web:
        csrf = await _signed_in(web, "stig", "/t/gnosjo/staff/topics/new")
        bad = await web.post(
            "/t/gnosjo/staff/topics/new", data={"csrf_token": csrf, "title": "", "asked_by": ""}
        )
        assert bad.status_code == 400
        check_page(bad.text)
        made = await web.post(
            "/t/gnosjo/staff/topics/new",
            data={
                "csrf_token": csrf,
                "title": "Skolskjuts",
                "question": "Hur tar sig barnen till skolan?",
                "decision": "Skolskjutsplanen",
                "needed_by": "2027-03-01",
                "asked_by": "Barn- och utbildningsnämnden",
                "contact": "eva@gnosjo.se",
            },
        )
        assert made.status_code == 303
        request = gateway.commands[-1]
        assert isinstance(request, RequestTopic)
        page = await web.get(made.headers["location"])
        check_page(page.text)
        assert "Skolskjuts" in page.text
        # The steering group does not decide requests nor make rounds of them.
        assert "rounds/new?topic=" not in page.text
        topic_url = f"/t/gnosjo/staff/topics/{request.topic_id}"
        assert (await web.post(f"{topic_url}/accept", data={"csrf_token": csrf})).status_code == 403
    async with client_for(app) as web:
        csrf = await api_login(web, "vaggeryd", "ville")
        other = await web.get(f"/api/t/vaggeryd/topics/{request.topic_id}")
        assert other.status_code == 404
        assert (await web.get("/api/t/vaggeryd/topics")).json()["topics"] == []
    async with client_for(app) as web:
        csrf = await _signed_in(web, "anna", topic_url)
        listing = await web.get("/t/gnosjo/staff/topics")
        check_page(listing.text)
        assert request.topic_id in listing.text
        declined = await web.post(
            f"{topic_url}/decline", data={"csrf_token": csrf, "reason": "Redan utrett."}
        )
        assert declined.status_code == 303
        assert isinstance(gateway.commands[-1], DeclineTopic)
        await web.post(f"{topic_url}/accept", data={"csrf_token": csrf})
        assert isinstance(gateway.commands[-1], AcceptTopic)
        builder = await web.get(f"/t/gnosjo/staff/rounds/new?topic={request.topic_id}")
        assert builder.status_code == 200
        assert 'value="Skolskjuts"' in builder.text
        assert f'name="topic" value="{request.topic_id}"' in builder.text
        created = await web.post(
            "/t/gnosjo/staff/rounds/new",
            data={
                "csrf_token": csrf,
                "topic": request.topic_id,
                "title": "Skolskjuts",
                "purpose": "Hur tar sig barnen till skolan?",
                "q1_kind": "free_text",
                "q1_text": "Hur?",
                "panel": "general",
            },
        )
        assert created.status_code == 303
        plan = next(c for c in gateway.commands if isinstance(c, PlanTopicRound))
        assert plan.topic_id == request.topic_id
        round_page = await web.get(f"/t/gnosjo/staff/rounds/{plan.round_id}")
        assert topic_url in round_page.text
        topic_page = await web.get(topic_url)
        assert plan.round_id in topic_page.text


async def test_a_plan_that_needs_a_review_offers_no_submission_until_it_passed(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(
        ROUND, state="draft", plan=Plan(review_needed=True)
    )
    await _signed_in(client, "anna", URL)
    page = await client.get(URL)
    check_page(page.text)
    assert f'action="{URL}/submit"' not in page.text
    assert f'action="{URL}/review/ask"' in page.text
    assert "Planen kräver en metodgranskning" in text_of(page.text)
