"""Orders: create, read, list newest first, and state-machine status changes.

A limit order placed by ``TransactionManager.place_limit_order`` holds funds (a buy) or a
quantity (a sell): a ledger record whose id is the order's. Only a flow that releases
or settles that hold in the same transaction may end such an order, so a status change
through the DAO to a terminal status (or one that rewrites ``total_amount``, the amount
the hold is checked against) is made in a transaction that also checks the hold record
does not exist. A held order is refused; a race cannot slip between a check and the
write, because the check is part of the write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from cnop.data.codec import Item, format_timestamp
from cnop.data.config import TableNames
from cnop.data.core.common import (
    check_version,
    get_one,
    put_one,
    require_model,
    transact_retrying_conflicts,
)
from cnop.data.core.cursor import CursorCodec
from cnop.data.core.paging import Page, PartitionQuery, query_page
from cnop.data.core.requests import get_item, transact_condition, transact_update
from cnop.data.core.steps import Call, Operation
from cnop.data.enums import OrderStatus, allowed_previous_statuses
from cnop.data.errors import (
    CancellationReason,
    ConditionFailedHandler,
    TransactionCancelledHandler,
    reasons_to_exception,
)
from cnop.data.layout import (
    ORDER_MAPPER,
    ORDER_PREFIX,
    WAITING_ORDER_ATTRIBUTES,
    asset_transaction_key,
    balance_transaction_key,
    expiry_partition,
    order_key,
    pending_partition,
    price_rank,
    user_asset_partition,
    user_partition,
)
from cnop.data.models import Order
from cnop.data.types import utc_now
from cnop.data.validation import (
    check_text,
    validate_asset_id,
    validate_entity_id,
    validate_price,
    validate_username,
)
from cnop.exceptions import (
    CNOPException,
    CNOPInvalidStateTransitionException,
    CNOPOrderNotFoundException,
    CNOPValidationException,
    CNOPVersionConflictException,
)

__all__ = [
    "HOLD_ATTRIBUTE",
    "HOLD_FLOWS",
    "create_order",
    "expiring_orders",
    "get_order",
    "list_orders",
    "order_status_failed",
    "order_status_update",
    "update_order_status",
    "waiting_orders",
]


#: Written on a limit order's item by the flow that placed it (not a model field, so no DAO
#: writes it): the USD a buy holds, or the quantity a sell holds.
HOLD_ATTRIBUTE = "hold"

#: The flows that end a held order and resolve its hold in the same transaction.
HOLD_FLOWS = "TransactionManager.cancel_order (fill and expiry flows resolve holds too)"

#: How often a status change of an order read without ``expected_version`` is re-read
#: and re-tried when another request changed the order in between.
_STALE_READ_ATTEMPTS = 5


def _not_found(order_id: str) -> CNOPOrderNotFoundException:
    return CNOPOrderNotFoundException(
        f"Order '{order_id}' not found", details={"order_id": order_id}
    )


def create_order(tables: TableNames, order: Order) -> Operation[Order]:
    order = require_model(order, Order, "order")
    return (yield from put_one(tables.orders, order, ORDER_MAPPER, f"Order '{order.order_id}'"))


def get_order(tables: TableNames, order_id: str) -> Operation[Order]:
    oid = validate_entity_id(order_id, "order_id")
    return (
        yield from get_one(tables.orders, order_key(oid), ORDER_MAPPER, lambda: _not_found(oid))
    )


def list_orders(
    tables: TableNames,
    cursors: CursorCodec,
    username: str,
    *,
    asset_id: str | None = None,
    limit: int,
    cursor: str | None,
) -> Operation[Page[Order]]:
    """A user's orders newest first (gsi1), or of one asset (gsi2)."""
    name = validate_username(username)
    if asset_id is None:
        query = PartitionQuery(tables.orders, user_partition(name), ORDER_PREFIX, "gsi1")
    else:
        asset = validate_asset_id(asset_id)
        query = PartitionQuery(
            tables.orders, user_asset_partition(name, asset), ORDER_PREFIX, "gsi2"
        )
    return (yield from query_page(query, ORDER_MAPPER, cursors, limit=limit, cursor=cursor))


