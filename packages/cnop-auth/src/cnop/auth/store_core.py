"""What the shared revocation stores have in common: ids, keys, expiries (no I/O)."""

from __future__ import annotations

import math
import re
import secrets
from datetime import datetime

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException

# Token and session ids are ours (secrets.token_urlsafe); anything else is refused before
# it reaches a key, so no id can carry a hash tag, a separator or a control character.
_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_PREFIX = re.compile(r"[A-Za-z0-9_\-.:]{1,64}")
#: How often a write whose reply was lost (reset, timeout) is sent again, with the same
#: owner mark so that the store can tell its own earlier write from someone else's.
WRITE_ATTEMPTS = 2


def require_id(value: object, field: str) -> str:
    """``value`` if it is a token or session id of ours, else ``CNOPValidationException``."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise CNOPValidationException.for_field(field, "must be 1-128 of A-Z a-z 0-9 _ -")
    return value


def require_prefix(value: object) -> str:
    if not isinstance(value, str) or not _PREFIX.fullmatch(value):
        raise CNOPConfigurationException(
            "The key prefix must be 1-64 of A-Z a-z 0-9 _ - . : (no braces: they are hash tags)"
        )
    return value


def require_expiry(expires_at: object) -> datetime:
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise CNOPValidationException.for_field("expires_at", "must be an aware datetime")
    return expires_at


def require_ttl_seconds(ttl_seconds: object) -> int:
    """``ttl_seconds`` if it is a positive whole number, else ``CNOPConfigurationException``."""
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
        raise CNOPConfigurationException("ttl_seconds must be a positive whole number")
    return ttl_seconds


def ttl_ms(expires_at: datetime, now: float) -> int:
    """Milliseconds until ``expires_at``, at least one second (an entry must land)."""
    return max(1000, math.ceil((expires_at.timestamp() - now) * 1000))


def expiry_seconds(expires_at: datetime) -> int:
    """Whole epoch seconds, rounded up: an entry never leaves before its token expires."""
    return math.ceil(expires_at.timestamp())


def new_owner() -> str:
    """A mark written with an entry, to recognise the entry as ours after a lost reply."""
    return secrets.token_hex(8)


def redis_keys(prefix: str, jti: str, sid: str | None) -> tuple[str, str | None]:
    """The Redis keys of a token and of its session, in one hash slot.

    The hash tag is the session id (the token id for a token outside any session), so
    the one ``EXISTS`` that checks both works on a Redis Cluster.
    """
    tag = sid if sid is not None else jti
    token_key = f"{prefix}:{{{tag}}}:jti:{jti}"
    return token_key, (session_key(prefix, sid) if sid is not None else None)


def session_key(prefix: str, sid: str) -> str:
    return f"{prefix}:{{{sid}}}:sid"
