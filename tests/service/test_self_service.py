"""Member self-service over the real services: sign-in by a mailed link, the member's own
details (and rounds learning them), a re-confirmed change of address, the pause, the copy of
everything held, and erasure on the member's own request."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from contracts import dispatch, recruitment
from contracts import rounds as rounds_contracts
from contracts.envelope import Envelope
from contracts.membership import (
    ChangeMyDetails,
    ChangeMyEmail,
    CloseMemberSession,
    ConfirmEmailChange,
    EraseMyMembership,
    GetMyMembership,
    MyMembership,
    OpenMemberSession,
    PauseMembership,
    RequestSignIn,
    ResumeMembership,
)
from contracts.personal_data import PersonalData
from contracts.recruitment import ImportMember, ListTenants, Outcome, RegisterTenant, TenantList
from contracts.rounds import CreateRound, Question, RoundView
from contracts.subjects import stream_name, subject_for
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish, publish_raw
from infra.queries import ask
from infra.tokens import new_token, token_hash
from tests.conftest import PORTAL_URL, Stack, recruitment_outcome, register_council
from tests.service.test_erasure import _erasure_completed, _everything

T = "gnosjo"
QUESTIONS = (Question(key="bus", kind="single_choice", text="Later buses?", options=("Yes", "No")),)


async def _council(stack: Stack) -> None:
    """T with the districts Kisa and Rimforsa, and another council."""
    await register_council(stack, "kinda")
    await publish(
        stack.js,
        RegisterTenant(tenant=T, display_name="Gnosjö kommun", districts=("Kisa", "Rimforsa")),
    )

    async def listed() -> bool:
        reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
        return reply is not None and any(
            t.tenant == T and t.districts == ("Kisa", "Rimforsa") for t in reply.tenants
        )

    await wait_until(listed, timeout=10, what="the council and its districts")


async def _member(stack: Stack, n: int) -> tuple[str, str]:
    """An imported member of T in rounds' panel: (member id, address)."""
    member_id, email = str(uuid.uuid4()), f"self{n}@example.se"
    await publish(
        stack.js,
        ImportMember(
            tenant=T,
            member_id=member_id,
            email=email,
            birth_year=1960,
            gender="female",
            district="Kisa",
            consent_version="2026-1",
            source="paper",
        ),
    )
    panelists = stack.services["rounds"].runtime.db.panelists
    await wait_until(
        lambda: _exists(panelists, f"{T}:{member_id}"), timeout=20, what="member in rounds"
    )
    return member_id, email


async def _exists(collection: object, key: str) -> bool:
    return await collection.find_one({"_id": key}) is not None  # type: ignore[attr-defined]


def _links(stack: Stack, address: str, path: str) -> list[str]:
    items, _ = stack.devtools.mailbox.list_mails(limit=100, to=address)
    found = []
    for item in items:
        text = stack.devtools.mailbox.get_mail(item.id).text
        match = re.search(rf"{re.escape(PORTAL_URL)}/t/{T}/{path}/([A-Za-z0-9_-]+)", text)
        if match:
            found.append(match.group(1))
    return found


async def _settled(stack: Stack, command: Envelope, tenant: str = T) -> Outcome:
    await publish(stack.js, command)
    outcome: Outcome = await recruitment_outcome(stack, tenant, command.message_id)
    return outcome


async def _sign_in_link(stack: Stack, email: str, *, later: timedelta = timedelta(0)) -> str:
    """Ask for a sign-in link and return the newest one mailed (``later``: the request as if
    made that much later, past the one-mail-a-minute limit)."""
    before = len(_links(stack, email, "me/sign-in"))
    ask_link = RequestSignIn(tenant=T, email=email.upper(), occurred_at=datetime.now(UTC) + later)
    assert (await _settled(stack, ask_link)).status == "done"
    await wait_until(
        lambda: len(_links(stack, email, "me/sign-in")) > before, timeout=15, what="sign-in mail"
    )
    return _links(stack, email, "me/sign-in")[0]


