"""A file of members from a previous vendor (CSV) read as it streams from disk: batches of rows
for ``ImportMembers``, never the whole file in memory.

Only the form is read here (the header, the columns, the spelling of gender); every value is
recruitment's to check, row by row, so that a bad row is reported with its number and a reason.
The portal chooses each member's id (a UUID) here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import IO

from contracts.recruitment import MAX_IMPORT_ROWS, MemberRow
from services.portal.register_file import RegisterFileError, open_table

REQUIRED = ("email", "birth_year", "gender", "district", "consent_date", "consent_version")
OPTIONAL = ("locale",)
ALIASES = {
    "e-post": "email",
    "epost": "email",
    "e-postadress": "email",
    "e-mail": "email",
    "mail": "email",
    "mejl": "email",
    "födelseår": "birth_year",
    "fodelsear": "birth_year",
    "birthyear": "birth_year",
    "birth year": "birth_year",
    "kön": "gender",
    "kon": "gender",
    "sex": "gender",
    "distrikt": "district",
    "område": "district",
    "kommundel": "district",
    "språk": "locale",
    "sprak": "locale",
    "language": "locale",
    "samtycke datum": "consent_date",
    "samtyckesdatum": "consent_date",
    "samtycke_datum": "consent_date",
    "datum för samtycke": "consent_date",
    "consent date": "consent_date",
    "samtycke version": "consent_version",
    "samtyckesversion": "consent_version",
    "samtycke_version": "consent_version",
    "version av samtycke": "consent_version",
    "consent version": "consent_version",
}
"""Swedish and other common column names, as vendors' exports write them."""

GENDERS = {
    "k": "female",
    "kvinna": "female",
    "f": "female",
    "woman": "female",
    "m": "male",
    "man": "male",
    "annat": "other",
    "annan": "other",
    "vill ej uppge": "undisclosed",
    "uppger ej": "undisclosed",
    "": "undisclosed",
}
"""Gender as vendors' exports write it, in the contract's words (others go on as written, for
recruitment to refuse)."""

FIELD_MAX = {
    "email": 255,
    "district": 81,
    "consent_date": 40,
    "consent_version": 41,
    "locale": 10,
    "gender": 40,
}
"""Values are cut to one more than recruitment takes, so a value too long is still refused
(and the command always fits a bus message)."""

COLUMNS_HELP = "email, birth_year, gender, district, consent_date, consent_version, locale"


def _year(text: str) -> int:
    """The birth year as a number; 0 (which recruitment refuses) if it is none."""
    text = text.strip()
    return int(text) if text.isdigit() and len(text) == 4 else 0


def _row(values: dict[str, str]) -> MemberRow:
    gender = values["gender"].strip().lower()
    return MemberRow(
        member_id=str(uuid.uuid4()),
        email=values["email"].strip(),
        birth_year=_year(values["birth_year"]),
        gender=GENDERS.get(gender, gender),
        district=values["district"],
        locale=values.get("locale", "").strip().lower() or "sv",
        consent_date=values["consent_date"],
        consent_version=values["consent_version"],
    )


def batches(
    stream: IO[bytes], size: int = MAX_IMPORT_ROWS
) -> Iterator[tuple[int, list[MemberRow], bool]]:
    """(number of the first row, rows, whether it is the last batch) per batch of ``size``;
    rows are numbered from 1 after the header, empty lines not counted. UTF-8 (a BOM is
    skipped); bytes that are not UTF-8 become U+FFFD.

    ``RegisterFileError`` before the first batch if the file is empty, lacks a required column
    or has no rows."""
    reader, header = open_table(stream, REQUIRED, ALIASES, COLUMNS_HELP)
    where = {c: header.index(c) for c in (*REQUIRED, *OPTIONAL) if c in header}
    batch: list[MemberRow] = []
    held: tuple[int, list[MemberRow]] | None = None  # sent once we know whether it is last
    first_row = number = 1
    for fields in reader:
        if not any(fields):
            continue
        width = len(fields)
        values = {
            c: fields[i][: FIELD_MAX.get(c, 40)] if i < width else "" for c, i in where.items()
        }
        batch.append(_row(values))
        number += 1
        if len(batch) == size:
            if held is not None:
                yield held[0], held[1], False
            held = (first_row, batch)
            first_row, batch = number, []
    if batch:
        if held is not None:
            yield held[0], held[1], False
        held = (first_row, batch)
    if held is None:
        raise RegisterFileError("The file has no rows after its header.")
    yield held[0], held[1], True
