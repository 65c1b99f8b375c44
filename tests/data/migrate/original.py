"""Tables and items in the original Common Package's layout, written as it wrote them.

Attribute names and types follow its PynamoDB models: strings (``S``) for the Decimal
fields it kept as strings (balances, ledger amounts, quantities, order prices), numbers
(``N``, from Python floats) for the inventory's prices, and PynamoDB's UTC timestamp
format (``2026-01-02T03:04:05.000006+0000``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cnop.data import TableNames

BASE = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def stamp(at: datetime) -> str:
    """PynamoDB's UTCDateTimeAttribute form."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def number(value: float) -> dict[str, str]:
    """A NumberAttribute holding a float (PynamoDB serialises it with json.dumps)."""
    return {"N": json.dumps(value)}


def create_source_tables(client: Any, names: TableNames) -> None:
    def table(name: str, keys: list[tuple[str, str]], gsi: dict[str, Any] | None = None) -> None:
        params: dict[str, Any] = {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": a, "KeyType": k} for a, k in keys],
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a, _ in keys],
        }
        if gsi:
            params["AttributeDefinitions"] += [
                {"AttributeName": a, "AttributeType": "S"} for a, _ in gsi["keys"]
            ]
            params["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": gsi["name"],
                    "KeySchema": [{"AttributeName": a, "KeyType": k} for a, k in gsi["keys"]],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ]
        client.create_table(**params)

    table(
        names.users,
        [("Pk", "HASH"), ("Sk", "RANGE")],
        {"name": "EmailIndex", "keys": [("email", "HASH"), ("username", "RANGE")]},
    )
    table(
        names.orders,
        [("Pk", "HASH"), ("Sk", "RANGE")],
        {"name": "UserOrdersIndex", "keys": [("GSI-PK", "HASH"), ("GSI-SK", "RANGE")]},
    )
    table(names.inventory, [("product_id", "HASH")])


