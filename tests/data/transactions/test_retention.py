"""Idempotency retention: a key is remembered for a while, then it is a new request."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import BalanceDAO, DataSettings, TransactionManager
from cnop.data.layout import user_partition
from cnop.exceptions import CNOPConfigurationException, CNOPIdempotencyConflictException


def _record(settings: DataSettings, user: str, key: str) -> dict[str, Any]:
    from cnop.data import dynamodb_client

    reply = dynamodb_client(settings).get_item(
        TableName=settings.tables.users,
        Key={"pk": {"S": user_partition(user)}, "sk": {"S": f"IDEMPOTENCY#{key}"}},
        ConsistentRead=True,
    )
    item: dict[str, Any] = reply.get("Item", {})
    return item


def _age(settings: DataSettings, user: str, key: str, seconds_ago: int) -> None:
    """The retention of the key's record has run out (DynamoDB has not deleted it yet)."""
    from cnop.data import dynamodb_client

    dynamodb_client(settings).update_item(
        TableName=settings.tables.users,
        Key={"pk": {"S": user_partition(user)}, "sk": {"S": f"IDEMPOTENCY#{key}"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - seconds_ago)}},
    )


def test_a_key_is_new_again_after_its_retention(
    data_settings: DataSettings, make_user: Callable[[], str], unique_name: Callable[[str], str]
) -> None:
    flows = TransactionManager(settings=data_settings, idempotency_retention=timedelta(minutes=15))
    user, key = make_user(), unique_name("k")
    first = flows.deposit(user, "10", idempotency_key=key)
    assert flows.deposit(user, "10", idempotency_key=key).replayed  # within retention
    record = _record(data_settings, user, key)
    assert int(record["expires_at"]["N"]) - int(first.committed_at.timestamp()) == 15 * 60
    _age(data_settings, user, key, seconds_ago=5)
    # Past its expiry the record is still there (DynamoDB deletes late), but it is absent
    # to the flow: the key is a new request, applied again.
    assert _record(data_settings, user, key)
    again = flows.deposit(user, "10", idempotency_key=key)
    assert not again.replayed
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal(20)
    # And the replaced record is the new one, with a new expiry.
    assert flows.deposit(user, "10", idempotency_key=key).balance_transaction == (
        again.balance_transaction
    )
    assert int(_record(data_settings, user, key)["expires_at"]["N"]) > time.time()


def test_the_default_retention_is_a_day(
    data_settings: DataSettings, make_user: Callable[[], str], unique_name: Callable[[str], str]
) -> None:
    flows = TransactionManager(settings=data_settings)
    user, key = make_user(), unique_name("k")
    done = flows.deposit(user, "1", idempotency_key=key)
    expires = int(_record(data_settings, user, key)["expires_at"]["N"])
    assert expires - int(done.committed_at.timestamp()) == 24 * 3600


def test_a_conflict_names_the_parameter_that_differs(
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    user, asset, key = make_user(), make_asset("10"), unique_name("k")
    flows.deposit(user, "100")
    flows.buy(user, asset, "2", idempotency_key=key)
    with pytest.raises(CNOPIdempotencyConflictException, match="quantity differ") as caught:
        flows.buy(user, asset, "3", idempotency_key=key)
    assert caught.value.details["differs"] == ["quantity"]
    with pytest.raises(CNOPIdempotencyConflictException, match="flow differ"):
        flows.sell(user, asset, "2", idempotency_key=key)


@pytest.mark.parametrize(
    "bad",
    [
        timedelta(0),
        timedelta(seconds=1),  # shorter than a retry resolving an unknown outcome may take
        timedelta(minutes=14),
        timedelta(days=400),
        3600,
        "1h",
        None,
        timedelta(seconds=-1),
    ],
)
def test_a_bad_retention_is_refused(data_settings: DataSettings, bad: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match="idempotency_retention"):
        TransactionManager(settings=data_settings, idempotency_retention=bad)
