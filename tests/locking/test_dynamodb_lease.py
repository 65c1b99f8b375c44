"""The DynamoDB lease model: staleness judged on the waiter's own clock, heartbeats
respected, and AWS faults mapped to CNOP errors."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import boto3
import pytest
from botocore.stub import Stubber

from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPLockTimeoutException,
    CNOPServiceUnavailableException,
    CNOPValidationException,
)
from cnop.locking import Attempt, DynamoDBLockBackend, LockManager, ThreadedAsyncBackend
from cnop.locking.dynamodb_core import RELEASES_KEPT, Observation, acquire_request, refused

#: Every grant is refused to a token that already released the lock.
UNRELEASED = "attribute_not_exists(#d.#t) AND "
WALL = 1_800_000_000.0  # a wall-clock reading (Unix seconds); these items carry no expiry


def _item(rvn: str, lease_ms: int = 1000) -> dict[str, dict[str, str]]:
    return {
        "lock_name": {"S": "x"},
        "owner": {"S": "someone"},
        "rvn": {"S": rvn},
        "lease_ms": {"N": str(lease_ms)},
        "fence": {"N": "3"},
    }


def test_a_lease_is_stale_only_after_a_full_lease_with_the_same_version_on_our_clock() -> None:
    first = refused(_item("v1"), None, now=50.0, wall=WALL, margin=2.0)
    assert first.observed == Observation("v1", since=50.0, lease=1.0)
    assert first.retry_after == 1.0
    # Same version seen 0.6 s later (our clock): 0.4 s to go, not stale yet.
    second = refused(_item("v1"), first, now=50.6, wall=WALL, margin=2.0)
    assert second.observed == Observation("v1", since=50.0, lease=1.0)
    assert second.retry_after == pytest.approx(0.4)
    request = acquire_request("t", "x", "me", 1.0, previous=second, now=50.6, wall=WALL, margin=2.0)
    assert request["ConditionExpression"] == UNRELEASED + "(attribute_not_exists(#o))"
    # A heartbeat (new version) restarts the count.
    third = refused(_item("v2"), second, now=50.9, wall=WALL, margin=2.0)
    assert third.observed == Observation("v2", since=50.9, lease=1.0)
    # A full lease with v2 unchanged: the next try may take over, only if still v2.
    request = acquire_request("t", "x", "me", 1.0, previous=third, now=51.9, wall=WALL, margin=2.0)
    assert request["ConditionExpression"] == UNRELEASED + "(attribute_not_exists(#o) OR #r = :seen)"
    assert request["ExpressionAttributeValues"][":seen"] == {"S": "v2"}


def test_a_released_item_is_retried_at_once() -> None:
    attempt = refused(
        {"lock_name": {"S": "x"}, "fence": {"N": "3"}}, None, now=1.0, wall=WALL, margin=2.0
    )
    assert attempt == Attempt(False, retry_after=0.0)


@pytest.mark.integration
def test_a_heartbeating_holder_is_never_declared_stale(
    dynamodb_endpoint: str, dynamodb_lock_table: str, unique_name: Callable[[str], str]
) -> None:
    holder = LockManager.dynamodb(dynamodb_lock_table, endpoint_url=dynamodb_endpoint)
    waiter = LockManager.dynamodb(
        dynamodb_lock_table, endpoint_url=dynamodb_endpoint, poll_interval=0.05
    )
    name = unique_name("heartbeat")
    with holder.lock(name, ttl=0.8, auto_extend=True) as lock:
        # Four leases long; heartbeats every ~0.27 s keep changing the record version.
        with pytest.raises(CNOPLockTimeoutException), waiter.lock(name, wait=3.2):
            pytest.fail("a live lease was taken over")
        assert lock.held
    assert not lock.lost
    holder.close()
    waiter.close()


@pytest.mark.integration
def test_an_abandoned_lease_is_taken_over_after_one_lease_seen_unchanged(
    dynamodb_endpoint: str, dynamodb_lock_table: str, unique_name: Callable[[str], str]
) -> None:
    locks = LockManager.dynamodb(
        dynamodb_lock_table, endpoint_url=dynamodb_endpoint, poll_interval=0.05
    )
    name = unique_name("abandoned")
    abandoned = locks.lock(name, ttl=0.5)
    old = abandoned.__enter__()  # never released, never renewed
    started = time.monotonic()
    with locks.lock(name, ttl=5, wait=5) as lock:
        waited = time.monotonic() - started
        assert lock.fencing_token == old.fencing_token + 1
    assert waited >= 0.5  # the waiter watched a full lease on its own clock
    locks.close()


@pytest.mark.integration
def test_a_repeated_acquire_or_release_by_the_same_owner_is_recognised(
    dynamodb_endpoint: str, dynamodb_lock_table: str, unique_name: Callable[[str], str]
) -> None:
    # botocore re-sends an UpdateItem whose reply was lost (read timeout); the re-sent
    # request then meets the owner's own earlier write. It must not be taken for someone
    # else's lock (the owner would wait for itself) or for a lost lock (a false alarm).
    backend = DynamoDBLockBackend.connect(dynamodb_lock_table, endpoint_url=dynamodb_endpoint)
    name = unique_name("resent")
    first = backend.try_acquire(name, "owner-token", 5.0, None)
    assert first.acquired
    again = backend.try_acquire(name, "owner-token", 5.0, None)
    assert again == Attempt(True, fencing_token=first.fencing_token)
    assert not backend.try_acquire(name, "other-token", 5.0, None).acquired
    assert backend.release(name, "owner-token")
    assert backend.release(name, "owner-token")  # the re-sent release
    assert not backend.release(name, "other-token")
    taken = backend.try_acquire(name, "other-token", 5.0, None)
    assert taken.acquired
    assert taken.fencing_token == first.fencing_token + 1
    assert not backend.extend(name, "owner-token", 5.0)
    assert backend.release(name, "other-token")
    backend.close()


@pytest.mark.integration
def test_the_item_remembers_the_last_releases_and_no_more(
    dynamodb_endpoint: str, dynamodb_lock_table: str, unique_name: Callable[[str], str]
) -> None:
    # Each release is remembered by its token (so a re-sent one still succeeds after
    # others came and went), but a busy lock's item must not grow with every cycle.
    backend = DynamoDBLockBackend.connect(dynamodb_lock_table, endpoint_url=dynamodb_endpoint)
    name = unique_name("remember")
    tokens = [f"token-{i}" for i in range(3 * RELEASES_KEPT)]
    for token in tokens:
        assert backend.try_acquire(name, token, 5.0, None).acquired
        assert backend.release(name, token)
    raw = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)
    item = raw.get_item(
        TableName=dynamodb_lock_table, Key={"lock_name": {"S": name}}, ConsistentRead=True
    )["Item"]
    assert sorted(item["released"]["M"]) == sorted(tokens[-RELEASES_KEPT:])
    assert backend.release(name, tokens[-RELEASES_KEPT])  # the oldest kept: a re-send succeeds
    assert not backend.release(name, tokens[0])  # forgotten: reported as lost
    backend.close()


class _SlowToSend(DynamoDBLockBackend):
    """Its acquire reaches DynamoDB only after a pause, as over a slow network."""

    started = threading.Event()
    sent = threading.Event()

    def try_acquire(self, name: str, token: str, ttl: float, previous: Attempt | None) -> Attempt:
        self.started.set()
        time.sleep(0.3)
        try:
            return super().try_acquire(name, token, ttl, previous)
        finally:
            self.sent.set()


@pytest.mark.integration
async def test_a_cancelled_async_acquisition_does_not_leave_the_lock_taken(
    dynamodb_endpoint: str, dynamodb_lock_table: str, unique_name: Callable[[str], str]
) -> None:
    # The asyncio face runs boto3 in a worker thread, which a cancellation does not stop:
    # the grant may land after the cancelled caller gave up, and nobody would release it.
    plain = DynamoDBLockBackend.connect(dynamodb_lock_table, endpoint_url=dynamodb_endpoint)
    slow = _SlowToSend.connect(dynamodb_lock_table, endpoint_url=dynamodb_endpoint)
    locks = LockManager(plain, ThreadedAsyncBackend(slow))
    name = unique_name("cancelled")

    async def enter() -> None:
        async with locks.alock(name, ttl=30):
            pytest.fail("entered although cancelled")

    task = asyncio.create_task(enter())
    await asyncio.to_thread(slow.started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(slow.sent.wait, 5)
    with locks.lock(name, wait=0) as lock:
        assert lock.held
    locks.close()
    slow.close()


@pytest.mark.integration
def test_a_missing_table_is_a_configuration_error_naming_it(dynamodb_endpoint: str) -> None:
    locks = LockManager.dynamodb("no-such-lock-table", endpoint_url=dynamodb_endpoint)
    with pytest.raises(CNOPConfigurationException, match="no-such-lock-table"), locks.lock("x"):
        pytest.fail("locked in a table that does not exist")
    locks.close()


def test_an_unreachable_endpoint_is_reported_within_the_wait() -> None:
    locks = LockManager.dynamodb(
        "locks", endpoint_url="http://127.0.0.1:9", region_name="us-east-1"
    )
    started = time.monotonic()
    with pytest.raises(CNOPServiceUnavailableException, match="unreachable"), locks.lock("x"):
        pytest.fail("locked without a store")
    assert time.monotonic() - started < locks.default_wait
    locks.close()


def test_throttling_is_a_retryable_unavailable_error() -> None:
    # DynamoDB Local never throttles: this fault path needs a stubbed client.
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    backend = DynamoDBLockBackend("locks", client)
    with Stubber(client) as stub:
        stub.add_client_error("update_item", "ProvisionedThroughputExceededException")
        with pytest.raises(CNOPServiceUnavailableException) as caught:
            backend.try_acquire("x", "token", 1.0, None)
    assert caught.value.retryable
    assert "throttling" in str(caught.value)


def test_a_conditional_failure_without_an_item_means_try_again() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    backend = DynamoDBLockBackend("locks", client)
    with Stubber(client) as stub:
        stub.add_client_error("update_item", "ConditionalCheckFailedException")
        attempt = backend.try_acquire("x", "token", 1.0, None)
    assert attempt == Attempt(False, retry_after=0.0)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"table": "x"}, "table"),
        ({"table": "has space"}, "table"),
        ({"table": 5}, "table"),
        ({"table": "locks", "poll_interval": 0}, "poll_interval"),
        ({"table": "locks", "poll_interval": "fast"}, "poll_interval"),
    ],
)
def test_bad_dynamodb_settings_are_refused(options: dict[str, object], field: str) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        LockManager.dynamodb(region_name="us-east-1", **options)  # type: ignore[arg-type]
    assert caught.value.errors[0]["field"] == field


def test_a_non_text_endpoint_is_a_configuration_error() -> None:
    with pytest.raises(CNOPConfigurationException, match="endpoint"):
        LockManager.dynamodb("locks", endpoint_url=8000, region_name="us-east-1")  # type: ignore[arg-type]


def test_a_missing_region_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(CNOPConfigurationException, match="AWS_REGION"):
        LockManager.dynamodb("locks")
