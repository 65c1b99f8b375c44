"""The fault proxy does to each request what the schedule says, against the real servers.

boto3 clients here make exactly one attempt (``total_max_attempts=1``) and redis-py clients
none again (``retry=None``) unless a test is about retries, so every fault is seen as the
proxy produced it; a direct client checks what the server really applied.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
import redis
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from cnop_faultproxy import (
    DROP_REPLY,
    FORWARD,
    RESET,
    FaultProxy,
    Request,
    delay,
    internal_error,
    redis_error,
    respond,
    throttle,
)
from redis.backoff import NoBackoff
from redis.retry import Retry

pytestmark = pytest.mark.integration

READ_TIMEOUT = 0.5
LATE = 1.5  # longer than READ_TIMEOUT


def _dynamodb(endpoint: str, attempts: int = 1) -> Any:
    config = botocore.config.Config(
        retries={"total_max_attempts": attempts, "mode": "standard"},
        connect_timeout=2,
        read_timeout=READ_TIMEOUT,
    )
    return boto3.client("dynamodb", endpoint_url=endpoint, config=config)


@pytest.fixture(scope="module")
def table(dynamodb_endpoint: str) -> Iterator[str]:
    name = f"faultproxy-{uuid.uuid4().hex[:12]}"
    client = _dynamodb(dynamodb_endpoint)
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    client.delete_table(TableName=name)


@pytest.fixture
def direct(dynamodb_endpoint: str) -> Any:
    return _dynamodb(dynamodb_endpoint)


@pytest.fixture
def proxied(dynamodb_proxy: FaultProxy) -> Any:
    return _dynamodb(dynamodb_proxy.url)


def _put(client: Any, table: str, key: str, value: str = "v") -> None:
    client.put_item(TableName=table, Item={"pk": {"S": key}, "v": {"S": value}})


def _get(client: Any, table: str, key: str) -> str | None:
    item = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)
    found = item.get("Item")
    return None if found is None else str(found["v"]["S"])


def _transact_put(client: Any, table: str, key: str) -> None:
    client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": key}, "v": {"S": "t"}}}}]
    )


# --- DynamoDB Local over HTTP ----------------------------------------------------------


def test_forward_is_the_default_and_keep_alive_carries_many_requests(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    for number in range(3):
        _put(proxied, table, f"fwd-{number}")
    assert [_get(direct, table, f"fwd-{n}") for n in range(3)] == ["v", "v", "v"]
    records = dynamodb_proxy.records("PutItem")
    assert [r.fault for r in records] == [FORWARD] * 3
    assert all(r.forwarded and r.applied and r.delivered and r.status == 200 for r in records)
    assert len({r.connection for r in records}) == 1  # one keep-alive connection


def test_drop_reply_applies_the_request_and_resets_the_client(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    plan = dynamodb_proxy.plan("PutItem", [DROP_REPLY])
    with pytest.raises(ConnectionClosedError):
        _put(proxied, table, "dropped")
    assert plan.done
    assert _get(direct, table, "dropped") == "v"  # the server applied it
    [record] = dynamodb_proxy.records("PutItem")
    assert (record.fault, record.forwarded, record.applied, record.delivered) == (
        DROP_REPLY,
        True,
        True,
        False,
    )
    assert record.status == 200
    _put(proxied, table, "after")  # a new connection works normally
    assert _get(direct, table, "after") == "v"


def test_plan_matches_only_the_named_operation_and_is_consumed_in_order(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    dynamodb_proxy.plan("DynamoDB_20120810.TransactWriteItems", [DROP_REPLY, FORWARD, RESET])
    _put(proxied, table, "plain")  # not matched: forwarded
    with pytest.raises(ConnectionClosedError):
        _transact_put(proxied, table, "tx-1")
    _transact_put(proxied, table, "tx-2")
    with pytest.raises(ConnectionClosedError):
        _transact_put(proxied, table, "tx-3")
    _transact_put(proxied, table, "tx-4")  # the plan is spent
    first, second, third, fourth = dynamodb_proxy.records("TransactWriteItems")
    assert (first.fault, first.applied, first.delivered) == (DROP_REPLY, True, False)
    assert (second.fault, second.delivered) == (FORWARD, True)
    assert (third.fault, third.forwarded) == (RESET, False)
    assert fourth.fault == FORWARD
    assert [_get(direct, table, f"tx-{n}") for n in range(1, 5)] == ["t", "t", None, "t"]
    assert dynamodb_proxy.records("PutItem")[0].fault == FORWARD
    assert dynamodb_proxy.counts() == {"forward": 3, "drop_reply": 1, "reset": 1}


def test_reset_never_reaches_the_server(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    dynamodb_proxy.plan("PutItem", [RESET])
    with pytest.raises(ConnectionClosedError):
        _put(proxied, table, "never")
    assert _get(direct, table, "never") is None
    [record] = dynamodb_proxy.records("PutItem")
    assert (record.forwarded, record.applied, record.delivered) == (False, False, False)


def test_late_reply_trips_the_client_read_timeout_after_the_server_applied_it(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    dynamodb_proxy.plan("PutItem", [delay(LATE)])
    with pytest.raises(ReadTimeoutError):
        _put(proxied, table, "late")
    assert _get(direct, table, "late") == "v"
    [record] = dynamodb_proxy.records("PutItem")
    assert record.applied


def test_late_request_is_applied_after_the_client_gave_up(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    dynamodb_proxy.plan("PutItem", [delay(LATE, before=True)])
    with pytest.raises(ReadTimeoutError):
        _put(proxied, table, "late-request")
    [record] = dynamodb_proxy.records("PutItem")
    assert not record.forwarded  # still held back when the client gave up
    _wait(lambda: record.applied)
    assert _get(direct, table, "late-request") == "v"


def test_throttle_and_internal_error_are_answered_without_forwarding(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    dynamodb_proxy.plan("PutItem", [throttle("slow down"), internal_error()])
    with pytest.raises(ClientError) as throttled:
        _put(proxied, table, "refused")
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert throttled.value.response["Error"]["Message"] == "slow down"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as failed:
        _put(proxied, table, "refused")
    assert failed.value.response["Error"]["Code"] == "InternalServerError"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert _get(direct, table, "refused") is None
    assert all(not r.forwarded and r.delivered for r in dynamodb_proxy.records("PutItem"))


def test_an_error_after_the_server_applied_the_request(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    dynamodb_proxy.plan("PutItem", [internal_error(applied=True)])
    with pytest.raises(ClientError) as failed:
        _put(proxied, table, "committed")
    assert failed.value.response["Error"]["Code"] == "InternalServerError"
    assert _get(direct, table, "committed") == "v"
    [record] = dynamodb_proxy.records("PutItem")
    assert (record.forwarded, record.applied, record.delivered, record.status) == (
        True,
        True,
        True,
        200,
    )


def test_a_held_request_goes_on_when_the_test_says(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    go = threading.Event()
    dynamodb_proxy.plan("PutItem", [delay(30, before=True, until=go)])
    putting = threading.Thread(target=_put, args=(_dynamodb(dynamodb_proxy.url), table, "gated"))
    putting.start()
    _wait(lambda: bool(dynamodb_proxy.records("PutItem")))
    _put(proxied, table, "gated", "first")  # overtakes the held request
    go.set()
    putting.join(10)
    assert _get(direct, table, "gated") == "v"  # the held one came last
    held, overtaking = dynamodb_proxy.records("PutItem")
    assert held.delivered
    assert overtaking.delivered


def test_botocore_retries_a_throttle_and_a_500_on_the_same_connection(
    dynamodb_proxy: FaultProxy, direct: Any, table: str
) -> None:
    retrying = _dynamodb(dynamodb_proxy.url, attempts=3)
    dynamodb_proxy.plan("PutItem", [throttle(), internal_error()])
    _put(retrying, table, "third-time")
    assert [r.fault.kind for r in dynamodb_proxy.records("PutItem")] == [
        "respond",
        "respond",
        "forward",
    ]
    assert _get(direct, table, "third-time") == "v"


async def test_aioboto3_sees_the_faults_too(
    dynamodb_proxy: FaultProxy, direct: Any, table: str
) -> None:
    import aioboto3

    config = botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=READ_TIMEOUT)
    session = aioboto3.Session()
    async with session.client("dynamodb", endpoint_url=dynamodb_proxy.url, config=config) as client:
        dynamodb_proxy.plan("PutItem", [DROP_REPLY, throttle()])
        item = {"pk": {"S": "async"}, "v": {"S": "a"}}
        # aiobotocore reports a reply lost on a reused connection as EndpointConnectionError
        # ("Could not connect"): that error does not prove the request was never sent.
        with pytest.raises(botocore.exceptions.ConnectionError):
            await client.put_item(TableName=table, Item=item)
        assert _get(direct, table, "async") == "a"
        with pytest.raises(ClientError, match="ThrottlingException"):
            await client.put_item(TableName=table, Item=item)
        await client.put_item(TableName=table, Item=item)
    assert [r.fault.kind for r in dynamodb_proxy.records("PutItem")] == [
        "drop_reply",
        "respond",
        "forward",
    ]


def test_an_unreachable_server_resets_the_client(unique_name: Callable[[str], str]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connections are refused
        with FaultProxy(f"127.0.0.1:{port}", "redis") as proxy:
            client = redis.Redis.from_url(proxy.url, socket_timeout=2, retry=None)
            with pytest.raises(redis.ConnectionError):
                client.ping()
            client.close()
            [record] = proxy.records()
            assert (record.name, record.forwarded) == ("HELLO", False)


@pytest.mark.parametrize(
    "garbage",
    [
        b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: many\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000,
    ],
)
def test_unframeable_requests_close_the_connection(
    dynamodb_proxy: FaultProxy, proxied: Any, garbage: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", dynamodb_proxy.port), timeout=5) as raw:
        raw.sendall(garbage)
        raw.shutdown(socket.SHUT_WR)
        assert raw.recv(100) == b""  # closed, without a reply
    assert dynamodb_proxy.records() == []
    proxied.list_tables()  # the proxy itself still serves


def test_respond_builds_any_reply(dynamodb_proxy: FaultProxy, proxied: Any) -> None:
    body = '{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"x"}'
    dynamodb_proxy.plan(None, [respond(400, body)])
    with pytest.raises(ClientError) as missing:
        proxied.list_tables()
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_every_is_seeded_and_reproducible(dynamodb_endpoint: str, table: str) -> None:
    def run(seed: int) -> list[str]:
        with FaultProxy(dynamodb_endpoint, "http") as proxy:
            client = _dynamodb(proxy.url)
            proxy.every("GetItem", throttle(), probability=0.5, seed=seed)
            for _ in range(16):
                with contextlib.suppress(ClientError):
                    _get(client, table, "any")
            return [r.fault.kind for r in proxy.records()]

    first = run(7)
    assert first == run(7)
    assert {"respond", "forward"} <= set(first)
    assert first != run(8)


def test_clear_removes_every_rule(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    dynamodb_proxy.plan("PutItem", [RESET])
    dynamodb_proxy.every(None, RESET, probability=1.0, seed=0)
    dynamodb_proxy.clear()
    _put(proxied, table, "cleared")
    assert _get(direct, table, "cleared") == "v"


def test_callable_match_sees_the_request(
    dynamodb_proxy: FaultProxy, proxied: Any, direct: Any, table: str
) -> None:
    def key_b(request: Request) -> bool:
        return b'"b-key"' in request.raw

    dynamodb_proxy.plan(key_b, [RESET])
    _put(proxied, table, "a-key")
    with pytest.raises(ConnectionClosedError):
        _put(proxied, table, "b-key")
    assert _get(direct, table, "a-key") == "v"
    assert _get(direct, table, "b-key") is None


# --- Redis over RESP -------------------------------------------------------------------


@pytest.fixture
def rdirect(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def rproxied(redis_proxy: FaultProxy) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_proxy.url, socket_timeout=READ_TIMEOUT, retry=None)
    yield client
    client.close()


@pytest.fixture
def key(unique_name: Callable[[str], str]) -> str:
    return unique_name("faultproxy")


def test_redis_faults(
    redis_proxy: FaultProxy, rproxied: redis.Redis, rdirect: redis.Redis, key: str
) -> None:
    redis_proxy.plan(
        "set",
        [DROP_REPLY, RESET, delay(LATE), redis_error("BUSY injected"), redis_error(applied=True)],
    )
    with pytest.raises(redis.ConnectionError):
        rproxied.set(key, "dropped")
    assert rdirect.get(key) == b"dropped"
    with pytest.raises(redis.ConnectionError):
        rproxied.set(key, "reset")
    assert rdirect.get(key) == b"dropped"
    with pytest.raises(redis.TimeoutError):
        rproxied.set(key, "late")
    assert rdirect.get(key) == b"late"
    with pytest.raises(redis.ResponseError, match="BUSY injected"):
        rproxied.set(key, "refused")
    assert rdirect.get(key) == b"late"
    with pytest.raises(redis.ResponseError, match="injected"):
        rproxied.set(key, "applied")
    assert rdirect.get(key) == b"applied"
    assert rproxied.set(key, "fine")
    records = redis_proxy.records("SET")
    assert [(r.fault.kind, r.forwarded, r.applied, r.delivered) for r in records] == [
        ("drop_reply", True, True, False),
        ("reset", False, False, False),
        ("delay", True, True, False),
        ("respond", False, False, True),
        ("respond", True, True, True),
        ("forward", True, True, True),
    ]
    rdirect.delete(key)


def test_redis_match_by_command_name_for_scripts(
    redis_proxy: FaultProxy, rproxied: redis.Redis, rdirect: redis.Redis, key: str
) -> None:
    script = rproxied.register_script("return redis.call('INCR', KEYS[1])")
    assert script(keys=[key]) == 1  # EVALSHA (NOSCRIPT) then SCRIPT LOAD/EVALSHA
    redis_proxy.plan(["EVALSHA", "EVAL"], [DROP_REPLY])
    with pytest.raises(redis.ConnectionError):
        script(keys=[key])
    assert rdirect.get(key) == b"2"
    assert rproxied.get(key) == b"2"
    rdirect.delete(key)


def test_redis_client_retry_resends_a_command_whose_reply_was_dropped(
    redis_proxy: FaultProxy, rdirect: redis.Redis, key: str
) -> None:
    retrying = redis.Redis.from_url(redis_proxy.url, retry=Retry(NoBackoff(), 1))
    redis_proxy.plan("INCRBY", [DROP_REPLY])  # what redis-py's incr() sends
    assert retrying.incr(key) == 2  # the client was told 2: the first INCR was applied too
    assert [r.fault.kind for r in redis_proxy.records("INCRBY")] == ["drop_reply", "forward"]
    retrying.close()
    rdirect.delete(key)


def test_redis_pipeline_is_handled_command_by_command(
    redis_proxy: FaultProxy, rproxied: redis.Redis, rdirect: redis.Redis, key: str
) -> None:
    def second(request: Request) -> bool:
        return request.args[1:2] == (f"{key}:b".encode(),)

    redis_proxy.plan(second, [DROP_REPLY])
    pipe = rproxied.pipeline(transaction=False)
    for suffix in "abc":
        pipe.set(f"{key}:{suffix}", suffix)
    with pytest.raises(redis.ConnectionError):
        pipe.execute()
    # a and b were applied; c, pipelined behind the dropped reply, was never forwarded.
    assert rdirect.mget([f"{key}:{s}" for s in "abc"]) == [b"a", b"b", None]
    assert [r.fault.kind for r in redis_proxy.records("SET")] == ["forward", "drop_reply"]
    rdirect.delete(f"{key}:a", f"{key}:b")


def test_redis_blocking_commands_and_pubsub_pass_through(
    redis_proxy: FaultProxy, rproxied: redis.Redis, rdirect: redis.Redis, key: str
) -> None:
    slow = redis.Redis.from_url(redis_proxy.url, socket_timeout=10, retry=None)
    popped: list[Any] = []
    waiter = threading.Thread(target=lambda: popped.append(slow.blpop([key], 5)))
    waiter.start()
    _wait(lambda: bool(redis_proxy.records("BLPOP")))
    rdirect.rpush(key, "x")
    waiter.join(10)
    assert popped == [(key.encode(), b"x")]

    pubsub = slow.pubsub()
    pubsub.subscribe(key)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    _wait(lambda: rdirect.publish(key, "hello") == 1)
    message = pubsub.get_message(timeout=5)
    assert message is not None
    assert message["data"] == b"hello"
    pubsub.close()
    slow.close()


def test_redis_url_keeps_database_and_credentials() -> None:
    proxy = FaultProxy("redis://:secret@127.0.0.1:6379/3", "redis")
    assert proxy.url == f"redis://:secret@127.0.0.1:{proxy.port}/3"


# --- lifecycle and validation ----------------------------------------------------------


def test_stop_closes_connections_and_joins_threads(redis_url: str) -> None:
    proxy = FaultProxy(redis_url, "redis").start()
    client = redis.Redis.from_url(proxy.url, socket_timeout=2, retry=None)
    assert client.ping()
    proxy.plan("PING", [delay(30)])
    failed: list[BaseException] = []

    def ping() -> None:
        try:
            client.ping()
        except redis.RedisError as exc:
            failed.append(exc)

    pinging = threading.Thread(target=ping)
    pinging.start()
    _wait(lambda: bool(proxy.records("PING")[1:]))
    proxy.stop()
    pinging.join(5)
    assert len(failed) == 1  # the held PING's connection was closed, not left hanging
    assert not [t for t in threading.enumerate() if t.name.startswith("faultproxy")]
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()


@pytest.mark.parametrize(
    "build",
    [
        lambda: delay(-1),
        lambda: delay(float("nan")),
        lambda: respond(99),
        lambda: redis_error("two\r\nlines"),
        lambda: FaultProxy("127.0.0.1", "http"),
        lambda: FaultProxy("127.0.0.1:1", "ftp"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_are_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        build()


def test_a_fault_of_the_other_protocol_is_refused(
    redis_proxy: FaultProxy, dynamodb_proxy: FaultProxy
) -> None:
    with pytest.raises(ValueError, match="does not fit a redis proxy"):
        redis_proxy.plan(None, [throttle()])
    with pytest.raises(ValueError, match="does not fit a http proxy"):
        dynamodb_proxy.plan(None, [redis_error()])
    with pytest.raises(ValueError, match="probability"):
        dynamodb_proxy.every(None, RESET, probability=1.5, seed=0)
    with pytest.raises(ValueError, match="match"):
        dynamodb_proxy.plan([], [RESET])


def _wait(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not met in time")
