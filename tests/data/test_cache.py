"""The Redis read-through asset cache against real redis-server and DynamoDB Local."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
import redis.asyncio

from cnop.data import (
    AssetCreate,
    AssetDAO,
    AssetUpdate,
    AsyncAssetDAO,
    AsyncCachedAssetDAO,
    CachedAssetDAO,
    DataSettings,
)
from cnop.exceptions import CNOPAssetNotFoundException, CNOPConfigurationException
from cnop.logging import configure_logging, reset_logging


def _new_asset() -> AssetCreate:
    return AssetCreate(
        asset_id=f"C{uuid.uuid4().hex[:10]}", name="Cached coin", category="major", price_usd="10"
    )


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    buffer = io.StringIO()
    configure_logging(service="cache-test", level="DEBUG", sink=buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        reset_logging()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, socket_timeout=1)
    yield client
    client.close()


def test_read_through_hit_and_write_replaces(
    data_settings: DataSettings, redis_client: redis.Redis, log_lines: Callable[[], list[Any]]
) -> None:
    plain = AssetDAO(settings=data_settings)
    cached = CachedAssetDAO(plain, redis_client, ttl_seconds=60, prefix=f"t{uuid.uuid4().hex[:6]}:")
    asset = plain.create_asset(_new_asset())
    assert cached.get_asset(asset.asset_id) == asset  # miss: from DynamoDB, then cached
    # Changed behind the cache's back: the cache still serves its copy (a hit)...
    plain.update_asset(asset.asset_id, AssetUpdate(price_usd="11"), 1)
    assert cached.get_asset(asset.asset_id).price_usd == Decimal(10)
    actions = [r["action"] for r in log_lines() if r["logger"] == "cache"]
    assert actions == ["cache_miss", "cache_hit"]
    # ...until it is invalidated, or written through the cached DAO.
    cached.invalidate(asset.asset_id)
    assert cached.get_asset(asset.asset_id).price_usd == Decimal(11)
    updated = cached.update_asset(asset.asset_id, AssetUpdate(price_usd="12"), 2)
    assert cached.get_asset(asset.asset_id) == updated
    ttl = redis_client.ttl(cached._core.key(asset.asset_id))
    assert 0 < ttl <= 60
    with pytest.raises(CNOPAssetNotFoundException):
        cached.get_asset("NOPE" + uuid.uuid4().hex[:6])


def test_an_older_copy_never_replaces_a_newer_one(
    data_settings: DataSettings, redis_client: redis.Redis
) -> None:
    plain = AssetDAO(settings=data_settings)
    cached = CachedAssetDAO(plain, redis_client, prefix=f"t{uuid.uuid4().hex[:6]}:")
    old = plain.create_asset(_new_asset())
    new = cached.update_asset(old.asset_id, AssetUpdate(price_usd="99"), 1)
    cached.remember(old)  # a slow reader finishing late
    assert cached.get_asset(old.asset_id) == new


def test_many_by_id_mixes_cache_and_batch(
    data_settings: DataSettings, redis_client: redis.Redis
) -> None:
    plain = AssetDAO(settings=data_settings)
    cached = CachedAssetDAO(plain, redis_client, prefix=f"t{uuid.uuid4().hex[:6]}:")
    a, b = plain.create_asset(_new_asset()), plain.create_asset(_new_asset())
    cached.get_asset(a.asset_id)
    got = cached.get_assets([b.asset_id, "GONE1", a.asset_id])
    assert got == [b, None, a]
    assert cached.get_assets([b.asset_id]) == [b]
    listed = cached.list_assets_by_category("major", limit=100)
    assert all(x.category == "major" for x in listed.items)
    assert cached.list_active_assets(limit=1).items


def test_redis_down_falls_back_to_dynamodb_and_logs_it(
    data_settings: DataSettings,
    private_servers: Callable[..., Any],
    log_lines: Callable[[], list[Any]],
) -> None:
    server = private_servers("redis")
    client = redis.Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    plain = AssetDAO(settings=data_settings)
    cached = CachedAssetDAO(plain, client)
    asset = plain.create_asset(_new_asset())
    assert cached.get_asset(asset.asset_id) == asset
    server.stop()
    assert cached.get_asset(asset.asset_id) == asset
    assert cached.get_assets([asset.asset_id]) == [asset]
    updated = cached.update_asset(asset.asset_id, AssetUpdate(price_usd="1"), 1)
    assert updated.version == 2
    warnings = [r for r in log_lines() if r["action"] == "cache_error"]
    assert len(warnings) >= 3
    assert all("reading from DynamoDB instead" in w["message"] for w in warnings)
    assert all(w["level"] == "WARNING" for w in warnings)


async def test_async_cache(data_settings: DataSettings, async_client: Any, redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        plain = AsyncAssetDAO(async_client, settings=data_settings)
        cached = AsyncCachedAssetDAO(plain, client, prefix=f"t{uuid.uuid4().hex[:6]}:")
        asset = await cached.create_asset(_new_asset())
        await plain.update_asset(asset.asset_id, AssetUpdate(price_usd="2"), 1)
        assert (await cached.get_asset(asset.asset_id)).version == 1  # served from the cache
        await cached.invalidate(asset.asset_id)
        assert (await cached.get_asset(asset.asset_id)).version == 2
        assert await cached.get_assets([asset.asset_id, "GONE2"]) == [
            await plain.get_asset(asset.asset_id),
            None,
        ]
    finally:
        await client.aclose()


def test_bad_ttl_is_refused(data_settings: DataSettings, redis_client: redis.Redis) -> None:
    with pytest.raises(CNOPConfigurationException, match="ttl_seconds"):
        CachedAssetDAO(AssetDAO(settings=data_settings), redis_client, ttl_seconds=0)


@pytest.mark.parametrize("bad", ["BTC", 5, None])
def test_many_by_id_through_the_cache_refuses_what_is_not_a_list_of_ids(
    data_settings: DataSettings, redis_client: redis.Redis, bad: object
) -> None:
    from cnop.exceptions import CNOPValidationException

    cached = CachedAssetDAO(AssetDAO(settings=data_settings), redis_client, prefix="t-bad:")
    with pytest.raises(CNOPValidationException, match="asset_ids"):
        cached.get_assets(bad)  # type: ignore[arg-type]
