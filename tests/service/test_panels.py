"""Several panels in one council on the real stack: a youth panel and a district's panel
beside the general one, each with its own eligibility and members; a round of one panel
invites only its members; a member joins a further panel from their own page; the member
search and the representativeness figures follow one panel."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime

from contracts.membership import GetMyMembership, MemberList, MyMembership, SearchMembers
from contracts.panels import (
    ChangeMyPanels,
    ConfigurePanel,
    GetMyPanels,
    GetPanel,
    ListPanels,
    MyPanels,
    PanelList,
    PanelSettings,
    PanelView,
)
from contracts.recruitment import (
    ConfirmMembership,
    EnrolMember,
    GetRepresentativeness,
    ImportMember,
    PopulationRow,
    Representativeness,
    SetPopulation,
)
from contracts.rounds import (
    CreateRound,
    GetRound,
    ListRounds,
    Question,
    RoundList,
    RoundView,
)
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish
from infra.deadletter import list_dead_letters
from infra.queries import ask
from tests.conftest import Stack
from tests.service.test_self_service import (
    T,
    _council,
    _links,
    _member,
    _session,
    _settled,
    _sign_in_link,
)

TEXT = "Ungdomspanelen sparar din e-postadress, ditt födelseår, kön och distrikt."
YEAR = datetime.now(UTC).year


async def _configure(stack: Stack, panel: str, text: str = TEXT, **settings: object) -> str:
    cmd = ConfigurePanel(
        tenant=T, panel=panel, settings=PanelSettings(**settings), consent_text=text
    )
    outcome = await _settled(stack, cmd)
    return f"{outcome.status}:{outcome.reason or ''}"


async def _panel(stack: Stack, panel: str) -> PanelView:
    view = await ask(stack.nc, GetPanel(tenant=T, panel=panel), PanelView)
    assert view is not None
    return view


async def _join(stack: Stack, panel: str, email: str, birth_year: int, district: str) -> str:
    """Sign up for ``panel`` and confirm by the mailed link; the member's id."""
    member_id = str(uuid.uuid4())
    version = (await _panel(stack, panel)).consent_version
    await publish(
        stack.js,
        EnrolMember(
            tenant=T,
            member_id=member_id,
            email=email,
            birth_year=birth_year,
            gender="female",
            district=district,
            consent_version=version,
            panel=panel,
        ),
    )
    await wait_until(lambda: _links(stack, email, "join/confirm"), timeout=15, what="opt-in")
    token = _links(stack, email, "join/confirm")[0]
    assert (await _settled(stack, ConfirmMembership(tenant=T, token=token))).status == "done"
    return member_id


async def _round(stack: Stack, panel: str) -> str:
    round_id = str(uuid.uuid4())
    questions = (Question(key="q", kind="single_choice", text="?", options=("a", "b")),)
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title=f"Omgång för {panel}",
            purpose="Test.",
            questions=questions,
            panel=panel,
        ),
    )

    async def created() -> bool:
        return await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView) is not None

    await wait_until(created, timeout=10, what="round drafted")
    await open_now(stack.js, stack.nc, T, round_id)
    return round_id


async def _invited(stack: Stack, round_id: str) -> set[str]:
    invitations = stack.services["rounds"].runtime.db.invitations
    return {d["member_id"] async for d in invitations.find({"round_id": round_id})}


