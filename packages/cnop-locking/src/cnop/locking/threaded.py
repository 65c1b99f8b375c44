"""An asyncio face for a blocking backend: each call runs in a worker thread.

Used for DynamoDB (boto3 clients are thread-safe), so the lease logic exists once.
"""

from __future__ import annotations

import asyncio
import contextlib

from cnop.locking import _validate
from cnop.locking.backend import Attempt, LockBackend


class ThreadedAsyncBackend:
    """Runs ``backend``'s calls in worker threads; waits are ``asyncio.sleep``."""

    def __init__(self, backend: LockBackend, poll_interval: float = 0.1) -> None:
        _validate.lock_backend(backend)
        self._backend = backend
        self.kind = backend.kind
        self._poll_interval = _validate.poll_interval(poll_interval)

    async def try_acquire(
        self, name: str, token: str, ttl: float, previous: Attempt | None
    ) -> Attempt:
        # Checked here too: the wrapped backend may be anyone's, and a bad value is refused
        # before a thread is taken.
        name, token, ttl, previous = _validate.acquire_args(name, token, ttl, previous)
        call = asyncio.ensure_future(
            asyncio.to_thread(self._backend.try_acquire, name, token, ttl, previous)
        )
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            # Cancelling cannot stop the thread, whose request may still grant the lock: let
            # it finish first, so that a release the caller sends next comes after it.
            with contextlib.suppress(Exception):
                await call
            raise

    async def release(self, name: str, token: str) -> bool:
        name, token = _validate.owner_args(name, token)
        return await asyncio.to_thread(self._backend.release, name, token)

    async def extend(self, name: str, token: str, ttl: float) -> bool:
        name, token, ttl = _validate.extend_args(name, token, ttl)
        return await asyncio.to_thread(self._backend.extend, name, token, ttl)

    async def force_release(self, name: str) -> bool:
        name = _validate.lock_name(name)
        return await asyncio.to_thread(self._backend.force_release, name)

    async def wait_for_release(self, name: str, timeout: float) -> bool:
        name, timeout = _validate.wait_args(name, timeout)
        await asyncio.sleep(max(0.0, min(timeout, self._poll_interval)))
        return False

    async def aclose(self) -> None:
        await asyncio.to_thread(self._backend.close)
