"""Faults of our own side or of the services we depend on (5xx)."""

from __future__ import annotations

from http import HTTPStatus

from cnop.exceptions.base import CNOPInternalException


class CNOPServiceUnavailableException(CNOPInternalException):
    """A dependency is down, overloaded or throttling; retrying later can help."""

    code = "SERVICE_UNAVAILABLE"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "The service is temporarily unavailable"
    default_retryable = True


class CNOPDatabaseConnectionException(CNOPServiceUnavailableException):
    code = "DATABASE_CONNECTION_ERROR"
    default_message = "Could not reach the database"


class CNOPOutcomeUnknownException(CNOPServiceUnavailableException):
    """A write was sent but no definite answer came back: it may or may not have applied.

    Raised only after the request was re-sent (with the same ``ClientRequestToken``) as
    long as that was safe. Retrying with the same idempotency key resolves it: the
    request is then applied once, or its stored result is returned. ``details`` carries
    the ``idempotency_key`` to retry with (also for a call that did not pass one).
    """

    code = "OUTCOME_UNKNOWN"
    default_message = (
        "The outcome of the request is unknown; retry it with the same idempotency key"
    )


class CNOPDatabaseOperationException(CNOPInternalException):
    code = "DATABASE_OPERATION_ERROR"
    default_message = "A database operation failed"


class CNOPConfigurationException(CNOPInternalException):
    """A setting is missing or unsafe; the message names the variable."""

    code = "CONFIGURATION_ERROR"
    default_message = "The service is misconfigured"


class CNOPAWSServiceException(CNOPInternalException):
    code = "AWS_SERVICE_ERROR"
    status = HTTPStatus.BAD_GATEWAY
    default_message = "An AWS service call failed"


class CNOPExternalServiceException(CNOPInternalException):
    code = "EXTERNAL_SERVICE_ERROR"
    status = HTTPStatus.BAD_GATEWAY
    default_message = "An external service call failed"
    default_retryable = True


class CNOPCommonServerException(CNOPInternalException):
    code = "COMMON_SERVER_ERROR"
    default_message = "A server error occurred"


class CNOPInternalServerException(CNOPInternalException):
    code = "INTERNAL_SERVER_ERROR"
    default_message = "Internal server error"
