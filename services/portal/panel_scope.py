"""Which of the council's panels a staff account works with.

A council that wants a panel's owner (a committee, the youth office) to see only its own
panels gives that owner's accounts the list (``Account.panels``); every other panel, with its
rounds, members and figures, is then "not found" to them. Accounts without a list see all."""

from __future__ import annotations

import re

from fastapi import HTTPException

from contracts.panels import PanelList
from contracts.recruitment import PANEL_PATTERN
from services.portal.accounts import Session

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


def figures_panel(staff: Session, requested: str | None) -> str:
    """The panel whose figures a page shows: the one asked for, else the account's first
    (a limited account), else '' (the whole council)."""
    chosen = panel_filter(staff, requested)
    return chosen[0] if chosen else ""
