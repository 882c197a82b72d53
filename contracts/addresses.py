"""E-mail addresses: one mailbox each, checked the same way at the edge and in recruitment."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

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
