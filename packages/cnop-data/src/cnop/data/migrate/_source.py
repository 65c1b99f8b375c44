"""Reading the original package's three tables and sorting their items by kind.

The original kept users, USD balances, the USD ledger (``TRANS#``), holdings
(``ASSET#``), the holdings ledger (``ASSET_TRANS#``) and lock items in one users table
keyed ``Pk``/``Sk``; orders in an orders table keyed ``Pk``/``Sk`` (``Sk`` = ``ORDER``);
assets in an inventory table keyed ``product_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cnop.data.config import TableNames
from cnop.data.core.steps import Call, Operation
from cnop.data.migrate._convert import ORIGINAL, Source
from cnop.data.migrate._report import Entity, source_label

__all__ = ["SourceItem", "SourceSnapshot", "classify_users_item", "read_source"]


@dataclass(frozen=True)
class SourceItem:
    """One item of the source and the printable name of its key."""

    label: str
    item: Source


@dataclass
class SourceSnapshot:
    """Every item of the three source tables, sorted by what it is."""

    by_entity: dict[Entity, list[SourceItem]] = field(
        default_factory=lambda: {entity: [] for entity in Entity}
    )
    locks: int = 0
    unrecognised: list[tuple[Entity, SourceItem]] = field(default_factory=list)


def _key_text(item: Source, name: str) -> str:
    value = item.get(name) or {}
    found = value.get("S")
    return found if isinstance(found, str) else repr(dict(value))


_BY_SORT_KEY = {ORIGINAL.USER_SK: Entity.USER, ORIGINAL.BALANCE_SK: Entity.BALANCE}


def classify_users_item(item: Source) -> Entity | str | None:
    """What a users-table item is: an entity, ``"lock"``, or None when unrecognised."""
    pk, sk = _key_text(item, "Pk"), _key_text(item, "Sk")
    found: Entity | str | None = None
    if pk.startswith(ORIGINAL.ASSET_LEDGER_PK):
        found = Entity.ASSET_TRANSACTION
    elif pk.startswith(ORIGINAL.LEDGER_PK):
        found = Entity.BALANCE_TRANSACTION
    elif sk == ORIGINAL.LOCK_SK and pk.startswith(ORIGINAL.LOCK_PK):
        found = "lock"
    elif sk in _BY_SORT_KEY:
        found = _BY_SORT_KEY[sk]
    elif sk.startswith(ORIGINAL.HOLDING_SK):
        found = Entity.ASSET_BALANCE
    return found


def _scan(table: str) -> Operation[list[dict[str, Any]]]:
    """Every item of ``table`` (strongly consistent, all pages)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        reply = yield Call("scan", dict(params), table)
        items.extend(reply.get("Items", []))
        last: Mapping[str, Any] | None = reply.get("LastEvaluatedKey")
        if not last:
            return items
        params["ExclusiveStartKey"] = last


def read_source(tables: TableNames) -> Operation[SourceSnapshot]:
    """Read the three source tables whole (a migration runs before traffic is switched)."""
    snapshot = SourceSnapshot()
    for item in (yield from _scan(tables.users)):
        label = source_label(tables.users, _key_text(item, "Pk"), _key_text(item, "Sk"))
        kind = classify_users_item(item)
        if kind == "lock":
            snapshot.locks += 1
        elif isinstance(kind, Entity):
            snapshot.by_entity[kind].append(SourceItem(label, item))
        else:
            snapshot.unrecognised.append((Entity.USER, SourceItem(label, item)))
    for item in (yield from _scan(tables.orders)):
        label = source_label(tables.orders, _key_text(item, "Pk"), _key_text(item, "Sk"))
        if _key_text(item, "Sk") == ORIGINAL.ORDER_SK:
            snapshot.by_entity[Entity.ORDER].append(SourceItem(label, item))
        else:
            snapshot.unrecognised.append((Entity.ORDER, SourceItem(label, item)))
    for item in (yield from _scan(tables.inventory)):
        label = source_label(tables.inventory, _key_text(item, "product_id"))
        snapshot.by_entity[Entity.ASSET].append(SourceItem(label, item))
    return snapshot
