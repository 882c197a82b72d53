"""Member search for staff: background and state, never contact details (``SearchMembers``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.bands import AGE_BANDS, age_band
from contracts.membership import MemberList, MemberSummary, SearchMembers
from infra.service import Runtime
from services.recruitment import panels


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    return str(value or "")[:10]


async def search_members(rt: Runtime, q: SearchMembers) -> MemberList:
    """A page of the council's members matching the filters, in member-id order."""
    today = datetime.now(UTC).date()
    found: dict[str, Any] = {"tenant": q.tenant}
    if q.state in ("active", "paused"):
        found["state"] = "active"
    elif q.state == "pending":
        found["state"] = "pending"
    else:
        found["state"] = {"$in": ["active", "pending"]}
    if q.state == "paused":
        found["paused_until"] = {"$gte": today.isoformat()}
    if q.panels:
        # A member of any of them: each panel's filter is a containment test ($all).
        found["$and"] = [{"$or": [panels.members_of(p) for p in q.panels]}]
    if q.district:
        found["district_code"] = q.district
    if q.gender:
        found["gender"] = q.gender
    if q.age_band:
        band = next((b for b in AGE_BANDS if b[0] == q.age_band), None)
        if band is None:
            return MemberList(members=(), next_after=None)
        _, low, high = band
        found["birth_year"] = {"$gte": today.year - high, "$lte": today.year - low}
    id_range: dict[str, str] = {}
    if q.member_id:
        id_range = {"$gte": q.member_id, "$lt": q.member_id + "\uffff"}
    if q.after:
        id_range["$gt"] = q.after
    if id_range:
        found["_id"] = id_range
    fields = dict.fromkeys(
        (
            "state",
            "birth_year",
            "gender",
            "district_code",
            "consent",
            "created_at",
            "paused_until",
            "panels",
        ),
        1,
    )
    page = await rt.db.members.find(found, fields).sort("_id", 1).limit(q.limit + 1).to_list()
    members = []
    for m in page[: q.limit]:
        paused = m["state"] == "active" and (m.get("paused_until") or "") >= today.isoformat()
        members.append(
            MemberSummary(
                member_id=m["_id"],
                state="paused" if paused else m["state"],
                birth_year=int(m["birth_year"]),
                age_band=age_band(int(m["birth_year"]), today.year),
                gender=m["gender"],
                district=m.get("district_code", ""),
                source=(m.get("consent") or {}).get("source", ""),
                joined_on=_day(m.get("created_at")),
                panels=tuple(panels.panels_of(m)),
            )
        )
    more = len(page) > q.limit
    return MemberList(members=tuple(members), next_after=members[-1].member_id if more else None)
