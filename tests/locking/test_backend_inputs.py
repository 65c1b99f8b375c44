"""Every backend's own operations refuse bad arguments with a typed error naming them.

The manager checks what callers give it; these are the backends' public methods called
directly (an operator's script, a custom manager), and their constructors. One set of
checks serves every backend, sync and async.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import boto3
import pytest
import redis
import redis.asyncio

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException
from cnop.locking import (
    AsyncInMemoryLockBackend,
    AsyncRedisLockBackend,
    Attempt,
    DynamoDBLockBackend,
    InMemoryLockBackend,
    LockManager,
    RedisLockBackend,
    ThreadedAsyncBackend,
    redis_url_from_env,
)
from cnop.locking.redis_core import parse_url

KINDS = ["memory", "async-memory", "redis", "async-redis", "dynamodb", "threaded-dynamodb"]

BAD_NAMES: list[tuple[Any, str]] = [
    (["lock"], "must be a string"),
    (None, "must be a string"),
    (b"lock", "must be a string"),
    ("lock\n", "whitespace"),
    (" lock", "whitespace"),
    ("lock\x00x", "control"),
    ("lock\ud800", "lone surrogate"),
    ("lock\u2028x", "U+2028"),  # a line separator
    ("lock\u202ex", "U+202E"),  # a right-to-left override
    ("lock\u00a0x", "U+00A0"),  # a no-break space
    ("x" * 1_000_000, "at most 256"),
    ("", "must not be empty"),
]

BAD_TTLS: list[tuple[Any, str]] = [
    ("5", "number of seconds"),
    ("5\n", "number of seconds"),
    ([5], "number of seconds"),
    (None, "number of seconds"),
    (True, "number of seconds"),
    (math.nan, "finite"),
    (math.inf, "finite"),
    (0, "between"),
    (-1, "between"),
    (86_401, "between"),
]

BAD_TIMEOUTS: list[tuple[Any, str]] = [
    ("1", "number of seconds"),
    ([1], "number of seconds"),
    (None, "number of seconds"),
    (math.nan, "finite"),
    (math.inf, "finite"),
    (3_601, "at most 3600"),
]


@pytest.fixture(params=KINDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    kind: str = request.param
    made: Any
    if kind in ("memory", "async-memory"):
        table = InMemoryLockBackend()
        made = table if kind == "memory" else AsyncInMemoryLockBackend(table)
    elif kind in ("redis", "async-redis"):
        url = request.getfixturevalue("redis_url")
        cls = RedisLockBackend if kind == "redis" else AsyncRedisLockBackend
        made = cls.from_url(url)
    else:
        endpoint = request.getfixturevalue("dynamodb_endpoint")
        table_name = request.getfixturevalue("dynamodb_lock_table")
        made = DynamoDBLockBackend.connect(table_name, endpoint_url=endpoint)
        if kind == "threaded-dynamodb":
            made = ThreadedAsyncBackend(made)
    yield made
    closing = made.aclose() if hasattr(made, "aclose") else made.close()
    if inspect.isawaitable(closing):
        await closing


async def _call(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def _refused(call: Callable[[], Any], field: str, problem: str) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        await _call(call())
    assert caught.value.errors[0]["field"] == field
    assert problem in str(caught.value)


@pytest.mark.integration
@pytest.mark.parametrize(("value", "problem"), BAD_NAMES, ids=repr)
async def test_every_operation_refuses_a_bad_lock_name(
    backend: Any, value: Any, problem: str
) -> None:
    await _refused(lambda: backend.try_acquire(value, "token-1", 5.0, None), "name", problem)
    await _refused(lambda: backend.release(value, "token-1"), "name", problem)
    await _refused(lambda: backend.extend(value, "token-1", 5.0), "name", problem)
    await _refused(lambda: backend.force_release(value), "name", problem)
    await _refused(lambda: backend.wait_for_release(value, 0.0), "name", problem)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("value", "problem"),
    [*BAD_NAMES[:-2], ("t" * 129, "at most 128"), ("", "must not be empty")],
    ids=repr,
)
async def test_every_operation_refuses_a_bad_owner_token(
    backend: Any, unique_name: Callable[[str], str], value: Any, problem: str
) -> None:
    name = unique_name("token")
    await _refused(lambda: backend.try_acquire(name, value, 5.0, None), "token", problem)
    await _refused(lambda: backend.release(name, value), "token", problem)
    await _refused(lambda: backend.extend(name, value, 5.0), "token", problem)


@pytest.mark.integration
@pytest.mark.parametrize(("value", "problem"), BAD_TTLS, ids=repr)
async def test_acquire_and_extend_refuse_a_bad_ttl(
    backend: Any, unique_name: Callable[[str], str], value: Any, problem: str
) -> None:
    name = unique_name("ttl")
    await _refused(lambda: backend.try_acquire(name, "token-1", value, None), "ttl", problem)
    await _refused(lambda: backend.extend(name, "token-1", value), "ttl", problem)


@pytest.mark.integration
@pytest.mark.parametrize(("value", "problem"), BAD_TIMEOUTS, ids=repr)
async def test_wait_for_release_refuses_a_bad_timeout(
    backend: Any, unique_name: Callable[[str], str], value: Any, problem: str
) -> None:
    await _refused(lambda: backend.wait_for_release(unique_name("wait"), value), "timeout", problem)


@pytest.mark.integration
@pytest.mark.parametrize("value", ["\n", {"acquired": True}, 5, object()], ids=repr)
async def test_try_acquire_refuses_a_previous_that_is_not_an_attempt(
    backend: Any, unique_name: Callable[[str], str], value: Any
) -> None:
    name = unique_name("previous")
    await _refused(lambda: backend.try_acquire(name, "token-1", 5.0, value), "previous", "Attempt")


@pytest.mark.integration
async def test_a_refused_acquire_takes_nothing_and_good_arguments_still_work(
    backend: Any, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("after")
    with pytest.raises(CNOPValidationException):
        await _call(backend.try_acquire(name, "token\ud800", 5.0, None))
    first = await _call(backend.try_acquire(name, "token-1", 5.0, None))
    assert first.acquired
    previous = await _call(backend.try_acquire(name, "token-2", 5.0, None))
    assert not previous.acquired
    again = await _call(backend.try_acquire(name, "token-2", 5.0, previous))
    assert not again.acquired
    assert await _call(backend.release(name, "token-1"))
    # A deadline already passed is "do not block", not an error.
    assert await _call(backend.wait_for_release(name, -1.0)) in (True, False)


@pytest.mark.integration
async def test_names_in_other_scripts_are_distinct_locks(
    backend: Any, unique_name: Callable[[str], str]
) -> None:
    base = unique_name("é")
    latin, cyrillic = f"a{base}", f"\u0430{base}"  # "a" and its Cyrillic look-alike
    assert (await _call(backend.try_acquire(latin, "token-1", 5.0, None))).acquired
    assert (await _call(backend.try_acquire(cyrillic, "token-2", 5.0, None))).acquired
    assert await _call(backend.release(latin, "token-1"))
    assert await _call(backend.release(cyrillic, "token-2"))


# --- constructors -----------------------------------------------------------------------


@pytest.mark.parametrize("client", ["redis://localhost", None, object(), {"host": "h"}], ids=repr)
def test_redis_backends_refuse_what_is_not_a_redis_client(client: Any) -> None:
    for cls in (RedisLockBackend, AsyncRedisLockBackend):
        with pytest.raises(CNOPValidationException) as caught:
            cls(client)
        assert caught.value.errors[0]["field"] == "client"
        assert "redis-py client" in str(caught.value)


def test_redis_backends_refuse_a_client_of_the_other_face() -> None:
    with pytest.raises(CNOPValidationException, match="blocking redis-py client"):
        RedisLockBackend(redis.asyncio.Redis())  # type: ignore[arg-type]
    with pytest.raises(CNOPValidationException, match="asyncio redis-py client"):
        AsyncRedisLockBackend(redis.Redis())  # type: ignore[arg-type]


@pytest.mark.parametrize("client", ["dynamodb", None, object(), {"update_item": 1}], ids=repr)
def test_the_dynamodb_backend_refuses_what_is_not_a_dynamodb_client(client: Any) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        DynamoDBLockBackend("locks", client)
    assert caught.value.errors[0]["field"] == "client"
    assert "boto3 DynamoDB client" in str(caught.value)


def test_the_dynamodb_backend_takes_a_boto3_client() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    assert DynamoDBLockBackend("locks", client).table == "locks"


@pytest.mark.parametrize("table", ["locks\n", "\nlocks", "locks\x00", "lo"], ids=repr)
def test_bad_lock_table_names_are_refused(table: str) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(CNOPValidationException) as caught:
        DynamoDBLockBackend(table, client)
    assert caught.value.errors[0]["field"] == "table"


def test_the_async_memory_face_needs_the_table_it_shares() -> None:
    with pytest.raises(CNOPValidationException, match="InMemoryLockBackend"):
        AsyncInMemoryLockBackend("table")  # type: ignore[arg-type]


class _AsyncOnly:
    kind = "memory"

    def __init__(self) -> None:
        self._face = AsyncInMemoryLockBackend(InMemoryLockBackend())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._face, name)

    async def try_acquire(self, *args: Any) -> Attempt:
        return await self._face.try_acquire(*args)

    def close(self) -> None:
        return None


@pytest.mark.parametrize("backend", ["memory", None, object(), [InMemoryLockBackend()]], ids=repr)
def test_a_threaded_face_and_a_manager_need_a_blocking_backend(backend: Any) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        ThreadedAsyncBackend(backend)
    assert caught.value.errors[0]["field"] == "backend"
    with pytest.raises(CNOPValidationException) as caught:
        LockManager(backend)
    assert caught.value.errors[0]["field"] == "backend"


def test_an_asyncio_backend_is_not_taken_for_a_blocking_one_nor_the_reverse() -> None:
    with pytest.raises(CNOPValidationException, match="got an asyncio one"):
        ThreadedAsyncBackend(_AsyncOnly())  # type: ignore[arg-type]
    table = InMemoryLockBackend()
    with pytest.raises(CNOPValidationException) as caught:
        LockManager(table, table)  # type: ignore[arg-type]
    assert caught.value.errors[0]["field"] == "async_backend"


# --- names checked by a pattern ---------------------------------------------------------


@pytest.mark.parametrize("operation", ["deposit\n", "deposit\n\n", "\ndeposit", "déposit"])
def test_an_operation_name_with_a_trailing_newline_is_refused(operation: str) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        LockManager.in_memory().user_lock("alice_01", operation)
    assert caught.value.errors[0]["field"] == "operation"


def test_a_huge_value_is_not_echoed_back_whole() -> None:
    with pytest.raises(CNOPValidationException) as caught:
        LockManager.in_memory().user_lock("alice_01", "deposit" * 150_000)
    assert len(str(caught.value)) < 500
    with pytest.raises(CNOPConfigurationException) as config:
        redis_url_from_env({"REDIS_HOST": "h" * 1_000_000})
    assert len(str(config.value)) < 500


def test_a_username_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(CNOPValidationException, match="lone surrogate"):
        LockManager.in_memory().user_lock("alice\ud800", "deposit")


# --- configuration from the environment --------------------------------------------------


@pytest.mark.parametrize("environ", ["REDIS_URL=redis://h", ["REDIS_URL"], 5, object()], ids=repr)
def test_environ_must_be_a_mapping(environ: Any) -> None:
    for read in (redis_url_from_env, LockManager.from_env):
        with pytest.raises(CNOPConfigurationException, match="environ must be a mapping"):
            read(environ)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"REDIS_URL": 6379}, "REDIS_URL"),
        ({"REDIS_HOST": None}, "REDIS_HOST"),
        ({"REDIS_HOST": "c", "REDIS_PORT": 6379}, "REDIS_PORT"),
        ({"REDIS_HOST": "c", "REDIS_PORT": "\u0666\u0663\u0667\u0669"}, "REDIS_PORT"),
        ({"REDIS_HOST": "c", "REDIS_PORT": "\uff16\uff13\uff17\uff19"}, "REDIS_PORT"),
        ({"REDIS_HOST": "c", "REDIS_PORT": "6_379"}, "REDIS_PORT"),
        ({"REDIS_HOST": "c", "REDIS_SSL": True}, "REDIS_SSL"),
        ({"REDIS_HOST": "c a"}, "REDIS_HOST"),
        ({"REDIS_HOST": "c/evil"}, "REDIS_HOST"),
        ({"REDIS_HOST": "c\ud800"}, "REDIS_HOST"),
        ({"REDIS_HOST": "c", "REDIS_PASSWORD": b"secret"}, "REDIS_PASSWORD"),
    ],
    ids=repr,
)
def test_bad_redis_variables_are_refused_by_name(env: dict[str, Any], variable: str) -> None:
    with pytest.raises(CNOPConfigurationException) as caught:
        redis_url_from_env(env)
    assert variable in str(caught.value)


def test_a_password_that_cannot_be_encoded_is_refused_without_showing_it() -> None:
    env = {"REDIS_HOST": "c", "REDIS_PASSWORD": "hunter2-\ud800"}
    with pytest.raises(CNOPConfigurationException) as caught:
        redis_url_from_env(env)
    assert "REDIS_PASSWORD" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value.details)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://:hunter2@h\ud800:6379/0", "printable ASCII"),
        ("redis://:hunter2\ud800@h:6379/0", "printable ASCII"),
        ("redis://:hunter2@h:6379/0\n", "printable ASCII"),
        ("redis://:hunter2@h\x00:6379/0", "printable ASCII"),
        ("redis://:hunter2@h o:6379/0", "printable ASCII"),
        ("redis://:hunter2@\uff48:6379/0", "printable ASCII"),
        ("redis://:hunter2@h:6379/\u0661", "printable ASCII"),
        ("redis://:hunter2@[::1:6379/0", "malformed"),
        ("redis://:hunter2@h:6379/zero", "database number"),
    ],
    ids=repr,
)
def test_malformed_redis_urls_are_configuration_errors_without_the_password(
    url: str, problem: str
) -> None:
    with pytest.raises(CNOPConfigurationException) as caught:
        parse_url(url)
    assert problem in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(CNOPConfigurationException):
        LockManager.from_url(url)


def test_ipv6_and_database_urls_still_parse() -> None:
    assert parse_url("redis://[::1]:6379/0").cluster is False
    assert parse_url("redis://h:6379/15").url == "redis://h:6379/15"
    assert parse_url("redis://h:6379").url == "redis://h:6379"


@pytest.mark.integration
@pytest.mark.parametrize("face", ["sync", "async"])
async def test_a_long_wait_for_release_on_redis_ends_as_a_poll_not_a_read_timeout(
    redis_url: str, unique_name: Callable[[str], str], face: str
) -> None:
    # A single BLPOP longer than the client's read timeout would be cut off by it and
    # reported as an unreachable store; the backend blocks at most MAX_SINGLE_WAIT instead
    # and reports "not woken", as any polling backend may.
    name = unique_name("long-wait")
    holder = RedisLockBackend.from_url(redis_url)
    assert holder.try_acquire(name, "holder", 30.0, None).acquired
    waiter: Any = (
        RedisLockBackend.from_url(redis_url)
        if face == "sync"
        else AsyncRedisLockBackend.from_url(redis_url)
    )
    try:
        assert await _call(waiter.wait_for_release(name, 60.0)) is False
    finally:
        holder.release(name, "holder")
        holder.close()
        closing = waiter.close() if face == "sync" else waiter.aclose()
        if inspect.isawaitable(closing):
            await closing
