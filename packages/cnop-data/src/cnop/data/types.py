"""Annotated field types shared by the entity models (each backed by a ``check_*`` rule)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator

from cnop.data import validation as v

__all__ = [
    "AssetId",
    "AssetName",
    "Category",
    "DateOfBirth",
    "Description",
    "Email",
    "EntityId",
    "ExternalReference",
    "FirstName",
    "LastName",
    "NonNegativeDecimal",
    "Phone",
    "PositiveDecimal",
    "SignedDecimal",
    "StrictFlag",
    "Timestamp",
    "Username",
    "Version",
    "check_external_reference",
    "utc_now",
]


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(timezone.utc)


def _non_zero(value: Any) -> Decimal:
    number = v.to_decimal(value, "amount")
    if number == 0:
        raise ValueError("amount must not be zero")
    return number


def _version(value: Any) -> int:
    # An integral Decimal is what boto3's TypeDeserializer gives for a stored number.
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("version must be an integer")
    if value < 1:
        raise ValueError("version must be 1 or more")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _asset_name(value: Any) -> str:
    text = v.check_text(value, "name", 100)
    if not text.strip():
        raise ValueError("name must not be empty")
    return text


Username = Annotated[str, BeforeValidator(v.check_username)]
Email = Annotated[str, BeforeValidator(v.check_email)]
FirstName = Annotated[str, BeforeValidator(lambda x: v.check_name(x, "first_name"))]
LastName = Annotated[str, BeforeValidator(lambda x: v.check_name(x, "last_name"))]
Phone = Annotated[str, BeforeValidator(v.check_phone)]
DateOfBirth = Annotated[date, BeforeValidator(v.check_date_of_birth)]
EntityId = Annotated[str, BeforeValidator(v.check_entity_id)]
AssetId = Annotated[str, BeforeValidator(v.check_asset_id)]
AssetName = Annotated[str, BeforeValidator(_asset_name)]
Description = Annotated[str, BeforeValidator(lambda x: v.check_text(x, "description", 1000))]

_EXTERNAL_REFERENCE = re.compile(r"[A-Za-z0-9_.:/#-]{1,128}")


def check_external_reference(value: Any, field: str = "external_reference") -> str:
    """An outside system's id: 1-128 of letters, digits and ``_ . : / # -`` (whole string)."""
    if not isinstance(value, str) or not _EXTERNAL_REFERENCE.fullmatch(value):
        raise ValueError(f"{field} must be 1-128 letters, digits or '_', '.', ':', '/', '#', '-'")
    return value


ExternalReference = Annotated[str, BeforeValidator(check_external_reference)]
Category = Annotated[str, BeforeValidator(v.check_category)]
Timestamp = Annotated[datetime, BeforeValidator(v.check_timestamp)]
#: > 0, at most 8 decimal places (quantities, amounts of a deposit or withdrawal).
PositiveDecimal = Annotated[Decimal, BeforeValidator(v.check_quantity)]
#: >= 0, at most 8 decimal places (prices, balances, holdings).
NonNegativeDecimal = Annotated[Decimal, BeforeValidator(v.check_price)]
#: != 0, at most 8 decimal places (ledger entries: + credit, - debit).
SignedDecimal = Annotated[Decimal, BeforeValidator(_non_zero)]
Version = Annotated[int, BeforeValidator(_version)]
StrictFlag = Annotated[bool, BeforeValidator(_flag)]
