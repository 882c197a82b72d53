"""Sign-up cannot be used to flood an inbox, and signing up again never kills a link."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

from contracts.recruitment import (
    ConfirmMembership,
    EnrolMember,
    ListTenants,
    MembershipOutcome,
    Outcome,
    TenantList,
)
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from infra.store import epoch_ms
from services.recruitment.handlers import MAIL_INTERVAL
from tests.conftest import PORTAL_URL, Stack, register_council

T = "ale"


EMAIL = "sara@example.se"


async def _council(stack: Stack) -> None:
    await register_council(stack, T)


def _sign_up() -> EnrolMember:
    return EnrolMember(
        tenant=T,
        member_id=str(uuid.uuid4()),
        email=EMAIL,
        birth_year=1990,
        gender="female",
        district="Surte",
        consent_version="2026-1",
    )


def _links(stack: Stack) -> list[str]:
    """The opt-in links sent to EMAIL, oldest first."""
    items, _ = stack.devtools.mailbox.list_mails(limit=100, to=EMAIL)
    items.reverse()
    texts = [stack.devtools.mailbox.get_mail(i.id).text for i in items]
    pattern = rf"{re.escape(PORTAL_URL)}/t/{T}/join/confirm/([A-Za-z0-9_-]+)"
    return [m.group(1) for t in texts if (m := re.search(pattern, t))]


async def _confirm(stack: Stack, token: str) -> Outcome:
    command = ConfirmMembership(tenant=T, token=token)
    await publish(stack.js, command)
    query = MembershipOutcome(tenant=T, command_id=command.message_id)
    found: list[Outcome] = []

    async def settled() -> bool:
        outcome = await ask(stack.nc, query, Outcome)
        if outcome is not None and outcome.status != "pending":
            found.append(outcome)
        return bool(found)

    await wait_until(settled, timeout=15, what="confirmation outcome")
    return found[0]


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
