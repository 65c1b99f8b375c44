"""Pure planning of each flow: from what was read, the one TransactWriteItems to send.

A plan holds the transaction items, how to explain each item's failed condition, and
the result the flow has once the transaction commits. Balances and holdings are never
read: each change is an ``ADD`` conditioned on what the change itself needs (the item
exists; a debit leaves it at zero or more), so flows of one user that do not overdraw
commit side by side, none re-reading or planning again because another one committed
first. A refusal names the value the database had when the condition failed.

What a plan still depends on is conditioned exactly: a market order's price (unchanged,
or the flow reads and plans again), a waiting order's version and hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cnop.data.codec import Item
from cnop.data.config import TableNames
from cnop.data.core.orders import HOLD_ATTRIBUTE, order_status_failed, order_status_update
from cnop.data.core.requests import (
    asset_balance_change,
    balance_change,
    transact_condition,
    transact_put_new,
    transact_update,
)
from cnop.data.enums import (
    AssetTransactionType,
    OrderStatus,
    OrderType,
    TransactionType,
    check_transition,
)
from cnop.data.errors import ConditionFailedHandler
from cnop.data.layout import (
    ASSET_TRANSACTION_MAPPER,
    BALANCE_TRANSACTION_MAPPER,
    DAILY_PREFIX,
    ORDER_MAPPER,
    asset_key,
    asset_transaction_key,
    balance_transaction_key,
    key,
    user_key,
    user_partition,
)
from cnop.data.models import (
    Asset,
    AssetTransaction,
    BalanceTransaction,
    Order,
    OrderCreate,
)
from cnop.data.transactions.limits import FlowLimits, order_cost, sale_proceeds
from cnop.data.transactions.results import FlowResult, FlowType
from cnop.data.transactions.snapshot import Snapshot
from cnop.exceptions import (
    CNOPAssetInactiveException,
    CNOPAssetNotFoundException,
    CNOPException,
    CNOPInsufficientAssetBalanceException,
    CNOPInsufficientBalanceException,
    CNOPInternalServerException,
    CNOPInvalidStateTransitionException,
    CNOPLimitExceededException,
    CNOPUserInactiveException,
    CNOPUserNotFoundException,
    CNOPValidationException,
    CNOPVersionConflictException,
)

__all__ = [
    "Plan",
    "plan_adjust",
    "plan_buy",
    "plan_cancel",
    "plan_cash",
    "plan_expire",
    "plan_fill",
    "plan_limit_order",
    "plan_sell",
]

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass
class Plan:
    """The items of one TransactWriteItems, their failure handlers, and the result."""

    items: list[dict[str, Any]] = field(default_factory=list)
    handlers: dict[int, ConditionFailedHandler] = field(default_factory=dict)
    result: FlowResult | None = None

    def add(self, item: dict[str, Any], on_failed: ConditionFailedHandler | None = None) -> None:
        if on_failed is not None:
            self.handlers[len(self.items)] = on_failed
        self.items.append(item)

    def outcome(self) -> FlowResult:
        """The result the flow has once this plan commits."""
        if self.result is None:
            raise CNOPInternalServerException("A flow plan was made without its result")
        return self.result


# --- errors -------------------------------------------------------------------------


def user_not_found(username: str) -> CNOPUserNotFoundException:
    return CNOPUserNotFoundException(f"User '{username}' not found", details={"username": username})


def asset_not_found(asset_id: str) -> CNOPAssetNotFoundException:
    return CNOPAssetNotFoundException(
        f"Asset '{asset_id}' not found", details={"asset_id": asset_id}
    )


def asset_inactive(asset_id: str) -> CNOPAssetInactiveException:
    return CNOPAssetInactiveException(
        f"Asset '{asset_id}' is not active for trading", details={"asset_id": asset_id}
    )


def insufficient_balance(needed: Decimal, available: Decimal) -> CNOPInsufficientBalanceException:
    return CNOPInsufficientBalanceException(
        f"Insufficient balance: {needed} USD needed, {available} USD available",
        details={"needed": str(needed), "available": str(available)},
    )


def insufficient_holding(
    asset_id: str, needed: Decimal, held: Decimal
) -> CNOPInsufficientAssetBalanceException:
    return CNOPInsufficientAssetBalanceException(
        f"Insufficient {asset_id}: {needed} needed, {held} held",
        details={"asset_id": asset_id, "needed": str(needed), "held": str(held)},
    )


def changed_meanwhile(what: str) -> CNOPVersionConflictException:
    return CNOPVersionConflictException(
        f"{what} was changed by another request while this one ran; retry",
        details={"conflict": what},
    )


def _number(old: Item, name: str) -> Decimal:
    raw = old.get(name, {}).get("N")
    return Decimal(raw) if raw is not None else ZERO


# --- condition failure handlers ------------------------------------------------------


def user_inactive(username: str) -> CNOPUserInactiveException:
    return CNOPUserInactiveException(
        f"User '{username}' is deactivated and cannot move money or trade",
        details={"username": username},
    )


def _on_user(username: str) -> ConditionFailedHandler:
    def explain(old: Item | None) -> CNOPException:
        return user_inactive(username) if old else user_not_found(username)

    return explain


def _on_balance(username: str, needed: Decimal | None) -> ConditionFailedHandler:
    # The item as it was when the condition failed: the balance the refusal names is the
    # one the database had, not one read earlier.
    def explain(old: Item | None) -> CNOPException:
        if not old:
            return user_not_found(username)
        return insufficient_balance(needed or ZERO, _number(old, "balance"))

    return explain


def _on_asset(asset_id: str) -> ConditionFailedHandler:
    def explain(old: Item | None) -> CNOPException:
        if not old:
            return asset_not_found(asset_id)
        if not old.get("is_active", {}).get("BOOL", False):
            return asset_inactive(asset_id)
        return changed_meanwhile(f"The price of '{asset_id}'")

    return explain


def _on_holding(username: str, asset_id: str, needed: Decimal) -> ConditionFailedHandler:
    def explain(old: Item | None) -> CNOPException:
        return insufficient_holding(asset_id, needed, _number(old or {}, "quantity"))

    return explain


# --- shared checks and items ---------------------------------------------------------


def _active_asset(snapshot: Snapshot, asset_id: str) -> Asset:
    if snapshot.asset is None:
        raise asset_not_found(asset_id)
    if not snapshot.asset.is_active:
        raise asset_inactive(asset_id)
    return snapshot.asset


def _read_order(snapshot: Snapshot) -> Order:
    if snapshot.order is None:
        raise CNOPInternalServerException("A flow on an order was planned without reading it")
    return snapshot.order


def _check_user(plan: Plan, tables: TableNames, username: str) -> None:
    """The user must exist and be active when the transaction commits (not just when read)."""
    plan.add(
        transact_condition(
            tables.users,
            user_key(username),
            "attribute_exists(pk) AND is_active = :active",
            values={":active": {"BOOL": True}},
        ),
        _on_user(username),
    )


def _check_user_exists(plan: Plan, tables: TableNames, username: str) -> None:
    """The user must exist (active or not: an operator corrects a deactivated user's money)."""
    plan.add(
        transact_condition(tables.users, user_key(username), "attribute_exists(pk)"),
        lambda _old: user_not_found(username),
    )


def _check_asset(
    plan: Plan, tables: TableNames, asset_id: str, *, price: Decimal | None = None
) -> None:
    """The asset must exist and be active (and, when trading at ``price``, still cost that)."""
    condition = "attribute_exists(pk) AND is_active = :active"
    values: dict[str, Any] = {":active": {"BOOL": True}}
    if price is not None:
        # The price itself, not the asset's version: a change of its name or category does
        # not make a trade at an unchanged price plan again.
        condition += " AND price_usd = :price"
        values[":price"] = {"N": str(price)}
    plan.add(
        transact_condition(tables.inventory, asset_key(asset_id), condition, values=values),
        _on_asset(asset_id),
    )


def _change_balance(
    plan: Plan, tables: TableNames, username: str, delta: Decimal, now: datetime
) -> None:
    """ADD ``delta`` to the balance: a debit is conditioned on ``balance >= -delta``."""
    plan.add(
        balance_change(tables.users, username, delta, now=now),
        _on_balance(username, -delta if delta < 0 else None),
    )


def _change_holding(
    plan: Plan,
    tables: TableNames,
    username: str,
    asset_id: str,
    *,
    delta: Decimal,
    now: datetime,
) -> None:
    """ADD ``delta`` to the holding: a debit is conditioned on ``quantity >= -delta``."""
    plan.add(
        asset_balance_change(tables.orders, username, asset_id, delta, now=now),
        _on_holding(username, asset_id, -delta) if delta < 0 else None,
    )


def _put(plan: Plan, table: str, item: Item) -> None:
    plan.add(transact_put_new(table, item))


def _ledger(plan: Plan, tables: TableNames, record: BalanceTransaction) -> BalanceTransaction:
    _put(plan, tables.users, BALANCE_TRANSACTION_MAPPER.to_item(record))
    return record


def _asset_ledger(plan: Plan, tables: TableNames, record: AssetTransaction) -> AssetTransaction:
    _put(plan, tables.orders, ASSET_TRANSACTION_MAPPER.to_item(record))
    return record


# --- the flows ------------------------------------------------------------------------


def _daily_limit(
    plan: Plan,
    tables: TableNames,
    username: str,
    flow: FlowType,
    *,
    amount: Decimal,
    cap: Decimal,
    now: datetime,
) -> None:
    """Count ``amount`` against the user's cap for today (UTC), in the same transaction."""
    if amount > cap:
        raise limit_exceeded(flow, cap, cap)
    day = now.date().isoformat()
    room = cap - amount
    plan.add(
        transact_update(
            {
                "TableName": tables.users,
                "Key": key(user_partition(username), f"{DAILY_PREFIX}{flow.value}#{day}"),
                "UpdateExpression": "ADD #total :amount SET expires_at = :expires",
                "ConditionExpression": "attribute_not_exists(#total) OR #total <= :room",
                "ExpressionAttributeNames": {"#total": "total"},
                "ExpressionAttributeValues": {
                    ":amount": {"N": str(amount)},
                    ":room": {"N": str(room)},
                    # Kept two days, then DynamoDB's TTL removes it.
                    ":expires": {"N": str(int((now + timedelta(days=2)).timestamp()))},
                },
            }
        ),
        lambda old: limit_exceeded(flow, cap, cap - _number(old or {}, "total")),
    )


def limit_exceeded(flow: FlowType, cap: Decimal, left: Decimal) -> CNOPLimitExceededException:
    left = max(left, ZERO)
    return CNOPLimitExceededException(
        f"Daily {flow.value} limit of {cap} USD reached: {left} USD left today (UTC)",
        details={"limit": f"daily_{flow.value}", "cap": str(cap), "left": str(left)},
    )


def plan_cash(
    tables: TableNames,
    flow: FlowType,
    username: str,
    amount: Decimal,
    *,
    now: datetime,
    limits: FlowLimits | None = None,
    description: str | None = None,
    external_reference: str | None = None,
) -> Plan:
    """A deposit (``amount`` credited) or a withdrawal (debited, never below zero).

    ``description`` and ``external_reference`` (e.g. a payment provider's id) are stored on the
    ledger record; the daily caps of ``limits`` are counted in the same transaction.
    """
    deposit = flow is FlowType.DEPOSIT
    delta = amount if deposit else -amount
    plan = Plan()
    _check_user(plan, tables, username)
    _change_balance(plan, tables, username, delta, now)
    cap = None
    if limits is not None:
        cap = limits.daily_deposit if deposit else limits.daily_withdraw
    if cap is not None:
        _daily_limit(plan, tables, username, flow, amount=amount, cap=cap, now=now)
    record = _ledger(
        plan,
        tables,
        BalanceTransaction(
            username=username,
            transaction_type=TransactionType.DEPOSIT if deposit else TransactionType.WITHDRAW,
            amount=delta,
            description=description or ("Deposit" if deposit else "Withdrawal"),
            external_reference=external_reference,
            created_at=now,
        ),
    )
    plan.result = FlowResult(
        flow=flow,
        username=username,
        amount=delta,
        balance_transaction=record,
        committed_at=now,
    )
    return plan


def plan_adjust(
    tables: TableNames,
    username: str,
    *,
    amount: Decimal | None,
    asset_id: str | None,
    quantity: Decimal | None,
    reason: str,
    operator: str,
    snapshot: Snapshot,
    now: datetime,
) -> Plan:
    """An operator's correction: a signed change of the USD balance or of one holding.

    A new ledger record of type ``system_adjustment`` (records are never edited), with the
    reason and the operator in its description; never below zero.
    """
    plan = Plan()
    what = f"Adjustment by {operator}: {reason}"
    result: dict[str, Any] = {"amount": ZERO}
    _check_user_exists(plan, tables, username)
    if amount is not None:
        result["amount"] = amount
        _change_balance(plan, tables, username, amount, now)
        result["balance_transaction"] = _ledger(
            plan,
            tables,
            BalanceTransaction(
                username=username,
                transaction_type=TransactionType.SYSTEM_ADJUSTMENT,
                amount=amount,
                description=what,
                created_at=now,
            ),
        )
    else:
        if asset_id is None or quantity is None:
            raise CNOPValidationException.for_field("quantity", "needs asset_id and quantity")
        result["asset_id"], result["quantity"] = asset_id, quantity
        _change_holding(plan, tables, username, asset_id, delta=quantity, now=now)
        # The asset ledger records the price the holding had when it was corrected.
        price = snapshot.asset.price_usd if snapshot.asset is not None else ZERO
        result["asset_transaction"] = _asset_ledger(
            plan,
            tables,
            AssetTransaction(
                username=username,
                asset_id=asset_id,
                transaction_type=AssetTransactionType.SYSTEM_ADJUSTMENT,
                quantity=quantity,
                price_usd=price,
                created_at=now,
            ),
        )
    plan.result = FlowResult(flow=FlowType.ADJUST, username=username, committed_at=now, **result)
    return plan


def _plan_market(
    tables: TableNames,
    limits: FlowLimits,
    username: str,
    asset_id: str,
    quantity: Decimal,
    *,
    snapshot: Snapshot,
    now: datetime,
    buy: bool,
) -> Plan:
    plan = Plan()
    asset = _active_asset(snapshot, asset_id)
    price = asset.price_usd
    if buy:
        usd = limits.check_amount(order_cost(quantity, price), "cost")
    else:
        usd = limits.check_amount(sale_proceeds(quantity, price), "proceeds")
    usd_delta, qty_delta = (-usd, quantity) if buy else (usd, -quantity)
    order = Order(
        username=username,
        order_type=OrderType.MARKET_BUY if buy else OrderType.MARKET_SELL,
        asset_id=asset_id,
        quantity=quantity,
        price=price,
        total_amount=usd,
        # The whole fill is this one transaction: the order is born completed.
        status=OrderStatus.COMPLETED,
        created_at=now,
        updated_at=now,
    )
    _check_user(plan, tables, username)
    _check_asset(plan, tables, asset_id, price=price)
    _change_balance(plan, tables, username, usd_delta, now)
    _change_holding(plan, tables, username, asset_id, delta=qty_delta, now=now)
    _put(plan, tables.orders, ORDER_MAPPER.to_item(order))
    verb = "Buy" if buy else "Sell"
    record = _ledger(
        plan,
        tables,
        BalanceTransaction(
            username=username,
            transaction_type=TransactionType.ORDER_PAYMENT if buy else TransactionType.ORDER_SALE,
            amount=usd_delta,
            description=f"{verb} {quantity} {asset_id} at {price} USD",
            reference_id=order.order_id,
            created_at=now,
        ),
    )
    asset_record = _asset_ledger(
        plan,
        tables,
        AssetTransaction(
            username=username,
            asset_id=asset_id,
            transaction_type=AssetTransactionType.BUY if buy else AssetTransactionType.SELL,
            quantity=qty_delta,
            price_usd=price,
            order_id=order.order_id,
            created_at=now,
        ),
    )
    plan.result = FlowResult(
        flow=FlowType.BUY if buy else FlowType.SELL,
        username=username,
        amount=usd_delta,
        asset_id=asset_id,
        quantity=qty_delta,
        price=price,
        order=order,
        balance_transaction=record,
        asset_transaction=asset_record,
        committed_at=now,
    )
    return plan


def plan_buy(
    tables: TableNames,
    limits: FlowLimits,
    username: str,
    asset_id: str,
    quantity: Decimal,
    *,
    snapshot: Snapshot,
    now: datetime,
) -> Plan:
    """A market buy at the asset's current price: pay ``quantity x price``, receive the asset."""
    return _plan_market(
        tables, limits, username, asset_id, quantity, snapshot=snapshot, now=now, buy=True
    )


def plan_sell(
    tables: TableNames,
    limits: FlowLimits,
    username: str,
    asset_id: str,
    quantity: Decimal,
    *,
    snapshot: Snapshot,
    now: datetime,
) -> Plan:
    """A market sell at the asset's current price: give the asset, receive the proceeds."""
    return _plan_market(
        tables, limits, username, asset_id, quantity, snapshot=snapshot, now=now, buy=False
    )


def plan_limit_order(
    tables: TableNames,
    limits: FlowLimits,
    username: str,
    request: OrderCreate,
    *,
    now: datetime,
) -> Plan:
    """Place a limit order (status ``queued``) and hold what it needs, atomically.

    A limit buy holds ``quantity x limit_price`` USD (debited, ledger ``order_payment``);
    a limit sell holds the quantity (debited, asset ledger ``sell``).
    """
    plan = Plan()
    asset_id = request.asset_id
    limit_price = request.limit_price or ZERO
    buy = request.order_type.is_buy
    if request.expires_at is not None and request.expires_at <= now:
        raise CNOPValidationException.for_field(
            "expires_at", "has passed: the order would never fill"
        )
    usd = order_cost(request.quantity, limit_price) if buy else ZERO
    if buy:
        limits.check_amount(usd, "cost")
    else:
        # A sale no fill could settle would hold the quantity for nothing.
        limits.check_amount(sale_proceeds(request.quantity, limit_price), "proceeds")
    order = Order(
        username=username,
        order_type=request.order_type,
        asset_id=asset_id,
        quantity=request.quantity,
        limit_price=limit_price,
        expires_at=request.expires_at,
        total_amount=usd if buy else sale_proceeds(request.quantity, limit_price),
        status=OrderStatus.QUEUED,
        created_at=now,
        updated_at=now,
    )
    _check_user(plan, tables, username)
    _check_asset(plan, tables, asset_id)
    placed = ORDER_MAPPER.to_item(order)
    # The hold lives on the order too: only this flow writes it, and every flow that
    # ends the order releases exactly it (a ledger record alone could be forged).
    placed[HOLD_ATTRIBUTE] = {"N": str(usd if buy else request.quantity)}
    _put(plan, tables.orders, placed)
    result: dict[str, Any] = {"amount": ZERO}
    what = f"{request.quantity} {asset_id} at {limit_price} USD"
    if buy:
        _change_balance(plan, tables, username, -usd, now)
        result["amount"] = -usd
        result["balance_transaction"] = _ledger(
            plan,
            tables,
            BalanceTransaction(
                # The hold's id is the order's: a cancel checks that this very hold exists.
                transaction_id=order.order_id,
                username=username,
                transaction_type=TransactionType.ORDER_PAYMENT,
                amount=-usd,
                description=f"Held for limit buy of {what}",
                reference_id=order.order_id,
                created_at=now,
            ),
        )
    else:
        _change_holding(plan, tables, username, asset_id, delta=-request.quantity, now=now)
        result["quantity"] = -request.quantity
        result["asset_transaction"] = _asset_ledger(
            plan,
            tables,
            AssetTransaction(
                transaction_id=order.order_id,  # the hold's id is the order's (see above)
                username=username,
                asset_id=asset_id,
                transaction_type=AssetTransactionType.SELL,
                quantity=-request.quantity,
                price_usd=limit_price,
                order_id=order.order_id,
                created_at=now,
            ),
        )
    plan.result = FlowResult(
        flow=FlowType.LIMIT_ORDER,
        username=username,
        asset_id=asset_id,
        price=limit_price,
        order=order,
        committed_at=now,
        **result,
    )
    return plan


def _nothing_held(order_id: str) -> ConditionFailedHandler:
    return lambda _old: CNOPValidationException.for_field(
        "order_id",
        f"'{order_id}' holds nothing to release (it was not placed with place_limit_order)",
    )


def _check_hold(plan: Plan, tables: TableNames, order: Order) -> None:
    """The order's hold must exist and be what a cancel releases (never release unheld funds)."""
    if order.order_type.is_buy:
        if order.total_amount is None:
            raise _nothing_held(order.order_id)(None)
        table = tables.users
        hold_key = balance_transaction_key(order.username, order.order_id)
        attribute, held = "amount", -order.total_amount
    else:
        table = tables.orders
        hold_key = asset_transaction_key(order.username, order.order_id)
        attribute, held = "quantity", -order.quantity
    plan.add(
        transact_condition(
            table,
            hold_key,
            "attribute_exists(pk) AND #held = :held",
            names={"#held": attribute},
            values={":held": {"N": str(held)}},
        ),
        _nothing_held(order.order_id),
    )


def plan_cancel(tables: TableNames, username: str, *, snapshot: Snapshot, now: datetime) -> Plan:
    """Cancel a queued limit order of an active user and release what it held, atomically."""
    return _plan_release(
        tables,
        _read_order(snapshot),
        OrderStatus.CANCELLED,
        "Cancelled by the user",
        now=now,
        flow=FlowType.CANCEL_ORDER,
        check_user=username,
    )


def plan_expire(tables: TableNames, *, snapshot: Snapshot, now: datetime) -> Plan:
    """Expire a waiting limit order past its ``expires_at`` and release its hold, atomically."""
    order = _read_order(snapshot)
    if order.expires_at is None or order.expires_at > now:
        raise CNOPValidationException.for_field(
            "order_id", f"'{order.order_id}' has not expired (expires_at is later or unset)"
        )
    return _plan_release(
        tables,
        order,
        OrderStatus.EXPIRED,
        "Expired",
        now=now,
        flow=FlowType.EXPIRE_ORDER,
    )


def _order_moved(
    plan: Plan,
    tables: TableNames,
    order: Order,
    status: OrderStatus,
    now: datetime,
    *,
    reason: str,
    price: Decimal | None = None,
) -> Order:
    """Add the order's status change (from the version read) and return the changed order."""
    if not order.order_type.is_limit:
        raise CNOPValidationException.for_field(
            "order_id", "is a market order; only limit orders wait and hold funds"
        )
    check_transition(order.status, status)
    held = (order.total_amount or ZERO) if order.order_type.is_buy else order.quantity
    moved = order_status_failed(order.order_id, status, order.version)

    def explain(old: Item | None) -> CNOPException:
        if old and old.get(HOLD_ATTRIBUTE, {}).get("N") is None:
            return _nothing_held(order.order_id)(old)
        return moved(old)

    plan.add(
        transact_update(
            order_status_update(
                tables.orders,
                order.order_id,
                status,
                now=now,
                expected_version=order.version,
                reason=reason,
                price=price,
                pinned=order,
                hold=held,
            )
        ),
        explain,
    )
    changes: dict[str, Any] = {
        "status": status,
        "status_reason": reason,
        "version": order.version + 1,
        "updated_at": now,
    }
    if price is not None:
        changes["price"] = price
    return order.model_copy(update=changes)


def _plan_release(
    tables: TableNames,
    order: Order,
    status: OrderStatus,
    reason: str,
    *,
    now: datetime,
    flow: FlowType,
    check_user: str | None = None,
) -> Plan:
    """End a waiting limit order (cancelled, expired) and credit back what it held.

    The order moves only from a status the state machine allows and only from the version
    that was read, and the hold record must exist with the amount released: whichever of
    a cancel, an expiry or a fill commits first wins, the others are refused.
    """
    username = order.username
    plan = Plan()
    if check_user is not None:
        _check_user(plan, tables, check_user)
    ended = _order_moved(plan, tables, order, status, now, reason=reason)
    result: dict[str, Any] = {"amount": ZERO}
    _check_hold(plan, tables, order)
    verb = "cancelled" if status is OrderStatus.CANCELLED else status.value
    if order.order_type.is_buy:
        # To the cent, as it was held (the stored number has lost its trailing zeros).
        released = (order.total_amount or ZERO).quantize(CENT)
        _change_balance(plan, tables, username, released, now)
        result["amount"] = released
        result["balance_transaction"] = _ledger(
            plan,
            tables,
            BalanceTransaction(
                username=username,
                transaction_type=TransactionType.SYSTEM_ADJUSTMENT,
                amount=released,
                description=f"Released: limit buy {verb}",
                reference_id=order.order_id,
                created_at=now,
            ),
        )
    else:
        _change_holding(plan, tables, username, order.asset_id, delta=order.quantity, now=now)
        result["quantity"] = order.quantity
        result["asset_transaction"] = _asset_ledger(
            plan,
            tables,
            AssetTransaction(
                username=username,
                asset_id=order.asset_id,
                transaction_type=AssetTransactionType.SYSTEM_ADJUSTMENT,
                quantity=order.quantity,
                price_usd=order.limit_price or ZERO,
                order_id=order.order_id,
                created_at=now,
            ),
        )
    plan.result = FlowResult(
        flow=flow,
        username=username,
        asset_id=order.asset_id,
        price=order.limit_price,
        order=ended,
        committed_at=now,
        **result,
    )
    return plan


def plan_fill(
    tables: TableNames,
    limits: FlowLimits,
    execution_price: Decimal,
    *,
    snapshot: Snapshot,
    now: datetime,
) -> Plan:
    """Fill a waiting limit order at ``execution_price``, exactly once, in one transaction.

    A buy (``execution_price <= limit``) pays ``quantity x execution_price`` (rounded up to
    the cent) out of its hold, credits the unused rest of the hold back and credits the
    asset; a sell (``execution_price >= limit``) delivers its held quantity and credits the
    proceeds (rounded down). The order becomes ``completed`` with ``price`` the execution
    price. A fill settles the hold even for a user deactivated since placing the order.
    """
    order = _read_order(snapshot)
    limit_price = order.limit_price or ZERO
    buy = order.order_type.is_buy
    if order.expires_at is not None and order.expires_at <= now:
        raise CNOPInvalidStateTransitionException(
            f"Order '{order.order_id}' expired at {order.expires_at.isoformat()}: it cannot fill",
            details={"order_id": order.order_id, "to": OrderStatus.COMPLETED.value},
        )
    if buy and execution_price > limit_price:
        raise CNOPValidationException.for_field(
            "price", f"{execution_price} is above the limit {limit_price} of this buy"
        )
    if not buy and execution_price < limit_price:
        raise CNOPValidationException.for_field(
            "price", f"{execution_price} is below the limit {limit_price} of this sell"
        )
    username = order.username
    plan = Plan()
    filled = _order_moved(
        plan,
        tables,
        order,
        OrderStatus.COMPLETED,
        now,
        reason=f"Filled at {execution_price} USD",
        price=execution_price,
    )
    _check_hold(plan, tables, order)
    what = f"{order.quantity} {order.asset_id} at {execution_price} USD"
    result: dict[str, Any] = {}
    if buy:
        held = order.total_amount or ZERO
        paid = limits.check_amount(order_cost(order.quantity, execution_price), "cost")
        unused = held - paid
        result["amount"] = unused
        if unused > 0:
            _change_balance(plan, tables, username, unused, now)
            result["balance_transaction"] = _ledger(
                plan,
                tables,
                BalanceTransaction(
                    username=username,
                    transaction_type=TransactionType.SYSTEM_ADJUSTMENT,
                    amount=unused,
                    description=f"Released: unused hold of limit buy of {what}",
                    reference_id=order.order_id,
                    created_at=now,
                ),
            )
        _change_holding(plan, tables, username, order.asset_id, delta=order.quantity, now=now)
        result["quantity"] = order.quantity
        result["asset_transaction"] = _asset_ledger(
            plan,
            tables,
            AssetTransaction(
                username=username,
                asset_id=order.asset_id,
                transaction_type=AssetTransactionType.BUY,
                quantity=order.quantity,
                price_usd=execution_price,
                order_id=order.order_id,
                created_at=now,
            ),
        )
    else:
        proceeds = limits.check_amount(sale_proceeds(order.quantity, execution_price), "proceeds")
        result["amount"] = proceeds
        _change_balance(plan, tables, username, proceeds, now)
        result["balance_transaction"] = _ledger(
            plan,
            tables,
            BalanceTransaction(
                username=username,
                transaction_type=TransactionType.ORDER_SALE,
                amount=proceeds,
                description=f"Limit sell of {what}",
                reference_id=order.order_id,
                created_at=now,
            ),
        )
    plan.result = FlowResult(
        flow=FlowType.FILL_ORDER,
        username=username,
        asset_id=order.asset_id,
        price=execution_price,
        order=filled,
        committed_at=now,
        **result,
    )
    return plan
