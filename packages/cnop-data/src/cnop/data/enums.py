"""The closed sets of values entities use, and the order state machine."""

from __future__ import annotations

from enum import Enum
from types import MappingProxyType

from cnop.exceptions import CNOPInvalidStateTransitionException, CNOPValidationException, UserRole

__all__ = [
    "ORDER_TRANSITIONS",
    "AssetTransactionType",
    "OrderStatus",
    "OrderType",
    "TransactionStatus",
    "TransactionType",
    "UserRole",
    "allowed_previous_statuses",
    "can_transition",
    "check_transition",
]


class TransactionType(str, Enum):
    """Why a USD balance changed. Deposits and sales add; withdrawals and payments subtract."""

    DEPOSIT = "deposit"
    WITHDRAW = "withdraw"
    ORDER_PAYMENT = "order_payment"
    ORDER_SALE = "order_sale"
    SYSTEM_ADJUSTMENT = "system_adjustment"


class TransactionStatus(str, Enum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


class AssetTransactionType(str, Enum):
    """Why a holding changed. Buys add; sells subtract."""

    BUY = "buy"
    SELL = "sell"
    SYSTEM_ADJUSTMENT = "system_adjustment"


class OrderType(str, Enum):
    MARKET_BUY = "market_buy"
    MARKET_SELL = "market_sell"
    LIMIT_BUY = "limit_buy"
    LIMIT_SELL = "limit_sell"

    @property
    def is_limit(self) -> bool:
        return self in (OrderType.LIMIT_BUY, OrderType.LIMIT_SELL)

    @property
    def is_buy(self) -> bool:
        return self in (OrderType.MARKET_BUY, OrderType.LIMIT_BUY)


class OrderStatus(str, Enum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    QUEUED = "queued"
    TRIGGERED = "triggered"
    PROCESSING = "processing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return not ORDER_TRANSITIONS[self]


_S = OrderStatus
#: Every status an order may move to from each status. Market orders go
#: confirmed → processing; limit orders wait in queued until triggered.
ORDER_TRANSITIONS: MappingProxyType[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        _S.PENDING: frozenset({_S.CONFIRMED, _S.CANCELLED, _S.FAILED}),
        _S.CONFIRMED: frozenset({_S.QUEUED, _S.PROCESSING, _S.CANCELLED, _S.FAILED, _S.EXPIRED}),
        # A fill settles a waiting limit order in one transaction: straight to completed.
        _S.QUEUED: frozenset({_S.TRIGGERED, _S.COMPLETED, _S.CANCELLED, _S.FAILED, _S.EXPIRED}),
        _S.TRIGGERED: frozenset({_S.PROCESSING, _S.COMPLETED, _S.FAILED}),
        _S.PROCESSING: frozenset({_S.COMPLETED, _S.FAILED}),
        _S.COMPLETED: frozenset(),
        _S.CANCELLED: frozenset(),
        _S.FAILED: frozenset(),
        _S.EXPIRED: frozenset(),
    }
)


def _order_status(field: str, value: object) -> OrderStatus:
    """``value`` as an OrderStatus: a member, or exactly a member's value as text.

    Anything else (another type, a value with whitespace, another case) raises
    CNOPValidationException naming ``field`` and the statuses there are.
    """
    if isinstance(value, OrderStatus):
        return value
    if type(value) is str and value in _BY_VALUE:
        return _BY_VALUE[value]
    shown = (
        repr(value if len(value) <= 30 else value[:30] + "...")
        if isinstance(value, str)
        else f"a {type(value).__name__}"
    )
    raise CNOPValidationException.for_field(
        field, f"must be an order status ({', '.join(_BY_VALUE)}), got {shown}"
    )


_BY_VALUE = {s.value: s for s in OrderStatus}


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether the state machine allows ``current`` → ``new``.

    Each is an OrderStatus or its value as text; anything else raises
    CNOPValidationException.
    """
    return _order_status("new", new) in ORDER_TRANSITIONS[_order_status("current", current)]


def check_transition(current: OrderStatus, new: OrderStatus) -> None:
    """Raise CNOPInvalidStateTransitionException unless ``current`` → ``new`` is allowed.

    A value that is no order status raises CNOPValidationException, as for
    :func:`can_transition`.
    """
    was, to = _order_status("current", current), _order_status("new", new)
    if to not in ORDER_TRANSITIONS[was]:
        raise CNOPInvalidStateTransitionException(
            f"An order cannot move from {was.value} to {to.value}",
            details={"from": was.value, "to": to.value},
        )


def allowed_previous_statuses(new: OrderStatus) -> frozenset[OrderStatus]:
    """The statuses from which an order may move to ``new`` (empty for ``pending``)."""
    to = _order_status("new", new)
    return frozenset(s for s, targets in ORDER_TRANSITIONS.items() if to in targets)
