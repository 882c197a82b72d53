"""Invited recruitment on the real stack: a register extract is imported in batches, a
stratified sample drawn, letters made, codes redeemed; bad rows, reused and expired codes,
people already in the panel or drawn recently, duplicate batches and reproducible draws."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from contracts.campaigns import (
    REGISTER_COLUMNS,
    CampaignView,
    CloseCampaign,
    CreateCampaign,
    DrawSample,
    FinishRegister,
    GetCampaign,
    GetInvitationCode,
    GetLetters,
    GetRegisterRejections,
    ImportRegister,
    InvitedView,
    Letters,
    RedeemInvitation,
    RegisterRejections,
    RegisterRow,
)
from contracts.recruitment import EraseMember, ListTenants, RegisterTenant, TenantList
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from tests.conftest import Stack, recruitment_outcome

T = "kinda"
YEAR = datetime.now(UTC).year
CLOSES = (date.today() + timedelta(days=30)).isoformat()


async def _council(stack: Stack) -> None:
    await publish(
        stack.js,
        RegisterTenant(tenant=T, display_name="Kinda kommun", districts=("Kisa", "Rimforsa")),
    )

    async def listed() -> bool:
        reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
        return reply is not None and any(
            t.tenant == T and t.districts == ("Kisa", "Rimforsa") for t in reply.tenants
        )

    await wait_until(listed, timeout=10, what="the council")


def person(n: int, **changes: str) -> RegisterRow:
    """Person n of a synthetic extract: alternating districts and genders, ages 20-79."""
    values = {
        "name": f"Person {n}",
        "address": f"Storgatan {n}",
        "postcode": "590 40",
        "town": "Kisa",
        "birth_year": str(YEAR - 20 - n % 60),
        "gender": "K" if n % 2 else "M",
        "district": "Kisa" if n % 3 else "rimforsa",
        "email": "",
        "mobile": "",
    }
    values.update(changes)
    return tuple(values[c] for c in REGISTER_COLUMNS)  # type: ignore[return-value]


async def create(stack: Stack, campaign_id: str, months: int = 24) -> None:
    cmd = CreateCampaign(
        tenant=T,
        campaign_id=campaign_id,
        title="Spring letters",
        closes_on=CLOSES,
        exclude_drawn_months=months,
    )
    await publish(stack.js, cmd)
    assert (await recruitment_outcome(stack, T, cmd.message_id)).status == "done"


async def load(stack: Stack, campaign_id: str, rows: list[RegisterRow], batch: int = 100) -> None:
    """Send the extract in batches, then its totals, and wait until every batch is in."""
    batches = 0
    for start in range(0, len(rows), batch):
        batches += 1
        await publish(
            stack.js,
            ImportRegister(
                tenant=T,
                campaign_id=campaign_id,
                batch_no=batches,
                first_row=start + 1,
                rows=tuple(rows[start : start + batch]),
            ),
        )
    await publish(
        stack.js, FinishRegister(tenant=T, campaign_id=campaign_id, batches=batches, rows=len(rows))
    )

    async def imported() -> bool:
        view = await campaign(stack, campaign_id)
        return view.batches_expected == view.batches_done == batches

    await wait_until(imported, timeout=20, what="the extract imported")


async def campaign(stack: Stack, campaign_id: str) -> CampaignView:
    view = await ask(stack.nc, GetCampaign(tenant=T, campaign_id=campaign_id), CampaignView)
    assert view is not None
    return view


async def draw(stack: Stack, campaign_id: str, size: int, **options: Any) -> Any:
    cmd = DrawSample(tenant=T, campaign_id=campaign_id, size=size, **options)
    await publish(stack.js, cmd)
    return await recruitment_outcome(stack, T, cmd.message_id)


async def letters(stack: Stack, campaign_id: str) -> Letters:
    reply = await ask(stack.nc, GetLetters(tenant=T, campaign_id=campaign_id), Letters)
    assert reply is not None
    return reply


async def redeem(stack: Stack, code: str, email: str) -> Any:
    cmd = RedeemInvitation(tenant=T, code=code, email=email, consent_version="2026-1")
    await publish(stack.js, cmd)
    return await recruitment_outcome(stack, T, cmd.message_id)


async def test_a_campaign_imports_draws_prints_and_its_codes_join_the_panel(stack: Stack) -> None:
    await _council(stack)
    rows = [person(n) for n in range(600)]
    rows[10] = person(10, birth_year="19x0")
    rows[11] = person(11, district="Atlantis")
    rows[12] = person(12, birth_year=str(YEAR - 10))
    rows[13] = person(13, gender="?")
    rows[14] = person(14, name="")
    rows[15] = person(15, email="not an address")
    rows[16] = person(16, mobile="12")
    rows[17] = person(17, email="Anna@Example.se", mobile="070-123 45 67")
    rows[150] = person(150, name="Person 17", address="Storgatan 17", birth_year=rows[17][4])
    await create(stack, "c1")
    await load(stack, "c1", rows)
    view = await campaign(stack, "c1")
    assert (view.rows, view.rejected, view.excluded, view.eligible) == (600, 7, 0, 593)
    assert view.state == "importing"
    reasons = await ask(
        stack.nc, GetRegisterRejections(tenant=T, campaign_id="c1"), RegisterRejections
    )
    assert reasons is not None
    assert [(r.row, r.reason) for r in reasons.rejections] == [
        (11, "invalid_birth_year"),
        (12, "invalid_district"),
        (13, "too_young"),
        (14, "invalid_gender"),
        (15, "invalid_name"),
        (16, "invalid_email"),
        (17, "invalid_mobile"),
    ]
    # Person 17 and row 151, which repeats them, are in different batches: both are
    # eligible, and the draw counts a person once.

    outcome = await draw(stack, "c1", 60, seed=42)
    assert outcome.status == "done"
    view = await campaign(stack, "c1")
    assert view.state == "drawn"
    assert view.seed == 42
    assert view.method == "proportional"
    assert 59 <= view.invited <= 60
    assert sum(s.invited for s in view.strata) == view.invited
    # Proportional: each stratum's share of the sample is its share of the extract, ± 1.
    for s in view.strata:
        assert abs(s.invited - 60 * s.eligible / view.eligible) <= 1, s
    # A second draw of the same campaign is refused; its copy is not.
    assert (await draw(stack, "c1", 10)).reason == "already_drawn"

    printed = await letters(stack, "c1")
    assert printed.council == "Kinda kommun"
    assert printed.total == view.invited
    first = printed.letters[0]
    assert first.link.startswith("http")
    assert f"/t/{T}/invited/" in first.link
    assert len(first.code) == 11
    assert first.code[5] == "-"

    # The short code, typed sloppily, finds the invitation; the register pre-fills the page.
    typed = first.code.lower().replace("-", " ")
    seen = await ask(stack.nc, GetInvitationCode(tenant=T, code=typed), InvitedView)
    assert seen is not None
    assert seen.state == "invited"
    assert seen.name == first.name
    assert (await redeem(stack, typed, "new.member@example.se")).status == "done"
    members = stack.services["recruitment"].runtime.db.members
    member = await members.find_one({"email": "new.member@example.se"})
    assert member is not None
    assert member["state"] == "active"
    assert member["consent"]["source"] == "register_sample"
    assert member["campaign"] == "c1"
    assert member["birth_year"] == seen.birth_year
    assert member["district_code"] == seen.district
    # Reused, by link or code: refused.
    token = first.link.rsplit("/", 1)[1]
    assert (await redeem(stack, token, "other@example.se")).reason == "already_used"
    again = await ask(stack.nc, GetInvitationCode(tenant=T, code=token), InvitedView)
    assert again is not None
    assert again.state == "joined"
    # Unknown codes and another council's codes are unknown.
    assert (await redeem(stack, "ZZZZZ-ZZZZZ", "x@example.se")).reason == "unknown_code"
    view = await campaign(stack, "c1")
    assert view.joined == 1
    assert [s.joined for s in view.strata if s.joined] == [1]

    # The second letter is redeemed through its link; rounds gets the member.
    second = printed.letters[1]
    assert (await redeem(stack, second.link.rsplit("/", 1)[1], "two@example.se")).status == "done"

    # Closing: codes expire, the extract and the invitees' identity are gone.
    close = CloseCampaign(tenant=T, campaign_id="c1")
    await publish(stack.js, close)
    assert (await recruitment_outcome(stack, T, close.message_id)).status == "done"
    third = printed.letters[2]
    assert (await redeem(stack, third.code, "three@example.se")).reason == "unknown_code"
    db = stack.services["recruitment"].runtime.db
    assert await db.register_rows.count_documents({}) == 0
    async for invitee in db.invitees.find({"campaign": "c1"}):
        assert "name" not in invitee
        assert "code_hash" not in invitee
    assert (await campaign(stack, "c1")).joined == 2
    assert await ask(stack.nc, GetLetters(tenant=T, campaign_id="c1"), Letters) is None


async def test_members_and_people_drawn_recently_are_left_out(stack: Stack) -> None:
    await _council(stack)
    await create(stack, "first")
    await load(stack, "first", [person(n) for n in range(40)])
    assert (await draw(stack, "first", 40)).status == "done"
    printed = await letters(stack, "first")
    assert (await redeem(stack, printed.letters[0].code, "joined@example.se")).status == "done"
    # The same people again, one of them now with the address of a member.
    rows = [person(n) for n in range(40)] + [person(99, email="JOINED@example.se")]
    await create(stack, "second")
    await load(stack, "second", rows)
    view = await campaign(stack, "second")
    assert (view.eligible, view.excluded) == (0, 41)
    reasons = await ask(
        stack.nc, GetRegisterRejections(tenant=T, campaign_id="second"), RegisterRejections
    )
    assert reasons is not None
    assert {r.reason for r in reasons.rejections} == {"already_member", "drawn_recently"}
    assert sum(r.reason == "already_member" for r in reasons.rejections) == 2
    assert (await draw(stack, "second", 5)).status == "done"
    assert (await campaign(stack, "second")).invited == 0
    # A campaign that does not look back draws them again (not the member).
    await create(stack, "third", months=0)
    await load(stack, "third", [person(n) for n in range(40)])
    assert (await campaign(stack, "third")).eligible == 39


async def test_a_draw_is_reproduced_from_its_seed_and_boost_favours_what_the_panel_lacks(
    stack: Stack,
) -> None:
    await _council(stack)
    rows = [person(n) for n in range(300)]
    names = []
    for campaign_id in ("a", "b"):
        await create(stack, campaign_id, months=0)
        await load(stack, campaign_id, rows, batch=70)
        assert (await draw(stack, campaign_id, 30, seed=7)).status == "done"
        names.append([letter.name for letter in (await letters(stack, campaign_id)).letters])
    assert names[0] == names[1]
    assert len(names[0]) == 30
    await create(stack, "c", months=0)
    await load(stack, "c", rows, batch=70)
    assert (await draw(stack, "c", 30, seed=8)).status == "done"
    assert [letter.name for letter in (await letters(stack, "c")).letters] != names[0]

    # The panel gets the women "a" drew: boost then draws more men than their share.
    for letter in (await letters(stack, "a")).letters:
        seen = await ask(stack.nc, GetInvitationCode(tenant=T, code=letter.code), InvitedView)
        assert seen is not None
        if seen.gender == "female":
            email = f"{uuid.uuid4().hex}@example.se"
            assert (await redeem(stack, letter.code, email)).status == "done"
    await create(stack, "boost", months=0)
    await load(stack, "boost", rows, batch=70)
    outcome = await draw(stack, "boost", 60, method="boost", expected_response_pct=50)
    assert outcome.status == "done"
    view = await campaign(stack, "boost")
    assert view.invited == 60
    men = [s for s in view.strata if s.gender == "male"]
    share = sum(s.eligible for s in men) / view.eligible
    assert sum(s.invited for s in men) > 60 * share + 5


async def test_import_refuses_an_unknown_campaign_and_keeps_a_batch_once(stack: Stack) -> None:
    await _council(stack)
    await create(stack, "once")
    batch = ImportRegister(
        tenant=T, campaign_id="once", batch_no=1, first_row=1, rows=(person(1), person(2))
    )
    await publish(stack.js, batch)
    copy = batch.model_copy(update={"message_id": str(uuid.uuid4())})
    await publish(stack.js, copy)
    await publish(stack.js, FinishRegister(tenant=T, campaign_id="once", batches=1, rows=2))

    async def both_handled() -> bool:
        view = await campaign(stack, "once")
        return view.batches_done == 1 and view.batches_expected == 1

    await wait_until(both_handled, timeout=10, what="the batch")
    db = stack.services["recruitment"].runtime.db
    view = await campaign(stack, "once")
    assert (view.rows, view.eligible) == (2, 2)
    assert await db.register_batches.count_documents({"campaign": "once"}) == 1
    # Another council cannot see or feed the campaign.
    assert await ask(stack.nc, GetCampaign(tenant="ale", campaign_id="once"), CampaignView) is None
    # A draw before the import is complete is refused.
    await create(stack, "early")
    assert (await draw(stack, "early", 5)).reason == "import_incomplete"
    # A campaign closing before today is refused.
    past = CreateCampaign(tenant=T, campaign_id="past", title="Old", closes_on="2001-01-01")
    await publish(stack.js, past)
    assert (await recruitment_outcome(stack, T, past.message_id)).reason == "closes_in_the_past"


async def test_erasing_a_member_who_joined_by_invitation_forgets_the_campaigns_record(
    stack: Stack,
) -> None:
    await _council(stack)
    await create(stack, "e")
    await load(stack, "e", [person(n) for n in range(10)])
    assert (await draw(stack, "e", 10)).status == "done"
    letter = (await letters(stack, "e")).letters[0]
    assert (await redeem(stack, letter.code, "erase.me@example.se")).status == "done"
    db = stack.services["recruitment"].runtime.db
    member = await db.members.find_one({"email": "erase.me@example.se"})
    assert member is not None
    erase = EraseMember(tenant=T, member_id=member["_id"], requested_by="anna")
    await publish(stack.js, erase)

    async def gone() -> bool:
        return await db.members.find_one({"_id": member["_id"]}) is None

    await wait_until(gone, timeout=15, what="the erasure completed everywhere")
    everything = [
        json.dumps(doc, default=str)
        for name in await db.list_collection_names()
        async for doc in db[name].find({})
    ]
    text = "\n".join(everything)
    assert letter.name not in text
    assert member["person"] not in text
    assert "erase.me@example.se" not in text
    # The other people drawn keep their invitations.
    assert (await letters(stack, "e")).total == 10


async def test_staff_search_members_by_background_and_never_see_contacts(stack: Stack) -> None:
    from contracts.membership import MemberList, SearchMembers
    from contracts.recruitment import ImportMembers, MemberRow

    await _council(stack)
    rows = [
        MemberRow(
            member_id=str(uuid.uuid4()),
            email=f"m{n}@example.se",
            birth_year=YEAR - 20 - n,
            gender="female" if n % 2 else "male",
            district="Kisa" if n < 6 else "Rimforsa",
        )
        for n in range(10)
    ]
    await publish(
        stack.js,
        ImportMembers(
            tenant=T,
            import_id="s",
            batch_no=1,
            consent_version="2026-1",
            source="paper",
            rows=tuple(rows),
        ),
    )

    async def search(**filters: Any) -> MemberList:
        reply = await ask(stack.nc, SearchMembers(tenant=T, **filters), MemberList)
        assert reply is not None
        return reply

    async def all_in() -> bool:
        return len((await search(limit=200)).members) == 10

    await wait_until(all_in, timeout=15, what="the members imported")
    women_in_kisa = await search(district="Kisa", gender="female")
    assert len(women_in_kisa.members) == 3
    assert {m.source for m in women_in_kisa.members} == {"paper"}
    young = await search(age_band="16-29")
    assert {m.birth_year for m in young.members} == {YEAR - 20 - n for n in range(10)}
    # Pages of 4, in id order, cover everyone once.
    seen: list[str] = []
    after = ""
    while True:
        page = await search(limit=4, after=after)
        seen += [m.member_id for m in page.members]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == sorted(r.member_id for r in rows)
    one = rows[0].member_id
    assert [m.member_id for m in (await search(member_id=one[:8])).members] == [one]
    # No contact detail in any reply, and another council sees nobody.
    assert "@" not in (await search(limit=200)).model_dump_json()
    other = await ask(stack.nc, SearchMembers(tenant="ale"), MemberList)
    assert other is not None
    assert other.members == ()


async def test_sign_ups_through_an_open_campaign_or_a_friends_link_are_counted(
    stack: Stack,
) -> None:
    import re

    from contracts.campaigns import ListOpenCampaigns, OpenCampaignList, StartOpenCampaign
    from contracts.recruitment import ConfirmMembership, EnrolMember

    await _council(stack)
    start = StartOpenCampaign(
        tenant=T,
        slug="var-2027",
        title="Vårmarknaden",
        starts_on="2026-01-01",
        ends_on="2099-12-31",
        target=10,
    )
    await publish(stack.js, start)
    assert (await recruitment_outcome(stack, T, start.message_id)).status == "done"
    reserved = start.model_copy(update={"message_id": str(uuid.uuid4()), "slug": "friend"})
    await publish(stack.js, reserved)
    assert (await recruitment_outcome(stack, T, reserved.message_id)).reason == "reserved_slug"

    def sign_up(n: int, via: str) -> EnrolMember:
        return EnrolMember(
            tenant=T,
            member_id=str(uuid.uuid4()),
            email=f"via{n}@example.se",
            birth_year=1980,
            gender="female",
            district="Kisa",
            consent_version="2026-1",
            via=via,
        )

    sign_ups = [sign_up(1, "var-2027"), sign_up(2, "var-2027"), sign_up(3, "friend")]
    for cmd in sign_ups:
        await publish(stack.js, cmd)
        await publish(stack.js, cmd)  # a duplicate delivery counts nothing twice

    def link_for(address: str) -> str | None:
        items, _ = stack.devtools.mailbox.list_mails(limit=1000)
        for item in items:
            mail = stack.devtools.mailbox.get_mail(item.id)
            if address in str(mail.to):
                found = re.search(r"/join/confirm/([A-Za-z0-9_-]+)", mail.text)
                if found:
                    return found.group(1)
        return None

    token = await wait_until(lambda: link_for("via1@example.se"), timeout=15, what="the mail")
    confirm = ConfirmMembership(tenant=T, token=token)
    await publish(stack.js, confirm)
    assert (await recruitment_outcome(stack, T, confirm.message_id)).status == "done"

    async def counted() -> OpenCampaignList | None:
        reply = await ask(stack.nc, ListOpenCampaigns(tenant=T), OpenCampaignList)
        if reply is None:
            return None
        by_slug = {c.slug: c for c in reply.campaigns}
        ready = "var-2027" in by_slug and by_slug["var-2027"].joined == 1
        return reply if ready and by_slug["friend"].signed_up == 1 else None

    reply = await wait_until(counted, timeout=15, what="the counts")
    by_slug = {c.slug: c for c in reply.campaigns}
    assert (by_slug["var-2027"].signed_up, by_slug["var-2027"].joined) == (2, 1)
    assert (by_slug["friend"].signed_up, by_slug["friend"].joined) == (1, 0)
    assert by_slug["var-2027"].state == "running"
    assert by_slug["var-2027"].target == 10


async def test_people_drawn_with_a_known_contact_are_invited_by_mail_or_sms(stack: Stack) -> None:
    import re

    await _council(stack)
    rows = [
        person(0, email="anna.register@example.se"),
        person(1, mobile="070-123 45 67"),
        person(2),
        person(3, email="taken@example.se"),
    ]
    await create(stack, "mail")
    await load(stack, "mail", rows)
    assert (await draw(stack, "mail", 4)).status == "done"

    def mails() -> dict[str, str]:
        items, _ = stack.devtools.mailbox.list_mails(limit=100)
        found = {}
        for item in items:
            mail = stack.devtools.mailbox.get_mail(item.id)
            if "/invited/" in mail.text:
                found[str(mail.to)] = mail.text
        return found

    invited = await wait_until(
        lambda: mails() if len(mails()) == 2 else None, timeout=15, what="mails"
    )
    [anna] = [text for to, text in invited.items() if "anna.register" in to]
    assert "Kinda kommun" in anna
    texts = await wait_until(
        lambda: stack.devtools.sms.messages(number="+46701234567") or None,
        timeout=15,
        what="the SMS",
    )
    assert "/invited/" in texts[0]["message"]
    # Anna joins through the mailed link; the owner of "taken@" is a member already and
    # gives that address; the others never answer and the campaign closes.
    token = re.search(r"/invited/([A-Za-z0-9_-]+)", anna)
    assert token
    assert (await redeem(stack, token.group(1), "anna.register@example.se")).status == "done"
    taken_text = next(text for to, text in invited.items() if "taken@" in to)
    code = re.search(r"[0-9A-Z]{5}-[0-9A-Z]{5}", taken_text)
    assert code
    await _member_with(stack, "already@example.se")
    assert (await redeem(stack, code.group(0), "already@example.se")).status == "done"
    close = CloseCampaign(tenant=T, campaign_id="mail")
    await publish(stack.js, close)
    assert (await recruitment_outcome(stack, T, close.message_id)).status == "done"
    contacts = stack.services["dispatch"].runtime.db.contacts

    async def forgotten() -> bool:
        kept = [json.dumps(c, default=str) async for c in contacts.find({})]
        text = "\n".join(kept)
        return "taken@example.se" not in text and "+46701234567" not in text

    await wait_until(forgotten, timeout=15, what="dispatch forgetting who did not join")
    text = "\n".join([json.dumps(c, default=str) async for c in contacts.find({})])
    assert "anna.register@example.se" in text  # she is a member now


async def _member_with(stack: Stack, email: str) -> None:
    from contracts.recruitment import ImportMember

    await publish(
        stack.js,
        ImportMember(
            tenant=T,
            member_id=str(uuid.uuid4()),
            email=email,
            birth_year=1970,
            gender="male",
            district="Kisa",
            consent_version="2026-1",
            source="paper",
        ),
    )
    members = stack.services["recruitment"].runtime.db.members
    await wait_until(
        lambda: members.find_one({"email": email}), timeout=10, what="the member imported"
    )


async def test_a_youth_panels_campaign_draws_and_joins_only_people_the_panel_takes(
    stack: Stack,
) -> None:
    from contracts.membership import MemberList, SearchMembers
    from contracts.panels import ConfigurePanel, GetPanel, PanelSettings, PanelView

    await _council(stack)
    text = "Ungdomspanelen sparar din e-postadress, ditt födelseår, kön och distrikt."

    async def configure(max_age: int) -> None:
        cmd = ConfigurePanel(
            tenant=T,
            panel="youth",
            settings=PanelSettings(name="Ungdomspanelen", min_age=16, max_age=max_age),
            consent_text=text,
        )
        await publish(stack.js, cmd)
        assert (await recruitment_outcome(stack, T, cmd.message_id)).status == "done"

    await configure(19)
    cmd = CreateCampaign(
        tenant=T, campaign_id="ung", title="Brev till unga", closes_on=CLOSES, panel="youth"
    )
    await publish(stack.js, cmd)
    assert (await recruitment_outcome(stack, T, cmd.message_id)).status == "done"
    # Two people of 17 and 18, two adults: the adults are left out of a youth panel's draw.
    rows = [
        person(1, birth_year=str(YEAR - 17)),
        person(2, birth_year=str(YEAR - 18)),
        person(3, birth_year=str(YEAR - 40)),
        person(4, birth_year=str(YEAR - 60)),
    ]
    await load(stack, "ung", rows)
    view = await campaign(stack, "ung")
    assert (view.panel, view.eligible, view.excluded) == ("youth", 2, 2)
    assert (await draw(stack, "ung", 4)).status == "done"
    printed = await letters(stack, "ung")
    assert len(printed.letters) == 2
    by_name = {letter.name: letter.code for letter in printed.letters}
    version = await ask(stack.nc, GetPanel(tenant=T, panel="youth"), PanelView)
    assert version is not None

    async def redeem_as(code: str, email: str, consent: str) -> Any:
        cmd = RedeemInvitation(tenant=T, code=code, email=email, consent_version=consent)
        await publish(stack.js, cmd)
        return await recruitment_outcome(stack, T, cmd.message_id)

    # The general panel's consent text is not the youth panel's.
    wrong_text = await redeem_as(by_name["Person 1"], "ung1@example.se", "2026-1")
    assert wrong_text.reason == "unknown_consent_version"
    joined = await redeem_as(by_name["Person 1"], "ung1@example.se", version.consent_version)
    assert joined.status == "done"
    # The panel now takes up to 17: the 18-year-old drawn before is no longer taken.
    await configure(17)
    late = await redeem_as(by_name["Person 2"], "ung2@example.se", version.consent_version)
    assert late.reason == "not_eligible"
    youth = await ask(stack.nc, SearchMembers(tenant=T, panels=("youth",)), MemberList)
    assert youth is not None
    assert [m.panels for m in youth.members] == [("youth",)]