async def test_a_council_runs_a_youth_and_a_district_panel_beside_the_general_one(
    stack: Stack,
) -> None:
    await _council(stack)  # T with the districts Kisa and Rimforsa
    adult, adult_email = await _member(stack, 1)  # the general panel's, from Kisa, born 1960

    # Configuring a panel of a new name creates it; its districts must be the council's,
    # and its oldest age not below its youngest.
    assert await _configure(stack, "youth", name="Ungdomspanelen", min_age=13, max_age=19) == (
        "done:"
    )
    assert (
        await _configure(
            stack, "kisa", name="Kisapanelen", districts=("Kisa",), topics=("Kisa torg",)
        )
        == "done:"
    )
    assert (
        await _configure(stack, "north", name="Norr", districts=("Nowhere",))
        == "refused:district_not_listed"
    )
    assert (
        await _configure(stack, "odd", name="Udda", min_age=18, max_age=16)
        == "refused:max_age_below_min_age"
    )
    youth = await _panel(stack, "youth")
    assert youth.settings.max_age == 19
    assert youth.consent_version == f"youth-{YEAR}-1"
    assert await ask(stack.nc, GetPanel(tenant=T, panel="north"), PanelView) is None

    # Sign-ups follow the panel's own rules: a 15-year-old joins the youth panel (not the
    # general one, from 16); a 40-year-old is refused by the youth panel; a resident of
    # Rimforsa is refused by Kisa's panel; an unknown panel refuses everyone.
    teen = await _join(stack, "youth", "teen@example.se", YEAR - 15, "Kisa")
    refused = []
    for panel, email, born, district in (
        ("general", "young@example.se", YEAR - 15, "Kisa"),
        ("youth", "old@example.se", YEAR - 40, "Kisa"),
        ("kisa", "rim@example.se", YEAR - 40, "Rimforsa"),
        ("nosuch", "none@example.se", YEAR - 40, "Kisa"),
    ):
        cmd = EnrolMember(
            tenant=T,
            member_id=str(uuid.uuid4()),
            email=email,
            birth_year=born,
            gender="male",
            district=district,
            consent_version=(await _panel(stack, "kisa")).consent_version
            if panel == "kisa"
            else "2026-1",
            panel=panel,
        )
        await publish(stack.js, cmd)
        refused.append(cmd.message_id)

    async def all_refused() -> bool:
        dead = {d.original_message_id for d in await list_dead_letters(stack.js)}
        return set(refused) <= dead

    await wait_until(all_refused, timeout=15, what="four sign-ups refused")
    neighbour = await _join(stack, "kisa", "granne@example.se", YEAR - 50, "Kisa")

    # The panel list counts each panel's members.
    listed = await ask(stack.nc, ListPanels(tenant=T), PanelList)
    assert listed is not None
    assert [(p.panel, p.name, p.members) for p in listed.panels] == [
        ("general", "Medborgarpanelen", 1),
        ("kisa", "Kisapanelen", 1),
        ("youth", "Ungdomspanelen", 1),
    ]

    # A round of the youth panel invites the teenager only; the general panel's, the adult.
    rounds_db = stack.services["rounds"].runtime.db

    async def in_rounds() -> bool:
        return await rounds_db.panelists.count_documents({"tenant": T}) == 3

    await wait_until(in_rounds, timeout=15, what="three members in rounds")
    youth_round = await _round(stack, "youth")
    await wait_until(
        lambda: _has(_invited(stack, youth_round), {teen}), timeout=15, what="youth invited"
    )
    general_round = await _round(stack, "general")
    await wait_until(
        lambda: _has(_invited(stack, general_round), {adult}), timeout=15, what="adults invited"
    )
    assert await _invited(stack, youth_round) == {teen}
    assert await _invited(stack, general_round) == {adult}
    only_youth = await ask(stack.nc, ListRounds(tenant=T, panels=("youth",)), RoundList)
    assert only_youth is not None
    assert [(r.round_id, r.panel) for r in only_youth.rounds] == [(youth_round, "youth")]

    # The adult from Kisa joins Kisa's panel too from their own page; the youth panel does
    # not take them, an unknown panel is refused, and leaving every panel is not a choice.
    session, _ = await _session(stack, await _sign_in_link(stack, adult_email))
    mine = await ask(stack.nc, GetMyPanels(tenant=T, session=session), MyPanels)
    assert mine is not None
    assert [(p.panel, p.member, p.eligible) for p in mine.panels] == [
        ("general", True, True),
        ("kisa", False, True),
        ("youth", False, False),
    ]
    too_old = ChangeMyPanels(tenant=T, session=session, panels=("general", "youth"))
    assert (await _settled(stack, too_old)).reason == "not_eligible"
    unknown = ChangeMyPanels(tenant=T, session=session, panels=("nosuch",))
    assert (await _settled(stack, unknown)).reason == "unknown_panel"
    foreign = ChangeMyPanels(tenant="kinda", session=session, panels=("general",))
    assert (await _settled(stack, foreign, "kinda")).reason == "no_session"
    both = ChangeMyPanels(tenant=T, session=session, panels=("general", "kisa"))
    assert (await _settled(stack, both)).status == "done"
    await publish(stack.js, both)  # a duplicate delivery changes nothing more

    async def rounds_knows() -> bool:
        doc = await rounds_db.panelists.find_one({"_id": f"{T}:{adult}"})
        return doc is not None and doc.get("panels") == ["general", "kisa"]

    await wait_until(rounds_knows, timeout=15, what="rounds learns the member's panels")
    # Their page now offers the topics of both their panels.
    me = await ask(stack.nc, GetMyMembership(tenant=T, session=session), MyMembership)
    assert me is not None
    assert me.topics_offered == ("Kisa torg",)
    kisa_round = await _round(stack, "kisa")
    await wait_until(
        lambda: _has(_invited(stack, kisa_round), {adult, neighbour}),
        timeout=15,
        what="Kisa's panel invited",
    )
    assert await _invited(stack, kisa_round) == {adult, neighbour}

    # Staff search one panel's members; each member says which panels they are in.
    found = await ask(stack.nc, SearchMembers(tenant=T, panels=("kisa",)), MemberList)
    assert found is not None
    assert {m.member_id for m in found.members} == {adult, neighbour}
    general = await ask(stack.nc, SearchMembers(tenant=T, panels=("general",)), MemberList)
    assert general is not None
    assert {(m.member_id, m.panels) for m in general.members} == {(adult, ("general", "kisa"))}

    # Representativeness of Kisa's panel compares it with Kisa's population only.
    rows = tuple(
        PopulationRow(district=d, age_band=band, gender=g, population=100)
        for d in ("Kisa", "Rimforsa")
        for band in ("16-29", "30-44", "45-64", "65-79", "80+")
        for g in ("female", "male")
    )
    await publish(stack.js, SetPopulation(tenant=T, source="SCB 2026", rows=rows))

    async def figures_set() -> bool:
        reply = await ask(stack.nc, GetRepresentativeness(tenant=T), Representativeness)
        return reply is not None

    await wait_until(figures_set, timeout=15, what="population figures")
    whole = await ask(stack.nc, GetRepresentativeness(tenant=T), Representativeness)
    kisa = await ask(stack.nc, GetRepresentativeness(tenant=T, panel="kisa"), Representativeness)
    assert whole is not None
    assert kisa is not None
    assert {s.group for s in whole.by_district} == {"Kisa", "Rimforsa"}
    assert {s.group for s in kisa.by_district} == {"Kisa"}
    assert kisa.members_compared == 2
    youth_figures = await ask(
        stack.nc, GetRepresentativeness(tenant=T, panel="youth"), Representativeness
    )
    assert youth_figures is not None
    assert {s.group for s in youth_figures.by_age_band} == {"16-29"}


