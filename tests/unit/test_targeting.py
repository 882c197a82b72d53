"""Whom a round invites: the segment, the rules that leave members out, and a reproducible
random sample."""

from __future__ import annotations

from contracts.rounds import Target
from services.rounds import targeting

DAY = targeting.DAY_MS
NOW = 20_000 * DAY  # day 20 000
YEAR = 2026


def member(n: int, **fields: object) -> dict[str, object]:
    return {
        "member_id": f"m{n:03d}",
        "birth_year": 1990 - n % 50,
        "gender": ("female", "male")[n % 2],
        "district": ("Kisa", "Rimforsa")[n % 3 == 0],
        "panels": ["general"],
        **fields,
    }


def pick(
    members: list[dict[str, object]], target: Target, **options: object
) -> targeting.Selection:
    params: dict[str, object] = {
        "panel": "general",
        "target": target,
        "cap": 4,
        "opened_ms": NOW,
        "year": YEAR,
        "seed": "round-1",
    }
    params.update(options)
    return targeting.select(members, **params)  # type: ignore[arg-type]


def test_the_segment_and_the_rules_leave_members_out_and_say_why() -> None:
    members = [
        member(1, gender="female"),  # Kisa, born 1989: 37 years old → 30-44
        member(2, gender="male"),
        member(3, paused_until_ms=NOW + DAY),
        member(5, invited_days=[20_000 - d for d in (1, 20, 40, 60)]),  # four in half a year
        member(7, gender="female", invited_days=[20_000 - 3]),  # invited three days ago
        member(9, panels=["youth"]),  # another panel
    ]
    everyone = pick(members, Target())
    assert [m["member_id"] for m in everyone.chosen] == ["m001", "m002", "m007"]
    assert (everyone.in_segment, everyone.paused, everyone.over_cap, everyone.rested) == (
        5,
        1,
        1,
        0,
    )
    rested = pick(members, Target(rest_days=7))
    assert [m["member_id"] for m in rested.chosen] == ["m001", "m002"]
    assert rested.rested == 1
    women = pick(members, Target(genders=("female",)))
    assert [m["member_id"] for m in women.chosen] == ["m001", "m007"]
    kisa_30s = pick(members, Target(districts=("Kisa",), age_bands=("30-44",)))
    assert {m["member_id"] for m in kisa_30s.chosen} <= {"m001", "m002", "m007"}
    assert pick(members, Target(), panel="youth").preview().invited == 1


def test_a_sample_is_the_size_asked_and_the_same_for_the_same_round() -> None:
    members = [member(n) for n in range(200)]
    first = pick(members, Target(sample=30))
    again = pick(list(reversed(members)), Target(sample=30))
    other = pick(members, Target(sample=30), seed="round-2")
    assert len(first.chosen) == 30
    assert [m["member_id"] for m in first.chosen] == [m["member_id"] for m in again.chosen]
    assert {m["member_id"] for m in first.chosen} != {m["member_id"] for m in other.chosen}
    assert first.preview().in_segment == 200
    assert len(pick(members, Target(sample=500)).chosen) == 200  # no more than there are


def test_a_segment_by_topics_takes_members_following_any_of_them() -> None:
    members = [
        member(1, topics=["Trafik", "Skola"]),
        member(2, topics=["Kultur"]),
        member(3),  # follows nothing (recorded before topics reached rounds)
        member(4, topics=["Skola"]),
    ]
    chosen = pick(members, Target(topics=("Skola", "Idrott"))).chosen
    assert [m["member_id"] for m in chosen] == ["m001", "m004"]
    assert len(pick(members, Target()).chosen) == 4
