"""PasswordPolicy: defaults, field-level messages, configurable rules."""

from __future__ import annotations

from typing import Any

import pytest

from cnop.auth import PasswordManager, PasswordPolicy
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException


def messages(exc: CNOPValidationException) -> list[str]:
    assert all(e["field"] == "password" for e in exc.errors)
    return [e["message"] for e in exc.errors]


def test_a_strong_password_passes() -> None:
    PasswordPolicy().validate("Correct-Horse-9", username="alice_01")


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Short-1a", "must be at least 12 characters long"),
        ("correct-horse-9", "must contain an upper-case letter"),
        ("CORRECT-HORSE-9", "must contain a lower-case letter"),
        ("Correct-Horse-x", "must contain a digit"),
        ("CorrectHorse99", "must contain a special character (not a letter, digit or space)"),
        ("Correct-Horse-9\x07", "must not contain control characters"),
        ("Correct-Horse-9\ud800", "must not contain unpaired surrogates"),
    ],
)
def test_each_default_rule_has_its_own_message(password: str, expected: str) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        PasswordPolicy().validate(password)
    assert messages(caught.value) == [expected]


def test_every_broken_rule_is_listed_at_once() -> None:
    with pytest.raises(CNOPValidationException) as caught:
        PasswordPolicy().validate("abc")
    assert messages(caught.value) == [
        "must be at least 12 characters long",
        "must contain an upper-case letter",
        "must contain a digit",
        "must contain a special character (not a letter, digit or space)",
    ]


def test_upper_limit_is_what_bcrypt_holds_not_an_arbitrary_20() -> None:
    policy = PasswordPolicy()
    policy.validate("Aa1!" + "x" * 68)  # 72 bytes: fine, and far beyond 20 characters
    with pytest.raises(CNOPValidationException) as caught:
        policy.validate("Aa1!" + "x" * 67 + "é")  # 73 bytes in 72 characters
    assert messages(caught.value) == ["must be at most 72 bytes (UTF-8); it is 73"]


def test_limit_follows_the_managers_scheme() -> None:
    argon = PasswordManager(("argon2",))
    policy = PasswordPolicy.for_manager(argon)
    assert policy.max_bytes == argon.max_password_bytes > 72
    policy.validate("Aa1!" + "x" * 200)
    assert PasswordPolicy.for_manager(PasswordManager(bcrypt_rounds=4)).max_bytes == 72


@pytest.mark.parametrize("password", ["My-alice_01-Pass9", "My-ALICE_01-Pass9"])
def test_password_containing_the_username_is_refused(password: str) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        PasswordPolicy().validate(password, username="Alice_01")
    assert messages(caught.value) == ["must not contain the username"]


def test_every_rule_can_be_switched_off() -> None:
    lax = PasswordPolicy(
        min_length=4,
        require_upper=False,
        require_lower=False,
        require_digit=False,
        require_special=False,
        forbid_username=False,
    )
    lax.validate("alice_01", username="alice_01")
    with pytest.raises(CNOPValidationException):
        lax.validate("abc")


@pytest.mark.parametrize("bad", [None, 12, b"Correct-Horse-9"])
def test_non_string_is_a_validation_error(bad: Any) -> None:
    with pytest.raises(CNOPValidationException, match="password: must be a string"):
        PasswordPolicy().validate(bad)


@pytest.mark.parametrize(
    "kwargs", [{"min_length": 0}, {"max_bytes": -1}, {"min_length": 20, "max_bytes": 10}]
)
def test_nonsensical_rules_are_a_configuration_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(CNOPConfigurationException):
        PasswordPolicy(**kwargs)


def test_non_string_username_is_a_validation_error() -> None:
    with pytest.raises(CNOPValidationException, match="username: must be a string"):
        PasswordPolicy().validate("Correct-Horse-9", username=42)  # type: ignore[arg-type]
