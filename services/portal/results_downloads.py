"""A round's results to take away: the figures as CSV and XLSX (with a codebook), one
question's written answers as CSV, and a printable PDF report.

Each file is under the staff pages (``/t/<council>/staff/rounds/<id>/results.csv``, ``.xlsx``,
``.pdf`` and ``.../questions/<key>/texts.csv``) and the API (``/api/t/<council>/rounds/<id>/…``)
with the results page's access rules: the council's staff, and of an account limited to some
panels, only those panels' rounds (else 404). The files are built from the figures rounds
sent (``results_files``, ``results_report``); written answers are read a page at a time and
streamed, so the portal never holds more than a page of them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Final

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from contracts.rounds import AnswerTexts, RoundResults
from services.portal import results_files, results_report, results_workbook
from services.portal.accounts import Session
from services.portal.api import STAFF_PROBLEMS, ApiError
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep
from services.portal.handlers import Portal
from services.portal.i18n import Catalogues

log = structlog.get_logger()

pages = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/api", tags=["api"])

TEXTS_PAGE: Final = 200
"""Written answers asked for at a time (the most ``ListAnswerTexts`` gives)."""
TEXT_KINDS: Final = frozenset({"free_text", "map"})
"""Questions with written answers: free texts, and map pins' comments."""
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_QUESTION_RE = re.compile(r"^[a-z0-9_]{1,40}$")

NotFound = Callable[[], Exception]


def _page_not_found() -> Exception:
    return HTTPException(status_code=404)


def _api_not_found() -> Exception:
    return ApiError(404, "unknown round or question")


class _Language:
    """Translation into the request's language."""

    def __init__(self, request: Request) -> None:
        self.catalogues: Catalogues = request.app.state.catalogues
        self.lang = str(getattr(request.state, "lang", self.catalogues.default))

    def gettext(self, message: str) -> str:
        return self.catalogues.gettext(self.lang, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalogues.ngettext(self.lang, singular, plural, n)


def _attachment(name: str) -> dict[str, str]:
    return {"content-disposition": f'attachment; filename="{name}"'}


async def _results(
    portal: Portal, tenant: str, staff: Session, round_id: str, missing: NotFound
) -> RoundResults:
    results = await portal.results(tenant, round_id, staff.account.panels)
    if results is None:
        raise missing()
    return results


async def _figures_csv(
    request: Request,
    round_id: str,
    council: CouncilDep,
    portal: Portal,
    staff: Session,
    missing: NotFound,
) -> Response:
    results = await _results(portal, council.tenant, staff, round_id, missing)
    words = _Language(request)
    body = results_files.csv_text(results_files.figure_rows(results, words.gettext))
    log.info("results exported", username=staff.account.username, round=round_id, file="csv")
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(results_files.filename(council.tenant, round_id, "results.csv")),
    )


async def _figures_xlsx(
    request: Request,
    round_id: str,
    council: CouncilDep,
    portal: Portal,
    staff: Session,
    missing: NotFound,
) -> Response:
    results = await _results(portal, council.tenant, staff, round_id, missing)
    words = _Language(request)
    body = await asyncio.to_thread(
        results_workbook.workbook, results, words.gettext, council.display_name
    )
    log.info("results exported", username=staff.account.username, round=round_id, file="xlsx")
    return Response(
        body,
        media_type=XLSX,
        headers=_attachment(results_files.filename(council.tenant, round_id, "results.xlsx")),
    )


async def _report_pdf(
    request: Request,
    round_id: str,
    council: CouncilDep,
    portal: Portal,
    staff: Session,
    missing: NotFound,
) -> Response:
    results = await _results(portal, council.tenant, staff, round_id, missing)
    words = _Language(request)
    body = await asyncio.to_thread(
        lambda: results_report.render(
            results,
            council=council.display_name,
            translate=words.gettext,
            plural=words.ngettext,
            lang=words.lang,
        )
    )
    log.info("results exported", username=staff.account.username, round=round_id, file="pdf")
    return Response(
        body,
        media_type="application/pdf",
        headers=_attachment(results_files.filename(council.tenant, round_id, "results.pdf")),
    )


