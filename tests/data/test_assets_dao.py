"""AssetDAO / AsyncAssetDAO: GSIs for active and per-category listings, batch reads."""

from __future__ import annotations

import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cnop.data import AssetCreate, AssetUpdate
from cnop.exceptions import (
    CNOPAssetNotFoundException,
    CNOPEntityAlreadyExistsException,
    CNOPValidationException,
    CNOPVersionConflictException,
)

BIG = Decimal("123456789012345678901234567890.12345678")


def _asset(category: str, active: bool = True, price: str = "1.5") -> AssetCreate:
    return AssetCreate(
        asset_id=f"A{uuid.uuid4().hex[:12]}",
        name="Test coin",
        category=category,
        price_usd=price,
        is_active=active,
    )


def test_create_get_update(daos: SimpleNamespace) -> None:
    data = _asset("major", price=str(BIG))
    asset = daos.assets.create_asset(data)
    got = daos.assets.get_asset(data.asset_id.lower())
    assert got == asset
    assert got.price_usd == BIG  # 38 digits survive the round trip exactly
    with pytest.raises(CNOPEntityAlreadyExistsException):
        daos.assets.create_asset(data)
    updated = daos.assets.update_asset(asset.asset_id, AssetUpdate(price_usd="2.25"), 1)
    assert (updated.price_usd, updated.version) == (Decimal("2.25"), 2)
    with pytest.raises(CNOPVersionConflictException):
        daos.assets.update_asset(asset.asset_id, AssetUpdate(price_usd="3"), 1)
    with pytest.raises(CNOPAssetNotFoundException):
        daos.assets.get_asset("NOPE" + uuid.uuid4().hex[:8])
    with pytest.raises(CNOPValidationException, match="asset_id"):
        daos.assets.get_asset("no spaces")


def test_active_listing_uses_the_sparse_index_and_follows_updates(daos: SimpleNamespace) -> None:
    category = f"c{uuid.uuid4().hex[:10]}"
    assets = [daos.assets.create_asset(_asset(category, active=i != 2)) for i in range(5)]
    active_ids = set()
    cursor = None
    while True:
        page = daos.assets.list_active_assets(limit=50, cursor=cursor)
        active_ids |= {a.asset_id for a in page.items}
        assert all(a.is_active for a in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    ours = {a.asset_id for a in assets}
    assert ours & active_ids == {a.asset_id for a in assets if a.is_active}

    by_category = daos.assets.list_assets_by_category(category, limit=2)
    assert len(by_category.items) == 2
    rest = daos.assets.list_assets_by_category(category, limit=10, cursor=by_category.next_cursor)
    assert rest.next_cursor is None
    listed = [a.asset_id for a in by_category.items + rest.items]
    assert listed == sorted(ours)

    off = daos.assets.update_asset(assets[0].asset_id, AssetUpdate(is_active=False), 1)
    assert not off.is_active
    on = daos.assets.update_asset(
        assets[2].asset_id, AssetUpdate(is_active=True, category="moved"), 1
    )
    page = daos.assets.list_assets_by_category("moved", limit=100)
    assert on.asset_id in {a.asset_id for a in page.items}
    everything = []
    cursor = None
    while True:
        page = daos.assets.list_active_assets(limit=100, cursor=cursor)
        everything += [a.asset_id for a in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert assets[0].asset_id not in everything
    assert assets[2].asset_id in everything


def test_many_by_id_keeps_the_callers_order(daos: SimpleNamespace) -> None:
    category = f"b{uuid.uuid4().hex[:10]}"
    assets = [daos.assets.create_asset(_asset(category)) for _ in range(3)]
    wanted = [
        assets[2].asset_id,
        "MISSING" + uuid.uuid4().hex[:6],
        assets[0].asset_id.lower(),
        assets[2].asset_id,
    ]
    got = daos.assets.get_assets(wanted)
    assert [a.asset_id if a else None for a in got] == [
        assets[2].asset_id,
        None,
        assets[0].asset_id,
        assets[2].asset_id,
    ]
    with pytest.raises(CNOPValidationException):
        daos.assets.get_assets("BTC")


@pytest.mark.parametrize("bad", [5, None, b"BTC"])
def test_many_by_id_refuses_what_is_not_a_list_of_ids(daos: SimpleNamespace, bad: object) -> None:
    with pytest.raises(CNOPValidationException, match="asset_ids"):
        daos.assets.get_assets(bad)
