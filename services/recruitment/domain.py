"""Rules of panel membership (pure, no I/O)."""

from __future__ import annotations

import re

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")


class InvalidEmail(ValueError):
    """The address cannot be an e-mail address."""


def normalise_email(email: str) -> str:
    """Trim and lower-case so one person cannot join twice by capitalising differently."""
    value = email.strip().lower()
    if not EMAIL_RE.fullmatch(value):
        raise InvalidEmail(email)
    return value


def confirm_link(portal_url: str, tenant: str, token: str) -> str:
    """The double opt-in link in the confirmation mail."""
    return f"{portal_url.rstrip('/')}/t/{tenant}/join/confirm/{token}"
