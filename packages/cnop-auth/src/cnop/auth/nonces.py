"""Single-use gateway nonces: a signed set of headers is accepted once.

The default store holds nonces in this process; a fleet shares
:class:`~cnop.auth.redis_store.RedisNonceStore` so a request replayed to another instance
is refused too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from cnop.auth.arguments import require_callable
from cnop.auth.store_core import require_id, require_ttl_seconds


@runtime_checkable
class NonceStore(Protocol):
    """Where used nonces are remembered until their signature could no longer pass."""

    def use_once(self, nonce: str, ttl_seconds: int) -> bool:
        """``True`` for the first use of ``nonce`` within ``ttl_seconds``; atomic."""
        ...

    async def use_once_async(self, nonce: str, ttl_seconds: int) -> bool:
        """:meth:`use_once` without blocking the event loop."""
        ...


class InMemoryNonceStore:
    """A thread-safe :class:`NonceStore` for one process; entries leave when they expire."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = require_callable(clock, "clock", "() -> epoch seconds")
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._next_prune = 0.0

    def use_once(self, nonce: str, ttl_seconds: int) -> bool:
        """``True`` for the first use of ``nonce`` within ``ttl_seconds``.

        The same rules as the shared store: a nonce is 1-128 of ``A-Z a-z 0-9 _ -``
        (else ``CNOPValidationException``), ``ttl_seconds`` a positive whole number.
        """
        require_id(nonce, "nonce")
        ttl = require_ttl_seconds(ttl_seconds)
        now = self._clock()
        with self._lock:
            if now >= self._next_prune:
                # Bounded memory: a nonce past its expiry is refused by the timestamp anyway.
                self._expiry = {n: exp for n, exp in self._expiry.items() if exp > now}
                self._next_prune = now + 10.0
            expiry = self._expiry.get(nonce)
            if expiry is not None and expiry > now:
                return False
            self._expiry[nonce] = now + ttl
            return True

    async def use_once_async(self, nonce: str, ttl_seconds: int) -> bool:
        return self.use_once(nonce, ttl_seconds)

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)
