"""Authentication (401) and authorization (403)."""

from __future__ import annotations

from http import HTTPStatus

from cnop.exceptions.base import CNOPClientException


class CNOPAuthenticationException(CNOPClientException):
    """The caller is not authenticated."""

    code = "AUTHENTICATION_FAILED"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "Authentication failed"


class CNOPInvalidCredentialsException(CNOPAuthenticationException):
    """Unknown user or wrong password (deliberately indistinguishable)."""

    code = "INVALID_CREDENTIALS"
    default_message = "Invalid username or password"


class CNOPTokenExpiredException(CNOPAuthenticationException):
    code = "TOKEN_EXPIRED"
    default_message = "The token has expired"


class CNOPTokenInvalidException(CNOPAuthenticationException):
    code = "TOKEN_INVALID"
    default_message = "The token is invalid"


class CNOPAuthorizationException(CNOPClientException):
    """The caller is known but may not do this."""

    code = "AUTHORIZATION_FAILED"
    status = HTTPStatus.FORBIDDEN
    default_message = "Not authorized"


class CNOPAccessDeniedException(CNOPAuthorizationException):
    code = "ACCESS_DENIED"
    default_message = "Access denied"


class CNOPInsufficientPermissionsException(CNOPAuthorizationException):
    code = "INSUFFICIENT_PERMISSIONS"
    default_message = "Insufficient permissions"


class CNOPUserInactiveException(CNOPAuthorizationException):
    """The user's account is deactivated: it may not move money or place orders."""

    code = "USER_INACTIVE"
    default_message = "The user account is not active"
