"""A member's panels, as the member sees and chooses them on their own page.

A council may run several panels; a member belongs to one or more. Joining a further panel
needs no new opt-in (the member is signed in, so the address is theirs) but the panel must
take the member: the rules are ``panels.eligibility_problem``'s, the same the sign-up obeys.
A change moves the member's revision and carries ``MemberPanelsChanged`` for rounds in the
same guarded update (see ``self_service._revise``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.panels import (
    GENERAL,
    ChangeMyPanels,
    GetMyPanels,
    MemberPanelsChanged,
    MyPanels,
    PanelChoice,
)
from infra.service import Runtime
from infra.store import Document, epoch_ms
from services.recruitment import domain, panels, self_service


def _problem(settings_doc: Document | None, member: Document) -> str | None:
    return panels.eligibility_problem(
        panels.settings_of(settings_doc),
        age=datetime.now(UTC).year - int(member["birth_year"]),
        connection=str(member.get("connection") or "resident"),
        district_code=str(member.get("district_code") or ""),
        email=domain.email_of(member.get("email")) is not None,
        phone=bool(member.get("phone")),
    )


async def _panel_documents(rt: Runtime, tenant: str) -> dict[str, Document | None]:
    """The council's panels by name, the general one first (even if never configured)."""
    docs: dict[str, Document | None] = {
        str(d["panel"]): d async for d in rt.db.panels.find({"tenant": tenant})
    }
    return {GENERAL: docs.pop(GENERAL, None), **dict(sorted(docs.items()))}


async def get_my_panels(rt: Runtime, q: GetMyPanels) -> MyPanels | None:
    """The council's panels, each saying whether the member belongs and whether it takes
    them; None for a session that is unknown, expired or of another council."""
    member = await self_service._session_member(rt, q.tenant, q.session)
    if member is None:
        return None
    mine = set(panels.panels_of(member))
    choices = []
    for name, doc in (await _panel_documents(rt, q.tenant)).items():
        settings = panels.settings_of(doc)
        choices.append(
            PanelChoice(
                panel=name,
                name=settings.name,
                remit=settings.remit,
                member=name in mine,
                eligible=_problem(doc, member) is None,
            )
        )
    return MyPanels(panels=tuple(choices))


async def change_my_panels(rt: Runtime, cmd: ChangeMyPanels) -> None:
    """Set the member's panels. Refused: ``no_session``; ``unknown_panel``; ``not_eligible``
    for a panel joined that does not take the member (one they already belong to may stay)."""
    member = await self_service.member_acting(rt, cmd, cmd.session)
    if member is None:
        return
    documents = await _panel_documents(rt, cmd.tenant)
    wanted = list(dict.fromkeys(cmd.panels))
    current = panels.panels_of(member)
    for panel in wanted:
        if panel not in documents:
            await rt.settle(cmd, "refused", "unknown_panel")
            return
        if panel not in current and _problem(documents[panel], member) is not None:
            await rt.settle(cmd, "refused", "not_eligible")
            return
    if wanted == current:
        await rt.settle(cmd, "done")
        return
    event = MemberPanelsChanged.follow(
        cmd,
        member_id=member["_id"],
        panels=tuple(wanted),
        revision=self_service._next_revision(member),
    )
    fields: Document = {"panels": wanted}
    now = epoch_ms(cmd.occurred_at)
    for panel in wanted:
        if panel not in current:
            fields[f"terms.{panel}"] = now  # a term in a panel runs from joining it
    noticed = member.get("term_notice_panel")
    if member.get("term_notice_ms") and (noticed or GENERAL) not in wanted:
        # Told their time in a panel was ending, and left it themselves: the notice is
        # spent, and rotation may tell them about their other panels in time.
        fields["term_notice_ms"] = None
        fields["term_notice_panel"] = None
    await self_service._revise(rt, cmd, member, fields, event)
    await rt.settle(cmd, "done")
