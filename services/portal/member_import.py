"""Members moving in from a previous vendor: what the import page and API do.

The file (spooled to disk as it arrived) is read in batches and each batch sent to recruitment
as ``ImportMembers`` under one import id the portal chooses per upload; every row carries its
own consent evidence (date and text version), and the file's source names where it came from.
Recruitment checks every row and reports per batch (``GetImport``): the last batch says how
many there are, so the page knows when the whole file is handled.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

import structlog

from contracts.recruitment import GetImport, ImportMembers, ImportView
from services.portal import member_file
from services.portal.handlers import Portal, current_correlation_id

log = structlog.get_logger()


@dataclass(frozen=True)
class ImportSent:
    """A file read and sent to recruitment: its import id, batches and rows."""

    import_id: str
    batches: int
    rows: int


def done(view: ImportView | None) -> bool:
    """Whether recruitment has handled every batch of the import."""
    return (
        view is not None
        and view.batches_expected is not None
        and len(view.batches) >= view.batches_expected
    )


async def send_members(
    portal: Portal, tenant: str, stream: IO[bytes], source: str, panel: str = "general"
) -> ImportSent:
    """Send a file of members (on disk) of ``panel`` to recruitment in batches as it is read;
    raises ``RegisterFileError`` before sending anything if the file has no usable header or
    rows."""
    import_id = str(uuid.uuid4())
    sent = rows = 0
    for first_row, batch, last in member_file.batches(stream):
        sent += 1
        rows += len(batch)
        command = ImportMembers(
            tenant=tenant,
            correlation_id=current_correlation_id(),
            import_id=import_id,
            batch_no=sent,
            first_row=first_row,
            consent_version="",  # every row names its own (require_consent_evidence)
            source="file",
            consent_source=source,
            require_consent_evidence=True,
            panel=panel,
            last_batch=last,
            rows=tuple(batch),
        )
        await portal.gateway.import_members(command)
        portal.metrics.commands.labels(command.name).inc()
    log.info("member file sent", tenant=tenant, import_id=import_id, batches=sent, rows=rows)
    return ImportSent(import_id, sent, rows)


async def progress(portal: Portal, tenant: str, import_id: str) -> ImportView | None:
    """How the import went so far, or None while recruitment has handled none of it."""
    query = GetImport(tenant=tenant, correlation_id=current_correlation_id(), import_id=import_id)
    return await portal._ask(query, portal.gateway.get_import)


async def rejections(portal: Portal, tenant: str, import_id: str) -> AsyncIterator[tuple[int, str]]:
    """Every rejected row of the import, (row, reason), page by page."""
    after: int | None = 1
    while after is not None:
        query = GetImport(
            tenant=tenant,
            correlation_id=current_correlation_id(),
            import_id=import_id,
            from_batch=after,
        )
        page = await portal._ask(query, portal.gateway.get_import)
        if page is None:
            return
        for rejection in page.rejections:
            yield rejection.row, rejection.reason
        after = page.next_batch
