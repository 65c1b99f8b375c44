"""What must hold after any mix of flows, whatever failed: checked against the database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from cnop.data import (
    AssetBalanceDAO,
    AssetTransactionDAO,
    BalanceDAO,
    DataSettings,
    OrderDAO,
)


def _all(page_of: Any) -> list[Any]:
    items, cursor = [], None
    while True:
        page = page_of(cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


def check_invariants(
    settings: DataSettings, users: Sequence[str], outcomes: Iterable[dict[str, Any]] | None
) -> dict[str, int]:
    """Assert the ledger invariants; returns counts of what was checked.

    With ``outcomes`` (what each request was told), also that every key was applied at most
    once and that the stored records are exactly those of the successes.
    """
    balances, holdings = BalanceDAO(settings=settings), AssetBalanceDAO(settings=settings)
    cash_ledger = BalanceDAO(settings=settings)
    asset_ledger, orders = AssetTransactionDAO(settings=settings), OrderDAO(settings=settings)
    stored: set[str] = set()
    for user in users:
        cash = _all(lambda c, u=user: cash_ledger.list_transactions(u, limit=100, cursor=c))
        balance = balances.get_balance(user).balance
        assert balance >= 0, f"{user} has a negative balance {balance}"
        assert balance == sum((r.amount for r in cash), Decimal(0)), f"{user}: balance != ledger"
        moves = _all(lambda c, u=user: asset_ledger.list_transactions(u, limit=100, cursor=c))
        per_asset: dict[str, Decimal] = defaultdict(Decimal)
        for move in moves:
            per_asset[move.asset_id] += move.quantity
        held = _all(lambda c, u=user: holdings.list_asset_balances(u, limit=100, cursor=c))
        assert {h.asset_id: h.quantity for h in held if h.quantity} == {
            a: q for a, q in per_asset.items() if q
        }, f"{user}: holdings != asset ledger"
        assert all(h.quantity >= 0 for h in held), f"{user} holds a negative quantity"
        placed = _all(lambda c, u=user: orders.list_orders(u, limit=100, cursor=c))
        stored |= {r.transaction_id for r in cash} | {m.transaction_id for m in moves}
        stored |= {o.order_id for o in placed}

    if outcomes is None:
        return {"keys": 0, "records": len(stored)}
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in outcomes:
        by_key[line["key"]].append(line)
    written: set[str] = set()
    for key, lines in by_key.items():
        applied = [line for line in lines if line["ok"] and not line["replayed"]]
        assert len(applied) <= 1, f"key {key} was applied {len(applied)} times"
        records = {tuple(line["records"]) for line in lines if line["ok"]}
        assert len(records) <= 1, f"key {key} answered with different records"
        for line in lines:
            if line["ok"]:  # a cash flow writes its ledger record; a trade adds order and move
                expected = 1 if line["flow"] in ("deposit", "withdraw") else 3
                assert len(line["records"]) == expected, f"key {key}: {line['records']}"
        for ids in records:
            written |= set(ids)
    # Every success's records exist, and nothing else was written (failures left nothing).
    assert written == stored, f"{len(stored - written)} unexplained, {len(written - stored)} lost"
    return {"keys": len(by_key), "records": len(stored)}
