"""The answer page for every kind of question, its skip logic and its errors."""

from __future__ import annotations

import httpx

from contracts.rounds import InvitationView, Promise, Question, SubmitResponse
from tests.portal.conftest import check_page, text_of
from tests.portal.fakes import TOKEN, FakeGateway
from tests.unit.test_questions import ALL


def _open(gateway: FakeGateway, questions: tuple[Question, ...] = ALL) -> None:
    gateway.tenants[0] = gateway.tenants[0].model_copy(update={"districts": ("Kisa", "Rimforsa")})
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status="open", title="Parken", purpose="Planen för parken.", questions=questions
    )


async def test_every_kind_of_question_has_its_own_accessible_input(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    response = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert response.status_code == 200
    page = check_page(response.text)  # every input has a label, radios a legend
    html = response.text
    assert 'type="radio" id="park-1" name="park" value="yes"' in html
    assert 'type="checkbox" id="how-2" name="how" value="Bike"' in html
    assert 'name="happy" value="5"' in html
    assert 'inputmode="numeric"' in html
    assert '<select id="rank-0" name="rank-0"' in html
    assert '<select id="place-1-district" name="place-1-district"' in html
    assert "<option>Rimforsa</option>" in html
    assert 'maxlength="100"' in html  # the free-text question's own limit
    # Skip logic: the page names the condition (read aloud, and shown without scripts).
    text = text_of(html)
    assert "Svara bara om ditt svar på fråga 1 var: Ja." in text
    assert 'data-show-if="park"' in html
    assert '<script src="/static/answer.js" defer></script>' in html
    assert page.radios >= 7
    assert response.headers["content-security-policy"].count("script-src 'self'") == 1


async def test_a_form_of_every_kind_is_sent_as_the_contract_takes_it(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    response = await client.post(
        f"/t/gnosjo/a/{TOKEN}",
        data={
            "park": "yes",
            "how": ["Bus", "Walk"],
            "happy": "4",
            "visits": "12",
            "why": "Lugnt",
            "rank-0": "2",
            "rank-1": "1",
            "rank-2": "3",
            "place-0-district": "Kisa",
            "place-0-category": "Nice",
            "place-0-comment": "Dammen",
            "place-1-district": "",
        },
    )
    assert response.status_code == 200, text_of(response.text)
    [command] = gateway.sent(SubmitResponse)
    # Cleaned as the rounds service takes them: picks in the question's order, numbers.
    assert command.model_dump(mode="json", exclude_none=True)["answers"] == {
        "park": "yes",
        "how": ["Walk", "Bus"],
        "happy": 4,
        "visits": 12,
        "why": "Lugnt",
        "rank": ["Lights", "Toilets", "Benches"],
        "place": [{"district": "Kisa", "category": "Nice", "comment": "Dammen"}],
    }


async def test_answers_to_questions_the_skip_logic_hides_are_dropped_from_the_form(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    response = await client.post(
        f"/t/gnosjo/a/{TOKEN}", data={"park": "no", "how": ["Walk"], "bike": "Racks"}
    )
    assert response.status_code == 200
    [command] = gateway.sent(SubmitResponse)
    assert command.answers == {"park": "no"}


async def test_bad_answers_are_shown_next_to_their_question(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    response = await client.post(
        f"/t/gnosjo/a/{TOKEN}",
        data={
            "park": "yes",
            "how": ["Walk", "Bike", "Bus"],
            "happy": "9",
            "visits": "2,5",
            "why": "x" * 101,
            "rank-0": "1",
            "rank-1": "1",
            "place-0-category": "Nice",
        },
    )
    assert response.status_code == 400
    check_page(response.text)
    text = text_of(response.text)
    for message in (
        "Välj färre av alternativen.",
        "Ange ett tal inom det angivna intervallet.",
        "Ange ett heltal.",
        "Ditt svar är för långt.",
        "Ge varje alternativ en egen plats.",
        "Välj en plats för varje markering, eller lämna raden tom.",
    ):
        assert message in text
    # What the resident wrote stays in the form.
    assert 'value="Bike" checked' in response.text
    assert gateway.sent(SubmitResponse) == []


async def test_the_api_takes_every_kind_and_refuses_hidden_and_bad_answers(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    url = f"/api/t/gnosjo/invitations/{TOKEN}/response"
    bad = await client.post(url, json={"answers": {"park": "no", "how": ["Walk"], "happy": 0}})
    assert bad.status_code == 400
    errors = bad.json()["errors"]
    assert set(errors) == {"how", "happy"}
    assert gateway.sent(SubmitResponse) == []
    good = await client.post(
        url,
        json={
            "answers": {
                "park": "yes",
                "how": ["Walk"],
                "visits": 3,
                "rank": ["Benches", "Toilets", "Lights"],
                "place": [{"lat": 57.7, "lon": 14.1, "comment": "Här"}],
            }
        },
    )
    assert good.status_code == 200, good.text
    [command] = gateway.sent(SubmitResponse)
    assert command.answers["visits"] == 3
    assert command.answers["rank"] == ("Benches", "Toilets", "Lights")


async def test_residents_see_the_rounds_promise_before_the_questions(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    view = gateway.invitations[("gnosjo", TOKEN)]
    gateway.invitations[("gnosjo", TOKEN)] = view.model_copy(
        update={
            "promise": Promise(
                decision="Parkens upprustning i kommunfullmäktige",
                decided_on="2027-03-15",
                influence="consultation",
                not_promised="Budgeten är redan bestämd.",
            ),
            "introduction": "Parken byggdes 1962.",
        }
    )
    response = await client.get(f"/t/gnosjo/a/{TOKEN}")
    text = text_of(response.text)
    assert "Parkens upprustning i kommunfullmäktige (2027-03-15)" in text
    assert "Samråd: svaren ger politikerna underlag, och de beslutar." in text
    assert "Budgeten är redan bestämd." in text
    assert text.index("Budgeten") < text.index("Do you use the park?")
    assert "Bra att veta innan du svarar Parken byggdes 1962." in text