def order_status_update(
    table: str,
    order_id: str,
    new_status: OrderStatus,
    *,
    now: datetime,
    expected_version: int | None = None,
    reason: str | None = None,
    price: Decimal | None = None,
    total_amount: Decimal | None = None,
    pinned: Order | None = None,
    hold: Decimal | None = None,
) -> dict[str, Any]:
    """UpdateItem parameters moving an order to ``new_status`` only from a status that allows it.

    With ``hold`` the order must carry exactly that hold (``HOLD_ATTRIBUTE``, written only
    by the flow that placed it), so nothing but a placed limit order releases funds.

    The condition lists the allowed previous statuses, so the state machine is enforced
    by the database in one request, even against concurrent changes. With ``pinned``
    (the order as read) the order must also still have that owner and type.
    """
    previous = sorted(s.value for s in allowed_previous_statuses(new_status))
    if not previous:
        raise CNOPInvalidStateTransitionException(
            f"No order can move to {new_status.value}", details={"to": new_status.value}
        )
    names = {"#status": "status", "#version": "version"}
    values: dict[str, Any] = {
        ":new": {"S": new_status.value},
        ":one": {"N": "1"},
        ":now": {"S": format_timestamp(now)},
    }
    placeholders = []
    for i, status in enumerate(previous):
        values[f":from{i}"] = {"S": status}
        placeholders.append(f":from{i}")
    sets = ["#status = :new", "#version = #version + :one", "updated_at = :now"]
    for attr, value in (
        ("status_reason", reason),
        ("price", price),
        ("total_amount", total_amount),
    ):
        if value is not None:
            values[f":{attr}"] = {"S": value} if isinstance(value, str) else {"N": str(value)}
            sets.append(f"{attr} = :{attr}")
    update = "SET " + ", ".join(sets)
    if new_status is not OrderStatus.QUEUED:
        # No longer waiting: out of the matching and expiry indexes.
        update += " REMOVE " + ", ".join(WAITING_ORDER_ATTRIBUTES)
    condition = f"attribute_exists(pk) AND #status IN ({', '.join(placeholders)})"
    if pinned is not None:
        # What was read must still be this order: its owner and type decide which hold
        # record the transaction checks.
        names.update({"#username": "username", "#order_type": "order_type"})
        values[":username"] = {"S": pinned.username}
        values[":order_type"] = {"S": pinned.order_type.value}
        condition += " AND #username = :username AND #order_type = :order_type"
        # And what a flow computes the money it moves from (a sweep plans from the copy
        # its index query returned, without reading the order again).
        names.update({"#asset_id": "asset_id", "#quantity": "quantity"})
        values[":asset_id"] = {"S": pinned.asset_id}
        values[":quantity"] = {"N": str(pinned.quantity)}
        condition += " AND #asset_id = :asset_id AND #quantity = :quantity"
        for attr, pinned_value in (
            ("limit_price", pinned.limit_price),
            ("expires_at", pinned.expires_at),
        ):
            names[f"#{attr}"] = attr
            if pinned_value is None:
                condition += f" AND attribute_not_exists(#{attr})"
            else:
                values[f":{attr}"] = (
                    {"S": format_timestamp(pinned_value)}
                    if isinstance(pinned_value, datetime)
                    else {"N": str(pinned_value)}
                )
                condition += f" AND #{attr} = :{attr}"
    if hold is not None:
        names["#hold"] = HOLD_ATTRIBUTE
        values[":hold"] = {"N": str(hold)}
        condition += " AND #hold = :hold"
    if expected_version is not None:
        condition += " AND #version = :expected"
        values[":expected"] = {"N": str(expected_version)}
    return {
        "TableName": table,
        "Key": order_key(order_id),
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


#: Sorts after every order id, so a bound ``<rank>#~`` includes the orders at that rank.
_AFTER_IDS = "~"


def _index_page(
    tables: TableNames,
    index: str,
    condition: str,
    values: dict[str, Any],
    *,
    limit: int,
    start: Item | None,
) -> Operation[tuple[list[Order], Item | None]]:
    """One page of orders from a Query on ``index``, oldest (or best) first."""
    params: dict[str, Any] = {
        "TableName": tables.orders,
        "IndexName": index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": True,
        "Limit": limit,
    }
    if start is not None:
        params["ExclusiveStartKey"] = start
    reply = yield Call("query", params, tables.orders)
    orders = [ORDER_MAPPER.from_item(item) for item in reply.get("Items", [])]
    return orders, reply.get("LastEvaluatedKey")


def waiting_orders(
    tables: TableNames,
    asset_id: str,
    *,
    buy: bool,
    price: Decimal,
    limit: int,
    start: Item | None = None,
) -> Operation[tuple[list[Order], Item | None]]:
    """Waiting limit buys (or sells) of ``asset_id`` that ``price`` may cross, best limit first.

    One Query on gsi3 (no filter): buys with a limit at or above ``price``, sells at or
    below it; within one limit, oldest first. The index is eventually consistent: a
    matcher re-reads each order before it fills it. Returns the page and the key to
    continue from (None at the end).
    """
    values = {
        ":p": {"S": pending_partition(asset_id, buy)},
        ":bound": {"S": f"{price_rank(price, buy)}#{_AFTER_IDS}"},
    }
    return (
        yield from _index_page(
            tables, "gsi3", "gsi3pk = :p AND gsi3sk <= :bound", values, limit=limit, start=start
        )
    )


def expiring_orders(
    tables: TableNames, shard: int, now: datetime, *, limit: int, start: Item | None = None
) -> Operation[tuple[list[Order], Item | None]]:
    """Waiting orders of one gsi4 shard whose ``expires_at`` is before ``now``, oldest first."""
    values = {":p": {"S": expiry_partition(shard)}, ":now": {"S": format_timestamp(now)}}
    return (
        yield from _index_page(
            tables, "gsi4", "gsi4pk = :p AND gsi4sk < :now", values, limit=limit, start=start
        )
    )


def order_status_failed(
    order_id: str, new_status: OrderStatus, expected_version: int | None
) -> ConditionFailedHandler:
    """The handler that explains a failed status change from the order's old item."""

    def explain(old: Item | None) -> CNOPException:
        if not old:
            return _not_found(order_id)
        current = OrderStatus(old["status"]["S"])
        if current not in allowed_previous_statuses(new_status):
            return CNOPInvalidStateTransitionException(
                f"Order '{order_id}' cannot move from {current.value} to {new_status.value}",
                details={"from": current.value, "to": new_status.value},
            )
        return CNOPVersionConflictException(
            f"Order '{order_id}' was changed by another request (expected version "
            f"{expected_version}); reload it and retry",
            details={"expected_version": expected_version},
        )

    return explain


def update_order_status(
    tables: TableNames,
    order_id: str,
    new_status: OrderStatus | str,
    *,
    expected_version: int | None = None,
    reason: str | None = None,
    price: Decimal | None = None,
    total_amount: Decimal | None = None,
) -> Operation[Order]:
    """Move an order to ``new_status`` if the state machine allows it; returns the new order."""
    oid = validate_entity_id(order_id, "order_id")
    try:
        status = OrderStatus(new_status)
    except ValueError:
        raise CNOPValidationException.for_field("status", "is not an order status") from None
    version = None if expected_version is None else check_version(expected_version)
    if reason is not None:
        try:
            reason = check_text(reason, "reason", 1000)
        except ValueError as exc:
            raise CNOPValidationException.for_field("reason", str(exc)) from None
    price = None if price is None else validate_price(price, "price")
    total_amount = None if total_amount is None else validate_price(total_amount, "total_amount")
    change = _StatusChange(
        tables=tables,
        order_id=oid,
        status=status,
        expected_version=version,
        reason=reason,
        price=price,
        total_amount=total_amount,
    )
    if not (status.is_terminal or total_amount is not None):
        # Neither ends the order nor touches what a hold is checked against; still, an
        # order that holds funds moves only through the flows (even to triggered, which
        # would take it out of the matching and expiry indexes).
        params = change.params(expected_version=version)
        params["ConditionExpression"] += " AND attribute_not_exists(#hold)"
        params["ExpressionAttributeNames"]["#hold"] = HOLD_ATTRIBUTE
        failed = order_status_failed(oid, status, version)

        def explain(old: Item | None) -> CNOPException:
            if old and HOLD_ATTRIBUTE in old:
                return held_order(oid, status)
            return failed(old)

        reply = yield Call("update_item", params, tables.orders, on_condition_failed=explain)
        return ORDER_MAPPER.from_item(reply["Attributes"])
    return (yield from _change_unheld(change))


def held_order(order_id: str, new_status: OrderStatus) -> CNOPInvalidStateTransitionException:
    """The refusal of a DAO status change that would strand an order's hold."""
    return CNOPInvalidStateTransitionException(
        f"Order '{order_id}' holds funds or assets for its limit order: moving it to "
        f"{new_status.value} (or changing its total_amount) here would keep them held for "
        f"good; end it with {HOLD_FLOWS}, which release the hold in the same transaction",
        details={"order_id": order_id, "to": new_status.value, "held": True},
    )


@dataclass(frozen=True, kw_only=True)
class _StatusChange:
    """One requested status change, checked; builds its UpdateItem for a given read."""

    tables: TableNames
    order_id: str
    status: OrderStatus
    expected_version: int | None
    reason: str | None
    price: Decimal | None
    total_amount: Decimal | None
    now: datetime = field(default_factory=utc_now)

    def params(self, *, expected_version: int | None, pinned: Order | None = None) -> Any:
        return order_status_update(
            self.tables.orders,
            self.order_id,
            self.status,
            now=self.now,
            expected_version=expected_version,
            reason=self.reason,
            price=self.price,
            total_amount=self.total_amount,
            pinned=pinned,
        )

    def applied_to(self, order: Order) -> Order:
        changed: dict[str, Any] = {
            "status": self.status,
            "version": order.version + 1,
            "updated_at": self.now,
        }
        for name in ("reason", "price", "total_amount"):
            value = getattr(self, name)
            if value is not None:
                changed["status_reason" if name == "reason" else name] = value
        return Order.model_validate({**order.model_dump(), **changed})


def _hold_check(tables: TableNames, order: Order) -> dict[str, Any]:
    """A ConditionCheck that the order holds nothing: the hold's ledger id is the order's."""
    if order.order_type.is_buy:
        table, key = tables.users, balance_transaction_key(order.username, order.order_id)
    else:
        table, key = tables.orders, asset_transaction_key(order.username, order.order_id)
    return transact_condition(table, key, "attribute_not_exists(pk)")


def _change_unheld(change: _StatusChange) -> Operation[Order]:
    """End (or re-price) an order: directly for a market order, in a transaction that
    checks no hold exists for a limit order. Without an expected version the write is
    pinned to the version read, so the returned order is exactly what was written."""
    tables, oid, status = change.tables, change.order_id, change.status
    attempt = 0
    while True:
        attempt += 1
        reply = yield Call(
            "get_item", get_item(tables.orders, order_key(oid), consistent=True), tables.orders
        )
        if not reply.get("Item"):
            raise _not_found(oid)
        order = ORDER_MAPPER.from_item(reply["Item"])
        version = order.version if change.expected_version is None else change.expected_version
        on_failed = order_status_failed(oid, status, version)
        params = change.params(expected_version=version, pinned=order)
        try:
            if not order.order_type.is_limit:
                written = yield Call(
                    "update_item", params, tables.orders, on_condition_failed=on_failed
                )
                return ORDER_MAPPER.from_item(written["Attributes"])
            items = [transact_update(params), _hold_check(tables, order)]
            yield from transact_retrying_conflicts(
                Call(
                    "transact_write_items",
                    {"TransactItems": items, "ClientRequestToken": _content_token(items)},
                    tables.orders,
                    on_cancelled=_explain_held(oid, status, on_failed),
                )
            )
        except CNOPVersionConflictException:
            # Changed between the read and the write: a caller who named no version
            # asked for "whatever it is now", so read again.
            if change.expected_version is not None or attempt >= _STALE_READ_ATTEMPTS:
                raise
            continue
        return change.applied_to(order)


def _content_token(items: list[dict[str, Any]]) -> str:
    """A ClientRequestToken derived from the transaction's contents (which include the
    version read and the time of the change): a resend after a lost reply is answered as
    done by DynamoDB instead of failing on the version its first copy already moved."""
    canonical = json.dumps(items, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:36]


def _explain_held(
    order_id: str, status: OrderStatus, on_failed: ConditionFailedHandler
) -> TransactionCancelledHandler:
    def explain(reasons: Sequence[CancellationReason]) -> CNOPException:
        return reasons_to_exception(
            reasons, {0: on_failed, 1: lambda _old: held_order(order_id, status)}
        )

    return explain
