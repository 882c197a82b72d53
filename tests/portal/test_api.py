"""The JSON API: OpenAPI document, residents' endpoints, staff endpoints with cookie + CSRF."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from contracts.feedback import PublishFeedback
from contracts.personal_data import PersonalData
from contracts.recruitment import (
    EnrolMember,
    EraseMember,
    ErasureView,
    Outcome,
    PanelHistory,
    PanelMonth,
    Representativeness,
    SetPopulation,
    Share,
)
from contracts.round_lifecycle import ScheduleRound, SubmitRound
from contracts.rounds import ApproveRound, CreateRound, InvitationView, SubmitResponse
from infra.store import Document
from services.portal.accounts import create_account
from tests.portal.conftest import PASSWORD, api_login, client_for
from tests.portal.fakes import QUESTIONS, TOKEN, FakeGateway, round_view

ROUND = "5d0f3c1e-8f5e-4a8e-b3a9-0d2c4e6f8a1b"
SIGN_UP = {
    "email": "anna@example.se",
    "birth_year": 1984,
    "gender": "undisclosed",
    "district": "Hillerstorp",
    "consent": True,
}


async def test_openapi_lists_the_api_and_no_pages(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/t/{tenant}/members",
        "/api/t/{tenant}/members/confirm",
        "/api/t/{tenant}/invitations/{token}",
        "/api/t/{tenant}/invitations/{token}/response",
        "/api/t/{tenant}/session",
        "/api/t/{tenant}/rounds",
        "/api/t/{tenant}/rounds/{round_id}",
        "/api/t/{tenant}/rounds/{round_id}/submit",
        "/api/t/{tenant}/rounds/{round_id}/approve",
        "/api/t/{tenant}/rounds/{round_id}/return",
        "/api/t/{tenant}/rounds/{round_id}/schedule",
        "/api/t/{tenant}/rounds/{round_id}/extend",
        "/api/t/{tenant}/rounds/{round_id}/publish",
        "/api/t/{tenant}/rounds/{round_id}/archive",
        "/api/t/{tenant}/rounds/{round_id}/open",
        "/api/t/{tenant}/rounds/{round_id}/close",
        "/api/t/{tenant}/rounds/{round_id}/results",
        "/api/t/{tenant}/rounds/{round_id}/feedback",
        "/api/t/{tenant}/published",
    ):
        assert path in paths, path
    assert all(path.startswith("/api/") for path in paths)
    assert set(paths["/api/t/{tenant}/rounds"]) == {"get", "post"}
    assert set(paths["/api/t/{tenant}/rounds/{round_id}"]) == {"get", "put"}


async def test_sign_up(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    response = await client.post("/api/t/gnosjo/members", json=SIGN_UP)
    assert response.status_code == 202
    body = response.json()
    [command] = gateway.sent(EnrolMember)
    assert body == {
        "message_id": command.message_id,
        "member_id": command.member_id,
        "status": "done",
        "reason": None,
        "confirm_by": "link",
    }
    assert command.gender == "undisclosed"
    assert command.consent_version == "2026-1"


async def test_sign_up_without_consent_is_400(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.post("/api/t/gnosjo/members", json={**SIGN_UP, "consent": False})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"consent"}
    assert gateway.sent(EnrolMember) == []


async def test_sign_up_to_unknown_council_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/t/nowhere/members", json=SIGN_UP)
    assert response.status_code == 404
    assert response.json()["detail"] == "unknown council"


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (Outcome(status="done"), 200),
        (Outcome(status="refused", reason="unknown_token"), 404),
        (Outcome(status="refused", reason="already_used"), 409),
        (Outcome(status="pending"), 202),
    ],
)
async def test_confirm(
    client: httpx.AsyncClient, gateway: FakeGateway, outcome: Outcome, code: int
) -> None:
    gateway.membership = outcome
    response = await client.post("/api/t/gnosjo/members/confirm", json={"token": TOKEN})
    assert response.status_code == code
    body = response.json()
    assert body["status"] == outcome.status
    assert body["reason"] == outcome.reason
    assert body["message_id"]


async def test_invitation_and_response(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    assert (await client.get(f"/api/t/gnosjo/invitations/{TOKEN}")).status_code == 404
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status="open", title="T", purpose="P", questions=QUESTIONS
    )
    view = await client.get(f"/api/t/gnosjo/invitations/{TOKEN}")
    assert view.status_code == 200
    assert view.json()["questions"][0]["options"] == ["Yes", "No", "Don't know"]

    invalid = await client.post(
        f"/api/t/gnosjo/invitations/{TOKEN}/response", json={"answers": {"q1": "Maybe", "q9": "x"}}
    )
    assert invalid.status_code == 400
    assert set(invalid.json()["errors"]) == {"q1", "q9"}

    done = await client.post(
        f"/api/t/gnosjo/invitations/{TOKEN}/response", json={"answers": {"q1": "Yes"}}
    )
    assert done.status_code == 200
    [command] = gateway.sent(SubmitResponse)
    assert done.json() == {"message_id": command.message_id, "status": "done", "reason": None}

    gateway.response = Outcome(status="refused", reason="already_answered")
    again = await client.post(
        f"/api/t/gnosjo/invitations/{TOKEN}/response", json={"answers": {"q1": "Yes"}}
    )
    assert again.status_code == 409
    assert again.json()["reason"] == "already_answered"


async def test_response_to_unknown_or_answered_link(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    unknown = await client.post(
        f"/api/t/gnosjo/invitations/{TOKEN}/response", json={"answers": {"q1": "Yes"}}
    )
    assert unknown.status_code == 404
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status="answered", title="T", purpose="P", questions=QUESTIONS
    )
    answered = await client.post(
        f"/api/t/gnosjo/invitations/{TOKEN}/response", json={"answers": {"q1": "Yes"}}
    )
    assert answered.status_code == 409
    assert answered.json()["reason"] == "already_answered"
    assert gateway.sent(SubmitResponse) == []


async def test_published_is_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/t/gnosjo/published")
    assert response.status_code == 200
    assert response.json() == {"rounds": []}


@pytest.mark.usefixtures("accounts")
async def test_session_login(client: httpx.AsyncClient) -> None:
    wrong = await client.post(
        "/api/t/gnosjo/session", json={"username": "anna", "password": "nope nope"}
    )
    assert wrong.status_code == 401
    other = await client.post(
        "/api/t/gnosjo/session", json={"username": "ville", "password": "correct horse battery"}
    )
    assert other.status_code == 401
    csrf = await api_login(client, "gnosjo", "anna")
    assert len(csrf) >= 32
    assert (await client.get("/api/t/gnosjo/rounds")).status_code == 200


async def test_staff_api_requires_a_session(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/t/gnosjo/rounds")
    assert response.status_code == 401
    assert response.json()["detail"] == "not signed in for this council"


@pytest.mark.usefixtures("accounts")
async def test_staff_of_a_get_401_on_b(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.rounds[("vaggeryd", ROUND)] = round_view(ROUND)
    csrf = await api_login(client, "gnosjo", "anna")
    headers = {"X-CSRF-Token": csrf}
    assert (await client.get("/api/t/vaggeryd/rounds")).status_code == 401
    assert (await client.get(f"/api/t/vaggeryd/rounds/{ROUND}")).status_code == 401
    assert (await client.get(f"/api/t/vaggeryd/rounds/{ROUND}/results")).status_code == 401
    approve = await client.post(f"/api/t/vaggeryd/rounds/{ROUND}/approve", headers=headers)
    assert approve.status_code == 401
    assert gateway.sent(ApproveRound) == []
    # And in its own council, the other council's round simply does not exist.
    assert (await client.get(f"/api/t/gnosjo/rounds/{ROUND}")).status_code == 404


@pytest.mark.usefixtures("accounts")
async def test_staff_post_without_csrf_is_403(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await api_login(client, "gnosjo", "anna")
    body = {
        "title": "T",
        "purpose": "P",
        "questions": [{"key": "q1", "kind": "single_choice", "text": "Q", "options": ["A", "B"]}],
    }
    response = await client.post("/api/t/gnosjo/rounds", json=body)
    assert response.status_code == 403
    wrong = await client.post("/api/t/gnosjo/rounds", json=body, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    assert gateway.sent(CreateRound) == []


@pytest.mark.usefixtures("accounts")
async def test_round_work_through_the_api(
    client: httpx.AsyncClient, gateway: FakeGateway, app: FastAPI, db: AsyncDatabase[Document]
) -> None:
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    created = await client.post(
        "/api/t/gnosjo/rounds",
        headers=headers,
        json={
            "title": "Library",
            "purpose": "Opening hours",
            "questions": [
                {"key": "q1", "kind": "single_choice", "text": "Sundays?", "options": ["Y", "N"]},
                {"key": "q2", "kind": "free_text", "text": "Else?"},
            ],
        },
    )
    assert created.status_code == 202
    round_id = created.json()["round_id"]
    [command] = gateway.sent(CreateRound)
    assert created.json()["message_id"] == command.message_id

    listing = await client.get("/api/t/gnosjo/rounds")
    assert [r["round_id"] for r in listing.json()["rounds"]] == [round_id]
    view = await client.get(f"/api/t/gnosjo/rounds/{round_id}")
    assert view.json()["state"] == "draft"

    submit = await client.post(f"/api/t/gnosjo/rounds/{round_id}/submit", headers=headers)
    assert submit.status_code == 202
    assert submit.json()["message_id"] == gateway.sent(SubmitRound)[0].message_id
    twice = await client.post(f"/api/t/gnosjo/rounds/{round_id}/submit", headers=headers)
    assert twice.status_code == 409
    # The panel manager may not approve: that is the steering group's.
    refused = await client.post(f"/api/t/gnosjo/rounds/{round_id}/approve", headers=headers)
    assert refused.status_code == 403
    assert gateway.sent(ApproveRound) == []
    await create_account(db, "stig", PASSWORD, "gnosjo", "steering_group")
    async with client_for(app) as politician:
        steering = {"X-CSRF-Token": await api_login(politician, "gnosjo", "stig")}
        approve = await politician.post(
            f"/api/t/gnosjo/rounds/{round_id}/approve", headers=steering
        )
        assert approve.status_code == 202
    [approval] = gateway.sent(ApproveRound)
    assert (approval.approved_by, approval.revision) == ("stig", 0)

    early = await client.post(
        f"/api/t/gnosjo/rounds/{round_id}/feedback", headers=headers, json={"text": "Thanks"}
    )
    assert early.status_code == 409
    scheduled = await client.post(
        f"/api/t/gnosjo/rounds/{round_id}/schedule",
        headers=headers,
        json={"reminder_days": [3, 6]},
    )
    assert scheduled.status_code == 202
    [schedule] = gateway.sent(ScheduleRound)
    assert schedule.reminder_days == (3, 6)
    assert schedule.closes - schedule.open_at == timedelta(days=7)
    for action in ("open", "close", "publish"):
        response = await client.post(f"/api/t/gnosjo/rounds/{round_id}/{action}", headers=headers)
        assert response.status_code == 202, action
    results = await client.get(f"/api/t/gnosjo/rounds/{round_id}/results")
    assert results.status_code == 200
    assert results.json()["suppression_threshold"] == 5
    feedback = await client.post(
        f"/api/t/gnosjo/rounds/{round_id}/feedback", headers=headers, json={"text": "Thanks"}
    )
    assert feedback.status_code == 202
    assert gateway.sent(PublishFeedback)[0].text == "Thanks"


@pytest.mark.usefixtures("accounts")
async def test_api_round_validation(client: httpx.AsyncClient) -> None:
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    duplicate = await client.post(
        "/api/t/gnosjo/rounds",
        headers=headers,
        json={
            "title": "T",
            "purpose": "P",
            "questions": [
                {"key": "q1", "kind": "single_choice", "text": "Q", "options": ["A"]},
                {"key": "q1", "kind": "free_text", "text": "Q"},
            ],
        },
    )
    assert duplicate.status_code == 400
    assert set(duplicate.json()["errors"]) == {"questions", "q1"}
    schema = await client.post("/api/t/gnosjo/rounds", headers=headers, json={"title": "T"})
    assert schema.status_code == 422


@pytest.mark.usefixtures("accounts")
async def test_api_logout(client: httpx.AsyncClient) -> None:
    csrf = await api_login(client, "gnosjo", "anna")
    response = await client.delete("/api/t/gnosjo/session", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    client.cookies.clear()
    assert (await client.get("/api/t/gnosjo/rounds")).status_code == 401


async def test_api_errors_are_json_when_a_backend_is_down(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.down.add("list_tenants")
    response = await client.get("/api/t/gnosjo/published")
    assert response.status_code == 503
    assert "unavailable" in response.json()["detail"]


MEMBER = "5b0c7f38-3bde-4a7e-9c55-9a4f3f0b6a11"


@pytest.mark.usefixtures("accounts")
async def test_staff_ask_for_an_erasure_and_follow_it(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    path = f"/api/t/gnosjo/members/{MEMBER}/erasure"
    assert (await client.post(path)).status_code == 401  # signed out
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    assert (await client.post(path)).status_code == 403  # no CSRF token
    accepted = await client.post(path, headers=headers)
    assert accepted.status_code == 202
    [command] = gateway.sent(EraseMember)
    assert (command.tenant, command.member_id, command.requested_by) == ("gnosjo", MEMBER, "anna")
    assert (await client.get(path)).status_code == 404  # nothing recorded in the fake yet
    gateway.erasures[("gnosjo", MEMBER)] = ErasureView(
        requested_on="2026-11-24",
        requested_by="anna",
        forgotten_by=("rounds",),
        completed_on=None,
    )
    status = await client.get(path)
    assert status.status_code == 200
    assert status.json()["forgotten_by"] == ["rounds"]
    # An unknown member, and an id that is no member id.
    gateway.erase_outcome = Outcome(status="refused", reason="unknown_member")
    assert (await client.post(path, headers=headers)).status_code == 404
    bad = await client.post("/api/t/gnosjo/members/not-an-id/erasure", headers=headers)
    assert bad.status_code in (400, 422)


@pytest.mark.usefixtures("accounts")
async def test_staff_copy_everything_held_about_a_member_as_one_file(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    path = f"/api/t/gnosjo/members/{MEMBER}/data"
    assert (await client.get(path)).status_code == 401
    await api_login(client, "gnosjo", "anna")
    assert (await client.get(path)).status_code == 404  # no such member
    gateway.member_data["recruitment"] = PersonalData(
        service="recruitment",
        sections={"membership": [{"member_id": MEMBER, "email": "sara@example.se"}]},
    )
    gateway.member_data["rounds"] = PersonalData(
        service="rounds",
        sections={"invitations": [{"round": "Kvällsbussar", "answer": "answered"}]},
        note="Your answers are stored without your name.",
    )
    copy = await client.get(path)
    assert copy.status_code == 200
    assert copy.headers["content-disposition"] == (
        f'attachment; filename="radslag-gnosjo-{MEMBER}.json"'
    )
    body = copy.json()
    assert body["member_id"] == MEMBER
    assert [s["service"] for s in body["services"]] == ["recruitment", "rounds", "dispatch"]
    assert body["services"][1]["sections"]["invitations"][0]["round"] == "Kvällsbussar"
    # A service that does not answer fails the copy rather than leaving its part out.
    gateway.down.add("get_member_data")
    assert (await client.get(path)).status_code == 503


@pytest.mark.usefixtures("accounts")
async def test_staff_load_population_figures_and_read_the_gaps(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    path = "/api/t/gnosjo/population?source=SCB%202025"
    csv_text = (
        "\ufeffDistrict;Age_band;Gender;Population\nHillerstorp;16-29;Female;1 204\n;80+;male;55\n"
    )
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    headers_csv = {**headers, "content-type": "text/csv"}
    accepted = await client.put(path, content=csv_text.encode(), headers=headers_csv)
    assert accepted.status_code == 202, accepted.text
    [command] = gateway.sent(SetPopulation)
    assert command.source == "SCB 2025"
    assert [(r.district, r.age_band, r.gender, r.population) for r in command.rows] == [
        ("Hillerstorp", "16-29", "female", 1204),
        ("", "80+", "male", 55),
    ]
    # Bad files are refused whole, naming the rows.
    for body, field in (
        ("district,age_band,gender\nA,16-29,female\n", "file"),
        ("district,age_band,gender,population\nA,16-29,other,5\nA,16-29,male,many\n", "row 1"),
        ("", "file"),
    ):
        refused = await client.put(path, content=body.encode(), headers=headers_csv)
        assert refused.status_code == 400
        assert field in refused.json()["errors"]
    latin = await client.put(path, content="district\n\xe5".encode("latin-1"), headers=headers_csv)
    assert latin.status_code == 400

    assert (await client.get("/api/t/gnosjo/representativeness")).status_code == 404
    gateway.representativeness = Representativeness(
        source="SCB 2025",
        index=72.5,
        members_compared=120,
        members_not_compared=4,
        by_age_band=(),
        by_gender=(),
        by_district=(),
        recruit_next=(
            Share(
                group="Hillerstorp · 16-29 · female",
                members=2,
                panel_share=1.7,
                population_share=6.0,
                gap=-4.3,
                to_match=6,
            ),
        ),
        rejected_rows=(),
    )
    view = await client.get("/api/t/gnosjo/representativeness")
    assert view.status_code == 200
    assert view.json()["recruit_next"][0]["to_match"] == 6


@pytest.mark.usefixtures("accounts")
async def test_staff_read_the_panel_month_by_month(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    assert (await client.get("/api/t/gnosjo/panel/history")).status_code == 401
    await api_login(client, "gnosjo", "anna")
    gateway.history = PanelHistory(
        months=(PanelMonth(month="2026-11", joined=12, left=1, size_at_end=211),)
    )
    reply = await client.get("/api/t/gnosjo/panel/history?months=3")
    assert reply.status_code == 200
    assert reply.json()["months"][0]["size_at_end"] == 211
    assert gateway.queries[-1].months == 3  # type: ignore[attr-defined]
    assert (await client.get("/api/t/gnosjo/panel/history?months=0")).status_code in (400, 422)