async def _session(stack: Stack, link: str) -> tuple[str, Outcome]:
    session = new_token()
    opened = OpenMemberSession(tenant=T, token=link, session_hash=token_hash(session))
    return session, await _settled(stack, opened)


async def _me(stack: Stack, session: str, tenant: str = T) -> MyMembership | None:
    return await ask(stack.nc, GetMyMembership(tenant=tenant, session=session), MyMembership)


async def test_a_member_signs_in_by_mail_and_changes_details_that_rounds_then_uses(
    stack: Stack,
) -> None:
    await _council(stack)
    member_id, email = await _member(stack, 1)

    # A stranger's address gets the same answer, and no mail.
    stranger = RequestSignIn(tenant=T, email="nobody@example.se")
    assert (await _settled(stack, stranger)).status == "done"

    link = await _sign_in_link(stack, email)
    session, opened = await _session(stack, link)
    assert opened.status == "done"
    me = await _me(stack, session)
    assert me is not None
    assert (me.member_id, me.email, me.district, me.paused_until) == (
        member_id,
        email,
        "Kisa",
        None,
    )
    # The session is of its council only; a made-up one is nothing.
    assert await _me(stack, session, "kinda") is None
    assert await _me(stack, new_token()) is None
    # The link worked once.
    _, reused = await _session(stack, link)
    assert (reused.status, reused.reason) == ("refused", "already_used")
    assert _links(stack, "nobody@example.se", "me/sign-in") == []

    change = ChangeMyDetails(
        tenant=T,
        session=session,
        birth_year=1990,
        gender="male",
        district=" rimforsa ",
        locale="en",
        heard_from="friend",
        works_for_council=True,
    )
    assert (await _settled(stack, change)).status == "done"
    me = await _me(stack, session)
    assert me is not None
    assert (me.birth_year, me.gender, me.district, me.locale) == (1990, "male", "Rimforsa", "en")
    assert (me.heard_from, me.works_for_council) == ("friend", True)
    # Another council's session cannot change anything; nor can an unknown district.
    foreign = change.model_copy(update={"message_id": str(uuid.uuid4()), "tenant": "kinda"})
    assert (await _settled(stack, foreign, "kinda")).reason == "no_session"
    bad = change.model_copy(update={"message_id": str(uuid.uuid4()), "district": "Atlantis"})
    assert (await _settled(stack, bad)).reason == "district_not_listed"

    # Rounds' replica has the new background, and a round opened now breaks down by it.
    panelists = stack.services["rounds"].runtime.db.panelists

    async def replicated() -> bool:
        entry = await panelists.find_one({"_id": f"{T}:{member_id}"})
        return entry is not None and (entry["birth_year"], entry["district"]) == (1990, "Rimforsa")

    await wait_until(replicated, timeout=15, what="rounds sees the change")
    round_id = await _open_round(stack, "Efter ändringen")
    invitation = await _invitation(stack, round_id, member_id)
    assert invitation is not None
    assert (invitation["gender"], invitation["district"]) == ("male", "Rimforsa")

    # Sign out: the session is over.
    await publish(stack.js, CloseMemberSession(tenant=T, session=session))

    async def signed_out() -> bool:
        return await _me(stack, session) is None

    await wait_until(signed_out, timeout=10, what="session closed")


