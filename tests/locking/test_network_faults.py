"""Locks through a faulty network: lost, late and refused replies on Redis and DynamoDB.

A manager reaches its store through the fault proxy (``tools/faultproxy.py``); a second
manager on a direct connection checks what the store really holds. Each operation
(acquire, release, extend) meets each fault once, with the client's own retries on (the
managers as ``LockManager.from_url`` / ``.dynamodb`` build them, with a short read timeout)
and off (the same client with no retry). Whatever happens:

- never two holders: while the first manager believes it holds, the second cannot acquire;
  a caller told "not acquired" does not hold the lock, or the lease it left runs out and the
  next holder's fencing token is higher;
- never a false loss: a release or extend that the store applied (whose reply was lost and
  re-sent) reports success, not ``CNOPLockLostException``;
- what the caller was told is true: success means the store did it; a failure is a
  retryable ``CNOPServiceUnavailableException`` and the holder no longer claims what it
  cannot know it holds.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import redis
import redis.asyncio
from botocore.config import Config
from cnop_faultproxy import (
    DROP_REPLY,
    FORWARD,
    RESET,
    Fault,
    FaultProxy,
    Record,
    Request,
    delay,
    internal_error,
    throttle,
)
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from cnop.exceptions import (
    CNOPException,
    CNOPLockAcquisitionException,
    CNOPLockLostException,
    CNOPServiceUnavailableException,
)
from cnop.locking import (
    AsyncRedisLockBackend,
    DynamoDBLockBackend,
    HeldLock,
    LockManager,
    RedisLockBackend,
    ThreadedAsyncBackend,
    dynamodb_backend,
    redis_backend,
    redis_core,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The client read timeout through the proxy, and a reply later than it.
TIMEOUT = 0.5
LATE = 1.0
#: Leases: long enough to outlive botocore's retry backoff (up to 1 s before the second
#: attempt); short where a lease left behind by a lost reply must run out within the test.
LEASE = 5.0
SHORT_LEASE = 1.0
POLL = 0.05

FAULTS: dict[str, Fault] = {
    "drop_reply": DROP_REPLY,
    "late_reply": delay(LATE),
    "reset": RESET,
    "throttle": throttle(),
    "internal_error": internal_error(),
    "internal_error_applied": internal_error(applied=True),
}
REDIS_FAULTS = ["drop_reply", "late_reply", "reset"]
CASES = [
    pytest.param(backend, fault, retries, id=f"{backend}-{fault}-{'retry' if retries else 'once'}")
    for backend in ("redis", "dynamodb")
    for fault in (REDIS_FAULTS if backend == "redis" else list(FAULTS))
    for retries in (True, False)
]

_SHAS = {
    op: hashlib.sha1(script.encode()).hexdigest().encode()  # noqa: S324 - Redis script ids
    for op, script in (
        ("acquire", redis_core.ACQUIRE),
        ("release", redis_core.RELEASE),
        ("extend", redis_core.EXTEND),
    )
}
_SCRIPTS = {
    "acquire": redis_core.ACQUIRE,
    "release": redis_core.RELEASE,
    "extend": redis_core.EXTEND,
}
# What tells the three UpdateItem requests of the DynamoDB backend apart.
_DYNAMODB_MARKERS = {
    "acquire": b"ADD #f :one",
    "release": b"#d.#t = #f REMOVE",
    "extend": b'SET #r = :r, #l = :l, #e = :e"',
}


@dataclass
class Rig:
    """A manager through the proxy, one direct, and a look at what the store holds."""

    backend: str
    proxy: FaultProxy
    through: LockManager
    direct: LockManager
    retries: bool
    peek: Callable[[str], dict[str, int | None]]

    def op(self, operation: str) -> Callable[[Request], bool]:
        """Matches the request of ``operation`` (acquire, release, extend) of this backend."""
        if self.backend == "redis":
            sha, script = _SHAS[operation], _SCRIPTS[operation].encode()

            def redis_op(request: Request) -> bool:
                if request.name == "EVALSHA":
                    return request.args[1:2] == (sha,)
                return request.name == "EVAL" and request.args[1:2] == (script,)

            return redis_op
        marker = _DYNAMODB_MARKERS[operation]
        return lambda request: request.operation == "UpdateItem" and marker in request.raw

    def records(self, operation: str, name: str) -> list[Record]:
        """What the proxy did to the ``operation`` requests of lock ``name``."""
        matches = self.op(operation)
        return self.proxy.records(lambda request: matches(request) and name.encode() in request.raw)

    def fence(self, name: str) -> int:
        value = self.peek(name)["fence"]
        assert value is not None
        return value

    def owned(self, name: str) -> bool:
        return self.peek(name)["lease_ms"] is not None


def _redis_rig(url: str, proxy: FaultProxy, retries: bool, mp: pytest.MonkeyPatch) -> Rig:
    direct = LockManager.from_url(url)
    if retries:  # the manager as shipped, with a read timeout the late reply outlasts
        with mp.context() as patched:
            patched.setattr(redis_backend, "READ_TIMEOUT", TIMEOUT)
            through = LockManager.from_url(proxy.url)
    else:
        # The shipped options, with no retry.
        options: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": TIMEOUT}
        sync = redis.Redis.from_url(proxy.url, retry=Retry(NoBackoff(), 0), **options)
        aio = redis.asyncio.Redis.from_url(proxy.url, retry=AsyncRetry(NoBackoff(), 0), **options)
        through = LockManager(RedisLockBackend(sync), AsyncRedisLockBackend(aio))
    raw = redis.Redis.from_url(url)

    def peek(name: str) -> dict[str, int | None]:
        keys = redis_core.keys_for(name)
        fence, pttl = raw.get(keys.fence), raw.pttl(keys.owner)
        return {
            "fence": None if fence is None else int(fence),
            "lease_ms": None if pttl < 0 else int(pttl),
        }

    return Rig("redis", proxy, through, direct, retries, peek)


def _dynamodb_rig(
    endpoint: str, table: str, proxy: FaultProxy, retries: bool, mp: pytest.MonkeyPatch
) -> Rig:
    direct = LockManager.dynamodb(table, endpoint_url=endpoint, poll_interval=POLL)
    if retries:
        with mp.context() as patched:
            patched.setattr(dynamodb_backend, "READ_TIMEOUT", TIMEOUT)
            through = LockManager.dynamodb(table, endpoint_url=proxy.url, poll_interval=POLL)
    else:
        config = Config(connect_timeout=2, read_timeout=TIMEOUT, retries={"total_max_attempts": 1})
        client = boto3.client("dynamodb", endpoint_url=proxy.url, config=config)
        backend = DynamoDBLockBackend(table, client, poll_interval=POLL)
        through = LockManager(backend, ThreadedAsyncBackend(backend, POLL))
    raw = boto3.client("dynamodb", endpoint_url=endpoint)

    def peek(name: str) -> dict[str, int | None]:
        item = raw.get_item(TableName=table, Key={"lock_name": {"S": name}}, ConsistentRead=True)
        found = item.get("Item", {})
        return {
            "fence": int(found["fence"]["N"]) if "fence" in found else None,
            "lease_ms": int(found["lease_ms"]["N"]) if "lease_ms" in found else None,
        }

    return Rig("dynamodb", proxy, through, direct, retries, peek)


@pytest.fixture
def make_rig(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, bool], Rig]]:
    made: list[Rig] = []

    def make(backend: str, retries: bool) -> Rig:
        if backend == "redis":
            proxy = request.getfixturevalue("redis_proxy")
            rig = _redis_rig(request.getfixturevalue("redis_url"), proxy, retries, monkeypatch)
        else:
            rig = _dynamodb_rig(
                request.getfixturevalue("dynamodb_endpoint"),
                request.getfixturevalue("dynamodb_lock_table"),
                request.getfixturevalue("dynamodb_proxy"),
                retries,
                monkeypatch,
            )
        # One clean round trip first: scripts loaded, connections open.
        with rig.through.lock(f"warm-{uuid.uuid4().hex}", wait=0):
            pass
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.through.close()
        rig.direct.close()


def _acquire(manager: LockManager, name: str, ttl: float) -> tuple[HeldLock | None, Any]:
    """(the held lock, its context) or (None, the error)."""
    context = manager.lock(name, ttl=ttl, wait=0)
    try:
        return context.__enter__(), context
    except CNOPException as exc:
        return None, exc


def _refused_now(rig: Rig, name: str) -> bool:
    try:
        with rig.direct.lock(name, wait=0):
            return False
    except CNOPLockAcquisitionException:
        return True


def _assert_told_unavailable(told: BaseException | None) -> None:
    assert isinstance(told, CNOPServiceUnavailableException), repr(told)
    assert told.retryable


# --- acquire ---------------------------------------------------------------------------


@pytest.mark.parametrize(("backend", "fault", "retries"), CASES)
def test_acquire(
    make_rig: Callable[[str, bool], Rig],
    unique_name: Callable[[str], str],
    backend: str,
    fault: str,
    retries: bool,
) -> None:
    rig = make_rig(backend, retries)
    name = unique_name("netfault")
    ttl = LEASE if retries else SHORT_LEASE
    plan = rig.proxy.plan(rig.op("acquire"), [FAULTS[fault]])
    lock, context = _acquire(rig.through, name, ttl)
    assert plan.done
    [faulted, *resent] = rig.records("acquire", name)

    if lock is not None:
        # Told "acquired": the store agrees, and nobody else gets it meanwhile.
        assert retries, "a single attempt that met a fault cannot have been told acquired"
        assert resent  # the client re-sent the request
        assert lock.fencing_token == rig.fence(name)
        refused = _refused_now(rig, name)
        assert refused or not lock.held  # two holders otherwise
        assert refused  # a 5 s lease is far from over
        context.__exit__(None, None, None)
        assert not _refused_now(rig, name)
        return

    # Told "not acquired".
    told = context
    assert not retries, f"the client's retry should have recovered from {fault}: {told!r}"
    _assert_told_unavailable(told)
    if not faulted.applied:
        assert not rig.owned(name)
        assert not _refused_now(rig, name)
        return
    # The store granted a lease nobody holds: it runs out, and fencing tells.
    left_behind = rig.fence(name)
    with rig.direct.lock(name, wait=SHORT_LEASE * 4) as successor:
        assert successor.fencing_token > left_behind


@pytest.mark.parametrize("backend", ["redis", "dynamodb"])
def test_acquire_reported_failed_leaves_the_lock_free(
    make_rig: Callable[[str, bool], Rig], unique_name: Callable[[str], str], backend: str
) -> None:
    rig = make_rig(backend, False)
    name = unique_name("netfault")
    rig.proxy.plan(rig.op("acquire"), [DROP_REPLY])
    lock, told = _acquire(rig.through, name, LEASE)
    assert lock is None
    _assert_told_unavailable(told)
    try:
        assert not _refused_now(rig, name)
    finally:
        rig.direct.force_release(name)  # the lease left behind, for the shared store's sake


async def test_asyncio_acquire_reported_failed_leaves_the_lock_free(
    make_rig: Callable[[str, bool], Rig], unique_name: Callable[[str], str]
) -> None:
    rig = make_rig("redis", False)
    name = unique_name("netfault")
    try:
        rig.proxy.plan(rig.op("acquire"), [DROP_REPLY])
        with pytest.raises(CNOPServiceUnavailableException):
            await rig.through.alock(name, ttl=LEASE, wait=0).__aenter__()
        [faulted] = rig.records("acquire", name)
        assert faulted.applied  # the store granted it; the manager freed it before raising
        assert not _refused_now(rig, name)
    finally:
        rig.direct.force_release(name)
        await rig.through.aclose()


@pytest.mark.parametrize("backend", ["redis", "dynamodb"])
def test_a_released_token_is_never_granted_again(
    make_rig: Callable[[str, bool], Rig], unique_name: Callable[[str], str], backend: str
) -> None:
    rig = make_rig(backend, False)
    name = unique_name("netfault")
    store = rig.through._backend
    assert store.try_acquire(name, "t-1", LEASE, None).acquired
    assert store.release(name, "t-1")
    with pytest.raises(CNOPException, match="already released"):
        store.try_acquire(name, "t-1", LEASE, None)
    assert not rig.owned(name)
    assert store.release(name, "t-1")  # and its release, re-sent, still reports success


# --- release ---------------------------------------------------------------------------


@pytest.mark.parametrize(("backend", "fault", "retries"), CASES)
def test_release(
    make_rig: Callable[[str, bool], Rig],
    unique_name: Callable[[str], str],
    backend: str,
    fault: str,
    retries: bool,
) -> None:
    rig = make_rig(backend, retries)
    name = unique_name("netfault")
    lock, _ = _acquire(rig.through, name, LEASE)
    assert lock is not None
    plan = rig.proxy.plan(rig.op("release"), [FAULTS[fault]])
    told: CNOPException | None = None
    try:
        lock.release()
    except CNOPException as exc:
        told = exc
    assert plan.done
    [faulted, *_] = rig.records("release", name)

    assert not isinstance(told, CNOPLockLostException), f"a false loss: {told!r}"
    assert not lock.held
    if told is None:
        assert retries or faulted.delivered
        assert not rig.owned(name)
        assert not _refused_now(rig, name)
        return
    assert not retries, f"the client's retry should have recovered from {fault}: {told!r}"
    _assert_told_unavailable(told)
    if faulted.applied:
        assert not _refused_now(rig, name)
    else:  # still leased to a holder that no longer claims it, until it runs out
        assert _refused_now(rig, name)
        rig.direct.force_release(name)


@pytest.mark.parametrize("backend", ["redis", "dynamodb"])
def test_release_resent_after_another_holder_came_and_went_reports_success(
    make_rig: Callable[[str, bool], Rig], unique_name: Callable[[str], str], backend: str
) -> None:
    rig = make_rig(backend, True)
    name = unique_name("netfault")
    lock, _ = _acquire(rig.through, name, LEASE)
    assert lock is not None
    go = threading.Event()
    # The first release is applied and its reply lost; the client's re-sent one is held
    # back until another holder has taken the (free) lock and released it.
    rig.proxy.plan(rig.op("release"), [DROP_REPLY, delay(30, before=True, until=go)])
    outcome: list[BaseException | None] = []

    def release() -> None:
        try:
            lock.release()
            outcome.append(None)
        except CNOPException as exc:
            outcome.append(exc)

    releasing = threading.Thread(target=release)
    releasing.start()
    try:
        _wait(lambda: len(rig.records("release", name)) == 2)
        with rig.direct.lock(name, wait=0) as successor:
            assert successor.fencing_token > lock.fencing_token
    finally:
        go.set()
        releasing.join(10)
    assert outcome == [None]


# --- extend ----------------------------------------------------------------------------

EXTENDED = 8.0


@pytest.mark.parametrize(("backend", "fault", "retries"), CASES)
def test_extend(
    make_rig: Callable[[str, bool], Rig],
    unique_name: Callable[[str], str],
    backend: str,
    fault: str,
    retries: bool,
) -> None:
    rig = make_rig(backend, retries)
    name = unique_name("netfault")
    lock, context = _acquire(rig.through, name, LEASE)
    assert lock is not None
    plan = rig.proxy.plan(rig.op("extend"), [FAULTS[fault]])
    told: CNOPException | None = None
    try:
        lock.extend(EXTENDED)
    except CNOPException as exc:
        told = exc
    assert plan.done

    assert not isinstance(told, CNOPLockLostException), f"a false loss: {told!r}"
    assert not lock.lost
    if told is None:
        # Told "extended": the store has the new lease.
        assert retries
        assert lock.ttl == EXTENDED
        lease = rig.peek(name)["lease_ms"]
        assert lease is not None
        if backend == "dynamodb":
            assert lease == EXTENDED * 1000
        else:  # the remaining time: more than the first lease could still have had
            assert lease > LEASE * 1000
    else:
        assert not retries, f"the client's retry should have recovered from {fault}: {told!r}"
        _assert_told_unavailable(told)
        assert lock.ttl == LEASE  # the holder keeps counting the lease it knows it has
    assert lock.held
    assert _refused_now(rig, name)
    rig.proxy.clear()
    context.__exit__(None, None, None)  # the holder still holds it, and releases it
    assert not _refused_now(rig, name)


@pytest.mark.parametrize("backend", ["redis", "dynamodb"])
def test_auto_extend_rides_out_lost_renewal_replies(
    make_rig: Callable[[str, bool], Rig], unique_name: Callable[[str], str], backend: str
) -> None:
    rig = make_rig(backend, True)
    name = unique_name("netfault")
    # Every other renewal is applied and its reply lost; the client re-sends each one.
    rig.proxy.plan(rig.op("extend"), [DROP_REPLY, DROP_REPLY])
    lost: list[HeldLock] = []
    with rig.through.lock(name, ttl=1.5, wait=0, auto_extend=True, on_lost=lost.append) as lock:
        _wait(lambda: len([r for r in rig.records("extend", name) if r.delivered]) >= 2)
        assert lock.held
        assert _refused_now(rig, name)
    assert lost == []
    assert not lock.lost
    assert not _refused_now(rig, name)


# --- late duplicates -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["redis", "dynamodb"])
def test_a_late_duplicate_acquire_does_not_retake_a_released_lock(
    make_rig: Callable[[str, bool], Rig], unique_name: Callable[[str], str], backend: str
) -> None:
    rig = make_rig(backend, True)
    name = unique_name("netfault")
    go = threading.Event()
    plan = rig.proxy.plan(rig.op("acquire"), [delay(30, before=True, until=go)])
    lock, context = _acquire(rig.through, name, LEASE)  # the re-sent try gets it
    assert lock is not None
    assert plan.done
    context.__exit__(None, None, None)
    go.set()
    [late, *_] = rig.records("acquire", name)
    _wait(lambda: late.applied)
    try:
        assert not _refused_now(rig, name)
    finally:
        rig.direct.force_release(name)


def test_an_acquire_arriving_after_its_failed_try_was_cleaned_up_is_refused(
    make_rig: Callable[[str, bool], Rig], unique_name: Callable[[str], str]
) -> None:
    # No retry: the try times out and is reported failed; its clean-up release finds
    # nothing (the request is still held in the network) and marks the token, so the
    # request, arriving at last, does not take the lock for a lease nobody holds.
    rig = make_rig("redis", False)
    name = unique_name("netfault")
    go = threading.Event()
    rig.proxy.plan(rig.op("acquire"), [delay(30, before=True, until=go)])
    lock, told = _acquire(rig.through, name, LEASE)
    assert lock is None
    _assert_told_unavailable(told)
    go.set()
    [late] = rig.records("acquire", name)
    _wait(lambda: late.applied)
    try:
        assert not _refused_now(rig, name)
    finally:
        rig.direct.force_release(name)


# --- the asyncio face ------------------------------------------------------------------


@pytest.mark.parametrize(
    "retries",
    [
        pytest.param(True, id="retry"),
        pytest.param(False, id="once"),
    ],
)
async def test_asyncio_redis_lost_replies(
    make_rig: Callable[[str, bool], Rig], unique_name: Callable[[str], str], retries: bool
) -> None:
    rig = make_rig("redis", retries)
    name = unique_name("netfault")
    try:
        rig.proxy.plan(rig.op("acquire"), [DROP_REPLY])
        if not retries:
            with pytest.raises(CNOPServiceUnavailableException):
                await rig.through.alock(name, ttl=SHORT_LEASE, wait=0).__aenter__()
            left_behind = rig.fence(name)
            with rig.direct.lock(name, wait=SHORT_LEASE * 4) as successor:
                assert successor.fencing_token > left_behind
            return
        context = rig.through.alock(name, ttl=LEASE, wait=0)
        lock = await context.__aenter__()
        assert lock.fencing_token == rig.fence(name)
        assert _refused_now(rig, name)
        rig.proxy.plan(rig.op("extend"), [DROP_REPLY])
        await lock.extend(EXTENDED)
        lease = rig.peek(name)["lease_ms"]
        assert lease is not None
        assert lease > LEASE * 1000
        rig.proxy.plan(rig.op("release"), [DROP_REPLY])
        await context.__aexit__(None, None, None)  # no false loss
        assert not _refused_now(rig, name)
        assert [r.fault for r in rig.records("release", name)] == [DROP_REPLY, FORWARD]
    finally:
        await rig.through.aclose()


def _wait(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    pause = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        pause.wait(0.01)
    raise AssertionError("condition not met in time")
