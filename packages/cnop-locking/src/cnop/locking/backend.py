"""What a lock store must do; the manager and the acquisition loop need nothing more.

A backend is a handful of compare-and-act operations on one lock name. Times are
seconds (floats). Backends raise only ``CNOP*`` exceptions: an unreachable store is a
``CNOPServiceUnavailableException``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cnop.exceptions import CNOPInternalException


@dataclass(frozen=True)
class Attempt:
    """The outcome of one acquisition try.

    ``retry_after`` is how long, as far as the backend can tell, the current holder
    may keep the lock (``inf`` when it cannot tell). ``observed`` is backend-private
    memory handed back on the next try of the same acquisition (the DynamoDB lease
    backend keeps the record version it saw and when it first saw it).
    """

    acquired: bool
    fencing_token: int = 0
    retry_after: float = 0.0
    observed: object = None


def token_released_error() -> CNOPInternalException:
    """What a try raises when its token already released the lock: a released token is never
    granted again. Tokens are never reused, so only a late duplicate of an old request
    meets this, and nobody reads its reply."""
    return CNOPInternalException(
        "Lock owner token was already released; a token is never granted twice",
        details={"reason": "token_released"},
    )


class LockBackend(Protocol):
    """The blocking face of a lock store."""

    #: Short label for logs and metrics: ``memory``, ``redis``, ``redis-cluster``, ``dynamodb``.
    kind: str

    def try_acquire(self, name: str, token: str, ttl: float, previous: Attempt | None) -> Attempt:
        """Take ``name`` for ``token`` for ``ttl`` seconds if free; never waits."""
        ...

    def wait_for_release(self, name: str, timeout: float) -> bool:
        """Block until ``name`` may have become free or ``timeout`` seconds passed.

        True when a release signal ended the wait, False when it timed out (or when the
        store cannot signal and the backend polls).
        """
        ...

    def release(self, name: str, token: str) -> bool:
        """Free ``name`` if ``token`` still owns it; False if it did not."""
        ...

    def extend(self, name: str, token: str, ttl: float) -> bool:
        """Reset the lease of ``name`` to ``ttl`` if ``token`` still owns it."""
        ...

    def force_release(self, name: str) -> bool:
        """Free ``name`` whoever holds it (an operator's tool); True if it was held."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class AsyncLockBackend(Protocol):
    """The asyncio face of a lock store: the same operations, awaited."""

    kind: str

    async def try_acquire(
        self, name: str, token: str, ttl: float, previous: Attempt | None
    ) -> Attempt: ...

    async def wait_for_release(self, name: str, timeout: float) -> bool: ...

    async def release(self, name: str, token: str) -> bool: ...

    async def extend(self, name: str, token: str, ttl: float) -> bool: ...

    async def force_release(self, name: str) -> bool: ...

    async def aclose(self) -> None: ...
