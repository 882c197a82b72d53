"""Sealing: what must not rest in the clear (personal links, dead-letter bodies) is encrypted.

A copy of the databases, the streams or the dead letters then yields no working link and no
answers: outbox entries, queued ``SendMessage`` commands and dead letters carry a sealed blob
that only a process holding the installation's seal keys can open (dispatch, to render the
mail; the dead-letter CLI, to replay). The keys live in the processes' environment
(``SEAL_KEYS``), never in a database.

``SEAL_KEYS`` is a comma-separated list of Fernet keys (AES-128-CBC with HMAC-SHA256): the
first seals, every one opens. To rotate, put a new key first, keep the old one until nothing
sealed with it is left (outboxes drain in seconds; dead letters are kept 90 days), then drop it.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SEALED_PREFIX = b"sealed:v1:"
"""Marks a sealed body, so a reader can tell it from a clear one."""


class Unsealable(ValueError):
    """The blob was not sealed with any of the keys given (or was altered)."""


def new_key() -> str:
    """A fresh random seal key (32 random bytes, URL-safe base64)."""
    return Fernet.generate_key().decode()


class Sealer:
    """Seals and opens with the installation's keys; the first key seals."""

    def __init__(self, keys: str) -> None:
        parsed = [k.strip() for k in keys.split(",") if k.strip()]
        if not parsed:
            raise ValueError("SEAL_KEYS is empty: give at least one key (infra.sealing.new_key)")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parsed])
        except ValueError as exc:
            raise ValueError("SEAL_KEYS holds a malformed key") from exc

    def seal(self, data: bytes) -> bytes:
        """``data`` encrypted and authenticated, marked as sealed."""
        return SEALED_PREFIX + self._fernet.encrypt(data)

    def open(self, sealed: bytes) -> bytes:
        """The data ``seal`` sealed; raises ``Unsealable``."""
        if not sealed.startswith(SEALED_PREFIX):
            raise Unsealable("not a sealed body")
        try:
            return self._fernet.decrypt(sealed[len(SEALED_PREFIX) :])
        except InvalidToken as exc:
            raise Unsealable("sealed with a key not in SEAL_KEYS, or altered") from exc

    def seal_params(self, params: dict[str, str]) -> str:
        """Template values sealed into one text field (e.g. ``SendMessage.sealed``)."""
        return self.seal(json.dumps(params, sort_keys=True).encode()).decode()

    def open_params(self, sealed: str) -> dict[str, str]:
        """What ``seal_params`` sealed; raises ``Unsealable``."""
        value = json.loads(self.open(sealed.encode()))
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise Unsealable("sealed parameters are not a map of texts")
        return value


def is_sealed(data: bytes) -> bool:
    """Whether ``data`` is a sealed body."""
    return data.startswith(SEALED_PREFIX)
