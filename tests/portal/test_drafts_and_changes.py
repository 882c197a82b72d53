"""Answers saved as the resident goes, and changed until the round closes where it allows."""

from __future__ import annotations

import httpx

from contracts.rounds import InvitationView, SaveDraft, SubmitResponse
from tests.portal.conftest import check_page, text_of
from tests.portal.fakes import TOKEN, FakeGateway
from tests.unit.test_questions import ALL


def _invitation(gateway: FakeGateway, **fields: object) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status=fields.pop("status", "open"),  # type: ignore[arg-type]
        title="Parken",
        purpose="Planen.",
        questions=ALL,
        **fields,  # type: ignore[arg-type]
    )


async def test_saved_answers_are_filled_in(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    _invitation(gateway, answers={"park": "yes", "how": ["Bike"], "happy": 4})
    page = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert page.status_code == 200
    check_page(page.text)
    assert 'value="yes" checked' in page.text
    assert 'value="Bike" checked' in page.text
    assert 'name="happy" value="4" checked' in page.text
    assert "Dina svar som sparats hittills är ifyllda." in text_of(page.text)
    assert 'name="save" value="1"' in page.text


async def test_save_and_finish_later_keeps_the_answers_and_counts_nothing(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _invitation(gateway)
    saved = await client.post(
        f"/t/gnosjo/a/{TOKEN}", data={"park": "yes", "happy": "9", "save": "1"}
    )
    assert saved.status_code == 200
    assert "Dina svar är sparade" in text_of(saved.text)
    [draft] = gateway.sent(SaveDraft)
    assert draft.token == TOKEN
    assert draft.answers["park"] == "yes"
    assert gateway.sent(SubmitResponse) == []
    # The page's script saves as the resident goes.
    kept = await client.post(f"/t/gnosjo/a/{TOKEN}/draft", data={"park": "no"})
    assert kept.status_code == 204
    assert gateway.sent(SaveDraft)[1].answers["park"] == "no"


async def test_answers_change_until_the_round_closes_where_it_allows(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _invitation(gateway, status="answered", changeable=True, answers={"park": "no"})
    page = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Du kan ändra dina svar tills den stänger" in text
    assert "Skicka mina ändrade svar" in text
    assert 'name="save"' not in page.text
    changed = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"park": "yes"})
    assert changed.status_code == 200
    [command] = gateway.sent(SubmitResponse)
    assert command.answers == {"park": "yes"}
    # A draft of an answered link is no longer kept.
    assert (await client.post(f"/t/gnosjo/a/{TOKEN}/draft", data={"park": "no"})).status_code == 409


async def test_an_answered_round_that_allows_no_changes_stays_answered(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _invitation(gateway, status="answered")
    assert (await client.get(f"/t/gnosjo/a/{TOKEN}")).status_code == 409
    assert (await client.post(f"/t/gnosjo/a/{TOKEN}", data={"park": "yes"})).status_code == 409
    assert (await client.post("/t/gnosjo/a/" + "x" * 43 + "/draft", data={})).status_code == 404
