"""Login forms against cross-site request forgery, before there is a session to tie them to.

A login CSRF attack signs the victim into the attacker's account (whatever the victim then
types lands there). The login page sets a random nonce in a cookie (``__Host-`` name when
Secure, SameSite=Strict, HttpOnly, an hour) and puts an HMAC of it, under the installation's
login-form key, in a hidden field. A login POST is only looked at when the field is the HMAC of
the cookie's nonce. Another site can neither read the field nor, thanks to the HMAC and the
``__Host-`` prefix, plant a nonce/field pair of its own. A successful login clears the cookie.

The JSON API's login needs none of this: it accepts only ``application/json`` bodies, which a
browser does not send to another site without a CORS preflight, and the portal grants none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Final

from fastapi import Request, Response

COOKIE: Final = "radslag_login"
"""The nonce cookie's name over plain HTTP (the local stack)."""
SECURE_COOKIE: Final = "__Host-radslag_login"
"""Its name when cookies are Secure: the browser then refuses it from a sibling domain."""
FIELD: Final = "login_token"
"""The hidden form field holding the nonce's HMAC."""
LIFETIME_SECONDS: Final = 3600
"""How long a login page may stay open before its form is refused."""

_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def cookie_name(secure: bool) -> str:
    """The nonce cookie's name with or without ``Secure``."""
    return SECURE_COOKIE if secure else COOKIE


def form_token(key: bytes, nonce: str) -> str:
    """The hidden field's value for ``nonce``."""
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def nonce_of(request: Request, secure: bool) -> str | None:
    """The request's nonce cookie, if well formed."""
    nonce = request.cookies.get(cookie_name(secure))
    return nonce if nonce is not None and _NONCE_RE.fullmatch(nonce) else None


def matches(key: bytes, nonce: str | None, token: str | None) -> bool:
    """Whether a submitted field is the HMAC of the cookie's nonce (constant time)."""
    if not nonce or not token:
        return False
    return hmac.compare_digest(form_token(key, nonce).encode(), token.encode())


def issue(request: Request, key: bytes, secure: bool) -> tuple[str, str]:
    """The nonce for a login form (the request's own, else a new one) and its field value."""
    nonce = nonce_of(request, secure) or secrets.token_urlsafe(32)
    return nonce, form_token(key, nonce)


def set_cookie(response: Response, nonce: str, secure: bool) -> None:
    """Give the browser the nonce of the form it is shown."""
    response.set_cookie(
        cookie_name(secure),
        nonce,
        max_age=LIFETIME_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_cookie(response: Response, secure: bool) -> None:
    """Forget the nonce once signed in."""
    response.delete_cookie(
        cookie_name(secure), path="/", httponly=True, samesite="strict", secure=secure
    )
