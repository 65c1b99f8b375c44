"""Filling waiting limit orders: 1,000 queued orders crossed by one price, against DynamoDB Local.

One ``match_limit_orders`` call fills every order (each fill its own transaction: the order
moves to completed, the hold is settled, the asset credited, the ledgers written). Printed
beside the same server's market buys: DynamoDB requests per flow (counted from botocore's
events) and flows per second. A sweep fills one order after another; ``--orders=N``
(default 1000) and ``--buys=N`` market buys for the comparison (default 200).

A DynamoDB Local is started for the run unless ``AWS_ENDPOINT_URL_DYNAMODB`` is set.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from cnop.data import (
    AssetCreate,
    AssetDAO,
    DataSettings,
    OrderCreate,
    OrderType,
    TableNames,
    TransactionManager,
    UserCreate,
    UserDAO,
    create_tables,
    dynamodb_client,
)


@contextlib.contextmanager
def _dynamodb() -> Iterator[str]:
    given = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if given:
        yield given
        return
    server = importlib.import_module("testservers").start("dynamodb")
    try:
        yield server.url
    finally:
        server.stop()


class _Counter:
    """Counts the requests a client sends (botocore's before-call event)."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        client.meta.events.register("before-call.dynamodb", self._one)

    def _one(self, **_: Any) -> None:
        self.calls += 1


def _users(settings: DataSettings, count: int, deposit: str) -> list[str]:
    flows = TransactionManager(settings=settings)
    names = []
    for _ in range(count):
        name = f"l_{uuid.uuid4().hex[:12]}"
        UserDAO(settings=settings).create_user(
            UserCreate(username=name, email=f"{name}@example.com", first_name="L", last_name="L"),
            "not-a-real-hash",
        )
        flows.deposit(name, deposit)
        names.append(name)
    return names


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench lifecycle")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--buys", type=int, default=200)
    args = parser.parse_args(argv)
    # DynamoDB Local takes any credentials; botocore insists on some.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    with _dynamodb() as endpoint:
        settings = DataSettings.from_env(
            endpoint_url=endpoint,
            tables=TableNames.from_env(f"bl{uuid.uuid4().hex[:6]}-", {}),
            region="us-east-1",
        )
        create_tables(dynamodb_client(settings), settings.tables)
        asset = "L" + uuid.uuid4().hex[:8].upper()
        AssetDAO(settings=settings).create_asset(
            AssetCreate(asset_id=asset, name="Bench", category="bench", price_usd=Decimal(100))
        )
        users = _users(settings, 10, "1000000")
        setup = TransactionManager(settings=settings)
        for i in range(args.orders):
            limit = Decimal(100 + i % 50)
            setup.place_limit_order(
                users[i % len(users)],
                OrderCreate(
                    order_type=OrderType.LIMIT_BUY,
                    asset_id=asset,
                    quantity=Decimal(1),
                    limit_price=limit,
                ),
            )

        client = dynamodb_client(settings)
        counter = _Counter(client)
        flows = TransactionManager(settings=settings, client=client)
        started = time.perf_counter()
        sweep = flows.match_limit_orders(asset, "99")
        fill_seconds = time.perf_counter() - started
        fill_requests = counter.calls
        filled = len(sweep.done)

        counter.calls = 0
        started = time.perf_counter()
        for i in range(args.buys):
            flows.buy(users[i % len(users)], asset, "0.5")
        buy_seconds = time.perf_counter() - started
        buy_requests = counter.calls

    print(f"{args.orders} queued limit buys crossed by one price, one sweep:")
    print(
        f"   filled {filled} (lost {len(sweep.lost)}, refused {len(sweep.refused)}) in "
        f"{fill_seconds:.1f} s: {filled / fill_seconds:.0f} fills/s, "
        f"{fill_requests / max(filled, 1):.2f} DynamoDB requests per fill"
    )
    print(
        f"   market buys, same server: {args.buys / buy_seconds:.0f} buys/s, "
        f"{buy_requests / args.buys:.2f} requests per buy"
    )
    print(f"   fills/s : buys/s = {(filled / fill_seconds) / (args.buys / buy_seconds):.2f}")
    return 0 if filled == args.orders else 1
