"""Attacks on the money flows: each test is a sequence a hostile caller or network can
produce, and what the flows' documented guarantees say must come of it.

Each was a defect found by attacking the flows (a short retention that let an unknown
outcome's retry apply twice, an untyped error for NaN or a lone surrogate, a hold stranded
through the DAO, a sale no fill could settle, an order placed after its expiry, an applied
request reported as a plain failure, a committed flow reported failed by a lock's own
error, a sweep stopped by one fill's unknown outcome); each test failed before its fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    AsyncTransactionManager,
    BalanceDAO,
    DataSettings,
    OrderCreate,
    OrderDAO,
    OrderType,
    RetryPolicy,
    TransactionManager,
    open_async_client,
)
from cnop.exceptions import (
    CNOPClientException,
    CNOPConfigurationException,
    CNOPInvalidStateTransitionException,
    CNOPOutcomeUnknownException,
    CNOPValidationException,
)

from .invariants import check_invariants

fp = pytest.importorskip("cnop_faultproxy")

WRITE = "TransactWriteItems"


def _proxied(data_settings: DataSettings, url: str) -> DataSettings:
    return DataSettings.from_env(
        endpoint_url=url,
        tables=data_settings.tables,
        region="us-east-1",
        connect_timeout=1.0,
        read_timeout=1.0,
        max_attempts=1,
    )


def _balance(settings: DataSettings, user: str) -> Decimal:
    return BalanceDAO(settings=settings).get_balance(user).balance


def _ledger(settings: DataSettings, user: str) -> list[Any]:
    return BalanceDAO(settings=settings).list_transactions(user, limit=100).items


# --- exactly once and idempotency retention -----------------------------------------------


def test_a_retention_shorter_than_a_resolving_retry_is_refused(
    data_settings: DataSettings,
) -> None:
    # A write applied with its reply lost ends in CNOPOutcomeUnknownException; the retry
    # with the key it names must still find the record: the retention outlives DynamoDB's
    # token window and the re-send window.
    with pytest.raises(CNOPConfigurationException, match="15 minutes"):
        TransactionManager(settings=data_settings, idempotency_retention=timedelta(seconds=1))


@pytest.mark.slow
def test_a_retry_with_the_key_an_unknown_outcome_names_never_applies_twice(
    data_settings: DataSettings, dynamodb_proxy: Any, make_user: Callable[[], str]
) -> None:
    user = make_user()
    manager = TransactionManager(
        settings=_proxied(data_settings, dynamodb_proxy.url),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05, resends=1),
        idempotency_retention=timedelta(minutes=15),  # the shortest allowed
    )
    key = f"k-{uuid.uuid4().hex[:12]}"
    # Applied, reply lost; the re-send and the record lookup are lost too.
    dynamodb_proxy.plan(WRITE, [fp.DROP_REPLY, fp.RESET])
    dynamodb_proxy.plan("GetItem", [fp.RESET])
    with pytest.raises(CNOPOutcomeUnknownException) as caught:
        manager.deposit(user, "100", idempotency_key=key)
    assert caught.value.details["idempotency_key"] == key
    # The client does what the error says, a little later (its own backoff).
    time.sleep(2.1)
    result = manager.deposit(user, "100", idempotency_key=key)
    assert result.replayed
    assert _balance(data_settings, user) == Decimal(100)
    assert len(_ledger(data_settings, user)) == 1


# --- hostile input ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["NaN", "sNaN", "-NaN"])
@pytest.mark.parametrize("what", ["amount", "quantity"])
def test_adjust_refuses_not_a_number_with_a_typed_error(
    flows: Any, make_user: Callable[[], str], make_asset: Callable[..., str], bad: str, what: str
) -> None:
    user = make_user()
    extra: dict[str, Any] = (
        {"amount": Decimal(bad)}
        if what == "amount"
        else {"asset_id": make_asset(), "quantity": Decimal(bad)}
    )
    with pytest.raises(CNOPValidationException):
        flows.adjust(user, reason="Correction", operator="operator_1", **extra)


def test_a_limit_sell_whose_total_cannot_be_stored_is_refused_as_bad_input(
    flows: Any,
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    user, asset = make_user(), make_asset("10")
    flows.deposit(user, "100")
    flows.buy(user, asset, "2")
    order = OrderCreate(
        order_type=OrderType.LIMIT_SELL,
        asset_id=asset,
        quantity=Decimal("1.00000001"),
        limit_price=Decimal("9" * 38),
    )
    with pytest.raises(CNOPClientException):
        flows.place_limit_order(user, order)
    check_invariants(data_settings, [user], None)


# --- holds ----------------------------------------------------------------------------------


def test_no_dao_call_strands_a_held_order(
    flows: Any,
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    user, asset = make_user(), make_asset("10")
    flows.deposit(user, "100")
    placed = flows.place_limit_order(
        user,
        OrderCreate(
            order_type=OrderType.LIMIT_BUY,
            asset_id=asset,
            quantity=Decimal(2),
            limit_price=Decimal(9),
        ),
    )
    assert placed.order is not None
    assert _balance(data_settings, user) == Decimal(82)
    try:
        OrderDAO(settings=data_settings).update_status(placed.order.order_id, "triggered")
    except CNOPInvalidStateTransitionException:
        return  # refused like a terminal change of a held order: nothing stranded
    # Accepted: then the owner must still be able to get the hold back.
    flows.cancel_order(user, placed.order.order_id)
    assert _balance(data_settings, user) == Decimal(100)
    check_invariants(data_settings, [user], None)


@pytest.mark.parametrize("flow", ["deposit", "withdraw", "adjust"])
def test_a_lone_surrogate_in_free_text_is_refused_with_a_typed_error(
    flows: Any, data_settings: DataSettings, make_user: Callable[[], str], flow: str
) -> None:
    user = make_user()
    flows.deposit(user, "50")
    text = "Refund \ud800 of order 7"
    if flow == "adjust":
        call = functools.partial(flows.adjust, user, amount="1", reason=text, operator="operator_1")
    else:
        call = functools.partial(getattr(flows, flow), user, "10", description=text)
    with pytest.raises(CNOPValidationException):
        call()
    assert _balance(data_settings, user) == Decimal(50)
    assert len(_ledger(data_settings, user)) == 1


# --- the optional per-user lock -------------------------------------------------------------


class _ReleaseFails:
    """A user lock (the UserLocks protocol) whose release fails like a lost Redis link."""

    def __init__(self) -> None:
        self.released = 0

    @contextlib.contextmanager
    def user_lock(self, username: str, operation: str, /) -> Iterator[None]:
        yield
        self.released += 1
        raise ConnectionError("Connection reset by peer (releasing the lock)")


def test_a_committed_flow_returns_its_result_when_the_lock_release_fails(
    data_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user, locks = make_user(), _ReleaseFails()
    manager = TransactionManager(settings=data_settings, locks=locks)
    result = manager.deposit(user, "25")
    assert locks.released == 1
    assert result.amount == Decimal(25)
    assert _balance(data_settings, user) == Decimal(25)


# --- limit orders that can never settle -----------------------------------------------------


def test_a_limit_sell_that_no_fill_could_settle_is_refused_at_placement(
    flows: Any,
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    user, asset = make_user(), make_asset("10")
    flows.deposit(user, "100")
    flows.buy(user, asset, "2")
    order = OrderCreate(
        order_type=OrderType.LIMIT_SELL,
        asset_id=asset,
        quantity=Decimal(1),
        limit_price=Decimal("1" + "0" * 30),
    )
    try:
        placed = flows.place_limit_order(user, order)
    except CNOPClientException:
        check_invariants(data_settings, [user], None)
        return  # refused like a limit buy whose cost is out of bounds
    assert placed.order is not None
    # Placed: then some price that crosses it must be able to fill it.
    swept = flows.match_limit_orders(asset, "1" + "0" * 30)
    assert [r.order.order_id for r in swept.done if r.order] == [placed.order.order_id]


def test_a_limit_order_is_not_placed_after_its_expiry(
    flows: Any,
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    user, asset = make_user(), make_asset("10")
    flows.deposit(user, "100")
    order = OrderCreate(
        order_type=OrderType.LIMIT_BUY,
        asset_id=asset,
        quantity=Decimal("1"),
        limit_price=Decimal("9"),
        expires_at=datetime.now(timezone.utc) + timedelta(seconds=1),
    )
    time.sleep(1.2)  # the request waited (a lock, a backoff) past the order's expiry
    with pytest.raises(CNOPClientException):
        flows.place_limit_order(user, order)
    assert _balance(data_settings, user) == Decimal(100)


# --- two instances, one key ---------------------------------------------------------------


def test_a_request_applied_by_a_racing_instance_is_never_reported_as_a_plain_failure(
    data_settings: DataSettings, dynamodb_proxy: Any, make_user: Callable[[], str]
) -> None:
    user, key = make_user(), f"k-{uuid.uuid4().hex[:12]}"
    first = TransactionManager(settings=data_settings)
    second = TransactionManager(
        settings=_proxied(data_settings, dynamodb_proxy.url),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05),
    )
    raced: list[Any] = []

    def first_instance_commits_meanwhile(request: Any) -> bool:
        # The second instance has read (no record yet) and planned; as its write goes
        # out, the first instance (a client's earlier try) commits the same request.
        if request.operation == WRITE and not raced:
            raced.append(first.deposit(user, "30", idempotency_key=key))
            return True
        return False

    dynamodb_proxy.plan(first_instance_commits_meanwhile, [fp.FORWARD])
    dynamodb_proxy.plan("GetItem", [fp.RESET])  # the record lookup is lost
    unknown: CNOPOutcomeUnknownException | None = None
    try:
        result = second.deposit(user, "30", idempotency_key=key)
    except CNOPOutcomeUnknownException as exc:
        unknown = exc
    assert raced, "the race was not staged"
    if unknown is not None:
        assert unknown.details["idempotency_key"] == key
    else:
        assert result.replayed
        assert result.balance_transaction == raced[0].balance_transaction
    assert _balance(data_settings, user) == Decimal(30)


# --- sweeps ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_unknown_fill_does_not_stop_a_match_sweep(
    data_settings: DataSettings,
    dynamodb_proxy: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    direct = TransactionManager(settings=data_settings)
    matcher = TransactionManager(
        settings=_proxied(data_settings, dynamodb_proxy.url),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05, resends=1),
    )
    user, asset = make_user(), make_asset("10")
    direct.deposit(user, "100")
    ids = []
    for limit in ("9", "8"):  # both cross 7; the 9 is matched first
        placed = direct.place_limit_order(
            user,
            OrderCreate(
                order_type=OrderType.LIMIT_BUY,
                asset_id=asset,
                quantity=Decimal(1),
                limit_price=Decimal(limit),
            ),
        )
        assert placed.order is not None
        ids.append(placed.order.order_id)
    # The first fill: applied, reply lost, its re-send and its record lookup lost too.
    dynamodb_proxy.plan(WRITE, [fp.DROP_REPLY, fp.RESET])
    dynamodb_proxy.plan("GetItem", [fp.FORWARD, fp.RESET])  # the order read, the lookup
    with contextlib.suppress(CNOPOutcomeUnknownException):
        matcher.match_limit_orders(asset, "7")
    orders = OrderDAO(settings=data_settings)
    assert orders.get_order(ids[0]).status.value == "completed"  # the lost reply's fill
    assert orders.get_order(ids[1]).status.value == "completed"
    check_invariants(data_settings, [user], None)


class _AsyncReleaseFails:
    """The async form (AsyncUserLocks) of a lock whose release fails."""

    def __init__(self) -> None:
        self.released = 0

    @contextlib.asynccontextmanager
    async def auser_lock(self, username: str, operation: str, /) -> AsyncIterator[None]:
        yield
        self.released += 1
        raise ConnectionError("Connection reset by peer (releasing the lock)")


def test_a_committed_async_flow_returns_its_result_when_the_lock_release_fails(
    data_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user, locks = make_user(), _AsyncReleaseFails()

    async def deposit() -> Any:
        async with open_async_client(data_settings) as client:
            manager = AsyncTransactionManager(client, settings=data_settings, locks=locks)
            return await manager.deposit(user, "25")

    result = asyncio.run(deposit())
    assert locks.released == 1
    assert result.amount == Decimal(25)
    assert _balance(data_settings, user) == Decimal(25)
