from __future__ import annotations

import math
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from cnop.data import (
    DataSettings,
    TableNames,
    async_check_health,
    check_health,
    dynamodb_client,
    table_definitions,
)
from cnop.data.aio import open_async_client
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException


def test_healthy_tables_and_redis(data_settings: DataSettings, redis_url: str) -> None:
    report = check_health(
        dynamodb_client(data_settings), data_settings.tables, redis=redis.Redis.from_url(redis_url)
    )
    assert report.healthy
    assert set(report.checks) == {f"dynamodb:{n}" for n in data_settings.tables.all()} | {"redis"}
    assert {c.status for c in report.checks.values()} == {"ok"}
    assert report.to_dict()["healthy"] is True


def test_missing_table_and_dead_redis_are_reported_not_raised(data_settings: DataSettings) -> None:
    tables = TableNames(
        users="absent-users",
        orders=data_settings.tables.orders,
        inventory=data_settings.tables.inventory,
    )
    dead = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.3)
    report = check_health(dynamodb_client(data_settings), tables, redis=dead)
    assert not report.healthy
    assert not report.checks["dynamodb:absent-users"].ok
    assert report.checks["dynamodb:absent-users"].status == "missing"
    assert "'absent-users' does not exist" in report.checks["dynamodb:absent-users"].detail
    assert report.checks[f"dynamodb:{tables.orders}"].ok
    assert report.checks["redis"].detail.startswith("Redis did not answer")
    # redis-py retries a refused connection for seconds: by the deadline that is a timeout.
    assert report.checks["redis"].status in ("timeout", "unreachable")


def test_a_refused_redis_that_does_not_retry_is_reported_unreachable(
    data_settings: DataSettings,
) -> None:
    dead = redis.Redis(host="127.0.0.1", port=9, retry=Retry(NoBackoff(), 0))
    report = check_health(dynamodb_client(data_settings), data_settings.tables, redis=dead)
    assert report.checks["redis"].status == "unreachable"
    assert report.checks["redis"].detail == "Redis did not answer (ConnectionError)"


async def test_async_health(data_settings: DataSettings, async_client: Any) -> None:
    report = await async_check_health(async_client, data_settings.tables)
    assert report.healthy
    assert len(report.checks) == 3


# A DynamoDB that accepts connections and never answers, and one that refuses them ---------


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a TCP server that accepts connections, never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(connection)  # held open, never read from or written to

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


@pytest.fixture
def refused_endpoint() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens (the port was just released)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


def _settings(endpoint: str) -> DataSettings:
    # The process-wide defaults: 2 s connect, 5 s read, 3 attempts per call.
    return DataSettings.from_env(endpoint_url=endpoint, region="us-east-1")


def _names() -> TableNames:
    prefix = f"h{uuid.uuid4().hex[:8]}-"
    return TableNames.from_env(prefix, {})


@pytest.mark.timeout(10)
def test_a_dynamodb_that_never_answers_is_reported_timeout_by_the_deadline(
    silent_endpoint: str,
) -> None:
    client = dynamodb_client(_settings(silent_endpoint))
    retries = dict(client.meta.config.retries)
    names = _names()
    report = check_health(client, names, deadline=1)
    assert not report.healthy
    for name in names.all():
        check = report.checks[f"dynamodb:{name}"]
        assert check.status == "timeout"
        assert f"'{name}'" in check.detail
    # The process-wide client keeps its own settings.
    assert client.meta.config.read_timeout == 5
    assert client.meta.config.connect_timeout == 2
    assert client.meta.config.retries == retries


@pytest.mark.timeout(10)
def test_a_refused_connection_is_reported_unreachable(refused_endpoint: str) -> None:
    names = _names()
    report = check_health(dynamodb_client(_settings(refused_endpoint)), names)
    assert not report.healthy
    assert {report.checks[f"dynamodb:{n}"].status for n in names.all()} == {"unreachable"}
    assert f"'{names.users}'" in report.checks[f"dynamodb:{names.users}"].detail


@pytest.mark.timeout(10)
def test_a_redis_without_socket_timeouts_cannot_hold_the_check_past_its_deadline(
    data_settings: DataSettings, silent_endpoint: str
) -> None:
    port = int(silent_endpoint.rsplit(":", 1)[1])
    hanging = redis.Redis(host="127.0.0.1", port=port, socket_timeout=None)
    report = check_health(
        dynamodb_client(data_settings), data_settings.tables, redis=hanging, deadline=1
    )
    assert report.checks["redis"].status == "timeout"
    assert all(report.checks[f"dynamodb:{n}"].ok for n in data_settings.tables.all())


@pytest.mark.timeout(10)
async def test_async_a_dynamodb_that_never_answers_is_reported_timeout(
    silent_endpoint: str,
) -> None:
    names = _names()
    async with open_async_client(_settings(silent_endpoint)) as client:
        report = await async_check_health(client, names, deadline=1)
        assert client.meta.config.read_timeout == 5
    assert {report.checks[f"dynamodb:{n}"].status for n in names.all()} == {"timeout"}
    assert f"'{names.orders}'" in report.checks[f"dynamodb:{names.orders}"].detail


