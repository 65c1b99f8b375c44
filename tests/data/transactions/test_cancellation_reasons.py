"""A cancelled flow transaction is explained by the exact item that failed (pure, no server)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from cnop.data import Asset, AssetBalance, Balance, FlowLimits, TableNames
from cnop.data.codec import Item
from cnop.data.errors import CancellationReason, reasons_to_exception
from cnop.data.layout import ASSET_BALANCE_MAPPER, ASSET_MAPPER, BALANCE_MAPPER
from cnop.data.transactions.plans import Plan, plan_buy, plan_sell
from cnop.data.transactions.snapshot import Snapshot
from cnop.exceptions import (
    CNOPAssetInactiveException,
    CNOPAssetNotFoundException,
    CNOPException,
    CNOPInsufficientAssetBalanceException,
    CNOPInsufficientBalanceException,
    CNOPServiceUnavailableException,
    CNOPUserNotFoundException,
    CNOPVersionConflictException,
)

NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)
BALANCE = Balance(username="alice_01", balance=Decimal(100), version=3)
ASSET = Asset(asset_id="BTC", name="Bitcoin", category="major", price_usd=Decimal(10), version=2)
HOLDING = AssetBalance(username="alice_01", asset_id="BTC", quantity=Decimal(5), version=7)
SNAPSHOT = Snapshot(asset=ASSET)
# Item order of a market flow: user, asset, balance, holding, order, ledger, asset ledger.
USER, ASSET_ITEM, BALANCE_ITEM, HOLDING_ITEM = 0, 1, 2, 3


def _buy() -> Plan:
    return plan_buy(
        TableNames(), FlowLimits(), "alice_01", "BTC", Decimal(2), snapshot=SNAPSHOT, now=NOW
    )


def _sell() -> Plan:
    return plan_sell(
        TableNames(), FlowLimits(), "alice_01", "BTC", Decimal(2), snapshot=SNAPSHOT, now=NOW
    )


def _cancelled(plan: Plan, index: int, old: Item | None) -> CNOPException:
    reasons = [CancellationReason("None") for _ in plan.items]
    reasons[index] = CancellationReason("ConditionalCheckFailed", "failed", old)
    return reasons_to_exception(reasons, plan.handlers)


def test_each_failed_item_names_its_reason() -> None:
    buy, sell = _buy(), _sell()
    poorer = BALANCE.model_copy(update={"balance": Decimal(5), "version": 3})
    emptier = HOLDING.model_copy(update={"quantity": Decimal(1)})
    inactive = ASSET.model_copy(update={"is_active": False})
    repriced = ASSET.model_copy(update={"price_usd": Decimal(11), "version": 3})
    cases: list[tuple[Plan, int, Item | None, type[CNOPException]]] = [
        (buy, USER, None, CNOPUserNotFoundException),
        (buy, ASSET_ITEM, None, CNOPAssetNotFoundException),
        (buy, ASSET_ITEM, ASSET_MAPPER.to_item(inactive), CNOPAssetInactiveException),
        (buy, ASSET_ITEM, ASSET_MAPPER.to_item(repriced), CNOPVersionConflictException),
        (buy, BALANCE_ITEM, None, CNOPUserNotFoundException),
        (buy, BALANCE_ITEM, BALANCE_MAPPER.to_item(poorer), CNOPInsufficientBalanceException),
        (
            sell,
            HOLDING_ITEM,
            ASSET_BALANCE_MAPPER.to_item(emptier),
            CNOPInsufficientAssetBalanceException,
        ),
        (sell, HOLDING_ITEM, None, CNOPInsufficientAssetBalanceException),
    ]
    for plan, index, old, expected in cases:
        assert type(_cancelled(plan, index, old)) is expected


def test_a_refusal_names_the_balance_the_database_had() -> None:
    # Balances are not read before the write: the refusal reports the item as it was when
    # its condition failed.
    poorer = BALANCE.model_copy(update={"balance": Decimal("5.25")})
    error = _cancelled(_buy(), BALANCE_ITEM, BALANCE_MAPPER.to_item(poorer))
    assert error.details == {"needed": "20.00", "available": "5.25"}
    emptier = HOLDING.model_copy(update={"quantity": Decimal("1.5")})
    error = _cancelled(_sell(), HOLDING_ITEM, ASSET_BALANCE_MAPPER.to_item(emptier))
    assert error.details == {"asset_id": "BTC", "needed": "2", "held": "1.5"}


def test_a_conflicting_transaction_is_retryable() -> None:
    plan = _buy()
    reasons = [CancellationReason("None") for _ in plan.items]
    reasons[BALANCE_ITEM] = CancellationReason("TransactionConflict")
    error = reasons_to_exception(reasons, plan.handlers)
    assert isinstance(error, CNOPServiceUnavailableException)
    assert error.retryable


@pytest.mark.parametrize("plan", [_buy(), _sell()])
def test_the_plan_reads_as_documented(plan: Plan) -> None:
    kinds = [next(iter(item)) for item in plan.items]
    assert kinds == ["ConditionCheck", "ConditionCheck", "Update", "Update", "Put", "Put", "Put"]
    # Balance and holding: an ADD conditioned only on what the change needs, never on a
    # version read earlier (concurrent flows of one user commit side by side).
    for index in (BALANCE_ITEM, HOLDING_ITEM):
        update = plan.items[index]["Update"]
        assert update["UpdateExpression"].startswith("ADD ")
        assert ":expected" not in update["ExpressionAttributeValues"]
        assert "version =" not in update.get("ConditionExpression", "")
    debited = plan.items[BALANCE_ITEM if plan.outcome().amount < 0 else HOLDING_ITEM]["Update"]
    assert ">= :needed" in debited["ConditionExpression"]
    # The asset: unchanged price, not unchanged version.
    asset = plan.items[ASSET_ITEM]["ConditionCheck"]
    assert asset["ExpressionAttributeValues"][":price"] == {"N": "10"}
    assert ":version" not in asset["ExpressionAttributeValues"]
