"""How many DynamoDB requests each flow makes, counted from botocore's own events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3.session
import pytest

from cnop.data import DataSettings, OrderCreate, TransactionManager

WRITES = {"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


@pytest.fixture
def counted(data_settings: DataSettings) -> Iterator[tuple[TransactionManager, Counter[str]]]:
    """A manager on its own client whose every request (retries included) is counted."""
    client = boto3.session.Session().client("dynamodb", **data_settings.client_kwargs())
    calls: Counter[str] = Counter()

    def count(request: Any, **_: Any) -> None:
        target = request.headers["X-Amz-Target"]
        calls[(target.decode() if isinstance(target, bytes) else target).split(".")[-1]] += 1

    # before-send fires once per HTTP attempt, so a request botocore retries counts twice.
    client.meta.events.register("before-send.dynamodb", count)
    yield TransactionManager(settings=data_settings, client=client), calls
    client.close()


def _split(calls: Counter[str]) -> tuple[int, int]:
    writes = sum(n for op, n in calls.items() if op in WRITES)
    return writes, sum(calls.values()) - writes


def test_a_buy_or_sell_is_one_read_of_the_price_and_one_write(
    counted: tuple[TransactionManager, Counter[str]],
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    flows, calls = counted
    name, asset = make_user(), make_asset("3")
    flows.deposit(name, "100")
    for key in (None, "buy-" + name[-20:]):
        calls.clear()
        flows.buy(name, asset, "2", idempotency_key=key)
        # The price, with a caller's key's record in the same request.
        expected_read = "GetItem" if key is None else "TransactGetItems"
        assert dict(calls) == {expected_read: 1, "TransactWriteItems": 1}
    calls.clear()
    flows.sell(name, asset, "1")
    assert dict(calls) == {"GetItem": 1, "TransactWriteItems": 1}


def test_deposit_withdraw_and_orders(
    counted: tuple[TransactionManager, Counter[str]],
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    flows, calls = counted
    name, asset = make_user(), make_asset("3")
    flows.deposit(name, "100")
    # Nothing read: the balance changes by a conditional ADD.
    assert dict(calls) == {"TransactWriteItems": 1}
    calls.clear()
    flows.withdraw(name, "10", idempotency_key="w-" + name[-20:])
    assert dict(calls) == {"TransactWriteItems": 1}
    calls.clear()
    placed = flows.place_limit_order(
        name, OrderCreate(order_type="limit_buy", asset_id=asset, quantity="1", limit_price="2")
    )
    assert dict(calls) == {"TransactWriteItems": 1}
    calls.clear()
    assert placed.order is not None
    flows.cancel_order(name, placed.order.order_id)
    assert dict(calls) == {"GetItem": 1, "TransactWriteItems": 1}  # the order, then the write


def test_a_repeated_key_costs_the_refused_write_and_the_record(
    counted: tuple[TransactionManager, Counter[str]], make_user: Callable[[], str]
) -> None:
    flows, calls = counted
    name, key = make_user(), "d-" + make_user()[-20:]
    flows.deposit(name, "5", idempotency_key=key)
    calls.clear()
    assert flows.deposit(name, "5", idempotency_key=key).replayed
    assert dict(calls) == {"TransactWriteItems": 1, "GetItem": 1}


def test_fills_and_expiries(
    counted: tuple[TransactionManager, Counter[str]],
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    flows, calls = counted
    name, asset = make_user(), make_asset("3")
    flows.deposit(name, "100")
    order = OrderCreate(order_type="limit_buy", asset_id=asset, quantity="1", limit_price="2")
    placed = [flows.place_limit_order(name, order).order for _ in range(3)]
    assert all(placed)
    calls.clear()
    flows.fill_order(placed[0].order_id, "2")  # type: ignore[union-attr]
    assert dict(calls) == {"GetItem": 1, "TransactWriteItems": 1}  # the order, then the write
    calls.clear()
    swept = flows.match_limit_orders(asset, "1.5")
    assert len(swept.done) == 2
    # A sweep plans each fill from the order its query found: one write per fill.
    assert calls["TransactWriteItems"] == 2
    assert set(calls) == {"Query", "TransactWriteItems"}