async def test_expired_and_unknown_sign_in_links_are_refused(stack: Stack) -> None:
    await _council(stack)
    _, email = await _member(stack, 2)
    link = await _sign_in_link(stack, email)
    recruitment_db = stack.services["recruitment"].runtime.db
    # Half an hour passes.
    await recruitment_db.sign_in_links.update_one(
        {"_id": token_hash(link)}, {"$set": {"expires_ms": 1}}
    )
    _, expired = await _session(stack, link)
    assert (expired.status, expired.reason) == ("refused", "expired")
    _, unknown = await _session(stack, new_token())
    assert unknown.reason == "unknown_token"
    # A redelivered request mails nothing more; nor does asking again within the minute.
    first = RequestSignIn(tenant=T, email=email, occurred_at=datetime.now(UTC) + timedelta(hours=1))
    assert (await _settled(stack, first)).status == "done"
    await _redeliver(stack, first)
    await wait_until(
        lambda: len(_links(stack, email, "me/sign-in")) == 2, timeout=15, what="second link"
    )
    # Only one mail a minute, however often asked; a minute later, a fresh link works.
    again = RequestSignIn(tenant=T, email=email)
    assert (await _settled(stack, again)).status == "done"
    assert len(_links(stack, email, "me/sign-in")) == 2
    fresh = await _sign_in_link(stack, email, later=timedelta(hours=2))
    assert fresh != link
    assert (await _session(stack, fresh))[1].status == "done"


async def test_a_new_address_takes_effect_only_once_confirmed_from_its_mailbox(
    stack: Stack,
) -> None:
    await _council(stack)
    member_id, email = await _member(stack, 3)
    session, _ = await _session(stack, await _sign_in_link(stack, email))
    new = "moved@example.se"
    change = ChangeMyEmail(tenant=T, session=session, email="Moved@Example.se")
    assert (await _settled(stack, change)).status == "done"
    await wait_until(
        lambda: len(_links(stack, new, "me/email")) == 1, timeout=15, what="mail to new address"
    )
    assert _links(stack, email, "me/email") == []  # to the new address only
    me = await _me(stack, session)
    assert me is not None
    assert (me.email, me.email_change_to) == (email, new)

    token = _links(stack, new, "me/email")[0]
    assert (await _settled(stack, ConfirmEmailChange(tenant=T, token=token))).status == "done"
    me = await _me(stack, session)
    assert me is not None
    assert me.email == new
    again = await _settled(stack, ConfirmEmailChange(tenant=T, token=token))
    assert again.reason == "already_used"
    # The contact book has the new address: the next sign-in mail goes there.
    contacts = stack.services["dispatch"].runtime.db.contacts

    async def contact_moved() -> bool:
        entry = await contacts.find_one({"_id": f"{T}:{member_id}"})
        return entry is not None and entry["email"] == new

    await wait_until(contact_moved, timeout=15, what="contact book updated")
    assert await _sign_in_link(stack, new, later=timedelta(minutes=2))
    # A bad link, or a change to the address one has, is refused.
    assert (await _settled(stack, ConfirmEmailChange(tenant=T, token=new_token()))).reason == (
        "unknown_token"
    )
    same = ChangeMyEmail(tenant=T, session=session, email=new)
    assert (await _settled(stack, same)).reason == "same_email"


async def test_a_paused_member_is_left_out_of_rounds_opened_meanwhile(stack: Stack) -> None:
    await _council(stack)
    paused_id, email = await _member(stack, 4)
    other_id, _ = await _member(stack, 5)
    session, _ = await _session(stack, await _sign_in_link(stack, email))
    until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    too_long = (datetime.now(UTC).date() + timedelta(days=400)).isoformat()
    refused = await _settled(stack, PauseMembership(tenant=T, session=session, until=too_long))
    assert refused.reason == "too_long"
    pause = PauseMembership(tenant=T, session=session, until=until)
    assert (await _settled(stack, pause)).status == "done"
    # A second delivery of the same command (past the bus's duplicate window) changes nothing.
    recruitment_db = stack.services["recruitment"].runtime.db
    revision = (await recruitment_db.members.find_one({"_id": paused_id}))["revision"]
    await _redeliver(stack, pause)
    assert (await recruitment_db.members.find_one({"_id": paused_id}))["revision"] == revision
    me = await _me(stack, session)
    assert me is not None
    assert me.paused_until == until
    panelists = stack.services["rounds"].runtime.db.panelists

    async def paused_in_rounds() -> bool:
        entry = await panelists.find_one({"_id": f"{T}:{paused_id}"})
        return entry is not None and int(entry.get("paused_until_ms") or 0) > 0

    await wait_until(paused_in_rounds, timeout=15, what="rounds knows of the pause")
    during = await _open_round(stack, "Under pausen")
    assert await _invitation(stack, during, other_id) is not None
    assert await _invitation(stack, during, paused_id) is None

    # The member ends the pause: the next round invites them.
    assert (await _settled(stack, ResumeMembership(tenant=T, session=session))).status == "done"

    async def resumed_in_rounds() -> bool:
        entry = await panelists.find_one({"_id": f"{T}:{paused_id}"})
        return entry is not None and not entry.get("paused_until_ms")

    await wait_until(resumed_in_rounds, timeout=15, what="rounds knows the pause ended")
    after = await _open_round(stack, "Efter pausen")
    assert await _invitation(stack, after, paused_id) is not None

    # A pause also ends by itself on its day: no event is needed when it comes.
    assert (await _settled(stack, PauseMembership(tenant=T, session=session, until=until))).status
    await wait_until(paused_in_rounds, timeout=15, what="paused again")
    await panelists.update_one({"_id": f"{T}:{paused_id}"}, {"$set": {"paused_until_ms": 1}})
    later = await _open_round(stack, "När dagen har kommit")
    assert await _invitation(stack, later, paused_id) is not None


