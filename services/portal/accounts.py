"""Staff accounts, their sessions and their wrong passwords.

(The portal's database also holds the rate-limit counts, see ``limits``, and the
installation's key, see ``keys``; nothing else.)

An account belongs to one council (``tenant``) or is a region admin (``tenant=None``, role
``region_admin``). Passwords are argon2 hashes. A session is a random 32-byte token in an
HttpOnly, SameSite=Lax cookie; the database keeps only its SHA-256, with an expiry and the
session's CSRF token, which every staff POST must carry.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pymongo.asynchronous.database import AsyncDatabase

from infra.store import Document, epoch_ms

REGION_ADMIN: Final = "region_admin"
"""The role of accounts that manage every council; they have no tenant."""

SESSION_COOKIE: Final = "radslag_session"
"""Name of the session cookie."""

MIN_PASSWORD_LENGTH: Final = 8

_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
_TENANT_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_PANEL_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_hasher = PasswordHasher()
# Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH: Final = _hasher.hash(secrets.token_urlsafe(16))


class InvalidAccount(ValueError):
    """An account that cannot be created as asked (bad username, password, tenant or role)."""


@dataclass(frozen=True)
class Account:
    """A staff account, without its password."""

    username: str
    tenant: str | None
    role: str
    panels: tuple[str, ...] = ()
    """The council's panels this account works with; () for every one. A council that
    wants a panel's owner (a committee, the youth office) to see only its own panels gives
    that owner's accounts the list."""

    @property
    def is_region_admin(self) -> bool:
        """Region admins may act for every council."""
        return self.role == REGION_ADMIN

    def may_act_for(self, tenant: str) -> bool:
        """Whether this account may work in council ``tenant``'s staff pages."""
        return self.is_region_admin or self.tenant == tenant

    def sees_panel(self, panel: str) -> bool:
        """Whether this account works with ``panel`` (every panel unless limited)."""
        return not self.panels or panel in self.panels