async def _has(found: Awaitable[set[str]], wanted: set[str]) -> bool:
    return wanted <= await found


async def test_an_imported_member_without_panels_is_the_general_panels(stack: Stack) -> None:
    """Members recorded before a council had several panels carry no list: they count as
    the general panel's everywhere (search, rounds)."""
    await _council(stack)
    member_id, _ = await _member(stack, 2)
    db = stack.services["recruitment"].runtime.db
    await db.members.update_one({"_id": member_id}, {"$unset": {"panels": ""}})
    await stack.services["rounds"].runtime.db.panelists.update_one(
        {"_id": f"{T}:{member_id}"}, {"$unset": {"panels": ""}}
    )
    found = await ask(stack.nc, SearchMembers(tenant=T, panels=("general",)), MemberList)
    assert found is not None
    assert [(m.member_id, m.panels) for m in found.members] == [(member_id, ("general",))]
    round_id = await _round(stack, "general")
    await wait_until(
        lambda: _has(_invited(stack, round_id), {member_id}), timeout=15, what="invited"
    )
    _ = ImportMember  # the path that made the member


async def test_terms_and_ages_end_membership_of_one_panel_only(stack: Stack) -> None:
    """A youth panel's member who has outgrown it and a term panel's member whose term is
    over are told, then leave that panel: one who is also in another panel stays there, one
    in no other retires. Members of the general panel are not touched by the others' rules."""
    from datetime import timedelta

    from infra.store import epoch_ms
    from services.recruitment import rotation

    await _council(stack)
    adult, adult_email = await _member(stack, 3)  # general panel, no term
    assert await _configure(stack, "youth", name="Ungdomspanelen", min_age=13, max_age=19) == (
        "done:"
    )
    assert await _configure(stack, "kisa", name="Kisapanelen", term_years=1) == "done:"
    teen = await _join(stack, "youth", "tonaring@example.se", YEAR - 19, "Kisa")
    neighbour = await _join(stack, "kisa", "granne2@example.se", YEAR - 50, "Kisa")
    rt = stack.services["recruitment"].runtime
    db = rt.db
    session, _ = await _session(stack, await _sign_in_link(stack, adult_email))
    both = ChangeMyPanels(tenant=T, session=session, panels=("general", "kisa"))
    assert (await _settled(stack, both)).status == "done"

    # A term in a panel runs from joining it: the adult, a member for years, only just
    # joined Kisa's panel, so nothing is due there.
    long_ago = epoch_ms(datetime.now(UTC) - timedelta(days=3 * 365))
    await db.members.update_one({"_id": adult}, {"$set": {"term_started_ms": long_ago}})
    assert await rotation.rotate(rt) == {"notified": 0, "retired": 0, "left": 0}

    # The teenager turns 20 this year; the two in Kisa's panel started their term there 360
    # days ago (five days before the notice is due).
    year_ago = epoch_ms(datetime.now(UTC) - timedelta(days=360))
    await db.members.update_one({"_id": teen}, {"$set": {"birth_year": YEAR - 20}})
    await db.members.update_one({"_id": adult}, {"$set": {"terms.kisa": year_ago}})
    await db.members.update_one({"_id": neighbour}, {"$set": {"term_started_ms": year_ago}})
    assert await rotation.rotate(rt) == {"notified": 3, "retired": 0, "left": 0}
    assert await rotation.rotate(rt) == {"notified": 0, "retired": 0, "left": 0}

    def mail_to(address: str) -> str:
        items, _ = stack.devtools.mailbox.list_mails(limit=100, to=address)
        texts = [stack.devtools.mailbox.get_mail(i.id).text for i in items]
        return "\n".join(texts)

    await wait_until(
        lambda: "Kisapanelen" in mail_to(adult_email), timeout=15, what="the adult's notice"
    )
    assert "andra paneler" in mail_to(adult_email)  # they stay in the general panel
    assert "/renew/" not in mail_to(adult_email)
    await wait_until(
        lambda: "/renew/" in mail_to("granne2@example.se"), timeout=15, what="renewal offer"
    )
    await wait_until(
        lambda: "tar slut" in mail_to("tonaring@example.se"), timeout=15, what="the teen told"
    )
    assert "/renew/" not in mail_to("tonaring@example.se")  # age is not renewed

    # A month on (the notices 31 days old, the terms over): the adult leaves Kisa's panel
    # and stays in the general one; the other two retire.
    old = epoch_ms(datetime.now(UTC) - timedelta(days=31))
    two_years = epoch_ms(datetime.now(UTC) - timedelta(days=400))
    for member in (adult, neighbour, teen):
        await db.members.update_one(
            {"_id": member},
            {"$set": {"term_notice_ms": old, "term_started_ms": two_years}},
        )
    await db.members.update_one({"_id": adult}, {"$set": {"terms.kisa": two_years}})
    assert await rotation.rotate(rt) == {"notified": 0, "retired": 2, "left": 1}
    kept = await db.members.find_one({"_id": adult})
    assert kept is not None
    assert kept["panels"] == ["general"]
    assert "term_notice_ms" not in kept

    async def retired() -> bool:
        found = await db.members.find({"_id": {"$in": [neighbour, teen]}}).to_list()
        return not found

    await wait_until(retired, timeout=15, what="the two retired members erased")
    panelists = stack.services["rounds"].runtime.db.panelists

    async def rounds_knows() -> bool:
        doc = await panelists.find_one({"_id": f"{T}:{adult}"})
        return doc is not None and doc.get("panels") == ["general"]

    await wait_until(rounds_knows, timeout=15, what="rounds learns the adult left")
    assert await rotation.rotate(rt) == {"notified": 0, "retired": 0, "left": 0}


