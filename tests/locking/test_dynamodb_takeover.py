"""A dead holder's DynamoDB lease is taken over once it expired, with the default settings.

The promise (README, ``dynamodb_core``): a holder that dies leaves its lock to others at
the latest ``lease + clock_skew_margin`` after its last grant or heartbeat, on their
clocks. An acquisition tried after that moment gets the lock at once, even with
``wait=0``; with the defaults (wait 5 s, a deposit's lease 10 s, margin 2 s) a caller that
starts right after the crash times out (retryable) at most twice before a retry gets it.
Never before that moment, unless it watched the same record version for a whole lease.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cnop.exceptions import CNOPLockTimeoutException, CNOPValidationException
from cnop.locking import Attempt, DynamoDBLockBackend, LockManager
from cnop.locking.dynamodb_backend import DEFAULT_CLOCK_SKEW_MARGIN
from cnop.locking.dynamodb_core import Observation, acquire_request, refused, takeover_due
from cnop.locking.manager import DEFAULT_OPERATION_TTLS, DEFAULT_WAIT

#: Every grant is refused to a token that already released the lock.
UNRELEASED = "attribute_not_exists(#d.#t) AND "
WORKER = Path(__file__).with_name("lock_worker.py")
NOW = 1_000.0  # a monotonic clock reading
WALL = 1_800_000_000.0  # a wall clock reading (Unix seconds)


def _item(rvn: str, expires_at_ms: int, lease_ms: int = 10_000) -> dict[str, dict[str, str]]:
    return {
        "lock_name": {"S": "x"},
        "owner": {"S": "someone"},
        "rvn": {"S": rvn},
        "lease_ms": {"N": str(lease_ms)},
        "expires_at_ms": {"N": str(expires_at_ms)},
        "fence": {"N": "3"},
    }


def test_a_lease_expires_on_the_waiters_wall_clock_plus_the_margin() -> None:
    expires_ms = int(WALL * 1000)
    seen = refused(_item("v1", expires_ms), None, NOW, wall=WALL - 1.0, margin=2.0)
    assert seen.observed == Observation("v1", NOW, 10.0, expires_ms)
    assert seen.retry_after == pytest.approx(3.001)  # 1 s to the expiry, 2 s of margin
    # Up to the margin past the expiry, the lease stands.
    for wall in (WALL, WALL + 1.999):
        request = acquire_request("t", "x", "me", 5.0, previous=seen, now=NOW, wall=wall, margin=2)
        assert request["ConditionExpression"] == UNRELEASED + "(attribute_not_exists(#o))"
        assert not takeover_due(request, seen, now=NOW, wall=wall, margin=2.0)
    # Past it: take over, if DynamoDB still has this version and this expiry.
    late = WALL + 2.5
    request = acquire_request("t", "x", "me", 5.0, previous=seen, now=NOW, wall=late, margin=2)
    assert request["ConditionExpression"] == (
        UNRELEASED + "(attribute_not_exists(#o) OR (#r = :seen AND #e < :cut))"
    )
    values = request["ExpressionAttributeValues"]
    assert values[":seen"] == {"S": "v1"}
    assert values[":cut"] == {"N": str(int((WALL + 0.5) * 1000))}
    assert values[":e"] == {"N": str(int((WALL + 7.5) * 1000))}  # its own lease, 5 s
    assert "ADD #f :one" in request["UpdateExpression"]  # the fence rises on a takeover


def test_an_expired_lease_is_taken_over_in_the_same_try() -> None:
    plain = acquire_request("t", "x", "me", 5.0, previous=None, now=NOW, wall=WALL, margin=2)
    expired = refused(_item("v1", int(WALL * 1000) - 2_500), None, NOW, wall=WALL, margin=2.0)
    assert expired.retry_after == 0.0
    assert takeover_due(plain, expired, now=NOW, wall=WALL, margin=2.0)
    # The takeover itself was refused for that version: no second takeover in that try.
    takeover = acquire_request("t", "x", "me", 5.0, previous=expired, now=NOW, wall=WALL, margin=2)
    assert not takeover_due(takeover, expired, now=NOW, wall=WALL, margin=2.0)


def test_a_heartbeat_restarts_the_expiry() -> None:
    first = refused(_item("v1", int(WALL * 1000)), None, NOW, wall=WALL, margin=2.0)
    later = refused(_item("v2", int(WALL * 1000) + 10_000), first, NOW + 5, wall=WALL + 5, margin=2)
    assert later.observed == Observation("v2", NOW + 5, 10.0, int(WALL * 1000) + 10_000)
    assert later.retry_after == pytest.approx(7.001)


def test_a_holder_clock_far_ahead_delays_a_waiter_by_at_most_one_watched_lease() -> None:
    far_ahead = int(WALL * 1000) + 3_600_000  # the holder's clock is an hour ahead
    first = refused(_item("v1", far_ahead), None, NOW, wall=WALL, margin=2.0)
    assert first.retry_after == pytest.approx(10.0)  # the watch, not the expiry
    request = acquire_request(
        "t", "x", "me", 5.0, previous=first, now=NOW + 10, wall=WALL, margin=2
    )
    assert request["ConditionExpression"] == UNRELEASED + "(attribute_not_exists(#o) OR #r = :seen)"


# --- against DynamoDB Local ------------------------------------------------------------


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.fixture
def dead_holders(
    dynamodb_endpoint: str, dynamodb_lock_table: str
) -> Iterator[Callable[..., list[int]]]:
    """Holders in other processes, with every default setting, killed once they hold."""
    spawned: list[subprocess.Popen[str]] = []

    def kill_after_grant(*usernames: str) -> list[int]:
        store = f"dynamodb:{dynamodb_endpoint}|{dynamodb_lock_table}"
        holders = [_spawn("hold-user", store, user, "deposit") for user in usernames]
        spawned.extend(holders)
        fences = []
        for holder in holders:
            assert holder.stdout is not None
            fences.append(int(holder.stdout.readline()))
        for holder in holders:
            holder.kill()  # SIGKILL: no release, no cleanup
            holder.wait()
        return fences

    yield kill_after_grant
    for holder in spawned:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def _expiry(endpoint: str, table: str, name: str) -> float:
    """When the lease in the item ends, by its writer's clock (Unix seconds)."""
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    item = client.get_item(TableName=table, Key={"lock_name": {"S": name}}, ConsistentRead=True)
    client.close()
    return int(item["Item"]["expires_at_ms"]["N"]) / 1000


