"""Locks inside one process: for tests, the demo and single-process services.

One ``InMemoryLockBackend`` serves threads and asyncio tasks alike (its async face,
``AsyncInMemoryLockBackend``, shares the same table), so a sync and an async holder of
the same name exclude each other. A release wakes the waiters of that name at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cnop.exceptions import CNOPValidationException
from cnop.locking import _validate
from cnop.locking.backend import Attempt


@dataclass
class _Lease:
    token: str
    expires_at: float


class InMemoryLockBackend:
    """A thread-safe table of leases on the monotonic clock."""

    kind = "memory"

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._leases: dict[str, _Lease] = {}
        self._waiters: dict[str, set[Callable[[], None]]] = {}
        # One counter for every name: still strictly increasing per name, and nothing to keep
        # per name once its lease is gone.
        self._fences = itertools.count(1)

    def try_acquire(self, name: str, token: str, ttl: float, previous: Attempt | None) -> Attempt:
        name, token, ttl, previous = _validate.acquire_args(name, token, ttl, previous)
        now = time.monotonic()
        with self._mutex:
            lease = self._leases.get(name)
            if lease is not None and lease.expires_at > now:
                return Attempt(False, retry_after=lease.expires_at - now)
            self._leases[name] = _Lease(token, now + ttl)
            return Attempt(True, fencing_token=next(self._fences))

    def release(self, name: str, token: str) -> bool:
        return self._drop(*_validate.owner_args(name, token))

    def force_release(self, name: str) -> bool:
        return self._drop(_validate.lock_name(name), None)

    def extend(self, name: str, token: str, ttl: float) -> bool:
        name, token, ttl = _validate.extend_args(name, token, ttl)
        now = time.monotonic()
        with self._mutex:
            lease = self._leases.get(name)
            if lease is None or lease.token != token or lease.expires_at <= now:
                return False
            lease.expires_at = now + ttl
            return True

    def wait_for_release(self, name: str, timeout: float) -> bool:
        name, timeout = _validate.wait_args(name, timeout)
        woken = threading.Event()
        with self.watch(name, woken.set):
            return woken.wait(timeout)

    def close(self) -> None:
        return None

    def _drop(self, name: str, token: str | None) -> bool:
        now = time.monotonic()
        with self._mutex:
            lease = self._leases.get(name)
            if lease is None or lease.expires_at <= now:
                self._leases.pop(name, None)
                return False
            if token is not None and lease.token != token:
                return False
            del self._leases[name]
            wakers = list(self._waiters.get(name, ()))
        for wake in wakers:
            wake()
        return True

    @contextlib.contextmanager
    def watch(self, name: str, wake: Callable[[], None]) -> Iterator[None]:
        """Register ``wake`` for releases of ``name``; wake at once if it is free already."""
        name = _validate.lock_name(name)
        if not callable(wake):
            raise CNOPValidationException.for_field(
                "wake", f"must be callable, got {type(wake).__name__}"
            )
        now = time.monotonic()
        with self._mutex:
            self._waiters.setdefault(name, set()).add(wake)
            lease = self._leases.get(name)
            free = lease is None or lease.expires_at <= now
        if free:  # released between the failed try and this registration
            wake()
        try:
            yield
        finally:
            with self._mutex:
                waiting = self._waiters.get(name)
                if waiting is not None:
                    waiting.discard(wake)
                    if not waiting:
                        del self._waiters[name]


class AsyncInMemoryLockBackend:
    """The asyncio face of an ``InMemoryLockBackend`` (same table, same locks)."""

    kind = "memory"

    def __init__(self, table: InMemoryLockBackend) -> None:
        if not isinstance(table, InMemoryLockBackend):
            raise CNOPValidationException.for_field(
                "table", f"must be an InMemoryLockBackend, got {type(table).__name__}"
            )
        self._table = table

    async def try_acquire(
        self, name: str, token: str, ttl: float, previous: Attempt | None
    ) -> Attempt:
        return self._table.try_acquire(name, token, ttl, previous)

    async def release(self, name: str, token: str) -> bool:
        return self._table.release(name, token)

    async def force_release(self, name: str) -> bool:
        return self._table.force_release(name)

    async def extend(self, name: str, token: str, ttl: float) -> bool:
        return self._table.extend(name, token, ttl)

    async def wait_for_release(self, name: str, timeout: float) -> bool:
        name, timeout = _validate.wait_args(name, timeout)
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            # Releases may come from other threads or loops; a closed loop has no waiter left.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(woken.set)

        with (
            self._table.watch(name, wake),
            contextlib.suppress(TimeoutError, asyncio.TimeoutError),
        ):
            await asyncio.wait_for(woken.wait(), timeout)
        return woken.is_set()

    async def aclose(self) -> None:
        return None
