"""What a held lock knows about itself; shared by the sync and the async held lock.

The holder's view of its lease is kept on its own monotonic clock: a lease is assumed
valid only until ``ttl`` seconds after the request that granted or renewed it was
*sent*, so a holder never believes in a lease longer than the store grants it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cnop.exceptions import CNOPException, CNOPLockLostException
from cnop.locking import _telemetry, _validate

RENEWALS_PER_TTL = 3


class LockState:
    """Flags, lease bound and event reporting of one acquisition."""

    __slots__ = (
        "_guard",
        "acquired_at",
        "backend",
        "fencing_token",
        "lost_reason",
        "name",
        "notify_lost",
        "released",
        "token",
        "ttl",
        "user",
        "valid_until",
    )

    def __init__(
        self,
        *,
        backend: str,
        name: str,
        token: str,
        fencing_token: int,
        ttl: float,
        requested_at: float,
        user: str | None,
    ) -> None:
        self.backend = backend
        self.name = name
        self.token = token
        self.fencing_token = fencing_token
        self.ttl = ttl
        self.user = user
        self.acquired_at = time.monotonic()
        self.valid_until = requested_at + ttl
        self.released = False
        self.lost_reason: str | None = None
        self.notify_lost: Callable[[], None] | None = None
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        return (
            not self.released and self.lost_reason is None and time.monotonic() < self.valid_until
        )

    @property
    def renew_interval(self) -> float:
        return self.ttl / RENEWALS_PER_TTL

    def extended(self, ttl: float, requested_at: float) -> None:
        self.ttl = ttl
        self.valid_until = requested_at + ttl
        _telemetry.extended(self.backend, self.name, self.user, ttl)

    def mark_lost(self, reason: str) -> None:
        """Record the loss once: log, audit, and call the holder's callback."""
        with self._guard:  # the renewer and the holder may both find the loss
            if self.lost_reason is not None:
                return
            self.lost_reason = reason
        _telemetry.lost(
            self.backend, self.name, self.user, time.monotonic() - self.acquired_at, reason
        )
        if self.notify_lost is not None:
            try:
                self.notify_lost()
            except Exception as exc:  # a faulty callback must not kill the renewer
                _telemetry.callback_failed(self.backend, self.name, self.user, exc)

    def before_extend(self, ttl: float | None) -> float:
        """Check an explicit ``extend(ttl)`` call; return the lease length to ask for."""
        seconds = self.ttl if ttl is None else _validate.ttl(ttl)
        if self.lost_reason is not None:
            raise self.lost_error()
        if self.released:
            raise CNOPLockLostException(
                f"Lock '{self.name}' was already released; it cannot be extended",
                details={"lock": self.name, "fencing_token": self.fencing_token},
            )
        return seconds

    def after_extend(self, owned: bool, ttl: float, requested_at: float) -> None:
        """Record an explicit ``extend()``; raise ``CNOPLockLostException`` if refused."""
        if not owned:
            self.mark_lost("the lease had expired or was taken over before extend()")
            raise self.lost_error()
        self.extended(ttl, requested_at)

    def after_renewal(self, owned: bool, requested_at: float) -> bool:
        """Record an automatic renewal; True while renewing should go on."""
        if self.released:
            return False  # released while the renewal was in flight
        if not owned:
            self.mark_lost("the lease expired or was taken over; renewal refused")
            return False
        self.extended(self.ttl, requested_at)
        return True

    def renewal_failed(self, error: Exception) -> bool:
        """A renewal could not reach the store; True while the lease may still be valid."""
        if time.monotonic() < self.valid_until:
            return True
        self.mark_lost(f"lease ran out while the store was unreachable: {error}")
        return False

    def finish_release(self, owned: bool) -> None:
        """Record the outcome of the release call (``owned``: the store still had our token)."""
        if self.released:
            return
        self.released = True
        if owned and self.lost_reason is None:
            _telemetry.released(
                self.backend, self.name, self.user, time.monotonic() - self.acquired_at
            )
        elif not owned:
            self.mark_lost("the lease had expired or was taken over before release")

    def release_failed(self, error: CNOPException) -> CNOPLockLostException | None:
        """The store failed the release; the loss to raise instead, if one is known."""
        self.released = True  # the lease lapses on its own; we no longer claim it
        held_for = time.monotonic() - self.acquired_at
        _telemetry.release_failed(self.backend, self.name, self.user, held_for, str(error))
        return self.lost_error() if self.lost_reason is not None else None

    def lost_error(self) -> CNOPLockLostException:
        return CNOPLockLostException(
            f"Lock '{self.name}' was lost while held ({self.lost_reason}); "
            "work done under it may have raced with another holder",
            details={
                "lock": self.name,
                "fencing_token": self.fencing_token,
                "reason": self.lost_reason,
            },
        )
