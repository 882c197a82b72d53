"""Members with invalid contacts, listed for staff in the portal (page and JSON API), never
with the address, against a fake gateway."""

from __future__ import annotations

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from contracts.contacts import InvalidContact, ListInvalidContacts
from infra.store import Document
from services.portal.accounts import create_account
from tests.portal.conftest import PASSWORD, api_login, check_page, form_login, text_of
from tests.portal.fakes import FakeGateway

MEMBER = "00000001-0000-4000-8000-000000000000"


@pytest.mark.usefixtures("accounts")
async def test_staff_see_the_members_whose_contact_failed(
    client: httpx.AsyncClient, gateway: FakeGateway, db: AsyncDatabase[Document]
) -> None:
    anonymous = await client.get("/api/t/gnosjo/contacts/invalid")
    assert anonymous.status_code == 401
    gateway.invalid_contacts = (
        InvalidContact(
            member_id=MEMBER, channel="email", reason="smtp_550", since="2026-11-20T10:00:00+00:00"
        ),
        InvalidContact(
            member_id=MEMBER.replace("1", "2", 1),
            channel="email",
            reason="smtp_554",
            since="2026-11-21T10:00:00+00:00",
        ),
    )
    # An analyst too: the list holds no contact details.
    await create_account(db, "stina", PASSWORD, "gnosjo", "analyst")
    await api_login(client, "gnosjo", "stina")
    listed = await client.get("/api/t/gnosjo/contacts/invalid", params={"limit": 1})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["contacts"] == [
        {
            "member_id": MEMBER,
            "channel": "email",
            "reason": "smtp_550",
            "since": "2026-11-20T10:00:00+00:00",
        }
    ]
    rest = await client.get("/api/t/gnosjo/contacts/invalid", params={"after": body["next_after"]})
    assert [c["reason"] for c in rest.json()["contacts"]] == ["smtp_554"]
    [query, *_] = [q for q in gateway.queries if isinstance(q, ListInvalidContacts)]
    assert (query.tenant, query.limit) == ("gnosjo", 1)
    spec = (await client.get("/api/openapi.json")).json()
    assert "/api/t/{tenant}/contacts/invalid" in spec["paths"]


@pytest.mark.usefixtures("accounts")
async def test_the_page_lists_them_in_swedish(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await form_login(client, "/t/gnosjo/staff/login", "anna")
    assert response.status_code == 303
    empty = await client.get("/t/gnosjo/staff/contacts")
    assert empty.status_code == 200
    check_page(empty.text)
    assert "Alla medlemmars kontaktuppgifter fungerar" in text_of(empty.text)
    assert 'href="/t/gnosjo/staff/contacts"' in empty.text  # in the staff bar
    gateway.invalid_contacts = (
        InvalidContact(
            member_id=MEMBER, channel="email", reason="smtp_550", since="2026-11-20T10:00:00+00:00"
        ),
    )
    page = await client.get("/t/gnosjo/staff/contacts")
    text = text_of(page.text)
    assert MEMBER in text
    assert "E-postservern säger att adressen inte finns." in text
    assert "2026-11-20" in text
    # Another council's list is not this staff member's to read.
    other = await client.get("/t/vaggeryd/staff/contacts")
    assert other.status_code in (303, 401, 403)
