"""Orders: create, read, list newest first, and state-machine status changes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from cnop.data.codec import Item, format_timestamp
from cnop.data.config import TableNames
from cnop.data.core.common import check_version, get_one, put_one, require_model
from cnop.data.core.cursor import CursorCodec
from cnop.data.core.paging import Page, PartitionQuery, query_page
from cnop.data.core.steps import Call, Operation
from cnop.data.enums import OrderStatus, allowed_previous_statuses
from cnop.data.errors import ConditionFailedHandler
from cnop.data.layout import (
    ORDER_MAPPER,
    ORDER_PREFIX,
    order_key,
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
    "create_order",
    "get_order",
    "list_orders",
    "order_status_failed",
    "order_status_update",
    "update_order_status",
]


def _not_found(order_id: str) -> CNOPOrderNotFoundException:
    return CNOPOrderNotFoundException(
        f"Order '{order_id}' not found", details={"order_id": order_id}
    )


def create_order(tables: TableNames, order: Order) -> Operation[Order]:
    require_model(order, Order, "order")
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
) -> dict[str, Any]:
    """UpdateItem parameters moving an order to ``new_status`` only from a status that allows it.

    The condition lists the allowed previous statuses, so the state machine is enforced
    by the database in one request, even against concurrent changes.
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
    condition = f"attribute_exists(pk) AND #status IN ({', '.join(placeholders)})"
    if expected_version is not None:
        condition += " AND #version = :expected"
        values[":expected"] = {"N": str(expected_version)}
    return {
        "TableName": table,
        "Key": order_key(order_id),
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


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
    params = order_status_update(
        tables.orders,
        oid,
        status,
        now=utc_now(),
        expected_version=version,
        reason=reason,
        price=price,
        total_amount=total_amount,
    )
    reply = yield Call(
        "update_item",
        params,
        tables.orders,
        on_condition_failed=order_status_failed(oid, status, version),
    )
    return ORDER_MAPPER.from_item(reply["Attributes"])
