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


def test_a_buy_is_one_write_and_at_most_two_reads(
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
        writes, reads = _split(calls)
        assert calls["TransactWriteItems"] == 1
        assert writes == 1
        assert reads <= 2
    calls.clear()
    flows.sell(name, asset, "1")
    assert _split(calls) == (1, 1)


def test_deposit_withdraw_and_orders(
    counted: tuple[TransactionManager, Counter[str]],
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    flows, calls = counted
    name, asset = make_user(), make_asset("3")
    flows.deposit(name, "100")
    assert dict(calls) == {"TransactGetItems": 1, "TransactWriteItems": 1}
    calls.clear()
    placed = flows.place_limit_order(
        name, OrderCreate(order_type="limit_buy", asset_id=asset, quantity="1", limit_price="2")
    )
    assert _split(calls) == (1, 1)
    calls.clear()
    assert placed.order is not None
    flows.cancel_order(name, placed.order.order_id)
    assert _split(calls) == (1, 2)  # the order, then balance and holding in one read
