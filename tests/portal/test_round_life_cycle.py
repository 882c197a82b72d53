"""A round's life cycle in the portal: who may take which step (the steering group approves or
returns and edits nothing; panel managers do the rest; others only read), in the pages and the
API; the return's comment, the schedule's form (the council's clock, defaults, checks), moving
the closing, editing, and the round's page showing its schedule, reminders and history."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from contracts.round_lifecycle import (
    ArchiveRound,
    ExtendRound,
    PublishResults,
    ReminderView,
    ReturnRound,
    RoundSchedule,
    RoundStep,
    ScheduleRound,
    SubmitRound,
)
from contracts.rounds import (
    ApproveRound,
    CloseRound,
    CreateRound,
    EditRound,
    OpenRound,
    Question,
)
from infra.store import Document
from services.portal.accounts import create_account
from tests.portal.conftest import PASSWORD, api_login, check_page, client_for, form_login, text_of
from tests.portal.fakes import FakeGateway, round_view

pytestmark = pytest.mark.usefixtures("accounts")

ROUND = "7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
URL = f"/t/gnosjo/staff/rounds/{ROUND}"
API = f"/api/t/gnosjo/rounds/{ROUND}"
MANAGER_STEPS = [
    ("draft", "submit", SubmitRound),
    ("approved", "schedule", ScheduleRound),
    ("scheduled", "open", OpenRound),
    ("open", "close", CloseRound),
    ("closed", "publish", PublishResults),
    ("published", "archive", ArchiveRound),
]
FORM = {
    "title": "Fritidsgården",
    "purpose": "Nämnden beslutar om öppettider i mars.",
    "q1_kind": "single_choice",
    "q1_text": "Vill du ha längre öppettider?",
    "q1_options": "Ja\nNej",
    "q2_kind": "free_text",
    "q2_text": "",
    "panel": "general",
}


async def _signed_in(client: httpx.AsyncClient, username: str, path: str = URL) -> str:
    """Sign in through the form; the CSRF token found on ``path``."""
    assert (await form_login(client, "/t/gnosjo/staff/login", username)).status_code == 303
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


@pytest.fixture
async def politician(app: FastAPI, db: AsyncDatabase[Document]) -> httpx.AsyncClient:
    """A client of a steering-group member (stig) of gnosjo, not signed in yet."""
    await create_account(db, "stig", PASSWORD, "gnosjo", "steering_group")
    return client_for(app)


async def test_the_steering_group_approves_or_returns_and_drafts_nothing(
    politician: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="submitted", revision=2)
    async with politician as web:
        csrf = await _signed_in(web, "stig")
        page = await web.get(URL)
        check_page(page.text)
        assert f'action="{URL}/approve"' in page.text
        assert f'action="{URL}/return"' in page.text
        assert 'name="revision" value="2"' in page.text
        for step in ("submit", "schedule", "edit", "open", "close"):
            assert f"{URL}/{step}" not in page.text, step
        rounds = await web.get("/t/gnosjo/staff/")
        assert "/staff/rounds/new" not in rounds.text
        assert (await web.get("/t/gnosjo/staff/rounds/new")).status_code == 403
        drafted = await web.post("/t/gnosjo/staff/rounds/new", data={**FORM, "csrf_token": csrf})
        assert drafted.status_code == 403
        assert (await web.get(f"{URL}/edit")).status_code == 403

        # No comment, no return.
        empty = await web.post(f"{URL}/return", data={"csrf_token": csrf, "comment": "  "})
        assert empty.status_code == 400
        check_page(empty.text)
        assert "Skriv vad som ska ändras" in empty.text
        returned = await web.post(
            f"{URL}/return",
            data={"csrf_token": csrf, "comment": "Fråga 1 är ledande.", "revision": "2"},
        )
        assert returned.headers["location"] == f"{URL}?notice=returned"
        [back] = gateway.sent(ReturnRound)
        assert (back.returned_by, back.comment, back.revision) == ("stig", "Fråga 1 är ledande.", 2)

        gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="submitted", revision=3)
        approved = await web.post(f"{URL}/approve", data={"csrf_token": csrf, "revision": "3"})
        assert approved.headers["location"] == f"{URL}?notice=approved"
        [approval] = gateway.sent(ApproveRound)
        assert (approval.approved_by, approval.revision) == ("stig", 3)
        shown = await web.get(approved.headers["location"])
        assert "Omgången är nu godkänd och kan schemaläggas." in shown.text


@pytest.mark.parametrize(("state", "step", "command"), MANAGER_STEPS)
async def test_the_steering_group_is_refused_every_other_step(
    politician: httpx.AsyncClient, gateway: FakeGateway, state: str, step: str, command: type
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state=state)
    async with politician as web:
        csrf = await _signed_in(web, "stig")
        assert f'action="{URL}/{step}"' not in (await web.get(URL)).text
        form = {"csrf_token": csrf, "open_at": "2030-01-01T09:00", "close_at": "2030-01-09T09:00"}
        assert (await web.post(f"{URL}/{step}", data=form)).status_code == 403
        token = await api_login(web, "gnosjo", "stig")
        refused = await web.post(f"{API}/{step}", headers={"X-CSRF-Token": token})
        assert refused.status_code == 403
        assert "role" in refused.json()["detail"]
    assert gateway.sent(command) == []


async def test_the_steering_group_reads_results_and_is_refused_drafts_through_the_api(
    politician: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="closed")
    async with politician as web:
        headers = {"X-CSRF-Token": await api_login(web, "gnosjo", "stig")}
        assert (await web.get(f"{API}/results")).status_code == 200
        assert (await web.get(API)).json()["state"] == "closed"
        body = {
            "title": "T",
            "purpose": "P",
            "questions": [{"key": "q", "kind": "free_text", "text": "Q"}],
        }
        assert (
            await web.post("/api/t/gnosjo/rounds", json=body, headers=headers)
        ).status_code == 403
        assert (await web.put(API, json=body, headers=headers)).status_code == 403
    assert gateway.sent(CreateRound) == gateway.sent(EditRound) == []


@pytest.mark.parametrize("username", ["anna", "kalle"])
async def test_only_the_steering_group_approves_or_returns(
    client: httpx.AsyncClient, gateway: FakeGateway, db: AsyncDatabase[Document], username: str
) -> None:
    await create_account(db, "kalle", PASSWORD, "gnosjo", "analyst")
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="submitted")
    csrf = await _signed_in(client, username)
    page = await client.get(URL)
    assert f'action="{URL}/approve"' not in page.text
    assert "Omgången väntar på styrgruppens beslut." in text_of(page.text) or username == "anna"
    assert (await client.post(f"{URL}/approve", data={"csrf_token": csrf})).status_code == 403
    comment = {"csrf_token": csrf, "comment": "Nej."}
    assert (await client.post(f"{URL}/return", data=comment)).status_code == 403
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", username)}
    assert (await client.post(f"{API}/approve", headers=headers)).status_code == 403
    json = {"comment": "Nej."}
    assert (await client.post(f"{API}/return", headers=headers, json=json)).status_code == 403
    assert gateway.sent(ApproveRound) == gateway.sent(ReturnRound) == []


async def test_an_analyst_takes_no_step(
    client: httpx.AsyncClient, gateway: FakeGateway, db: AsyncDatabase[Document]
) -> None:
    await create_account(db, "kalle", PASSWORD, "gnosjo", "analyst")
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="draft")
    csrf = await _signed_in(client, "kalle")
    page = await client.get(URL)
    assert "Nästa steg" not in page.text
    assert (await client.post(f"{URL}/submit", data={"csrf_token": csrf})).status_code == 403
    assert (await client.get("/t/gnosjo/staff/rounds/new")).status_code == 403
    assert gateway.sent(SubmitRound) == []


async def test_the_schedule_form_reads_the_councils_clock_and_checks_the_times(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="approved")
    csrf = await _signed_in(client, "anna")
    page = await client.get(URL)
    check_page(page.text)
    assert 'type="datetime-local"' in page.text
    assert 'name="reminder_days" type="text" class="input input-short" value="3"' in page.text

    def post(**fields: str) -> dict[str, str]:
        return {"csrf_token": csrf, **fields}

    wrong = [
        ({"open_at": "soon"}, "Ange öppningen som datum och klockslag."),
        (
            {"open_at": "2030-03-10T09:00", "close_at": "2030-03-09T09:00"},
            "Omgången måste stänga efter att den öppnar",
        ),
        (
            {"open_at": "2030-03-10T09:00", "close_at": "2030-03-12T09:00", "reminder_days": "3"},
            "Varje påminnelse måste gå ut innan omgången stänger.",
        ),
        ({"open_at": "2030-03-10T09:00", "reminder_days": "tre"}, "Ange upp till fem"),
        ({"open_at": "2030-03-10T09:00", "reminder_days": "3, 3"}, "Ange upp till fem"),
    ]
    for fields, message in wrong:
        refused = await client.post(f"{URL}/schedule", data=post(**fields))
        assert refused.status_code == 400, fields
        check_page(refused.text)
        assert message in refused.text, fields
    assert gateway.sent(ScheduleRound) == []

    # 09:00 in Sweden in March is 08:00 UTC; the closing is 7 days later unless given.
    done = await client.post(
        f"{URL}/schedule", data=post(open_at="2030-03-10T09:00", reminder_days="3, 6")
    )
    assert done.headers["location"] == f"{URL}?notice=scheduled"
    [command] = gateway.sent(ScheduleRound)
    assert command.open_at == datetime(2030, 3, 10, 8, 0, tzinfo=UTC)
    assert command.closes == datetime(2030, 3, 17, 8, 0, tzinfo=UTC)
    assert (command.reminder_days, command.scheduled_by) == ((3, 6), "anna")


async def test_the_closing_moves_and_a_past_one_is_refused(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    opens = datetime.now(UTC) - timedelta(days=2)
    schedule = RoundSchedule(open_at=opens, close_at=opens + timedelta(days=7), reminder_days=())
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="open", schedule=schedule)
    csrf = await _signed_in(client, "anna")
    page = await client.get(URL)
    assert f'action="{URL}/extend"' in page.text
    assert f'action="{URL}/close"' in page.text
    past = await client.post(
        f"{URL}/extend", data={"csrf_token": csrf, "close_at": "2020-01-01T09:00"}
    )
    assert past.status_code == 400
    assert "Omgången måste stänga efter att den öppnar, och i framtiden." in past.text
    moved = await client.post(
        f"{URL}/extend", data={"csrf_token": csrf, "close_at": "2031-06-01T12:00"}
    )
    assert moved.headers["location"] == f"{URL}?notice=extended"
    [command] = gateway.sent(ExtendRound)
    assert (command.close_at, command.extended_by) == (
        datetime(2031, 6, 1, 10, 0, tzinfo=UTC),
        "anna",
    )
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    refused = await client.post(
        f"{API}/extend", headers=headers, json={"close_at": "2020-01-01T00:00:00Z"}
    )
    assert refused.status_code == 400
    naive = await client.post(
        f"{API}/extend", headers=headers, json={"close_at": "2031-01-01T00:00:00"}
    )
    assert naive.status_code == 422


async def test_an_edit_is_prefilled_and_warns_it_sends_the_round_back(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="approved")
    csrf = await _signed_in(client, "anna")
    page = await client.get(URL)
    assert "Om du ändrar omgången blir den ett utkast igen" in page.text
    form = await client.get(f"{URL}/edit")
    check_page(form.text)
    assert 'value="Library opening hours"' in form.text
    assert "Yes\nNo\nDon&#39;t know" in form.text
    assert f'action="{URL}/edit"' in form.text
    assert "När ändringarna sparas blir omgången ett utkast igen" in form.text
    bad = await client.post(f"{URL}/edit", data={**FORM, "csrf_token": csrf, "title": ""})
    assert bad.status_code == 400
    assert gateway.sent(EditRound) == []
    saved = await client.post(f"{URL}/edit", data={**FORM, "csrf_token": csrf})
    assert saved.headers["location"] == f"{URL}?notice=edited"
    [edit] = gateway.sent(EditRound)
    assert (edit.title, edit.edited_by, edit.questions[0].options) == (
        "Fritidsgården",
        "anna",
        ("Ja", "Nej"),
    )
    assert gateway.rounds[("gnosjo", ROUND)].state == "draft"
    # An open round is no longer edited; a round of any questions is edited in the builder.
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="open")
    assert (await client.get(f"{URL}/edit")).headers["location"] == URL
    many = tuple(Question(key=f"q{n}", kind="free_text", text=f"Fråga {n}") for n in range(3))
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="draft", questions=many)
    page = await client.get(f"{URL}/edit")
    assert page.status_code == 200
    assert 'value="Fråga 2"' in page.text
    assert 'name="q3_kind"' in page.text


async def test_the_page_shows_the_return_the_schedule_the_reminders_and_the_history(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    history = (
        RoundStep(step="created", state="draft", by="anna", at=at),
        RoundStep(step="submitted", state="submitted", by="anna", at=at),
        RoundStep(step="returned", state="returned", by="stig", at=at, comment="För långt."),
    )
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="returned", history=history)
    await _signed_in(client, "anna")
    text = text_of((await client.get(URL)).text)
    assert "Styrgruppen återsände omgången: För långt." in text
    assert "Återsänd av styrgruppen Återsänd stig" in text
    assert f"{URL}/submit" in (await client.get(URL)).text  # submitted again after an edit

    schedule = RoundSchedule(open_at=at, close_at=at + timedelta(days=7), reminder_days=(3, 6))
    reminders = (
        ReminderView(
            number=1,
            days=3,
            due_at=at + timedelta(days=3),
            state="sent",
            sent=31,
            sent_at=at + timedelta(days=3),
        ),
        ReminderView(
            number=2, days=6, due_at=at + timedelta(days=6), state="waiting", sent=0, sent_at=None
        ),
    )
    opened = (*history, RoundStep(step="opened", state="open", by="", at=at))
    gateway.rounds[("gnosjo", ROUND)] = round_view(
        ROUND, state="open", schedule=schedule, reminders=reminders, history=opened
    )
    page = await client.get(URL)
    check_page(page.text)
    text = text_of(page.text)
    assert "Öppnar 2 mars 2026 10:00" in text
    assert "Stänger 9 mars 2026 10:00" in text
    assert "3 dagar efter öppningen 5 mars 2026 10:00 Skickad 5 mars 2026 10:00 31" in text
    assert "6 dagar efter öppningen 8 mars 2026 10:00 Väntar –" in text
    assert "Öppnad Öppen Schemat" in text  # opened by the schedule, not by hand


async def test_the_team_page_gives_the_steering_group_role(
    client: httpx.AsyncClient, db: AsyncDatabase[Document]
) -> None:
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    page = await client.get("/t/gnosjo/staff/team")
    assert 'value="steering_group"' in page.text
    assert "Styrgrupp: läser omgångar och resultat" in page.text
    given = await client.put(
        "/api/t/gnosjo/team/stina", headers=headers, json={"role": "steering_group", "panels": []}
    )
    assert given.status_code == 200, given.text
    assert given.json()["role"] == "steering_group"