async def test_a_vendor_file_moves_members_into_one_panel(stack: Stack) -> None:
    """Members imported from a previous vendor's file join the panel the import names; an
    import for a panel the council does not run is refused whole."""
    from contracts.recruitment import ImportMembers, MemberRow

    await _council(stack)
    assert await _configure(stack, "youth", name="Ungdomspanelen", min_age=13, max_age=19) == (
        "done:"
    )

    def batch(panel: str) -> ImportMembers:
        return ImportMembers(
            tenant=T,
            import_id=str(uuid.uuid4()),
            batch_no=1,
            consent_version="",
            source="file",
            consent_source="Netigate 2026",
            require_consent_evidence=True,
            last_batch=True,
            panel=panel,
            rows=(
                MemberRow(
                    member_id=str(uuid.uuid4()),
                    email=f"{panel}@example.se",
                    birth_year=YEAR - 16,
                    gender="female",
                    district="Kisa",
                    consent_date="2026-03-01",
                    consent_version="netigate-1",
                ),
            ),
        )

    youth, unknown = batch("youth"), batch("nosuch")
    for cmd in (youth, unknown):
        await publish(stack.js, cmd)
    panelists = stack.services["rounds"].runtime.db.panelists
    member_id = youth.rows[0].member_id

    async def in_youth() -> bool:
        doc = await panelists.find_one({"_id": f"{T}:{member_id}"})
        return doc is not None and doc.get("panels") == ["youth"]

    await wait_until(in_youth, timeout=15, what="the imported member in the youth panel")

    async def refused() -> bool:
        dead = {d.original_message_id for d in await list_dead_letters(stack.js)}
        return unknown.message_id in dead

    await wait_until(refused, timeout=15, what="the import for an unknown panel refused")
    members = stack.services["recruitment"].runtime.db.members
    assert await members.find_one({"email": "nosuch@example.se"}) is None


