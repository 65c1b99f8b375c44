"""Lock events, logged through cnop.logging, and wait/hold times recorded as metrics.

Routine events (acquired, released, extended) are DEBUG, and so is an acquisition that
waited less than ``NOTABLE_WAIT`` (a prompt hand-off is routine under load, and writing an
INFO line would add its cost to every hand-off); a longer wait and a refusal are INFO
(``lock_contended``); a timeout is a WARNING; a lost lock is an ERROR and an audit record,
because work done under a lost lock may have raced with another holder.
"""

from __future__ import annotations

import traceback

from cnop.logging import AuditEvent, AuditLogger, BaseLogger, LogAction, LoggerName, metrics

_log = BaseLogger(LoggerName.LOCK)

#: Seconds of waiting from which a successful acquisition is logged at INFO, not DEBUG.
NOTABLE_WAIT = 0.05
_audit = AuditLogger()

WAIT = metrics.histogram(
    "cnop.lock.wait",
    unit="s",
    description="Time spent acquiring a lock, waiting included",
    labels=("backend", "outcome"),
)
HOLD = metrics.histogram(
    "cnop.lock.hold",
    unit="s",
    description="Time a lock was held, from acquisition to release or loss",
    labels=("backend", "outcome"),
)


def acquired(
    backend: str, name: str, user: str | None, *, waited: float, contended: bool, fence: int
) -> None:
    WAIT.record(waited, backend=backend, outcome="acquired")
    if contended:
        log = _log.info if waited >= NOTABLE_WAIT else _log.debug
        log(
            action=LogAction.LOCK_CONTENDED,
            message="Lock acquired after waiting",
            user=user,
            lock=name,
            backend=backend,
            wait_ms=round(waited * 1000, 3),
            fence=fence,
        )
    else:
        _log.debug(
            action=LogAction.LOCK_ACQUIRED,
            message="Lock acquired",
            user=user,
            lock=name,
            backend=backend,
            wait_ms=round(waited * 1000, 3),
            fence=fence,
        )


def refused(backend: str, name: str, user: str | None, waited: float, timed_out: bool) -> None:
    WAIT.record(waited, backend=backend, outcome="timeout" if timed_out else "busy")
    if timed_out:
        _log.warning(
            action=LogAction.LOCK_TIMEOUT,
            message="Timed out waiting for a lock",
            user=user,
            lock=name,
            backend=backend,
            wait_ms=round(waited * 1000, 3),
        )
    else:
        _log.info(
            action=LogAction.LOCK_CONTENDED,
            message="Lock is held by another owner",
            user=user,
            lock=name,
            backend=backend,
        )


def failed(backend: str, name: str, user: str | None, waited: float, error: Exception) -> None:
    WAIT.record(waited, backend=backend, outcome="error")
    # The error's type and message only, never the exception itself: a loguru handler
    # with ``diagnose`` (loguru's default) would print the frames' local variables, the
    # owner token among them.
    _log.error(
        action=LogAction.ERROR,
        message="Lock backend failed",
        user=user,
        lock=name,
        backend=backend,
        error=str(error),
        error_type=type(error).__name__,
        error_code=getattr(error, "code", None),
    )


def released(backend: str, name: str, user: str | None, held_for: float) -> None:
    HOLD.record(held_for, backend=backend, outcome="released")
    _log.debug(
        action=LogAction.LOCK_RELEASED,
        message="Lock released",
        user=user,
        lock=name,
        backend=backend,
        hold_ms=round(held_for * 1000, 3),
    )


def extended(backend: str, name: str, user: str | None, ttl: float) -> None:
    _log.debug(
        action=LogAction.LOCK_EXTENDED,
        message="Lock lease extended",
        user=user,
        lock=name,
        backend=backend,
        ttl_s=ttl,
    )


def lost(backend: str, name: str, user: str | None, held_for: float, reason: str) -> None:
    HOLD.record(held_for, backend=backend, outcome="lost")
    _log.error(
        action=LogAction.LOCK_LOST,
        message="Lock lost while held",
        user=user,
        lock=name,
        backend=backend,
        hold_ms=round(held_for * 1000, 3),
        reason=reason,
    )
    _audit.record(AuditEvent.LOCK_LOST, user=user, success=False, reason=reason, lock=name)


def callback_failed(backend: str, name: str, user: str | None, error: Exception) -> None:
    # The stack as text (no local variables, unlike the exception with ``diagnose``).
    _log.error(
        action=LogAction.ERROR,
        message="The on_lost callback of a lock raised",
        user=user,
        lock=name,
        backend=backend,
        error=str(error),
        error_type=type(error).__name__,
        stack="".join(traceback.format_exception(error)),
    )


def release_failed(backend: str, name: str, user: str | None, held_for: float, error: str) -> None:
    HOLD.record(held_for, backend=backend, outcome="error")
    _log.warning(
        action=LogAction.ERROR,
        message="Lock could not be released; its lease will lapse on its own",
        user=user,
        lock=name,
        backend=backend,
        error=error,
    )
