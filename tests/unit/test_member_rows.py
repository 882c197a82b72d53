"""Import rows are checked one by one: a bad row is named by number and reason, never by value."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
import pytest

from contracts.recruitment import MAX_IMPORT_ROWS, ImportMembers, MemberRow
from services.recruitment import domain


def row(**changes: Any) -> MemberRow:
    fields: dict[str, Any] = {
        "member_id": str(uuid.uuid4()),
        "email": "anna@example.se",
        "birth_year": 1980,
        "gender": "female",
        "district": "Kisa",
    }
    return MemberRow(**{**fields, **changes})


def test_a_good_row_is_normalised() -> None:
    member = domain.check_row(row(email="  Anna@Example.SE ", district=" Kisa ", locale="en"))
    assert member.email == "anna@example.se"
    assert member.district == "Kisa"
    assert member.locale == "en"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"member_id": "not-a-uuid"}, "invalid_member_id"),
        ({"member_id": str(uuid.uuid4()).upper()}, "invalid_member_id"),
        ({"email": "anna"}, "invalid_email"),
        ({"email": "anna@example"}, "invalid_email"),
        ({"email": "a b@example.se"}, "invalid_email"),
        ({"email": "a" * 64 + "@" + "b" * 190 + ".se"}, "invalid_email"),
        ({"birth_year": 1899}, "invalid_birth_year"),
        ({"birth_year": 2101}, "invalid_birth_year"),
        ({"gender": "Female"}, "invalid_gender"),
        ({"district": "   "}, "invalid_district"),
        ({"district": "x" * 81}, "invalid_district"),
        ({"locale": "fi"}, "invalid_locale"),
    ],
)
def test_a_bad_row_is_rejected_with_a_reason_code(changes: dict[str, Any], reason: str) -> None:
    bad = row(**changes)
    with pytest.raises(domain.RowRejected) as caught:
        domain.check_row(bad)
    assert caught.value.reason == reason
    assert bad.email not in str(caught.value)


def test_rows_are_numbered_from_first_row_and_duplicates_in_a_batch_count_once() -> None:
    same_id = str(uuid.uuid4())
    rows = [
        row(email="a@example.se"),
        row(email="broken"),
        row(email="A@Example.se"),  # the first row's address, capitalised
        row(email="b@example.se", member_id=same_id),
        row(email="c@example.se", member_id=same_id),
        row(email="d@example.se"),
    ]
    accepted, rejected = domain.check_rows(rows, first_row=2)
    assert [number for number, _ in accepted] == [2, 5, 7]
    assert rejected == [(3, "invalid_email"), (4, "duplicate_email"), (6, "duplicate_member_id")]


def test_the_command_checks_only_shape_and_size() -> None:
    # Wrong values in a row are the rows' business; a wrong type or size refuses the command.
    ImportMembers(
        tenant="ale",
        import_id="i-1",
        batch_no=1,
        consent_version="2026-1",
        source="paper",
        rows=(row(gender="robot", birth_year=1), row()),
    )
    bad: list[dict[str, Any]] = [
        {"rows": ()},
        {"rows": (row(),) * (MAX_IMPORT_ROWS + 1)},
        {"import_id": "a:b"},
        {"batch_no": 0},
    ]
    for changes in bad:
        fields: dict[str, Any] = {
            "tenant": "ale",
            "import_id": "i-1",
            "batch_no": 1,
            "consent_version": "2026-1",
            "source": "paper",
            "rows": (row(),),
            **changes,
        }
        with pytest.raises(pydantic.ValidationError):
            ImportMembers(**fields)


def test_batch_ids_are_import_and_number() -> None:
    assert domain.import_batch_id("imp", 3) == "imp:3"
