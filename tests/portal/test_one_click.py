"""One click in the invitation mail: the link shows the choice, only the button answers."""

from __future__ import annotations

import httpx

from contracts.rounds import InvitationView, Question, SubmitResponse
from tests.portal.conftest import check_page, text_of
from tests.portal.fakes import TOKEN, FakeGateway

PARK = Question(key="park", kind="yes_no", text="Ska parken få fler bänkar?")


def _open(gateway: FakeGateway, *questions: Question) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status="open", title="Parken", purpose="Planen.", questions=questions or (PARK,)
    )


async def test_a_one_click_link_shows_the_choice_and_sends_nothing(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    response = await client.get(f"/t/gnosjo/a/{TOKEN}", params={"pick": "2"})
    assert response.status_code == 200
    check_page(response.text)
    assert "Ditt svar: Nej" in text_of(response.text)
    assert '<input type="hidden" name="park" value="no">' in response.text
    assert '<input type="hidden" name="via" value="mail">' in response.text
    assert gateway.sent(SubmitResponse) == []  # a link scanner answers nothing


async def test_the_button_sends_the_answer_as_from_the_mail(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    response = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"park": "no", "via": "mail"})
    assert response.status_code == 200
    [command] = gateway.sent(SubmitResponse)
    assert (command.answers, command.channel) == ({"park": "no"}, "mail")
    await client.post(f"/t/gnosjo/a/{TOKEN}", data={"park": "yes"})
    assert gateway.sent(SubmitResponse)[1].channel == "web"


async def test_a_pick_that_does_not_fit_shows_the_whole_form(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    for pick in ("0", "3", "x", "-1"):
        response = await client.get(f"/t/gnosjo/a/{TOKEN}", params={"pick": pick})
        assert 'name="via"' not in response.text
        assert 'type="radio"' in response.text
    _open(gateway, PARK, Question(key="why", kind="free_text", text="Varför?"))
    response = await client.get(f"/t/gnosjo/a/{TOKEN}", params={"pick": "1"})
    assert 'name="via"' not in response.text
