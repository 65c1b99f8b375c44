"""What ``lock()`` and ``alock()`` return: acquire on entry, release on exit.

Plain classes rather than generator-based context managers: they sit on every lock's
hot path. Each is single-use, like the lock it takes.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from cnop.exceptions import CNOPException, CNOPLockAcquisitionException, CNOPLockTimeoutException
from cnop.locking import _telemetry
from cnop.locking.acquisition import Acquired, acquisition, run_async, run_sync
from cnop.locking.backend import AsyncLockBackend, LockBackend
from cnop.locking.held import AsyncHeldLock, HeldLock
from cnop.locking.state import LockState


@dataclass(frozen=True)
class LockRequest:
    """A validated request for a lock."""

    name: str
    ttl: float
    wait: float
    user: str | None
    auto_extend: bool


class LockContext:
    """``with`` support for one acquisition through a blocking backend."""

    __slots__ = ("_backend", "_lock", "_on_lost", "_request")

    def __init__(
        self,
        backend: LockBackend,
        request: LockRequest,
        on_lost: Callable[[HeldLock], None] | None,
    ) -> None:
        self._backend = backend
        self._request = request
        self._on_lost = on_lost
        self._lock: HeldLock | None = None

    def __enter__(self) -> HeldLock:
        backend, request = self._backend, self._request
        token = secrets.token_hex(16)
        started = time.monotonic()
        try:
            plan = acquisition(request.name, request.wait)
            got = run_sync(backend, request.name, token, request.ttl, plan)
        except CNOPException as exc:
            _record_failure(backend.kind, request, started, exc)
            raise
        lock = HeldLock(backend, _new_state(backend.kind, request, token, got), self._on_lost)
        if request.auto_extend:
            lock.start_renewing()
        self._lock = lock
        return lock

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        lock = self._lock
        if lock is None:
            return
        if exc_type is None:
            lock.release()
            return
        # The body's error is what the caller needs; a loss found now is logged by the lock.
        with contextlib.suppress(CNOPException):
            lock.release()


class AsyncLockContext:
    """``async with`` support for one acquisition through an asyncio backend."""

    __slots__ = ("_backend", "_lock", "_on_lost", "_request")

    def __init__(
        self,
        backend: AsyncLockBackend,
        request: LockRequest,
        on_lost: Callable[[AsyncHeldLock], None] | None,
    ) -> None:
        self._backend = backend
        self._request = request
        self._on_lost = on_lost
        self._lock: AsyncHeldLock | None = None

    async def __aenter__(self) -> AsyncHeldLock:
        backend, request = self._backend, self._request
        token = secrets.token_hex(16)
        started = time.monotonic()
        try:
            plan = acquisition(request.name, request.wait)
            got = await run_async(backend, request.name, token, request.ttl, plan)
        except CNOPException as exc:
            _record_failure(backend.kind, request, started, exc)
            raise
        state = _new_state(backend.kind, request, token, got)
        lock = AsyncHeldLock(backend, state, self._on_lost)
        if request.auto_extend:
            lock.start_renewing()
        self._lock = lock
        return lock

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        lock = self._lock
        if lock is None:
            return
        if exc_type is None:
            await lock.release()
            return
        with contextlib.suppress(CNOPException):
            await lock.release()


def _new_state(kind: str, request: LockRequest, token: str, got: Acquired) -> LockState:
    _telemetry.acquired(
        kind,
        request.name,
        request.user,
        waited=got.waited,
        contended=got.contended,
        fence=got.fencing_token,
    )
    return LockState(
        backend=kind,
        name=request.name,
        token=token,
        fencing_token=got.fencing_token,
        ttl=request.ttl,
        requested_at=got.requested_at,
        user=request.user,
    )


def _record_failure(kind: str, request: LockRequest, started: float, exc: CNOPException) -> None:
    waited = time.monotonic() - started
    if isinstance(exc, CNOPLockAcquisitionException):
        timed_out = isinstance(exc, CNOPLockTimeoutException)
        _telemetry.refused(kind, request.name, request.user, waited, timed_out)
    else:
        _telemetry.failed(kind, request.name, request.user, waited, exc)
