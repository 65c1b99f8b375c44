"""Arguments of the wrong type or shape for the state machine, backoff, cache, health checks
and table functions: each is refused with a typed CNOP error that names it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from cnop.data import (
    AssetCreate,
    AssetDAO,
    AsyncAssetDAO,
    AsyncCachedAssetDAO,
    Backoff,
    CachedAssetDAO,
    DataSettings,
    OrderStatus,
    async_check_health,
    can_transition,
    check_health,
    check_transition,
    dynamodb_client,
    schema_problems,
    table_definitions,
)
from cnop.data.enums import allowed_previous_statuses
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPInvalidStateTransitionException,
    CNOPValidationException,
)

WRONG: list[Any] = [
    "pending\n",
    " pending",
    "PENDING",
    "",
    "p\x00",
    "\ud800",
    "x" * 1_000_000,
    None,
    5,
    math.nan,
    b"pending",
    ["pending"],
    {"pending": 1},
    object(),
]


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, socket_timeout=1)
    yield client
    client.close()


# the order state machine ------------------------------------------------------------------


@pytest.mark.parametrize("value", WRONG)
def test_transitions_refuse_what_is_no_order_status(value: Any) -> None:
    for call, args, named in [
        (can_transition, (value, "confirmed"), "current"),
        (can_transition, ("pending", value), "new"),
        (check_transition, (value, "confirmed"), "current"),
        (check_transition, ("pending", value), "new"),
        (allowed_previous_statuses, (value,), "new"),
    ]:
        with pytest.raises(CNOPValidationException, match=rf"^{named}: must be an order status"):
            call(*args)


def test_a_refused_status_is_not_echoed_whole() -> None:
    with pytest.raises(CNOPValidationException) as caught:
        can_transition("x" * 1_000_000, OrderStatus.CONFIRMED)  # type: ignore[arg-type]
    assert len(caught.value.message) < 300


def test_statuses_as_members_or_their_values_still_work() -> None:
    assert can_transition(OrderStatus.PENDING, OrderStatus.CONFIRMED)
    assert can_transition("pending", "confirmed")  # type: ignore[arg-type]
    assert not can_transition("completed", "pending")  # type: ignore[arg-type]
    with pytest.raises(CNOPInvalidStateTransitionException, match=r"from completed to pending"):
        check_transition("completed", "pending")  # type: ignore[arg-type]
    assert OrderStatus.PENDING in allowed_previous_statuses("confirmed")  # type: ignore[arg-type]


# backoff ----------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", ["1", "\u0661", None, 1.0, math.nan, math.inf, True, -1, [1]])
def test_backoff_delay_refuses_what_is_no_attempt_number(attempt: Any) -> None:
    with pytest.raises(CNOPValidationException, match=r"^attempt: must be an integer"):
        Backoff().delay(attempt)


def test_backoff_delay_of_a_huge_attempt_is_the_cap() -> None:
    backoff = Backoff(base=0.1, cap=2.0, jitter=lambda: 1.0)
    assert backoff.delay(10**9) == 2.0
    assert backoff.delay(0) == 0.1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base", "0.1"),
        ("base", -1),
        ("base", math.nan),
        ("cap", math.inf),
        ("cap", None),
        ("max_attempts", 0),
        ("max_attempts", 2.5),
        ("max_attempts", True),
        ("jitter", 0.5),
    ],
)
def test_backoff_refuses_bad_settings(field: str, value: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match=rf"Backoff.{field}"):
        Backoff(**{field: value})


def test_backoff_refuses_a_base_above_its_cap() -> None:
    with pytest.raises(CNOPConfigurationException, match=r"base <= cap"):
        Backoff(base=3.0, cap=2.0)


# the asset cache --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["redis://localhost", None, 5, b"x", [1], {"a": 1}, object()])
def test_cached_daos_refuse_what_is_no_redis_client(data_settings: DataSettings, bad: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match=r"^redis: must be a redis.Redis"):
        CachedAssetDAO(AssetDAO(settings=data_settings), bad)
    with pytest.raises(CNOPConfigurationException, match=r"^redis: must be a redis.asyncio"):
        AsyncCachedAssetDAO(AsyncAssetDAO(object(), settings=data_settings), bad)


async def test_cached_daos_refuse_a_client_of_the_other_flavour(
    data_settings: DataSettings, redis_client: redis.Redis, redis_url: str
) -> None:
    async_redis = redis.asyncio.Redis.from_url(redis_url)
    try:
        with pytest.raises(CNOPConfigurationException, match=r"not Redis"):
            CachedAssetDAO(AssetDAO(settings=data_settings), async_redis)
        with pytest.raises(CNOPConfigurationException, match=r"redis.asyncio"):
            AsyncCachedAssetDAO(AsyncAssetDAO(object(), settings=data_settings), redis_client)
    finally:
        await async_redis.aclose()


def test_cached_daos_refuse_an_asset_dao_of_the_other_flavour(
    data_settings: DataSettings, redis_client: redis.Redis
) -> None:
    with pytest.raises(CNOPConfigurationException, match=r"^assets: must be an AssetDAO"):
        CachedAssetDAO(AsyncAssetDAO(object(), settings=data_settings), redis_client)  # type: ignore[arg-type]
    with pytest.raises(CNOPConfigurationException, match=r"^assets: must be an AsyncAssetDAO"):
        AsyncCachedAssetDAO(AssetDAO(settings=data_settings), redis_client)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "a b:", "a\n", "\u0430:", "x" * 101, None, 5, b"p:"])
def test_cached_daos_refuse_a_bad_key_prefix(
    data_settings: DataSettings, redis_client: redis.Redis, prefix: Any
) -> None:
    with pytest.raises(CNOPConfigurationException, match=r"^prefix: must be 1-100 printable"):
        CachedAssetDAO(AssetDAO(settings=data_settings), redis_client, prefix=prefix)


@pytest.mark.parametrize("bad", ["BTC", None, 5, {"asset_id": "BTC"}, object()])
def test_remember_refuses_what_is_no_asset(
    data_settings: DataSettings, redis_client: redis.Redis, bad: Any
) -> None:
    cached = CachedAssetDAO(AssetDAO(settings=data_settings), redis_client, prefix="t-bad:")
    with pytest.raises(CNOPValidationException, match=r"^asset: must be an Asset"):
        cached.remember(bad)


def test_remember_refuses_a_forged_asset_and_writes_no_key(
    data_settings: DataSettings, redis_client: redis.Redis
) -> None:
    from cnop.data import Asset

    prefix = f"t{uuid.uuid4().hex[:6]}:"
    cached = CachedAssetDAO(AssetDAO(settings=data_settings), redis_client, prefix=prefix)
    real = Asset.new(AssetCreate(asset_id="FORGE1", name="Forged", category="sweep", price_usd="1"))
    for fields in ({"asset_id": "BTC\n"}, {"asset_id": "B\ud800"}, {"version": "1"}):
        forged = Asset.model_construct(**{**real.model_dump(), **fields})
        with pytest.raises(CNOPValidationException):
            cached.remember(forged)
    assert list(redis_client.scan_iter(match=rf"{prefix}*")) == []


async def test_async_remember_refuses_what_is_no_asset(
    data_settings: DataSettings, redis_url: str
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        cached = AsyncCachedAssetDAO(AsyncAssetDAO(object(), settings=data_settings), client)
        with pytest.raises(CNOPValidationException, match=r"^asset: must be an Asset"):
            await cached.remember("BTC")  # type: ignore[arg-type]
    finally:
        await client.aclose()


# health checks ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["http://localhost:8000", None, 5, b"x", [1], {"a": 1}, object()])
async def test_health_checks_refuse_what_is_no_dynamodb_client(
    data_settings: DataSettings, bad: Any
) -> None:
    with pytest.raises(CNOPValidationException, match=r"^client: must be a boto3 DynamoDB"):
        check_health(bad, data_settings.tables)
    with pytest.raises(CNOPValidationException, match=r"^client: must be an async \(aiobotocore"):
        await async_check_health(bad, data_settings.tables)


@pytest.mark.parametrize("bad", ["redis://localhost", 5, b"x", [1], {"a": 1}, object()])
async def test_health_checks_refuse_what_is_no_redis_client(
    data_settings: DataSettings, async_client: Any, bad: Any
) -> None:
    with pytest.raises(CNOPValidationException, match=r"^redis: must be a redis.Redis"):
        check_health(dynamodb_client(data_settings), data_settings.tables, redis=bad)
    with pytest.raises(CNOPValidationException, match=r"^redis: must be a redis.asyncio"):
        await async_check_health(async_client, data_settings.tables, redis=bad)


async def test_health_checks_refuse_clients_of_the_other_flavour(
    data_settings: DataSettings, async_client: Any, redis_url: str
) -> None:
    sync_client = dynamodb_client(data_settings)
    sync_redis = redis.Redis.from_url(redis_url)
    async_redis = redis.asyncio.Redis.from_url(redis_url)
    try:
        # A sync check would report a PING it never awaited as fine.
        with pytest.raises(CNOPValidationException, match=r"^redis:"):
            check_health(sync_client, data_settings.tables, redis=async_redis)
        with pytest.raises(CNOPValidationException, match=r"^client:"):
            check_health(async_client, data_settings.tables)
        with pytest.raises(CNOPValidationException, match=r"^redis:"):
            await async_check_health(async_client, data_settings.tables, redis=sync_redis)
        with pytest.raises(CNOPValidationException, match=r"^client:"):
            await async_check_health(sync_client, data_settings.tables)
        report = await async_check_health(async_client, data_settings.tables, redis=async_redis)
        assert report.checks["redis"].ok
    finally:
        sync_redis.close()
        await async_redis.aclose()


# table functions ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["users", None, 5, {"users": "u"}, object()])
def test_table_definitions_refuse_what_is_no_table_names(bad: Any) -> None:
    with pytest.raises(CNOPValidationException, match=r"^tables: must be a TableNames"):
        table_definitions(bad)


@pytest.mark.parametrize("bad", ["x", None, 5, [], {}, {"KeySchema": "x"}, object()])
def test_schema_problems_refuses_a_definition_it_did_not_make(
    data_settings: DataSettings, bad: Any
) -> None:
    with pytest.raises(CNOPValidationException, match=r"^definition:"):
        schema_problems(bad, {})


@pytest.mark.parametrize("bad", ["x", None, 5, [], object()])
def test_schema_problems_refuses_a_table_that_is_no_mapping(
    data_settings: DataSettings, bad: Any
) -> None:
    definition = table_definitions(data_settings.tables)[0]
    with pytest.raises(CNOPValidationException, match=r"^table: must be a DescribeTable"):
        schema_problems(definition, bad)


@pytest.mark.parametrize(
    "table",
    [
        {},
        {"KeySchema": "pk"},
        {"KeySchema": [None, 5, "x"]},
        {"AttributeDefinitions": [{"AttributeName": ["pk"], "AttributeType": "S"}]},
        {"GlobalSecondaryIndexes": [{"IndexName": ["gsi1"]}, None, {"IndexName": "gsi1"}]},
        {"GlobalSecondaryIndexes": [{"IndexName": "gsi1", "Projection": "ALL"}]},
    ],
)
def test_schema_problems_reports_a_malformed_description_as_differences(
    data_settings: DataSettings, table: dict[str, Any]
) -> None:
    definition = table_definitions(data_settings.tables)[0]
    problems = schema_problems(definition, table)
    assert problems
    assert all(isinstance(p, str) for p in problems)


def test_schema_problems_of_a_fitting_description_are_none(data_settings: DataSettings) -> None:
    definition = table_definitions(data_settings.tables)[1]
    assert schema_problems(definition, definition) == []
