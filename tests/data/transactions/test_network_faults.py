"""Every flow x every network fault, through a fault-injecting proxy in front of DynamoDB Local.

Whatever happens to the write (its reply lost after DynamoDB applied it, a reply too late
for the client, a reset before it was sent, a throttle, a 500 before or after applying),
the flow is applied exactly once, and what the caller is told is true: a result means it
is in the ledger once; an error means it is not in the ledger, or is a retryable
CNOPOutcomeUnknownException that a retry with the key it names resolves.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cnop.data import (
    AsyncTransactionManager,
    BalanceDAO,
    DataSettings,
    FlowResult,
    OrderCreate,
    OrderType,
    RetryPolicy,
    TransactionManager,
    open_async_client,
)
from cnop.exceptions import CNOPException, CNOPOutcomeUnknownException

from .invariants import check_invariants

fp = pytest.importorskip("cnop_faultproxy")
pytestmark = pytest.mark.slow  # about a minute: run once per CI run, not once per Python

WRITE = "TransactWriteItems"
FAULTS: dict[str, Any] = {
    "lost-reply": fp.DROP_REPLY,
    "late-reply": fp.delay(1.5),
    "reset-unsent": fp.RESET,
    "throttled": fp.throttle(),
    "500-unapplied": fp.internal_error(),
    "500-applied": fp.internal_error(applied=True),
}
FLOWS = ("deposit", "withdraw", "buy", "sell", "limit", "cancel")


@dataclass
class Stage:
    """A user ready for any flow: cash, a holding and a waiting limit buy."""

    user: str
    asset: str
    order_id: str


@pytest.fixture
def stage(
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> Stage:
    direct = TransactionManager(settings=data_settings)
    user, asset = make_user(), make_asset("10")
    direct.deposit(user, "500")
    direct.buy(user, asset, "5")
    order = direct.place_limit_order(
        user,
        OrderCreate(order_type=OrderType.LIMIT_BUY, asset_id=asset, quantity="2", limit_price="8"),
    ).order
    assert order is not None
    return Stage(user, asset, order.order_id)


def _proxied(data_settings: DataSettings, url: str, max_attempts: int) -> DataSettings:
    return DataSettings.from_env(
        endpoint_url=url,
        tables=data_settings.tables,
        region="us-east-1",
        connect_timeout=1.0,
        read_timeout=1.0,
        max_attempts=max_attempts,
    )


def _call(manager: Any, flow: str, stage: Stage, key: str | None) -> Any:
    kw = {"idempotency_key": key}
    if flow == "deposit":
        return manager.deposit(stage.user, "100", **kw)
    if flow == "withdraw":
        return manager.withdraw(stage.user, "100", **kw)
    if flow == "buy":
        return manager.buy(stage.user, stage.asset, "1", **kw)
    if flow == "sell":
        return manager.sell(stage.user, stage.asset, "1", **kw)
    if flow == "limit":
        order = OrderCreate(
            order_type=OrderType.LIMIT_SELL, asset_id=stage.asset, quantity="1", limit_price="20"
        )
        return manager.place_limit_order(stage.user, order, **kw)
    return manager.cancel_order(stage.user, stage.order_id, **kw)


def _ledger_ids(settings: DataSettings, user: str) -> set[str]:
    page = BalanceDAO(settings=settings).list_transactions(user, limit=100)
    return {r.transaction_id for r in page.items}


def _check_once(
    data_settings: DataSettings,
    stage: Stage,
    flow: str,
    before: set[str],
    result: FlowResult,
) -> None:
    """The result is true: its records are stored, once, and nothing else was written."""
    after = _ledger_ids(data_settings, stage.user)
    new = after - before
    assert result.balance_transaction is None or new == {
        result.balance_transaction.transaction_id
    }, f"{flow}: ledger gained {new}"
    if result.balance_transaction is None:
        assert not new
    # balance = sum(ledger), holding = sum(asset ledger), nothing negative, no double apply.
    check_invariants(data_settings, [stage.user], None)
    # What the result says changed is what the ledger gained.
    if result.balance_transaction is not None:
        assert result.balance_transaction.amount == result.amount


def _run_until_known(
    call: Callable[[str | None], FlowResult], key: str | None
) -> tuple[FlowResult, int]:
    """Call, and retry under the key an outcome-unknown error names (as a client would)."""
    unknown = 0
    while True:
        try:
            return call(key), unknown
        except CNOPOutcomeUnknownException as exc:
            unknown += 1
            if not exc.retryable or unknown >= 3:
                raise
            key = exc.details["idempotency_key"]


# With botocore's own retries off, every fault reaches the flow's runner; with them on
# (botocore re-sends the same request itself), the faults after which DynamoDB applied it.
CASES = [
    pytest.param(flow, fault, keyed, attempts, id=f"{flow}-{fault}-{kid}-{aid}")
    for flow in FLOWS
    for fault in FAULTS
    for keyed, kid in ((False, "keyless"), (True, "keyed"))
    for attempts, aid in ((1, "no-client-retries"), (3, "client-retries"))
    if attempts == 1 or fault in ("lost-reply", "500-applied")
]


@pytest.mark.parametrize(("flow", "fault", "keyed", "max_attempts"), CASES)
def test_a_fault_on_the_write_never_applies_a_flow_twice(  # noqa: PLR0917 - fixtures
    data_settings: DataSettings,
    dynamodb_proxy: Any,
    stage: Stage,
    flow: str,
    fault: str,
    keyed: bool,
    max_attempts: int,
) -> None:
    manager = TransactionManager(
        settings=_proxied(data_settings, dynamodb_proxy.url, max_attempts),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.1),
    )
    before = _ledger_ids(data_settings, stage.user)
    dynamodb_proxy.plan(WRITE, [FAULTS[fault]])
    key = f"k-{uuid.uuid4().hex[:12]}" if keyed else None
    result, _ = _run_until_known(lambda k: _call(manager, flow, stage, k), key)
    records = dynamodb_proxy.records(WRITE)
    assert records[0].fault == FAULTS[fault], "the fault was not injected"
    assert not result.replayed or fault in ("lost-reply", "late-reply", "500-applied")
    _check_once(data_settings, stage, flow, before, result)
    # A client that retries anyway under its key gets the same result, applied once.
    if keyed:
        again = _call(manager, flow, stage, key)
        assert again.replayed
        assert again.records == result.records
        _check_once(data_settings, stage, flow, before, result)


def test_a_write_whose_outcome_stays_unknown_is_a_retryable_error_a_keyed_retry_resolves(
    data_settings: DataSettings, dynamodb_proxy: Any, stage: Stage
) -> None:
    manager = TransactionManager(
        settings=_proxied(data_settings, dynamodb_proxy.url, 1),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05, resends=2),
    )
    before = _ledger_ids(data_settings, stage.user)
    # The first send is applied and its reply lost; every re-send and the record lookup
    # are lost too: nothing the client can learn.
    dynamodb_proxy.plan(WRITE, [fp.DROP_REPLY, fp.RESET, fp.RESET])
    dynamodb_proxy.plan("GetItem", [fp.RESET])
    with pytest.raises(CNOPOutcomeUnknownException) as caught:
        manager.deposit(stage.user, "100")
    key = caught.value.details["idempotency_key"]
    assert key in caught.value.message
    assert caught.value.retryable
    assert caught.value.status_code == 503
    # It was applied (by the first send): the retry under the named key says so, once.
    result = manager.deposit(stage.user, "100", idempotency_key=key)
    assert result.replayed
    _check_once(data_settings, stage, "deposit", before, result)


def test_an_unknown_outcome_that_was_not_applied_is_applied_once_by_the_retry(
    data_settings: DataSettings, dynamodb_proxy: Any, stage: Stage
) -> None:
    manager = TransactionManager(
        settings=_proxied(data_settings, dynamodb_proxy.url, 1),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05, resends=1),
    )
    before = _ledger_ids(data_settings, stage.user)
    dynamodb_proxy.plan(WRITE, [fp.RESET, fp.RESET])
    dynamodb_proxy.plan("GetItem", [fp.RESET])
    with pytest.raises(CNOPOutcomeUnknownException) as caught:
        manager.withdraw(stage.user, "100")
    assert _ledger_ids(data_settings, stage.user) == before
    result = manager.withdraw(
        stage.user, "100", idempotency_key=caught.value.details["idempotency_key"]
    )
    assert not result.replayed
    _check_once(data_settings, stage, "withdraw", before, result)


@pytest.fixture
def async_manager(
    data_settings: DataSettings, dynamodb_proxy: Any
) -> Iterator[tuple[AsyncTransactionManager, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    opened = open_async_client(_proxied(data_settings, dynamodb_proxy.url, 1))
    client = loop.run_until_complete(opened.__aenter__())
    try:
        manager = AsyncTransactionManager(
            client, settings=data_settings, retry=RetryPolicy(base_delay=0.01, max_delay=0.1)
        )
        yield manager, loop
    finally:
        loop.run_until_complete(opened.__aexit__(None, None, None))
        loop.close()


@pytest.mark.parametrize("fault", ["lost-reply", "late-reply", "500-applied", "throttled"])
@pytest.mark.parametrize("flow", FLOWS)
def test_the_async_flows_are_applied_once_too(  # noqa: PLR0917 - fixtures
    data_settings: DataSettings,
    dynamodb_proxy: Any,
    stage: Stage,
    async_manager: tuple[AsyncTransactionManager, asyncio.AbstractEventLoop],
    flow: str,
    fault: str,
) -> None:
    manager, loop = async_manager
    before = _ledger_ids(data_settings, stage.user)
    dynamodb_proxy.plan(WRITE, [FAULTS[fault]])

    def call(key: str | None) -> FlowResult:
        result: FlowResult = loop.run_until_complete(_call(manager, flow, stage, key))
        return result

    result, _ = _run_until_known(call, None)
    assert dynamodb_proxy.records(WRITE)[0].fault == FAULTS[fault]
    _check_once(data_settings, stage, flow, before, result)


def test_an_error_before_the_write_leaves_nothing_behind(
    data_settings: DataSettings, dynamodb_proxy: Any, stage: Stage
) -> None:
    # The read (a buy's price) is lost: nothing was sent that could write, so a plain error
    # is the truth.
    manager = TransactionManager(settings=_proxied(data_settings, dynamodb_proxy.url, 1))
    before = _ledger_ids(data_settings, stage.user)
    dynamodb_proxy.plan("GetItem", [fp.DROP_REPLY])
    with pytest.raises(CNOPException) as caught:
        manager.buy(stage.user, stage.asset, "1")
    assert not isinstance(caught.value, CNOPOutcomeUnknownException)
    assert caught.value.retryable
    assert _ledger_ids(data_settings, stage.user) == before
    assert not dynamodb_proxy.records(WRITE)