async def test_a_member_copies_their_data_and_erases_themselves_everywhere(
    stack: Stack,
) -> None:
    await _council(stack)
    member_id, email = await _member(stack, 6)
    round_id = await _open_round(stack, "Bussar")
    assert await _invitation(stack, round_id, member_id) is not None
    session, _ = await _session(stack, await _sign_in_link(stack, email))
    me = await _me(stack, session)
    assert me is not None

    # The copy: each service's part, asked by the member id the session stands for.
    parts = {
        "recruitment": recruitment.GetMemberData(tenant=T, member_id=me.member_id),
        "rounds": rounds_contracts.GetMemberData(tenant=T, member_id=me.member_id),
        "dispatch": dispatch.GetMemberData(tenant=T, member_id=me.member_id),
    }
    copies = {name: await ask(stack.nc, q, PersonalData) for name, q in parts.items()}
    assert copies["recruitment"] is not None
    assert copies["recruitment"].sections["membership"][0]["email"] == email
    assert copies["rounds"] is not None
    assert [i["round"] for i in copies["rounds"].sections["invitations"]] == ["Bussar"]
    assert copies["dispatch"] is not None
    sent = {m["message"] for m in copies["dispatch"].sections["messages"]}
    assert sent == {"round_invitation", "member_sign_in"}

    # Erasure on the member's own request: from another council's side it is refused.
    foreign = EraseMyMembership(tenant="kinda", session=session)
    assert (await _settled(stack, foreign, "kinda")).reason == "no_session"
    erase = EraseMyMembership(tenant=T, session=session)
    assert (await _settled(stack, erase)).status == "done"
    assert await _me(stack, session) is None
    view = await _erasure_completed(stack, member_id)
    assert view.requested_by == "member"
    everything = await _everything(stack)
    assert member_id not in everything
    assert email not in everything
    again = EraseMyMembership(tenant=T, session=session)
    assert (await _settled(stack, again)).reason == "no_session"


async def _redeliver(stack: Stack, command: Envelope) -> None:
    """Deliver ``command`` again under another Nats-Msg-Id (as after the duplicate window),
    and wait until it has been handled (it is acknowledged and gone from its work queue)."""
    stream = stream_name(command.owner, command.kind)
    before = (await stack.js.stream_info(stream)).state.messages
    await publish_raw(
        stack.js, subject_for(command), command.model_dump_json().encode(), str(uuid.uuid4())
    )

    async def handled() -> bool:
        return (await stack.js.stream_info(stream)).state.messages <= before

    await wait_until(handled, timeout=15, what=f"{command.name} delivered again")


