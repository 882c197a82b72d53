"""An account is locked for a while after repeated wrong passwords, from any address."""

from __future__ import annotations

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from infra.store import Document
from services.portal.accounts import FREE_FAILURES
from tests.portal.conftest import PASSWORD, check_page, form_login


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await form_login(client, "/t/gnosjo/staff/login", username, password)


@pytest.mark.usefixtures("accounts")
async def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_one(
    client: httpx.AsyncClient, db: AsyncDatabase[Document]
) -> None:
    for _ in range(FREE_FAILURES):
        assert (await _login(client, "anna", "wrong wrong")).status_code == 400
    locked = await _login(client, "anna", PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert check_page(locked.text).h1_text.strip() == "För många försök"
    # Through the API as well: the lock is the account's, not the form's.
    api = await client.post(
        "/api/t/gnosjo/session", json={"username": "anna", "password": PASSWORD}
    )
    assert api.status_code == 429
    # Another account is not affected.
    assert (await _login(client, "ville", "wrong wrong")).status_code == 400

    # Once the lock is over, the right password works and the count starts again.
    await db.login_failures.update_one({"_id": "anna"}, {"$set": {"locked_until_ms": 0}})
    assert (await _login(client, "anna", PASSWORD)).status_code == 303
    assert await db.login_failures.find_one({"_id": "anna"}) is None


@pytest.mark.usefixtures("accounts")
async def test_the_lock_grows_and_unknown_usernames_are_locked_alike(
    client: httpx.AsyncClient, db: AsyncDatabase[Document]
) -> None:
    for _ in range(FREE_FAILURES):
        await _login(client, "nobody", "wrong wrong")
    first = await _login(client, "nobody", "wrong wrong")
    assert first.status_code == 429  # an unknown name looks exactly like a real one
    await db.login_failures.update_one({"_id": "nobody"}, {"$set": {"locked_until_ms": 0}})
    await _login(client, "nobody", "wrong wrong")  # one more failure after the lock
    second = await _login(client, "nobody", "wrong wrong")
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) > int(first.headers["retry-after"])
