"""Versioned UpdateItem parameters: change fields only if the item is at the expected version."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cnop.data.codec import AttributeValue, Item, ItemMapper, format_timestamp
from cnop.data.core.steps import Call, Operation
from cnop.exceptions import CNOPException, CNOPVersionConflictException

__all__ = ["is_own_write", "run_versioned_update", "version_condition_failed", "versioned_update"]


def versioned_update(
    table: str,
    key: Item,
    mapper: ItemMapper[Any],
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    now: datetime,
    extra_set: Mapping[str, AttributeValue] | None = None,
    extra_remove: Sequence[str] = (),
) -> dict[str, Any]:
    """UpdateItem parameters: set (or, for None, remove) ``changes``, bump ``version``.

    The condition is ``attribute_exists(pk) AND version = :expected``; the reply holds
    the new item (``ALL_NEW``) and a failed condition returns the old one (``ALL_OLD``).
    """
    names = {"#version": "version", "#updated_at": "updated_at"}
    values: dict[str, AttributeValue] = {
        ":expected": {"N": str(expected_version)},
        ":one": {"N": "1"},
        ":now": {"S": format_timestamp(now)},
    }
    sets = ["#version = #version + :one", "#updated_at = :now"]
    removes: list[str] = []
    for i, (field, value) in enumerate(changes.items()):
        names[f"#f{i}"] = field
        if value is None:
            removes.append(f"#f{i}")
        else:
            values[f":f{i}"] = mapper.encode_field(field, value)
            sets.append(f"#f{i} = :f{i}")
    for i, (attr, attr_value) in enumerate((extra_set or {}).items()):
        names[f"#x{i}"] = attr
        values[f":x{i}"] = attr_value
        sets.append(f"#x{i} = :x{i}")
    for i, attr in enumerate(extra_remove):
        names[f"#r{i}"] = attr
        removes.append(f"#r{i}")
    expression = "SET " + ", ".join(sets)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return {
        "TableName": table,
        "Key": key,
        "UpdateExpression": expression,
        "ConditionExpression": "attribute_exists(pk) AND #version = :expected",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def version_condition_failed(
    not_found: Callable[[], CNOPException], what: str, expected_version: int
) -> Callable[[Item | None], CNOPException]:
    """The handler for a failed versioned update: not found, or a version conflict."""

    def explain(old: Item | None) -> CNOPException:
        if not old:
            return not_found()
        current = old.get("version", {}).get("N")
        return CNOPVersionConflictException(
            f"{what} was changed by another request (expected version {expected_version}, "
            f"current {current}); reload it and retry",
            details={"expected_version": expected_version, "current_version": current},
        )

    return explain


def is_own_write(
    item: Item,
    mapper: ItemMapper[Any],
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    now: datetime,
) -> bool:
    """Whether ``item`` is what the versioned update of ``changes`` at ``now`` wrote.

    True when it is at the next version, carries this update's own ``updated_at`` (the
    caller's clock, to the microsecond) and every changed field as this update set it.
    """
    if item.get("version") != {"N": str(expected_version + 1)}:
        return False
    if item.get("updated_at") != {"S": format_timestamp(now)}:
        return False
    for field, value in changes.items():
        expected = None if value is None else mapper.encode_field(field, value)
        if item.get(field) != expected:
            return False
    return True


def run_versioned_update(
    params: dict[str, Any],
    on_failure: Callable[[Item | None], CNOPException],
    mapper: ItemMapper[Any],
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    now: datetime,
) -> Operation[Item]:
    """Send a :func:`versioned_update` and return the new item.

    botocore resends a request whose reply was lost (a reset, a read timeout). When the
    first send had been applied, the resend fails its version condition against that
    very write: that is success, not a conflict, and the stored item is returned.
    """
    table = params["TableName"]
    refused: list[Item] = []

    def explain(old: Item | None) -> CNOPException:
        if old:
            refused.append(old)
        return on_failure(old)

    try:
        reply = yield Call("update_item", params, table, on_condition_failed=explain)
    except CNOPVersionConflictException:
        own = refused and is_own_write(
            refused[-1], mapper, changes, expected_version=expected_version, now=now
        )
        if not own:
            raise
        return refused[-1]
    attributes: Item = reply["Attributes"]
    return attributes
