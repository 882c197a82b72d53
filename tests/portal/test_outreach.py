"""The results page after a round: who took part by group, and notes on the groups reached
another way."""

from __future__ import annotations

import httpx
import pytest

from contracts.rounds import NoteOutreach
from tests.portal.conftest import check_page
from tests.portal.fakes import FakeGateway, round_view
from tests.portal.test_staff import ROUND, login

pytestmark = pytest.mark.usefixtures("accounts")


async def test_staff_note_the_groups_reached_another_way(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await login(client, "gnosjo", "anna")
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, "closed", invited=40, responded=30)
    page = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results")
    check_page(page.text)
    assert "Grupper som nåddes på annat sätt" in page.text
    bad = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/outreach",
        data={"csrf_token": csrf, "groups": "x", "method": ""},
    )
    assert bad.status_code == 400
    check_page(bad.text)
    assert gateway.sent(NoteOutreach) == []
    noted = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/outreach",
        data={
            "csrf_token": csrf,
            "groups": "Unga män i Hillerstorp",
            "method": "Besök på fritidsgården.",
        },
    )
    assert noted.status_code == 303
    [note] = gateway.sent(NoteOutreach)
    assert (note.groups, note.noted_by) == ("Unga män i Hillerstorp", "anna")
    # A draft takes no notes.
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, "draft")
    draft = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/outreach",
        data={"csrf_token": csrf, "groups": "Alla", "method": "Inget."},
    )
    assert draft.status_code == 400
