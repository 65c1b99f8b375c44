"""What a money flow did: the outcome a caller shows, logs or stores."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

from pydantic import Field

from cnop.data.models import AssetTransaction, BalanceTransaction, CNOPModel, Order
from cnop.data.types import utc_now

__all__ = ["FlowResult", "FlowType", "SweepResult"]


class FlowType(str, Enum):
    """The flows a :class:`~cnop.data.TransactionManager` runs (also the lock operation name)."""

    DEPOSIT = "deposit"
    WITHDRAW = "withdraw"
    BUY = "buy"
    SELL = "sell"
    LIMIT_ORDER = "limit_order"
    CANCEL_ORDER = "cancel_order"
    FILL_ORDER = "fill_order"
    EXPIRE_ORDER = "expire_order"
    ADJUST = "adjust"


class FlowResult(CNOPModel):
    """Exactly what one committed flow changed.

    ``amount`` is the signed change of the USD balance (+ credit, - debit, 0 when the
    balance was not touched) and ``quantity`` the signed change of the holding of
    ``asset_id``; ``price`` is the unit price used. ``replayed`` is true when the
    idempotency key had already been applied and this is the stored result.

    A result says what the flow changed, not the balance it left: flows change balances
    with an atomic conditional ``ADD`` and never read them, so concurrent flows of one
    user commit without re-reading. Read the balance (``BalanceDAO.get_balance``) when a
    screen must show it.
    """

    flow: FlowType
    username: str
    amount: Decimal
    asset_id: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    order: Order | None = None
    balance_transaction: BalanceTransaction | None = None
    asset_transaction: AssetTransaction | None = None
    idempotency_key: str | None = None
    replayed: bool = False
    committed_at: datetime = Field(default_factory=utc_now)

    @property
    def records(self) -> tuple[Order | BalanceTransaction | AssetTransaction, ...]:
        """The order and ledger records this flow wrote, in that order."""
        found = (self.order, self.balance_transaction, self.asset_transaction)
        return tuple(r for r in found if r is not None)


class SweepResult(CNOPModel):
    """What one matching (or expiry) sweep did to the waiting orders it found.

    ``done`` are the committed flows (fills or expiries), ``lost`` the orders another
    request ended first (a cancel, another matcher or sweep), ``refused`` the orders that
    could not be settled, with the reason (e.g. proceeds under a cent), ``failed`` the orders
    whose flow met a fault (an unknown outcome, an unreachable database): run the sweep
    again, each order is settled at most once.
    """

    done: list[FlowResult] = Field(default_factory=list)
    lost: list[str] = Field(default_factory=list)
    refused: dict[str, str] = Field(default_factory=dict)
    failed: dict[str, str] = Field(default_factory=dict)
