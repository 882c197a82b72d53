"""Staff pages: login with argon2, council isolation, CSRF, the round life cycle, results."""

from __future__ import annotations

import re

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from contracts.feedback import PublishedRound, PublishFeedback
from contracts.round_lifecycle import ArchiveRound, PublishResults, SubmitRound
from contracts.rounds import ApproveRound, CloseRound, CreateRound, OpenRound
from infra.store import Document
from services.portal.accounts import (
    InvalidAccount,
    authenticate,
    create_account,
    find_session,
)
from tests.portal.conftest import PASSWORD, check_page, form_login, text_of
from tests.portal.fakes import FakeGateway, round_view

pytestmark = pytest.mark.usefixtures("accounts")

ROUND = "0b3c8a9e-5a1f-4a57-9a0e-6c3d1f7e2b10"


async def login(client: httpx.AsyncClient, tenant: str, username: str, **extra: str) -> str:
    """Sign in through the login form; returns the CSRF token found on the rounds page."""
    response = await form_login(client, f"/t/{tenant}/staff/login", username, **extra)
    assert response.status_code == 303, response.text
    page = await client.get(f"/t/{tenant}/staff/")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


async def test_passwords_are_argon2_hashes(db: AsyncDatabase[Document]) -> None:
    doc = await db.accounts.find_one({"_id": "anna"})
    assert doc is not None
    assert doc["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(doc)
    assert await authenticate(db, "ANNA ", PASSWORD) is not None
    assert await authenticate(db, "anna", "wrong password") is None
    assert await authenticate(db, "nobody", PASSWORD) is None


async def test_create_account_rules(db: AsyncDatabase[Document]) -> None:
    with pytest.raises(InvalidAccount):
        await create_account(db, "x", PASSWORD, "gnosjo", "panel_manager")
    with pytest.raises(InvalidAccount):
        await create_account(db, "bertil", "short", "gnosjo", "panel_manager")
    with pytest.raises(InvalidAccount):
        await create_account(db, "bertil", PASSWORD, None, "panel_manager")
    with pytest.raises(InvalidAccount):
        await create_account(db, "bertil", PASSWORD, "gnosjo", "region_admin")


async def test_login_page_is_accessible(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/gnosjo/staff/login")
    assert response.status_code == 200
    check_page(response.text)


async def test_login_sets_a_safe_session_cookie(
    client: httpx.AsyncClient, db: AsyncDatabase[Document]
) -> None:
    response = await form_login(client, "/t/gnosjo/staff/login", "anna")
    assert response.status_code == 303
    assert response.headers["location"] == "/t/gnosjo/staff/"
    cookie = response.headers["set-cookie"]
    assert "radslag_session=" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    token = client.cookies["radslag_session"]
    assert len(token) >= 43
    # Only the hash is stored.
    assert await db.sessions.find_one({"_id": token}) is None
    assert await find_session(db, token) is not None


async def test_wrong_password_is_refused(client: httpx.AsyncClient) -> None:
    response = await form_login(client, "/t/gnosjo/staff/login", "anna", "not it")
    assert response.status_code == 400
    assert "radslag_session" not in response.headers.get("set-cookie", "")
    check_page(response.text)
    assert "Fel användarnamn eller lösenord." in response.text
    assert 'value="anna"' in response.text


async def test_staff_of_another_council_cannot_log_in(client: httpx.AsyncClient) -> None:
    response = await form_login(client, "/t/gnosjo/staff/login", "ville")
    assert response.status_code == 400
    assert "radslag_session" not in client.cookies


async def test_region_admin_can_log_into_any_council(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await login(client, "gnosjo", "region")
    assert (await client.get("/t/vaggeryd/staff/")).status_code == 200


async def test_staff_pages_require_login(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}")
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/t/gnosjo/staff/login?next=/t/gnosjo/staff/rounds/{ROUND}"
    )


async def test_login_returns_to_the_page_asked_for(client: httpx.AsyncClient) -> None:
    next_url = "/t/gnosjo/staff/rounds/new"
    form = await client.get(f"/t/gnosjo/staff/login?next={next_url}")
    assert f'name="next" value="{next_url}"' in form.text
    response = await form_login(client, "/t/gnosjo/staff/login", "anna", next=next_url)
    assert response.headers["location"] == next_url
    evil = await form_login(client, "/t/gnosjo/staff/login", "anna", next="https://evil.example/")
    assert evil.headers["location"] == "/t/gnosjo/staff/"


async def test_staff_of_a_never_see_b(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.rounds[("vaggeryd", ROUND)] = round_view(ROUND, title="Vaggeryd secret")
    csrf = await login(client, "gnosjo", "anna")
    for path in (
        "/t/vaggeryd/staff/",
        f"/t/vaggeryd/staff/rounds/{ROUND}",
        f"/t/vaggeryd/staff/rounds/{ROUND}/results",
        "/t/vaggeryd/staff/rounds/new",
    ):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/t/vaggeryd/staff/login")
        assert "Vaggeryd secret" not in response.text
    post = await client.post(f"/t/vaggeryd/staff/rounds/{ROUND}/approve", data={"csrf_token": csrf})
    assert post.status_code == 303
    assert post.headers["location"].startswith("/t/vaggeryd/staff/login")
    assert gateway.sent(ApproveRound) == []
    assert not [q for q in gateway.queries if q.tenant == "vaggeryd" and q.name != "list_tenants"]


async def test_a_round_of_another_council_is_404(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    # The rounds service filters by tenant: asked as gnosjo, vaggeryd's round is not found.
    gateway.rounds[("vaggeryd", ROUND)] = round_view(ROUND)
    await login(client, "gnosjo", "anna")
    assert (await client.get(f"/t/gnosjo/staff/rounds/{ROUND}")).status_code == 404
    assert (await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results")).status_code == 404
    assert (await client.get("/t/gnosjo/staff/rounds/not..an..id")).status_code == 404


async def test_post_without_csrf_is_403(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND)
    await login(client, "gnosjo", "anna")
    response = await client.post(f"/t/gnosjo/staff/rounds/{ROUND}/approve", data={})
    assert response.status_code == 403
    assert check_page(response.text).h1_text.strip() == "Formuläret har gått ut"
    wrong = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/approve", data={"csrf_token": "guess"}
    )
    assert wrong.status_code == 403
    assert gateway.sent(ApproveRound) == []


async def test_rounds_list(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="open")
    await login(client, "gnosjo", "anna")
    response = await client.get("/t/gnosjo/staff/")
    page = check_page(response.text)
    assert page.h1_text.strip() == "Omgångar"
    text = text_of(response.text)
    assert "Library opening hours" in text
    assert "Öppen" in text
    assert "42,5 %" in text  # 17 of 40, Swedish number format


async def test_create_round(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    csrf = await login(client, "gnosjo", "anna")
    form = await client.get("/t/gnosjo/staff/rounds/new")
    check_page(form.text)
    response = await client.post(
        "/t/gnosjo/staff/rounds/new",
        data={
            "csrf_token": csrf,
            "title": "Library opening hours",
            "purpose": "The culture committee decides in May.",
            "q1_kind": "single_choice",
            "q1_text": "Open on Sundays?",
            "q1_options": "Yes\nNo\nDon't know",
            "q2_kind": "free_text",
            "q2_text": "Anything else?",
        },
    )
    [command] = gateway.sent(CreateRound)
    assert command.tenant == "gnosjo"
    assert command.title == "Library opening hours"
    assert command.questions[0].options == ("Yes", "No", "Don't know")
    assert command.questions[1].kind == "free_text"
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/t/gnosjo/staff/rounds/{command.round_id}?notice=created"
    )
    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    check_page(page.text)
    assert "Omgången har sparats som utkast." in page.text
    assert f'action="/t/gnosjo/staff/rounds/{command.round_id}/submit"' in page.text
    assert f'href="/t/gnosjo/staff/rounds/{command.round_id}/edit"' in page.text
    # A panel manager does not approve: that is the steering group's.
    assert f'action="/t/gnosjo/staff/rounds/{command.round_id}/approve"' not in page.text
    assert command.created_by == "anna"


async def test_create_round_validation(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post(
        "/t/gnosjo/staff/rounds/new",
        data={
            "csrf_token": csrf,
            "title": "T",
            "purpose": "P",
            "q1_kind": "single_choice",
            "q1_text": "Q",
        },
    )
    assert response.status_code == 400
    check_page(response.text)
    assert "Kontrollera alternativen: minst två olika" in response.text
    assert gateway.sent(CreateRound) == []


async def test_created_round_not_yet_stored(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.apply_commands = False
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post(
        "/t/gnosjo/staff/rounds/new",
        data={
            "csrf_token": csrf,
            "title": "T",
            "purpose": "P",
            "q1_kind": "single_choice",
            "q1_text": "Q",
            "q1_options": "A\nB",
        },
    )
    assert response.headers["location"].endswith("?notice=pending")
    page = await client.get(response.headers["location"])
    assert page.status_code == 202
    assert '<meta http-equiv="refresh" content="3">' in page.text
    check_page(page.text)


@pytest.mark.parametrize(
    ("state", "action", "command", "after", "notice"),
    [
        ("draft", "submit", SubmitRound, "submitted", "Omgången har skickats till styrgruppen"),
        ("returned", "submit", SubmitRound, "submitted", "Omgången har skickats till styrgruppen"),
        ("scheduled", "open", OpenRound, "open", "Omgången är nu öppen"),
        ("open", "close", CloseRound, "closed", "Omgången är nu stängd"),
        ("closed", "publish", PublishResults, "published", "Resultaten är publicerade"),
        ("published", "archive", ArchiveRound, "archived", "Omgången har arkiverats"),
    ],
)
async def test_round_life_cycle(
    client: httpx.AsyncClient,
    gateway: FakeGateway,
    state: str,
    action: str,
    command: type[SubmitRound | OpenRound | CloseRound | PublishResults | ArchiveRound],
    after: str,
    notice: str,
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state=state)
    csrf = await login(client, "gnosjo", "anna")
    page = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}")
    assert f'action="/t/gnosjo/staff/rounds/{ROUND}/{action}"' in page.text
    response = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/{action}", data={"csrf_token": csrf}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/t/gnosjo/staff/rounds/{ROUND}?notice={after}"
    [sent] = gateway.sent(command)
    assert sent.round_id == ROUND
    assert sent.tenant == "gnosjo"
    by = {
        SubmitRound: "submitted_by",
        OpenRound: "opened_by",
        CloseRound: "closed_by",
        PublishResults: "published_by",
        ArchiveRound: "archived_by",
    }[command]
    assert getattr(sent, by) == "anna"
    shown = await client.get(response.headers["location"])
    check_page(shown.text)
    assert notice in shown.text


async def test_change_still_being_applied(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.apply_commands = False
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="draft")
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/submit", data={"csrf_token": csrf}
    )
    assert response.headers["location"].endswith("?notice=pending")
    shown = await client.get(response.headers["location"])
    assert "Din ändring har skickats och genomförs nu." in shown.text


async def test_action_in_the_wrong_state_sends_nothing(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="approved")
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/submit", data={"csrf_token": csrf}
    )
    assert response.status_code == 303
    assert gateway.sent(SubmitRound) == []


async def test_open_round_page_refreshes(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="open")
    await login(client, "gnosjo", "anna")
    page = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}")
    assert '<meta http-equiv="refresh" content="10">' in page.text
    text = text_of(page.text)
    assert "Svarsfrekvens 42,5 %" in text
    draft = round_view(ROUND, state="draft")
    gateway.rounds[("gnosjo", ROUND)] = draft
    assert "http-equiv" not in (await client.get(f"/t/gnosjo/staff/rounds/{ROUND}")).text


async def test_results_page(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="published")
    await login(client, "gnosjo", "anna")
    response = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results")
    assert response.status_code == 200
    check_page(response.text)
    text = text_of(response.text)
    assert "Resultat: Library opening hours" in text
    assert "58,8 %" in text
    assert "Fråga 1 per åldersgrupp" in text
    assert "Fråga 1 per kön" in text
    assert "Kvinna" in text  # gender groups are translated
    assert "dolt: färre än 5 svarande" in text
    assert "– betyder färre än 5 svarande i gruppen." in text
    assert "More e-books &lt;please&gt;" in response.text
    assert "Longer hours<br>on Fridays" in response.text
    assert f'action="/t/gnosjo/staff/rounds/{ROUND}/feedback"' in response.text


async def test_results_page_while_too_few_have_answered(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="open")
    gateway.withhold_results = True
    await login(client, "gnosjo", "anna")
    response = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results")
    assert response.status_code == 200
    check_page(response.text)
    text = text_of(response.text)
    assert "42,5 %" in text
    assert "Svaren visas när 20 invånare har svarat." in text
    assert "Fråga 1" not in text


@pytest.mark.parametrize("state", ["open", "closed"])
async def test_no_feedback_form_before_the_results_are_published(
    client: httpx.AsyncClient, gateway: FakeGateway, state: str
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state=state)
    csrf = await login(client, "gnosjo", "anna")
    response = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results")
    assert "/feedback" not in response.text
    assert "Återkoppling kan publiceras när resultaten har publicerats." in response.text
    refused = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/feedback", data={"csrf_token": csrf, "text": "Tack"}
    )
    assert refused.status_code == 400
    assert gateway.sent(PublishFeedback) == []


async def test_publish_feedback(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="published")
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/feedback",
        data={"csrf_token": csrf, "text": "  We will open on Sundays.  "},
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("/results?notice=feedback")
    [command] = gateway.sent(PublishFeedback)
    assert (command.round_id, command.text) == (ROUND, "We will open on Sundays.")
    gateway.published["gnosjo"] = [
        PublishedRound(
            round_id=ROUND,
            title="Library opening hours",
            invited=40,
            responded=17,
            feedback=command.text,
            published_at=command.occurred_at,
            results_published_at=command.occurred_at,
        )
    ]
    shown = await client.get(response.headers["location"])
    assert "Återkopplingen har skickats för publicering." in shown.text
    assert "<p>We will open on Sundays.</p>" in shown.text


async def test_empty_feedback_is_refused(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="published")
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/feedback", data={"csrf_token": csrf, "text": " "}
    )
    assert response.status_code == 400
    check_page(response.text)
    assert "Skriv återkopplingen innan du publicerar den." in response.text
    assert gateway.sent(PublishFeedback) == []


async def test_logout(client: httpx.AsyncClient, db: AsyncDatabase[Document]) -> None:
    csrf = await login(client, "gnosjo", "anna")
    token = client.cookies["radslag_session"]
    response = await client.post("/t/gnosjo/staff/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/t/gnosjo/staff/login?notice=logged_out"
    assert await find_session(db, token) is None
    assert (await client.get("/t/gnosjo/staff/")).status_code == 303


async def test_region_admin_pages(client: httpx.AsyncClient) -> None:
    assert (await client.get("/region/")).headers["location"] == "/region/login?next=/region/"
    refused = await form_login(client, "/region/login", "anna")
    assert refused.status_code == 400
    response = await form_login(client, "/region/login", "region")
    assert response.headers["location"] == "/region/"
    page = await client.get("/region/")
    assert page.status_code == 200
    check_page(page.text)
    text = text_of(page.text)
    assert "Gnosjö kommun" in text
    assert 'href="/t/vaggeryd/staff/"' in page.text
    assert (await client.get("/t/vaggeryd/staff/")).status_code == 200


async def test_council_staff_cannot_see_the_region_page(client: httpx.AsyncClient) -> None:
    await login(client, "gnosjo", "anna")
    response = await client.get("/region/")
    assert response.status_code == 303
