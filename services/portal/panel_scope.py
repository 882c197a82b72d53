"""Which of the council's panels a staff account works with.

A council that wants a panel's owner (a committee, the youth office) to see only its own
panels gives that owner's accounts the list (``Account.panels``); every other panel, with its
rounds, members and figures, is then "not found" to them. Accounts without a list see all."""

from __future__ import annotations

import re

from fastapi import HTTPException

from contracts.membership import MemberList
from contracts.panels import PanelList
from contracts.recruitment import PANEL_PATTERN
from services.portal.accounts import Session
from services.portal.handlers import Portal

PANEL_RE = re.compile(PANEL_PATTERN)


def visible(staff: Session, panels: PanelList) -> PanelList:
    """The panels this staff account works with."""
    return PanelList(panels=tuple(p for p in panels.panels if staff.account.sees_panel(p.panel)))


def panel_filter(staff: Session, requested: str | None) -> tuple[str, ...]:
    """The panels a staff page or API call covers: the one asked for (404 if the account
    does not work with it), else the account's (() for every panel)."""
    if requested:
        if not PANEL_RE.fullmatch(requested) or not staff.account.sees_panel(requested):
            raise HTTPException(status_code=404, detail="no such panel")
        return (requested,)
    return staff.account.panels


def council_wide(staff: Session) -> None:
    """Refuse (403) what covers the whole council to an account limited to some panels: the
    audit trail, the population figures, the council's monthly history, invalid contacts."""
    if staff.account.panels:
        raise HTTPException(
            status_code=403, detail="council-wide: not for an account limited to panels"
        )


def trimmed(staff: Session, listing: MemberList) -> MemberList:
    """A member list as this account may see it: each member's panels cut to its own (a
    member's other panels are not its business)."""
    if not staff.account.panels:
        return listing
    mine = set(staff.account.panels)
    members = tuple(
        m.model_copy(update={"panels": tuple(p for p in m.panels if p in mine)})
        for m in listing.members
    )
    return listing.model_copy(update={"members": members})


def figures_panel(staff: Session, requested: str | None) -> str:
    """The panel whose figures a page shows: the one asked for, else the account's first
    (a limited account), else '' (the whole council)."""
    chosen = panel_filter(staff, requested)
    return chosen[0] if chosen else ""


async def member_in_scope(portal: Portal, tenant: str, staff: Session, member_id: str) -> bool:
    """Whether the member is one this account works with: always for an account that sees
    every panel, else only a member (active or not yet confirmed) of one of its panels."""
    if not staff.account.panels:
        return True
    found = await portal.search_members(
        tenant, member_id=member_id[:36], state="any", panels=staff.account.panels, limit=1
    )
    return any(m.member_id == member_id for m in found.members)
