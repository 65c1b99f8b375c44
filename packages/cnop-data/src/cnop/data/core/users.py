"""User operations: create (with its email guard and zero balance), read, update, credentials."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from cnop.data.codec import Item
from cnop.data.config import TableNames
from cnop.data.core.common import check_version, require_model, transact_retrying_conflicts
from cnop.data.core.requests import get_item, transact_put_new, transact_update
from cnop.data.core.steps import Call, Operation
from cnop.data.core.updates import (
    run_versioned_update,
    version_condition_failed,
    versioned_update,
)
from cnop.data.errors import CancellationReason, reasons_to_exception
from cnop.data.layout import BALANCE_MAPPER, USER_MAPPER, email_guard_key, user_key
from cnop.data.models import Balance, User, UserCreate, UserUpdate
from cnop.data.types import utc_now
from cnop.data.validation import validate_email, validate_username
from cnop.exceptions import (
    CNOPEntityAlreadyExistsException,
    CNOPException,
    CNOPInvalidCredentialsException,
    CNOPUserNotFoundException,
    CNOPValidationException,
    CNOPVersionConflictException,
    ErrorMessage,
)

__all__ = [
    "PASSWORD_HASH_MAX_LENGTH",
    "PasswordVerifier",
    "check_credentials",
    "check_password_hash",
    "create_user",
    "find_user",
    "get_user_by_email",
    "get_user_by_username",
    "set_password_hash",
    "update_user",
]

# A syntactically valid bcrypt hash of a random secret: verifying against it for an
# unknown user costs what a real check costs, so timing does not reveal who exists.
_DUMMY_HASH = "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5pQ0F5R7qSB1bSIe4U9T6TbPvFc3fVK"

#: The longest password hash stored (``User.password_hash`` has the same bound). bcrypt
#: hashes are 60 characters and argon2id ones about 100; the rest is room for other schemes.
PASSWORD_HASH_MAX_LENGTH = 1024
# Every hash format passlib writes (modular crypt format, PHC strings) is printable ASCII
# without spaces. Anything else (a trailing newline, NUL, a lone surrogate) is a caller's
# bug and would never verify again, so it is refused before it replaces a working hash.
_PASSWORD_HASH = re.compile(rf"[!-~]{{1,{PASSWORD_HASH_MAX_LENGTH}}}")


class PasswordVerifier(Protocol):
    """Anything that checks a password against a stored hash (cnop.auth's PasswordManager)."""

    def verify_password(self, password: str, password_hash: str, /) -> bool: ...


def _not_found(username: str) -> CNOPUserNotFoundException:
    return CNOPUserNotFoundException(f"User '{username}' not found", details={"username": username})


def _username_taken(username: str) -> CNOPEntityAlreadyExistsException:
    return CNOPEntityAlreadyExistsException(
        f"Username '{username}' is already taken", details={"field": "username"}
    )


def _email_taken(email: str) -> CNOPEntityAlreadyExistsException:
    return CNOPEntityAlreadyExistsException(
        f"Email '{email}' is already registered", details={"field": "email"}
    )


def _email_guard_item(email: str, username: str) -> Item:
    return {**email_guard_key(email), "username": {"S": username}}


def create_user(tables: TableNames, data: UserCreate, password_hash: str) -> Operation[User]:
    """Write the user, its email guard and a zero USD balance in one transaction.

    The database refuses a taken username or email (no read before the write), so of
    any number of concurrent registrations for one name or email exactly one succeeds.
    """
    data = require_model(data, UserCreate, "user")
    user = User.new(data, check_password_hash(password_hash))
    balance = Balance(
        username=user.username, created_at=user.created_at, updated_at=user.created_at
    )
    items = [
        transact_put_new(tables.users, USER_MAPPER.to_item(user)),
        transact_put_new(tables.users, _email_guard_item(user.email, user.username)),
        transact_put_new(tables.users, BALANCE_MAPPER.to_item(balance)),
    ]

    def explain(reasons: Sequence[CancellationReason]) -> CNOPException:
        return reasons_to_exception(
            reasons,
            {
                0: lambda _: _username_taken(user.username),
                1: lambda _: _email_taken(user.email),
                2: lambda _: _username_taken(user.username),
            },
        )

    yield from transact_retrying_conflicts(
        Call("transact_write_items", {"TransactItems": items}, tables.users, on_cancelled=explain)
    )
    return user


def check_password_hash(password_hash: object) -> str:
    """``password_hash`` if it can be stored, else CNOPValidationException.

    A hash is 1 to :data:`PASSWORD_HASH_MAX_LENGTH` characters of printable ASCII with no
    whitespace. The message says what is wrong and never repeats the value.
    """
    if not isinstance(password_hash, str):
        raise CNOPValidationException.for_field("password_hash", "must be a string")
    if not password_hash:
        raise CNOPValidationException.for_field("password_hash", "must not be empty")
    if len(password_hash) > PASSWORD_HASH_MAX_LENGTH:
        raise CNOPValidationException.for_field(
            "password_hash",
            f"must be at most {PASSWORD_HASH_MAX_LENGTH} characters, got {len(password_hash)}",
        )
    if not _PASSWORD_HASH.fullmatch(password_hash):
        raise CNOPValidationException.for_field(
            "password_hash",
            "must be printable ASCII without whitespace, NUL or other control characters "
            "(store the hash exactly as the password hasher returned it)",
        )
    return password_hash


def find_user(tables: TableNames, username: str) -> Operation[User | None]:
    """The user, or None (strongly consistent)."""
    name = validate_username(username)
    reply = yield Call(
        "get_item", get_item(tables.users, user_key(name), consistent=True), tables.users
    )
    item = reply.get("Item")
    return USER_MAPPER.from_item(item) if item else None


def get_user_by_username(tables: TableNames, username: str) -> Operation[User]:
    """The user, or CNOPUserNotFoundException."""
    user = yield from find_user(tables, username)
    if user is None:
        raise _not_found(username.lower())
    return user


def get_user_by_email(tables: TableNames, email: str) -> Operation[User]:
    """The user registered with ``email`` (one Query of gsi1), or CNOPUserNotFoundException."""
    address = validate_email(email)
    params = {
        "TableName": tables.users,
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :p",
        "ExpressionAttributeValues": {":p": {"S": f"EMAIL#{address}"}},
        "Limit": 1,
    }
    reply = yield Call("query", params, tables.users)
    items = reply.get("Items", [])
    if not items:
        raise CNOPUserNotFoundException(
            "No user is registered with that email", details={"email": address}
        )
    return USER_MAPPER.from_item(items[0])


def update_user(
    tables: TableNames, username: str, changes: UserUpdate, expected_version: int
) -> Operation[User]:
    """Apply ``changes`` if the stored user is at ``expected_version``; returns the new user.

    A stale version is CNOPVersionConflictException. Changing the email moves its
    guard item in the same transaction, so a taken email is refused atomically.
    """
    name = validate_username(username)
    version = check_version(expected_version)
    changes = require_model(changes, UserUpdate, "changes")
    fields = changes.changes()
    now = utc_now()
    key = user_key(name)
    on_failure = version_condition_failed(lambda: _not_found(name), f"User '{name}'", version)
    if "email" not in fields:
        params = versioned_update(
            tables.users, key, USER_MAPPER, fields, expected_version=version, now=now
        )
        item = yield from run_versioned_update(
            params, on_failure, USER_MAPPER, fields, expected_version=version, now=now
        )
        return USER_MAPPER.from_item(item)

    # The old email's guard must be released in the same transaction, so read it first.
    current = yield from get_user_by_username(tables, name)
    if current.version != version:
        raise on_failure(USER_MAPPER.to_item(current))
    new_email = fields["email"]
    if new_email == current.email:
        fields.pop("email")
        if not fields:
            return current
        return (yield from update_user(tables, name, UserUpdate(**fields), version))
    update = versioned_update(
        tables.users,
        key,
        USER_MAPPER,
        fields,
        expected_version=version,
        now=now,
        extra_set={"gsi1pk": {"S": f"EMAIL#{new_email}"}},
    )
    items = [
        transact_update(update),
        {
            "Delete": {
                "TableName": tables.users,
                "Key": email_guard_key(current.email),
                "ConditionExpression": "username = :u",
                "ExpressionAttributeValues": {":u": {"S": name}},
            }
        },
        transact_put_new(tables.users, _email_guard_item(new_email, name)),
    ]

    def explain(reasons: Sequence[CancellationReason]) -> CNOPException:
        return reasons_to_exception(
            reasons,
            {
                0: on_failure,
                1: lambda _: CNOPVersionConflictException(
                    f"User '{name}' was changed by another request; reload it and retry"
                ),
                2: lambda _: _email_taken(new_email),
            },
        )

    yield from transact_retrying_conflicts(
        Call("transact_write_items", {"TransactItems": items}, tables.users, on_cancelled=explain)
    )
    return User.model_validate(
        {**current.model_dump(), **fields, "version": version + 1, "updated_at": now}
    )


def set_password_hash(
    tables: TableNames, username: str, password_hash: str, expected_version: int
) -> Operation[User]:
    """Replace the stored hash if the user is at ``expected_version``; returns the new user.

    One conditional UpdateItem: CNOPUserNotFoundException if the user does not exist,
    CNOPVersionConflictException if it changed since it was read (e.g. a concurrent login
    stored its rehash first). A bad hash is CNOPValidationException before anything is sent.
    A resend after a lost reply that meets its own write returns the stored user.
    """
    name = validate_username(username)
    version = check_version(expected_version)
    hashed = check_password_hash(password_hash)
    changes = {"password_hash": hashed}
    now = utc_now()
    params = versioned_update(
        tables.users, user_key(name), USER_MAPPER, changes, expected_version=version, now=now
    )
    on_failure = version_condition_failed(lambda: _not_found(name), f"User '{name}'", version)
    item = yield from run_versioned_update(
        params, on_failure, USER_MAPPER, changes, expected_version=version, now=now
    )
    return USER_MAPPER.from_item(item)


def check_credentials(user: User | None, password: str, verifier: PasswordVerifier) -> User:
    """``user`` if it is active and ``password`` matches; else CNOPInvalidCredentialsException.

    An unknown user, an inactive one and a wrong password raise the same error, and
    an unknown user still costs one hash verification.
    """
    if not isinstance(password, str) or not password:
        raise CNOPInvalidCredentialsException(ErrorMessage.INVALID_CREDENTIALS)
    try:
        matches = verifier.verify_password(
            password, user.password_hash if user is not None else _DUMMY_HASH
        )
    except (ValueError, TypeError, CNOPValidationException):
        # A password the verifier refuses (over bcrypt's 72 bytes, a NUL byte...) is a
        # failed login, never a 500 or a hint about the account.
        matches = False
    if user is None or not matches or not user.is_active:
        raise CNOPInvalidCredentialsException(ErrorMessage.INVALID_CREDENTIALS)
    return user


def find_user_for_login(tables: TableNames, username: object) -> Operation[User | None]:
    """The user to check a login against, or None (a malformed name is just unknown)."""
    try:
        name = validate_username(username)
    except CNOPValidationException:
        return None
    return (yield from find_user(tables, name))
