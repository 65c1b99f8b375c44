"""UserDAO and AsyncUserDAO against DynamoDB Local (each test runs in both forms)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cnop.data import UserCreate, UserRole, UserUpdate
from cnop.exceptions import (
    CNOPEntityAlreadyExistsException,
    CNOPInvalidCredentialsException,
    CNOPUserNotFoundException,
    CNOPValidationException,
    CNOPVersionConflictException,
)


class Verifier:
    """Stands in for cnop.auth's PasswordManager: hash = 'h:' + password."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def verify_password(self, password: str, password_hash: str) -> bool:
        self.calls.append((password, password_hash))
        if len(password.encode()) > 72:
            raise ValueError("password cannot be longer than 72 bytes")
        return password_hash == f"h:{password}"


def test_create_and_read_back(daos: SimpleNamespace, user_input: Callable[..., UserCreate]) -> None:
    data = user_input(phone="+1 555 123 4567", role=UserRole.ADMIN)
    created = daos.users.create_user(data, "h:secret")
    assert created.version == 1
    by_name = daos.users.get_user_by_username(data.username.upper())
    assert by_name == created
    assert by_name.role is UserRole.ADMIN
    by_email = daos.users.get_user_by_email(data.email.upper())
    assert by_email.username == data.username
    balance = daos.balances.get_balance(data.username)
    assert balance.balance == Decimal(0)
    assert balance.version == 1


def test_existing_username_or_email_is_refused(
    daos: SimpleNamespace, user_input: Callable[..., UserCreate], new_username: Callable[[], str]
) -> None:
    first = daos.users.create_user(user_input(), "h:x")
    with pytest.raises(CNOPEntityAlreadyExistsException, match=r"Username .* already taken"):
        daos.users.create_user(
            user_input(username=first.username, email="other@example.com"), "h:y"
        )
    with pytest.raises(CNOPEntityAlreadyExistsException, match=r"Email .* already registered"):
        daos.users.create_user(user_input(email=first.email.upper()), "h:y")
    # Nothing of the refused users was written.
    assert daos.users.get_user_by_username(first.username).password_hash == "h:x"


def test_unknown_users(daos: SimpleNamespace, new_username: Callable[[], str]) -> None:
    with pytest.raises(CNOPUserNotFoundException):
        daos.users.get_user_by_username(new_username())
    with pytest.raises(CNOPUserNotFoundException):
        daos.users.get_user_by_email(f"{new_username()}@example.com")
    with pytest.raises(CNOPValidationException, match="username"):
        daos.users.get_user_by_username("bad name!")


def test_update_is_versioned(daos: SimpleNamespace, user_input: Callable[..., UserCreate]) -> None:
    user = daos.users.create_user(user_input(phone="+1 555 123 4567"), "h:x")
    updated = daos.users.update_user(user.username, UserUpdate(first_name="Grace", phone=None), 1)
    assert (updated.first_name, updated.phone, updated.version) == ("Grace", None, 2)
    assert updated.updated_at > user.updated_at
    assert daos.users.get_user_by_username(user.username) == updated
    with pytest.raises(CNOPVersionConflictException, match="expected version 1, current 2"):
        daos.users.update_user(user.username, UserUpdate(last_name="Hopper"), 1)
    with pytest.raises(CNOPUserNotFoundException):
        daos.users.update_user("nobody_" + user.username[:20], UserUpdate(last_name="Hopper"), 1)


def test_email_change_moves_the_guard(
    daos: SimpleNamespace, user_input: Callable[..., UserCreate]
) -> None:
    alice = daos.users.create_user(user_input(), "h:x")
    bob = daos.users.create_user(user_input(), "h:x")
    with pytest.raises(CNOPEntityAlreadyExistsException, match="Email"):
        daos.users.update_user(alice.username, UserUpdate(email=bob.email), 1)
    new_email = "moved." + alice.email
    moved = daos.users.update_user(alice.username, UserUpdate(email=new_email), 1)
    assert moved.email == new_email
    assert moved.version == 2
    assert daos.users.get_user_by_email(new_email).username == alice.username
    with pytest.raises(CNOPUserNotFoundException):
        daos.users.get_user_by_email(alice.email)
    # The old address is free again: someone else may register it.
    daos.users.create_user(user_input(email=alice.email), "h:x")
    with pytest.raises(CNOPVersionConflictException):
        daos.users.update_user(alice.username, UserUpdate(email="again." + alice.email), 1)


def test_authenticate_same_error_for_unknown_user_and_wrong_password(
    daos: SimpleNamespace, user_input: Callable[..., UserCreate], new_username: Callable[[], str]
) -> None:
    user = daos.users.create_user(user_input(), "h:correct-horse")
    verifier = Verifier()
    assert daos.users.authenticate_user(user.username, "correct-horse", verifier) == user
    errors = []
    for name, password in [
        (user.username, "wrong"),
        (new_username(), "correct-horse"),
        ("not a username!", "x"),
        (user.username, "x" * 100),  # the verifier refuses >72 bytes: still a failed login
    ]:
        with pytest.raises(CNOPInvalidCredentialsException) as info:
            daos.users.authenticate_user(name, password, verifier)
        errors.append((info.value.message, info.value.code, info.value.status_code))
    assert len(set(errors)) == 1
    # An unknown user still costs a hash check (no timing shortcut).
    assert len(verifier.calls) == 5
    daos.users.update_user(user.username, UserUpdate(is_active=False), 1)
    with pytest.raises(CNOPInvalidCredentialsException):
        daos.users.authenticate_user(user.username, "correct-horse", verifier)


def test_authenticate_with_cnop_auth_password_manager(
    daos: SimpleNamespace, user_input: Callable[..., UserCreate], new_username: Callable[[], str]
) -> None:
    auth = pytest.importorskip("cnop.auth")
    passwords = auth.PasswordManager()
    user = daos.users.create_user(user_input(), passwords.hash_password("Tr0ub4dor&3-horse"))
    assert daos.users.authenticate_user(user.username, "Tr0ub4dor&3-horse", passwords) == user
    for name, password in [(user.username, "wrong-password-1"), (new_username(), "x\x00y")]:
        with pytest.raises(CNOPInvalidCredentialsException):
            daos.users.authenticate_user(name, password, passwords)
