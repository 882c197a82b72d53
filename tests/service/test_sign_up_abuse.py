"""Sign-up cannot be used to flood an inbox, and signing up again never kills a link."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

from contracts import recruitment
from contracts.personal_data import PersonalData
from contracts.recruitment import (
    ConfirmMembership,
    EnrolMember,
    GetSignUp,
    ListTenants,
    Outcome,
    SignUpView,
    TenantList,
)
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from infra.store import epoch_ms
from services.recruitment.expiry import expire_pending
from services.recruitment.handlers import MAIL_INTERVAL
from tests.conftest import PORTAL_URL, Stack, recruitment_outcome, register_council

T = "ale"


EMAIL = "sara@example.se"


async def _council(stack: Stack) -> None:
    await register_council(stack, T)


def _sign_up(email: str = EMAIL) -> EnrolMember:
    return EnrolMember(
        tenant=T,
        member_id=str(uuid.uuid4()),
        email=email,
        birth_year=1990,
        gender="female",
        district="Surte",
        consent_version="2026-1",
    )


def _links(stack: Stack, email: str = EMAIL) -> list[str]:
    """The opt-in links sent to ``email``, oldest first."""
    items, _ = stack.devtools.mailbox.list_mails(limit=100, to=email)
    items.reverse()
    texts = [stack.devtools.mailbox.get_mail(i.id).text for i in items]
    pattern = rf"{re.escape(PORTAL_URL)}/t/{T}/join/confirm/([A-Za-z0-9_-]+)"
    return [m.group(1) for t in texts if (m := re.search(pattern, t))]


async def _confirm(stack: Stack, token: str) -> Outcome:
    command = ConfirmMembership(tenant=T, token=token)
    await publish(stack.js, command)
    outcome: Outcome = await recruitment_outcome(stack, T, command.message_id)
    return outcome


async def test_signing_up_again_and_again_sends_one_mail_whose_link_works(stack: Stack) -> None:
    await _council(stack)
    for _ in range(5):
        await publish(stack.js, _sign_up())
    await wait_until(lambda: len(_links(stack)) >= 1, timeout=15, what="the opt-in mail")
    members = stack.services["recruitment"].runtime.db.members

    async def all_handled() -> bool:
        doc = await members.find_one({"tenant": T, "email": EMAIL})
        tokens = await stack.services["recruitment"].runtime.db.signup_tokens.count_documents({})
        return doc is not None and tokens == 1

    await wait_until(all_handled, timeout=15, what="the four repeats handled")
    await asyncio.sleep(0.5)
    [link] = _links(stack)  # one mail, whatever the number of sign-ups
    assert (await _confirm(stack, link)).status == "done"


async def test_a_new_mail_after_the_interval_leaves_the_first_link_working(stack: Stack) -> None:
    await _council(stack)
    await publish(stack.js, _sign_up())
    await wait_until(lambda: len(_links(stack)) == 1, timeout=15, what="the first mail")
    members = stack.services["recruitment"].runtime.db.members
    doc = await members.find_one({"tenant": T, "email": EMAIL})
    assert doc is not None
    # As if the first mail had gone out longer ago than the interval.
    earlier = doc["mailed_at_ms"] - epoch_ms(MAIL_INTERVAL + timedelta(minutes=1))
    await members.update_one({"_id": doc["_id"]}, {"$set": {"mailed_at_ms": earlier}})
    await publish(stack.js, _sign_up())
    await wait_until(lambda: len(_links(stack)) == 2, timeout=15, what="the second mail")
    first, second = _links(stack)
    assert first != second
    # The link in the first mail still confirms; the second is then used up.
    outcomes = [await _confirm(stack, first), await _confirm(stack, second)]
    assert [(o.status, o.reason) for o in outcomes] == [
        ("done", None),
        ("refused", "already_used"),
    ]
    tenants = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
    assert tenants is not None
    [ale] = [t for t in tenants.tenants if t.tenant == T]
    assert (ale.members_active, ale.members_pending) == (1, 0)


async def test_sign_ups_left_unconfirmed_for_a_week_are_erased_everywhere(stack: Stack) -> None:
    await _council(stack)
    old, fresh, stale_link = "old@example.se", "fresh@example.se", "late@example.se"
    commands = {email: _sign_up(email) for email in (old, fresh, stale_link)}
    for command in commands.values():
        await publish(stack.js, command)
    for email in commands:
        await wait_until(lambda e=email: _links(stack, e), timeout=15, what=f"mail to {email}")
    recruitment = stack.services["recruitment"].runtime
    contacts = stack.services["dispatch"].runtime.db.contacts
    week = epoch_ms(timedelta(days=8))
    # Eight days pass for the first sign-up, and for the third one's link.
    await recruitment.db.members.update_one({"email": old}, {"$inc": {"mailed_at_ms": -week}})
    await recruitment.db.signup_tokens.update_many(
        {"member_id": commands[stale_link].member_id}, {"$inc": {"created_at_ms": -week}}
    )
    # An expired link is refused at once, before any sweep.
    assert (await _confirm(stack, _links(stack, stale_link)[0])).reason == "unknown_token"

    assert await expire_pending(recruitment) == 1
    erased = await recruitment.db.members.find_one({"_id": commands[old].member_id})
    assert erased is not None
    assert erased["state"] == "erased"
    assert erased["email"] == f"erased:{commands[old].member_id}"
    assert not {"birth_year", "gender", "district", "consent", "locale"} & set(erased)
    assert (
        await recruitment.db.signup_tokens.count_documents({"member_id": commands[old].member_id})
        == 0
    )
    assert (
        await recruitment.db.signup_tokens.count_documents(
            {"member_id": commands[stale_link].member_id}
        )
        == 0
    )  # links older than a week go, whoever they belong to

    async def contact_forgotten() -> bool:
        return await contacts.find_one({"_id": f"{T}:{commands[old].member_id}"}) is None

    await wait_until(contact_forgotten, timeout=15, what="dispatch forgets the contact")
    assert await contacts.find_one({"_id": f"{T}:{commands[fresh].member_id}"}) is not None
    reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
    assert reply is not None
    council = next(t for t in reply.tenants if t.tenant == T)
    assert council.members_pending == 2  # fresh, and late (its member waits for a new mail)

    # The erased sign-up's link is dead; the fresh one still confirms; a second sweep finds
    # nothing more, and the address can sign up again from scratch.
    assert (await _confirm(stack, _links(stack, old)[0])).reason == "unknown_token"
    assert (await _confirm(stack, _links(stack, fresh)[0])).status == "done"
    assert await expire_pending(recruitment) == 0
    await publish(stack.js, _sign_up(old))
    await wait_until(lambda: len(_links(stack, old)) == 2, timeout=15, what="a new opt-in mail")
    assert (await _confirm(stack, _links(stack, old)[1])).status == "done"


async def test_the_newest_sign_up_details_win_and_the_link_shows_them(stack: Stack) -> None:
    await _council(stack)
    first = _sign_up()
    await publish(stack.js, first)
    await wait_until(lambda: _links(stack), timeout=15, what="the opt-in mail")
    # Someone else signs the same address up with other details (no new mail: too soon).
    second = _sign_up().model_copy(
        update={
            "birth_year": 1961,
            "gender": "male",
            "district": "Nödinge",
            "locale": "en",
            "heard_from": "friend",
            "works_for_council": True,
        }
    )
    await publish(stack.js, second)
    link = _links(stack)[0]
    query = GetSignUp(tenant=T, token=link)

    async def shows_the_newest() -> bool:
        view = await ask(stack.nc, query, SignUpView)
        return view is not None and view.birth_year == 1961

    await wait_until(shows_the_newest, timeout=15, what="the newest details on the link")
    view = await ask(stack.nc, query, SignUpView)
    assert view is not None
    assert (view.email, view.gender, view.district) == (EMAIL, "male", "Nödinge")
    assert len(_links(stack)) == 1
    # Confirming enrols the member with what the page showed.
    assert (await _confirm(stack, link)).status == "done"
    panelists = stack.services["rounds"].runtime.db.panelists

    async def enrolled() -> bool:
        doc = await panelists.find_one({"tenant": T})
        return doc is not None and doc["birth_year"] == 1961

    await wait_until(enrolled, timeout=15, what="the member in rounds")
    contact = await stack.services["dispatch"].runtime.db.contacts.find_one({"tenant": T})
    assert contact is not None
    assert contact["locale"] == "en"
    # Where they heard of the panel, and whether they work for the council, are kept (and
    # are in the member's copy of their data).
    data = await ask(
        stack.nc, recruitment.GetMemberData(tenant=T, member_id=first.member_id), PersonalData
    )
    assert data is not None
    membership = data.sections["membership"][0]
    assert (membership["heard_of_the_panel_from"], membership["works_for_the_council"]) == (
        "friend",
        "yes",
    )
    # A confirmed sign-up's link shows nothing any more.
    assert await ask(stack.nc, query, SignUpView) is None
