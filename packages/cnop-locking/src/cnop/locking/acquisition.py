"""The acquisition loop, written once as a sans-I/O generator and run by a sync or async driver.

The generator decides *what* to do (try, or wait for a release signal for so long) and
raises the typed error when the caller must give up; the drivers only execute the steps
against a backend. Waits are bounded by the caller's ``wait``, by how long the current
holder may still hold the lock, and get a little random jitter so that waiters woken by
the same expiry do not all hit the store at the same instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import cast

from cnop.exceptions import (
    CNOPException,
    CNOPLockAcquisitionException,
    CNOPLockTimeoutException,
)
from cnop.locking.backend import AsyncLockBackend, Attempt, LockBackend

#: Longest single wait before trying again even without a signal (keeps waits bounded when a
#: signal is missed, e.g. a holder that crashed or a release that found nobody waiting).
MAX_SINGLE_WAIT = 1.0
_JITTER_FRACTION = 0.1
_JITTER_CAP = 0.02


@dataclass(frozen=True)
class TryAcquire:
    """Step: try once; the driver sends back the ``Attempt``."""

    previous: Attempt | None


@dataclass(frozen=True)
class WaitForRelease:
    """Step: block until a release signal or ``timeout`` seconds; the driver sends ``None``."""

    timeout: float


@dataclass(frozen=True)
class Acquired:
    """The successful end of an acquisition."""

    fencing_token: int
    waited: float
    contended: bool
    #: When the winning try was sent: the lease is counted from here on the holder's clock.
    requested_at: float


Step = TryAcquire | WaitForRelease
Acquisition = Generator[Step, "Attempt | None", Acquired]


def acquisition(
    name: str,
    wait: float,
    clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[], float] = random.random,
) -> Acquisition:
    """Plan one acquisition of ``name``, waiting at most ``wait`` seconds.

    Raises ``CNOPLockAcquisitionException`` when ``wait`` is 0 and the lock is held, and
    ``CNOPLockTimeoutException`` when ``wait`` ran out.
    """
    started = clock()
    deadline = started + wait
    previous: Attempt | None = None
    contended = False
    while True:
        sent_at = clock()
        # The drivers answer every TryAcquire with an Attempt.
        attempt = cast(Attempt, (yield TryAcquire(previous)))
        if attempt.acquired:
            return Acquired(attempt.fencing_token, clock() - started, contended, sent_at)
        previous = attempt
        contended = True
        if wait <= 0:
            raise CNOPLockAcquisitionException(
                f"Lock '{name}' is held by another owner; retry shortly",
                details={"lock": name, "waited_s": 0.0},
            )
        remaining = deadline - clock()
        if remaining <= 0:
            waited = clock() - started
            raise CNOPLockTimeoutException(
                f"Timed out after {waited:.3f}s waiting for lock '{name}' "
                f"(wait limit {wait:g}s); retry shortly",
                details={"lock": name, "waited_s": round(waited, 3), "wait_s": wait},
            )
        holder_left = attempt.retry_after if math.isfinite(attempt.retry_after) else MAX_SINGLE_WAIT
        spread = min(_JITTER_CAP, _JITTER_FRACTION * holder_left) * jitter()
        yield WaitForRelease(min(remaining, holder_left + spread, MAX_SINGLE_WAIT))


def run_sync(
    backend: LockBackend, name: str, token: str, ttl: float, plan: Acquisition
) -> Acquired:
    """Drive ``plan`` against a blocking backend.

    A try that fails (the store unreachable, a reply lost) may still have been granted:
    before the error reaches the caller, whatever ``token`` holds is released.
    """
    step = next(plan)
    while True:
        try:
            if isinstance(step, TryAcquire):
                try:
                    attempt = backend.try_acquire(name, token, ttl, step.previous)
                except CNOPException:
                    _free_sync(backend, name, token)
                    raise
                step = plan.send(attempt)
            else:
                backend.wait_for_release(name, step.timeout)
                step = plan.send(None)
        except StopIteration as done:
            result: Acquired = done.value
            return result


async def run_async(
    backend: AsyncLockBackend, name: str, token: str, ttl: float, plan: Acquisition
) -> Acquired:
    """Drive ``plan`` against an asyncio backend; a failed or cancelled try frees what
    ``token`` may hold, as in ``run_sync``."""
    step = next(plan)
    while True:
        try:
            if isinstance(step, TryAcquire):
                try:
                    attempt = await backend.try_acquire(name, token, ttl, step.previous)
                except (CNOPException, asyncio.CancelledError):
                    await asyncio.shield(_free_async(backend, name, token))
                    raise
                step = plan.send(attempt)
            else:
                await backend.wait_for_release(name, step.timeout)
                step = plan.send(None)
        except StopIteration as done:
            result: Acquired = done.value
            return result


# A try that failed after it was sent may have been granted by the store; the caller is
# told it failed, so the lease must not stay taken for its whole ttl. The release is
# owner-checked (it frees nothing held by another token) and best effort: if it fails
# too, the lease runs out on its own and the next holder's fencing token is higher.


def _free_sync(backend: LockBackend, name: str, token: str) -> None:
    with contextlib.suppress(CNOPException):
        backend.release(name, token)


async def _free_async(backend: AsyncLockBackend, name: str, token: str) -> None:
    with contextlib.suppress(CNOPException):
        await backend.release(name, token)
