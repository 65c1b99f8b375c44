"""The batch operations' splitting, retry and backoff logic, driven step by step (sans-I/O).

DynamoDB Local never leaves items unprocessed or throttles, so the replies here are
scripted; the same operations run against the real server in test_ledgers_dao.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from cnop.data.core.batch import Backoff, batch_get, batch_put
from cnop.data.core.steps import Call, Concurrently, Pause
from cnop.exceptions import CNOPServiceUnavailableException, CNOPValidationException

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


def test_batch_put_splits_at_25_and_retries_unprocessed_with_jittered_backoff() -> None:
    items = [_item(i) for i in range(60)]
    written: list[str] = []
    first_round = {"done": False}

    def reply(step: Any) -> Any:
        if isinstance(step, Pause):
            return None
        assert isinstance(step, Concurrently)
        replies = []
        for call in step.calls:
            requests = call.params["RequestItems"][TABLE]
            assert len(requests) <= 25
            if not first_round["done"]:
                # DynamoDB wrote only the first 20 of each batch.
                done, left = requests[:20], requests[20:]
            else:
                done, left = requests, []
            written.extend(r["PutRequest"]["Item"]["pk"]["S"] for r in done)
            replies.append({"UnprocessedItems": {TABLE: left} if left else {}})
        first_round["done"] = True
        return replies

    backoff = Backoff(base=0.1, cap=1.0, jitter=lambda: 0.5)
    result, steps = _drive(batch_put(TABLE, items, concurrency=8, backoff=backoff), reply)
    assert result == 60
    assert sorted(written) == sorted(i["pk"]["S"] for i in items)
    assert len(written) == 60  # nothing twice
    pauses = [s for s in steps if isinstance(s, Pause)]
    assert [p.seconds for p in pauses] == [0.5 * 0.2]  # attempt 1: jitter * base * 2**1
    assert [len(s.calls) for s in steps if isinstance(s, Concurrently)] == [3, 1]


def test_batch_put_gives_up_with_a_retryable_error() -> None:
    def reply(step: Any) -> Any:
        if isinstance(step, Pause):
            return None
        return [{"UnprocessedItems": call.params["RequestItems"]} for call in step.calls]

    with pytest.raises(CNOPServiceUnavailableException, match="5 records") as info:
        _drive(
            batch_put(TABLE, [_item(i) for i in range(5)], backoff=Backoff(max_attempts=3)), reply
        )
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

    result, _ = _drive(batch_put(TABLE, [_item(i) for i in range(3)]), reply)
    assert result == 3
    assert calls["n"] == 2

    with pytest.raises(CNOPValidationException):
        _drive(
            batch_put(TABLE, [_item(1)]),
            lambda step: [CNOPValidationException("bad") for _ in step.calls],
        )


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