@pytest.mark.timeout(10)
async def test_async_a_refused_connection_is_reported_unreachable(refused_endpoint: str) -> None:
    names = _names()
    async with open_async_client(_settings(refused_endpoint)) as client:
        report = await async_check_health(client, names)
    assert {report.checks[f"dynamodb:{n}"].status for n in names.all()} == {"unreachable"}


@pytest.mark.timeout(10)
async def test_async_a_hanging_redis_is_cancelled_at_the_deadline(
    data_settings: DataSettings, async_client: Any, silent_endpoint: str
) -> None:
    port = int(silent_endpoint.rsplit(":", 1)[1])
    hanging = redis.asyncio.Redis(host="127.0.0.1", port=port, socket_timeout=None)
    await async_check_health(async_client, data_settings.tables)  # as at start-up: warm
    try:
        report = await async_check_health(async_client, data_settings.tables, redis=hanging)
    finally:
        await hanging.aclose()
    assert report.checks["redis"].status == "timeout"
    assert report.checks[f"dynamodb:{data_settings.tables.users}"].ok


# Hostile arguments ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "deadline", [math.nan, math.inf, -math.inf, -1, 0, 0.0, 61, 1e300, "2", True, False, None]
)
def test_a_bad_deadline_is_a_validation_error(data_settings: DataSettings, deadline: Any) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        check_health(dynamodb_client(data_settings), data_settings.tables, deadline=deadline)
    assert caught.value.message.startswith("deadline: must be a number of seconds above 0")


@pytest.mark.parametrize("deadline", [math.nan, -1, "2", True])
async def test_async_a_bad_deadline_is_a_validation_error(
    data_settings: DataSettings, async_client: Any, deadline: Any
) -> None:
    with pytest.raises(CNOPValidationException):
        await async_check_health(async_client, data_settings.tables, deadline=deadline)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TableNames(users="users\n"),  # `$` in a pattern lets this through
        lambda: TableNames(users="users", orders="users"),
    ],
)
def test_bad_table_names_are_configuration_errors(
    data_settings: DataSettings, make: Callable[[], TableNames]
) -> None:
    with pytest.raises(CNOPConfigurationException):
        check_health(dynamodb_client(data_settings), make())


@pytest.mark.parametrize("tables", [("users", "orders", "inventory"), None, "users"])
def test_tables_of_another_type_are_a_validation_error(
    data_settings: DataSettings, tables: Any
) -> None:
    with pytest.raises(CNOPValidationException):
        check_health(dynamodb_client(data_settings), tables)


def _health_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "cnop-health" and t.is_alive()}


@pytest.mark.timeout(20)
def test_probe_calls_do_not_retry_so_their_threads_end_soon_after_the_deadline(
    silent_endpoint: str,
) -> None:
    before = _health_threads()
    check_health(dynamodb_client(_settings(silent_endpoint)), _names(), deadline=1)
    started = _health_threads() - before
    # With the process-wide client's 5 s reads and retries these would run for 20 s and more.
    for thread in started:
        thread.join(timeout=8)
    assert not [t for t in started if t.is_alive()]


@pytest.mark.timeout(20)
def test_a_hung_redis_gets_one_waiting_thread_not_one_per_check(
    data_settings: DataSettings, silent_endpoint: str
) -> None:
    port = int(silent_endpoint.rsplit(":", 1)[1])
    hanging = redis.Redis(host="127.0.0.1", port=port, socket_timeout=None)
    client = dynamodb_client(data_settings)
    first = check_health(client, data_settings.tables, redis=hanging, deadline=0.5)
    after_first = _health_threads()
    second = check_health(client, data_settings.tables, redis=hanging, deadline=0.5)
    added = _health_threads() - after_first
    for thread in added:  # the DynamoDB Local calls, done or about to be
        thread.join(timeout=5)
    assert not [t for t in added if t.is_alive()]
    assert first.checks["redis"].status == second.checks["redis"].status == "timeout"


class _StubClient:
    """Answers DescribeTable with a fixed state (DynamoDB Local cannot be made UPDATING)."""

    def __init__(self, table_status: str, index_status: str) -> None:
        self.table_status, self.index_status = table_status, index_status

    def describe_table(self, TableName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        definition = next(d for d in table_definitions(_STUB_NAMES) if d["TableName"] == TableName)
        return {
            "Table": {
                **definition,
                "TableStatus": self.table_status,
                "GlobalSecondaryIndexes": [
                    {**g, "IndexStatus": self.index_status}
                    for g in definition["GlobalSecondaryIndexes"]
                ],
            }
        }


_STUB_NAMES = TableNames("stub-users", "stub-orders", "stub-inventory")


@pytest.mark.parametrize(
    ("table_status", "index_status", "status"),
    [
        ("ACTIVE", "ACTIVE", "ok"),
        ("UPDATING", "ACTIVE", "ok"),  # e.g. a billing-mode change: reads and writes work
        ("CREATING", "CREATING", "not_active"),
        ("ACTIVE", "CREATING", "not_active"),  # queries on a building index fail
        ("DELETING", "ACTIVE", "not_active"),
    ],
)
def test_table_and_index_states(table_status: str, index_status: str, status: str) -> None:
    report = check_health(_StubClient(table_status, index_status), _STUB_NAMES)
    assert {c.status for c in report.checks.values()} == {status}
    assert report.healthy is (status == "ok")
