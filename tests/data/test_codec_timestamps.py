"""Stored timestamps are read back only in the one form they are written in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cnop.data.codec import format_timestamp, parse_timestamp
from cnop.data.layout import ASSET_MAPPER
from cnop.data.models import Asset, AssetCreate
from cnop.exceptions import CNOPDatabaseOperationException, CNOPValidationException

WRITTEN = "2026-01-02T03:04:05.000006Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-02T03:04:05.000006",  # naive: later compared with aware times, TypeError
        "2026-01-02T03:04:05.000006+02:00",  # another offset: not what was written
        "2026-01-02T03:04:05.000006+00:00",
        "2026-01-02T03:04:05.000006Z\n",
        " 2026-01-02T03:04:05.000006Z",
        "2026-01-02T03:04:05.00000\u0666Z",
        "2026-01-02",
        "Z",
        "",
        None,
        5,
        b"2026-01-02T03:04:05.000006Z",
    ],
)
def test_parse_timestamp_refuses_any_other_form(text: Any) -> None:
    with pytest.raises(CNOPValidationException, match=r"^timestamp:"):
        parse_timestamp(text)


def test_parse_timestamp_reads_what_format_timestamp_writes() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    assert format_timestamp(moment) == WRITTEN
    parsed = parse_timestamp(WRITTEN)
    assert parsed == moment
    assert parsed.utcoffset() == timedelta(0)


def test_a_stored_naive_timestamp_is_a_malformed_item() -> None:
    asset = Asset.new(AssetCreate(asset_id="TS1", name="Ts", category="c", price_usd="1"))
    item = ASSET_MAPPER.to_item(asset)
    item["created_at"] = {"S": "2026-01-02T03:04:05.000006"}
    with pytest.raises(CNOPDatabaseOperationException, match="'created_at' has the wrong type"):
        ASSET_MAPPER.from_item(item)


@pytest.mark.parametrize("value", [datetime(2026, 1, 2), "2026-01-02", None, 5])
def test_format_timestamp_refuses_what_is_no_aware_datetime(value: Any) -> None:
    with pytest.raises(CNOPValidationException, match=r"^timestamp:"):
        format_timestamp(value)


def test_format_timestamp_converts_another_offset_to_utc() -> None:
    east = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2026, 1, 2, 5, 4, 5, 6, tzinfo=east)) == WRITTEN
