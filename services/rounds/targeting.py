"""Whom a round invites: its panel's active members in the target's segment, less those the
rules leave out (paused when it opens, at the panel's most rounds per half-year, invited by a
round within the target's rest days), then a random sample if the target asks for one.

The same function counts a preview for staff and picks the invitations when the round opens;
the sample is drawn from the members sorted by id with a generator seeded by the round's id,
so a redelivered opening picks the same members.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from contracts.rounds import Target, TargetPreview
from infra.store import Document
from services.rounds import domain

HALF_YEAR_DAYS = 182
"""The window the panel's cap of rounds counts in."""
DAY_MS = 24 * 3600 * 1000
"""Members' invited days are counted in days since the epoch (``ms // DAY_MS``)."""

FIELDS = {
    "member_id": 1,
    "birth_year": 1,
    "gender": 1,
    "district": 1,
    "panels": 1,
    "topics": 1,
    "paused_until_ms": 1,
    "invited_days": 1,
}
"""What of a panel entry the selection reads (and the invitation copies)."""


@dataclass
class Selection:
    """The members picked, and how many each rule left out."""

    chosen: list[Document] = field(default_factory=list)
    in_segment: int = 0
    paused: int = 0
    over_cap: int = 0
    rested: int = 0

    def preview(self) -> TargetPreview:
        return TargetPreview(
            in_segment=self.in_segment,
            paused=self.paused,
            over_cap=self.over_cap,
            rested=self.rested,
            invited=len(self.chosen),
        )


def in_segment(member: Document, panel: str, target: Target, year: int) -> bool:
    """Whether the member is of ``panel`` and in the target's segment."""
    if panel not in (member.get("panels") or ["general"]):
        return False
    if target.age_bands and domain.age_band(member["birth_year"], year) not in target.age_bands:
        return False
    if target.genders and member.get("gender") not in target.genders:
        return False
    if target.topics and not set(target.topics) & set(member.get("topics") or ()):
        return False
    return not target.districts or member.get("district") in target.districts


def select(
    members: Iterable[Document],
    *,
    panel: str,
    target: Target,
    cap: int,
    opened_ms: int,
    year: int,
    seed: str,
) -> Selection:
    """Apply the target and the rules to the panel entries ``members``."""
    today = opened_ms // DAY_MS
    found = Selection()
    eligible: list[Document] = []
    for member in members:
        if not in_segment(member, panel, target, year):
            continue
        found.in_segment += 1
        if int(member.get("paused_until_ms") or 0) > opened_ms:
            found.paused += 1
            continue
        days = [int(d) for d in member.get("invited_days") or ()]
        if len([d for d in days if today - d < HALF_YEAR_DAYS]) >= cap:
            found.over_cap += 1
            continue
        if target.rest_days and any(today - d < target.rest_days for d in days):
            found.rested += 1
            continue
        eligible.append(member)
    if target.sample is not None and target.sample < len(eligible):
        eligible.sort(key=lambda m: str(m["member_id"]))
        eligible = random.Random(seed).sample(eligible, target.sample)  # noqa: S311 (a draw, not a secret)
    found.chosen = eligible
    return found
