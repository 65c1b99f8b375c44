"""Checks on caller input: every bad value becomes a ``CNOPValidationException`` naming it."""

from __future__ import annotations

import math
import re

from cnop.exceptions import CNOPValidationException

MAX_NAME_LENGTH = 256
MAX_USERNAME_LENGTH = 128
MIN_TTL = 0.01
MAX_TTL = 86_400.0
MAX_WAIT = 3_600.0

_OPERATION = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def lock_name(value: object) -> str:
    """A lock name: 1-256 characters, no whitespace or control characters."""
    if not isinstance(value, str):
        raise CNOPValidationException.for_field(
            "name", f"must be a string, got {type(value).__name__}"
        )
    if not value:
        raise CNOPValidationException.for_field("name", "must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise CNOPValidationException.for_field(
            "name", f"must be at most {MAX_NAME_LENGTH} characters, got {len(value)}"
        )
    if _CONTROL_OR_SPACE.search(value):
        raise CNOPValidationException.for_field(
            "name", "must not contain whitespace or control characters"
        )
    return value


def username(value: object) -> str:
    """A username to lock on: 1-128 characters, no whitespace or control characters."""
    if not isinstance(value, str):
        raise CNOPValidationException.for_field(
            "username", f"must be a string, got {type(value).__name__}"
        )
    if not value:
        raise CNOPValidationException.for_field("username", "must not be empty")
    if len(value) > MAX_USERNAME_LENGTH:
        raise CNOPValidationException.for_field(
            "username", f"must be at most {MAX_USERNAME_LENGTH} characters, got {len(value)}"
        )
    if _CONTROL_OR_SPACE.search(value):
        raise CNOPValidationException.for_field(
            "username", "must not contain whitespace or control characters"
        )
    return value


def operation(value: object) -> str:
    """An operation name such as ``deposit``: lower case, 1-64 of ``a-z 0-9 _ . -``."""
    if not isinstance(value, str) or not _OPERATION.match(value):
        raise CNOPValidationException.for_field(
            "operation",
            f"must be a lower-case name like 'deposit' (a-z, 0-9, '_', '.', '-'), got {value!r}",
        )
    return value


def _seconds(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CNOPValidationException.for_field(
            field, f"must be a number of seconds, got {type(value).__name__}"
        )
    seconds = float(value)
    if not math.isfinite(seconds):
        raise CNOPValidationException.for_field(field, f"must be finite, got {value!r}")
    return seconds


def ttl(value: object, field: str = "ttl") -> float:
    """A lease length in seconds, between 0.01 and 86,400."""
    seconds = _seconds(field, value)
    if not MIN_TTL <= seconds <= MAX_TTL:
        raise CNOPValidationException.for_field(
            field, f"must be between {MIN_TTL} and {MAX_TTL:.0f} seconds, got {value!r}"
        )
    return seconds


def wait(value: object, field: str = "wait") -> float:
    """How long to wait for a lock in seconds: 0 (do not wait) up to 3,600."""
    seconds = _seconds(field, value)
    if not 0 <= seconds <= MAX_WAIT:
        raise CNOPValidationException.for_field(
            field, f"must be between 0 and {MAX_WAIT:.0f} seconds, got {value!r}"
        )
    return seconds


_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


def table_name(value: object) -> str:
    """A DynamoDB table name: 3-255 of ``A-Z a-z 0-9 _ . -``."""
    if not isinstance(value, str) or not _TABLE.match(value):
        raise CNOPValidationException.for_field(
            "table", f"must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got {value!r}"
        )
    return value


def poll_interval(value: object) -> float:
    """How often a DynamoDB waiter re-reads: 0.01 to 10 seconds."""
    seconds = _seconds("poll_interval", value)
    if not 0.01 <= seconds <= 10:
        raise CNOPValidationException.for_field(
            "poll_interval", f"must be between 0.01 and 10 seconds, got {value!r}"
        )
    return seconds


MAX_CLOCK_SKEW_MARGIN = 600.0


def clock_skew_margin(value: object) -> float:
    """How far instances' wall clocks may differ, in seconds: 0 to 600."""
    seconds = _seconds("clock_skew_margin", value)
    if not 0 <= seconds <= MAX_CLOCK_SKEW_MARGIN:
        raise CNOPValidationException.for_field(
            "clock_skew_margin",
            f"must be between 0 and {MAX_CLOCK_SKEW_MARGIN:.0f} seconds, got {value!r}",
        )
    return seconds
