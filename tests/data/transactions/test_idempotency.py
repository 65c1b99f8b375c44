"""Idempotency keys: a repeated request is applied once and answered with the first result."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import BalanceDAO, DataSettings, TransactionManager
from cnop.data.transactions import idempotency, runner
from cnop.exceptions import (
    CNOPIdempotencyConflictException,
    CNOPInsufficientBalanceException,
    CNOPValidationException,
)


def _key(unique_name: Callable[[str], str]) -> str:
    return unique_name("k")  # k-<12 hex>: well under 36 characters


def test_a_repeated_deposit_is_applied_once_and_replays_the_result(
    flows: Any,
    make_user: Callable[[], str],
    data_settings: DataSettings,
    unique_name: Callable[[str], str],
) -> None:
    name, key = make_user(), _key(unique_name)
    first = flows.deposit(name, "25.00", idempotency_key=key)
    again = flows.deposit(name, Decimal("25"), idempotency_key=key)  # same amount, other notation
    assert not first.replayed
    assert again.replayed
    assert again.model_copy(update={"replayed": False}) == first
    balances = BalanceDAO(settings=data_settings)
    assert balances.get_balance(name).balance == Decimal(25)
    assert len(balances.list_transactions(name).items) == 1


def test_the_same_key_with_other_parameters_is_a_conflict(
    flows: Any, make_user: Callable[[], str], unique_name: Callable[[str], str]
) -> None:
    name, key = make_user(), _key(unique_name)
    flows.deposit(name, "10", idempotency_key=key)
    with pytest.raises(CNOPIdempotencyConflictException, match="already used for a different"):
        flows.deposit(name, "11", idempotency_key=key)
    with pytest.raises(CNOPIdempotencyConflictException):
        flows.withdraw(name, "10", idempotency_key=key)


def test_a_replay_is_recognised_even_when_the_flow_could_not_run_again(
    flows: Any, make_user: Callable[[], str], unique_name: Callable[[str], str]
) -> None:
    name, key = make_user(), _key(unique_name)
    flows.deposit(name, "10")
    first = flows.withdraw(name, "10", idempotency_key=key)
    # The balance is now 0, so planning the withdrawal again would refuse it: the record wins.
    again = flows.withdraw(name, "10", idempotency_key=key)
    assert again.replayed
    assert again.balance_transaction == first.balance_transaction


def test_a_refused_request_does_not_spend_its_key(
    flows: Any,
    make_user: Callable[[], str],
    unique_name: Callable[[str], str],
    balance_of: Callable[[str], Decimal],
) -> None:
    name, key = make_user(), _key(unique_name)
    with pytest.raises(CNOPInsufficientBalanceException):
        flows.withdraw(name, "5", idempotency_key=key)
    flows.deposit(name, "5")
    done = flows.withdraw(name, "5", idempotency_key=key)  # DynamoDB saw the token fail before
    assert (done.replayed, done.amount, balance_of(name)) == (False, Decimal(-5), Decimal(0))


def test_keys_of_different_users_do_not_collide(
    flows: Any,
    make_user: Callable[[], str],
    unique_name: Callable[[str], str],
    balance_of: Callable[[str], Decimal],
) -> None:
    key = _key(unique_name)
    alice, bob = make_user(), make_user()
    assert not flows.deposit(alice, "1", idempotency_key=key).replayed
    assert not flows.deposit(bob, "2", idempotency_key=key).replayed
    assert (balance_of(alice), balance_of(bob)) == (1, 2)


def test_after_dynamodb_forgot_the_token_the_record_still_applies_it_once(
    make_user: Callable[[], str],
    data_settings: DataSettings,
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flows = TransactionManager(settings=data_settings)
    name, key = make_user(), _key(unique_name)
    first = flows.deposit(name, "7", idempotency_key=key)
    # DynamoDB keeps a ClientRequestToken 10 minutes; past that, it is a new token to it.
    monkeypatch.setattr(runner, "attempt_token", _fresh_token)
    again = flows.deposit(name, "7", idempotency_key=key)
    assert again.replayed
    assert again.balance_transaction == first.balance_transaction
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(7)


def _fresh_token() -> str:
    return str(uuid.uuid4())


@pytest.mark.parametrize("bad", ["", "x" * 37, "has space", "semi;colon", "ünïcode", 42, b"bytes"])
def test_malformed_keys_are_refused_before_any_request(bad: Any) -> None:
    with pytest.raises(CNOPValidationException, match="idempotency_key"):
        idempotency.check_idempotency_key(bad)


def test_tokens_fit_dynamodb_and_never_repeat() -> None:
    # DynamoDB's token window is account-wide: a token derived from the key would meet
    # another user's, another deployment's or a concurrent call's equal key.
    tokens = {idempotency.attempt_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(1 <= len(t) <= 36 for t in tokens)


def test_two_users_may_use_the_same_key_at_once(
    make_user: Callable[[], str], data_settings: DataSettings, unique_name: Callable[[str], str]
) -> None:
    flows = TransactionManager(settings=data_settings)
    alice, bob, key = make_user(), make_user(), _key(unique_name)
    first = flows.deposit(alice, "7", idempotency_key=key)
    second = flows.deposit(bob, "9", idempotency_key=key)
    assert (first.replayed, second.replayed) == (False, False)
    balances = BalanceDAO(settings=data_settings)
    assert balances.get_balance(alice).balance == Decimal(7)
    assert balances.get_balance(bob).balance == Decimal(9)


def test_the_result_names_the_key_it_was_applied_under(
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    name, asset, key, other = make_user(), make_asset("2"), _key(unique_name), _key(unique_name)
    first = flows.deposit(name, "10", idempotency_key=key)
    again = flows.deposit(name, "10", idempotency_key=key)
    bought = flows.buy(name, asset, "1", idempotency_key=other)
    assert (first.idempotency_key, again.idempotency_key) == (key, key)
    assert bought.idempotency_key == other
    assert flows.withdraw(name, "1").idempotency_key is None
