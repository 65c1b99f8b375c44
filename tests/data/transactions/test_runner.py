"""The attempt loop, driven step by step without a server (faults a server rarely produces)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import Asset, FlowLimits, RetryPolicy, TableNames
from cnop.data.core.steps import Call, Pause
from cnop.data.errors import REPLAY_REASON
from cnop.data.layout import ASSET_MAPPER
from cnop.data.transactions import operations as ops
from cnop.exceptions import (
    CNOPAWSServiceException,
    CNOPDatabaseConnectionException,
    CNOPDatabaseOperationException,
    CNOPException,
    CNOPIdempotencyConflictException,
    CNOPOutcomeUnknownException,
    CNOPServiceUnavailableException,
    CNOPValidationException,
    CNOPVersionConflictException,
)

CTX = ops.FlowContext(TableNames(), FlowLimits(), RetryPolicy(attempts=3, base_delay=0.001))


def _asset(price: str = "10", version: int = 4) -> dict[str, Any]:
    item = ASSET_MAPPER.to_item(
        Asset(
            asset_id="BTC",
            name="Bitcoin",
            category="major",
            price_usd=Decimal(price),
            version=version,
        )
    )
    return {"Item": item}


def _asset_and_record(record: dict[str, Any] | None, price: str = "10") -> dict[str, Any]:
    return {"Responses": [_asset(price), {"Item": record} if record else {}]}


def _finish(op: Any, reply: Any) -> Any:
    with pytest.raises(StopIteration) as stop:
        op.send(reply)
    return stop.value.value


def _record_put(write: Call) -> dict[str, Any]:
    put: dict[str, Any] = write.params["TransactItems"][0]["Put"]
    assert put["Item"]["sk"]["S"].startswith("IDEMPOTENCY#")
    return put


def _balance_update(write: Call) -> dict[str, Any]:
    # record, user check, balance (a deposit); record, user, asset, balance (a buy)
    for item in write.params["TransactItems"]:
        update = item.get("Update")
        if update is not None and update["Key"]["sk"]["S"] == "BALANCE":
            return dict(update)
    raise AssertionError("no balance update in the write")


def test_a_deposit_writes_at_once_and_its_key_is_checked_by_the_write() -> None:
    op = ops.deposit(CTX, "alice_01", "5", "key-1")
    write = next(op)
    # Nothing read first: the balance is changed by an ADD, the key's record is judged by
    # the write's own condition.
    assert write.operation == "transact_write_items"
    assert _record_put(write)["Item"]["sk"]["S"] == "IDEMPOTENCY#key-1"
    update = _balance_update(write)
    assert update["UpdateExpression"].startswith("ADD balance :delta")
    assert ":expected" not in update["ExpressionAttributeValues"]
    result = _finish(op, {})
    assert (result.amount, result.idempotency_key) == (Decimal(5), "key-1")


def test_a_withdrawal_is_conditioned_on_the_balance_not_on_a_version() -> None:
    write = next(ops.withdraw(CTX, "alice_01", "5"))
    update = _balance_update(write)
    assert update["ConditionExpression"] == "attribute_exists(pk) AND balance >= :needed"
    assert update["ExpressionAttributeValues"][":needed"] == {"N": "5"}


def test_a_conflicting_transaction_is_planned_again_with_a_new_token() -> None:
    op = ops.buy(CTX, "alice_01", "BTC", "1", "key-1")
    read = next(op)
    assert read.operation == "transact_get_items"
    # The key's record is read with the price: a replay needs no doomed write.
    assert len(read.params["TransactItems"]) == 2
    first = op.send(_asset_and_record(None))
    first_token = first.params["ClientRequestToken"]
    assert _record_put(first)["Item"]["sk"]["S"] == "IDEMPOTENCY#key-1"
    conflict = CNOPServiceUnavailableException(details={"dynamodb_error": "transaction_cancelled"})
    assert isinstance(op.throw(conflict), Pause)
    assert op.send(None).operation == "transact_get_items"
    second = op.send(_asset_and_record(None, "12"))  # the price moved meanwhile
    assert isinstance(second, Call)
    assert second.params["ClientRequestToken"] not in (first_token, "")
    asset = second.params["TransactItems"][2]["ConditionCheck"]  # record, user, asset
    assert asset["ExpressionAttributeValues"][":price"] == {"N": "12"}
    result = _finish(op, {})
    assert (result.price, result.amount) == (Decimal(12), Decimal(-12))


def test_a_keyless_flow_runs_under_an_internal_key_with_an_expiring_record() -> None:
    op = ops.buy(CTX, "alice_01", "BTC", "1")
    read = next(op)
    assert read.operation == "get_item"  # a fresh key has nothing to look up: the price only
    write = op.send(_asset())
    put = _record_put(write)
    assert "expires_at" in put["Item"]
    assert put["ConditionExpression"].startswith("attribute_not_exists")
    result = _finish(op, {})
    assert result.idempotency_key is None


@pytest.mark.parametrize(
    "lost",
    [
        CNOPDatabaseConnectionException(details={"dynamodb_error": "connection"}),
        CNOPServiceUnavailableException(
            details={"dynamodb_error": "TransactionInProgressException"}
        ),
        CNOPServiceUnavailableException(details={"dynamodb_error": "InternalServerError"}),
        CNOPServiceUnavailableException(details={"dynamodb_error": "ThrottlingException"}),
        CNOPAWSServiceException(details={"dynamodb_error": "ServiceUnavailable"}),
    ],
    ids=["reset", "in-progress", "500", "throttle", "503"],
)
@pytest.mark.parametrize("key", [None, "key-3"])
def test_a_write_whose_outcome_is_unknown_is_resent_unchanged(
    lost: CNOPException, key: str | None
) -> None:
    op = ops.deposit(CTX, "alice_01", "5", key)
    write = next(op)
    assert isinstance(op.throw(lost), Pause)
    again = op.send(None)
    # Not planned again (that would be a second deposit under a new token): the same
    # request, the same token, until DynamoDB answers.
    assert again == write
    assert again.params == write.params
    assert _finish(op, {}).amount == Decimal(5)


def test_an_outcome_that_stays_unknown_is_resolved_by_the_record() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.001, resends=2)
    op = ops.deposit(ops.FlowContext(TableNames(), FlowLimits(), policy), "alice_01", "5")
    write = next(op)
    timeout = CNOPDatabaseConnectionException(details={"dynamodb_error": "connection"})
    step = op.throw(timeout)
    for _ in range(2):
        assert isinstance(step, Pause)
        assert op.send(None) == write
        step = op.throw(timeout)
    assert step.operation == "get_item"  # the record decides
    assert step.params["ConsistentRead"] is True
    record = write.params["TransactItems"][0]["Put"]["Item"]
    result = _finish(op, {"Item": record})
    # The record is this very call's: its own commit, not a replay.
    assert (result.amount, result.replayed, result.idempotency_key) == (Decimal(5), False, None)


def test_an_unknown_outcome_without_a_record_names_the_key_that_resolves_it() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.001, resends=0)
    op = ops.withdraw(ops.FlowContext(TableNames(), FlowLimits(), policy), "alice_01", "5")
    write = next(op)
    lookup = op.throw(CNOPDatabaseConnectionException(details={"dynamodb_error": "connection"}))
    assert lookup.operation == "get_item"
    with pytest.raises(CNOPOutcomeUnknownException) as caught:
        op.send({})
    key = caught.value.details["idempotency_key"]
    assert write.params["TransactItems"][0]["Put"]["Item"]["sk"]["S"] == f"IDEMPOTENCY#{key}"
    assert caught.value.retryable
    assert key in caught.value.message


def test_a_record_read_with_the_price_is_replayed_without_a_write() -> None:
    first = ops.buy(CTX, "alice_01", "BTC", "1", "key-4")
    next(first)
    record = first.send(_asset_and_record(None)).params["TransactItems"][0]["Put"]["Item"]
    again = ops.buy(CTX, "alice_01", "BTC", "1", "key-4")  # another call, same key
    next(again)
    result = _finish(again, _asset_and_record(record, "11"))
    assert result.replayed
    assert (result.price, result.idempotency_key) == (Decimal(10), "key-4")


def test_a_repeated_deposit_key_is_answered_from_its_record_after_the_write() -> None:
    first = ops.deposit(CTX, "alice_01", "5", "key-5")
    record = next(first).params["TransactItems"][0]["Put"]["Item"]
    again = ops.deposit(CTX, "alice_01", "5", "key-5")
    next(again)  # the write, refused by the record's condition:
    refused = CNOPIdempotencyConflictException(details={"reason": REPLAY_REASON})
    lookup = again.throw(refused)
    assert lookup.operation == "get_item"
    result = _finish(again, {"Item": record})
    assert result.replayed
    assert result.amount == Decimal(5)


def _always_conflicting(op: Any) -> None:
    step = next(op)
    while True:
        if isinstance(step, Call) and step.operation == "transact_write_items":
            step = op.throw(CNOPVersionConflictException())
        elif isinstance(step, Call):
            step = op.send(_asset())
        else:
            step = op.send(None)


def test_conflicts_that_outlast_the_attempts_are_a_retryable_version_conflict() -> None:
    with pytest.raises(CNOPVersionConflictException) as caught:
        _always_conflicting(ops.buy(CTX, "alice_01", "BTC", "1"))
    assert caught.value.retryable
    assert "3 attempts" in caught.value.message


def test_validation_happens_when_the_operation_is_made() -> None:
    with pytest.raises(CNOPValidationException):
        ops.deposit(CTX, "alice_01", "-1")  # no step was needed to find out


def test_a_read_cancelled_by_a_concurrent_transaction_is_read_again() -> None:
    # TransactGetItems is cancelled (TransactionConflict) while another transaction writes
    # one of its items: as at the write, nothing happened, so the flow tries again.
    op = ops.buy(CTX, "alice_01", "BTC", "1", "key-6")
    assert next(op).operation == "transact_get_items"
    conflict = CNOPServiceUnavailableException(details={"dynamodb_error": "transaction_cancelled"})
    assert isinstance(op.throw(conflict), Pause)
    assert op.send(None).operation == "transact_get_items"
    write = op.send(_asset_and_record(None))
    assert write.operation == "transact_write_items"
    assert _finish(op, {}).amount == Decimal(-10)


def test_a_record_written_by_an_earlier_release_still_replays() -> None:
    # Results recorded before flows stopped reading balances carry the balance and holding
    # they left: a retry with such a key still gets its result (without those fields).
    first = ops.deposit(CTX, "alice_01", "5", "key-7")
    record = dict(next(first).params["TransactItems"][0]["Put"]["Item"])
    stored = json.loads(record["result"]["S"])
    stored.update({"balance": "15", "holding": None})
    record["result"] = {"S": json.dumps(stored)}
    again = ops.deposit(CTX, "alice_01", "5", "key-7")
    next(again)
    lookup = again.throw(CNOPIdempotencyConflictException(details={"reason": REPLAY_REASON}))
    assert lookup.operation == "get_item"
    result = _finish(again, {"Item": record})
    assert result.replayed
    assert result.amount == Decimal(5)


def test_a_record_with_fields_no_release_wrote_is_refused_as_malformed() -> None:
    first = ops.deposit(CTX, "alice_01", "5", "key-8")
    record = dict(next(first).params["TransactItems"][0]["Put"]["Item"])
    stored = json.loads(record["result"]["S"])
    stored["surprise"] = 1
    record["result"] = {"S": json.dumps(stored)}
    again = ops.deposit(CTX, "alice_01", "5", "key-8")
    next(again)
    again.throw(CNOPIdempotencyConflictException(details={"reason": REPLAY_REASON}))
    with pytest.raises(CNOPDatabaseOperationException):
        again.send({"Item": record})
