"""Members moving in from a previous vendor, on real NATS and the document store: each row's
consent evidence kept and given back in the member's data copy, bad rows rejected with reason
codes, a file uploaded twice imports nobody twice, and the import's batches followed to the
last one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.personal_data import PersonalData
from contracts.recruitment import (
    GetImport,
    GetMemberData,
    ImportMembers,
    ImportView,
    ListTenants,
    MemberRow,
    RegisterTenant,
    TenantList,
)
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from tests.conftest import Stack

T = "kinda"
SOURCE = "Netigate export 2026"


async def _council(stack: Stack) -> None:
    await publish(
        stack.js,
        RegisterTenant(tenant=T, display_name="Kinda kommun", districts=("Kisa", "Rimforsa")),
    )

    async def listed() -> bool:
        reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
        return reply is not None and any(t.tenant == T and t.districts for t in reply.tenants)

    await wait_until(listed, timeout=10, what="the council")


def _row(n: int, **changes: Any) -> MemberRow:
    fields: dict[str, Any] = {
        "member_id": str(uuid.uuid4()),
        "email": f"person{n}@kinda.example",
        "birth_year": 1950 + n % 50,
        "gender": ("female", "male")[n % 2],
        "district": ("Kisa", "rimforsa ")[n % 2],
        "consent_date": "2025-03-14",
        "consent_version": "netigate-3",
    }
    return MemberRow(**{**fields, **changes})


def _batch(rows: list[MemberRow], import_id: str, batch_no: int = 1, **extra: Any) -> ImportMembers:
    return ImportMembers(
        tenant=T,
        import_id=import_id,
        batch_no=batch_no,
        consent_version="",
        source="file",
        consent_source=SOURCE,
        require_consent_evidence=True,
        rows=tuple(rows),
        **extra,
    )


async def _done(stack: Stack, import_id: str, **query: Any) -> ImportView:
    """The import's report once its last batch says how many there are and all are in."""

    async def ready() -> ImportView | None:
        view = await ask(stack.nc, GetImport(tenant=T, import_id=import_id, **query), ImportView)
        complete = (
            view is not None
            and view.batches_expected is not None
            and len(view.batches) == view.batches_expected
        )
        return view if complete else None

    return await wait_until(ready, timeout=20, what=f"import {import_id}")


async def test_each_members_consent_evidence_is_kept_and_in_their_copy(stack: Stack) -> None:
    await _council(stack)
    rows = [
        _row(1),
        _row(2, consent_date="2024-11-02T09:30:00+01:00", consent_version="v2"),
        _row(3, consent_date=" 2023-01-31 ", consent_version=" 2022-a "),
    ]
    command = _batch(rows, "vendor-1", last_batch=True)
    await publish(stack.js, command)
    report = await _done(stack, "vendor-1")
    assert (report.accepted, report.rejected, report.batches_expected) == (3, 0, 1)

    members = stack.services["recruitment"].runtime.db.members
    stored = {m["_id"]: m async for m in members.find({"tenant": T})}
    first = stored[rows[0].member_id]
    assert first["state"] == "active"
    consent = first["consent"]
    assert {k: consent[k] for k in ("version", "given_at", "source", "import_id")} == {
        "version": "netigate-3",
        "given_at": "2025-03-14",  # the row's date, not the import's
        "source": SOURCE,
        "import_id": "vendor-1",
    }
    assert consent["imported_at"] is not None
    # A time with its zone is kept in UTC; versions are trimmed.
    assert stored[rows[1].member_id]["consent"]["given_at"] == "2024-11-02T08:30:00+00:00"
    assert stored[rows[2].member_id]["consent"]["version"] == "2022-a"
    assert stored[rows[0].member_id]["district_code"] == "Rimforsa"  # as the list names it

    copy = await ask(stack.nc, GetMemberData(tenant=T, member_id=rows[0].member_id), PersonalData)
    assert copy is not None
    [given] = copy.sections["consent"]
    assert (given["version"], given["given"], given["source"], given["import_id"]) == (
        "netigate-3",
        "2025-03-14",
        SOURCE,
        "vendor-1",
    )
    assert str(given["imported"]).startswith(str(command.occurred_at.date()))


async def test_bad_rows_are_rejected_with_a_reason_and_never_their_values(stack: Stack) -> None:
    await _council(stack)
    tomorrow = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    rows = [
        _row(0),
        _row(1, consent_date="14/03/2025"),
        _row(2, consent_date=tomorrow),
        _row(3, email="person3.kinda.example"),
        _row(4, district="Linköping"),
        _row(5, consent_date=""),
        _row(6, consent_version=""),
        _row(7, consent_version="v" * 41),
        _row(8, consent_date="2025-02-30"),
        _row(9),
    ]
    await publish(stack.js, _batch(rows, "vendor-bad", first_row=2, last_batch=True))
    report = await _done(stack, "vendor-bad")
    assert (report.accepted, report.rejected) == (2, 8)
    assert [(r.row, r.reason) for r in report.rejections] == [
        (3, "invalid_consent_date"),
        (4, "future_consent_date"),
        (5, "invalid_email"),
        (6, "invalid_district"),
        (7, "missing_consent_date"),
        (8, "missing_consent_version"),
        (9, "invalid_consent_version"),
        (10, "invalid_consent_date"),
    ]
    members = stack.services["recruitment"].runtime.db.members
    imported = {m["_id"] async for m in members.find({"tenant": T})}
    assert imported == {rows[0].member_id, rows[9].member_id}


async def test_a_file_uploaded_twice_imports_nobody_twice(stack: Stack) -> None:
    await _council(stack)
    rows = [_row(n) for n in range(40)]
    # The file cut into two batches; the last one handled first.
    await publish(
        stack.js, _batch(rows[20:], "upload-1", batch_no=2, first_row=21, last_batch=True)
    )
    await publish(stack.js, _batch(rows[:20], "upload-1", batch_no=1))
    first = await _done(stack, "upload-1")
    assert (first.accepted, first.rejected, first.batches_expected) == (40, 0, 2)

    # The same file again: the portal gives every row a new member id and a new import id.
    again = [row.model_copy(update={"member_id": str(uuid.uuid4())}) for row in rows]
    await publish(stack.js, _batch(again[:20], "upload-2", batch_no=1))
    await publish(
        stack.js, _batch(again[20:], "upload-2", batch_no=2, first_row=21, last_batch=True)
    )
    second = await _done(stack, "upload-2")
    assert (second.accepted, second.rejected) == (0, 40)
    assert {r.reason for r in second.rejections} == {"already_member"}
    assert [r.row for r in second.rejections] == list(range(1, 41))

    reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
    assert reply is not None
    assert next(t for t in reply.tenants if t.tenant == T).members_active == 40
    members = stack.services["recruitment"].runtime.db.members
    assert len([m async for m in members.find({"tenant": T}, {"_id": 1})]) == 40

    # The rejected rows page by batch: the first page ends where the next batch begins.
    page = await _done(stack, "upload-2", from_batch=2)
    assert [r.row for r in page.rejections] == list(range(21, 41))
    assert page.next_batch is None
