"""Configured bounds on what one flow may move, and how money is rounded."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from typing import Any

from cnop.data.validation import validate_amount, validate_quantity
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPLimitExceededException,
    CNOPValidationException,
)

__all__ = ["CENT", "Amount", "FlowLimits", "order_cost", "sale_proceeds"]

#: What callers may pass as an amount or quantity (floats are refused: they are inexact).
Amount = Decimal | int | str
#: USD amounts are whole cents.
CENT = Decimal("0.01")
# Exact for any two 38-digit numbers: the default context's 28 digits would round a
# product before it is rounded to the cent, and refuse to quantize a huge amount.
_EXACT = Context(prec=100)


def order_cost(quantity: Decimal, price: Decimal) -> Decimal:
    """What a buyer pays: ``quantity x price`` rounded up to the cent."""
    return _EXACT.multiply(quantity, price).quantize(CENT, ROUND_CEILING, _EXACT)


def sale_proceeds(quantity: Decimal, price: Decimal) -> Decimal:
    """What a seller receives: ``quantity x price`` rounded down to the cent."""
    return _EXACT.multiply(quantity, price).quantize(CENT, ROUND_FLOOR, _EXACT)


@dataclass(frozen=True)
class FlowLimits:
    """Bounds on one flow's USD amount (deposit, withdrawal, order cost) and quantity.

    ``daily_deposit`` / ``daily_withdraw`` (optional) cap what one user may deposit or
    withdraw per UTC day. They are enforced by a counter item updated, with a condition,
    in the flow's own transaction: concurrent requests can never pass the cap together.
    """

    min_amount: Decimal = CENT
    max_amount: Decimal = Decimal("1000000")
    max_quantity: Decimal = Decimal("1000000")
    daily_deposit: Decimal | None = None
    daily_withdraw: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("min_amount", "max_amount", "max_quantity", "daily_deposit", "daily_withdraw"):
            value = getattr(self, name)
            if value is None and name.startswith("daily_"):
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise CNOPConfigurationException(f"FlowLimits.{name} must be a Decimal > 0")
        if self.min_amount > self.max_amount:
            raise CNOPConfigurationException("FlowLimits.min_amount must not exceed max_amount")

    def amount(self, value: Any, field: str = "amount") -> Decimal:
        """A USD amount from the caller: > 0, whole cents, within the limits."""
        number = validate_amount(value, field)
        if number != number.quantize(CENT, context=_EXACT):
            raise CNOPValidationException.for_field(field, "must be whole cents (2 decimals)")
        return self.check_amount(number, field)

    def check_amount(self, number: Decimal, field: str = "amount") -> Decimal:
        """``number`` if it is within ``[min_amount, max_amount]``."""
        if not isinstance(number, Decimal) or not number.is_finite():
            raise CNOPValidationException.for_field(field, "must be a finite Decimal")
        if number < self.min_amount or number > self.max_amount:
            raise CNOPLimitExceededException(
                f"{field} must be between {self.min_amount} and {self.max_amount} USD",
                details={"field": field, "min": str(self.min_amount), "max": str(self.max_amount)},
            )
        return number

    def quantity(self, value: Any, field: str = "quantity") -> Decimal:
        """A quantity from the caller: > 0, at most 8 decimals, at most ``max_quantity``."""
        number = validate_quantity(value, field)
        if number > self.max_quantity:
            raise CNOPLimitExceededException(
                f"{field} must be at most {self.max_quantity}",
                details={"field": field, "max": str(self.max_quantity)},
            )
        return number
