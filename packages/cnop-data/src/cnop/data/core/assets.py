"""Assets: create, read, update, listings (all, active, per category), many by id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cnop.data.codec import AttributeValue
from cnop.data.config import TableNames
from cnop.data.core.batch import batch_get
from cnop.data.core.common import check_version, get_one, put_one, require_model
from cnop.data.core.cursor import CursorCodec
from cnop.data.core.paging import Page, PartitionQuery, check_limit, query_page
from cnop.data.core.steps import Call, Operation
from cnop.data.core.updates import (
    run_versioned_update,
    version_condition_failed,
    versioned_update,
)
from cnop.data.layout import ACTIVE_ASSETS, ASSET, ASSET_MAPPER, asset_key, category_partition
from cnop.data.models import Asset, AssetCreate, AssetUpdate
from cnop.data.types import utc_now
from cnop.data.validation import check_category, validate_asset_id
from cnop.exceptions import CNOPAssetNotFoundException, CNOPValidationException

__all__ = [
    "check_asset_ids",
    "create_asset",
    "get_asset",
    "get_assets",
    "list_active_assets",
    "list_assets",
    "list_assets_by_category",
    "update_asset",
]


def _not_found(asset_id: str) -> CNOPAssetNotFoundException:
    return CNOPAssetNotFoundException(
        f"Asset '{asset_id}' not found", details={"asset_id": asset_id}
    )


def create_asset(tables: TableNames, data: AssetCreate) -> Operation[Asset]:
    asset = Asset.new(require_model(data, AssetCreate, "asset"))
    return (yield from put_one(tables.inventory, asset, ASSET_MAPPER, f"Asset '{asset.asset_id}'"))


def get_asset(tables: TableNames, asset_id: str) -> Operation[Asset]:
    aid = validate_asset_id(asset_id)
    return (
        yield from get_one(tables.inventory, asset_key(aid), ASSET_MAPPER, lambda: _not_found(aid))
    )


def update_asset(
    tables: TableNames, asset_id: str, changes: AssetUpdate, expected_version: int
) -> Operation[Asset]:
    """Apply ``changes`` if the asset is at ``expected_version`` (keeps the GSIs in step)."""
    aid = validate_asset_id(asset_id)
    version = check_version(expected_version)
    fields = require_model(changes, AssetUpdate, "changes").changes()
    extra_set: dict[str, AttributeValue] = {}
    extra_remove: list[str] = []
    if fields.get("is_active") is True:
        extra_set.update({"gsi1pk": {"S": ACTIVE_ASSETS}, "gsi1sk": {"S": aid}})
    elif fields.get("is_active") is False:
        extra_remove += ["gsi1pk", "gsi1sk"]
    if "category" in fields:
        extra_set["gsi2pk"] = {"S": category_partition(fields["category"])}
    now = utc_now()
    params = versioned_update(
        tables.inventory,
        asset_key(aid),
        ASSET_MAPPER,
        fields,
        expected_version=version,
        now=now,
        extra_set=extra_set,
        extra_remove=extra_remove,
    )
    on_failure = version_condition_failed(lambda: _not_found(aid), f"Asset '{aid}'", version)
    item = yield from run_versioned_update(
        params, on_failure, ASSET_MAPPER, fields, expected_version=version, now=now
    )
    return ASSET_MAPPER.from_item(item)


def list_active_assets(
    tables: TableNames, cursors: CursorCodec, *, limit: int, cursor: str | None
) -> Operation[Page[Asset]]:
    """Active assets by id (a sparse GSI: inactive assets are not even read)."""
    query = PartitionQuery(tables.inventory, ACTIVE_ASSETS, "", "gsi1")
    return (
        yield from query_page(
            query, ASSET_MAPPER, cursors, limit=limit, cursor=cursor, newest_first=False
        )
    )


def list_assets(
    tables: TableNames, cursors: CursorCodec, *, limit: int, cursor: str | None
) -> Operation[Page[Asset]]:
    """Every asset, active or not (an admin view), ``limit`` per page, in no useful order.

    A paginated, strongly consistent Scan of the inventory table. That table holds
    assets only (one item per asset: ``pk`` ``ASSET#<id>``, ``sk`` ``ASSET``), so the
    Scan reads nothing it throws away; no index holds every asset in one partition (gsi1
    holds the active ones, gsi2 one category each). The ``sk`` filter discards nothing
    today and keeps the listing to assets should anything else ever share the table.
    The order is DynamoDB's (by key hash), the same on every call, so following
    ``next_cursor`` to the end returns each asset once. For a few hundred assets that is
    a few reads; it is not meant for a hot path (use the active or category listings).
    """
    check_limit(limit)
    scope = f"{tables.inventory}|scan|{ASSET}"
    params: dict[str, Any] = {
        "TableName": tables.inventory,
        "FilterExpression": "sk = :asset",
        "ExpressionAttributeValues": {":asset": {"S": ASSET}},
        "ConsistentRead": True,
        # One more than asked tells whether another page exists without an empty last page.
        "Limit": limit + 1,
    }
    if cursor is not None:
        params["ExclusiveStartKey"] = cursors.decode(scope, cursor)
    reply = yield Call("scan", params, tables.inventory)
    found = reply.get("Items", [])
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        next_cursor = cursors.encode(scope, {"pk": page[-1]["pk"], "sk": page[-1]["sk"]})
    elif reply.get("LastEvaluatedKey"):
        # DynamoDB stopped early (1 MB per page, or the filter): continue where it stopped.
        next_cursor = cursors.encode(scope, reply["LastEvaluatedKey"])
    return Page([ASSET_MAPPER.from_item(item) for item in page], next_cursor)


def list_assets_by_category(
    tables: TableNames, cursors: CursorCodec, category: str, *, limit: int, cursor: str | None
) -> Operation[Page[Asset]]:
    try:
        cat = check_category(category)
    except ValueError as exc:
        raise CNOPValidationException.for_field("category", str(exc)) from None
    query = PartitionQuery(tables.inventory, category_partition(cat), "", "gsi2")
    return (
        yield from query_page(
            query, ASSET_MAPPER, cursors, limit=limit, cursor=cursor, newest_first=False
        )
    )


def check_asset_ids(asset_ids: object) -> list[str]:
    """``asset_ids`` (a list or tuple of asset ids) validated, or CNOPValidationException."""
    if isinstance(asset_ids, (str, bytes)) or not isinstance(asset_ids, Sequence):
        raise CNOPValidationException.for_field("asset_ids", "must be a list of asset ids")
    return [validate_asset_id(a) for a in asset_ids]


def get_assets(tables: TableNames, asset_ids: Sequence[str]) -> Operation[list[Asset | None]]:
    """The assets for ``asset_ids`` in the caller's order (None where one does not exist)."""
    ids = check_asset_ids(asset_ids)
    items = yield from batch_get(tables.inventory, [asset_key(a) for a in ids])
    by_id: dict[str, Any] = {}
    for item in items:
        asset = ASSET_MAPPER.from_item(item)
        by_id[asset.asset_id] = asset
    return [by_id.get(a) for a in ids]
