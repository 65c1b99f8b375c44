"""A lock while it is held: its identity, whether it still holds, extend and release.

``HeldLock`` is what ``with locks.lock(...) as lock`` gives; ``AsyncHeldLock`` is the
``async with`` form, whose ``extend()`` and ``release()`` are awaited. Both share
``LockState`` and differ only in how they call the store and run the renewer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from cnop.exceptions import CNOPException
from cnop.locking.backend import AsyncLockBackend, LockBackend
from cnop.locking.state import LockState


class _HeldLockBase:
    __slots__ = ("_state",)

    def __init__(self, state: LockState) -> None:
        self._state = state

    @property
    def name(self) -> str:
        """The lock's name (``user:<username>`` for user locks)."""
        return self._state.name

    @property
    def token(self) -> str:
        """The random owner token that only this holder knows."""
        return self._state.token

    @property
    def fencing_token(self) -> int:
        """Strictly greater than the token of any earlier holder of this lock.

        Pass it with every write the lock protects, and have the store refuse a write whose
        token is lower than one it has seen: a holder paused past its lease is then stopped.
        """
        return self._state.fencing_token

    @property
    def ttl(self) -> float:
        """The current lease length in seconds."""
        return self._state.ttl

    @property
    def held(self) -> bool:
        """True while neither released, nor known lost, nor past the lease on our own clock."""
        return self._state.held

    @property
    def lost(self) -> bool:
        """True once the lock is known to have been lost while held."""
        return self._state.lost_reason is not None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, fencing_token={self.fencing_token}, "
            f"held={self.held})"
        )


class HeldLock(_HeldLockBase):
    """A lock held through a blocking backend."""

    __slots__ = ("_backend", "_renewer")

    def __init__(
        self,
        backend: LockBackend,
        state: LockState,
        on_lost: Callable[[HeldLock], None] | None = None,
    ) -> None:
        super().__init__(state)
        self._backend = backend
        self._renewer: _Renewer | None = None
        if on_lost is not None:
            state.notify_lost = lambda: on_lost(self)

    def extend(self, ttl: float | None = None) -> None:
        """Reset the lease to ``ttl`` seconds (default: the current TTL) from now.

        Raises ``CNOPLockLostException`` if the lock is no longer ours.
        """
        state = self._state
        seconds = state.before_extend(ttl)
        requested_at = time.monotonic()
        state.after_extend(
            self._backend.extend(state.name, state.token, seconds), seconds, requested_at
        )

    def release(self) -> None:
        """Free the lock. Idempotent; raises ``CNOPLockLostException`` if it had been lost."""
        state = self._state
        if state.released:
            return
        if self._renewer is not None:
            self._renewer.stop()
        try:
            owned = self._backend.release(state.name, state.token)
        except CNOPException as error:
            lost = state.release_failed(error)
            if lost is None:
                raise
            raise lost from error
        state.finish_release(owned)
        if state.lost_reason is not None:
            raise state.lost_error()

    def start_renewing(self) -> None:
        """Keep extending the lease in a background thread until release."""
        self._renewer = _Renewer(self._backend, self._state)
        self._renewer.start()


class _Renewer:
    """A daemon thread that renews one lease every ``ttl / 3`` seconds."""

    def __init__(self, backend: LockBackend, state: LockState) -> None:
        self._backend = backend
        self._state = state
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"cnop-lock-renew:{state.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self) -> None:
        state = self._state
        while not self._stopped.wait(state.renew_interval):
            requested_at = time.monotonic()
            try:
                owned = self._backend.extend(state.name, state.token, state.ttl)
            except CNOPException as error:
                if not state.renewal_failed(error):
                    return
                continue
            if self._stopped.is_set() or not state.after_renewal(owned, requested_at):
                return


class AsyncHeldLock(_HeldLockBase):
    """A lock held through an asyncio backend; ``extend`` and ``release`` are awaited."""

    __slots__ = ("_backend", "_renewer")

    def __init__(
        self,
        backend: AsyncLockBackend,
        state: LockState,
        on_lost: Callable[[AsyncHeldLock], None] | None = None,
    ) -> None:
        super().__init__(state)
        self._backend = backend
        self._renewer: asyncio.Task[None] | None = None
        if on_lost is not None:
            state.notify_lost = lambda: on_lost(self)

    async def extend(self, ttl: float | None = None) -> None:
        """Reset the lease to ``ttl`` seconds (default: the current TTL) from now.

        Raises ``CNOPLockLostException`` if the lock is no longer ours.
        """
        state = self._state
        seconds = state.before_extend(ttl)
        requested_at = time.monotonic()
        owned = await self._backend.extend(state.name, state.token, seconds)
        state.after_extend(owned, seconds, requested_at)

    async def release(self) -> None:
        """Free the lock. Idempotent; raises ``CNOPLockLostException`` if it had been lost."""
        state = self._state
        if state.released:
            return
        if self._renewer is not None:
            self._renewer.cancel()
            # wait() rather than awaiting the task: a cancellation of our caller must
            # propagate, not be swallowed as if it were the renewer's.
            await asyncio.wait([self._renewer])
        try:
            owned = await self._backend.release(state.name, state.token)
        except CNOPException as error:
            lost = state.release_failed(error)
            if lost is None:
                raise
            raise lost from error
        state.finish_release(owned)
        if state.lost_reason is not None:
            raise state.lost_error()

    def start_renewing(self) -> None:
        """Keep extending the lease in a background task until release."""
        self._renewer = asyncio.create_task(
            _renew_async(self._backend, self._state), name=f"cnop-lock-renew:{self.name}"
        )


async def _renew_async(backend: AsyncLockBackend, state: LockState) -> None:
    while True:
        await asyncio.sleep(state.renew_interval)
        requested_at = time.monotonic()
        try:
            owned = await backend.extend(state.name, state.token, state.ttl)
        except CNOPException as error:
            if not state.renewal_failed(error):
                return
            continue
        if not state.after_renewal(owned, requested_at):
            return
