"""Listing every asset, inactive ones too: pages cover the table exactly once (sync and async)."""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    Asset,
    AssetCreate,
    AssetDAO,
    AssetUpdate,
    AsyncAssetDAO,
    DataSettings,
    TableNames,
    create_tables,
    delete_tables,
    dynamodb_client,
)
from cnop.data.aio import open_async_client
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException

COUNT = 250


@pytest.fixture(scope="module")
def inventory(data_settings: DataSettings) -> Any:
    """Tables of its own holding exactly COUNT assets, every fifth one inactive."""
    settings = data_settings.with_tables(TableNames.from_env(f"la{uuid.uuid4().hex[:8]}-", {}))
    client = dynamodb_client(settings)
    create_tables(client, settings.tables)
    assets = AssetDAO(settings=settings)
    for i in range(COUNT):
        assets.create_asset(
            AssetCreate(
                asset_id=f"L{i:04d}",
                name=f"Listed {i}",
                category=("major", "minor", "test")[i % 3],
                price_usd=Decimal(i + 1),
                is_active=i % 5 != 0,
            )
        )
    # A deactivation after creation leaves the active index, not this listing.
    assets.update_asset("L0001", AssetUpdate(is_active=False), 1)
    yield settings
    delete_tables(client, settings.tables)


def _all_pages(list_page: Any, limit: int) -> list[list[Asset]]:
    pages, cursor = [], None
    while True:
        page = list_page(limit=limit, cursor=cursor)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def _check_exactly_once(pages: list[list[Asset]]) -> None:
    ids = [a.asset_id for page in pages for a in page]
    assert sorted(ids) == [f"L{i:04d}" for i in range(COUNT)]  # each once, none missing
    inactive = {a.asset_id for page in pages for a in page if not a.is_active}
    assert inactive == {f"L{i:04d}" for i in range(0, COUNT, 5)} | {"L0001"}
    assert [len(p) for p in pages] == [100, 100, 50]


def test_every_asset_exactly_once_in_pages_of_100(inventory: DataSettings) -> None:
    assets = AssetDAO(settings=inventory)
    _check_exactly_once(_all_pages(assets.list_assets, 100))
    # The active listing still leaves the inactive ones out.
    active = [a for page in _all_pages(assets.list_active_assets, 100) for a in page]
    assert len(active) == COUNT - COUNT // 5 - 1


async def test_every_asset_exactly_once_async(inventory: DataSettings) -> None:
    async with open_async_client(inventory) as client:
        assets = AsyncAssetDAO(client, settings=inventory)
        pages, cursor = [], None
        while True:
            page = await assets.list_assets(limit=100, cursor=cursor)
            pages.append(page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    _check_exactly_once(pages)


def test_the_last_page_has_no_cursor_even_when_it_is_full(inventory: DataSettings) -> None:
    pages = _all_pages(AssetDAO(settings=inventory).list_assets, 50)
    assert [len(p) for p in pages] == [50] * 5  # no empty page after the last full one
    pages = _all_pages(AssetDAO(settings=inventory).list_assets, 1)
    assert len(pages) == COUNT


def _tampered(cursor: str) -> list[str]:
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    flipped = bytearray(raw)
    flipped[-3] ^= 0x01  # inside the key: points elsewhere, MAC no longer matches
    mac_flipped = bytearray(raw)
    mac_flipped[4] ^= 0x80  # the MAC (bytes 0-3 name the signing secret)

    def encode(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return [
        encode(bytes(flipped)),
        encode(bytes(mac_flipped)),
        cursor[:-4],
        cursor + "A",
        cursor + "\n",
        " " + cursor,
        "",
        "x" * 5000,
        cursor.replace(cursor[10], "\uff11", 1),
    ]


def test_a_tampered_cursor_is_refused(inventory: DataSettings) -> None:
    assets = AssetDAO(settings=inventory)
    cursor = assets.list_assets(limit=100).next_cursor
    assert cursor is not None
    for bad in [*_tampered(cursor), 12, b"cursor"]:
        with pytest.raises(CNOPValidationException, match="cursor"):
            assets.list_assets(limit=100, cursor=bad)


def test_a_cursor_from_another_listing_or_secret_is_refused(
    inventory: DataSettings, data_settings: DataSettings
) -> None:
    assets = AssetDAO(settings=inventory)
    active_cursor = assets.list_active_assets(limit=10).next_cursor
    assert active_cursor is not None
    with pytest.raises(CNOPValidationException, match="cursor"):
        assets.list_assets(limit=10, cursor=active_cursor)
    own = assets.list_assets(limit=10).next_cursor
    assert own is not None
    with pytest.raises(CNOPValidationException, match="cursor"):
        assets.list_active_assets(limit=10, cursor=own)
    # Another inventory table (another deployment's listing) ...
    with pytest.raises(CNOPValidationException, match="cursor"):
        AssetDAO(settings=data_settings).list_assets(limit=10, cursor=own)
    # ... or another signing secret: the server's configuration, not the client's fault.
    other = DataSettings.from_env(
        region=inventory.region,
        endpoint_url=inventory.endpoint_url,
        tables=inventory.tables,
        cursor_secret=b"another-secret-of-32-bytes-long!",
    )
    with pytest.raises(CNOPConfigurationException, match="CNOP_CURSOR_SECRET"):
        AssetDAO(settings=other).list_assets(limit=10, cursor=own)


@pytest.mark.parametrize("limit", [0, -1, 101, True, "10", 10.0, None])
def test_a_bad_limit_is_refused(inventory: DataSettings, limit: Any) -> None:
    with pytest.raises(CNOPValidationException, match="limit"):
        AssetDAO(settings=inventory).list_assets(limit=limit)


def test_an_empty_inventory_is_one_empty_page(data_settings: DataSettings) -> None:
    settings = data_settings.with_tables(TableNames.from_env(f"le{uuid.uuid4().hex[:8]}-", {}))
    client = dynamodb_client(settings)
    create_tables(client, settings.tables)
    try:
        page = AssetDAO(settings=settings).list_assets()
        assert (page.items, page.next_cursor) == ([], None)
    finally:
        delete_tables(client, settings.tables)


def test_the_cached_daos_list_every_asset_from_dynamodb(
    inventory: DataSettings, redis_url: str
) -> None:
    redis = pytest.importorskip("redis")
    from cnop.data import CachedAssetDAO

    client = redis.Redis.from_url(redis_url)
    try:
        cached = CachedAssetDAO(
            AssetDAO(settings=inventory), client, prefix=f"la{uuid.uuid4().hex[:6]}:"
        )
        _check_exactly_once(_all_pages(cached.list_assets, 100))
    finally:
        client.close()


async def test_the_async_cached_dao_lists_every_asset(
    inventory: DataSettings, redis_url: str
) -> None:
    redis_asyncio = pytest.importorskip("redis.asyncio")
    from cnop.data import AsyncCachedAssetDAO

    client = redis_asyncio.Redis.from_url(redis_url)
    try:
        async with open_async_client(inventory) as dynamodb:
            cached = AsyncCachedAssetDAO(
                AsyncAssetDAO(dynamodb, settings=inventory), client, prefix="la:"
            )
            first = await cached.list_assets(limit=100)
            assert len(first.items) == 100
            assert first.next_cursor is not None
            rest = await cached.list_assets(limit=100, cursor=first.next_cursor)
            assert not {a.asset_id for a in first.items} & {a.asset_id for a in rest.items}
    finally:
        await client.aclose()
