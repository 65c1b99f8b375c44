"""Attacks on flows that change balances by conditional ADD and read only what they need."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    AssetBalanceDAO,
    AssetDAO,
    AssetTransactionDAO,
    AssetUpdate,
    BalanceDAO,
    DataSettings,
    FlowType,
    OrderCreate,
    OrderDAO,
    OrderStatus,
    RetryPolicy,
    TransactionManager,
    UserDAO,
    UserUpdate,
)
from cnop.data.models import Order
from cnop.data.transactions import operations as ops
from cnop.data.transactions.limits import order_cost, sale_proceeds
from cnop.data.types import utc_now
from cnop.exceptions import (
    CNOPAssetInactiveException,
    CNOPEntityNotFoundException,
    CNOPException,
    CNOPIdempotencyConflictException,
    CNOPInsufficientAssetBalanceException,
    CNOPInsufficientBalanceException,
    CNOPInvalidStateTransitionException,
    CNOPOutcomeUnknownException,
    CNOPUserInactiveException,
    CNOPValidationException,
)

from .invariants import check_invariants

fp = pytest.importorskip("cnop_faultproxy")


def _limit(side: str, asset: str, quantity: str, price: str, **extra: Any) -> OrderCreate:
    return OrderCreate(
        order_type=f"limit_{side}", asset_id=asset, quantity=quantity, limit_price=price, **extra
    )


def test_a_repeated_fill_key_replays_the_fill(
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    balance_of: Callable[[str], Decimal],
) -> None:
    # The retry of a fill whose reply was lost: the order is completed by then, and the key's
    # record (not the order's status) must answer.
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    placed = flows.place_limit_order(name, _limit("buy", asset, "2", "10"))
    order_id = placed.order.order_id
    first = flows.fill_order(order_id, "9", idempotency_key="fill-once-1")
    again = flows.fill_order(order_id, "9", idempotency_key="fill-once-1")
    assert again.replayed
    assert again.order is not None
    assert again.order.status is OrderStatus.COMPLETED
    assert again.amount == first.amount == Decimal("2")
    assert balance_of(name) == Decimal("82")


def test_a_repeated_expiry_key_replays_the_expiry(
    flows: Any, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    placed = flows.place_limit_order(
        name, _limit("buy", asset, "1", "10", expires_at=utc_now() + timedelta(seconds=1))
    )
    time.sleep(1.2)  # past its expiry (the flow compares with the clock)
    first = flows.expire_order(placed.order.order_id, idempotency_key="expire-once-1")
    again = flows.expire_order(placed.order.order_id, idempotency_key="expire-once-1")
    assert again.replayed
    assert again.flow is FlowType.EXPIRE_ORDER
    assert again.amount == first.amount == Decimal("10.00")


def test_a_repeated_limit_order_key_replays_after_its_expiry_passed(
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    balance_of: Callable[[str], Decimal],
) -> None:
    # The order was placed (and its funds held); the caller's retry comes after its
    # expires_at. Telling the retry "expires_at has passed" would say the order was refused.
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    order = _limit("buy", asset, "1", "10", expires_at=utc_now() + timedelta(seconds=1))
    first = flows.place_limit_order(name, order, idempotency_key="limit-once-1")
    time.sleep(1.2)
    again = flows.place_limit_order(name, order, idempotency_key="limit-once-1")
    assert again.replayed
    assert again.order == first.order
    assert balance_of(name) == Decimal("90")


def _settled_per_order(settings: DataSettings, name: str) -> None:
    """Every limit order moved exactly what its final status says: held once, released once."""
    cash = _every(lambda c: BalanceDAO(settings=settings).list_transactions(name, cursor=c))
    ledger = AssetTransactionDAO(settings=settings)
    moves = _every(lambda c: ledger.list_transactions(name, cursor=c))
    orders = _every(lambda c: OrderDAO(settings=settings).list_orders(name, cursor=c))
    for order in orders:
        if not order.order_type.is_limit:
            continue
        usd = sum(
            (r.amount for r in cash if order.order_id in (r.reference_id, r.transaction_id)),
            Decimal(0),
        )
        qty = sum((m.quantity for m in moves if m.order_id == order.order_id), Decimal(0))
        held = order.total_amount if order.order_type.is_buy else order.quantity
        ended = order.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED)
        where = f"{order.order_id} {order.order_type.value} {order.status.value}"
        if order.order_type.is_buy:
            if order.status is OrderStatus.QUEUED:
                assert (usd, qty) == (-held, 0), where
            elif ended:
                assert (usd, qty) == (0, 0), where
            else:
                assert order.status is OrderStatus.COMPLETED, where
                assert order.price is not None
                assert qty == order.quantity, where
                assert usd == -order_cost(order.quantity, order.price), where
        elif order.status is OrderStatus.QUEUED:
            assert (usd, qty) == (0, -held), where
        elif ended:
            assert (usd, qty) == (0, 0), where
        else:
            assert order.status is OrderStatus.COMPLETED, where
            assert order.price is not None
            assert qty == -order.quantity, where
            assert usd == sale_proceeds(order.quantity, order.price), where


def _every(page_of: Callable[[str | None], Any]) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = page_of(cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


_REFUSALS = {
    "INSUFFICIENT_BALANCE",
    "INSUFFICIENT_ASSET_BALANCE",
    "VERSION_CONFLICT",
    "INVALID_STATE_TRANSITION",
    "ORDER_NOT_FOUND",
    "LIMIT_EXCEEDED",
}


@pytest.mark.timeout(300)
def test_one_user_many_threads_every_flow_no_money_from_nothing(
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    # One user, a small balance, eight threads: buys, sells, withdrawals, deposits, limit
    # orders that expire soon, cancels, fills, two matching sweeps and an expiry sweep,
    # while the asset's price moves. Nothing may go negative, every ledger must add up, and
    # every limit order must have moved exactly what its final status says.
    name, asset = make_user(), make_asset("10")
    flows = TransactionManager(settings=data_settings)
    assets = AssetDAO(settings=data_settings)
    flows.deposit(name, "60")
    flows.buy(name, asset, "2")
    placed: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def limit(rng: random.Random, side: str) -> None:
        px = str(rng.choice([9, 10, 11]))
        expiry = utc_now() + timedelta(seconds=rng.choice([1, 2, 60]))
        result = flows.place_limit_order(
            name, _limit(side, asset, str(rng.randint(1, 2)), px, expires_at=expiry)
        )
        with lock:
            placed.append(result.order.order_id)

    def settle(rng: random.Random, kind: str) -> None:
        with lock:
            pick = rng.choice(placed) if placed else None
        if pick is not None and kind == "cancel":
            flows.cancel_order(name, pick)
        elif pick is not None:
            flows.fill_order(pick, "10")

    def reprice(rng: random.Random) -> None:
        current = assets.get_asset(asset)
        price = Decimal(rng.choice(["9", "10", "11"]))
        assets.update_asset(asset, AssetUpdate(price_usd=price), current.version)

    actions: dict[str, Callable[[random.Random], Any]] = {
        "buy": lambda rng: flows.buy(name, asset, str(rng.randint(1, 3))),
        "sell": lambda rng: flows.sell(name, asset, str(rng.randint(1, 3))),
        "withdraw": lambda rng: flows.withdraw(name, str(rng.randint(1, 30))),
        "deposit": lambda rng: flows.deposit(name, str(rng.randint(1, 10))),
        "limit_buy": lambda rng: limit(rng, "buy"),
        "limit_sell": lambda rng: limit(rng, "sell"),
        "cancel": lambda rng: settle(rng, "cancel"),
        "fill": lambda rng: settle(rng, "fill"),
        "match": lambda _rng: flows.match_limit_orders(asset, "10"),
        "expire": lambda _rng: flows.expire_limit_orders(),
        "price": reprice,
    }

    def one(i: int) -> None:
        rng = random.Random(i)
        kind = rng.choice(sorted(actions))
        try:
            actions[kind](rng)
        except CNOPException as exc:
            if exc.code not in _REFUSALS and not isinstance(exc, CNOPValidationException):
                with lock:
                    errors.append(f"{kind}: {exc.code} {exc}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(160)))
    time.sleep(2.1)
    flows.expire_limit_orders()
    assert errors == []
    check_invariants(data_settings, [name], None)
    _settled_per_order(data_settings, name)


def _sweep_fill(flows: TransactionManager, known: Order, price: str) -> Any:
    # What match_limit_orders does with each order its index query returned.
    return flows.executor.run(ops._fill(flows.context, known.order_id, Decimal(price), known, None))


def _sweep_expire(flows: TransactionManager, known: Order) -> Any:
    return flows.executor.run(ops._expire(flows.context, known.order_id, known, None))


def _money(settings: DataSettings, name: str, asset: str) -> tuple[Decimal, Decimal]:
    balance = BalanceDAO(settings=settings).get_balance(name).balance
    try:
        held = AssetBalanceDAO(settings=settings).get_asset_balance(name, asset).quantity
    except CNOPEntityNotFoundException:
        held = Decimal(0)
    return balance, held


def test_a_sweep_fill_from_a_stale_copy_of_a_cancelled_order_moves_nothing(
    data_settings: DataSettings, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    flows = TransactionManager(settings=data_settings)
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    stale = flows.place_limit_order(name, _limit("buy", asset, "2", "10")).order
    flows.cancel_order(name, stale.order_id)
    before = _money(data_settings, name, asset)
    with pytest.raises(CNOPInvalidStateTransitionException):
        _sweep_fill(flows, stale, "9")
    with pytest.raises(CNOPInvalidStateTransitionException):
        _sweep_expire(flows, stale.model_copy(update={"expires_at": utc_now()}))
    assert _money(data_settings, name, asset) == before
    check_invariants(data_settings, [name], None)


def test_a_sweep_fill_from_a_copy_naming_another_owner_moves_nothing(
    data_settings: DataSettings, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    flows = TransactionManager(settings=data_settings)
    owner, other, asset = make_user(), make_user(), make_asset("10")
    flows.deposit(owner, "100")
    flows.deposit(other, "100")
    order = flows.place_limit_order(owner, _limit("buy", asset, "2", "10")).order
    forged = order.model_copy(update={"username": other})
    with pytest.raises(CNOPException) as refused:
        _sweep_fill(flows, forged, "9")
    assert refused.value.client_safe
    assert _money(data_settings, other, asset) == (Decimal(100), Decimal(0))
    assert _money(data_settings, owner, asset) == (Decimal(80), Decimal(0))
    check_invariants(data_settings, [owner, other], None)


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": Decimal(200)},  # more asset than the hold pays for
        {"asset_id": "OTHER"},  # another asset credited for this hold
        {"limit_price": Decimal(1)},  # a sell filled under the owner's limit
    ],
    ids=["quantity", "asset_id", "limit_price"],
)
def test_a_sweep_fill_from_a_copy_that_differs_from_the_order_moves_nothing(
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    change: dict[str, Any],
) -> None:
    # An index copy at the order's version is the order; one that is not (a projection
    # written by something else) must not settle it on its own terms.
    flows = TransactionManager(settings=data_settings)
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    flows.buy(name, asset, "3")
    side = "sell" if "limit_price" in change else "buy"
    order = flows.place_limit_order(name, _limit(side, asset, "2", "10")).order
    if change.get("asset_id") == "OTHER":
        change = {"asset_id": make_asset("1000")}
    forged = order.model_copy(update=change)
    before = {a: _money(data_settings, name, a) for a in {asset, forged.asset_id}}
    refused: CNOPException | None = None
    try:
        _sweep_fill(flows, forged, "5" if side == "sell" else "9")
    except CNOPException as exc:
        refused = exc
    if refused is not None:
        # Refused: nothing moved, the order still waits.
        assert refused.client_safe
        assert {a: _money(data_settings, name, a) for a in before} == before
        assert OrderDAO(settings=data_settings).get_order(order.order_id).status is (
            OrderStatus.QUEUED
        )
    else:
        # Or filled on the order's own terms (planned again from the order itself).
        assert side == "buy"
        balance, held = before[asset]
        assert _money(data_settings, name, asset) == (balance + 2, held + 2)
        for other in set(before) - {asset}:
            assert _money(data_settings, name, other)[1] == before[other][1]
    check_invariants(data_settings, [name], None)
    _settled_per_order(data_settings, name)


def test_refusals_name_what_the_database_had(
    flows: Any, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    # Nothing is read before the write: the numbers come from the item the condition saw.
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "40")
    with pytest.raises(CNOPInsufficientBalanceException) as short:
        flows.withdraw(name, "45")
    assert "45 USD needed, 40 USD available" in str(short.value)
    with pytest.raises(CNOPInsufficientAssetBalanceException) as none_held:
        flows.sell(name, asset, "1")
    assert "1 needed, 0 held" in str(none_held.value)
    flows.buy(name, asset, "3")
    with pytest.raises(CNOPInsufficientAssetBalanceException) as few:
        flows.place_limit_order(name, _limit("sell", asset, "5", "10"))
    assert "5 needed, 3 held" in str(few.value)
    with pytest.raises(CNOPInsufficientBalanceException) as cost:
        flows.buy(name, asset, "2")
    assert "20.00 USD needed, 10.00 USD available" in str(cost.value)


def test_a_deactivated_asset_or_user_stops_a_market_order_before_money_moves(
    flows: Any,
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    balance_of: Callable[[str], Decimal],
) -> None:
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "40")
    assets = AssetDAO(settings=data_settings)
    current = assets.get_asset(asset)
    assets.update_asset(asset, AssetUpdate(is_active=False), current.version)
    with pytest.raises(CNOPAssetInactiveException):
        flows.buy(name, asset, "1", idempotency_key="inactive-1")
    users = UserDAO(settings=data_settings)
    user = users.get_user_by_username(name)
    users.update_user(name, UserUpdate(is_active=False), user.version)
    with pytest.raises(CNOPUserInactiveException):
        flows.withdraw(name, "1")
    assert balance_of(name) == Decimal(40)


def test_a_repeated_write_only_key_replays_even_when_its_conditions_now_fail(
    flows: Any,
    data_settings: DataSettings,
    make_user: Callable[[], str],
    balance_of: Callable[[str], Decimal],
) -> None:
    # Nothing is read first: the record's condition must win over the balance's and the
    # user's, which fail too by now.
    name = make_user()
    flows.deposit(name, "30")
    drained = flows.withdraw(name, "30", idempotency_key="drain-1")
    again = flows.withdraw(name, "30", idempotency_key="drain-1")
    assert again.replayed
    assert again.balance_transaction == drained.balance_transaction
    users = UserDAO(settings=data_settings)
    users.update_user(name, UserUpdate(is_active=False), users.get_user_by_username(name).version)
    assert flows.withdraw(name, "30", idempotency_key="drain-1").replayed
    with pytest.raises(CNOPIdempotencyConflictException):
        flows.deposit(name, "5", idempotency_key="drain-1")
    assert balance_of(name) == Decimal(0)


def test_a_fill_whose_outcome_was_unknown_is_replayed_by_its_key(
    data_settings: DataSettings,
    dynamodb_proxy: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    balance_of: Callable[[str], Decimal],
) -> None:
    # The fill committed, its reply, the re-send and the record lookup were lost: the caller
    # retries with the key the error named, and the order is completed by then.
    flows = TransactionManager(settings=data_settings)
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    order = flows.place_limit_order(name, _limit("buy", asset, "2", "10")).order
    proxied = TransactionManager(
        settings=DataSettings.from_env(
            endpoint_url=dynamodb_proxy.url,
            tables=data_settings.tables,
            region="us-east-1",
            connect_timeout=1.0,
            read_timeout=1.0,
            max_attempts=1,
        ),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05, resends=1),
    )
    dynamodb_proxy.plan("TransactWriteItems", [fp.DROP_REPLY, fp.RESET])
    dynamodb_proxy.plan("GetItem", [fp.FORWARD, fp.RESET])  # the order read, the lookup
    with pytest.raises(CNOPOutcomeUnknownException):
        proxied.fill_order(order.order_id, "9", idempotency_key="lost-fill-1")
    dynamodb_proxy.clear()
    again = proxied.fill_order(order.order_id, "9", idempotency_key="lost-fill-1")
    assert again.replayed
    assert again.amount == Decimal("2.00")
    assert balance_of(name) == Decimal("82.00")
    check_invariants(data_settings, [name], None)
