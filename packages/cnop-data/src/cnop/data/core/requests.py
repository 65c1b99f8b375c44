"""Pure builders of DynamoDB request parameters (low-level client format).

Single-item requests (``get_item``, ``put_new``...) return the keyword arguments of
the client method; ``transact_*`` builders return one element of a
``TransactWriteItems`` ``TransactItems`` list. A transaction manager composes its
atomic flows from these, e.g.::

    items = [
        transact_condition(tables.users, user_key(name), "attribute_exists(pk)"),
        balance_change(tables.users, name, Decimal("-25"), now=now),
        transact_put_new(tables.users, BALANCE_TRANSACTION_MAPPER.to_item(record)),
    ]
    client.transact_write_items(TransactItems=items, ClientRequestToken=key)
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from cnop.data.codec import AttributeValue, Item, format_timestamp
from cnop.data.layout import asset_balance_key, balance_key

__all__ = [
    "asset_balance_change",
    "balance_change",
    "get_item",
    "put_new",
    "transact_condition",
    "transact_put_new",
    "transact_update",
]

#: Every new item is written on this condition: a create never overwrites.
NOT_EXISTS = "attribute_not_exists(pk)"


def get_item(table: str, key: Item, *, consistent: bool = False) -> dict[str, Any]:
    """GetItem parameters (strongly consistent when ``consistent``)."""
    return {"TableName": table, "Key": key, "ConsistentRead": consistent}


def put_new(table: str, item: Item) -> dict[str, Any]:
    """PutItem parameters that fail if an item with the same key exists."""
    return {
        "TableName": table,
        "Item": item,
        "ConditionExpression": NOT_EXISTS,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def transact_put_new(table: str, item: Item) -> dict[str, Any]:
    """A transaction ``Put`` that fails if the item exists."""
    return {
        "Put": {
            "TableName": table,
            "Item": item,
            "ConditionExpression": NOT_EXISTS,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def transact_condition(
    table: str,
    key: Item,
    condition: str,
    *,
    names: dict[str, str] | None = None,
    values: dict[str, AttributeValue] | None = None,
) -> dict[str, Any]:
    """A transaction ``ConditionCheck`` (the old item is returned when it fails)."""
    check: dict[str, Any] = {
        "TableName": table,
        "Key": key,
        "ConditionExpression": condition,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if names:
        check["ExpressionAttributeNames"] = names
    if values:
        check["ExpressionAttributeValues"] = values
    return {"ConditionCheck": check}


def transact_update(update_params: dict[str, Any]) -> dict[str, Any]:
    """An ``Update`` transaction item from UpdateItem-style parameters."""
    allowed = {
        "TableName",
        "Key",
        "UpdateExpression",
        "ConditionExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
    }
    update = {k: v for k, v in update_params.items() if k in allowed}
    update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Update": update}


def balance_change(
    table: str,
    username: str,
    delta: Decimal,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """A transaction ``Update`` adding ``delta`` (+/-) to a user's USD balance atomically.

    The balance item must exist; a debit also requires ``balance >= -delta`` so a
    balance never goes negative. The version is incremented.
    """
    condition = "attribute_exists(pk)"
    values: dict[str, AttributeValue] = {
        ":delta": {"N": str(delta)},
        ":one": {"N": "1"},
        ":now": {"S": format_timestamp(now)},
    }
    if delta < 0:
        condition += " AND balance >= :needed"
        values[":needed"] = {"N": str(-delta)}
    if expected_version is not None:
        condition += " AND version = :expected"
        values[":expected"] = {"N": str(expected_version)}
    return {
        "Update": {
            "TableName": table,
            "Key": balance_key(username),
            "UpdateExpression": "ADD balance :delta, version :one SET updated_at = :now",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def asset_balance_change(
    table: str,
    username: str,
    asset_id: str,
    delta: Decimal,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """A transaction ``Update`` adding ``delta`` (+/-) to a holding atomically.

    A credit creates the holding if it does not exist yet; a debit requires it to
    exist with ``quantity >= -delta`` so a holding never goes negative. With
    ``expected_version`` the holding must be at that version (``0``: must not exist yet).
    """
    stamp = {"S": format_timestamp(now)}
    values: dict[str, AttributeValue] = {
        ":delta": {"N": str(delta)},
        ":one": {"N": "1"},
        ":now": stamp,
        ":user": {"S": username},
        ":asset": {"S": asset_id},
    }
    update: dict[str, Any] = {
        "TableName": table,
        "Key": asset_balance_key(username, asset_id),
        "UpdateExpression": (
            "ADD quantity :delta, version :one SET updated_at = :now, "
            "created_at = if_not_exists(created_at, :now), username = :user, asset_id = :asset"
        ),
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    conditions = []
    if delta < 0:
        conditions.append("attribute_exists(pk) AND quantity >= :needed")
        values[":needed"] = {"N": str(-delta)}
    if expected_version == 0:
        conditions.append("attribute_not_exists(pk)")
    elif expected_version is not None:
        conditions.append("version = :expected")
        values[":expected"] = {"N": str(expected_version)}
    if conditions:
        update["ConditionExpression"] = " AND ".join(conditions)
    return {"Update": update}
