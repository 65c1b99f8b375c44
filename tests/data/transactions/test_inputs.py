"""Bad input to any flow is a typed error naming the field, before any request is made."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cnop.data import DataSettings, FlowLimits, RetryPolicy, TransactionManager
from cnop.data.transactions.limits import order_cost, sale_proceeds
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPException,
    CNOPLimitExceededException,
    CNOPValidationException,
)


class NoClient:
    """Fails the test if a flow with bad input reaches DynamoDB."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a request ({name}) was made for bad input")


@pytest.fixture
def flows() -> TransactionManager:
    settings = DataSettings(region="us-east-1")
    return TransactionManager(settings=settings, client=NoClient())


@pytest.mark.parametrize(
    ("amount", "error", "text"),
    [
        (1.5, CNOPValidationException, "not a float"),
        ("-5", CNOPValidationException, "greater than zero"),
        ("0", CNOPValidationException, "greater than zero"),
        ("1.001", CNOPValidationException, "whole cents"),
        ("NaN", CNOPValidationException, "finite"),
        ("abc", CNOPValidationException, "must be a number"),
        (None, CNOPValidationException, "amount"),
        ("1000000.01", CNOPLimitExceededException, r"between 0\.01 and 1000000"),
    ],
)
def test_bad_amounts(
    flows: TransactionManager, amount: Any, error: type[CNOPException], text: str
) -> None:
    for flow in (flows.deposit, flows.withdraw):
        with pytest.raises(error, match=text):
            flow("alice_01", amount)


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        ("0", CNOPValidationException),
        ("1e-9", CNOPValidationException),
        (2.0, CNOPValidationException),
        ("1000001", CNOPLimitExceededException),
    ],
)
def test_bad_quantities(flows: TransactionManager, quantity: Any, error: type[Exception]) -> None:
    for flow in (flows.buy, flows.sell):
        with pytest.raises(error, match="quantity"):
            flow("alice_01", "BTC", quantity)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda f: f.deposit("<script>", "1"), "username"),
        (lambda f: f.buy("alice_01", "BTC-USD!", "1"), "asset_id"),
        (lambda f: f.cancel_order("alice_01", "not-an-id"), "order_id"),
        (lambda f: f.place_limit_order("alice_01", {"asset_id": "BTC"}), "order"),
        (lambda f: f.deposit("alice_01", "1", idempotency_key="x" * 40), "idempotency_key"),
    ],
)
def test_bad_identifiers(flows: TransactionManager, call: Any, field: str) -> None:
    with pytest.raises(CNOPValidationException, match=field):
        call(flows)


def test_limits_are_checked_when_configured() -> None:
    with pytest.raises(CNOPConfigurationException, match="max_amount"):
        FlowLimits(max_amount=Decimal(0))
    with pytest.raises(CNOPConfigurationException, match="min_amount"):
        FlowLimits(min_amount=Decimal(10), max_amount=Decimal(5))
    tight = FlowLimits(max_amount=Decimal(50))
    with pytest.raises(CNOPLimitExceededException, match=r"between 0\.01 and 50"):
        tight.amount("50.01")
    assert tight.amount("50") == Decimal(50)


def test_money_is_rounded_in_the_platforms_favour() -> None:
    assert order_cost(Decimal("0.333"), Decimal(1)) == Decimal("0.34")
    assert sale_proceeds(Decimal("0.333"), Decimal(1)) == Decimal("0.33")
    assert order_cost(Decimal("2"), Decimal("1.005")) == Decimal("2.01")


@pytest.mark.parametrize(
    "policy",
    [{"attempts": 0}, {"attempts": 2.5}, {"base_delay": -1}, {"base_delay": 1, "max_delay": 0.5}],
)
def test_retry_policies_are_checked(policy: dict[str, Any]) -> None:
    with pytest.raises(CNOPConfigurationException, match="RetryPolicy"):
        RetryPolicy(**policy)


@pytest.mark.parametrize("amount", [10**30, "1" + "0" * 37, Decimal("9" * 36 + ".99")])
def test_huge_amounts_are_a_limit_error(flows: TransactionManager, amount: Any) -> None:
    # 38 digits are a valid DynamoDB number, but far above the limits: a typed refusal.
    for flow in (flows.deposit, flows.withdraw):
        with pytest.raises(CNOPLimitExceededException, match="amount"):
            flow("alice_01", amount)


def test_money_is_rounded_exactly_beyond_28_digits() -> None:
    # Python's default context keeps 28 digits: rounding the product there first would
    # charge a cent too little and pay a cent too much.
    assert order_cost(Decimal("1000000.00000001"), Decimal("10000000.00000001")) == Decimal(
        "10000000000000.12"
    )
    assert sale_proceeds(Decimal("999999.99999999"), Decimal("10000000.00000001")) == Decimal(
        "9999999999999.90"
    )
    huge = Decimal("1" + "0" * 30)
    assert order_cost(Decimal("1000000"), huge) == Decimal("1" + "0" * 36)
