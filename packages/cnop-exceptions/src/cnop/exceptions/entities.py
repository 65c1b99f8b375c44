"""Lookups, creates and conditional updates of stored entities."""

from __future__ import annotations

from http import HTTPStatus

from cnop.exceptions.base import CNOPClientException


class CNOPEntityNotFoundException(CNOPClientException):
    """The requested entity does not exist."""

    code = "ENTITY_NOT_FOUND"
    status = HTTPStatus.NOT_FOUND
    default_message = "The requested entity was not found"


class CNOPUserNotFoundException(CNOPEntityNotFoundException):
    code = "USER_NOT_FOUND"
    default_message = "User not found"


class CNOPOrderNotFoundException(CNOPEntityNotFoundException):
    code = "ORDER_NOT_FOUND"
    default_message = "Order not found"


class CNOPAssetNotFoundException(CNOPEntityNotFoundException):
    code = "ASSET_NOT_FOUND"
    default_message = "Asset not found"


class CNOPBalanceNotFoundException(CNOPEntityNotFoundException):
    code = "BALANCE_NOT_FOUND"
    default_message = "Balance not found"


class CNOPAssetBalanceNotFoundException(CNOPEntityNotFoundException):
    code = "ASSET_BALANCE_NOT_FOUND"
    default_message = "Asset balance not found"


class CNOPTransactionNotFoundException(CNOPEntityNotFoundException):
    code = "TRANSACTION_NOT_FOUND"
    default_message = "Transaction not found"


class CNOPEntityAlreadyExistsException(CNOPClientException):
    """A create found the entity (or a unique value such as an email) already taken."""

    code = "ENTITY_ALREADY_EXISTS"
    status = HTTPStatus.CONFLICT
    default_message = "The entity already exists"


class CNOPVersionConflictException(CNOPClientException):
    """An update was based on a stale version: re-read the entity and try again."""

    code = "VERSION_CONFLICT"
    status = HTTPStatus.CONFLICT
    default_message = "The entity was changed by another request; reload it and retry"
    default_retryable = True


class CNOPIdempotencyConflictException(CNOPClientException):
    """An idempotency key was reused with different request parameters."""

    code = "IDEMPOTENCY_CONFLICT"
    status = HTTPStatus.CONFLICT
    default_message = "The idempotency key was already used for a different request"
