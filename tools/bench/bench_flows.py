"""Market buys through cnop.data's TransactionManager against a hand-written boto3 peer.

The peer is what a careful service would write by hand with the same guarantees: read the
asset's price (GetItem), then one ``TransactWriteItems`` with the same items and
conditions as cnop — the idempotency record (new, or expired), the user active, the asset
active at that price, the balance ``ADD`` conditioned on ``balance >= cost``, the holding
``ADD``, the order and both ledger records (built with the same mappings) — and on a
cancelled transaction (another writer, a changed price) read and try again. It keeps no
result beyond what it wrote, has no lost-reply handling and logs nothing; cnop logs one
line per flow to a file, as a service runs it.

Scenarios (``--flows`` buys each, rounds alternating who goes first, ratio per round and
its median): 10 users x 4 threads each, and one busy user with 4 threads. Printed for
each: flows/s, client CPU per flow (process CPU time over the run: both sides' own Python
work, botocore included; DynamoDB Local is another process), and DynamoDB requests per
flow (counted from botocore's ``before-send`` events, retries included) against the
minimum (a buy: 2). A final table counts the requests of every flow kind.

A DynamoDB Local is started for the run unless ``AWS_ENDPOINT_URL_DYNAMODB`` is set.
Options: ``--flows=N`` (default 240), ``--rounds=N`` (3).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3.session
from botocore.config import Config

from cnop.data import (
    AssetCreate,
    AssetDAO,
    AssetTransaction,
    AssetTransactionType,
    BalanceTransaction,
    DataSettings,
    Order,
    OrderCreate,
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
    ASSET_MAPPER,
    ASSET_TRANSACTION_MAPPER,
    BALANCE_TRANSACTION_MAPPER,
    ORDER_MAPPER,
    asset_balance_key,
    asset_key,
    balance_key,
    user_key,
)
from cnop.data.types import utc_now
from cnop.exceptions import CNOPException

if TYPE_CHECKING:  # the type checker sees tools/ as a package; a run has this folder on sys.path
    from tools.bench import summary
else:
    import summary

PRICE = Decimal("2.5")
QUANTITY = Decimal("0.4")  # costs 1.00 USD
MIN_REQUESTS_BUY = 2  # the price, the write


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


class _Counted:
    """A boto3 client whose every HTTP request (botocore's retries included) is counted.

    cnop's client settings (timeouts, retries, pool), with botocore's client-side parameter
    validation on (boto3's default, what a hand-written service runs) unless ``validate``
    is False (what cnop's own clients do: they build every request themselves).
    """

    def __init__(self, settings: DataSettings, *, validate: bool) -> None:
        kwargs = settings.client_kwargs()
        kwargs["config"] = kwargs["config"].merge(Config(parameter_validation=validate))
        self.client = boto3.session.Session().client("dynamodb", **kwargs)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.client.meta.events.register("before-send.dynamodb", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        target = request.headers["X-Amz-Target"]
        name = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
        with self._lock:
            self.calls[name] += 1

    def total(self) -> int:
        return sum(self.calls.values())


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


# --- the hand-written peer ---------------------------------------------------------------


def _peer_items(tables: TableNames, user: str, asset: str, price: Decimal) -> list[Any]:
    now = utc_now()
    cost = (QUANTITY * price).quantize(Decimal("0.01"))
    order = Order(
        username=user,
        order_type=OrderType.MARKET_BUY,
        asset_id=asset,
        quantity=QUANTITY,
        price=price,
        total_amount=cost,
        status=OrderStatus.COMPLETED,
        created_at=now,
        updated_at=now,
    )
    payment = BalanceTransaction(
        username=user,
        transaction_type=TransactionType.ORDER_PAYMENT,
        amount=-cost,
        description=f"Buy {QUANTITY} {asset} at {price} USD",
        reference_id=order.order_id,
        created_at=now,
    )
    move = AssetTransaction(
        username=user,
        asset_id=asset,
        transaction_type=AssetTransactionType.BUY,
        quantity=QUANTITY,
        price_usd=price,
        order_id=order.order_id,
        created_at=now,
    )
    request = json.dumps({"flow": "buy", "user": user, "asset": asset, "quantity": str(QUANTITY)})
    response = json.dumps({"order_id": order.order_id, "amount": str(-cost), "price": str(price)})
    epoch = int(now.timestamp())
    stamp = {"S": format_timestamp(now)}
    record = {
        "pk": {"S": f"USER#{user}"},
        "sk": {"S": f"IDEMPOTENCY#{uuid.uuid4()}"},
        "fingerprint": {"S": hashlib.sha256(request.encode()).hexdigest()},
        "result": {"S": response},
        "expires_at": {"N": str(int((now + timedelta(days=1)).timestamp()))},
    }
    return [
        {
            "Put": {
                "TableName": tables.users,
                "Item": record,
                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": {"N": str(epoch)}},
            }
        },
        {
            "ConditionCheck": {
                "TableName": tables.users,
                "Key": user_key(user),
                "ConditionExpression": "attribute_exists(pk) AND is_active = :t",
                "ExpressionAttributeValues": {":t": {"BOOL": True}},
            }
        },
        {
            "ConditionCheck": {
                "TableName": tables.inventory,
                "Key": asset_key(asset),
                "ConditionExpression": "is_active = :t AND price_usd = :p",
                "ExpressionAttributeValues": {":t": {"BOOL": True}, ":p": {"N": str(price)}},
            }
        },
        {
            "Update": {
                "TableName": tables.users,
                "Key": balance_key(user),
                "UpdateExpression": "ADD balance :d, version :one SET updated_at = :now",
                "ConditionExpression": "attribute_exists(pk) AND balance >= :cost",
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
                "UpdateExpression": (
                    "ADD quantity :q, version :one SET updated_at = :now, "
                    "created_at = if_not_exists(created_at, :now), username = :u, asset_id = :a"
                ),
                "ExpressionAttributeValues": {
                    ":q": {"N": str(QUANTITY)},
                    ":one": {"N": "1"},
                    ":now": stamp,
                    ":u": {"S": user},
                    ":a": {"S": asset},
                },
            }
        },
        {
            "Put": {
                "TableName": tables.orders,
                "Item": ORDER_MAPPER.to_item(order),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Put": {
                "TableName": tables.users,
                "Item": BALANCE_TRANSACTION_MAPPER.to_item(payment),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Put": {
                "TableName": tables.orders,
                "Item": ASSET_TRANSACTION_MAPPER.to_item(move),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]


def peer_buy(client: Any, tables: TableNames, user: str, asset: str) -> None:
    """The peer: read the price, write everything in one transaction; on a cancel, again."""
    for _ in range(20):
        reply = client.get_item(
            TableName=tables.inventory, Key=asset_key(asset), ConsistentRead=True
        )
        price = ASSET_MAPPER.from_item(reply["Item"]).price_usd
        try:
            client.transact_write_items(
                TransactItems=_peer_items(tables, user, asset, price),
                ClientRequestToken=uuid.uuid4().hex,
            )
            return
        except client.exceptions.TransactionCanceledException:
            continue
    raise RuntimeError("the peer's buy kept being cancelled")


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Run:
    flows_per_s: float
    cpu_ms: float  # client CPU per flow
    requests: float  # per flow
    failed: int


def _measure(
    flows: int, threads: int, users: list[str], buy: Callable[[str], object], counter: _Counted
) -> Run:
    failures: Counter[str] = Counter()
    lock = threading.Lock()

    def one(i: int) -> None:
        try:
            buy(users[i % len(users)])
        except (CNOPException, RuntimeError) as exc:
            with lock:
                failures[type(exc).__name__] += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(threads)))  # warm up connections
        counter.calls.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        list(pool.map(one, range(flows)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Run(flows / wall, cpu / flows * 1000, counter.total() / flows, sum(failures.values()))


def _scenario(
    label: str,
    *,
    rounds: int,
    flows: int,
    threads: int,
    ours: tuple[list[str], Callable[[str], object], _Counted],
    peer: tuple[list[str], Callable[[str], object], _Counted],
) -> tuple[list[Run], list[Run]]:
    mine: list[Run] = []
    theirs: list[Run] = []
    for r in range(rounds):
        order = [(ours, mine), (peer, theirs)]
        for (who, buy, counter), into in order if r % 2 == 0 else reversed(order):
            into.append(_measure(flows, threads, who, buy, counter))
    for i, (m, t) in enumerate(zip(mine, theirs, strict=True)):
        print(
            f"   {label:<28} round {i + 1}: cnop {m.flows_per_s:7.1f}/s {m.cpu_ms:6.2f} ms CPU "
            f"{m.requests:5.2f} req (failed {m.failed}) | peer {t.flows_per_s:7.1f}/s "
            f"{t.cpu_ms:6.2f} ms CPU {t.requests:5.2f} req (failed {t.failed}) | "
            f"{m.flows_per_s / t.flows_per_s:.2f}x"
        )
    return mine, theirs


def _median_ratio(mine: list[Run], theirs: list[Run], attr: str) -> float:
    ratios: list[float] = [
        getattr(m, attr) / getattr(t, attr) for m, t in zip(mine, theirs, strict=True)
    ]
    return statistics.median(ratios)


def _med(runs: list[Run], attr: str) -> float:
    values: list[float] = [getattr(r, attr) for r in runs]
    return statistics.median(values)


def _cpu_one_at_a_time(settings: DataSettings, users: list[str], asset: str, n: int) -> None:
    """Client CPU per buy, one thread: cnop, the peer, and the peer without validation."""
    ours = _Counted(settings, validate=False)
    flows = TransactionManager(settings=settings, client=ours.client)
    default, unvalidated = _Counted(settings, validate=True), _Counted(settings, validate=False)
    sides: list[tuple[str, Callable[[], object]]] = [
        ("cnop", lambda: flows.buy(users[0], asset, QUANTITY)),
        ("peer", lambda: peer_buy(default.client, settings.tables, users[1], asset)),
        (
            "peer, parameter_validation off",
            lambda: peer_buy(unvalidated.client, settings.tables, users[2], asset),
        ),
    ]
    spent: dict[str, list[float]] = {label: [] for label, _ in sides}
    for _ in range(3):
        for label, buy in sides:
            buy()
            started = time.process_time()
            for _ in range(n):
                buy()
            spent[label].append((time.process_time() - started) / n * 1000)
    cnop = statistics.median(spent["cnop"])
    print(f"   client CPU per buy, one thread (median of 3 x {n}):")
    for label, values in spent.items():
        mid = statistics.median(values)
        print(f"      {label:<34}{mid:6.2f} ms   cnop / this {cnop / mid:.2f}x")
    for counted in (ours, default, unvalidated):
        counted.client.close()


def _requests_per_flow(settings: DataSettings, user: str, asset: str) -> None:
    counter = _Counted(settings, validate=False)
    flows = TransactionManager(settings=settings, client=counter.client)

    def count(label: str, run: Callable[[], Any]) -> Any:
        counter.calls.clear()
        result = run()
        calls = ", ".join(f"{n} {op}" for op, n in sorted(counter.calls.items()))
        print(f"   {label:<42}{counter.total():>3}  ({calls})")
        return result

    print("   requests per flow (one at a time):")
    count("deposit", lambda: flows.deposit(user, "10"))
    flows.deposit(user, "1", idempotency_key=f"k-{user}")
    count(
        "deposit, repeated key (answered from its record)",
        lambda: flows.deposit(user, "1", idempotency_key=f"k-{user}"),
    )
    count("withdraw", lambda: flows.withdraw(user, "5"))
    count("buy (market)", lambda: flows.buy(user, asset, QUANTITY))
    key = f"b-{user}"
    count("buy with a key", lambda: flows.buy(user, asset, QUANTITY, idempotency_key=key))
    count("sell (market)", lambda: flows.sell(user, asset, QUANTITY))
    order = OrderCreate(
        order_type=OrderType.LIMIT_BUY, asset_id=asset, quantity=Decimal(1), limit_price=PRICE
    )
    placed = count("limit order (placed, funds held)", lambda: flows.place_limit_order(user, order))
    count("cancel", lambda: flows.cancel_order(user, placed.order.order_id))
    waiting = flows.place_limit_order(user, order).order
    if waiting is None:
        raise SystemExit("a placed limit order came back without its order")
    count("fill_order (by id)", lambda: flows.fill_order(waiting.order_id, PRICE))
    flows.place_limit_order(user, order)
    count("match sweep, one fill (query + fill)", lambda: flows.match_limit_orders(asset, PRICE))
    counter.client.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench flows")
    parser.add_argument("--flows", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from cnop.logging import configure_logging, reset_logging

    with (
        tempfile.TemporaryDirectory() as tmp,
        _server("AWS_ENDPOINT_URL_DYNAMODB", "dynamodb") as url,
    ):
        configure_logging(
            service="bench", level="INFO", sink=Path(tmp) / "log.jsonl", intercept_stdlib=False
        )
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        settings = DataSettings.from_env(
            endpoint_url=url,
            region="us-east-1",
            tables=TableNames.from_env(f"bench{uuid.uuid4().hex[:6]}-", {}),
        )
        users, asset = _setup(settings, 24)
        # Each side its own users: neither's writes contend with the other's.
        mine, theirs, spare = users[:10], users[10:20], users[20:]
        ours = _Counted(settings, validate=False)
        peer = _Counted(settings, validate=True)
        flows = TransactionManager(settings=settings, client=ours.client)

        def cnop_buy(user: str) -> object:
            return flows.buy(user, asset, QUANTITY)

        def hand_buy(user: str) -> object:
            peer_buy(peer.client, settings.tables, user, asset)
            return None

        try:
            print(
                f"market buys of {QUANTITY} at {PRICE} USD, {args.flows} per run, "
                f"{args.rounds} rounds, DynamoDB Local at {url}"
            )
            wide = _scenario(
                "10 users x 4 threads",
                rounds=args.rounds,
                flows=args.flows,
                threads=40,
                ours=(mine, cnop_buy, ours),
                peer=(theirs, hand_buy, peer),
            )
            busy = _scenario(
                "1 busy user, 4 threads",
                rounds=args.rounds,
                flows=args.flows,
                threads=4,
                ours=(mine[:1], cnop_buy, ours),
                peer=(theirs[:1], hand_buy, peer),
            )
            _cpu_one_at_a_time(settings, spare[1:], asset, max(args.flows // 4, 20))
            _requests_per_flow(settings, spare[0], asset)
        finally:
            ours.client.close()
            peer.client.close()
            reset_logging()

    def add(
        measure: str,
        runs: tuple[list[Run], list[Run]],
        attr: str,
        *,
        unit: str,
        target: float,
        higher: bool,
    ) -> None:
        ratio = _median_ratio(*runs, attr)
        digits = 1 if attr == "flows_per_s" else 2
        summary.add(
            "cnop-data",
            measure,
            cnop=f"{_med(runs[0], attr):,.{digits}f}{unit}",
            peer=f"{_med(runs[1], attr):,.{digits}f}{unit} (boto3 by hand)",
            ratio=ratio,
            target=f"{'>=' if higher else '<='} {target}x",
            met=ratio >= target if higher else ratio <= target,
        )

    add("buys/s, 10 users x 4 threads", wide, "flows_per_s", unit="/s", target=0.9, higher=True)
    add(
        "client CPU per buy, 10 users x 4 threads",
        wide,
        "cpu_ms",
        unit=" ms",
        target=1.2,
        higher=False,
    )
    add("buys/s, 1 busy user x 4 threads", busy, "flows_per_s", unit="/s", target=0.8, higher=True)
    requests = _med(busy[0], "requests")
    summary.add(
        "cnop-data",
        "requests per buy, 1 busy user x 4 threads",
        cnop=f"{requests:.2f}",
        peer=f"{MIN_REQUESTS_BUY} (minimum)",
        ratio=requests / MIN_REQUESTS_BUY,
        target="<= 1.2x",
        met=requests / MIN_REQUESTS_BUY <= 1.2,
    )
    return 0
