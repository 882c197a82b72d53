"""Public pages: councils, sign-up, confirmation, personal answer links, published results."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from contracts.feedback import PublishedRound
from contracts.recruitment import (
    ConfirmMembership,
    EnrolMember,
    LeavePanel,
    Outcome,
    SignUpView,
    TenantView,
)
from contracts.rounds import InvitationView, SubmitResponse
from services.portal.settings import PortalSettings
from tests.portal.conftest import check_page, client_for, running, text_of
from tests.portal.fakes import QUESTIONS, TOKEN, FakeGateway

JOIN = {
    "email": "anna@example.se",
    "birth_year": "1984",
    "gender": "female",
    "district": "Hillerstorp",
    "consent": "yes",
}


def invitation(status: str = "open") -> InvitationView:
    return InvitationView(
        status=status,
        title="Library opening hours",
        purpose="The culture committee decides on opening hours in May.",
        questions=QUESTIONS,
    )


async def test_front_page_lists_councils(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    check_page(response.text)
    assert 'href="/t/gnosjo/"' in response.text
    assert "Vaggeryds kommun" in response.text


async def test_council_home_links_to_join_and_results(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/gnosjo/")
    assert response.status_code == 200
    check_page(response.text)
    assert 'href="/t/gnosjo/join"' in response.text
    assert 'href="/t/gnosjo/results"' in response.text


@pytest.mark.parametrize(
    "path", ["/t/nowhere/", "/t/nowhere/join", "/t/Bad.Slug/", "/t/nowhere/a/" + TOKEN]
)
async def test_unknown_council_is_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    page = check_page(response.text)
    assert page.h1_text.strip() == "Kommunen hittades inte"


async def test_unknown_page_is_a_friendly_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert check_page(response.text).h1_text.strip() == "Sidan hittades inte"


async def test_tenant_list_is_cached(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    for _ in range(3):
        await client.get("/t/gnosjo/")
    assert len([q for q in gateway.queries if q.name == "list_tenants"]) == 1
    # Unknown slugs refresh the list at most once a second.
    for _ in range(3):
        assert (await client.get("/t/nowhere/")).status_code == 404
    assert len([q for q in gateway.queries if q.name == "list_tenants"]) <= 2


async def test_a_new_council_is_found_without_waiting_for_the_cache(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await client.get("/")
    gateway.tenants.append(
        TenantView(tenant="kinda", display_name="Kinda kommun", members_active=0, members_pending=0)
    )
    await asyncio.sleep(1.05)
    assert (await client.get("/t/kinda/")).status_code == 200


async def test_down_recruitment_gives_a_503_page(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.down.add("list_tenants")
    response = await client.get("/t/gnosjo/")
    assert response.status_code == 503
    assert check_page(response.text).h1_text.strip() == "Tillfälligt otillgänglig"


async def test_join_form_is_accessible(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/gnosjo/join")
    page = check_page(response.text)
    # Four genders, yes or no to working for the council, and e-mail or SMS for messages.
    assert page.radios == 8
    assert "2026-1" in response.text
    assert "politiska åsikter" in response.text


async def test_join_sends_enrol_member(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    response = await client.post("/t/gnosjo/join", data=JOIN)
    assert response.status_code == 303
    assert response.headers["location"] == "/t/gnosjo/join/sent"
    [command] = gateway.sent(EnrolMember)
    assert command.tenant == "gnosjo"
    assert command.email == "anna@example.se"
    assert command.birth_year == 1984
    assert command.gender == "female"
    assert command.district == "Hillerstorp"
    assert command.consent_version == "2026-1"
    assert command.locale == "sv"
    sent = await client.get(response.headers["location"])
    assert sent.status_code == 200
    assert check_page(sent.text).h1_text.strip() == "Titta i din e-post"


async def test_join_in_english_records_the_locale(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await client.post("/t/gnosjo/join?lang=en", data=JOIN)
    [command] = gateway.sent(EnrolMember)
    assert command.locale == "en"


async def test_join_errors_rerender_the_form(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.post(
        "/t/gnosjo/join", data={**JOIN, "email": "nope", "birth_year": "abc"}
    )
    assert response.status_code == 400
    check_page(response.text)
    text = text_of(response.text)
    assert "Något behöver rättas" in text
    assert "Ange en e-postadress i formen namn@exempel.se." in text
    assert 'href="#email"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="Hillerstorp"' in response.text  # what was typed is kept
    assert gateway.sent(EnrolMember) == []


async def test_join_requires_consent(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    data = {k: v for k, v in JOIN.items() if k != "consent"}
    response = await client.post("/t/gnosjo/join", data=data)
    assert response.status_code == 400
    assert "Du behöver lämna ditt samtycke" in response.text
    assert gateway.sent(EnrolMember) == []


async def test_join_is_rate_limited(settings: PortalSettings, gateway: FakeGateway) -> None:
    limited = settings.model_copy(update={"portal_rate_limit": 2})
    async with running(limited, gateway) as app, client_for(app) as client:
        statuses = [(await client.post("/t/gnosjo/join", data=JOIN)).status_code for _ in range(3)]
        assert statuses == [303, 303, 429]
        response = await client.post("/t/gnosjo/join", data=JOIN)
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert check_page(response.text).h1_text.strip() == "För många försök"
        assert len(gateway.sent(EnrolMember)) == 2
        # Other endpoints have their own allowance.
        assert (await client.get("/t/gnosjo/join")).status_code == 200


async def test_opening_the_confirm_link_shows_a_button_and_confirms_nothing(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.get(f"/t/gnosjo/join/confirm/{TOKEN}")
    assert response.status_code == 200
    assert check_page(response.text).h1_text.strip() == "Bekräfta ditt medlemskap"
    assert f'<form method="post" action="/t/gnosjo/join/confirm/{TOKEN}">' in response.text
    assert gateway.sent(ConfirmMembership) == []


async def test_the_confirm_page_shows_the_details_being_confirmed(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.sign_up = SignUpView(
        email="sara@example.se",
        birth_year=1961,
        gender="other",
        district="Hillerstorp",
        consent_version="2026-1",
    )
    page = text_of((await client.get(f"/t/gnosjo/join/confirm/{TOKEN}")).text)
    for shown in ("sara@example.se", "1961", "Annat", "Hillerstorp", "2026-1"):
        assert shown in page
    assert "bekräfta inte" in page
    # A link that confirms nothing (unknown, used or expired) says so at once.
    gateway.sign_up = None
    gone = await client.get(f"/t/gnosjo/join/confirm/{TOKEN}")
    assert gone.status_code == 404
    assert '<form method="post"' not in gone.text


async def test_confirm_done(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    response = await client.post(f"/t/gnosjo/join/confirm/{TOKEN}")
    assert response.status_code == 200
    assert check_page(response.text).h1_text.strip() == "Välkommen till medborgarpanelen"
    [command] = gateway.sent(ConfirmMembership)
    assert command.token == TOKEN
    # The outcome was pushed: the portal asked nothing.
    assert [q for q in gateway.queries if q.name == "membership_outcome"] == []


async def test_confirm_asks_once_when_no_outcome_is_pushed(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.push_outcomes = False  # e.g. the portal replica restarted, or the push was lost
    response = await client.post(f"/t/gnosjo/join/confirm/{TOKEN}")
    assert response.status_code == 200
    [command] = gateway.sent(ConfirmMembership)
    asked = [q for q in gateway.queries if q.name == "membership_outcome"]
    assert len(asked) == 1
    assert asked[0].command_id == command.message_id  # type: ignore[attr-defined]
    assert asked[0].correlation_id == command.correlation_id


async def test_confirm_refused_unknown_is_404(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.membership = Outcome(status="refused", reason="unknown_token")
    response = await client.post(f"/t/gnosjo/join/confirm/{TOKEN}")
    assert response.status_code == 404
    assert check_page(response.text).h1_text.strip() == "Länken är inte giltig"


async def test_confirm_refused_already_used(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.membership = Outcome(status="refused", reason="already_used")
    response = await client.post(f"/t/gnosjo/join/confirm/{TOKEN}")
    assert response.status_code == 409
    assert check_page(response.text).h1_text.strip() == "Länken har redan använts"


async def test_confirm_pending(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.membership = Outcome(status="pending")
    response = await client.post(f"/t/gnosjo/join/confirm/{TOKEN}")
    assert response.status_code == 202
    assert check_page(response.text).h1_text.strip() == "Vi behandlar din bekräftelse"
    # No polling: after the wait, one question to the owner.
    assert len([q for q in gateway.queries if q.name == "membership_outcome"]) == 1


async def test_confirm_with_recruitment_down_says_processing(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await client.get("/")  # cache the councils first
    gateway.down.add("membership_outcome")
    gateway.push_outcomes = False
    response = await client.post(f"/t/gnosjo/join/confirm/{TOKEN}")
    assert response.status_code == 202


async def test_confirm_malformed_token_sends_nothing(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.get("/t/gnosjo/join/confirm/short")
    assert response.status_code == 404
    assert gateway.sent(ConfirmMembership) == []


@pytest.mark.parametrize(
    ("status", "code", "heading"),
    [
        ("answered", 409, "Du har redan svarat"),
        ("closed", 410, "Den här omgången är stängd"),
    ],
)
async def test_answer_page_states(
    client: httpx.AsyncClient, gateway: FakeGateway, status: str, code: int, heading: str
) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = invitation(status)
    response = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert response.status_code == code
    assert check_page(response.text).h1_text.strip() == heading


async def test_answer_page_unknown_link(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert response.status_code == 404
    assert check_page(response.text).h1_text.strip() == "Okänd länk"


async def test_answer_page_of_another_council_is_unknown(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.invitations[("vaggeryd", TOKEN)] = invitation()
    response = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert response.status_code == 404


async def test_open_answer_page_shows_the_form(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = invitation()
    response = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert response.status_code == 200
    page = check_page(response.text)
    assert page.h1_text.strip() == "Library opening hours"
    assert "The culture committee decides on opening hours in May." in response.text
    assert page.radios == 3
    assert '<textarea id="q2-text" name="q2"' in response.text
    assert 'maxlength="2000"' in response.text
    # The token in the path goes to no other site; and the portal's own forms still carry
    # their origin ("no-referrer" makes browsers send "Origin: null", refused as foreign).
    assert response.headers["referrer-policy"] == "same-origin"
    assert '<meta name="referrer" content="same-origin">' in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_answer_post_done(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = invitation()
    response = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"q1": "Yes", "q2": "More books"})
    assert response.status_code == 200
    assert check_page(response.text).h1_text.strip() == "Tack för dina svar"
    [command] = gateway.sent(SubmitResponse)
    assert command.token == TOKEN
    assert command.answers == {"q1": "Yes", "q2": "More books"}
    assert [q for q in gateway.queries if q.name == "response_outcome"] == []


async def test_answer_post_already_answered_is_409(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = invitation()
    gateway.response = Outcome(status="refused", reason="already_answered")
    response = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"q1": "No"})
    assert response.status_code == 409
    assert check_page(response.text).h1_text.strip() == "Du har redan svarat"


async def test_answer_post_pending(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = invitation()
    gateway.response = Outcome(status="pending")
    response = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"q1": "No"})
    assert response.status_code == 202
    assert check_page(response.text).h1_text.strip() == "Vi behandlar dina svar"


async def test_answer_post_other_refusal(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = invitation()
    gateway.response = Outcome(status="refused", reason="invalid_answers")
    response = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"q1": "No"})
    assert response.status_code == 422
    assert check_page(response.text).h1_text.strip() == "Dina svar kunde inte sparas"


async def test_answer_post_validates_before_sending(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = invitation()
    response = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"q1": "Maybe", "q2": "x" * 2001})
    assert response.status_code == 400
    check_page(response.text)
    assert "Välj ett av alternativen." in response.text
    assert "Ditt svar är för långt." in response.text
    assert gateway.sent(SubmitResponse) == []

    empty = await client.post(f"/t/gnosjo/a/{TOKEN}", data={})
    assert empty.status_code == 400
    assert "Svara på minst en fråga" in empty.text


async def test_answer_post_to_an_answered_invitation_sends_nothing(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = invitation("answered")
    response = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"q1": "No"})
    assert response.status_code == 409
    assert gateway.sent(SubmitResponse) == []


async def test_public_results(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.published["gnosjo"] = [
        PublishedRound(
            round_id="r1",
            title="Library opening hours",
            invited=40,
            responded=17,
            feedback="We will open on Sundays.\n\nFrom September.",
            published_at=datetime(2026, 5, 2, 12, 0, tzinfo=UTC),
            results_published_at=datetime(2026, 4, 20, 12, 0, tzinfo=UTC),
        ),
        PublishedRound(
            round_id="r2",
            title="Results out, the council still to answer",
            invited=12,
            responded=9,
            feedback=None,
            published_at=None,
            results_published_at=datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        ),
        PublishedRound(
            round_id="r3",
            title="Closed, results not yet published",
            invited=10,
            responded=1,
            feedback=None,
            published_at=None,
        ),
    ]
    response = await client.get("/t/gnosjo/results")
    assert response.status_code == 200
    check_page(response.text)
    text = text_of(response.text)
    assert "Library opening hours" in text
    assert "17 medlemmar svarade, av 40 inbjudna. Publicerad" in text  # sentences apart
    assert "<p>We will open on Sundays.</p><p>From September.</p>" in response.text
    # Rounds whose results are published are listed, with the council's feedback once given;
    # a closed round whose results are not published is not.
    assert "Results out, the council still to answer" in text
    assert "9 medlemmar svarade, av 12 inbjudna." in text
    assert "Closed, results not yet published" not in text
    [query] = [q for q in gateway.queries if q.name == "list_published"]
    assert query.only_published is True  # type: ignore[attr-defined]


async def test_public_results_empty(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/gnosjo/results?lang=en")
    assert "No results have been published yet." in response.text


async def test_html_is_escaped(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status="open",
        title="<script>alert(1)</script>",
        purpose="<b>bold</b>",
        questions=QUESTIONS,
    )
    response = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert "content-security-policy" in response.headers


async def test_a_council_with_districts_offers_its_list_and_takes_only_its_names(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.tenants[1] = gateway.tenants[1].model_copy(
        update={"districts": ("Vaggeryd", "Skillingaryd")}
    )
    form = await client.get("/t/vaggeryd/join")
    assert '<select id="district"' in form.text
    assert '<option value="Skillingaryd"' in form.text
    check_page(form.text)

    stray = await client.post("/t/vaggeryd/join", data={**JOIN, "district": "Storgatan 4"})
    assert stray.status_code == 400
    assert "Välj din kommundel i listan" in stray.text
    assert gateway.sent(EnrolMember) == []

    listed = await client.post("/t/vaggeryd/join", data={**JOIN, "district": " skillingaryd "})
    assert listed.status_code == 303
    [command] = gateway.sent(EnrolMember)
    assert command.district == "Skillingaryd"  # as the council's list names it

    api = await client.post(
        "/api/t/vaggeryd/members",
        json={
            "email": "b@example.se",
            "birth_year": 1990,
            "gender": "male",
            "district": "Nowhere",
            "consent": True,
        },
    )
    assert api.status_code == 400
    assert "district" in api.text


async def test_the_link_to_leave_asks_first_and_then_leaves(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    page = await client.get(f"/t/gnosjo/leave/{TOKEN}")
    assert page.status_code == 200
    check_page(page.text)
    assert f'<form method="post" action="/t/gnosjo/leave/{TOKEN}">' in page.text
    assert "raderas" in text_of(page.text)
    assert gateway.sent(LeavePanel) == []  # opening the link changes nothing

    left = await client.post(f"/t/gnosjo/leave/{TOKEN}")
    assert left.status_code == 200
    assert "Du har lämnat medborgarpanelen" in text_of(left.text)
    [command] = gateway.sent(LeavePanel)
    assert (command.tenant, command.token) == ("gnosjo", TOKEN)

    gateway.leave_outcome = Outcome(status="refused", reason="unknown_token")
    again = await client.post(f"/t/gnosjo/leave/{TOKEN}")
    assert again.status_code == 404
    assert "fungerar inte längre" in text_of(again.text)
    assert (await client.get("/t/gnosjo/leave/short")).status_code == 404


async def test_join_records_where_people_heard_of_the_panel_and_drops_bots(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    answered = {**JOIN, "heard_from": "newspaper", "works_for_council": "yes"}
    response = await client.post("/t/gnosjo/join", data=answered)
    assert response.status_code == 303
    [command] = gateway.sent(EnrolMember)
    assert (command.heard_from, command.works_for_council) == ("newspaper", True)
    # Both are optional.
    await client.post("/t/gnosjo/join", data=JOIN)
    assert (
        gateway.sent(EnrolMember)[1].heard_from,
        gateway.sent(EnrolMember)[1].works_for_council,
    ) == ("", None)
    wrong = await client.post("/t/gnosjo/join", data={**JOIN, "heard_from": "radio"})
    assert wrong.status_code == 400
    # A bot fills in the field no person sees: told what a person would be, nothing sent.
    bot = await client.post("/t/gnosjo/join", data={**JOIN, "website": "http://spam.example"})
    assert bot.status_code == 303
    assert bot.headers["location"] == "/t/gnosjo/join/sent"
    assert len(gateway.sent(EnrolMember)) == 2
