"""Distributed locks: contention is retryable, a lost lock is an internal fault."""

from __future__ import annotations

from http import HTTPStatus

from cnop.exceptions.base import CNOPClientException, CNOPInternalException


class CNOPLockAcquisitionException(CNOPClientException):
    """The lock is held by someone else; the same request may succeed shortly."""

    code = "LOCK_ACQUISITION_FAILED"
    status = HTTPStatus.CONFLICT
    default_message = "The resource is busy; retry shortly"
    default_retryable = True


class CNOPLockTimeoutException(CNOPLockAcquisitionException):
    """Waiting for the lock ran out of time."""

    code = "LOCK_TIMEOUT"
    default_message = "Timed out waiting for the resource; retry shortly"


class CNOPLockLostException(CNOPInternalException):
    """A lock expired or was taken over while its holder was still working."""

    code = "LOCK_LOST"
    default_message = "A lock was lost while it was held"
