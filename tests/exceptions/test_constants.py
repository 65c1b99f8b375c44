from __future__ import annotations

import re

from cnop.exceptions import ErrorMessage, FieldConstraints, ServiceName, UserRole


def test_username_pattern_and_limits_agree() -> None:
    pattern = re.compile(FieldConstraints.USERNAME_PATTERN)
    assert pattern.match("alice_01")
    assert not pattern.match("alice-01")
    assert FieldConstraints.USERNAME_MIN_LENGTH < FieldConstraints.USERNAME_MAX_LENGTH


def test_enums_are_strings_with_seed_values() -> None:
    assert UserRole("admin") is UserRole.ADMIN
    assert UserRole.CUSTOMER == "customer"
    assert ServiceName.USER.value == "user-service"
    assert ErrorMessage.INVALID_CREDENTIALS == "Invalid username or password"
    assert FieldConstraints.PASSWORD_MAX_BYTES == 72
