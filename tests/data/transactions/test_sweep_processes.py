"""Matchers and a cancelling client in separate processes settle every order exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from cnop.data import (
    AssetTransactionDAO,
    DataSettings,
    OrderCreate,
    OrderDAO,
    OrderStatus,
    OrderType,
    TransactionManager,
)

from .invariants import check_invariants

_WORKER = """
import json, sys
from cnop.data import DataSettings, TableNames, TransactionManager
from cnop.exceptions import CNOPClientException
cfg = json.loads(sys.argv[1])
settings = DataSettings.from_env(endpoint_url=cfg["endpoint"], tables=TableNames(**cfg["tables"]),
                                 region="us-east-1")
flows = TransactionManager(settings=settings)
if cfg["role"] == "match":
    sweep = flows.match_limit_orders(cfg["asset"], cfg["price"])
    done = [r.order.order_id for r in sweep.done]
    print(json.dumps({"filled": done, "lost": sweep.lost, "failed": sweep.failed}))
else:
    cancelled = []
    for user, order_id in cfg["orders"]:
        try:
            flows.cancel_order(user, order_id)
            cancelled.append(order_id)
        except CNOPClientException:
            pass
    print(json.dumps({"cancelled": cancelled}))
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_matcher_processes_and_a_canceller_resolve_each_order_once(
    data_settings: DataSettings, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    users = [make_user() for _ in range(4)]
    asset = make_asset("10")
    setup = TransactionManager(settings=data_settings)
    placed: list[tuple[str, str]] = []
    for user in users:
        setup.deposit(user, "1000")
        for limit in (9, 8, 7, 6, 5):
            order = setup.place_limit_order(
                user,
                OrderCreate(
                    order_type=OrderType.LIMIT_BUY, asset_id=asset, quantity="1", limit_price=limit
                ),
            ).order
            assert order is not None
            placed.append((user, order.order_id))
    base: dict[str, Any] = {
        "endpoint": data_settings.endpoint_url,
        "tables": {
            "users": data_settings.tables.users,
            "orders": data_settings.tables.orders,
            "inventory": data_settings.tables.inventory,
        },
        "asset": asset,
        "price": "4.5",
    }
    roles = [
        {**base, "role": "match"},
        {**base, "role": "match"},
        {**base, "role": "cancel", "orders": placed[::2]},
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, json.dumps(role)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for role in roles
    ]
    outs = [json.loads(w.communicate(timeout=200)[0].splitlines()[-1]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    filled = outs[0]["filled"] + outs[1]["filled"]
    cancelled = outs[2]["cancelled"]
    assert not outs[0]["failed"]
    assert not outs[1]["failed"]
    ids = {order_id for _, order_id in placed}
    assert len(filled) == len(set(filled)), "an order was filled twice"
    assert not set(filled) & set(cancelled), "an order was filled and cancelled"
    assert set(filled) | set(cancelled) == ids
    orders = OrderDAO(settings=data_settings)
    for order_id in ids:
        status = orders.get_order(order_id).status
        expected = OrderStatus.COMPLETED if order_id in filled else OrderStatus.CANCELLED
        assert status is expected
    moves = AssetTransactionDAO(settings=data_settings)
    assert sum(len(moves.list_transactions(u, limit=100).items) for u in users) == len(filled)
    check_invariants(data_settings, users, None)
