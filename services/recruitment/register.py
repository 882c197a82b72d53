"""Rules of invited recruitment (pure, no I/O): register rows, strata, the draw's allocation
and selection, invitation codes."""

from __future__ import annotations

import hashlib
import math
import random
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import phonenumbers

from contracts.addresses import InvalidEmail, normalise_email
from contracts.bands import AGE_BANDS, BAND_NAMES, age_band
from contracts.campaigns import RegisterRow

GENDERS = ("female", "male")
"""The register's (legal) genders, as official statistics count them."""

_GENDER_WORDS = {
    "female": "female",
    "f": "female",
    "k": "female",
    "kvinna": "female",
    "woman": "female",
    "kvinne": "female",
    "male": "male",
    "m": "male",
    "man": "male",
    "mann": "male",
}
"""How register extracts write gender (English, Swedish K/M, Norwegian K/M)."""

LIMITS = {"name": 120, "address": 200, "postcode": 20, "town": 80}
"""Longest name and address fields a letter prints."""

MIN_AGE = AGE_BANDS[0][1]
"""The youngest who may be drawn by default (the youngest age band's lower bound); a panel
with a higher minimum age draws from that age."""


class RowRejected(ValueError):
    """A register row that cannot be drawn; ``reason`` is a short code, never a value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Person:
    """A register row as kept until the campaign closes: only what a letter and the draw
    need."""

    name: str
    address: str
    postcode: str
    town: str
    birth_year: int
    gender: str
    district: str
    """Coded: the council's name for it ("" for a council without a list)."""
    email: str
    mobile: str
    """E.164, or ""."""

    def fields(self) -> list[str | int]:
        """The person as stored: a list, in this order (see ``from_fields``)."""
        return [
            self.name,
            self.address,
            self.postcode,
            self.town,
            self.birth_year,
            self.gender,
            self.district,
            self.email,
            self.mobile,
        ]

    @classmethod
    def from_fields(cls, fields: Sequence[str | int]) -> Person:
        name, address, postcode, town, birth_year, gender, district, email, mobile = fields
        return cls(
            str(name),
            str(address),
            str(postcode),
            str(town),
            int(birth_year),
            str(gender),
            str(district),
            str(email),
            str(mobile),
        )


def strata(districts: Sequence[str]) -> list[tuple[str, str, str]]:
    """Every stratum of a council, numbered by position: district × age band × gender."""
    return [(d, b, g) for d in (districts or [""]) for b in BAND_NAMES for g in GENDERS]


def _line(value: str, limit: int, reason: str, *, required: bool) -> str:
    text = " ".join(value.split())
    if (required and not text) or len(text) > limit or "\ufffd" in text:
        raise RowRejected(reason)  # U+FFFD: the file's bytes there were not UTF-8
    return text


def normalise_mobile(raw: str, region: str = "SE") -> str:
    """A mobile number in E.164, or ``RowRejected`` (invalid_mobile)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise RowRejected("invalid_mobile") from None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise RowRejected("invalid_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def district_lookup(districts: Sequence[str]) -> dict[str, str]:
    """The council's districts by how residents may write them (case and spacing aside)."""
    return {" ".join(name.split()).casefold(): name for name in districts}


def check_row(
    row: RegisterRow,
    districts: Mapping[str, str],
    year: int,
    region: str = "SE",
    min_age: int = MIN_AGE,
) -> Person:
    """The person of one register row, or ``RowRejected`` naming the first wrong field.
    ``districts``: the council's, from ``district_lookup`` (empty: the council has no list)."""
    (
        raw_name,
        raw_address,
        raw_postcode,
        raw_town,
        raw_year,
        raw_gender,
        raw_district,
        raw_email,
        raw_mobile,
    ) = row
    name = _line(raw_name, LIMITS["name"], "invalid_name", required=True)
    address = _line(raw_address, LIMITS["address"], "invalid_address", required=True)
    postcode = _line(raw_postcode, LIMITS["postcode"], "invalid_postcode", required=False)
    town = _line(raw_town, LIMITS["town"], "invalid_town", required=False)
    text = raw_year.strip()
    if not (len(text) == 4 and text.isdigit()) or not 1900 <= int(text) <= year:
        raise RowRejected("invalid_birth_year")
    birth_year = int(text)
    if year - birth_year < min_age:
        raise RowRejected("too_young")
    gender = _GENDER_WORDS.get(raw_gender.strip().casefold())
    if gender is None:
        raise RowRejected("invalid_gender")
    if districts:
        code = districts.get(" ".join(raw_district.split()).casefold())
        if code is None:
            raise RowRejected("invalid_district")
    else:
        code = ""
    email = ""
    if raw_email.strip():
        try:
            email = normalise_email(raw_email)
        except InvalidEmail:
            raise RowRejected("invalid_email") from None
    mobile = normalise_mobile(raw_mobile, region) if raw_mobile.strip() else ""
    return Person(name, address, postcode, town, birth_year, gender, code, email, mobile)


