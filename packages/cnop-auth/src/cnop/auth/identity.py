"""The username and role rules every auth entry point applies."""

from __future__ import annotations

import re
from typing import Any

from cnop.exceptions import CNOPValidationException, FieldConstraints, UserRole

_USERNAME = re.compile(FieldConstraints.USERNAME_PATTERN)


def username_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid username, or ``None`` when it is."""
    if not isinstance(value, str):
        return "must be a string"
    low, high = FieldConstraints.USERNAME_MIN_LENGTH, FieldConstraints.USERNAME_MAX_LENGTH
    if not low <= len(value) <= high:
        return f"must be {low}-{high} characters long"
    if not _USERNAME.fullmatch(value):
        return "may contain only letters, digits and underscores"
    return None


def require_username(value: Any, field: str = "username") -> str:
    """Return ``value`` if it is a valid username; otherwise raise ``CNOPValidationException``."""
    problem = username_problem(value)
    if problem is not None:
        raise CNOPValidationException.for_field(field, problem)
    return str(value)


def require_role_value(value: Any, field: str = "role") -> UserRole:
    """``value`` as a :class:`UserRole`; otherwise raise ``CNOPValidationException``."""
    try:
        return UserRole(value)
    except ValueError:
        raise CNOPValidationException.for_field(
            field, f"must be one of {[r.value for r in UserRole]}"
        ) from None