@dataclass(frozen=True)
class Session:
    """A signed-in staff member."""

    account: Account
    csrf_token: str
    expires_at: datetime

    def may_act_for(self, tenant: str) -> bool:
        """Whether this session is valid in council ``tenant``'s staff pages."""
        return self.account.may_act_for(tenant)

    def csrf_matches(self, candidate: str | None) -> bool:
        """Whether a submitted CSRF token is this session's (compared in constant time)."""
        return bool(candidate) and hmac.compare_digest(
            self.csrf_token.encode(), (candidate or "").encode()
        )


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive."""
    return username.strip().lower()


def _session_id(token: str) -> str:
    # Only the hash is stored: a leaked database does not yield working sessions.
    return hashlib.sha256(token.encode()).hexdigest()


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """Expired sessions are removed by the store; accounts are keyed by username."""
    await db.sessions.create_index("expires_at", expireAfterSeconds=0)
    await db.sessions.create_index("username")


async def create_account(
    db: AsyncDatabase[Document],
    username: str,
    password: str,
    tenant: str | None,
    role: str,
    panels: tuple[str, ...] = (),
) -> Account:
    """Create a staff account, or replace the password, tenant, role and panels of an
    existing one (``panels``: the council's panels it works with; () for every one).

    ``tenant`` is the council's slug, or None for a region admin (role ``region_admin``).
    The account's open sessions end, so a changed role or council takes effect at once.
    Raises ``InvalidAccount`` for a bad username, a password shorter than 8 characters, or a
    tenant/role combination that does not fit.
    """
    name = normalise_username(username)
    if not _USERNAME_RE.fullmatch(name):
        raise InvalidAccount("username must be 2-64 characters: letters, digits, . _ @ -")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if not role or len(role) > 40:
        raise InvalidAccount("role must be 1-40 characters")
    if (role == REGION_ADMIN) != (tenant is None):
        raise InvalidAccount("region admins have no tenant; every other account has one")
    if tenant is not None and not _TENANT_RE.fullmatch(tenant):
        raise InvalidAccount(f"not a council slug: {tenant!r}")
    if len(panels) > 20 or not all(_PANEL_RE.fullmatch(p) for p in panels):
        raise InvalidAccount("panels must be up to 20 panel names")
    if panels and tenant is None:
        raise InvalidAccount("a region admin works with every panel")
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    await db.accounts.replace_one(
        {"_id": name},
        {
            "_id": name,
            "password_hash": password_hash,
            "tenant": tenant,
            "role": role,
            "panels": list(panels),
            "updated_at": datetime.now(UTC),
        },
        upsert=True,
    )
    await db.sessions.delete_many({"username": name})
    return Account(username=name, tenant=tenant, role=role, panels=tuple(panels))


FREE_FAILURES: Final = 5
"""Wrong passwords in a row an account may get before it is locked for a while."""
FIRST_LOCK_SECONDS: Final = 60
LONGEST_LOCK_SECONDS: Final = 3600
FORGET_AFTER_MS: Final = 24 * 3600 * 1000
"""Wrong passwords count towards a lock for a day."""


class AccountLocked(Exception):
    """Too many wrong passwords for this username: no password is checked until
    ``retry_after`` seconds have passed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("account locked after repeated failures")
        self.retry_after = retry_after


async def _check_not_locked(db: AsyncDatabase[Document], name: str) -> None:
    doc = await db.login_failures.find_one({"_id": name})
    left = int((doc or {}).get("locked_until_ms") or 0) - epoch_ms()
    if left > 0:
        raise AccountLocked(max(1, -(-left // 1000)))


async def _count_failure(db: AsyncDatabase[Document], name: str) -> None:
    """One more wrong password; past ``FREE_FAILURES`` the lock doubles each time, to an hour.

    Kept per username in the portal's database, so every replica sees the same count, and for
    unknown usernames too, so the lock does not tell which accounts exist.
    """
    now = epoch_ms()
    # Failures older than a day are forgotten (which also keeps the collection small).
    await db.login_failures.delete_many({"last_ms": {"$lt": now - FORGET_AFTER_MS}})
    await db.login_failures.update_one(
        {"_id": name}, {"$inc": {"failures": 1}, "$set": {"last_ms": now}}, upsert=True
    )
    doc = await db.login_failures.find_one({"_id": name})
    failures = int((doc or {}).get("failures") or 1)
    if failures >= FREE_FAILURES:
        seconds = min(FIRST_LOCK_SECONDS * 2 ** (failures - FREE_FAILURES), LONGEST_LOCK_SECONDS)
        # Epoch milliseconds, not a datetime: see infra.store.epoch_ms.
        await db.login_failures.update_one(
            {"_id": name}, {"$set": {"locked_until_ms": now + seconds * 1000}}
        )


async def authenticate(db: AsyncDatabase[Document], username: str, password: str) -> Account | None:
    """The account whose username and password these are, or None.

    Raises ``AccountLocked`` while the username is locked after repeated wrong passwords
    (whatever the client address: the per-address limit is a separate one).
    """
    name = normalise_username(username)
    if name:
        await _check_not_locked(db, name)
    doc = await db.accounts.find_one({"_id": name}) if name else None
    stored = str(doc["password_hash"]) if doc else _DUMMY_HASH
    try:
        await asyncio.to_thread(_hasher.verify, stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        if name:
            await _count_failure(db, name)
        return None
    if doc is None:
        return None
    await db.login_failures.delete_one({"_id": name})
    if _hasher.check_needs_rehash(stored):
        rehashed = await asyncio.to_thread(_hasher.hash, password)
        await db.accounts.update_one({"_id": name}, {"$set": {"password_hash": rehashed}})
    return Account(
        username=name,
        tenant=doc.get("tenant"),
        role=str(doc["role"]),
        panels=tuple(doc.get("panels") or ()),
    )


async def open_session(
    db: AsyncDatabase[Document], account: Account, lifetime: timedelta
) -> tuple[str, Session]:
    """Start a session; returns the token for the cookie and the session."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session = Session(
        account=account, csrf_token=secrets.token_urlsafe(32), expires_at=now + lifetime
    )
    await db.sessions.insert_one(
        {
            "_id": _session_id(token),
            "username": account.username,
            "tenant": account.tenant,
            "role": account.role,
            "panels": list(account.panels),
            "csrf_token": session.csrf_token,
            "created_at": now,
            "expires_at": session.expires_at,
        }
    )
    return token, session


async def find_session(db: AsyncDatabase[Document], token: str | None) -> Session | None:
    """The unexpired session of a cookie's token, or None."""
    if not token or len(token) > 100:
        return None
    doc = await db.sessions.find_one({"_id": _session_id(token)})
    if doc is None:
        return None
    expires_at: datetime = doc["expires_at"]
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if expires_at <= datetime.now(UTC):
        return None
    account = Account(
        username=doc["username"],
        tenant=doc.get("tenant"),
        role=doc["role"],
        panels=tuple(doc.get("panels") or ()),
    )
    return Session(account=account, csrf_token=doc["csrf_token"], expires_at=expires_at)


async def close_session(db: AsyncDatabase[Document], token: str | None) -> None:
    """End a session (logging out)."""
    if token:
        await db.sessions.delete_one({"_id": _session_id(token)})


# -- a council's own team ------------------------------------------------------------------

COUNCIL_ROLES: Final = ("panel_manager", "staff", "analyst", "steering_group")
"""Roles a council gives its own accounts on its team page (``region_admin`` is the
region's: made by operations only). ``steering_group`` is the politicians': they read rounds
and results and approve or return submitted rounds, and edit nothing (``round_steps``)."""


async def council_accounts(db: AsyncDatabase[Document], tenant: str) -> list[Account]:
    """The council's accounts, by username."""
    found = await db.accounts.find({"tenant": tenant}, {"password_hash": 0}).to_list()
    return sorted(
        (
            Account(
                username=str(d["_id"]),
                tenant=tenant,
                role=str(d["role"]),
                panels=tuple(d.get("panels") or ()),
            )
            for d in found
        ),
        key=lambda a: a.username,
    )


class AccountTaken(InvalidAccount):
    """The username belongs to another council's account or to a region admin."""


async def set_access(
    db: AsyncDatabase[Document], username: str, tenant: str, role: str, panels: tuple[str, ...]
) -> tuple[Account, str | None]:
    """Give a council account its role and panels, creating it if it does not exist; the
    password of a new account is made here and returned once (None for an existing one,
    whose password stays). The account's sessions end, so the change takes effect at once.
    Raises ``AccountTaken`` for a username of another council or of a region admin, and
    ``InvalidAccount`` for a bad username, role or panel list."""
    name = normalise_username(username)
    if role not in COUNCIL_ROLES:
        raise InvalidAccount(f"role must be one of {', '.join(COUNCIL_ROLES)}")
    existing = await db.accounts.find_one({"_id": name}, {"tenant": 1})
    if existing is None:
        password = secrets.token_urlsafe(12)
        account = await create_account(db, name, password, tenant, role, panels)
        return account, password
    if existing.get("tenant") != tenant:
        raise AccountTaken("this username is taken")
    if len(panels) > 20 or not all(_PANEL_RE.fullmatch(p) for p in panels):
        raise InvalidAccount("panels must be up to 20 panel names")
    await db.accounts.update_one(
        {"_id": name, "tenant": tenant},
        {"$set": {"role": role, "panels": list(panels), "updated_at": datetime.now(UTC)}},
    )
    await db.sessions.delete_many({"username": name})
    return Account(username=name, tenant=tenant, role=role, panels=panels), None


async def remove_account(db: AsyncDatabase[Document], username: str, tenant: str) -> bool:
    """Delete one of the council's accounts and end its sessions; False if it has none of
    that name."""
    name = normalise_username(username)
    result = await db.accounts.delete_one({"_id": name, "tenant": tenant})
    if result.deleted_count:
        await db.sessions.delete_many({"username": name})
    return bool(result.deleted_count)


async def change_password(
    db: AsyncDatabase[Document], account: Account, current: str, new: str, keep: str | None
) -> bool:
    """Change the account's own password if ``current`` is right (False otherwise, counted
    as a wrong password); its sessions end but the one whose token is ``keep``. Raises
    ``InvalidAccount`` for a new password shorter than ``MIN_PASSWORD_LENGTH``."""
    if len(new) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if await authenticate(db, account.username, current) is None:
        return False
    password_hash = await asyncio.to_thread(_hasher.hash, new)
    await db.accounts.update_one(
        {"_id": account.username},
        {"$set": {"password_hash": password_hash, "updated_at": datetime.now(UTC)}},
    )
    others: Document = {"username": account.username}
    if keep:
        others["_id"] = {"$ne": _session_id(keep)}
    await db.sessions.delete_many(others)
    return True