def person_key(salt: str, person: Person) -> str:
    """A salted hash that recognises the same person in a later extract (name, address and
    birth year), kept after the campaign to leave people drawn recently out of new draws."""
    text = "|".join(
        (salt, person.name.casefold(), person.address.casefold(), person.postcode.replace(" ", ""))
    )
    return hashlib.sha256(f"{text}|{person.birth_year}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CheckedRow:
    number: int
    person: Person
    key: str
    stratum: int


def check_rows(
    rows: Iterable[RegisterRow],
    first_row: int,
    districts: Sequence[str],
    year: int,
    salt: str,
    region: str = "SE",
    min_age: int = MIN_AGE,
) -> tuple[list[CheckedRow], list[tuple[int, str]]]:
    """Split a batch into rows that can be drawn and (row number, reason) refusals; a person
    twice in the batch counts once (duplicate_person)."""
    index = {s: i for i, s in enumerate(strata(districts))}
    lookup = district_lookup(districts)
    kept: list[CheckedRow] = []
    refused: list[tuple[int, str]] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=first_row):
        try:
            person = check_row(row, lookup, year, region, min_age)
        except RowRejected as exc:
            refused.append((number, exc.reason))
            continue
        key = person_key(salt, person)
        if key in seen:
            refused.append((number, "duplicate_person"))
            continue
        seen.add(key)
        stratum = index[(person.district, age_band(person.birth_year, year), person.gender)]
        kept.append(CheckedRow(number, person, key, stratum))
    return kept, refused


def _largest_remainder(
    weights: Mapping[int, float], total: int, caps: Mapping[int, int]
) -> dict[int, int]:
    """``total`` split over the keys in proportion to ``weights``, whole numbers, each at most
    its cap (what a capped key cannot take goes to the others)."""
    result = dict.fromkeys(weights, 0)
    left = min(total, sum(caps[k] for k in weights if weights[k] > 0))
    while left > 0:
        open_keys = [k for k in weights if weights[k] > 0 and result[k] < caps[k]]
        weight = sum(weights[k] for k in open_keys)
        if not open_keys or weight <= 0:
            break
        shares = {k: left * weights[k] / weight for k in open_keys}
        given = 0
        for k in open_keys:
            take = min(math.floor(shares[k]), caps[k] - result[k])
            result[k] += take
            given += take
        remainders = sorted(open_keys, key=lambda k: (shares[k] - math.floor(shares[k]), -k))
        for k in reversed(remainders):
            if given >= left:
                break
            if result[k] < caps[k]:
                result[k] += 1
                given += 1
        if given == 0:
            break
        left -= given
    return {k: v for k, v in result.items() if v}


def allocate(
    size: int,
    eligible: Mapping[int, int],
    *,
    method: str = "proportional",
    panel: Mapping[int, int] | None = None,
    response_rate: float = 0.15,
) -> dict[int, int]:
    """How many to draw from each stratum.

    ``proportional``: in proportion to the stratum's share of the extract. ``boost``: the
    people expected to join (``size × response_rate``) are allocated to the strata below
    their share of the population in the panel they will join, in proportion to what each
    lacks, and the stratum's draw is its allocation ÷ the response rate. With nothing lacking,
    boost is proportional. No stratum gives more than it has.
    """
    caps = {h: n for h, n in eligible.items() if n > 0}
    if method == "proportional" or not panel:
        return _largest_remainder({h: float(n) for h, n in caps.items()}, size, caps)
    population = sum(caps.values())
    joining = size * response_rate
    after = sum(panel.values()) + joining
    lacking = {
        h: max(0.0, caps[h] / population * after - panel.get(h, 0)) for h in caps if population
    }
    if sum(lacking.values()) <= 0:
        return _largest_remainder({h: float(n) for h, n in caps.items()}, size, caps)
    return _largest_remainder(lacking, size, caps)


def draw_ordinals(seed: int, stratum: int, eligible: int, wanted: int) -> list[int]:
    """Which of a stratum's eligible people (numbered 0 … eligible-1 in file order) are drawn:
    a simple random sample, reproducible from the seed, in ascending order."""
    # Reproducible on purpose (the seed is recorded); the codes use ``secrets``.
    rng = random.Random(f"{seed}:{stratum}")  # noqa: S311
    return sorted(rng.sample(range(eligible), min(wanted, eligible)))


def locate(ordinals: Sequence[int], counts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each ordinal (ascending) as (batch number, position in that batch's part of the
    stratum), given the stratum's count in each batch, in batch order."""
    found: list[tuple[int, int]] = []
    before = 0
    i = 0
    for batch_no, count in counts:
        while i < len(ordinals) and ordinals[i] < before + count:
            found.append((batch_no, ordinals[i] - before))
            i += 1
        before += count
    return found


CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base 32: no I, L, O or U, so a typed code is not misread."""
CODE_LENGTH = 10
"""50 random bits: one guess in 10^15 hits one of 1 000 000 live codes; the page is also
rate limited."""


def new_short_code() -> str:
    """A short code for typing, shown as two groups of five (``7K3QM-X9C2D``)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


_MISREAD = str.maketrans("OIL", "011")


def normalise_code(typed: str) -> str:
    """A typed short code as stored: no spaces or dashes, upper case, misreadings mapped."""
    text = "".join(typed.split()).replace("-", "").upper()
    return text.translate(_MISREAD)


def show_code(code: str) -> str:
    """A short code as printed: two groups of five."""
    return f"{code[:5]}-{code[5:]}"


def is_short_code(text: str) -> bool:
    """Whether ``text`` (normalised) has the form of a short code (not of a link token)."""
    return len(text) == CODE_LENGTH and all(c in CODE_ALPHABET for c in text)
