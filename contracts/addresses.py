"""E-mail addresses and mobile numbers: one each, checked the same way at the edge and in
recruitment."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumberType

EMAIL_MAX = 254


class InvalidEmail(ValueError):
    """The text is not one e-mail address that mail can be sent to."""


def normalise_email(raw: str) -> str:
    """One mailbox, trimmed and lower-cased (so nobody joins twice by capitalising differently).

    Checked by ``email-validator`` (RFC 5322/6531 syntax, without a DNS lookup): a comma, a
    second address, a display name, quoting, a bracketed IP address, a line break or a
    special-use domain (``.local``, ``.test``…) is refused. An internationalised domain is
    kept in its ASCII (punycode) form, which every mail relay accepts; a local part outside
    ASCII is refused, since not every relay supports SMTPUTF8.
    """
    value = raw.strip()
    if not value or len(value) > EMAIL_MAX:
        raise InvalidEmail("empty or too long")
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    address = (checked.ascii_email or checked.normalized).lower()
    if len(address) > EMAIL_MAX:
        raise InvalidEmail("too long")
    return address


PHONE_MAX = 32


class InvalidPhone(ValueError):
    """The text is not a mobile number of the council's country."""


def normalise_phone(raw: str, country: str) -> str:
    """A mobile number in E.164 (``+46701234567``), read as ``country`` (``SE``, ``NO``) writes
    it when it has no ``+`` prefix; checked with ``phonenumbers``.

    Only a valid mobile number of ``country`` is taken: SMS go to the council's residents, and
    a landline cannot receive one.
    """
    value = raw.strip()
    if not value or len(value) > PHONE_MAX:
        raise InvalidPhone("empty or too long")
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number")
    if phonenumbers.region_code_for_number(number) != country:
        raise InvalidPhone("not a number of the council's country")
    kind = phonenumbers.number_type(number)
    if kind not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise InvalidPhone("not a mobile number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
