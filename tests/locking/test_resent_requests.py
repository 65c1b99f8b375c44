"""Every lock request, sent twice, acts once: what a client re-send after a lost reply does.

redis-py re-sends a command whose connection broke before the reply, and botocore an
UpdateItem whose reply timed out; the store then sees the identical request twice. Each
client here sends every script or UpdateItem twice against the real server, drops the
first reply (as the network did) and answers with the second, so the whole lock cycle
runs on "second replies" only. It must give one grant with the fencing token the store
kept, no self-block, extends and releases that succeed, and no false lost-lock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.cluster

from cnop.exceptions import CNOPLockAcquisitionException
from cnop.locking import Attempt, DynamoDBLockBackend, LockBackend, LockManager, RedisLockBackend
from cnop.locking.redis_core import keys_for

pytestmark = pytest.mark.integration


class ResendingRedis(redis.Redis):
    """Runs every script twice; the first reply is lost."""

    sent: int = 0

    def evalsha(self, *args: Any) -> Any:  # type: ignore[override]
        with contextlib.suppress(redis.RedisError):
            super().evalsha(*args)
        self.sent += 1
        return super().evalsha(*args)


class ResendingCluster(redis.cluster.RedisCluster):
    sent: int = 0

    def evalsha(self, *args: Any) -> Any:  # type: ignore[override]
        with contextlib.suppress(redis.RedisError):
            super().evalsha(*args)
        self.sent += 1
        return super().evalsha(*args)


class ResendingDynamoDB:
    """A boto3 client whose every UpdateItem is sent twice; the first reply is lost."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.sent = 0

    def update_item(self, **request: Any) -> Any:
        with contextlib.suppress(Exception):
            self._client.update_item(**request)
        self.sent += 1
        return self._client.update_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture(params=["redis", "redis-cluster", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> Iterator[tuple[str, LockBackend, LockBackend]]:
    """(kind, a backend whose requests are all sent twice, a plain one on the same store)."""
    kind: str = request.param
    resending: LockBackend
    plain: LockBackend
    if kind == "dynamodb":
        endpoint = request.getfixturevalue("dynamodb_endpoint")
        table = request.getfixturevalue("dynamodb_lock_table")
        plain = DynamoDBLockBackend.connect(table, endpoint_url=endpoint)
        other = DynamoDBLockBackend.connect(table, endpoint_url=endpoint)
        resending = DynamoDBLockBackend(
            table, ResendingDynamoDB(other._client), clock_skew_margin=0.05
        )
    else:
        url = request.getfixturevalue("redis_url" if kind == "redis" else "redis_cluster_url")
        cls = ResendingRedis if kind == "redis" else ResendingCluster
        client = cls.from_url(url.replace("redis+cluster://", "redis://"))
        resending = RedisLockBackend(client)
        plain = RedisLockBackend.from_url(url)
    yield kind, resending, plain
    resending.close()
    plain.close()


def _stored_fence(kind: str, backend: LockBackend, name: str) -> int:
    """The fencing token the store itself holds for ``name``."""
    if kind == "dynamodb":
        assert isinstance(backend, DynamoDBLockBackend)
        item = backend._client.get_item(
            TableName=backend.table, Key={"lock_name": {"S": name}}, ConsistentRead=True
        )["Item"]
        return int(item["fence"]["N"])
    assert isinstance(backend, RedisLockBackend)
    return int(backend._client.get(keys_for(name).fence))


def test_a_lock_cycle_of_resent_requests_acts_once(
    stores: tuple[str, LockBackend, LockBackend], unique_name: Callable[[str], str]
) -> None:
    kind, resending, plain = stores
    name = unique_name("resent")
    before = plain.try_acquire(name, "earlier", 5.0, None)
    assert plain.release(name, "earlier")

    locks, others = LockManager(resending), LockManager(plain)
    with locks.lock(name, ttl=5, wait=0) as lock:  # the re-sent acquire is no self-block
        assert lock.fencing_token == _stored_fence(kind, plain, name)
        assert lock.fencing_token > before.fencing_token
        if kind == "dynamodb":  # a counter: one grant adds exactly one
            assert lock.fencing_token == before.fencing_token + 1
        with pytest.raises(CNOPLockAcquisitionException), others.lock(name, wait=0):
            pytest.fail("two holders")
        lock.extend()  # re-sent: still succeeds
        assert lock.held
        assert not lock.lost
        with pytest.raises(CNOPLockAcquisitionException), others.lock(name, wait=0):
            pytest.fail("two holders after an extend")
    assert not lock.lost  # the re-sent release succeeded, no lock-lost
    with others.lock(name, wait=0) as after:  # and the lock is free
        assert after.fencing_token > lock.fencing_token
    sent = resending._client.sent  # type: ignore[attr-defined]
    assert sent >= 3  # acquire, extend, release all went twice


def test_each_request_sent_twice_answers_as_the_first_would(
    stores: tuple[str, LockBackend, LockBackend], unique_name: Callable[[str], str]
) -> None:
    # The same at the backend level, one request at a time, with another client's
    # attempts in between to show the lock's state.
    kind, resending, plain = stores
    name = unique_name("twice")
    granted = resending.try_acquire(name, "owner", 5.0, None)
    assert granted.acquired
    assert granted.fencing_token == _stored_fence(kind, plain, name)
    assert resending.try_acquire(name, "owner", 5.0, None) == granted
    assert not plain.try_acquire(name, "other", 5.0, None).acquired
    assert resending.extend(name, "owner", 5.0) is True
    assert not plain.try_acquire(name, "other", 5.0, None).acquired
    assert resending.release(name, "owner") is True
    assert resending.release(name, "owner") is True
    assert resending.extend(name, "owner", 5.0) is False  # released: nothing to extend
    assert plain.try_acquire(name, "other", 5.0, None).acquired
    assert plain.release(name, "other")


def test_a_resent_takeover_of_an_expired_lease_leaves_one_holder(
    dynamodb_endpoint: str, dynamodb_lock_table: str, unique_name: Callable[[str], str]
) -> None:
    plain = DynamoDBLockBackend.connect(
        dynamodb_lock_table, endpoint_url=dynamodb_endpoint, clock_skew_margin=0.05
    )
    other = DynamoDBLockBackend.connect(dynamodb_lock_table, endpoint_url=dynamodb_endpoint)
    client = ResendingDynamoDB(other._client)
    resending = DynamoDBLockBackend(dynamodb_lock_table, client, clock_skew_margin=0.05)
    name = unique_name("takeover-resent")
    dead = plain.try_acquire(name, "dead-holder", 0.2, None)  # never released
    time.sleep(0.4)  # its lease and the margin are over
    sent = client.sent
    taken = resending.try_acquire(name, "successor", 5.0, None)
    assert client.sent == sent + 2  # refused, then the takeover: both went twice
    # One takeover, one fence step; the re-sent takeover did not fail, nor count twice.
    assert taken == Attempt(True, fencing_token=dead.fencing_token + 1)
    assert _stored_fence("dynamodb", plain, name) == taken.fencing_token
    assert not plain.try_acquire(name, "third", 5.0, None).acquired
    assert not plain.extend(name, "dead-holder", 5.0)
    assert resending.extend(name, "successor", 5.0)
    assert resending.release(name, "successor")
    assert plain.try_acquire(name, "third", 5.0, None).acquired
    assert plain.release(name, "third")
    for backend in (plain, resending):
        backend.close()


def test_the_dynamodb_client_sends_a_request_at_most_twice() -> None:
    backend = DynamoDBLockBackend.connect(
        "locks", endpoint_url="http://127.0.0.1:1", region_name="us-east-1"
    )
    try:
        retries = backend._client.meta.config.retries
        assert retries["total_max_attempts"] == 2  # two sends, as the README says
        assert retries["mode"] == "standard"
    finally:
        backend.close()
