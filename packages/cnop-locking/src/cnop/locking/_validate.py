"""Checks on caller input: every bad value becomes a ``CNOPValidationException`` naming it."""

from __future__ import annotations

import inspect
import math
import re
import unicodedata

from cnop.exceptions import CNOPValidationException
from cnop.locking.backend import Attempt

MAX_NAME_LENGTH = 256
MAX_USERNAME_LENGTH = 128
#: Owner tokens the managers make are 32 hex digits; a caller's own may be longer.
MAX_TOKEN_LENGTH = 128
MIN_TTL = 0.01
MAX_TTL = 86_400.0
MAX_WAIT = 3_600.0

_OPERATION = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
#: Beyond ASCII, also refused: control, format (zero-width, bidirectional overrides) and
#: line/paragraph separator characters.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_SHOWN = 40


def shown(value: object) -> str:
    """``value`` for a message, cut short: a megabyte of input is not echoed back."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


def _text(field: str, value: object, max_length: int) -> str:
    """Printable text of 1-``max_length`` characters: no whitespace, no control or format
    characters, no lone surrogates (which no store can encode)."""
    if not isinstance(value, str):
        raise CNOPValidationException.for_field(
            field, f"must be a string, got {type(value).__name__}"
        )
    if not value:
        raise CNOPValidationException.for_field(field, "must not be empty")
    if len(value) > max_length:
        raise CNOPValidationException.for_field(
            field, f"must be at most {max_length} characters, got {len(value)}"
        )
    if _CONTROL_OR_SPACE.search(value):
        raise CNOPValidationException.for_field(
            field, "must not contain whitespace or control characters"
        )
    if not value.isascii():
        for char in value:
            category = unicodedata.category(char)
            if category == "Cs":
                raise CNOPValidationException.for_field(
                    field, "must be valid Unicode text, got a lone surrogate"
                )
            if char.isspace() or category in _REFUSED_CATEGORIES:
                raise CNOPValidationException.for_field(
                    field,
                    f"must not contain whitespace or control characters, got U+{ord(char):04X}",
                )
    return value


def lock_name(value: object) -> str:
    """A lock name: 1-256 characters, no whitespace or control characters."""
    return _text("name", value, MAX_NAME_LENGTH)


def username(value: object) -> str:
    """A username to lock on: 1-128 characters, no whitespace or control characters."""
    return _text("username", value, MAX_USERNAME_LENGTH)


def token(value: object) -> str:
    """An owner token: 1-128 characters, no whitespace or control characters."""
    return _text("token", value, MAX_TOKEN_LENGTH)


def operation(value: object) -> str:
    """An operation name such as ``deposit``: lower case, 1-64 of ``a-z 0-9 _ . -``."""
    if not isinstance(value, str) or not _OPERATION.fullmatch(value):
        raise CNOPValidationException.for_field(
            "operation",
            "must be a lower-case name like 'deposit' (a-z, 0-9, '_', '.', '-'), "
            f"got {shown(value)}",
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


_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def table_name(value: object) -> str:
    """A DynamoDB table name: 3-255 of ``A-Z a-z 0-9 _ . -``."""
    if not isinstance(value, str) or not _TABLE.fullmatch(value):
        raise CNOPValidationException.for_field(
            "table",
            f"must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got {shown(value)}",
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


def wait_timeout(value: object) -> float:
    """How long one ``wait_for_release`` may block: up to 3,600 seconds; a negative time
    (a deadline already passed) means do not block."""
    seconds = _seconds("timeout", value)
    if seconds > MAX_WAIT:
        raise CNOPValidationException.for_field(
            "timeout", f"must be at most {MAX_WAIT:.0f} seconds, got {value!r}"
        )
    return max(0.0, seconds)


def previous(value: object) -> Attempt | None:
    """The ``Attempt`` the previous try of the same acquisition returned, or None."""
    if value is not None and not isinstance(value, Attempt):
        raise CNOPValidationException.for_field(
            "previous",
            f"must be the Attempt of the previous try, or None; got {type(value).__name__}",
        )
    return value


# --- the arguments of a backend's operations, checked once for every backend ---------------


def acquire_args(
    name: object, token_: object, ttl_: object, previous_: object
) -> tuple[str, str, float, Attempt | None]:
    """The arguments of ``try_acquire``."""
    return lock_name(name), token(token_), ttl(ttl_), previous(previous_)


def owner_args(name: object, token_: object) -> tuple[str, str]:
    """The arguments of ``release``."""
    return lock_name(name), token(token_)


def extend_args(name: object, token_: object, ttl_: object) -> tuple[str, str, float]:
    """The arguments of ``extend``."""
    return lock_name(name), token(token_), ttl(ttl_)


def wait_args(name: object, timeout: object) -> tuple[str, float]:
    """The arguments of ``wait_for_release``."""
    return lock_name(name), wait_timeout(timeout)


# --- collaborators ----------------------------------------------------------------------------

_OPERATIONS = ("try_acquire", "wait_for_release", "release", "extend", "force_release")


def lock_backend(value: object, field: str = "backend") -> object:
    """A blocking lock store (see ``LockBackend``): refuses anything else, an asyncio one too."""
    _backend_shape(value, field, asyncio=False)
    return value


def async_lock_backend(value: object, field: str = "async_backend") -> object:
    """An asyncio lock store (see ``AsyncLockBackend``)."""
    _backend_shape(value, field, asyncio=True)
    return value


def _backend_shape(value: object, field: str, *, asyncio: bool) -> None:
    face = "an asyncio" if asyncio else "a blocking"
    close = "aclose" if asyncio else "close"
    found = {op: getattr(value, op, None) for op in (*_OPERATIONS, close)}
    missing = [op for op, method in found.items() if not callable(method)]
    if missing or not isinstance(getattr(value, "kind", None), str):
        raise CNOPValidationException.for_field(
            field,
            f"must be {face} lock backend (with kind, {', '.join(_OPERATIONS)}, {close}); "
            f"got {type(value).__name__}",
        )
    if inspect.iscoroutinefunction(found["try_acquire"]) is not asyncio:
        other = "a blocking" if asyncio else "an asyncio"
        raise CNOPValidationException.for_field(
            field, f"must be {face} lock backend, got {other} one ({type(value).__name__})"
        )