@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_holders_lock_goes_to_a_caller_with_the_default_settings(
    dynamodb_endpoint: str,
    dynamodb_lock_table: str,
    dead_holders: Callable[..., list[int]],
    unique_name: Callable[[str], str],
) -> None:
    waiting, late = unique_name("waiting"), unique_name("late")
    waiting_fence, late_fence = dead_holders(waiting, late)
    locks = LockManager.dynamodb(dynamodb_lock_table, endpoint_url=dynamodb_endpoint)
    margin = DEFAULT_CLOCK_SKEW_MARGIN
    lease = DEFAULT_OPERATION_TTLS["deposit"]
    free_at = _expiry(dynamodb_endpoint, dynamodb_lock_table, f"user:{waiting}") + margin

    # A caller that starts right after the crash, and retries on the retryable timeout.
    timeouts: list[CNOPLockTimeoutException] = []
    while True:
        try:
            with locks.user_lock(waiting, "deposit") as lock:
                got_at = time.time()
                fence = lock.fencing_token
            break
        except CNOPLockTimeoutException as exc:
            timeouts.append(exc)
            assert len(timeouts) < 5, "the dead holder's lease was never taken over"
    assert all(exc.retryable for exc in timeouts)
    assert fence > waiting_fence
    assert got_at > free_at  # not before the lease and the margin were over
    # Each try waits the default 5 s from after the crash, so one of them covers free_at.
    assert len(timeouts) <= math.ceil((lease + margin) / DEFAULT_WAIT) - 1 == 2

    # A caller that comes after that moment gets the lock at once, even without waiting.
    late_free_at = _expiry(dynamodb_endpoint, dynamodb_lock_table, f"user:{late}") + margin
    time.sleep(max(0.0, late_free_at - time.time()))
    with locks.user_lock(late, "deposit", wait=0) as lock:
        assert lock.fencing_token > late_fence
    locks.close()


@pytest.fixture
def backends(dynamodb_endpoint: str, dynamodb_lock_table: str) -> Iterator[Callable[..., Any]]:
    made: list[DynamoDBLockBackend] = []

    def make(**options: Any) -> DynamoDBLockBackend:
        backend = DynamoDBLockBackend.connect(
            dynamodb_lock_table, endpoint_url=dynamodb_endpoint, **options
        )
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.mark.integration
def test_of_two_waiters_taking_over_one_expired_lease_only_one_wins(
    backends: Callable[..., DynamoDBLockBackend], unique_name: Callable[[str], str]
) -> None:
    dead, first, second = (backends(clock_skew_margin=0.05) for _ in range(3))
    name = unique_name("race")
    crashed = dead.try_acquire(name, "dead-holder", 0.2, None)
    # Both waiters see the live lease, then both try to take it over once it expired.
    seen = [w.try_acquire(name, f"waiter-{i}", 5.0, None) for i, w in enumerate((first, second))]
    assert not any(attempt.acquired for attempt in seen)
    time.sleep(0.4)
    outcomes = [
        first.try_acquire(name, "waiter-0", 5.0, seen[0]),
        second.try_acquire(name, "waiter-1", 5.0, seen[1]),
    ]
    assert [attempt.acquired for attempt in outcomes] == [True, False]
    assert outcomes[0].fencing_token == crashed.fencing_token + 1
    assert not dead.extend(name, "dead-holder", 5.0)  # the old holder learns it lost it
    assert not dead.release(name, "dead-holder")
    assert not second.release(name, "waiter-1")
    assert first.release(name, "waiter-0")


@pytest.mark.integration
def test_a_live_holder_clock_within_the_margin_keeps_its_lease(
    backends: Callable[..., DynamoDBLockBackend], unique_name: Callable[[str], str]
) -> None:
    holder, waiter = backends(), backends()
    name = unique_name("live")
    held = holder.try_acquire(name, "holder", 0.5, None)
    assert held.acquired
    attempt: Attempt | None = None
    for _ in range(3):  # past the lease, within the 2 s margin: a live holder may be slow
        time.sleep(0.3)
        attempt = waiter.try_acquire(name, "waiter", 5.0, None)
        assert not attempt.acquired
    assert holder.release(name, "holder")


@pytest.mark.parametrize("margin", [-0.1, 601, math.nan, math.inf, "2", True, None])
def test_a_bad_clock_skew_margin_is_refused(margin: object) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        LockManager.dynamodb("locks", region_name="us-east-1", clock_skew_margin=margin)  # type: ignore[arg-type]
    assert caught.value.errors[0]["field"] == "clock_skew_margin"
