"""What a flow must know before it can write: the price, the order, a repeated key's record.

Balances and holdings are never read: a flow changes them with a conditional ``ADD``
(``balance >= :cost``), so two flows of one user commit side by side without either
re-reading. What is read is only what the write cannot decide by itself: the asset's
price for a market order (the write is conditioned on it being unchanged), the waiting
order a cancel, fill or expiry ends, and, for a caller's idempotency key, its record
(so a repeat is answered from it without a write that is bound to be refused).

Nothing to read: no request. One item: a strongly consistent ``GetItem``. More: one
``TransactGetItems``, so the items are read as of one instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnop.data.codec import Item
from cnop.data.config import TableNames
from cnop.data.core.requests import get_item
from cnop.data.core.steps import Call, Operation
from cnop.data.layout import ASSET_MAPPER, ORDER_MAPPER, asset_key, order_key
from cnop.data.models import Asset, Order
from cnop.exceptions import CNOPOrderNotFoundException

__all__ = ["Snapshot", "order_not_found", "read_snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """What a flow read: None where the item does not exist or was not asked for."""

    asset: Asset | None = None
    order: Order | None = None
    #: The idempotency record of the request's key (raw item), when it was looked up.
    record: Item | None = None


def order_not_found(order_id: str) -> CNOPOrderNotFoundException:
    return CNOPOrderNotFoundException(
        f"Order '{order_id}' not found", details={"order_id": order_id}
    )


def read_snapshot(
    tables: TableNames,
    *,
    asset_id: str | None = None,
    order_id: str | None = None,
    owner: str | None = None,
    record_key: Item | None = None,
) -> Operation[Snapshot]:
    """Read the asset, the order and the key's record that were asked for, in one request.

    The key's record is read only when something else is (see below).

    With ``order_id`` the order must exist (and belong to ``owner`` when given: someone
    else's order is "not found"), else CNOPOrderNotFoundException.
    """
    gets: list[tuple[str, str, Item]] = []
    if asset_id is not None:
        gets.append(("asset", tables.inventory, asset_key(asset_id)))
    if order_id is not None:
        gets.append(("order", tables.orders, order_key(order_id)))
    if record_key is not None and gets:
        # Only alongside another item: on its own it would cost a request to spare one only
        # when the key is repeated (the write recognises a repeat by itself).
        gets.append(("record", tables.users, record_key))
    found: dict[str, Any] = {}
    if len(gets) == 1:
        what, table, key = gets[0]
        reply = yield Call("get_item", get_item(table, key, consistent=True), table)
        found[what] = reply.get("Item") or None
    elif gets:
        params = {"TransactItems": [{"Get": {"TableName": t, "Key": k}} for _, t, k in gets]}
        reply = yield Call("transact_get_items", params, tables.users)
        responses = reply.get("Responses", [])
        for i, (what, _, _) in enumerate(gets):
            found[what] = (responses[i].get("Item") if i < len(responses) else None) or None
    asset = ASSET_MAPPER.from_item(found["asset"]) if found.get("asset") else None
    order = ORDER_MAPPER.from_item(found["order"]) if found.get("order") else None
    if order_id is not None and (order is None or (owner is not None and order.username != owner)):
        raise order_not_found(order_id)
    return Snapshot(asset=asset, order=order, record=found.get("record"))
