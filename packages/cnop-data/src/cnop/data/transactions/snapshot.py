"""The consistent read a flow plans from: balance, asset and holding in one request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnop.data.codec import Item
from cnop.data.config import TableNames
from cnop.data.core.common import get_one
from cnop.data.core.steps import Call, Operation
from cnop.data.layout import (
    ASSET_BALANCE_MAPPER,
    ASSET_MAPPER,
    BALANCE_MAPPER,
    ORDER_MAPPER,
    asset_balance_key,
    asset_key,
    balance_key,
    order_key,
)
from cnop.data.models import Asset, AssetBalance, Balance, Order
from cnop.exceptions import CNOPOrderNotFoundException

__all__ = ["Snapshot", "read_order", "read_snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """What a flow read: None where the item does not exist."""

    balance: Balance | None
    asset: Asset | None = None
    holding: AssetBalance | None = None
    #: The idempotency record of the request's key, read in the same request (raw item).
    record: Item | None = None


def read_snapshot(
    tables: TableNames, username: str, asset_id: str | None, record_key: Item | None = None
) -> Operation[Snapshot]:
    """The user's balance and, with ``asset_id``, the asset and the holding.

    One ``TransactGetItems``: the items are read as of one instant, so the plan never
    mixes a price with a balance from another moment. With ``record_key`` (the request's
    idempotency record) it is read in the same request, so a repeated request is
    recognised without a write that is bound to be refused.
    """
    gets: list[tuple[str, Item]] = [(tables.users, balance_key(username))]
    if asset_id is not None:
        gets.append((tables.inventory, asset_key(asset_id)))
        gets.append((tables.orders, asset_balance_key(username, asset_id)))
    if record_key is not None:
        gets.append((tables.users, record_key))
    params = {"TransactItems": [{"Get": {"TableName": t, "Key": k}} for t, k in gets]}
    reply = yield Call("transact_get_items", params, tables.users)
    found: list[Any] = [r.get("Item") or None for r in reply.get("Responses", [])]
    found += [None] * (len(gets) - len(found))
    record = found[-1] if record_key is not None else None
    balance = BALANCE_MAPPER.from_item(found[0]) if found[0] else None
    if asset_id is None:
        return Snapshot(balance, record=record)
    asset = ASSET_MAPPER.from_item(found[1]) if found[1] else None
    holding = ASSET_BALANCE_MAPPER.from_item(found[2]) if found[2] else None
    return Snapshot(balance, asset, holding, record=record)


def read_order(tables: TableNames, username: str, order_id: str) -> Operation[Order]:
    """The order, if it belongs to ``username`` (someone else's order is "not found")."""

    def not_found() -> CNOPOrderNotFoundException:
        return CNOPOrderNotFoundException(
            f"Order '{order_id}' not found", details={"order_id": order_id}
        )

    order = yield from get_one(tables.orders, order_key(order_id), ORDER_MAPPER, not_found)
    if order.username != username:
        raise not_found()
    return order
