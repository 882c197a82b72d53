"""The rules of invited recruitment: register rows, allocation over strata, the reproducible
draw and the invitation codes."""

from __future__ import annotations

import pytest

from services.recruitment import register

YEAR = 2026
DISTRICTS = ("Kisa", "Rimforsa")


def row(**changes: str) -> tuple[str, ...]:
    values = {
        "name": "Anna  Berg",
        "address": "Storgatan 1",
        "postcode": "590 40",
        "town": "Kisa",
        "birth_year": "1970",
        "gender": "K",
        "district": " kisa ",
        "email": "",
        "mobile": "",
    }
    values.update(changes)
    return tuple(values.values())


def test_a_register_row_is_checked_field_by_field() -> None:
    lookup = register.district_lookup(DISTRICTS)
    person = register.check_row(row(mobile="070-123 45 67"), lookup, YEAR)  # type: ignore[arg-type]
    assert (person.name, person.gender, person.district, person.mobile) == (
        "Anna Berg",
        "female",
        "Kisa",
        "+46701234567",
    )
    cases = {
        "invalid_name": row(name=" "),
        "invalid_address": row(address=""),
        "invalid_postcode": row(postcode="1" * 21),
        "invalid_birth_year": row(birth_year="70"),
        "too_young": row(birth_year="2015"),
        "invalid_gender": row(gender="x"),
        "invalid_district": row(district="Linköping"),
        "invalid_email": row(email="anna@"),
        "invalid_mobile": row(mobile="013-12 34 56"),  # a landline
    }
    for reason, bad in cases.items():
        with pytest.raises(register.RowRejected) as caught:
            register.check_row(bad, lookup, YEAR)  # type: ignore[arg-type]
        assert caught.value.reason == reason
    # Text that was not UTF-8 in the file is refused, not printed on a letter.
    with pytest.raises(register.RowRejected):
        register.check_row(row(name="\ufffdsa Berg"), lookup, YEAR)  # type: ignore[arg-type]
    # Norway: +47 numbers when the council is Norwegian.
    norwegian = register.check_row(row(mobile="412 34 567"), lookup, YEAR, "NO")  # type: ignore[arg-type]
    assert norwegian.mobile == "+4741234567"


def test_the_same_person_twice_in_a_batch_counts_once() -> None:
    rows = [row(), row(name="ANNA BERG"), row(address="Storgatan 2")]
    kept, refused = register.check_rows(rows, 10, DISTRICTS, YEAR, "salt")  # type: ignore[arg-type]
    assert [r.number for r in kept] == [10, 12]
    assert refused == [(11, "duplicate_person")]
    assert kept[0].key != register.check_rows(rows[:1], 1, DISTRICTS, YEAR, "other")[0][0].key  # type: ignore[arg-type]


def test_proportional_allocation_sums_to_the_size_and_respects_what_strata_have() -> None:
    eligible = {0: 500, 1: 300, 2: 200, 3: 0}
    assert register.allocate(100, eligible) == {0: 50, 1: 30, 2: 20}
    assert sum(register.allocate(7, eligible).values()) == 7
    assert register.allocate(25, {0: 10, 1: 20}) == {0: 8, 1: 17}
    assert register.allocate(5000, {0: 10, 1: 20}) == {0: 10, 1: 20}


def test_boost_gives_the_strata_the_panel_lacks_more_than_their_share() -> None:
    eligible = {0: 500, 1: 500}
    # The panel has 100 of stratum 0 and none of 1: stratum 1 gets nearly all.
    boosted = register.allocate(200, eligible, method="boost", panel={0: 100}, response_rate=0.5)
    assert sum(boosted.values()) == 200
    assert boosted[1] > 150
    # A stratum cannot give more than it has: the rest goes to the others.
    capped = register.allocate(100, {0: 1000, 1: 5}, method="boost", panel={0: 2000})
    assert capped == {0: 95, 1: 5}
    # A panel already like the population: boost is proportional.
    even = register.allocate(200, eligible, method="boost", panel={0: 50, 1: 50})
    assert even == {0: 100, 1: 100}


def test_a_draw_is_reproducible_from_its_seed_and_located_in_the_batches() -> None:
    first = register.draw_ordinals(42, 3, 1000, 10)
    assert first == register.draw_ordinals(42, 3, 1000, 10)
    assert first != register.draw_ordinals(43, 3, 1000, 10)
    assert first == sorted(set(first))
    assert len(register.draw_ordinals(1, 0, 5, 10)) == 5
    # Ordinals 0..4 are in batch 1 (5 of the stratum), 5..6 in batch 2, 7.. in batch 4.
    counts = [(1, 5), (2, 2), (3, 0), (4, 10)]
    assert register.locate([0, 4, 5, 6, 7, 16], counts) == [
        (1, 0),
        (1, 4),
        (2, 0),
        (2, 1),
        (4, 0),
        (4, 9),
    ]


def test_short_codes_are_typed_forgivingly() -> None:
    code = register.new_short_code()
    assert register.is_short_code(code)
    assert len({register.new_short_code() for _ in range(1000)}) == 1000
    shown = register.show_code(code)
    assert register.normalise_code(shown.lower()) == code
    assert register.normalise_code("0ILo1-abcde") == "01101ABCDE"
    assert not register.is_short_code(register.normalise_code("x" * 43))
