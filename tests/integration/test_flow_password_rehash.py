"""bcrypt -> argon2id on login, end to end: cnop-auth checks, cnop-data stores (DynamoDB Local).

The migration the cnop-auth README describes: register with bcrypt, switch the service to
``PasswordManager(("argon2", "bcrypt"))``; the next login returns an argon2id hash, which
is stored with ``set_password_hash`` at the version the old hash was read from, and from
then on the login verifies argon2id and asks for nothing more.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cnop.data import AsyncUserDAO, DataSettings, User, UserCreate, UserDAO
from cnop.data.aio import open_async_client
from cnop.exceptions import CNOPInvalidCredentialsException, CNOPVersionConflictException

auth = pytest.importorskip("cnop.auth")
pytest.importorskip("argon2")

PASSWORD = "Correct-Horse-9x"
# The README's cost is 12; a lower one keeps the test quick and is upgraded the same way.
LEGACY_ROUNDS = 4


def _register(users: UserDAO) -> User:
    legacy = auth.PasswordManager(bcrypt_rounds=LEGACY_ROUNDS)
    name = f"pw_{uuid.uuid4().hex[:12]}"
    data = UserCreate(username=name, email=f"{name}@example.com", first_name="Ada", last_name="B")
    return users.create_user(data, legacy.hash_password(PASSWORD))


def _login(users: UserDAO, passwords: Any, username: str, password: str) -> User:
    """What a login endpoint does: check, and store the replacement hash if one comes back."""
    user = users.get_user_by_username(username)
    new_hash = passwords.authenticate(username, password, user.password_hash)
    if new_hash is None:
        return user
    try:
        return users.set_password_hash(username, new_hash, user.version)
    except CNOPVersionConflictException:
        # Another login (or a profile change) got there first; the password was right,
        # and the next login rehashes if the stored hash is still the old kind.
        return users.get_user_by_username(username)


def test_bcrypt_is_replaced_by_argon2id_on_the_next_login(flow_settings: DataSettings) -> None:
    users = UserDAO(settings=flow_settings)
    registered = _register(users)
    assert registered.password_hash.startswith("$2b$04$")

    migrating = auth.PasswordManager(("argon2", "bcrypt"))
    stored = users.get_user_by_username(registered.username)
    new_hash = migrating.authenticate(registered.username, PASSWORD, stored.password_hash)
    assert new_hash is not None
    assert new_hash.startswith("$argon2id$")
    updated = users.set_password_hash(registered.username, new_hash, stored.version)
    assert (updated.password_hash, updated.version) == (new_hash, stored.version + 1)

    again = users.get_user_by_username(registered.username)
    assert again.password_hash == new_hash
    assert migrating.authenticate(registered.username, PASSWORD, again.password_hash) is None
    # The DAO's own login check takes the same manager, and a wrong password still fails.
    assert users.authenticate_user(registered.username, PASSWORD, migrating) == again
    with pytest.raises(CNOPInvalidCredentialsException):
        users.authenticate_user(registered.username, PASSWORD + "!", migrating)
    with pytest.raises(CNOPInvalidCredentialsException):
        migrating.authenticate(registered.username, PASSWORD + "!", again.password_hash)


def test_a_password_change_is_stored_and_the_old_password_stops_working(
    flow_settings: DataSettings,
) -> None:
    users = UserDAO(settings=flow_settings)
    user = _register(users)
    passwords = auth.PasswordManager(("argon2", "bcrypt"))
    changed = users.set_password_hash(
        user.username, passwords.hash_password("Another-Horse-7y"), user.version
    )
    assert users.authenticate_user(user.username, "Another-Horse-7y", passwords) == changed
    with pytest.raises(CNOPInvalidCredentialsException):
        users.authenticate_user(user.username, PASSWORD, passwords)
    # A change made from a stale read (the old version) is refused, not lost silently.
    with pytest.raises(CNOPVersionConflictException):
        users.set_password_hash(user.username, passwords.hash_password(PASSWORD), user.version)
    assert users.authenticate_user(user.username, "Another-Horse-7y", passwords) == changed


def test_concurrent_first_logins_store_one_rehash_and_all_succeed(
    flow_settings: DataSettings,
) -> None:
    users = UserDAO(settings=flow_settings)
    user = _register(users)
    migrating = auth.PasswordManager(("argon2", "bcrypt"))
    with ThreadPoolExecutor(4) as pool:
        logged_in = list(
            pool.map(lambda _: _login(users, migrating, user.username, PASSWORD), range(4))
        )
    final = users.get_user_by_username(user.username)
    assert final.password_hash.startswith("$argon2id$")
    assert final.version == 2  # one rehash stored, the others refused as conflicts
    assert all(u.username == user.username for u in logged_in)
    assert _login(users, migrating, user.username, PASSWORD) == final  # nothing more to do


async def test_the_async_forms_do_the_same(flow_settings: DataSettings) -> None:
    registered = _register(UserDAO(settings=flow_settings))
    migrating = auth.PasswordManager(("argon2", "bcrypt"))
    async with open_async_client(flow_settings) as client:
        users = AsyncUserDAO(client, settings=flow_settings)
        stored = await users.get_user_by_username(registered.username)
        new_hash = await migrating.authenticate_async(
            stored.username, PASSWORD, stored.password_hash
        )
        assert new_hash is not None
        assert new_hash.startswith("$argon2id$")
        await users.set_password_hash(stored.username, new_hash, stored.version)
        again = await users.get_user_by_username(stored.username)
        assert again.password_hash == new_hash
        assert await migrating.authenticate_async(again.username, PASSWORD, new_hash) is None
        assert await users.authenticate_user(again.username, PASSWORD, migrating) == again
