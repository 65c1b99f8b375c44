"""Time-sortable identifiers (ULID): 48-bit millisecond time + 80 random bits, 26 characters.

Ids made later sort after ids made earlier (within one process even in the same
millisecond), so "newest first" is a descending key order in DynamoDB.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone

__all__ = ["ULID_ALPHABET", "id_timestamp", "new_id"]

ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
ULID_LENGTH = 26
_RANDOM_MAX = (1 << 80) - 1

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(ULID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id() -> str:
    """A new ULID, strictly greater than every id this process made before."""
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            # Same (or an earlier, after a clock step back) millisecond: keep the order
            # by incrementing the random part of the last id.
            now_ms = _last_ms
            rand = _last_random + 1
            if rand > _RANDOM_MAX:
                now_ms += 1
                rand = int.from_bytes(os.urandom(10), "big") >> 1
        else:
            # The top bit stays clear so increments within a millisecond cannot overflow.
            rand = int.from_bytes(os.urandom(10), "big") >> 1
        _last_ms, _last_random = now_ms, rand
    return _encode(now_ms, 10) + _encode(rand, 16)


def id_timestamp(value: str) -> datetime:
    """The UTC time encoded in a ULID (millisecond precision)."""
    ms = 0
    for char in value[:10]:
        ms = ms * 32 + ULID_ALPHABET.index(char)
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
