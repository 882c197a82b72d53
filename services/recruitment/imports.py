"""Members who consented elsewhere, added as active members: one at a time (the demo and
paper forms, ``ImportMember``) or a previous vendor's file in batches (``ImportMembers``), each
row checked on its own and the rejected ones reported (``GetImport``)."""

from __future__ import annotations

import contextlib

import structlog
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.envelope import Envelope
from contracts.panels import GENERAL
from contracts.recruitment import (
    ContactRecorded,
    GetImport,
    ImportBatch,
    ImportMember,
    ImportMembers,
    ImportView,
    MemberEnrolled,
    RowRejection,
)
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import DUPLICATE_KEY, Document, new_document
from services.recruitment import counts, domain, panels
from services.recruitment.handlers import (
    _council,
    _details,
    _districts,
    _member_document,
    _member_events,
)

log = structlog.get_logger()

REJECTIONS_SHOWN = 1000
"""About as many rejected rows as ``GetImport`` lists at once (whole batches; the counts
cover all of them, and ``next_batch`` pages on)."""


async def import_member(rt: Runtime, cmd: ImportMember) -> None:
    """Add an already-consented member as active; a duplicate e-mail changes nothing."""
    council_doc = await _council(rt, cmd.tenant)
    council = str(council_doc["display_name"])
    member = _details(cmd, council_doc)
    document = {
        **_member_document(
            cmd, member, consent_version=cmd.consent_version, state="active", source=cmd.source
        ),
        "confirmed_at": cmd.occurred_at,
    }
    try:
        contact, enrolled, leave = _member_events(rt, cmd, member, council)
        await rt.db.leave_links.insert_one(leave)
        await rt.db.members.insert_one(new_document(document, contact, enrolled))
    except DuplicateKeyError:
        return
    await counts.move(rt, cmd.tenant, active=1)
    await rt.flush("members", [cmd.member_id])


async def import_members(rt: Runtime, cmd: ImportMembers) -> None:
    """Add a batch of already-consented members as active, each row checked on its own.

    One write for the batch: ``insert_many(ordered=False)``, each member carrying its
    ``ContactRecorded`` and ``MemberEnrolled`` in its outbox. A row whose member id or e-mail
    is already stored inserts nothing and so causes no event: it is either this batch's own
    member from an earlier copy of the command (marked with ``import_batch``, counted as
    accepted) or someone else (rejected). The counters move by the inserts of this write only.
    The report is written last and kept once; a copy arriving after it changes nothing.
    """
    council = await _council(rt, cmd.tenant)
    batch_id = domain.import_batch_id(cmd.import_id, cmd.batch_no)
    report = await rt.db.imports.find_one({"_id": batch_id}, {"tenant": 1})
    if report is not None:
        if report["tenant"] != cmd.tenant:
            raise Rejected("import id belongs to another council")
        return  # handled before: its members' messages are published by the relay's sweep
    if cmd.panel != GENERAL and await panels.panel_document(rt, cmd.tenant, cmd.panel) is None:
        raise Rejected(f"no panel {cmd.panel} in this council")
    checked, rejections = domain.check_rows(
        cmd.rows,
        cmd.first_row,
        _districts(council),
        require_consent_evidence=cmd.require_consent_evidence,
    )
    documents: list[Document] = []
    events: list[tuple[ContactRecorded, MemberEnrolled]] = []
    leaves: list[Document] = []
    for _, member in checked:
        contact, enrolled, leave = _member_events(
            rt, cmd, member, str(council["display_name"]), cmd.panel
        )
        events.append((contact, enrolled))
        leaves.append(leave)
        document = _member_document(
            cmd, member, consent_version=cmd.consent_version, state="active", source=cmd.source
        )
        document.update(
            confirmed_at=cmd.occurred_at,
            import_batch=batch_id,
            consent=_imported_consent(cmd, member),
        )
        documents.append(new_document(document, *events[-1]))
    collided: set[int] = set()
    if leaves:
        # The links to leave exist before the contacts that carry them go out.
        await rt.db.leave_links.insert_many(leaves, ordered=False)
    if documents:
        try:
            await rt.db.members.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            collided = {int(e["index"]) for e in errors}
    if collided:  # their contacts never go out: neither do these links
        await rt.db.leave_links.delete_many({"_id": {"$in": [leaves[i]["_id"] for i in collided]}})
    # Publish at once (the relay's sweep skips documents being published this way); the
    # counters, staff figures, follow.
    written: list[tuple[str, Envelope]] = [
        (member.member_id, message)
        for i, (_, member) in enumerate(checked)
        if i not in collided
        for message in events[i]
    ]
    await rt.publish_written("members", written)
    await counts.move(rt, cmd.tenant, active=len(documents) - len(collided))
    earlier: list[str] = []
    if collided:
        mine, others = await _sort_collisions(rt, cmd, batch_id, [checked[i] for i in collided])
        earlier = mine
        rejections.extend(others)
    rejections.sort()
    accepted = len(cmd.rows) - len(rejections)
    # A concurrent copy of this batch may have written the same report first.
    with contextlib.suppress(DuplicateKeyError):
        await rt.db.imports.insert_one(
            {
                "_id": batch_id,
                "tenant": cmd.tenant,
                "import_id": cmd.import_id,
                "batch_no": cmd.batch_no,
                "command_id": cmd.message_id,
                "source": cmd.source,
                "last_batch": "yes" if cmd.last_batch else "no",
                "rows": len(cmd.rows),
                "accepted": accepted,
                "rejected": len(rejections),
                "rejections": [{"row": row, "reason": reason} for row, reason in rejections],
                "created_at": cmd.occurred_at,
            }
        )
    log.info(
        "members imported",
        import_batch=batch_id,
        accepted=accepted,
        rejected=len(rejections),
        inserted=len(documents) - len(collided),
    )
    if earlier:
        await rt.flush("members", earlier)  # left behind if an earlier copy stopped midway


