"""The batch operations' splitting, retry and backoff logic, driven step by step (sans-I/O).

DynamoDB Local never throttles or reports transaction conflicts here, so the replies here are
scripted; the same operations run against the real server in test_ledgers_dao.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from cnop.data.core.batch import Backoff, batch_get, batch_put, put_new_chunk
from cnop.data.core.steps import Call, Concurrently, Pause
from cnop.data.errors import CancellationReason
from cnop.exceptions import (
    CNOPEntityAlreadyExistsException,
    CNOPServiceUnavailableException,
    CNOPValidationException,
)

TABLE = "t"


def _item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"P#{i}"}, "sk": {"S": "X"}, "n": {"N": str(i)}}


def _drive(op: Any, reply: Any) -> tuple[Any, list[Any]]:
    """Run ``op``; ``reply(step)`` answers each step. Returns (result, steps)."""
    steps = []
    try:
        step = next(op)
        while True:
            steps.append(step)
            step = op.send(reply(step))
    except StopIteration as stop:
        return stop.value, steps


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["pk"]["S"] for i in items]


def _refusal(codes: list[str]) -> Any:
    """What the executor throws in for a cancelled transaction with these reasons."""
    reasons = [CancellationReason(code) for code in codes]
    return lambda call: call.on_cancelled(reasons)


def test_batch_put_writes_conditional_transactions_of_100_in_order() -> None:
    items = [_item(i) for i in range(250)]
    result, steps = _drive(
        batch_put(TABLE, items, _ids(items)), lambda step: [{} for _ in step.calls]
    )
    assert result == 250
    (round_,) = steps  # three chunks, sent at once
    assert [c.operation for c in round_.calls] == ["transact_write_items"] * 3
    puts = [t["Put"] for c in round_.calls for t in c.params["TransactItems"]]
    assert [len(c.params["TransactItems"]) for c in round_.calls] == [100, 100, 50]
    assert [p["Item"] for p in puts] == items  # the caller's order
    assert {p["ConditionExpression"] for p in puts} == {"attribute_not_exists(pk)"}
    assert {p["TableName"] for p in puts} == {TABLE}
    tokens = [c.params["ClientRequestToken"] for c in round_.calls]
    assert len(set(tokens)) == 3
    assert all(1 <= len(t) <= 36 for t in tokens)


def test_chunk_token_depends_on_keys_and_contents_only() -> None:
    items = [_item(i) for i in range(3)]
    token = put_new_chunk(TABLE, items, _ids(items), "R").params["ClientRequestToken"]
    assert (
        put_new_chunk(TABLE, [dict(i) for i in items], ["a", "b", "c"], "R").params[
            "ClientRequestToken"
        ]
        == token
    )
    changed = [*items[:2], {**items[2], "n": {"N": "99"}}]
    assert put_new_chunk(TABLE, changed, _ids(changed), "R").params["ClientRequestToken"] != token
    assert put_new_chunk("other", items, _ids(items), "R").params["ClientRequestToken"] != token


def test_existing_record_is_refused_naming_every_existing_id() -> None:
    items = [_item(i) for i in range(5)]
    call = put_new_chunk(TABLE, items, [f"id{i}" for i in range(5)], "Ledger records")
    assert call.on_cancelled is not None
    codes = ["None", "ConditionalCheckFailed", "None", "ConditionalCheckFailed", "None"]
    error = _refusal(codes)(call)
    assert isinstance(error, CNOPEntityAlreadyExistsException)
    assert "'id1', 'id3'" in error.message
    assert "Ledger records" in error.message
    assert error.details["ids"] == ["id1", "id3"]

    conflict = _refusal(["None", "TransactionConflict", "None", "None", "None"])(call)
    assert isinstance(conflict, CNOPServiceUnavailableException)
    assert conflict.retryable


def test_refused_chunk_raises_and_later_chunks_are_not_sent() -> None:
    items = [_item(i) for i in range(300)]
    sent: list[int] = []

    def reply(step: Any) -> Any:
        replies: list[Any] = []
        for call in step.calls:
            sent.append(len(call.params["TransactItems"]))
            if call.params["TransactItems"][0]["Put"]["Item"] == items[100]:
                replies.append(_refusal(["ConditionalCheckFailed"] + ["None"] * 99)(call))
            else:
                replies.append({})
        return replies

    with pytest.raises(CNOPEntityAlreadyExistsException, match="P#100"):
        _drive(batch_put(TABLE, items, _ids(items), concurrency=2), reply)
    assert sent == [100, 100]  # the third chunk never went out


def test_conflicting_chunk_is_resent_with_the_same_token_after_jittered_backoff() -> None:
    items = [_item(i) for i in range(150)]
    sent: list[tuple[int, str]] = []

    def reply(step: Any) -> Any:
        if isinstance(step, Pause):
            return None
        replies: list[Any] = []
        for call in step.calls:
            sent.append((len(call.params["TransactItems"]), call.params["ClientRequestToken"]))
            first_try = len(sent) <= 2
            if first_try and len(call.params["TransactItems"]) == 50:
                replies.append(_refusal(["TransactionConflict"] + ["None"] * 49)(call))
            else:
                replies.append({})
        return replies

    backoff = Backoff(base=0.1, cap=1.0, jitter=lambda: 0.5)
    result, steps = _drive(batch_put(TABLE, items, _ids(items), backoff=backoff), reply)
    assert result == 150
    assert [n for n, _ in sent] == [100, 50, 50]
    assert sent[1][1] == sent[2][1]  # same chunk, same token
    assert [s.seconds for s in steps if isinstance(s, Pause)] == [0.5 * 0.2]


def test_batch_put_gives_up_with_a_retryable_error() -> None:
    def reply(step: Any) -> Any:
        if isinstance(step, Pause):
            return None
        return [CNOPServiceUnavailableException("throttled") for _ in step.calls]

    items = [_item(i) for i in range(5)]
    with pytest.raises(CNOPServiceUnavailableException, match="5 records") as info:
        _drive(batch_put(TABLE, items, _ids(items), backoff=Backoff(max_attempts=3)), reply)
    assert info.value.retryable


def test_throttled_chunk_is_retried_other_errors_are_raised() -> None:
    calls = {"n": 0}

    def reply(step: Any) -> Any:
        if isinstance(step, Pause):
            return None
        calls["n"] += 1
        if calls["n"] == 1:
            return [CNOPServiceUnavailableException("throttled") for _ in step.calls]
        return [{} for _ in step.calls]

    items = [_item(i) for i in range(3)]
    result, _ = _drive(batch_put(TABLE, items, _ids(items)), reply)
    assert result == 3
    assert calls["n"] == 2

    with pytest.raises(CNOPValidationException):
        _drive(
            batch_put(TABLE, [_item(1)], ["1"]),
            lambda step: [CNOPValidationException("bad") for _ in step.calls],
        )


def test_duplicate_in_batch_and_unnamed_records_are_refused_before_any_call() -> None:
    with pytest.raises(CNOPValidationException, match="same record twice"):
        next(batch_put(TABLE, [_item(1), _item(1)], ["a", "b"]))
    with pytest.raises(CNOPValidationException, match="ids"):
        next(batch_put(TABLE, [_item(1), _item(2)], ["a"]))


def test_batch_get_splits_at_100_dedupes_and_retries_keys() -> None:
    keys = [{"pk": _item(i)["pk"], "sk": _item(i)["sk"]} for i in range(250)] + [
        {"pk": {"S": "P#0"}, "sk": {"S": "X"}}
    ]
    rounds = {"n": 0}

    def reply(step: Any) -> Any:
        if isinstance(step, Pause):
            return None
        rounds["n"] += 1
        replies = []
        for call in step.calls:
            asked = call.params["RequestItems"][TABLE]["Keys"]
            assert len(asked) <= 100
            served, left = (asked[:-1], asked[-1:]) if rounds["n"] == 1 else (asked, [])
            replies.append(
                {
                    "Responses": {TABLE: [{**k, "found": {"BOOL": True}} for k in served]},
                    "UnprocessedKeys": {TABLE: {"Keys": left}} if left else {},
                }
            )
        return replies

    found, steps = _drive(batch_get(TABLE, keys, backoff=Backoff(jitter=lambda: 0.0)), reply)
    assert len(found) == 250
    assert len({f["pk"]["S"] for f in found}) == 250
    sizes = [
        len(c.params["RequestItems"][TABLE]["Keys"])
        for s in steps
        if isinstance(s, Concurrently)
        for c in s.calls
    ]
    assert sizes[:3] == [100, 100, 50]


def test_call_is_a_plain_value() -> None:
    call = Call("get_item", {"TableName": TABLE}, TABLE)
    assert call == Call("get_item", {"TableName": TABLE}, TABLE)
