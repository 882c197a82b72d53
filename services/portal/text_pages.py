"""A question's written answers for staff: a page at a time, with a search, and tags.

Staff tag written answers (free texts and pins' comments) to sort and count what residents
wrote: each text has a small form for its tags, the page lists every tag with its count, and a
tag narrows the list to the texts that carry it. The steering group reads but does not tag.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from contracts.rounds import TAG_LENGTH, TAGS_PER_TEXT, TEXT_REF
from contracts.text import clean_line
from services.portal import round_steps
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.i18n import N_
from services.portal.rendering import render

router = APIRouter(include_in_schema=False)

TEXTS_PAGE = 50

TAG_PROBLEMS = {
    "too_many": N_("At most 10 tags on one answer."),
    "too_long": N_("A tag is at most 40 characters."),
    "unknown_question": N_("That question has no written answers."),
    "failed": N_("The tags could not be saved; try again."),
}


def parse_tags(raw: str) -> tuple[tuple[str, ...], str | None]:
    """Tags typed with commas between them, cleaned, each once (any case: the first spelling
    is kept), and the problem (``TAG_PROBLEMS``)."""
    once: dict[str, str] = {}
    for tag in (clean_line(part) for part in raw.split(",")):
        if tag:
            once.setdefault(tag.casefold(), tag)
    tags = tuple(once.values())
    if len(tags) > TAGS_PER_TEXT:
        return tags, "too_many"
    if any(len(t) > TAG_LENGTH for t in tags):
        return tags, "too_long"
    return tags, None


@router.get("/t/{tenant}/staff/rounds/{round_id}/texts/{question}", response_class=HTMLResponse)
async def staff_texts(
    request: Request,
    round_id: str,
    question: str,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
) -> Response:
    """One question's written answers, a page at a time, with a search and staff's tags."""
    search = clean_line(request.query_params.get("search", ""))[:100]
    tag = clean_line(request.query_params.get("tag", ""))[:TAG_LENGTH]
    after = request.query_params.get("after", "")[:200]
    results = await portal.results(council.tenant, round_id, staff.account.panels)
    q = next((x for x in results.questions if x.key == question), None) if results else None
    if results is None or q is None:
        raise HTTPException(status_code=404)
    page = await portal.answer_texts(
        council.tenant,
        round_id,
        question,
        staff.account.panels,
        search=search,
        after=after,
        limit=TEXTS_PAGE,
        tag=tag,
    )
    if page is None:
        raise HTTPException(status_code=404)
    problem = request.query_params.get("problem", "")
    return render(
        request,
        "staff_texts.html",
        council=council,
        staff=staff,
        round=results.round,
        question=q,
        page=page,
        values={"search": search, "tag": tag},
        may_tag=round_steps.may_tag(staff.account),
        problem=TAG_PROBLEMS.get(problem),
        tagged=request.query_params.get("tagged", ""),
        next_query=urlencode({"search": search, "tag": tag, "after": page.next_after or ""}),
    )


@router.post(
    "/t/{tenant}/staff/rounds/{round_id}/texts/{question}/tags", response_class=HTMLResponse
)
async def tag_text(
    request: Request,
    round_id: str,
    question: str,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> Response:
    """Set one written answer's tags, then back to the page it was on."""
    if not round_steps.may_tag(staff.account):
        raise HTTPException(status_code=403, detail="your role does not tag answers")
    if not re.fullmatch(r"[a-z0-9_]{1,40}", question):
        raise HTTPException(status_code=404)
    form = await request.form()
    ref = str(form.get("ref", ""))
    if not re.fullmatch(TEXT_REF, ref):
        raise HTTPException(status_code=400, detail="unknown written answer")
    if await portal.round(council.tenant, round_id, staff.account.panels) is None:
        raise HTTPException(status_code=404)
    tags, problem = parse_tags(str(form.get("tags", "")))
    if problem is None:
        settled = await portal.tag_answer_text(
            council.tenant, round_id, question, ref, tags, staff.account.username
        )
        if settled.outcome.status == "refused":
            problem = settled.outcome.reason if settled.outcome.reason in TAG_PROBLEMS else "failed"
    back = {
        key: str(form.get(key, ""))[:200] for key in ("search", "tag", "after") if form.get(key)
    }
    back["problem" if problem else "tagged"] = problem or ref
    url = f"/t/{council.tenant}/staff/rounds/{round_id}/texts/{question}?{urlencode(back)}"
    return RedirectResponse(f"{url}#t-{ref.replace('.', '-')}", status_code=303)
