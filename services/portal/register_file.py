"""A population-register extract (CSV) read as it streams from disk: batches of rows for
``ImportRegister``, never the whole file in memory.

Only the form is read here (the header, the columns, the text); every value is recruitment's to
check, row by row, so that a bad row is reported with its number and a reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

from contracts.campaigns import (
    MAX_REGISTER_ROWS,
    REGISTER_COLUMNS,
    REGISTER_FIELD_MAX,
    RegisterRow,
)

REQUIRED = ("name", "address", "birth_year", "gender", "district")
OPTIONAL = ("postcode", "town", "email", "mobile")
ALIASES = {
    "namn": "name",
    "fullständigt namn": "name",
    "adress": "address",
    "utdelningsadress": "address",
    "gatuadress": "address",
    "postnummer": "postcode",
    "postnr": "postcode",
    "postort": "town",
    "ort": "town",
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
    "e-post": "email",
    "epost": "email",
    "e-mail": "email",
    "mobil": "mobile",
    "mobilnummer": "mobile",
    "mobile_number": "mobile",
    "phone": "mobile",
}
"""Swedish and other common column names, as register extracts write them."""

BATCH_BYTES = 450_000
"""A batch is cut short of ``MAX_REGISTER_ROWS`` rows when its text reaches this size, so that
its command stays under the bus's 1 MB message limit whatever the rows hold (counted in
characters: a Nordic letter is two bytes in UTF-8)."""

COLUMNS_HELP = "name, address, postcode, town, birth_year, gender, district, email, mobile"


class RegisterFileError(ValueError):
    """The file cannot be read as an extract at all (nothing of it was sent)."""


def open_table(
    stream: IO[bytes], required: tuple[str, ...], aliases: dict[str, str], columns_help: str
) -> tuple[Iterator[list[str]], list[str]]:
    """A CSV upload's rows (as they stream) and its header's column names, aliases resolved.

    UTF-8 (a BOM is skipped); bytes that are not UTF-8 become U+FFFD. Comma, semicolon or tab,
    whichever the header uses most. ``RegisterFileError`` for an empty file or a header that
    lacks a required column (before anything is sent)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    first = text.readline()
    if not first.strip():
        raise RegisterFileError("The file is empty.")
    counts = {d: first.count(d) for d in (";", ",", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])
    header = []
    for title in next(csv.reader([first], delimiter=delimiter)):
        key = " ".join(title.strip().lower().split())
        header.append(aliases.get(key, key.replace(" ", "_")))
    missing = [c for c in required if c not in header]
    if missing:
        raise RegisterFileError(
            f"Missing columns: {', '.join(missing)}. The columns are: {columns_help}."
        )
    return csv.reader(text, delimiter=delimiter), header


def batches(
    stream: IO[bytes], size: int = MAX_REGISTER_ROWS
) -> Iterator[tuple[int, list[RegisterRow]]]:
    """(number of the first row, rows) per batch of ``size``; rows are numbered from 1 after the
    header, empty lines not counted. UTF-8 (a BOM is skipped); bytes that are not UTF-8 become
    U+FFFD, which recruitment refuses in any value, row by row.

    ``RegisterFileError`` before the first batch if the header lacks a required column."""
    reader, header = open_table(stream, REQUIRED, ALIASES, COLUMNS_HELP)
    # Where each of REGISTER_COLUMNS is in the file (None: not there, always "").
    where = [header.index(c) if c in header else None for c in REGISTER_COLUMNS]
    batch: list[RegisterRow] = []
    first_row = number = 1
    size_so_far = 0
    for fields in reader:
        if not any(fields):
            continue
        width = len(fields)
        # Cut to the contract's limit: nothing is left to validate here.
        values = tuple(
            fields[i][:REGISTER_FIELD_MAX] if i is not None and i < width else "" for i in where
        )
        batch.append(values)  # type: ignore[arg-type]
        number += 1
        # Each value's JSON text: its characters, its quotes and a comma.
        size_so_far += sum(len(v) + 3 for v in values)
        if len(batch) == size or size_so_far >= BATCH_BYTES:
            yield first_row, batch
            first_row, batch, size_so_far = number, [], 0
    if batch:
        yield first_row, batch