async def test_a_member_signing_up_for_another_panel_is_told_by_mail_how_to_join_it(
    stack: Stack,
) -> None:
    await _council(stack)
    _, email = await _member(stack, 4)  # the general panel's
    assert await _configure(stack, "kisa", name="Kisapanelen", districts=("Kisa",)) == "done:"
    version = (await _panel(stack, "kisa")).consent_version

    def sign_up() -> EnrolMember:
        return EnrolMember(
            tenant=T,
            member_id=str(uuid.uuid4()),
            email=email,
            birth_year=1960,
            gender="female",
            district="Kisa",
            consent_version=version,
            panel="kisa",
        )

    first = sign_up()
    await publish(stack.js, first)
    await wait_until(lambda: _links(stack, email, "me") or None, timeout=15, what="the mail")
    await _settled_enrol(stack, first)  # a duplicate delivery mails nothing more
    await _settled_enrol(stack, sign_up())  # nor does another sign-up within the hour
    items, _ = stack.devtools.mailbox.list_mails(limit=100, to=email)
    assert sum("Kisapanelen" in stack.devtools.mailbox.get_mail(i.id).text for i in items) == 1
    # The sign-up made no second member, and no opt-in link.
    members = stack.services["recruitment"].runtime.db.members
    assert await members.count_documents({"email": email}) == 1
    assert _links(stack, email, "join/confirm") == []


async def _settled_enrol(stack: Stack, cmd: EnrolMember) -> None:
    """Publish a sign-up and wait until recruitment's sign-up consumer has handled and acked
    every message so far (a sign-up settles no outcome: it answers the same to anyone)."""
    await publish(stack.js, cmd)

    async def idle() -> bool:
        info = await stack.js.consumer_info("RECRUITMENT_CMD", "recruitment_enrol_member")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_until(idle, timeout=15, what="recruitment's sign-up consumer")
