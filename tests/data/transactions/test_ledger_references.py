"""Deposits and withdrawals say what they are for; operators correct balances with new records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    AssetBalanceDAO,
    AssetTransactionDAO,
    BalanceDAO,
    DataSettings,
    FlowLimits,
    FlowType,
    TransactionManager,
    TransactionType,
)
from cnop.exceptions import (
    CNOPInsufficientAssetBalanceException,
    CNOPInsufficientBalanceException,
    CNOPLimitExceededException,
    CNOPValidationException,
)
from cnop.logging.testing import capture_logs

from .invariants import check_invariants


def test_a_deposit_keeps_its_description_and_external_reference(
    flows: Any, data_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user = make_user()
    done = flows.deposit(user, "25", description="Card top-up", external_reference="psp:ch_3Nq#1")
    assert done.balance_transaction.description == "Card top-up"
    assert done.balance_transaction.external_reference == "psp:ch_3Nq#1"
    [stored] = BalanceDAO(settings=data_settings).list_transactions(user).items
    assert (stored.description, stored.external_reference) == ("Card top-up", "psp:ch_3Nq#1")
    plain = flows.withdraw(user, "5")
    assert plain.balance_transaction.description == "Withdrawal"


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("external_reference", "ref\n"),
        ("external_reference", " ref"),
        ("external_reference", "r" * 129),
        ("external_reference", "ref\x00"),
        ("external_reference", 5),
        ("description", " padded"),
        ("description", "<script>x</script>"),
        ("description", "x" * 501),
        ("description", "nul\x00"),
        ("description", ""),
    ],
)
def test_bad_references_and_descriptions_are_refused(
    flows: Any, make_user: Callable[[], str], field: str, bad: Any
) -> None:
    with pytest.raises(CNOPValidationException, match=field):
        flows.deposit(make_user(), "5", **{field: bad})


def test_an_operator_adjusts_a_balance_and_a_holding_with_new_records(
    flows: Any,
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    user, asset = make_user(), make_asset("10")
    flows.deposit(user, "50")
    with capture_logs() as lines:
        credit = flows.adjust(
            user, amount="12.34", reason="Chargeback reversed", operator="ops_ann"
        )
    assert credit.flow is FlowType.ADJUST
    assert credit.amount == Decimal("12.34")
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal("62.34")
    record = credit.balance_transaction
    assert record.transaction_type is TransactionType.SYSTEM_ADJUSTMENT
    assert "ops_ann" in record.description
    assert "Chargeback reversed" in record.description
    audit = [line for line in lines if line.get("event") == "balance_adjusted"]
    assert audit
    assert (audit[0]["operator"], audit[0]["user"]) == ("ops_ann", user)
    debit = flows.adjust(user, amount="-2.34", reason="Fee", operator="ops_ann")
    assert debit.amount == Decimal("-2.34")
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal(60)
    held = flows.adjust(
        user, asset_id=asset, quantity="3", reason="Airdrop correction", operator="ops_bob"
    )
    assert held.quantity == Decimal(3)
    holding = AssetBalanceDAO(settings=data_settings).get_asset_balance(user, asset)
    assert holding.quantity == Decimal(3)
    moves = AssetTransactionDAO(settings=data_settings).list_transactions(user).items
    assert [m.quantity for m in moves] == [Decimal(3)]
    check_invariants(data_settings, [user], None)


def test_an_adjustment_never_makes_a_balance_negative(
    flows: Any,
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    user, asset = make_user(), make_asset("10")
    flows.deposit(user, "5")
    with pytest.raises(CNOPInsufficientBalanceException):
        flows.adjust(user, amount="-5.01", reason="Too much", operator="ops_ann")
    with pytest.raises(CNOPInsufficientAssetBalanceException):
        flows.adjust(user, asset_id=asset, quantity="-1", reason="None held", operator="ops_ann")
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal(5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amount": "1", "reason": "", "operator": "ops_ann"},
        {"amount": "1", "reason": "ok", "operator": "bad operator"},
        {"amount": "1", "reason": "ok", "operator": None},
        {"reason": "neither", "operator": "ops_ann"},
        {"amount": "1", "asset_id": "BTC", "quantity": "1", "reason": "both", "operator": "o_1"},
        {"amount": "--1", "reason": "ok", "operator": "ops_ann"},
        {"amount": "\u0661", "reason": "ok", "operator": "ops_ann"},
    ],
)
def test_bad_adjustments_are_refused(
    flows: Any, make_user: Callable[[], str], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(CNOPValidationException):
        flows.adjust(make_user(), **kwargs)


def test_a_daily_deposit_cap_is_enforced_in_the_transaction(
    data_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    flows = TransactionManager(
        settings=data_settings,
        limits=FlowLimits(daily_deposit=Decimal(100), daily_withdraw=Decimal(30)),
    )
    user = make_user()
    flows.deposit(user, "60")
    with pytest.raises(CNOPLimitExceededException, match="40") as caught:
        flows.deposit(user, "41")
    assert caught.value.details["limit"] == "daily_deposit"
    assert caught.value.details["left"] == "40"
    flows.deposit(user, "40")
    flows.withdraw(user, "30")
    with pytest.raises(CNOPLimitExceededException, match="withdraw limit"):
        flows.withdraw(user, "0.01")
    with pytest.raises(CNOPLimitExceededException):
        flows.deposit(user, "101")  # over the cap by itself
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal(70)


_DEPOSITOR = """
import json, sys
from decimal import Decimal
from cnop.data import DataSettings, FlowLimits, TableNames, TransactionManager
from cnop.exceptions import CNOPLimitExceededException
cfg = json.loads(sys.argv[1])
settings = DataSettings.from_env(endpoint_url=cfg["endpoint"], tables=TableNames(**cfg["tables"]),
                                 region="us-east-1")
flows = TransactionManager(settings=settings, limits=FlowLimits(daily_deposit=Decimal(cfg["cap"])))
done = refused = 0
for _ in range(cfg["count"]):
    try:
        flows.deposit(cfg["user"], cfg["amount"])
        done += 1
    except CNOPLimitExceededException:
        refused += 1
print(json.dumps({"done": done, "refused": refused}))
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_processes_at_the_edge_of_the_daily_cap_never_pass_it_together(
    data_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    # Under the original read-then-write check, concurrent deposits passed a 10,000 cap by
    # up to 15%: here 4 processes race for a cap of 100 in steps of 7.
    user = make_user()
    config = {
        "endpoint": data_settings.endpoint_url,
        "tables": {
            "users": data_settings.tables.users,
            "orders": data_settings.tables.orders,
            "inventory": data_settings.tables.inventory,
        },
        "user": user,
        "cap": "100",
        "amount": "7",
        "count": 6,
    }
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _DEPOSITOR, json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    results = [json.loads(w.communicate(timeout=170)[0].splitlines()[-1]) for w in workers]
    done = sum(r["done"] for r in results)
    assert done == 14  # 14 x 7 = 98 <= 100 < 105
    assert sum(r["refused"] for r in results) == 24 - 14
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal(98)
    check_invariants(data_settings, [user], None)
