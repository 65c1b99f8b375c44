"""Constants that more than one CNOP package needs."""

from __future__ import annotations

from enum import Enum
from http import HTTPStatus

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Final

__all__ = [
    "ErrorMessage",
    "FieldConstraints",
    "HTTPStatus",
    "RequestHeader",
    "ServiceName",
    "UserRole",
]


class ServiceName(str, Enum):
    """The platform's services, as they name themselves in logs and headers."""

    USER = "user-service"
    ORDER = "order-service"
    INVENTORY = "inventory-service"
    AUTH = "auth-service"
    GATEWAY = "gateway"


class UserRole(str, Enum):
    """Roles a user can hold; ``admin`` implies ``customer``."""

    CUSTOMER = "customer"
    ADMIN = "admin"


class ErrorMessage:
    """Messages shown to callers, kept in one place so services say the same thing."""

    INVALID_CREDENTIALS: Final = "Invalid username or password"
    TOKEN_EXPIRED: Final = "The token has expired"  # noqa: S105 - a message
    TOKEN_INVALID: Final = "The token is invalid"  # noqa: S105 - a message
    ACCESS_DENIED: Final = "Access denied"
    INSUFFICIENT_BALANCE: Final = "Insufficient balance"
    INSUFFICIENT_ASSET_BALANCE: Final = "Insufficient asset balance"
    RESOURCE_BUSY: Final = "The resource is busy; retry shortly"
    INTERNAL_ERROR: Final = "An internal error occurred"
    # Messages the original common package's services showed, under its names.
    INTERNAL_SERVER_ERROR: Final = INTERNAL_ERROR
    SERVICE_UNAVAILABLE: Final = "The service is temporarily unavailable. Please try again later."
    AUTHENTICATION_FAILED: Final = (
        "Authentication failed. Please check your credentials and try again."
    )
    RESOURCE_NOT_FOUND: Final = "The requested resource was not found."
    USER_NOT_FOUND: Final = "User not found."
    VALIDATION_ERROR: Final = (
        "The request contains invalid data. Please check your input and try again."
    )


class RequestHeader(str, Enum):
    """HTTP headers the services read; the ``X-`` ones are set by the gateway.

    The names a service must never trust from a client directly (identity, role) are
    only meaningful behind the gateway's signature (``cnop.auth``'s gateway checks).
    """

    CONTENT_TYPE = "Content-Type"
    AUTHORIZATION = "Authorization"
    USER_AGENT = "User-Agent"
    REQUEST_ID = "X-Request-ID"
    USER_NAME = "X-User-Name"
    USER_ID = "X-User-ID"
    USER_ROLE = "X-User-Role"
    AUTHENTICATED = "X-Authenticated"
    SOURCE = "X-Source"
    AUTH_SERVICE = "X-Auth-Service"
    SOURCE_SERVICE = "X-Source-Service"
    SESSION_ID = "X-Session-ID"


class FieldConstraints:
    """Limits on fields that several packages validate."""

    USERNAME_MIN_LENGTH: Final = 6
    USERNAME_MAX_LENGTH: Final = 30
    USERNAME_PATTERN: Final = r"^[A-Za-z0-9_]+$"
    NAME_MAX_LENGTH: Final = 50
    EMAIL_MAX_LENGTH: Final = 254
    PASSWORD_MIN_LENGTH: Final = 12
    #: bcrypt reads at most 72 bytes; longer passwords must be refused, not truncated.
    PASSWORD_MAX_BYTES: Final = 72
    QUANTITY_MAX_DECIMALS: Final = 8
    REQUEST_ID_MAX_LENGTH: Final = 128
