"""Storing a new password hash: version-checked, validated, never echoed (sync and async)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from cnop.data import UserCreate, UserDAO, UserUpdate
from cnop.data.core.users import PASSWORD_HASH_MAX_LENGTH
from cnop.exceptions import (
    CNOPUserNotFoundException,
    CNOPValidationException,
    CNOPVersionConflictException,
)

OLD = "$2b$12$" + "A" * 53
NEW = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + "B" * 43
SECRET = "Zq9SECRETxy"  # in every hostile hash below: it must never come back in an error

HOSTILE_HASHES: list[Any] = [
    "",
    NEW + "\n",
    "\n" + NEW,
    NEW + "\r\n",
    f"$2b$12${SECRET} x",
    f"$2b$12${SECRET}\x00",
    f"$2b$12${SECRET}\t",
    f"$2b$12${SECRET}\u00a0",  # no-break space
    f"$2b$12${SECRET}\u2028",  # line separator
    f"$2b$12${SECRET}\ud800",  # lone surrogate
    f"$2b$12${SECRET}\u0661\u0660",  # Arabic-Indic digits
    f"$2b$12${SECRET}\uff11",  # fullwidth digit
    f"$2b$12${SECRET}\u0430",  # Cyrillic 'a', a confusable
    f"$2b$12${SECRET}\x7f",
    SECRET * (PASSWORD_HASH_MAX_LENGTH // len(SECRET) + 1),
    None,
    12,
    b"$2b$12$abc",
    [NEW],
]


def _leaks(exc: BaseException, value: Any) -> bool:
    text = f"{exc} {exc!r} {getattr(exc, 'details', '')}"
    return SECRET in text or (isinstance(value, str) and len(value) > 3 and value in text)


def test_a_new_hash_is_stored_at_the_next_version(
    daos: SimpleNamespace, user_input: Callable[..., UserCreate]
) -> None:
    user = daos.users.create_user(user_input(), OLD)
    updated = daos.users.set_password_hash(user.username.upper(), NEW, user.version)
    assert (updated.password_hash, updated.version) == (NEW, user.version + 1)
    assert updated.updated_at >= user.updated_at
    stored = daos.users.get_user_by_username(user.username)
    assert stored == updated
    # Everything else is as it was.
    assert stored.model_dump(exclude={"password_hash", "version", "updated_at"}) == (
        user.model_dump(exclude={"password_hash", "version", "updated_at"})
    )
    longest = "$" + "h" * (PASSWORD_HASH_MAX_LENGTH - 1)
    assert daos.users.set_password_hash(user.username, longest, 2).password_hash == longest


def test_a_stale_version_is_a_conflict_and_changes_nothing(
    daos: SimpleNamespace, user_input: Callable[..., UserCreate]
) -> None:
    user = daos.users.create_user(user_input(), OLD)
    daos.users.update_user(user.username, UserUpdate(first_name="Grace"), 1)
    with pytest.raises(CNOPVersionConflictException, match="expected version 1, current 2") as info:
        daos.users.set_password_hash(user.username, NEW, 1)
    # The conflict reports versions only: neither the stored nor the offered hash.
    assert not _leaks(info.value, OLD)
    assert not _leaks(info.value, NEW)
    assert daos.users.get_user_by_username(user.username).password_hash == OLD
    with pytest.raises(CNOPVersionConflictException):
        daos.users.set_password_hash(user.username, NEW, 3)  # a version from the future


def test_an_unknown_user_is_not_found_and_not_created(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    name = new_username()
    with pytest.raises(CNOPUserNotFoundException, match=name):
        daos.users.set_password_hash(name, NEW, 1)
    with pytest.raises(CNOPUserNotFoundException):
        daos.users.get_user_by_username(name)


@pytest.fixture(scope="module")
def one_user(data_settings: Any) -> tuple[UserDAO, str]:
    """One stored user for the many argument checks (they never reach DynamoDB)."""
    users = UserDAO(settings=data_settings)
    name = f"u_{uuid.uuid4().hex[:16]}"
    data = UserCreate(username=name, email=f"{name}@example.com", first_name="A", last_name="B")
    return users, users.create_user(data, OLD).username


@pytest.mark.parametrize("bad", HOSTILE_HASHES)
def test_a_hash_that_cannot_be_stored_is_refused_without_echoing_it(
    one_user: tuple[UserDAO, str], bad: Any
) -> None:
    users, name = one_user
    with pytest.raises(CNOPValidationException, match="password_hash") as info:
        users.set_password_hash(name, bad, 1)
    assert not _leaks(info.value, bad)
    stored = users.get_user_by_username(name)
    assert (stored.password_hash, stored.version) == (OLD, 1)


@pytest.mark.parametrize("bad", HOSTILE_HASHES)
def test_registration_refuses_the_same_hashes(
    one_user: tuple[UserDAO, str], user_input: Callable[..., UserCreate], bad: Any
) -> None:
    users, _ = one_user
    data = user_input()
    with pytest.raises(CNOPValidationException, match="password_hash") as info:
        users.create_user(data, bad)
    assert not _leaks(info.value, bad)
    with pytest.raises(CNOPUserNotFoundException):
        users.get_user_by_username(data.username)


def test_the_async_form_checks_the_hash_too(
    daos: SimpleNamespace, user_input: Callable[..., UserCreate]
) -> None:
    user = daos.users.create_user(user_input(), OLD)
    with pytest.raises(CNOPValidationException, match="password_hash"):
        daos.users.set_password_hash(user.username, NEW + "\n", 1)
    with pytest.raises(CNOPValidationException, match="password_hash"):
        daos.users.create_user(user_input(), NEW + "\n")


@pytest.mark.parametrize(
    ("username", "version", "field"),
    [
        ("not a name!", 1, "username"),
        ("alice_01\n", 1, "username"),
        ("alice_01", 0, "expected_version"),
        ("alice_01", True, "expected_version"),
        ("alice_01", "1", "expected_version"),
        ("alice_01", 1.0, "expected_version"),
    ],
)
def test_bad_arguments_are_validation_errors(
    one_user: tuple[UserDAO, str], username: str, version: Any, field: str
) -> None:
    with pytest.raises(CNOPValidationException, match=field):
        one_user[0].set_password_hash(username, NEW, version)


def test_of_two_logins_storing_a_rehash_at_once_exactly_one_wins(
    data_settings: Any, user_input: Callable[..., UserCreate]
) -> None:
    users = UserDAO(settings=data_settings)
    user = users.create_user(user_input(), OLD)
    candidates = [f"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA${i:043d}" for i in range(8)]

    def store(new_hash: str) -> str:
        try:
            return users.set_password_hash(user.username, new_hash, user.version).password_hash
        except CNOPVersionConflictException:
            return "conflict"

    with ThreadPoolExecutor(len(candidates)) as pool:
        outcomes = list(pool.map(store, candidates))
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1
    stored = users.get_user_by_username(user.username)
    assert (stored.password_hash, stored.version) == (winners[0], 2)
