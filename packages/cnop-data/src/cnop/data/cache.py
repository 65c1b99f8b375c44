"""A Redis read-through cache for assets (``cache`` extra), sync and async.

Reads try Redis first and fall back to DynamoDB on a miss; a write through the cached
DAO replaces the cached copy. Entries carry the asset's version and are only ever
replaced by a newer version (a compare-and-set script), so a slow reader can never
put back an older copy after a write. Every entry expires after ``ttl_seconds``.

When Redis is down or slow, reads go to DynamoDB and the log says so (action
``cache_error``): the cache never fails a read.

>>> import redis
>>> assets = CachedAssetDAO(AssetDAO(), redis.Redis.from_url("redis://localhost:6379/0"))
>>> btc = assets.get_asset("BTC")
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cnop.data.aio import AsyncAssetDAO
from cnop.data.core.assets import check_asset_ids
from cnop.data.core.paging import DEFAULT_PAGE_SIZE, Page
from cnop.data.dao import AssetDAO
from cnop.data.models import Asset, AssetCreate, AssetUpdate
from cnop.data.validation import validate_asset_id
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPEntityValidationException,
    CNOPValidationException,
)
from cnop.logging import BaseLogger, LogAction, LoggerName, metrics

__all__ = ["AsyncCachedAssetDAO", "CachedAssetDAO"]

_LOG = BaseLogger(LoggerName.CACHE)
_LOOKUPS = metrics.counter(
    "cnop.cache.lookups",
    description="Asset cache lookups by outcome",
    labels=("outcome",),
)
# KEYS[1] = entry; ARGV = version, body, ttl. Replaces the entry only with a newer version.
_SET_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'version')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'body', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import RedisError  # noqa: PLC0415 - the optional extra
    except ImportError:
        raise CNOPConfigurationException(
            "The asset cache needs the 'cache' extra: pip install 'cnop-data[cache]'"
        ) from None
    return (RedisError, OSError, TimeoutError)


#: The commands the cached DAOs call on their Redis client.
_REDIS_METHODS = ("register_script", "hget", "pipeline", "delete")
# Printable ASCII without spaces: a prefix ends up in every key, on every Redis node.
_PREFIX = re.compile(r"[!-~]{1,100}")


def _checked_redis(redis: Any, *, asynchronous: bool) -> Any:
    """``redis`` if it looks like the client the DAO needs (sync or ``redis.asyncio``)."""
    wanted = "a redis.asyncio client" if asynchronous else "a redis.Redis (or RedisCluster) client"
    missing = [m for m in _REDIS_METHODS if not callable(getattr(redis, m, None))]
    if missing:
        raise CNOPConfigurationException(
            f"redis: must be {wanted}, not {type(redis).__name__} (it has no {missing[0]}())"
        )
    # The other flavour has the same methods but would never be awaited (or be awaited
    # when it must not): refuse the known mix-up by the client's module.
    if type(redis).__module__.startswith("redis.asyncio") != asynchronous:
        raise CNOPConfigurationException(f"redis: must be {wanted}, not {type(redis).__name__}")
    return redis


def _checked_assets(assets: Any, cls: type[Any]) -> Any:
    if not isinstance(assets, cls):
        raise CNOPConfigurationException(
            f"assets: must be an {cls.__name__}, not {type(assets).__name__}"
        )
    return assets


def _checked_asset(asset: object) -> Asset:
    """``asset`` if it is an Asset whose id is one (a model_construct copy is checked too)."""
    if not isinstance(asset, Asset):
        raise CNOPValidationException.for_field(
            "asset", f"must be an Asset, not {type(asset).__name__}"
        )
    validate_asset_id(asset.asset_id)
    version = asset.version
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CNOPValidationException.for_field("asset", "version must be an integer, 1 or more")
    return asset


class _CacheCore:
    """What both cached DAOs share: keys, encoding, logging."""

    def __init__(self, ttl_seconds: int, prefix: str) -> None:
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
            raise CNOPConfigurationException("ttl_seconds: must be a positive integer")
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise CNOPConfigurationException(
                "prefix: must be 1-100 printable ASCII characters without spaces"
            )
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        self.errors = _redis_errors()

    def key(self, asset_id: str) -> str:
        # A hash tag keeps the script's single key valid on Redis Cluster too.
        return f"{self.prefix}{{{asset_id}}}"

    def set_args(self, asset: Asset) -> list[Any]:
        return [asset.version, asset.model_dump_json(), self.ttl_seconds]

    def decode(self, body: Any) -> Asset | None:
        if not body:
            return None
        try:
            return Asset.model_validate_json(body)
        except CNOPEntityValidationException:
            return None  # an entry we cannot read is a miss; the next write replaces it

    def hit(self, asset_id: str) -> None:
        _LOOKUPS.add(1, outcome="hit")
        _LOG.debug(action=LogAction.CACHE_HIT, message="Asset served from cache", asset=asset_id)

    def miss(self, asset_id: str) -> None:
        _LOOKUPS.add(1, outcome="miss")
        _LOG.debug(action=LogAction.CACHE_MISS, message="Asset not cached", asset=asset_id)

    def failed(self, what: str, exc: BaseException) -> None:
        _LOOKUPS.add(1, outcome="error")
        _LOG.warning(
            action=LogAction.CACHE_ERROR,
            message=f"Redis unavailable ({type(exc).__name__}) during {what}; "
            "reading from DynamoDB instead",
            operation=what,
        )


class CachedAssetDAO:
    """An :class:`AssetDAO` with a Redis read-through cache for ``get_asset(s)``."""

    def __init__(
        self, assets: AssetDAO, redis: Any, *, ttl_seconds: int = 300, prefix: str = "cnop:asset:"
    ) -> None:
        self._core = _CacheCore(ttl_seconds, prefix)
        self.assets: AssetDAO = _checked_assets(assets, AssetDAO)
        self._redis = _checked_redis(redis, asynchronous=False)
        self._set = redis.register_script(_SET_IF_NEWER)

    def remember(self, asset: Asset) -> None:
        """Cache ``asset`` unless a newer version is cached already."""
        asset = _checked_asset(asset)
        try:
            self._set(keys=[self._core.key(asset.asset_id)], args=self._core.set_args(asset))
        except self._core.errors as exc:
            self._core.failed("store", exc)

    def get_asset(self, asset_id: str) -> Asset:
        """The asset from Redis, else from DynamoDB (then cached)."""
        aid = validate_asset_id(asset_id)
        try:
            cached = self._core.decode(self._redis.hget(self._core.key(aid), "body"))
        except self._core.errors as exc:
            self._core.failed("get", exc)
            return self.assets.get_asset(aid)
        if cached is not None:
            self._core.hit(aid)
            return cached
        self._core.miss(aid)
        asset = self.assets.get_asset(aid)
        self.remember(asset)
        return asset

    def get_assets(self, asset_ids: Sequence[str]) -> list[Asset | None]:
        """Many by id in the caller's order: cached ones from Redis, the rest in one batch."""
        ids = check_asset_ids(asset_ids)
        found: dict[str, Asset] = {}
        try:
            pipe = self._redis.pipeline(transaction=False)
            for aid in ids:
                pipe.hget(self._core.key(aid), "body")
            for aid, body in zip(ids, pipe.execute(), strict=True):
                asset = self._core.decode(body)
                if asset is not None:
                    found[aid] = asset
        except self._core.errors as exc:
            self._core.failed("get_many", exc)
        missing = [a for a in dict.fromkeys(ids) if a not in found]
        if missing:
            for asset in self.assets.get_assets(missing):
                if asset is not None:
                    found[asset.asset_id] = asset
                    self.remember(asset)
        return [found.get(a) for a in ids]

    def create_asset(self, asset: AssetCreate) -> Asset:
        created = self.assets.create_asset(asset)
        self.remember(created)
        return created

    def update_asset(self, asset_id: str, changes: AssetUpdate, expected_version: int) -> Asset:
        """Update in DynamoDB, then replace the cached copy with the new version."""
        updated = self.assets.update_asset(asset_id, changes, expected_version)
        self.remember(updated)
        return updated

    def invalidate(self, asset_id: str) -> None:
        """Drop the cached copy (e.g. after a change made without this DAO)."""
        try:
            self._redis.delete(self._core.key(validate_asset_id(asset_id)))
        except self._core.errors as exc:
            self._core.failed("invalidate", exc)

    def list_assets(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        """Not cached: every asset, inactive ones too, read from DynamoDB."""
        return self.assets.list_assets(limit=limit, cursor=cursor)

    def list_active_assets(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        """Not cached: listings read DynamoDB's index directly."""
        return self.assets.list_active_assets(limit=limit, cursor=cursor)

    def list_assets_by_category(
        self, category: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        """Not cached: listings read DynamoDB's index directly."""
        return self.assets.list_assets_by_category(category, limit=limit, cursor=cursor)


class AsyncCachedAssetDAO:
    """An :class:`AsyncAssetDAO` with a ``redis.asyncio`` read-through cache."""

    def __init__(
        self,
        assets: AsyncAssetDAO,
        redis: Any,
        *,
        ttl_seconds: int = 300,
        prefix: str = "cnop:asset:",
    ) -> None:
        self._core = _CacheCore(ttl_seconds, prefix)
        self.assets: AsyncAssetDAO = _checked_assets(assets, AsyncAssetDAO)
        self._redis = _checked_redis(redis, asynchronous=True)
        self._set = redis.register_script(_SET_IF_NEWER)

    async def remember(self, asset: Asset) -> None:
        """Cache ``asset`` unless a newer version is cached already."""
        asset = _checked_asset(asset)
        try:
            await self._set(keys=[self._core.key(asset.asset_id)], args=self._core.set_args(asset))
        except self._core.errors as exc:
            self._core.failed("store", exc)

    async def get_asset(self, asset_id: str) -> Asset:
        aid = validate_asset_id(asset_id)
        try:
            cached = self._core.decode(await self._redis.hget(self._core.key(aid), "body"))
        except self._core.errors as exc:
            self._core.failed("get", exc)
            return await self.assets.get_asset(aid)
        if cached is not None:
            self._core.hit(aid)
            return cached
        self._core.miss(aid)
        asset = await self.assets.get_asset(aid)
        await self.remember(asset)
        return asset

    async def get_assets(self, asset_ids: Sequence[str]) -> list[Asset | None]:
        ids = check_asset_ids(asset_ids)
        found: dict[str, Asset] = {}
        try:
            pipe = self._redis.pipeline(transaction=False)
            for aid in ids:
                pipe.hget(self._core.key(aid), "body")
            for aid, body in zip(ids, await pipe.execute(), strict=True):
                asset = self._core.decode(body)
                if asset is not None:
                    found[aid] = asset
        except self._core.errors as exc:
            self._core.failed("get_many", exc)
        missing = [a for a in dict.fromkeys(ids) if a not in found]
        if missing:
            for asset in await self.assets.get_assets(missing):
                if asset is not None:
                    found[asset.asset_id] = asset
                    await self.remember(asset)
        return [found.get(a) for a in ids]

    async def create_asset(self, asset: AssetCreate) -> Asset:
        created = await self.assets.create_asset(asset)
        await self.remember(created)
        return created

    async def update_asset(
        self, asset_id: str, changes: AssetUpdate, expected_version: int
    ) -> Asset:
        updated = await self.assets.update_asset(asset_id, changes, expected_version)
        await self.remember(updated)
        return updated

    async def invalidate(self, asset_id: str) -> None:
        try:
            await self._redis.delete(self._core.key(validate_asset_id(asset_id)))
        except self._core.errors as exc:
            self._core.failed("invalidate", exc)

    async def list_assets(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        return await self.assets.list_assets(limit=limit, cursor=cursor)

    async def list_active_assets(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        return await self.assets.list_active_assets(limit=limit, cursor=cursor)

    async def list_assets_by_category(
        self, category: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        return await self.assets.list_assets_by_category(category, limit=limit, cursor=cursor)
