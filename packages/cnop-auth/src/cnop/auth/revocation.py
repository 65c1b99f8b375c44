"""Revocation of tokens by ``jti`` and of whole sessions by ``sid``.

Two protocols: :class:`RevocationList` (a set of revoked token ids: the least a store must
do) and :class:`RevocationStore` (token ids and sessions, sync and async, what the shared
Redis and DynamoDB stores implement). A ``RevocationList`` given to a TokenManager is
wrapped by :func:`as_store`, which keeps sessions in it under ``sid:``-prefixed ids.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from cnop.auth.arguments import require_callable
from cnop.auth.store_core import require_expiry
from cnop.exceptions import CNOPValidationException


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


@runtime_checkable
class RevocationStore(Protocol):
    """Revoked token ids and revoked sessions, each kept until an expiry.

    Every ``revoke*`` is atomic: of concurrent calls for one id exactly one returns
    ``True``, even when a call is retried after a lost reply (a store recognises its own
    earlier write). Refresh-token rotation marks a refresh token used with :meth:`revoke`,
    so a second use is detected. An id whose expiry has passed counts as absent. A store
    that cannot answer raises a ``CNOPException`` (verification then fails closed).
    """

    def is_revoked(self, jti: str, sid: str | None = None) -> bool:
        """Whether the token ``jti`` or its session ``sid`` was revoked (one round trip)."""
        ...

    def revoke(self, jti: str, expires_at: datetime, sid: str | None = None) -> bool:
        """Revoke the token ``jti`` (of session ``sid``) until ``expires_at``."""
        ...

    def revoke_session(self, sid: str, expires_at: datetime) -> bool:
        """Revoke the session ``sid``, and so every token carrying it, until ``expires_at``."""
        ...

    async def is_revoked_async(self, jti: str, sid: str | None = None) -> bool:
        """:meth:`is_revoked` without blocking the event loop."""
        ...

    async def revoke_async(self, jti: str, expires_at: datetime, sid: str | None = None) -> bool:
        """:meth:`revoke` without blocking the event loop."""
        ...

    async def revoke_session_async(self, sid: str, expires_at: datetime) -> bool:
        """:meth:`revoke_session` without blocking the event loop."""
        ...


#: Session entries in a plain RevocationList; a ``jti`` of ours never contains ``:``.
SESSION_PREFIX = "sid:"


class ListRevocationStore:
    """A :class:`RevocationStore` over a :class:`RevocationList` (sessions as ``sid:`` ids).

    Its async methods call the list directly: use it only with a list that does no I/O.
    """

    def __init__(self, revoked: RevocationList) -> None:
        self._list = revoked

    def is_revoked(self, jti: str, sid: str | None = None) -> bool:
        return self._list.is_revoked(jti) or (
            sid is not None and self._list.is_revoked(SESSION_PREFIX + sid)
        )

    def revoke(self, jti: str, expires_at: datetime, sid: str | None = None) -> bool:
        return self._list.revoke(jti, expires_at)

    def revoke_session(self, sid: str, expires_at: datetime) -> bool:
        return self._list.revoke(SESSION_PREFIX + sid, expires_at)

    async def is_revoked_async(self, jti: str, sid: str | None = None) -> bool:
        return self.is_revoked(jti, sid)

    async def revoke_async(self, jti: str, expires_at: datetime, sid: str | None = None) -> bool:
        return self.revoke(jti, expires_at, sid)

    async def revoke_session_async(self, sid: str, expires_at: datetime) -> bool:
        return self.revoke_session(sid, expires_at)


def as_store(revocation: RevocationStore | RevocationList) -> RevocationStore:
    """``revocation`` as a :class:`RevocationStore` (a plain list is wrapped)."""
    if isinstance(revocation, RevocationStore):
        return revocation
    return ListRevocationStore(revocation)


class InMemoryRevocationList:
    """A thread-safe :class:`RevocationList` for one process; entries leave when they expire."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = require_callable(clock, "clock", "() -> epoch seconds")
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._next_prune = 0.0

    def is_revoked(self, jti: str) -> bool:
        _require_entry_id(jti)
        now = self._clock()
        with self._lock:
            expiry = self._expiry.get(jti)
            return expiry is not None and expiry > now

    def revoke(self, jti: str, expires_at: datetime) -> bool:
        """Revoke ``jti`` until ``expires_at`` (an aware datetime); atomic in this process."""
        _require_entry_id(jti)
        until = require_expiry(expires_at).timestamp()
        now = self._clock()
        with self._lock:
            if now >= self._next_prune:
                self._prune(now)
            expiry = self._expiry.get(jti)
            if expiry is not None and expiry > now:
                return False
            self._expiry[jti] = until
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def _prune(self, now: float) -> None:
        # An expired token is refused anyway; forgetting it keeps memory bounded.
        self._expiry = {jti: exp for jti, exp in self._expiry.items() if exp > now}
        self._next_prune = now + 60.0


#: A token id, or ``sid:`` and a session id (:data:`SESSION_PREFIX`).
_MAX_ENTRY_ID = 256


def _require_entry_id(jti: object) -> None:
    if not isinstance(jti, str) or not 1 <= len(jti) <= _MAX_ENTRY_ID:
        raise CNOPValidationException.for_field(
            "jti", f"must be a string of 1-{_MAX_ENTRY_ID} characters"
        )
