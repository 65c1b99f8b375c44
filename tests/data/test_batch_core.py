"""The batch operations' splitting, retry and backoff logic, driven step by step (sans-I/O).

DynamoDB Local never throttles or reports transaction conflicts here, so the replies here are
scripted; the same operations run against the real server in test_ledgers_dao.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cnop.data.core.batch import (
    MAX_WRITE_CONCURRENCY,
    Backoff,
    batch_get,
    batch_put,
    put_new_chunk,
)
from cnop.data.core.steps import Call, Concurrently, NextDone, Pause, Start
from cnop.data.errors import CancellationReason
from cnop.data.executors import AsyncExecutor, SyncExecutor
from cnop.exceptions import (
    CNOPDatabaseConnectionException,
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


class _Window:
    """Stands in for an executor of ``Start``/``NextDone``: ``reply(call)`` answers each call.

    ``pick(in_flight)`` chooses which started call finishes next (default: the oldest);
    ``log`` is every step in order, ``sent`` every call in the order it went out, and
    ``most`` the largest number of calls that were in flight at once.
    """

    def __init__(self, reply: Any, pick: Any = None) -> None:
        self.reply = reply
        self.pick = pick or min
        self.log: list[Any] = []
        self.sent: list[Call] = []
        self.in_flight: dict[int, Call] = {}
        self.most = 0

    def run(self, op: Any) -> Any:
        try:
            step = next(op)
            while True:
                self.log.append(step)
                step = op.send(self._answer(step))
        except StopIteration as stop:
            return stop.value

    def _answer(self, step: Any) -> Any:
        if isinstance(step, Start):
            ticket = len(self.log)
            self.in_flight[ticket] = step.call
            self.sent.append(step.call)
            self.most = max(self.most, len(self.in_flight))
            return ticket
        if isinstance(step, NextDone):
            assert self.in_flight, "NextDone with nothing in flight"
            ticket = self.pick(self.in_flight)
            return ticket, self.reply(self.in_flight.pop(ticket))
        raise AssertionError(f"a batch write asked for {step!r}")

    def delays(self) -> list[float]:
        return [s.delay for s in self.log if isinstance(s, Start) and s.delay]


def _size(call: Call) -> int:
    return len(call.params["TransactItems"])


def _first_item(call: Call) -> Any:
    return call.params["TransactItems"][0]["Put"]["Item"]


def test_batch_put_writes_conditional_transactions_of_100_in_order() -> None:
    items = [_item(i) for i in range(250)]
    window = _Window(lambda call: {})
    result = window.run(batch_put(TABLE, items, _ids(items)))
    assert result == 250
    sent = window.sent  # three chunks, all in flight at once
    assert window.most == 3
    assert [c.operation for c in sent] == ["transact_write_items"] * 3
    puts = [t["Put"] for c in sent for t in c.params["TransactItems"]]
    assert [_size(c) for c in sent] == [100, 100, 50]
    assert [p["Item"] for p in puts] == items  # the caller's order
    assert {p["ConditionExpression"] for p in puts} == {"attribute_not_exists(pk)"}
    assert {p["TableName"] for p in puts} == {TABLE}
    tokens = [c.params["ClientRequestToken"] for c in sent]
    assert len(set(tokens)) == 3
    assert all(1 <= len(t) <= 36 for t in tokens)


def test_a_new_chunk_starts_as_soon_as_one_finishes_never_more_than_the_bound() -> None:
    items = [_item(i) for i in range(1000)]
    window = _Window(lambda call: {}, pick=max)  # the newest finishes first
    assert window.run(batch_put(TABLE, items, _ids(items), concurrency=3)) == 1000
    assert window.most == 3
    assert sorted(_first_item(c)["n"]["N"] for c in window.sent) == sorted(
        str(i) for i in range(0, 1000, 100)
    )
    kinds = [type(s).__name__ for s in window.log]
    # Start 3, then each finished chunk is replaced at once (no waiting for a whole round).
    assert kinds[:5] == ["Start", "Start", "Start", "NextDone", "Start"]


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

    def reply(call: Call) -> Any:
        if _first_item(call) == items[100]:
            return _refusal(["ConditionalCheckFailed"] + ["None"] * 99)(call)
        return {}

    # The second chunk's refusal comes back first; the first chunk is still in flight.
    window = _Window(reply, pick=max)
    with pytest.raises(CNOPEntityAlreadyExistsException, match="P#100") as info:
        window.run(batch_put(TABLE, items, _ids(items), concurrency=2))
    assert [_size(c) for c in window.sent] == [100, 100]  # the third chunk never went out
    # ... and the first one, in flight at the refusal, was seen through and is reported.
    assert info.value.details["ids"] == ["P#100"]
    assert info.value.details["written"] == _ids(items[:100])
    assert info.value.details["not_written"] == _ids(items[100:])
    assert info.value.details["unresolved"] == []


def test_a_refused_chunk_leaves_the_outcome_of_every_other_chunk_exact() -> None:
    items = [_item(i) for i in range(1000)]
    refused_at = {300, 700}

    def reply(call: Call) -> Any:
        first = int(_first_item(call)["n"]["N"])
        if first in refused_at:
            codes = ["None"] * 100
            codes[5] = "ConditionalCheckFailed"
            return _refusal(codes)(call)
        return {}

    def pick(in_flight: dict[int, Call]) -> int:
        # A refused chunk finishes before everything else in flight, the rest newest first.
        first = {t: int(_first_item(c)["n"]["N"]) for t, c in in_flight.items()}
        refusals = [t for t, n in first.items() if n in refused_at]
        return min(refusals) if refusals else max(in_flight)

    # 8 are in flight when the first refusal (of chunk 300) comes back.
    window = _Window(reply, pick=pick)
    with pytest.raises(CNOPEntityAlreadyExistsException) as info:
        window.run(batch_put(TABLE, items, _ids(items), concurrency=8))
    details = info.value.details
    sent = {int(_first_item(c)["n"]["N"]) for c in window.sent}
    assert sent == set(range(0, 800, 100))  # no chunk started after the refusal
    assert details["ids"] == ["P#305", "P#705"]
    assert details["written"] == [
        f"P#{i}" for i in range(1000) if i // 100 * 100 in sent - refused_at
    ]
    assert set(details["written"]) | set(details["not_written"]) == set(_ids(items))
    assert not set(details["written"]) & set(details["not_written"])
    assert "600 record(s) of this batch were written, 400 were not" in info.value.message


def test_conflicting_chunk_is_resent_with_the_same_token_after_jittered_backoff() -> None:
    items = [_item(i) for i in range(150)]
    tries: dict[str, int] = {}

    def reply(call: Call) -> Any:
        token = call.params["ClientRequestToken"]
        tries[token] = tries.get(token, 0) + 1
        if tries[token] == 1 and _size(call) == 50:
            return _refusal(["TransactionConflict"] + ["None"] * 49)(call)
        return {}

    backoff = Backoff(base=0.1, cap=1.0, jitter=lambda: 0.5)
    window = _Window(reply)
    result = window.run(batch_put(TABLE, items, _ids(items), backoff=backoff))
    assert result == 150
    assert [_size(c) for c in window.sent] == [100, 50, 50]
    assert window.sent[1] == window.sent[2]  # same chunk, same token
    assert window.delays() == [0.5 * 0.2]


def test_a_resent_chunk_does_not_hold_up_the_others() -> None:
    items = [_item(i) for i in range(400)]
    tries: dict[str, int] = {}

    def reply(call: Call) -> Any:
        token = call.params["ClientRequestToken"]
        tries[token] = tries.get(token, 0) + 1
        if _first_item(call) == items[0] and tries[token] <= 2:
            return CNOPServiceUnavailableException("throttled")
        return {}

    window = _Window(reply)
    backoff = Backoff(base=0.1, cap=1.0, jitter=lambda: 1.0)
    assert window.run(batch_put(TABLE, items, _ids(items), concurrency=2, backoff=backoff)) == 400
    firsts = [int(_first_item(c)["n"]["N"]) for c in window.sent]
    # The throttled first chunk is resent (with its backoff) while the others go on.
    assert firsts == [0, 100, 0, 200, 0, 300]
    assert window.delays() == [0.2, 0.4]


def test_batch_put_gives_up_with_a_retryable_error() -> None:
    items = [_item(i) for i in range(5)]
    window = _Window(lambda call: CNOPServiceUnavailableException("throttled"))
    with pytest.raises(CNOPServiceUnavailableException, match="5 records") as info:
        window.run(batch_put(TABLE, items, _ids(items), backoff=Backoff(max_attempts=3)))
    assert info.value.retryable
    assert len(window.sent) == 4  # the first send and three retries
    assert info.value.details["unresolved"] == _ids(items)
    assert info.value.details["written"] == []


def test_refusal_after_a_lost_reply_is_unresolved_not_unwritten() -> None:
    """A resend refused as existing after a lost reply may be refused for its own records."""
    items = [_item(i) for i in range(200)]
    tries: dict[str, int] = {}

    def reply(call: Call) -> Any:
        token = call.params["ClientRequestToken"]
        tries[token] = tries.get(token, 0) + 1
        if _first_item(call) == items[100]:
            if tries[token] == 1:
                return CNOPDatabaseConnectionException(
                    "reset", details={"dynamodb_error": "connection"}
                )
            return _refusal(["ConditionalCheckFailed"] * 100)(call)
        return {}

    window = _Window(reply)
    backoff = Backoff(jitter=lambda: 0.0)
    with pytest.raises(CNOPEntityAlreadyExistsException) as info:
        window.run(batch_put(TABLE, items, _ids(items), backoff=backoff))
    assert info.value.details["written"] == _ids(items[:100])
    assert info.value.details["not_written"] == []
    assert info.value.details["unresolved"] == _ids(items[100:])


def test_throttled_chunk_is_retried_other_errors_are_raised() -> None:
    calls = {"n": 0}

    def reply(call: Call) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return CNOPServiceUnavailableException("throttled")
        return {}

    items = [_item(i) for i in range(3)]
    assert _Window(reply).run(batch_put(TABLE, items, _ids(items))) == 3
    assert calls["n"] == 2

    with pytest.raises(CNOPValidationException) as info:
        _Window(lambda call: CNOPValidationException("bad")).run(
            batch_put(TABLE, [_item(1)], ["1"])
        )
    assert info.value.details["not_written"] == ["1"]


@pytest.mark.parametrize(
    "bad",
    [0, -1, MAX_WRITE_CONCURRENCY + 1, 10**100, True, 2.0, "4", "\uff14", "\u0664", None],
)
def test_bad_concurrency_is_refused_before_any_call(bad: Any) -> None:
    with pytest.raises(CNOPValidationException, match="concurrency"):
        next(batch_put(TABLE, [_item(1)], ["1"], concurrency=bad))


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


class _SlowClient:
    """A client whose ``transact_write_items`` takes a while (no server: the executor is tested)."""

    def __init__(self) -> None:
        self.finished: list[str] = []

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        time.sleep(0.05)
        self.finished.append(params["ClientRequestToken"])
        return {}


class _AsyncSlowClient(_SlowClient):
    async def transact_write_items(self, **params: Any) -> dict[str, Any]:  # type: ignore[override]
        await asyncio.sleep(0.05)
        self.finished.append(params["ClientRequestToken"])
        return {}


def _abandons_a_started_call() -> Any:
    call = put_new_chunk(TABLE, [_item(1)], ["1"], "R")
    yield Start(call)
    return "left early"


def test_executors_see_through_calls_an_operation_left_behind() -> None:
    """No request of an operation is still running once ``run`` returned."""
    client = _SlowClient()
    assert SyncExecutor(client).run(_abandons_a_started_call()) == "left early"
    assert len(client.finished) == 1

    async_client = _AsyncSlowClient()
    assert asyncio.run(AsyncExecutor(async_client).run(_abandons_a_started_call())) == (
        "left early"
    )
    assert len(async_client.finished) == 1


def test_executors_run_a_batch_window_and_hand_back_each_outcome() -> None:
    items = [_item(i) for i in range(450)]
    client = _SlowClient()
    assert SyncExecutor(client).run(batch_put(TABLE, items, _ids(items), concurrency=3)) == 450
    async_client = _AsyncSlowClient()
    op = batch_put(TABLE, items, _ids(items), concurrency=3)
    assert asyncio.run(AsyncExecutor(async_client).run(op)) == 450
    assert sorted(client.finished) == sorted(async_client.finished)
    assert len(set(client.finished)) == 5


def test_next_done_with_nothing_started_is_a_programming_error() -> None:
    def bad() -> Any:
        yield NextDone()

    with pytest.raises(TypeError, match="no started call"):
        SyncExecutor(_SlowClient()).run(bad())
    with pytest.raises(TypeError, match="no started call"):
        asyncio.run(AsyncExecutor(_AsyncSlowClient()).run(bad()))
