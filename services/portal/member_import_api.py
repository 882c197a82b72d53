"""The JSON API of member imports: staff PUT a file of members from a previous vendor (CSV,
with each member's consent evidence), follow its import, and download the rejected rows.

The file is spooled to disk as it streams in, then read and sent to recruitment in batches
(as the register extract is, see ``campaign_api``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from contracts.recruitment import IMPORT_ID_PATTERN, ImportBatch
from services.portal import member_import
from services.portal.api import CONTACT_ROLES, STAFF_PROBLEMS, ApiError, _Model
from services.portal.campaign_api import spool
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.domain import OneLine
from services.portal.handlers import Portal
from services.portal.register_file import RegisterFileError

log = structlog.get_logger()
router = APIRouter(prefix="/api", tags=["api"])

MEMBERS_MAX_BYTES = 64 * 1024 * 1024
"""Largest file of members taken (100 000 members are about 10 MB)."""

ImportId = Annotated[str, Path(pattern=IMPORT_ID_PATTERN, description="The import's id.")]
EXAMPLE = (
    "e-post;födelseår;kön;distrikt;språk;samtyckesdatum;samtyckesversion\n"
    "anna@example.se;1961;K;Kisa;sv;2025-03-14;2024-2\n"
)


class ImportAccepted(_Model):
    """The file was read and sent to recruitment, which imports it in the background."""

    import_id: str = Field(description="The import's id: follow it at /imports/{import_id}.")
    batches: int = Field(description="Batches sent.")
    rows: int = Field(description="Rows sent (empty lines are not rows).")


class ImportStatus(_Model):
    """How an import is going."""

    import_id: str = Field(description="The import's id.")
    done: bool = Field(description="Recruitment has handled every batch.")
    batches_done: int = Field(description="Batches handled so far.")
    batches_expected: int | None = Field(description="Batches in all; None until known.")
    accepted: int = Field(description="Rows now members (so far).")
    rejected: int = Field(description="Rows not imported (so far): see rejections.csv.")
    batches: tuple[ImportBatch, ...] = Field(description="The handled batches.")


def check_role(role: str) -> None:
    """Importing members handles their contact details: roles without access are refused."""
    if role not in CONTACT_ROLES:
        raise ApiError(403, "your role does not handle members' contact details")


async def status(portal: Portal, tenant: str, import_id: str) -> ImportStatus:
    """The import's status (nothing done yet while recruitment has handled none of it)."""
    view = await member_import.progress(portal, tenant, import_id)
    if view is None:
        return ImportStatus(
            import_id=import_id,
            done=False,
            batches_done=0,
            batches_expected=None,
            accepted=0,
            rejected=0,
            batches=(),
        )
    return ImportStatus(
        import_id=import_id,
        done=member_import.done(view),
        batches_done=len(view.batches),
        batches_expected=view.batches_expected,
        accepted=view.accepted,
        rejected=view.rejected,
        batches=view.batches,
    )


@router.put(
    "/t/{tenant}/imports",
    status_code=202,
    response_model=ImportAccepted,
    responses=STAFF_PROBLEMS,
    max_body_size=MEMBERS_MAX_BYTES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": EXAMPLE}},
        }
    },
)
async def put_members(
    request: Request,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
    source: Annotated[
        OneLine,
        Query(
            min_length=2,
            max_length=120,
            description="Where the file and its consents come from, e.g. 'Netigate export 2026'.",
        ),
    ],
    panel: Annotated[
        str,
        Query(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$", description="The panel they join."),
    ] = "general",
) -> ImportAccepted:
    """Import a panel's members from a previous vendor's file, with the consent evidence it
    holds: CSV (UTF-8; comma, semicolon or tab) with a header naming ``email, birth_year,
    gender, district, consent_date, consent_version`` and optionally ``locale`` (Swedish names
    such as ``e-post``, ``födelseår``, ``kön``, ``distrikt``, ``språk``, ``samtyckesdatum``,
    ``samtyckesversion`` work too). Gender as female/male/other/undisclosed or K/M; the consent
    date as YYYY-MM-DD or an ISO date and time. The members are active at once, with no
    opt-in mail. Every row is checked by recruitment: a bad value, a consent date in the
    future, a district not on the council's list or an address that is a member already
    (``already_member``: uploading a file again imports nobody twice) rejects the row. Follow
    the import at ``/imports/{import_id}``; ``rejections.csv`` lists the rejected rows."""
    check_role(staff.account.role)
    known = {p.panel for p in (await portal.panels(council.tenant)).panels}
    if panel not in known or not staff.account.sees_panel(panel):
        raise ApiError(404, "no such panel")
    with await spool(request) as stream:
        try:
            sent = await member_import.send_members(portal, council.tenant, stream, source, panel)
        except RegisterFileError as exc:
            raise ApiError(400, "invalid member file", {"file": str(exc)}) from None
    log.info("member file received", username=staff.account.username, rows=sent.rows)
    return ImportAccepted(import_id=sent.import_id, batches=sent.batches, rows=sent.rows)


@router.get(
    "/t/{tenant}/imports/{import_id}", response_model=ImportStatus, responses=STAFF_PROBLEMS
)
async def get_import(
    import_id: ImportId, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> ImportStatus:
    """How an import is going: batches handled of those expected, rows accepted and rejected.
    An import recruitment has handled nothing of yet (or an unknown id) shows nothing done."""
    check_role(staff.account.role)
    return await status(portal, council.tenant, import_id)


async def rejection_lines(portal: Portal, tenant: str, import_id: str) -> AsyncIterator[str]:
    """The rejected rows as CSV lines (row, reason), page by page."""
    yield "row,reason\r\n"
    async for row, reason in member_import.rejections(portal, tenant, import_id):
        out = io.StringIO()
        csv.writer(out).writerow([row, reason])
        yield out.getvalue()


@router.get(
    "/t/{tenant}/imports/{import_id}/rejections.csv",
    response_class=StreamingResponse,
    responses={**STAFF_PROBLEMS, 200: {"content": {"text/csv": {}}}},
)
async def import_rejections(
    import_id: ImportId, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> StreamingResponse:
    """The import's rejected rows: row number and reason, never the values."""
    check_role(staff.account.role)
    return StreamingResponse(
        rejection_lines(portal, council.tenant, import_id),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="rejected-{import_id}.csv"'},
    )
