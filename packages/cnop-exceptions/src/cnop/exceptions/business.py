"""Business rules of balances, holdings and orders."""

from __future__ import annotations

from http import HTTPStatus

from cnop.exceptions.base import CNOPClientException


class CNOPInsufficientBalanceException(CNOPClientException):
    """The USD balance does not cover the amount."""

    code = "INSUFFICIENT_BALANCE"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    default_message = "Insufficient balance"


class CNOPInsufficientAssetBalanceException(CNOPClientException):
    """The asset holding does not cover the quantity."""

    code = "INSUFFICIENT_ASSET_BALANCE"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    default_message = "Insufficient asset balance"


class CNOPAssetInactiveException(CNOPClientException):
    """The asset exists but is not open for trading."""

    code = "ASSET_INACTIVE"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    default_message = "The asset is not active for trading"


class CNOPInvalidStateTransitionException(CNOPClientException):
    """An order (or other state machine) cannot move from its state to the one asked."""

    code = "INVALID_STATE_TRANSITION"
    status = HTTPStatus.CONFLICT
    default_message = "The requested status change is not allowed"


class CNOPLimitExceededException(CNOPClientException):
    """An amount or quantity is outside the configured limits."""

    code = "LIMIT_EXCEEDED"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    default_message = "The amount is outside the allowed limits"
