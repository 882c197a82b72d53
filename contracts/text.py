"""Texts people write, as the messages accept them: trimmed, no control characters, and
one line where a line break could do harm (mail headers, headings)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
"""Control characters other than tab and line breaks (they have no place in what people read)."""


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("contains control characters")
    return value


def _one_line(value: str) -> str:
    if any(c in value for c in "\r\n\t"):
        raise ValueError("must be one line (no line breaks or tabs)")
    return value


def clean_text(value: str) -> str:
    """A text from a form made acceptable as ``TrimmedText``: control characters dropped,
    line breaks made ``\\n``, the whitespace around it trimmed."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def clean_line(value: str) -> str:
    """A one-line text from a form made acceptable as ``OneLine``: every run of whitespace,
    line breaks included, becomes one space."""
    return " ".join(_CONTROL.sub("", value).split())


TrimmedText = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_no_control)]
"""Text people wrote: the whitespace around it is dropped before its length is checked, so a
text of only spaces is empty and ``min_length=1`` refuses it; control characters are refused."""

OneLine = Annotated[TrimmedText, AfterValidator(_one_line)]
"""A ``TrimmedText`` that must stay on one line: titles, questions and options, which end up
in mail subjects and headings (a line break there could start a new mail header)."""
