"""After the copy: every target balance must be the sum of its target ledger.

Read back from the target (strongly consistent), so the check sees what cnop will see:
a USD balance against its completed balance transactions, and each holding against
its asset transactions. A difference is reported, never repaired.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from cnop.data.config import TableNames
from cnop.data.core.requests import get_item
from cnop.data.core.steps import Call, Operation
from cnop.data.enums import TransactionStatus
from cnop.data.layout import (
    ASSET_BALANCE_MAPPER,
    ASSET_BALANCE_PREFIX,
    ASSET_TRANSACTION_MAPPER,
    ASSET_TX_PREFIX,
    BALANCE_MAPPER,
    BALANCE_TRANSACTION_MAPPER,
    BALANCE_TX_PREFIX,
    balance_key,
    user_partition,
)
from cnop.data.migrate._report import Entity, MigrationReport, ProblemKind

__all__ = ["verify_target"]


def _query(table: str, partition: str, prefix: str) -> Operation[list[dict[str, Any]]]:
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": partition}, ":s": {"S": prefix}},
        "ConsistentRead": True,
    }
    items: list[dict[str, Any]] = []
    while True:
        reply = yield Call("query", dict(params), table)
        items.extend(reply.get("Items", []))
        last = reply.get("LastEvaluatedKey")
        if not last:
            return items
        params["ExclusiveStartKey"] = last


def _verify_user(tables: TableNames, username: str, report: MigrationReport) -> Operation[None]:
    where = f"target user {username!r}"
    reply = yield Call(
        "get_item", get_item(tables.users, balance_key(username), consistent=True), tables.users
    )
    partition = user_partition(username)
    ledger = yield from _query(tables.users, partition, BALANCE_TX_PREFIX)
    total = sum(
        (
            tx.amount
            for tx in map(BALANCE_TRANSACTION_MAPPER.from_item, ledger)
            if tx.status is TransactionStatus.COMPLETED
        ),
        Decimal(0),
    )
    if "Item" not in reply:
        report.add(ProblemKind.TARGET_LEDGER_MISMATCH, Entity.BALANCE, where, "has no balance")
    else:
        balance = BALANCE_MAPPER.from_item(reply["Item"]).balance
        if balance != total:
            report.add(
                ProblemKind.TARGET_LEDGER_MISMATCH,
                Entity.BALANCE,
                where,
                f"balance {balance} is not the sum of its ledger ({total})",
            )
    holdings = yield from _query(tables.orders, partition, ASSET_BALANCE_PREFIX)
    moves = yield from _query(tables.orders, partition, ASSET_TX_PREFIX)
    held: dict[str, Decimal] = defaultdict(Decimal)
    for move in map(ASSET_TRANSACTION_MAPPER.from_item, moves):
        held[move.asset_id] += move.quantity
    seen = set()
    for holding in map(ASSET_BALANCE_MAPPER.from_item, holdings):
        seen.add(holding.asset_id)
        if holding.quantity != held.get(holding.asset_id, Decimal(0)):
            report.add(
                ProblemKind.TARGET_LEDGER_MISMATCH,
                Entity.ASSET_BALANCE,
                f"{where} asset {holding.asset_id!r}",
                f"quantity {holding.quantity} is not the sum of its asset ledger "
                f"({held.get(holding.asset_id, Decimal(0))})",
            )
    for asset_id, quantity in sorted(held.items()):
        if asset_id not in seen and quantity != 0:
            report.add(
                ProblemKind.TARGET_LEDGER_MISMATCH,
                Entity.ASSET_BALANCE,
                f"{where} asset {asset_id!r}",
                f"the asset ledger sums to {quantity} but there is no holding",
            )


def verify_target(
    tables: TableNames, usernames: list[str], report: MigrationReport
) -> Operation[None]:
    """Check each of ``usernames`` in the target; findings go into ``report``."""
    for username in usernames:
        yield from _verify_user(tables, username, report)
    report.target_verified = True
