"""Turning botocore/aiobotocore errors into cnop-exceptions classes.

No botocore exception reaches a caller of a DAO: conditional failures become the
entity-specific error the operation chose (already exists, version conflict, not
found), throttling and transaction conflicts a retryable CNOPServiceUnavailableException,
a missing table a CNOPConfigurationException naming it, a connection failure
CNOPDatabaseConnectionException. Messages never contain item contents or credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from cnop.exceptions import (
    CNOPAWSServiceException,
    CNOPConfigurationException,
    CNOPDatabaseConnectionException,
    CNOPDatabaseOperationException,
    CNOPException,
    CNOPIdempotencyConflictException,
    CNOPServiceUnavailableException,
)

__all__ = [
    "REPLAY_REASON",
    "CancellationReason",
    "ConditionFailedHandler",
    "TransactionCancelledHandler",
    "cancellation_reasons",
    "error_kind",
    "map_error",
    "may_have_applied",
    "reasons_to_exception",
]

Item = dict[str, dict[str, Any]]
#: Builds the error for a failed ConditionExpression from the old item (if returned).
ConditionFailedHandler = Callable[[Item | None], CNOPException]
#: Builds the error for a cancelled transaction from its per-item reasons.
TransactionCancelledHandler = Callable[[Sequence["CancellationReason"]], CNOPException]

_THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "AccessDeniedException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
    }
)
_RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


@dataclass(frozen=True)
class CancellationReason:
    """Why one item of a cancelled TransactWriteItems failed (``code`` ``"None"`` = fine)."""

    code: str
    message: str | None = None
    item: Item | None = None

    @property
    def failed(self) -> bool:
        return self.code not in ("None", "")


def cancellation_reasons(error: ClientError) -> list[CancellationReason]:
    """The per-item reasons of a TransactionCanceledException, in request order."""
    raw = error.response.get("CancellationReasons") or []
    return [
        CancellationReason(
            code=str(reason.get("Code", "None")),
            message=reason.get("Message"),
            item=cast(Item | None, reason.get("Item")),
        )
        for reason in raw
    ]


def reasons_to_exception(
    reasons: Sequence[CancellationReason],
    by_index: Mapping[int, ConditionFailedHandler],
    *,
    default: Callable[[], CNOPException] | None = None,
) -> CNOPException:
    """The error for the first failed item that ``by_index`` knows how to explain.

    ``by_index`` maps a transaction item's position to a handler given that item's old
    value (when ``ReturnValuesOnConditionCheckFailure`` was ``ALL_OLD``). Throttling or a
    conflicting transaction is a retryable CNOPServiceUnavailableException.
    """
    for index, reason in enumerate(reasons):
        if reason.code == "ConditionalCheckFailed" and index in by_index:
            return by_index[index](reason.item)
    if any(r.code in _RETRYABLE_REASONS for r in reasons):
        return CNOPServiceUnavailableException(
            "The database is busy with a conflicting request; retry shortly",
            details={"reasons": [r.code for r in reasons]},
        )
    if default is not None:
        return default()
    return CNOPDatabaseOperationException(
        "A database transaction was cancelled", details={"reasons": [r.code for r in reasons]}
    )


#: ``details["reason"]`` of the error a flow's write gets when its idempotency record is
#: already there: a repeated request, answered with the stored result (not a fault).
REPLAY_REASON = "key_recorded"

#: Replies that prove a write was refused as a whole, whatever came before: DynamoDB judged
#: this very request (conditions, parameters, table, credentials) and a re-send of an
#: earlier attempt with the same token would have been answered with that attempt's success.
_REFUSED_AS_A_WHOLE = frozenset(
    {
        "transaction_cancelled",
        "conditional_check_failed",
        "ValidationException",
        "ResourceNotFoundException",
        "IdempotentParameterMismatchException",
        "no_credentials",
        *_CREDENTIALS,
    }
)


def may_have_applied(exc: CNOPException) -> bool:
    """Whether a write that failed with ``exc`` may still have been applied.

    True for everything but a definite refusal: a timeout or reset after sending, a 5xx,
    a transaction still in progress, and also a throttle or a refused connection, since
    botocore may have sent the same request before (its own retries) and lost that reply.
    """
    if exc.client_safe:  # a condition or the request itself was refused
        return False
    return exc.details.get("dynamodb_error") not in _REFUSED_AS_A_WHOLE


def error_kind(exc: CNOPException) -> str:
    """A short, bounded label for metrics (``conditional_check_failed``, ``throttled``...)."""
    return str(exc.details.get("dynamodb_error", exc.code.lower()))


def map_error(
    exc: BaseException,
    *,
    table: str,
    operation: str,
    on_condition_failed: ConditionFailedHandler | None = None,
    on_cancelled: TransactionCancelledHandler | None = None,
) -> CNOPException:
    """The CNOP exception for ``exc`` raised by ``operation`` on ``table``."""
    if isinstance(exc, CNOPException):
        return exc
    details: dict[str, Any] = {"table": table, "operation": operation}
    if not isinstance(exc, ClientError):
        return _from_client_failure(exc, details)
    code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
    details["dynamodb_error"] = code
    if code == "ConditionalCheckFailedException" and on_condition_failed is not None:
        found = on_condition_failed(cast(Item | None, exc.response.get("Item")))
        found.details.setdefault("dynamodb_error", "conditional_check_failed")
        return found
    if code == "TransactionCanceledException":
        reasons = cancellation_reasons(exc)
        found = on_cancelled(reasons) if on_cancelled else reasons_to_exception(reasons, {})
        found.details.setdefault("dynamodb_error", "transaction_cancelled")
        return found
    return _from_service_error(code, details)


def _from_service_error(code: str, details: dict[str, Any]) -> CNOPException:
    table, operation = details["table"], details["operation"]
    error: type[CNOPException]
    if code == "ResourceNotFoundException":
        error = CNOPConfigurationException
        message = (
            f"DynamoDB table {table!r} does not exist "
            "(create it with `python -m cnop.data tables create`)"
        )
    elif code in _THROTTLING:
        error = CNOPServiceUnavailableException
        message = f"DynamoDB is throttling or busy ({code}) during {operation} on {table!r}"
    elif code in _CREDENTIALS:
        error = CNOPConfigurationException
        message = f"DynamoDB refused the credentials or permissions ({code}) for {operation}"
    elif code == "IdempotentParameterMismatchException":
        # The token of this attempt was used by another request: refused, nothing applied.
        error = CNOPIdempotencyConflictException
        message = f"DynamoDB refused a reused request token during {operation} on {table!r}"
    elif code == "ValidationException":
        error = CNOPDatabaseOperationException
        message = f"DynamoDB rejected the {operation} request on {table!r} as invalid"
    else:
        error = CNOPAWSServiceException
        message = f"DynamoDB {operation} on {table!r} failed ({code})"
    return error(message, details=details)


_CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionError,
    asyncio.TimeoutError,
    TimeoutError,
    OSError,
)


def _from_client_failure(exc: BaseException, details: dict[str, Any]) -> CNOPException:
    """Errors raised before or instead of a DynamoDB reply (credentials, network...)."""
    table, operation = details["table"], details["operation"]
    name = type(exc).__name__
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return CNOPConfigurationException(
            "No AWS credentials were found (environment, profile, web identity or instance role)",
            details={**details, "dynamodb_error": "no_credentials"},
        )
    if isinstance(exc, NoRegionError):
        return CNOPConfigurationException(
            "AWS_REGION must be set", details={**details, "variable": "AWS_REGION"}
        )
    if isinstance(exc, _CONNECTION_ERRORS):
        return CNOPDatabaseConnectionException(
            f"Could not reach DynamoDB for {operation} on {table!r}",
            details={**details, "dynamodb_error": "connection"},
        )
    where = "in the client" if isinstance(exc, BotoCoreError) else "unexpectedly"
    return CNOPDatabaseOperationException(
        f"DynamoDB {operation} on {table!r} failed {where} ({name})",
        details={**details, "dynamodb_error": name},
    )
