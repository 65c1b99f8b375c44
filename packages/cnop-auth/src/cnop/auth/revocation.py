"""Revocation of individual tokens by ``jti``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class RevocationList(Protocol):
    """Where revoked token ids are kept. Implement it over a shared store for many instances.

    An exception from the store (say, it is unreachable) is not caught: verification fails
    closed with that error rather than accepting a token it could not check.
    """

    def is_revoked(self, jti: str) -> bool:
        """Whether the token id was revoked."""
        ...

    def revoke(self, jti: str, expires_at: datetime) -> bool:
        """Revoke ``jti`` until ``expires_at``; ``True`` only for the call that revoked it.

        Must be atomic: of two concurrent calls for one ``jti`` exactly one returns ``True``
        (refresh-token rotation relies on it to refuse a replayed refresh token).
        """
        ...


class InMemoryRevocationList:
    """A thread-safe :class:`RevocationList` for one process; entries leave when they expire."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._next_prune = 0.0

    def is_revoked(self, jti: str) -> bool:
        with self._lock:
            return jti in self._expiry

    def revoke(self, jti: str, expires_at: datetime) -> bool:
        now = self._clock()
        with self._lock:
            if now >= self._next_prune:
                self._prune(now)
            if jti in self._expiry:
                return False
            self._expiry[jti] = expires_at.timestamp()
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def _prune(self, now: float) -> None:
        # An expired token is refused anyway; forgetting it keeps memory bounded.
        self._expiry = {jti: exp for jti, exp in self._expiry.items() if exp > now}
        self._next_prune = now + 60.0
