"""The installation's secret key: made on first start, kept in the portal's database.

Every portal replica reads the same key, so what one replica signs another can check. It
keys the login forms' tokens and the hashes of client addresses in the rate-limit counts;
each use derives its own key (``derive``), so no value made for one use fits another.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from infra.store import Document

KEY_ID = "secret_key"
"""``_id`` of the key's document in the ``installation`` collection."""


async def installation_key(db: AsyncDatabase[Document]) -> bytes:
    """The installation's key; the first replica to start makes it, the others read it."""
    doc = await db.installation.find_one({"_id": KEY_ID})
    if doc is None:
        # Another replica may make it first: then its key is the one read back.
        with contextlib.suppress(DuplicateKeyError):
            await db.installation.insert_one({"_id": KEY_ID, "key": secrets.token_hex(32)})
        doc = await db.installation.find_one({"_id": KEY_ID})
    if doc is None:
        raise RuntimeError("the installation key could not be stored")
    return bytes.fromhex(str(doc["key"]))


def derive(key: bytes, purpose: str) -> bytes:
    """A key for one use only (``login-form``, ``rate-limit``), derived from ``key``."""
    return hmac.new(key, purpose.encode(), hashlib.sha256).digest()