async def _texts_csv(
    round_id: str,
    question: str,
    council: CouncilDep,
    portal: Portal,
    staff: Session,
    missing: NotFound,
) -> StreamingResponse:
    if not _QUESTION_RE.fullmatch(question):
        raise missing()
    results = await _results(portal, council.tenant, staff, round_id, missing)
    if not any(q.key == question and q.kind in TEXT_KINDS for q in results.questions):
        raise missing()
    first = await portal.answer_texts(
        council.tenant, round_id, question, staff.account.panels, limit=TEXTS_PAGE
    )
    if first is None:
        raise missing()
    log.info("written answers exported", username=staff.account.username, round=round_id)
    name = results_files.filename(council.tenant, round_id, f"{question}-texts.csv")
    return StreamingResponse(
        _text_pages(portal, council.tenant, round_id, question, first),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(name),
    )


async def _text_pages(
    portal: Portal, tenant: str, round_id: str, question: str, page: AnswerTexts
) -> AsyncIterator[str]:
    """The written answers as CSV, one page of them at a time."""
    yield results_files.TEXT_HEADER
    written = 0
    while True:
        yield results_files.text_lines(page.texts, written)
        written += len(page.texts)
        if page.next_after is None or not page.texts:
            return
        # The first page checked the account's panels; the later ones ask for the same round.
        following = await portal.answer_texts(
            tenant, round_id, question, after=page.next_after, limit=TEXTS_PAGE
        )
        if following is None:
            return
        page = following


# -- the staff pages' downloads ----------------------------------------------------------------


@pages.get("/t/{tenant}/staff/rounds/{round_id}/results.csv")
async def results_csv(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The round's figures as CSV: one row per question × answer and per breakdown group."""
    return await _figures_csv(request, round_id, council, portal, staff, _page_not_found)


@pages.get("/t/{tenant}/staff/rounds/{round_id}/results.xlsx")
async def results_xlsx(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The round's figures as XLSX, a sheet per breakdown, with the codebook."""
    return await _figures_xlsx(request, round_id, council, portal, staff, _page_not_found)


@pages.get("/t/{tenant}/staff/rounds/{round_id}/results.pdf")
async def results_pdf(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The round's results report, ready to print."""
    return await _report_pdf(request, round_id, council, portal, staff, _page_not_found)


@pages.get("/t/{tenant}/staff/rounds/{round_id}/questions/{question}/texts.csv")
async def written_answers_csv(
    round_id: str, question: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> StreamingResponse:
    """One question's written answers as CSV."""
    return await _texts_csv(round_id, question, council, portal, staff, _page_not_found)


# -- the API's ---------------------------------------------------------------------------------


@router.get(
    "/t/{tenant}/rounds/{round_id}/results.csv",
    response_class=Response,
    responses={**STAFF_PROBLEMS, 200: {"content": {"text/csv": {}}}},
)
async def api_results_csv(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The round's figures as CSV (UTF-8 with a byte order mark): one row per question ×
    answer, and per age band, gender and district; suppressed groups keep their figures
    empty, with a note. Written answers are exported apart (``.../texts.csv``)."""
    return await _figures_csv(request, round_id, council, portal, staff, _api_not_found)


@router.get(
    "/t/{tenant}/rounds/{round_id}/results.xlsx",
    response_class=Response,
    responses={**STAFF_PROBLEMS, 200: {"content": {XLSX: {}}}},
)
async def api_results_xlsx(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The round's figures as an XLSX workbook: all respondents, a sheet per breakdown,
    participation, and a codebook (the round, every question with its codes, skip logic and
    limits, the groups, the columns)."""
    return await _figures_xlsx(request, round_id, council, portal, staff, _api_not_found)


@router.get(
    "/t/{tenant}/rounds/{round_id}/results.pdf",
    response_class=Response,
    responses={**STAFF_PROBLEMS, 200: {"content": {"application/pdf": {}}}},
)
async def api_results_pdf(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The round's results report as a printable PDF (A4)."""
    return await _report_pdf(request, round_id, council, portal, staff, _api_not_found)


@router.get(
    "/t/{tenant}/rounds/{round_id}/questions/{question}/texts.csv",
    response_class=StreamingResponse,
    responses={**STAFF_PROBLEMS, 200: {"content": {"text/csv": {}}}},
)
async def api_written_answers_csv(
    round_id: str, question: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> StreamingResponse:
    """One question's written answers (free text, or a map question's comments) as CSV,
    numbered, in the order rounds pages them (which says nothing of who wrote them or when)."""
    return await _texts_csv(round_id, question, council, portal, staff, _api_not_found)
