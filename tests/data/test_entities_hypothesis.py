"""Random input to every entity: a valid model or CNOPEntityValidationException, nothing else."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnop.data import (
    Asset,
    AssetBalance,
    AssetCreate,
    AssetTransaction,
    AssetUpdate,
    Balance,
    BalanceTransaction,
    Order,
    OrderCreate,
    User,
    UserCreate,
    UserUpdate,
)
from cnop.data import validation as v
from cnop.data.models import CNOPModel
from cnop.exceptions import CNOPEntityValidationException, CNOPValidationException

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=60),
    st.datetimes(),
    st.dates(),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(
        [
            "alice_01",
            "a@b.co",
            "BTC",
            "deposit",
            "buy",
            "limit_buy",
            "pending",
            "10.5",
            "-3",
            "2026-01-01T00:00:00Z",
            "customer",
            "major",
        ]
    ),
)
MODELS: list[type[CNOPModel]] = [
    UserCreate,
    UserUpdate,
    User,
    Balance,
    BalanceTransaction,
    OrderCreate,
    Order,
    AssetCreate,
    AssetUpdate,
    Asset,
    AssetBalance,
    AssetTransaction,
]


def _fields(model: type[CNOPModel]) -> st.SearchStrategy[dict[str, Any]]:
    names = [*model.model_fields, "unexpected"]
    return st.dictionaries(st.sampled_from(names), ANY_VALUE, max_size=len(names))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_input_gives_a_model_or_the_validation_error(
    model: type[CNOPModel], data: st.DataObject
) -> None:
    fields = data.draw(_fields(model))
    try:
        entity = model(**fields)
    except CNOPEntityValidationException as exc:
        errors = exc.errors
        entity = None
    if entity is None:
        assert errors, "a validation error must say which field is wrong"
        return
    # Accepted: every decimal must be exact and finite, never a float.
    for value in entity.model_dump().values():
        assert not isinstance(value, float)
        if isinstance(value, Decimal):
            assert value.is_finite()


@given(
    username=st.from_regex(r"[A-Za-z0-9_]{6,30}", fullmatch=True),
    amount=st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(10**20), places=8),
)
def test_valid_input_is_always_accepted(username: str, amount: Decimal) -> None:
    record = BalanceTransaction(username=username, transaction_type="deposit", amount=amount)
    assert record.username == username.lower()
    assert record.amount == amount


VALIDATORS = [
    v.validate_username,
    v.validate_email,
    v.validate_name,
    v.validate_phone,
    v.validate_amount,
    v.validate_quantity,
    v.validate_price,
    v.validate_entity_id,
    v.validate_asset_id,
]


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda f: f.__name__)
@settings(max_examples=100, deadline=None)
@given(value=ANY_VALUE)
def test_validators_return_a_value_or_the_validation_error(validator: Any, value: Any) -> None:
    try:
        result = validator(value)
    except CNOPValidationException as exc:
        errors = exc.errors
        result = None
    if result is None:
        assert errors
        assert errors[0]["message"]
        return
    # Accepted values are returned as stored, never as something else than given.
    assert isinstance(result, (str, Decimal))
    if isinstance(result, str) and isinstance(value, str):
        assert result.lower() == value.lower()