def _imported_consent(cmd: ImportMembers, member: domain.MemberDetails) -> Document:
    """The consent evidence an imported member is stored with: the row's version and date
    where it gives them (else the batch's version and the command's time), where the evidence
    comes from, and which import brought it in, when."""
    return {
        "version": member.consent_version or cmd.consent_version,
        "given_at": member.consent_given or cmd.occurred_at,
        "source": cmd.consent_source or cmd.source,
        "imported_at": cmd.occurred_at,
        "import_id": cmd.import_id,
    }


async def _sort_collisions(
    rt: Runtime,
    cmd: ImportMembers,
    batch_id: str,
    rows: list[tuple[int, domain.MemberDetails]],
) -> tuple[list[str], list[tuple[int, str]]]:
    """Rows whose insert hit an existing member: this batch's own (ids), or rejections."""
    found = {
        doc["_id"]: doc
        async for doc in rt.db.members.find(
            {"_id": {"$in": [m.member_id for _, m in rows]}, "tenant": cmd.tenant},
            {"email": 1, "import_batch": 1},
        )
    }
    mine: list[str] = []
    rejected: list[tuple[int, str]] = []
    for number, member in rows:
        existing = found.get(member.member_id)
        if existing is None:
            # The e-mail is a member already (or the id is taken in another council).
            rejected.append((number, "already_member"))
        elif existing.get("import_batch") == batch_id:
            mine.append(member.member_id)
        elif existing.get("email") == member.email:
            rejected.append((number, "already_member"))  # the same row, imported before
        else:
            rejected.append((number, "member_id_taken"))
    return mine, rejected


async def get_import(rt: Runtime, q: GetImport) -> ImportView | None:
    """The reports of an import's batches so far, or None if none was handled yet."""
    # Batch ids are "<import_id>:<n>" and ";" sorts right after ":": a range on _id.
    reports = await rt.db.imports.find(
        {"_id": {"$gte": f"{q.import_id}:", "$lt": f"{q.import_id};"}, "tenant": q.tenant}
    ).to_list()
    if not reports:
        return None
    reports.sort(key=lambda r: int(r["batch_no"]))
    # Whole batches from q.from_batch on, as many as fit in REJECTIONS_SHOWN rows.
    rejections: list[tuple[int, str]] = []
    next_batch: int | None = None
    for doc in reports:
        if int(doc["batch_no"]) < q.from_batch:
            continue
        if rejections and len(rejections) + len(doc["rejections"]) > REJECTIONS_SHOWN:
            next_batch = int(doc["batch_no"])
            break
        rejections.extend((int(r["row"]), str(r["reason"])) for r in doc["rejections"])
    rejections.sort()
    return ImportView(
        import_id=q.import_id,
        batches=tuple(
            ImportBatch(
                batch_no=r["batch_no"],
                rows=r["rows"],
                accepted=r["accepted"],
                rejected=r["rejected"],
            )
            for r in reports
        ),
        accepted=sum(int(r["accepted"]) for r in reports),
        rejected=sum(int(r["rejected"]) for r in reports),
        rejections=tuple(RowRejection(row=row, reason=reason) for row, reason in rejections),
        next_batch=next_batch,
        batches_expected=next(
            (int(r["batch_no"]) for r in reports if r.get("last_batch") == "yes"), None
        ),
    )
