"""A transaction cancelled only by a concurrent one is retried; the conditions decide."""

from __future__ import annotations

from typing import Any

import pytest

from cnop.data.core.backoff import Backoff
from cnop.data.core.common import transact_retrying_conflicts
from cnop.data.core.steps import Call, Pause
from cnop.exceptions import (
    CNOPEntityAlreadyExistsException,
    CNOPException,
    CNOPServiceUnavailableException,
)

CALL = Call("transact_write_items", {"TransactItems": []}, "users")


def _conflict() -> CNOPServiceUnavailableException:
    return CNOPServiceUnavailableException(
        "busy", details={"reasons": ["None", "TransactionConflict"]}
    )


def _drive(outcomes: list[Any]) -> tuple[Any, list[Any]]:
    """Answer each Call with the next outcome (a reply, or an exception thrown in)."""
    op = transact_retrying_conflicts(CALL, Backoff(base=0.01, max_attempts=3, jitter=lambda: 1.0))
    steps = []
    try:
        step = next(op)
        while True:
            steps.append(step)
            if isinstance(step, Pause):
                step = op.send(None)
                continue
            outcome = outcomes.pop(0)
            step = op.throw(outcome) if isinstance(outcome, CNOPException) else op.send(outcome)
    except StopIteration as stop:
        return stop.value, steps


def test_conflicts_are_retried_until_the_conditions_answer() -> None:
    with pytest.raises(CNOPEntityAlreadyExistsException):
        _drive([_conflict(), _conflict(), CNOPEntityAlreadyExistsException("taken")])
    reply, steps = _drive([_conflict(), {"ok": True}])
    assert reply == {"ok": True}
    assert [type(s).__name__ for s in steps] == ["Call", "Pause", "Call"]
    assert steps[1].seconds == pytest.approx(0.02)


def test_other_errors_and_endless_conflicts_are_raised() -> None:
    throttled = CNOPServiceUnavailableException(
        "slow down", details={"reasons": ["ThrottlingError"]}
    )
    with pytest.raises(CNOPServiceUnavailableException, match="slow down"):
        _drive([throttled])
    with pytest.raises(CNOPServiceUnavailableException, match="busy"):
        _drive([_conflict() for _ in range(4)])
