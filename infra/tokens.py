"""Personal-link tokens: 256 random bits in the link, only their hash in the database."""

from __future__ import annotations

import hashlib
import secrets
import uuid

TOKEN_BYTES = 32  # 256 bits; DESIGN asks for at least 128


def new_token() -> str:
    """A fresh URL-safe random token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What is stored and looked up: a leaked database does not yield working links."""
    return hashlib.sha256(token.encode()).hexdigest()


_NAMESPACE = uuid.UUID("6f1c7a52-41a9-4a0e-9a51-8c5b7f3de0a1")


def derived_id(*parts: str) -> str:
    """A deterministic UUID from the causing message's id and more, for idempotent fan-out."""
    return str(uuid.uuid5(_NAMESPACE, ":".join(parts)))
