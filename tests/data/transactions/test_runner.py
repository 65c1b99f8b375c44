"""The attempt loop, driven step by step without a server (faults a server rarely produces)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cnop.data import Balance, FlowLimits, RetryPolicy, TableNames
from cnop.data.core.steps import Call, Pause
from cnop.data.layout import BALANCE_MAPPER
from cnop.data.transactions import idempotency
from cnop.data.transactions import operations as ops
from cnop.exceptions import (
    CNOPAWSServiceException,
    CNOPDatabaseConnectionException,
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


def test_a_conflicting_transaction_is_planned_again_with_a_new_token() -> None:
    op = ops.deposit(CTX, "alice_01", "5", "key-1")
    assert next(op).operation == "transact_get_items"
    first = op.send(_snapshot())
    first_token = first.params["ClientRequestToken"]
    assert first_token == idempotency.attempt_token(f"{CTX.tables.users}\x00alice_01", "key-1", 0)
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


def test_a_lost_connection_is_raised_at_once() -> None:
    op = ops.withdraw(CTX, "alice_01", "5")
    next(op)
    op.send(_snapshot())
    with pytest.raises(CNOPDatabaseConnectionException):
        op.throw(CNOPDatabaseConnectionException("Could not reach DynamoDB"))


def test_a_token_dynamodb_saw_before_gets_a_fresh_one_when_nothing_was_applied() -> None:
    op = ops.deposit(CTX, "alice_01", "5", "key-2")
    next(op)
    op.send(_snapshot())
    mismatch = CNOPAWSServiceException(
        details={"dynamodb_error": "IdempotentParameterMismatchException"}
    )
    lookup = op.throw(mismatch)
    assert lookup.operation == "get_item"  # is there a record for the key?
    assert isinstance(op.send({}), Pause)  # no: try again
    op.send(None)
    retry = op.send(_snapshot())
    assert retry.params["ClientRequestToken"] != "key-2"
    assert _finish(op, {}).balance == Decimal(15)


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
