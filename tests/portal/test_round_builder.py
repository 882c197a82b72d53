"""The round builder: questions of every kind, skip logic, order, the promise, the planning
checklist and the settings, ready templates and copies of earlier rounds."""

from __future__ import annotations

import re

import httpx
import pytest

from contracts.rounds import CreateRound, EditRound, Plan, Promise
from tests.portal.conftest import check_page, text_of
from tests.portal.fakes import FakeGateway, round_view
from tests.portal.test_staff import ROUND, login
from tests.unit.test_questions import ALL

pytestmark = pytest.mark.usefixtures("accounts")
NEW = "/t/gnosjo/staff/rounds/new"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


FORM = {
    "title": "Parken",
    "purpose": "Samhällsbyggnadsnämnden prioriterar.",
    "q1_key": "park",
    "q1_kind": "yes_no",
    "q1_text": "Använder du parken?",
    "q2_key": "how",
    "q2_kind": "multiple_choice",
    "q2_text": "Hur tar du dig dit?",
    "q2_options": "Går\nCyklar\nBuss",
    "q2_max_picks": "2",
    "q2_show_if": "park",
    "q2_show_answers": "yes",
    "q3_key": "happy",
    "q3_kind": "scale",
    "q3_text": "Hur nöjd är du?",
    "q3_scale_max": "7",
    "q3_low_label": "Inte alls",
    "q3_high_label": "Mycket",
    "q4_key": "visits",
    "q4_kind": "number",
    "q4_text": "Besök i månaden?",
    "q4_minimum": "0",
    "q4_maximum": "60",
    "q4_unit": "gånger",
    "q5_key": "where",
    "q5_kind": "map",
    "q5_text": "Var?",
    "q5_options": "Otryggt\nFint",
    "q5_max_pins": "2",
    "decision": "Upprustningen i fullmäktige",
    "decided_on": "2027-03-15",
    "influence": "co-determination",
    "not_promised": "Budgeten är satt.",
    "goal": "Prioritera parkerna",
    "deadline": "2027-02-01",
    "owner_questions": "Anna",
    "follow_up_owner": "Anna",
    "review_needed": "yes",
    "topics": "Parker\nTrafik",
    "allow_changes": "yes",
    "longitudinal": "yes",
    "introduction": "Parken rustades senast 1998.\n\nBudgeten är 4 miljoner kronor.",
}


async def test_a_round_of_every_kind_with_skip_logic_promise_plan_and_settings(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await login(client, "gnosjo", "anna")
    form = await client.get(NEW)
    assert form.status_code == 200
    check_page(form.text)
    response = await client.post(NEW, data={**FORM, "csrf_token": csrf})
    assert response.status_code == 303, text_of(response.text)
    [command] = gateway.sent(CreateRound)
    kinds = [(q.key, q.kind) for q in command.questions]
    assert kinds == [
        ("park", "yes_no"),
        ("how", "multiple_choice"),
        ("happy", "scale"),
        ("visits", "number"),
        ("where", "map"),
    ]
    how, happy, visits, where = command.questions[1:]
    assert (how.max_picks, how.show_if and how.show_if.answers) == (2, ("yes",))
    assert (happy.scale_max, happy.low_label, happy.high_label) == (7, "Inte alls", "Mycket")
    assert (visits.minimum, visits.maximum, visits.unit, visits.whole_numbers) == (
        0,
        60,
        "gånger",
        True,
    )
    assert (where.options, where.max_pins) == (("Otryggt", "Fint"), 2)
    assert command.promise == Promise(
        decision="Upprustningen i fullmäktige",
        decided_on="2027-03-15",
        influence="co-determination",
        not_promised="Budgeten är satt.",
    )
    assert command.plan == Plan(
        goal="Prioritera parkerna",
        deadline="2027-02-01",
        owners={"questions": "Anna"},
        follow_up_owner="Anna",
        review_needed=True,
    )
    assert command.target.topics == ("Parker", "Trafik")
    assert (command.allow_changes, command.longitudinal, command.public) == (True, True, False)
    assert command.introduction.startswith("Parken rustades senast 1998.")


async def test_the_buttons_add_move_and_remove_questions_without_saving(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await login(client, "gnosjo", "anna")
    data = {**FORM, "csrf_token": csrf}
    added = await client.post(NEW, data={**data, "action": "add"})
    assert added.status_code == 200
    assert 'name="q6_kind"' in added.text
    moved = await client.post(NEW, data={**data, "action": "up:3"})
    assert re.search(r'name="q2_key" value="happy"', moved.text)
    removed = await client.post(NEW, data={**data, "action": "remove:1"})
    assert 'value="park"' not in removed.text
    assert gateway.sent(CreateRound) == []
    # A question depending on a later one is refused on saving.
    broken = {**data, "q1_show_if": "how", "q1_show_answers": "Går"}
    refused = await client.post(NEW, data=broken)
    assert refused.status_code == 400
    assert "En fråga kan bara bero på en tidigare" in text_of(refused.text)


async def test_the_builder_warns_past_the_seeds_advice(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await login(client, "gnosjo", "anna")
    data = {"csrf_token": csrf, "title": "T", "purpose": "P"}
    for n in range(1, 13):
        data |= {f"q{n}_kind": "free_text", f"q{n}_text": f"Berätta {n}?"}
    page = await client.post(NEW, data={**data, "action": "add"})
    text = text_of(page.text)
    assert "Fler än 8 frågor" in text
    assert "Det tar 10 minuter eller mer att svara" in text


async def test_start_from_a_template_or_a_copy_of_an_earlier_round(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await login(client, "gnosjo", "anna")
    page = await client.get(NEW, params={"template": "park"})
    assert 'value="Parker och grönområden"' in page.text
    assert 'name="q3_kind"' in page.text
    gateway.rounds[("gnosjo", ROUND)] = round_view(
        ROUND, state="closed", questions=ALL, title="Parken 2026"
    )
    copy = await client.get(NEW, params={"copy": ROUND})
    assert copy.status_code == 200
    check_page(copy.text)
    assert 'value="Parken 2026"' in copy.text
    assert 'name="q8_kind"' in copy.text
    assert (await client.get(NEW, params={"copy": "1" + ROUND[1:]})).status_code == 404


async def test_an_edit_carries_the_promise_plan_and_settings(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="draft", questions=ALL)
    await login(client, "gnosjo", "anna")
    page = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/edit")
    assert page.status_code == 200
    response = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/edit", data={**FORM, "csrf_token": _csrf(page.text)}
    )
    assert response.status_code == 303
    [edit] = gateway.sent(EditRound)
    assert edit.promise is not None
    assert edit.promise.influence == "co-determination"
    assert (edit.allow_changes, edit.longitudinal, edit.public) == (True, True, False)
    assert edit.target.topics == ("Parker", "Trafik")


async def test_a_quick_polls_page_shows_its_link_and_qr_code(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="open", public=True)
    await login(client, "gnosjo", "anna")
    page = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}")
    assert page.status_code == 200
    check_page(page.text)
    assert f"/t/gnosjo/polls/{ROUND}</a>" in page.text
    assert 'src="data:image/svg+xml' in page.text
    assert 'alt="QR-kod för snabbenkätens länk"' in page.text
