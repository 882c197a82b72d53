"""Every text field is trimmed before it is checked, in the JSON API and on the HTML pages.

A text of only spaces is empty: the API answers 422 (never 500) and sends nothing; a page
shows the form again with its error. Text with spaces around it is sent without them.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contracts.feedback import PublishFeedback
from contracts.recruitment import EnrolMember
from contracts.rounds import CreateRound, InvitationView, SubmitResponse
from tests.portal.conftest import api_login, check_page
from tests.portal.fakes import QUESTIONS, TOKEN, FakeGateway, round_view
from tests.portal.test_staff import login

ROUND = "7e1d2c3b-4a59-4f68-9e7d-1c2b3a4f5e6d"
BLANK = "  \t "


def round_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Library opening hours",
        "purpose": "The culture committee decides in May.",
        "questions": [
            {
                "key": "q1",
                "kind": "single_choice",
                "text": "Open on Sundays?",
                "options": ["Y", "N"],
            },
            {"key": "q2", "kind": "free_text", "text": "Anything else?"},
        ],
    }
    body.update(changes)
    return body


def invalid_fields(response: httpx.Response) -> set[tuple[str | int, ...]]:
    return {tuple(error["loc"]) for error in response.json()["detail"]}


# -- JSON API ------------------------------------------------------------------------------

ONE_LINE_CASES = [
    ({"title": "Buss\r\nBcc: evil@example.se"}, ("body", "title")),
    ({"title": "Buss\x00"}, ("body", "title")),
    ({"purpose": "Plan\x1b[2J"}, ("body", "purpose")),
    (
        {"questions": [{"key": "q1", "kind": "free_text", "text": "Fråga\nX-Header: 1"}]},
        ("body", "questions", 0, "text"),
    ),
]
"""Texts that would break a mail header or a page: line breaks where one line belongs, and
control characters anywhere."""
ONE_LINE_IDS = ["title-crlf", "title-nul", "purpose-escape", "question-newline"]


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"title": BLANK}, ("body", "title")),
        ({"purpose": "   "}, ("body", "purpose")),
        (
            {"questions": [{"key": "q1", "kind": "free_text", "text": "   "}]},
            ("body", "questions", 0, "text"),
        ),
        (
            {
                "questions": [
                    {"key": "q1", "kind": "single_choice", "text": "Q", "options": ["Y", "  "]}
                ]
            },
            ("body", "questions", 0, "options", 1),
        ),
        *ONE_LINE_CASES,
    ],
    ids=["title", "purpose", "question-text", "option", *ONE_LINE_IDS],
)
async def test_api_refuses_a_blank_round_text_or_a_line_break_where_one_line_belongs(
    client: httpx.AsyncClient,
    gateway: FakeGateway,
    changes: dict[str, Any],
    loc: tuple[str | int, ...],
) -> None:
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    response = await client.post(
        "/api/t/gnosjo/rounds", headers=headers, json=round_body(**changes)
    )
    assert response.status_code == 422, response.text
    assert invalid_fields(response) == {loc}
    assert gateway.sent(CreateRound) == []


@pytest.mark.usefixtures("accounts")
async def test_api_sends_round_texts_trimmed(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    body = round_body(
        title="  Library opening hours \n",
        purpose="\tThe culture committee decides in May.  ",
        questions=[
            {
                "key": "q1",
                "kind": "single_choice",
                "text": "  Open on Sundays? ",
                "options": [" Yes", "No  ", " Don't know "],
            },
            {"key": "q2", "kind": "free_text", "text": " Anything else?\n"},
        ],
    )
    response = await client.post("/api/t/gnosjo/rounds", headers=headers, json=body)
    assert response.status_code == 202, response.text
    [command] = gateway.sent(CreateRound)
    assert command.title == "Library opening hours"
    assert command.purpose == "The culture committee decides in May."
    assert command.questions[0].text == "Open on Sundays?"
    assert command.questions[0].options == ("Yes", "No", "Don't know")
    assert command.questions[1].text == "Anything else?"


@pytest.mark.usefixtures("accounts")
async def test_api_options_that_are_the_same_once_trimmed_are_duplicates(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    questions = [{"key": "q1", "kind": "single_choice", "text": "Q", "options": ["Y", " Y "]}]
    response = await client.post(
        "/api/t/gnosjo/rounds", headers=headers, json=round_body(questions=questions)
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"q1"}
    assert gateway.sent(CreateRound) == []


@pytest.mark.usefixtures("accounts")
async def test_api_feedback_is_trimmed_and_blank_feedback_is_422(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="published")
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    url = f"/api/t/gnosjo/rounds/{ROUND}/feedback"
    blank = await client.post(url, headers=headers, json={"text": BLANK})
    assert blank.status_code == 422
    assert invalid_fields(blank) == {("body", "text")}
    assert gateway.sent(PublishFeedback) == []
    sent = await client.post(url, headers=headers, json={"text": "  We will open on Sundays. "})
    assert sent.status_code == 202
    assert gateway.sent(PublishFeedback)[0].text == "We will open on Sundays."


SIGN_UP = {
    "email": "anna@example.se",
    "birth_year": 1984,
    "gender": "undisclosed",
    "district": "Hillerstorp",
    "consent": True,
}


@pytest.mark.parametrize("field", ["district"])
async def test_api_sign_up_with_a_blank_text_is_422(
    client: httpx.AsyncClient, gateway: FakeGateway, field: str
) -> None:
    response = await client.post("/api/t/gnosjo/members", json={**SIGN_UP, field: BLANK})
    assert response.status_code == 422
    assert invalid_fields(response) == {("body", field)}
    assert gateway.sent(EnrolMember) == []


async def test_api_sign_up_is_trimmed(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    response = await client.post(
        "/api/t/gnosjo/members",
        json={**SIGN_UP, "email": " anna@example.se ", "district": "  Hillerstorp  "},
    )
    assert response.status_code == 202, response.text
    [command] = gateway.sent(EnrolMember)
    assert command.email == "anna@example.se"
    assert command.district == "Hillerstorp"


async def test_api_answers_are_trimmed(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status="open", title="T", purpose="P", questions=QUESTIONS
    )
    response = await client.post(
        f"/api/t/gnosjo/invitations/{TOKEN}/response",
        json={"answers": {"q1": " Yes ", "q2": "  More books  "}},
    )
    assert response.status_code == 200, response.text
    [command] = gateway.sent(SubmitResponse)
    assert command.answers == {"q1": "Yes", "q2": "More books"}


# -- HTML pages ----------------------------------------------------------------------------

ROUND_FORM = {
    "title": "Library opening hours",
    "purpose": "The culture committee decides in May.",
    "q1_kind": "single_choice",
    "q1_text": "Open on Sundays?",
    "q1_options": "Yes\nNo",
    "q2_kind": "free_text",
    "q2_text": "",
}


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize(
    ("field", "message"),
    [("title", "Ange en rubrik."), ("q1_text", "Skriv frågan, eller ta bort den.")],
)
async def test_round_form_refuses_a_text_of_only_spaces(
    client: httpx.AsyncClient, gateway: FakeGateway, field: str, message: str
) -> None:
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post(
        "/t/gnosjo/staff/rounds/new", data={**ROUND_FORM, field: BLANK, "csrf_token": csrf}
    )
    assert response.status_code == 400
    check_page(response.text)
    assert message in response.text
    assert gateway.sent(CreateRound) == []


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (
            {
                "title": "  Library opening hours  ",
                "purpose": " The culture committee decides in May.\n",
                "q1_kind": "single_choice",
                "q1_text": "\tOpen on Sundays? ",
                "q1_options": "  Yes \n\n   \n No",
                "q2_kind": "free_text",
                "q2_text": "  Anything else?  ",
            },
            {
                "title": "Library opening hours",
                "purpose": "The culture committee decides in May.",
                "q1": "Open on Sundays?",
                "options": ("Yes", "No"),
                "q2": "Anything else?",
            },
        ),
        (
            # Titles and questions become mail subjects and headings: kept on one line.
            {
                **ROUND_FORM,
                "title": "Buss\r\nBcc: evil@example.se\x00",
                "purpose": "Rad ett\r\nRad två\x07",
                "q1_kind": "single_choice",
                "q1_text": "Fråga\nX-Header: 1",
            },
            {
                "title": "Buss Bcc: evil@example.se",
                "purpose": "Rad ett\nRad två",
                "q1": "Fråga X-Header: 1",
            },
        ),
    ],
    ids=["trimmed", "one-line"],
)
async def test_round_form_sends_texts_trimmed(
    client: httpx.AsyncClient,
    gateway: FakeGateway,
    form: dict[str, str],
    expected: dict[str, Any],
) -> None:
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post("/t/gnosjo/staff/rounds/new", data={**form, "csrf_token": csrf})
    assert response.status_code == 303, response.text
    [command] = gateway.sent(CreateRound)
    assert command.title == expected["title"]
    assert command.purpose == expected["purpose"]
    assert command.questions[0].text == expected["q1"]
    if "options" in expected:
        assert command.questions[0].options == expected["options"]
    if "q2" in expected:
        assert command.questions[1].text == expected["q2"]


@pytest.mark.usefixtures("accounts")
async def test_feedback_page_sends_feedback_trimmed(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="published")
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/feedback",
        data={"csrf_token": csrf, "text": "\n  We will open on Sundays.  \n"},
    )
    assert response.status_code == 303
    assert gateway.sent(PublishFeedback)[0].text == "We will open on Sundays."


async def test_join_page_refuses_a_district_of_only_spaces(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.post(
        "/t/gnosjo/join",
        data={
            "email": " anna@example.se ",
            "birth_year": "1984",
            "gender": "female",
            "district": BLANK,
            "consent": "yes",
        },
    )
    assert response.status_code == 400
    check_page(response.text)
    assert "Ange vilken del av kommunen du bor i." in response.text
    assert gateway.sent(EnrolMember) == []


async def test_answer_page_trims_answers(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status="open", title="T", purpose="P", questions=QUESTIONS
    )
    response = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"q1": " No ", "q2": BLANK})
    assert response.status_code == 200, response.text
    [command] = gateway.sent(SubmitResponse)
    assert command.answers == {"q1": "No"}