@dataclass
class Original:
    """Writes items as the original's DAOs and TransactionManager did."""

    client: Any
    names: TableNames
    clock: datetime = BASE
    balances: dict[str, str] = field(default_factory=dict)
    sequence: int = 0

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=1, microseconds=1234)
        return self.clock

    def put(self, table: str, item: dict[str, Any]) -> None:
        self.client.put_item(TableName=table, Item=item)

    def user(self, username: str, email: str, **overrides: Any) -> None:
        at = self._tick()
        item: dict[str, Any] = {
            "Pk": {"S": username},
            "Sk": {"S": "USER"},
            "username": {"S": username},
            "email": {"S": email},
            "password_hash": {"S": "$2b$12$" + "a" * 53},
            "first_name": {"S": "Ada"},
            "last_name": {"S": "Lovelace"},
            "marketing_emails_consent": {"BOOL": False},
            "role": {"S": "customer"},
            "created_at": {"S": stamp(at)},
            "updated_at": {"S": stamp(at)},
        }
        item.update(overrides)
        self.put(self.names.users, item)
        self.balance(username, "0.00", at=at)

    def balance(self, username: str, amount: str, *, at: datetime | None = None) -> None:
        at = at or self._tick()
        self.balances[username] = amount
        self.put(
            self.names.users,
            {
                "Pk": {"S": username},
                "Sk": {"S": "BALANCE"},
                "username": {"S": username},
                "current_balance": {"S": amount},
                "entity_type": {"S": "balance"},
                "created_at": {"S": stamp(at)},
                "updated_at": {"S": stamp(at)},
            },
        )

    def ledger(
        self,
        username: str,
        kind: str,
        amount: str,
        *,
        reference: str | None = None,
        status: str = "completed",
        description: str = "deposit",
    ) -> None:
        at = self._tick()
        self.sequence += 1
        tx_id = at.strftime("%Y%m%d%H%M%S%f") + f"{self.sequence:06x}"
        item: dict[str, Any] = {
            "Pk": {"S": f"TRANS#{username}"},
            "Sk": {"S": tx_id},
            "username": {"S": username},
            "transaction_id": {"S": tx_id},
            "transaction_type": {"S": kind},
            "amount": {"S": amount},
            "description": {"S": description},
            "status": {"S": status},
            "entity_type": {"S": "balance_transaction"},
            "created_at": {"S": stamp(at)},
        }
        if reference is not None:
            item["reference_id"] = {"S": reference}
        self.put(self.names.users, item)

    def holding(self, username: str, asset_id: str, quantity: str) -> None:
        at = self._tick()
        self.put(
            self.names.users,
            {
                "Pk": {"S": username},
                "Sk": {"S": f"ASSET#{asset_id}"},
                "username": {"S": username},
                "asset_id": {"S": asset_id},
                "quantity": {"S": quantity},
                "entity_type": {"S": "asset_balance"},
                "created_at": {"S": stamp(at)},
                "updated_at": {"S": stamp(at)},
            },
        )

    def asset_ledger(
        self, username: str, asset_id: str, kind: str, *, quantity: str, price: str, order_id: str
    ) -> None:
        at = self._tick()
        self.put(
            self.names.users,
            {
                "Pk": {"S": f"ASSET_TRANS#{username}#{asset_id}"},
                "Sk": {"S": at.isoformat()},
                "username": {"S": username},
                "asset_id": {"S": asset_id},
                "transaction_type": {"S": kind},
                "quantity": {"S": quantity},
                "price": {"S": price},
                "total_amount": {"S": str(float(quantity) * float(price))},
                "order_id": {"S": order_id},
                "status": {"S": "COMPLETED"},
                "created_at": {"S": stamp(at)},
            },
        )

    def order(
        self,
        order_id: str,
        username: str,
        order_type: str,
        *,
        asset_id: str,
        quantity: str,
        price: str,
        total: str,
        status: str = "completed",
    ) -> None:
        at = self._tick()
        self.put(
            self.names.orders,
            {
                "Pk": {"S": order_id},
                "Sk": {"S": "ORDER"},
                "GSI-PK": {"S": username},
                "GSI-SK": {"S": asset_id},
                "order_id": {"S": order_id},
                "username": {"S": username},
                "order_type": {"S": order_type},
                "status": {"S": status},
                "asset_id": {"S": asset_id},
                "quantity": {"S": quantity},
                "price": {"S": price},
                "total_amount": {"S": total},
                "created_at": {"S": stamp(at)},
                "updated_at": {"S": stamp(at)},
            },
        )

    def asset(self, asset_id: str, price: float, *, category: str = "major") -> None:
        at = self._tick()
        self.put(
            self.names.inventory,
            {
                "product_id": {"S": asset_id},
                "asset_id": {"S": asset_id},
                "name": {"S": f"{asset_id} coin"},
                "category": {"S": category},
                "amount": number(1000.0),
                "price_usd": number(price),
                "is_active": {"BOOL": True},
                "current_price": number(price),
                "high_24h": number(price * 1.1),
                "sparkline_7d": {"S": json.dumps({"price": [price, price]})},
                "created_at": {"S": stamp(at)},
                "updated_at": {"S": stamp(at)},
            },
        )

    def lock(self, username: str) -> None:
        self.put(
            self.names.users,
            {"Pk": {"S": f"USER#{username}"}, "Sk": {"S": "LOCK"}, "username": {"S": username}},
        )


_BUY = {"price": "45000.5", "total": "450.01"}
_SELL = {"price": "45000", "total": "180.00"}


def populate(original: Original) -> dict[str, Any]:
    """Three users with deposits, withdrawals, buys and sells; returns what was written."""
    o = original
    o.asset("BTC", 45000.5)
    o.asset("ETH", 3000.25)
    o.asset("DOGE", 0.0712, category="altcoin")
    expected: dict[str, Any] = {"users": {}, "holdings": {}}
    for index, name in enumerate(["alice_01", "bob_0002", "carol_03"]):
        o.user(name, f"{name}@example.com")
        o.ledger(name, "deposit", "1000.00")
        o.ledger(name, "withdraw", "-100.50", description="Withdrawal")
        buy = f"order_{index:08x}_1740830400"
        o.order(buy, name, "market_buy", asset_id="BTC", quantity="0.01", **_BUY)
        o.ledger(name, "order_payment", "-450.01", reference=buy, description=f"Payment {buy}")
        o.asset_ledger(name, "BTC", "BUY", quantity="0.01", price="45000.5", order_id=buy)
        sell = f"ord_{index:016x}"
        o.order(sell, name, "limit_sell", asset_id="BTC", quantity="0.004", **_SELL)
        o.ledger(name, "order_sale", "180.00", reference=sell, description=f"Sale {sell}")
        o.asset_ledger(name, "BTC", "SELL", quantity="0.004", price="45000", order_id=sell)
        o.holding(name, "BTC", "0.006")
        o.balance(name, "629.49")
        expected["users"][name] = "629.49"
        expected["holdings"][(name, "BTC")] = "0.006"
    o.lock("alice_01")
    return expected
