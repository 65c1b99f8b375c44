"""The attempt loop, driven step by step without a server (faults a server rarely produces)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cnop.data import Balance, FlowLimits, RetryPolicy, TableNames
from cnop.data.core.steps import Call, Pause
from cnop.data.layout import BALANCE_MAPPER
from cnop.data.transactions import operations as ops
from cnop.exceptions import (
    CNOPAWSServiceException,
    CNOPDatabaseConnectionException,
    CNOPException,
    CNOPOutcomeUnknownException,
    CNOPServiceUnavailableException,
    CNOPValidationException,
    CNOPVersionConflictException,
)

CTX = ops.FlowContext(TableNames(), FlowLimits(), RetryPolicy(attempts=3, base_delay=0.001))


def _snapshot(balance: str = "10", version: int = 4) -> dict[str, Any]:
    item = BALANCE_MAPPER.to_item(
        Balance(username="alice_01", balance=Decimal(balance), version=version)
    )
    return {"Responses": [{"Item": item}]}


def _finish(op: Any, reply: Any) -> Any:
    with pytest.raises(StopIteration) as stop:
        op.send(reply)
    return stop.value.value


def _record_put(write: Call) -> dict[str, Any]:
    put: dict[str, Any] = write.params["TransactItems"][0]["Put"]
    assert put["Item"]["sk"]["S"].startswith("IDEMPOTENCY#")
    return put


def test_a_conflicting_transaction_is_planned_again_with_a_new_token() -> None:
    op = ops.deposit(CTX, "alice_01", "5", "key-1")
    read = next(op)
    assert read.operation == "transact_get_items"
    # The key's record is read with the snapshot: a replay needs no doomed write.
    assert len(read.params["TransactItems"]) == 2
    first = op.send(_snapshot())
    first_token = first.params["ClientRequestToken"]
    assert _record_put(first)["Item"]["sk"]["S"] == "IDEMPOTENCY#key-1"
    conflict = CNOPServiceUnavailableException(details={"dynamodb_error": "transaction_cancelled"})
    assert isinstance(op.throw(conflict), Pause)
    assert op.send(None).operation == "transact_get_items"
    second = op.send(_snapshot("12", 5))  # someone else deposited 2 meanwhile
    assert isinstance(second, Call)
    assert second.params["ClientRequestToken"] not in (first_token, "")
    update = second.params["TransactItems"][2]["Update"]  # record, user check, balance
    assert update["ExpressionAttributeValues"][":expected"] == {"N": "5"}
    result = _finish(op, {})
    assert (result.balance, result.amount) == (Decimal(17), Decimal(5))


def test_a_keyless_flow_runs_under_an_internal_key_with_an_expiring_record() -> None:
    op = ops.deposit(CTX, "alice_01", "5")
    read = next(op)
    assert len(read.params["TransactItems"]) == 1  # a fresh key has nothing to look up
    write = op.send(_snapshot())
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
    next(op)
    write = op.send(_snapshot())
    assert isinstance(op.throw(lost), Pause)
    again = op.send(None)
    # Not planned again (that would be a second deposit under a new token): the same
    # request, the same token, until DynamoDB answers.
    assert again == write
    assert again.params == write.params
    assert _finish(op, {}).balance == Decimal(15)


def test_an_outcome_that_stays_unknown_is_resolved_by_the_record() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.001, resends=2)
    op = ops.deposit(ops.FlowContext(TableNames(), FlowLimits(), policy), "alice_01", "5")
    next(op)
    write = op.send(_snapshot())
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
    assert (result.balance, result.replayed, result.idempotency_key) == (Decimal(15), False, None)


def test_an_unknown_outcome_without_a_record_names_the_key_that_resolves_it() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.001, resends=0)
    op = ops.withdraw(ops.FlowContext(TableNames(), FlowLimits(), policy), "alice_01", "5")
    next(op)
    write = op.send(_snapshot())
    lookup = op.throw(CNOPDatabaseConnectionException(details={"dynamodb_error": "connection"}))
    assert lookup.operation == "get_item"
    with pytest.raises(CNOPOutcomeUnknownException) as caught:
        op.send({})
    key = caught.value.details["idempotency_key"]
    assert write.params["TransactItems"][0]["Put"]["Item"]["sk"]["S"] == f"IDEMPOTENCY#{key}"
    assert caught.value.retryable
    assert key in caught.value.message


def test_a_record_read_with_the_snapshot_is_replayed_without_a_write() -> None:
    first = ops.deposit(CTX, "alice_01", "5", "key-4")
    next(first)
    record = first.send(_snapshot()).params["TransactItems"][0]["Put"]["Item"]
    again = ops.deposit(CTX, "alice_01", "5", "key-4")  # another call, same key
    next(again)
    reply = _snapshot()
    reply["Responses"].append({"Item": record})
    result = _finish(again, reply)
    assert result.replayed
    assert (result.balance, result.idempotency_key) == (Decimal(15), "key-4")


def _always_conflicting(op: Any) -> None:
    step = next(op)
    while True:
        if isinstance(step, Call) and step.operation == "transact_write_items":
            step = op.throw(CNOPVersionConflictException())
        elif isinstance(step, Call):
            step = op.send(_snapshot())
        else:
            step = op.send(None)


def test_conflicts_that_outlast_the_attempts_are_a_retryable_version_conflict() -> None:
    with pytest.raises(CNOPVersionConflictException) as caught:
        _always_conflicting(ops.deposit(CTX, "alice_01", "5"))
    assert caught.value.retryable
    assert "3 attempts" in caught.value.message


def test_validation_happens_when_the_operation_is_made() -> None:
    with pytest.raises(CNOPValidationException):
        ops.deposit(CTX, "alice_01", "-1")  # no step was needed to find out


def test_a_read_cancelled_by_a_concurrent_transaction_is_read_again() -> None:
    # TransactGetItems is cancelled (TransactionConflict) while another transaction writes
    # one of its items: as at the write, nothing happened, so the flow tries again.
    op = ops.deposit(CTX, "alice_01", "5")
    assert next(op).operation == "transact_get_items"
    conflict = CNOPServiceUnavailableException(details={"dynamodb_error": "transaction_cancelled"})
    assert isinstance(op.throw(conflict), Pause)
    assert op.send(None).operation == "transact_get_items"
    write = op.send(_snapshot())
    assert write.operation == "transact_write_items"
    assert _finish(op, {}).balance == Decimal(15)
