"""Market buys per second through cnop.data's TransactionManager, against DynamoDB Local.

Each scenario runs ``--buys`` market buys from ``--threads`` threads, on one user (every
buy contends for the same balance) or spread over 10 users: without a lock, with the user
lock of cnop.locking on Redis, and with its in-memory lock (the threads share one
process). The peer is what a service would otherwise write by hand: one boto3
``TransactWriteItems`` per buy with ``ADD`` updates, a ``balance >= cost`` condition and
the same order and ledger items, at a price it already knows (no read, no versions, no
idempotency record, no result). Figures are buys/s; the ratio is cnop / hand-written for
the same number of users. Failed buys (conflicts that outlasted the retries, lock
timeouts) are counted and printed, never hidden.

A DynamoDB Local and a Redis are started for the run unless ``AWS_ENDPOINT_URL_DYNAMODB``
and ``REDIS_URL`` are set. Options: ``--buys=N`` (default 240), ``--threads=N`` (8).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

from cnop.data import (
    AssetCreate,
    AssetDAO,
    AssetTransaction,
    AssetTransactionType,
    BalanceTransaction,
    DataSettings,
    Order,
    OrderStatus,
    OrderType,
    TableNames,
    TransactionManager,
    TransactionType,
    UserCreate,
    UserDAO,
    create_tables,
    dynamodb_client,
)
from cnop.data.codec import format_timestamp
from cnop.data.layout import (
    ASSET_TRANSACTION_MAPPER,
    BALANCE_TRANSACTION_MAPPER,
    ORDER_MAPPER,
    asset_balance_key,
    balance_key,
)
from cnop.data.types import utc_now
from cnop.exceptions import CNOPException

PRICE = Decimal("2.5")
QUANTITY = Decimal("0.4")  # costs 1.00 USD


def _testservers() -> Any:
    return importlib.import_module("testservers")


@contextlib.contextmanager
def _server(variable: str, kind: str) -> Iterator[str]:
    given = os.environ.get(variable)
    if given:
        yield given
        return
    server = _testservers().start(kind)
    try:
        yield server.url
    finally:
        server.stop()


def _setup(settings: DataSettings, users: int) -> tuple[list[str], str]:
    create_tables(dynamodb_client(settings), settings.tables)
    asset = "B" + uuid.uuid4().hex[:8].upper()
    AssetDAO(settings=settings).create_asset(
        AssetCreate(asset_id=asset, name="Bench", category="bench", price_usd=PRICE)
    )
    names = []
    flows = TransactionManager(settings=settings)
    for _ in range(users):
        name = f"b_{uuid.uuid4().hex[:12]}"
        UserDAO(settings=settings).create_user(
            UserCreate(username=name, email=f"{name}@example.com", first_name="B", last_name="B"),
            "not-a-real-hash",
        )
        flows.deposit(name, "100000")
        names.append(name)
    return names, asset


def hand_written_buy(client: Any, tables: TableNames, user: str, asset: str) -> None:
    """The peer: one TransactWriteItems with ADD updates, at a price known in advance."""
    now = utc_now()
    cost = QUANTITY * PRICE
    order = Order(
        username=user,
        order_type=OrderType.MARKET_BUY,
        asset_id=asset,
        quantity=QUANTITY,
        price=PRICE,
        total_amount=cost,
        status=OrderStatus.COMPLETED,
    )
    payment = BalanceTransaction(
        username=user,
        transaction_type=TransactionType.ORDER_PAYMENT,
        amount=-cost,
        reference_id=order.order_id,
    )
    move = AssetTransaction(
        username=user,
        asset_id=asset,
        transaction_type=AssetTransactionType.BUY,
        quantity=QUANTITY,
        price_usd=PRICE,
        order_id=order.order_id,
    )
    stamp = {"S": format_timestamp(now)}
    client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": tables.users,
                    "Key": balance_key(user),
                    "UpdateExpression": "ADD balance :d, version :one SET updated_at = :now",
                    "ConditionExpression": "balance >= :cost",
                    "ExpressionAttributeValues": {
                        ":d": {"N": str(-cost)},
                        ":cost": {"N": str(cost)},
                        ":one": {"N": "1"},
                        ":now": stamp,
                    },
                }
            },
            {
                "Update": {
                    "TableName": tables.orders,
                    "Key": asset_balance_key(user, asset),
                    "UpdateExpression": "ADD quantity :q, version :one SET updated_at = :now",
                    "ExpressionAttributeValues": {
                        ":q": {"N": str(QUANTITY)},
                        ":one": {"N": "1"},
                        ":now": stamp,
                    },
                }
            },
            {"Put": {"TableName": tables.orders, "Item": ORDER_MAPPER.to_item(order)}},
            {
                "Put": {
                    "TableName": tables.users,
                    "Item": BALANCE_TRANSACTION_MAPPER.to_item(payment),
                }
            },
            {"Put": {"TableName": tables.orders, "Item": ASSET_TRANSACTION_MAPPER.to_item(move)}},
        ]
    )


def _measure(
    buys: int, threads: int, users: list[str], buy: Callable[[str], object]
) -> tuple[float, Counter[str]]:
    """buys/s over ``buys`` buys from ``threads`` threads (users round-robin), and failures."""
    failures: Counter[str] = Counter()
    lock = threading.Lock()

    def one(i: int) -> None:
        try:
            buy(users[i % len(users)])
        except CNOPException as exc:
            with lock:
                failures[exc.code] += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(min(threads, buys))))  # warm up connections
        failures.clear()
        started = time.perf_counter()
        list(pool.map(one, range(buys)))
        elapsed = time.perf_counter() - started
    return buys / elapsed, failures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench flows")
    parser.add_argument("--buys", type=int, default=240)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)

    from cnop.locking import LockManager
    from cnop.logging import configure_logging, reset_logging

    with (
        tempfile.TemporaryDirectory() as tmp,
        _server("AWS_ENDPOINT_URL_DYNAMODB", "dynamodb") as endpoint,
        _server("REDIS_URL", "redis") as redis_url,
    ):
        configure_logging(
            service="bench", level="INFO", sink=Path(tmp) / "log.jsonl", intercept_stdlib=False
        )
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        settings = DataSettings.from_env(
            endpoint_url=endpoint,
            region="us-east-1",
            tables=TableNames.from_env(f"bench{uuid.uuid4().hex[:6]}-", {}),
        )
        users, asset = _setup(settings, 20)
        # The peer gets users of its own: its items lack what cnop.data's mapping requires.
        peer_users, users = users[10:], users[:10]
        client = dynamodb_client(settings)
        locks = LockManager.from_url(redis_url, default_wait=30)
        plain = TransactionManager(settings=settings)
        locked = TransactionManager(settings=settings, locks=locks)
        local = TransactionManager(settings=settings, locks=LockManager.in_memory(default_wait=30))
        try:
            print(
                f"market buys of {QUANTITY} at {PRICE} USD, {args.buys} per scenario, "
                f"{args.threads} threads, DynamoDB Local at {endpoint}"
            )
            print(
                f"   {'scenario':<34}{'cnop buys/s':>12}{'failed':>8}"
                f"{'peer buys/s':>13}{'ratio':>8}"
            )
            for label, who, peer_who in (
                ("1 user", users[:1], peer_users[:1]),
                ("10 users", users, peer_users),
            ):
                peer, peer_failed = _measure(
                    args.buys,
                    args.threads,
                    peer_who,
                    lambda u: hand_written_buy(client, settings.tables, u, asset),
                )
                for lock_label, flows in (
                    ("no lock", plain),
                    ("user lock (Redis)", locked),
                    ("user lock (in-memory)", local),
                ):

                    def buy(user: str, flows: TransactionManager = flows) -> object:
                        return flows.buy(user, asset, QUANTITY)

                    ours, failed = _measure(args.buys, args.threads, who, buy)
                    print(
                        f"   {label + ', ' + lock_label:<34}{ours:>12,.1f}"
                        f"{sum(failed.values()):>8}{peer:>13,.1f}{ours / peer:>7.2f}x"
                    )
                    if failed:
                        print(f"      failed: {dict(failed)}")
                if peer_failed:
                    print(f"   the hand-written peer failed ({label}): {dict(peer_failed)}")
        finally:
            locks.close()
            reset_logging()
    return 0