async def _open_round(stack: Stack, title: str) -> str:
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(tenant=T, round_id=round_id, title=title, purpose="Plan.", questions=QUESTIONS),
    )
    await open_now(stack.js, stack.nc, T, round_id)
    expected = await stack.services["rounds"].runtime.db.panelists.count_documents({"tenant": T})

    async def fanned_out() -> bool:
        view = await ask(
            stack.nc, rounds_contracts.GetRound(tenant=T, round_id=round_id), RoundView
        )
        if view is None or view.state != "open":
            return False
        rounds_db = stack.services["rounds"].runtime.db
        made = await rounds_db.invitations.count_documents({"round_id": round_id})
        # Every member who is not paused has an invitation (paused ones are counted out).
        paused = await rounds_db.panelists.count_documents(
            {"tenant": T, "paused_until_ms": {"$gt": 1}}
        )
        return made == expected - paused

    await wait_until(fanned_out, timeout=20, what=f"round {title} fanned out")
    return round_id


async def _invitation(stack: Stack, round_id: str, member_id: str) -> dict[str, object] | None:
    found: dict[str, object] | None = await stack.services[
        "rounds"
    ].runtime.db.invitations.find_one({"_id": f"{round_id}:{member_id}"})
    return found


async def test_changing_the_language_keeps_the_mobile_number_in_the_contact_book(
    stack: Stack,
) -> None:
    await _council(stack)
    member_id, email = await _member(stack, 7)
    # The member also has a mobile number (as a sign-up with both would leave them).
    recruitment = stack.services["recruitment"].runtime.db
    await recruitment.members.update_one({"_id": member_id}, {"$set": {"phone": "+46701234567"}})
    session, opened = await _session(stack, await _sign_in_link(stack, email))
    assert opened.status == "done"
    change = ChangeMyDetails(
        tenant=T, session=session, birth_year=1960, gender="female", district="Kisa", locale="en"
    )
    assert (await _settled(stack, change)).status == "done"
    contacts = stack.services["dispatch"].runtime.db.contacts

    async def in_english() -> bool:
        contact = await contacts.find_one({"_id": f"{T}:{member_id}"})
        return contact is not None and contact.get("locale") == "en"

    await wait_until(in_english, timeout=15, what="the contact book in English")
    contact = await contacts.find_one({"_id": f"{T}:{member_id}"})
    assert contact is not None
    assert contact["phone"] == "+46701234567"
    assert contact["email"] == email


async def test_a_member_changes_the_topics_they_follow(stack: Stack) -> None:
    from contracts.panels import ConfigurePanel, PanelSettings

    await _council(stack)
    configure = ConfigurePanel(
        tenant=T,
        settings=PanelSettings(topics=("Skola", "Trafik")),
        consent_text="Vi sparar dina uppgifter för panelen tills du lämnar den.",
    )
    assert (await _settled(stack, configure)).status == "done"
    _, email = await _member(stack, 8)
    session, _ = await _session(stack, await _sign_in_link(stack, email))
    me = await _me(stack, session)
    assert me is not None
    assert (me.topics, me.topics_offered) == ((), ("Skola", "Trafik"))
    change = ChangeMyDetails(
        tenant=T,
        session=session,
        birth_year=1960,
        gender="female",
        district="Kisa",
        locale="sv",
        topics=("Trafik",),
    )
    assert (await _settled(stack, change)).status == "done"
    me = await _me(stack, session)
    assert me is not None
    assert me.topics == ("Trafik",)
    odd = change.model_copy(update={"message_id": str(uuid.uuid4()), "topics": ("Fiske",)})
    assert (await _settled(stack, odd)).reason == "topic_not_offered"
    # Rounds learns the topics, to invite those who follow one (Target.topics).
    panelists = stack.services["rounds"].runtime.db.panelists

    async def followed() -> list[str] | None:
        doc = await panelists.find_one({"tenant": T, "topics": {"$all": ["Trafik"]}})
        return None if doc is None else list(doc["topics"])

    assert await wait_until(followed, timeout=15, what="topics in rounds") == ["Trafik"]
