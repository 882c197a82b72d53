"""Bulk member import on real NATS and the document store: per-row verdicts, idempotency,
member counters kept in the council's document, and their reconciliation."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from contracts.recruitment import (
    ConfirmMembership,
    EnrolMember,
    GetImport,
    GetRepresentativeness,
    ImportMember,
    ImportMembers,
    ImportView,
    ListTenants,
    MemberRow,
    MembershipOutcome,
    Outcome,
    PopulationRow,
    RegisterTenant,
    Representativeness,
    SetPopulation,
    TenantList,
)
from contracts.subjects import subject_for
from devstack.testing import wait_until
from infra.bus import publish, publish_raw
from infra.deadletter import list_dead_letters
from infra.queries import ask
from services.recruitment import counts, imports
from services.recruitment.app import create_service as recruitment
from tests.conftest import PORTAL_URL, Stack, register_council


async def _counters(stack: Stack, tenant: str) -> tuple[int, int]:
    reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
    assert reply is not None
    view = next(t for t in reply.tenants if t.tenant == tenant)
    return view.members_active, view.members_pending


async def _true_counts(stack: Stack, tenant: str) -> tuple[int, int]:
    members = stack.services["recruitment"].runtime.db.members
    active = await members.count_documents({"tenant": tenant, "state": "active"})
    pending = await members.count_documents({"tenant": tenant, "state": "pending"})
    return active, pending


def _row(n: int, tenant: str, **changes: Any) -> MemberRow:
    fields: dict[str, Any] = {
        "member_id": str(uuid.uuid4()),
        "email": f"person{n}@{tenant}.example",
        "birth_year": 1940 + n % 60,
        "gender": ("female", "male", "other", "undisclosed")[n % 4],
        "district": f"District {n % 5}",
    }
    return MemberRow(**{**fields, **changes})


def _import(tenant: str, rows: list[MemberRow], batch_no: int = 1, **extra: Any) -> ImportMembers:
    return ImportMembers(
        tenant=tenant,
        import_id=extra.pop("import_id", "imp-1"),
        batch_no=batch_no,
        consent_version="2026-1",
        source="register_sample",
        rows=tuple(rows),
        **extra,
    )


async def _report(stack: Stack, tenant: str, import_id: str, batches: int = 1) -> ImportView:
    async def ready() -> ImportView | None:
        view = await ask(stack.nc, GetImport(tenant=tenant, import_id=import_id), ImportView)
        return view if view is not None and len(view.batches) == batches else None

    return await wait_until(ready, timeout=20, what=f"report of {import_id}")


async def _event_counts(stack: Stack, tenant: str) -> dict[str, int]:
    info = await stack.js.stream_info(
        "RECRUITMENT_EVT", subjects_filter=f"recruitment.{tenant}.evt.>"
    )
    return {s.rsplit(".", 1)[-1]: n for s, n in (info.state.subjects or {}).items()}


async def _replicas(stack: Stack, tenant: str) -> tuple[set[str], set[str]]:
    """Member ids in rounds' panel replica and in dispatch's contact book."""
    rounds = stack.services["rounds"].runtime.db
    dispatch = stack.services["dispatch"].runtime.db
    panelists = {d["member_id"] async for d in rounds.panelists.find({"tenant": tenant})}
    contacts = {d["member_id"] async for d in dispatch.contacts.find({"tenant": tenant})}
    return panelists, contacts


async def _settled(stack: Stack, tenant: str, expected: set[str]) -> None:
    async def done() -> bool:
        panelists, contacts = await _replicas(stack, tenant)
        return panelists == expected and contacts == expected

    await wait_until(done, timeout=30, what="panel replica and contact book")


async def test_a_batch_with_bad_rows_imports_the_good_ones_once(stack: Stack) -> None:
    t = "ale"
    await register_council(stack, t)
    existing = str(uuid.uuid4())
    await publish(
        stack.js,
        ImportMember(
            tenant=t,
            member_id=existing,
            email="old@ale.example",
            birth_year=1970,
            gender="male",
            district="Surte",
            consent_version="2026-1",
            source="paper",
        ),
    )
    await wait_until(lambda: _counters(stack, t), timeout=10, what="first member")

    rows = [_row(n, t) for n in range(300)]
    rows[10] = _row(10, t, email="not-an-address")
    rows[20] = _row(20, t, email="PERSON5@Ale.Example")  # row 5's address, capitalised
    rows[30] = _row(30, t, email="old@ale.example")  # already a member
    rows[40] = _row(40, t, birth_year=1800)
    rows[50] = _row(50, t, gender="robot")
    rows[60] = _row(60, t, member_id=rows[0].member_id)  # the same id twice
    # The file has a header line: its first member is on row 2.
    await publish(stack.js, _import(t, rows, first_row=2))

    report = await _report(stack, t, "imp-1")
    assert (report.accepted, report.rejected) == (294, 6)
    assert [(r.row, r.reason) for r in report.rejections] == [
        (12, "invalid_email"),
        (22, "duplicate_email"),
        (32, "already_member"),
        (42, "invalid_birth_year"),
        (52, "invalid_gender"),
        (62, "duplicate_member_id"),
    ]
    assert report.batches[0].rows == 300
    assert not any("@" in r.reason for r in report.rejections)

    bad = {10, 20, 30, 40, 50, 60}
    expected = {r.member_id for i, r in enumerate(rows) if i not in bad} | {existing}
    await _settled(stack, t, expected)
    assert await _counters(stack, t) == (295, 0) == await _true_counts(stack, t)

    async def events_published() -> bool:
        found = await _event_counts(stack, t)
        return found.get("member_enrolled") == 295 and found.get("contact_recorded") == 295

    await wait_until(events_published, timeout=15, what="one event of each kind per member")
    contacts = stack.services["dispatch"].runtime.db.contacts
    contact = await contacts.find_one({"tenant": t, "member_id": rows[5].member_id})
    assert contact is not None
    assert contact["email"] == "person5@ale.example"
    panelists = stack.services["rounds"].runtime.db.panelists
    panelist = await panelists.find_one({"tenant": t, "member_id": rows[7].member_id})
    assert panelist is not None
    # A council without a list of districts: no district leaves recruitment.
    assert (panelist["birth_year"], panelist["gender"], panelist["district"]) == (
        1947,
        "undisclosed",
        "",
    )
    assert "email" not in panelist


async def test_copies_of_a_batch_change_nothing_twice(stack: Stack) -> None:
    t = "kinda"
    await register_council(stack, t)
    rows = [_row(n, t) for n in range(200)]
    rows[3] = _row(3, t, email="broken")
    cmd = _import(t, rows, import_id="twice")
    data = cmd.model_dump_json().encode()
    # Copies past the stream's duplicate window (new Nats-Msg-Id), two of them at once.
    await asyncio.gather(
        *(publish_raw(stack.js, subject_for(cmd), data, f"copy-{n}") for n in range(2))
    )
    report = await _report(stack, t, "twice")
    assert (report.accepted, report.rejected) == (199, 1)
    expected = {r.member_id for i, r in enumerate(rows) if i != 3}
    await _settled(stack, t, expected)

    # A third copy after the report, and the same rows again as the import's second batch.
    await publish_raw(stack.js, subject_for(cmd), data, "copy-late")
    again = _import(t, rows, batch_no=2, import_id="twice", first_row=201)
    await publish(stack.js, again)
    report = await _report(stack, t, "twice", batches=2)
    assert [(b.batch_no, b.accepted, b.rejected) for b in report.batches] == [
        (1, 199, 1),
        (2, 0, 200),
    ]
    assert {r.reason for r in report.rejections if r.row > 200} == {
        "already_member",
        "invalid_email",
    }

    def handled() -> float:
        registry = stack.services["recruitment"].registry
        labels = {"subject": "import_members", "outcome": "handled"}
        return registry.get_sample_value("radslag_deliveries_total", labels) or 0.0

    await wait_until(lambda: handled() >= 4, timeout=15, what="every copy handled")
    assert await _counters(stack, t) == (199, 0) == await _true_counts(stack, t)
    found = await _event_counts(stack, t)
    assert (found.get("member_enrolled"), found.get("contact_recorded")) == (199, 199)
    await _settled(stack, t, expected)


async def test_a_batch_handled_again_after_a_crash_reports_the_same(stack: Stack) -> None:
    t = "tyreso"
    await register_council(stack, t)
    rt = stack.services["recruitment"].runtime
    rows = [_row(n, t) for n in range(50)]
    rows[7] = _row(7, t, email=rows[1].email)
    cmd = _import(t, rows, import_id="crash")
    # Two copies at once, in one process: each member is inserted by exactly one of them.
    await asyncio.gather(imports.import_members(rt, cmd), imports.import_members(rt, cmd))
    first = await rt.db.imports.find_one({"_id": "crash:1"})
    assert first is not None
    assert (first["accepted"], first["rejected"]) == (49, 1)
    assert await _counters(stack, t) == (49, 0)

    # As if the first copy stopped after writing the members: no report yet.
    await rt.db.imports.delete_one({"_id": "crash:1", "tenant": t})
    await imports.import_members(rt, cmd)
    second = await rt.db.imports.find_one({"_id": "crash:1"})
    assert second is not None
    assert (second["accepted"], second["rejected"], second["rejections"]) == (
        49,
        1,
        [{"row": 8, "reason": "duplicate_email"}],
    )
    assert await _counters(stack, t) == (49, 0) == await _true_counts(stack, t)


def _token(stack: Stack, tenant: str, address: str) -> str | None:
    items, _ = stack.devtools.mailbox.list_mails(limit=10, to=address)
    for item in items:
        text = stack.devtools.mailbox.get_mail(item.id).text
        match = re.search(rf"{re.escape(PORTAL_URL)}/t/{tenant}/join/confirm/([\w-]+)", text)
        if match:
            return match.group(1)
    return None


async def test_counters_follow_sign_up_confirmation_and_imports(stack: Stack) -> None:
    t = "gnosjo"
    await register_council(stack, t)
    for n in range(3):
        await publish(
            stack.js,
            EnrolMember(
                tenant=t,
                member_id=str(uuid.uuid4()),
                email=f"web{n}@gnosjo.example",
                birth_year=1990,
                gender="female",
                district="Centrum",
                consent_version="2026-1",
            ),
        )
    token = await wait_until(
        lambda: _token(stack, t, "web0@gnosjo.example"), timeout=15, what="opt-in mail"
    )

    async def pending(n: int) -> bool:
        return await _counters(stack, t) == (0, n)

    await wait_until(lambda: pending(3), timeout=10, what="three pending")
    confirm = ConfirmMembership(tenant=t, token=token)
    for attempt in range(2):  # the second copy is past the duplicate window
        await publish_raw(
            stack.js, subject_for(confirm), confirm.model_dump_json().encode(), f"c-{attempt}"
        )

    async def confirmed() -> bool:
        outcome = await ask(
            stack.nc, MembershipOutcome(tenant=t, command_id=confirm.message_id), Outcome
        )
        return outcome is not None and outcome.status == "done"

    await wait_until(confirmed, timeout=10, what="confirmation")
    await publish(stack.js, _import(t, [_row(n, t) for n in range(4)], import_id="g"))
    await _report(stack, t, "g")

    async def counted() -> bool:
        return await _counters(stack, t) == (5, 2)

    await wait_until(counted, timeout=10, what="counters after imports")
    assert await _true_counts(stack, t) == (5, 2)

    # The gauges read the same counters.
    service = stack.services["recruitment"]
    transport = httpx.ASGITransport(app=service.http_app())  # no lifespan: already started
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        assert (await client.get("/metrics")).status_code == 200
    gauge = service.registry.get_sample_value
    assert gauge("radslag_members", {"tenant": t, "status": "active"}) == 5
    assert gauge("radslag_members", {"tenant": t, "status": "pending"}) == 2


async def test_reconciliation_corrects_a_wrong_counter(stack: Stack) -> None:
    t = "ale"
    await register_council(stack, t)
    await publish(stack.js, _import(t, [_row(n, t) for n in range(20)], import_id="r"))
    await _report(stack, t, "r")
    db = stack.services["recruitment"].runtime.db
    await db.tenants.update_one({"_id": t}, {"$set": {"members_active": 999, "members_pending": 7}})
    assert await _counters(stack, t) == (999, 7)
    [recount] = await counts.reconcile(db, t)
    assert recount.settled
    assert recount.corrected == {"members_active": (999, 20), "members_pending": (7, 0)}
    assert await _counters(stack, t) == (20, 0)
    assert (await counts.reconcile(db, t))[0].corrected == {}

    # A replica that starts recounts every council in the background.
    await db.tenants.update_one({"_id": t}, {"$inc": {"members_active": -5}})
    replica = recruitment(stack.services["recruitment"].settings)
    await replica.start()
    try:

        async def fixed() -> bool:
            return await _counters(stack, t) == (20, 0)

        await wait_until(fixed, timeout=15, what="recount at start")
    finally:
        await replica.stop()


async def test_an_invalid_batch_is_dead_lettered_without_its_addresses(stack: Stack) -> None:
    t = "kinda"
    await register_council(stack, t)
    cmd = _import(t, [_row(1, t)], import_id="bad")
    body = cmd.model_dump(mode="json")
    body["rows"] = [body["rows"][0]] * 1001
    await publish_raw(stack.js, subject_for(cmd), json.dumps(body).encode(), "too-many")

    async def filed() -> bool:
        letters = await list_dead_letters(stack.js)
        return any(x.consumer == "recruitment_import_members" for x in letters)

    await wait_until(filed, timeout=10, what="dead letter")
    letter = next(
        x for x in await list_dead_letters(stack.js) if x.consumer == "recruitment_import_members"
    )
    assert letter.reason == "invalid"
    assert "@" not in letter.error
    assert await ask(stack.nc, GetImport(tenant=t, import_id="bad"), ImportView) is None


async def test_districts_leave_recruitment_only_as_the_councils_list_names_them(
    stack: Stack,
) -> None:
    tenant = "kinda"
    await _council_with_districts(stack, tenant)
    rows = (
        _row(1, tenant, district="  kisa "),
        _row(2, tenant, district="Rimforsa"),
        _row(3, tenant, district="Storgatan 4, Kisa"),  # not on the list: the row is refused
    )
    await publish(
        stack.js,
        ImportMembers(
            tenant=tenant,
            import_id="districts",
            batch_no=1,
            consent_version="2026-1",
            source="register_sample",
            rows=rows,
        ),
    )
    panelists = stack.services["rounds"].runtime.db.panelists

    async def two_enrolled() -> bool:
        return await panelists.count_documents({"tenant": tenant}) == 2

    await wait_until(two_enrolled, timeout=20, what="two members in rounds")
    coded = sorted([d["district"] async for d in panelists.find({"tenant": tenant})])
    assert coded == ["Kisa", "Rimforsa"]
    # The report is written after the members' events go out: it can come a moment later.
    report = await wait_until(
        lambda: ask(stack.nc, GetImport(tenant=tenant, import_id="districts"), ImportView),
        timeout=10,
        what="the import's report",
    )
    assert [(r.row, r.reason) for r in report.rejections] == [(3, "invalid_district")]
    # What the resident wrote stays in recruitment, beside its code.
    stored = await stack.services["recruitment"].runtime.db.members.find_one(
        {"_id": rows[0].member_id}
    )
    assert stored is not None
    assert (stored["district"], stored["district_code"]) == ("kisa", "Kisa")

    # A sign-up naming a district off the list is refused, not enrolled with free text.
    stray = EnrolMember(
        tenant=tenant,
        member_id=str(uuid.uuid4()),
        email="stray@example.se",
        birth_year=1980,
        gender="female",
        district="Hemma",
        consent_version="2026-1",
    )
    await publish(stack.js, stray)

    async def refused() -> bool:
        return any(
            d.original_message_id == stray.message_id for d in await list_dead_letters(stack.js)
        )

    await wait_until(refused, timeout=10, what="the stray sign-up refused")


async def _council_with_districts(stack: Stack, tenant: str) -> None:
    """Register ``tenant`` keeping the districts Kisa and Rimforsa, and wait until it is."""
    await publish(
        stack.js,
        RegisterTenant(tenant=tenant, display_name="Kinda kommun", districts=("Kisa", "Rimforsa")),
    )
    await wait_until(
        lambda: _districts_listed(stack, tenant), timeout=10, what="the council's districts"
    )


async def _districts_listed(stack: Stack, tenant: str) -> bool:
    reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
    return reply is not None and any(
        t.tenant == tenant and t.districts == ("Kisa", "Rimforsa") for t in reply.tenants
    )


async def test_the_panel_is_measured_against_the_councils_population(stack: Stack) -> None:
    tenant = "kinda"
    await _council_with_districts(stack, tenant)
    year = datetime.now(UTC).year
    # Six older women in Kisa, two young men in Rimforsa, one member of no official cell.
    rows = [
        _row(n, tenant, district="Kisa", gender="female", birth_year=year - 70) for n in range(6)
    ]
    rows += [
        _row(10 + n, tenant, district="Rimforsa", gender="male", birth_year=year - 20)
        for n in range(2)
    ]
    rows.append(_row(20, tenant, district="Kisa", gender="undisclosed", birth_year=year - 40))
    await publish(
        stack.js,
        ImportMembers(
            tenant=tenant,
            import_id="population-test",
            batch_no=1,
            consent_version="2026-1",
            source="register_sample",
            rows=tuple(rows),
        ),
    )
    query = GetRepresentativeness(tenant=tenant)
    assert await ask(stack.nc, query, Representativeness) is None  # no figures yet
    cells = [
        PopulationRow(district=d, age_band=b, gender=g, population=250)
        for d in ("Kisa", "Rimforsa")
        for b in ("16-29", "65-79")
        for g in ("female", "male")
    ]
    cells.append(PopulationRow(district="Horn", age_band="16-29", gender="male", population=9))
    await publish(stack.js, SetPopulation(tenant=tenant, source="SCB 2025", rows=tuple(cells)))

    async def measured() -> bool:
        view = await ask(stack.nc, query, Representativeness)
        return view is not None and view.members_compared == 8

    await wait_until(measured, timeout=20, what="the panel measured")
    view = await ask(stack.nc, query, Representativeness)
    assert view is not None
    assert view.source == "SCB 2025"
    assert view.members_not_compared == 1
    # 6/8 in one cell of eight equal ones, 2/8 in another: D = ½(|75−12.5| + |25−12.5| + 6·12.5)
    assert view.index == 25.0
    assert {s.group: s.panel_share for s in view.by_district} == {"Kisa": 75.0, "Rimforsa": 25.0}
    assert len(view.recruit_next) == 5
    assert [(r.row, r.reason) for r in view.rejected_rows] == [(9, "invalid_district")]
