"""Newest-first, cursor-paginated queries of one partition (base table or GSI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cnop.data.codec import ItemMapper
from cnop.data.core.cursor import CursorCodec
from cnop.data.core.steps import Call, Operation
from cnop.data.models import CNOPModel
from cnop.exceptions import CNOPValidationException

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Page", "PartitionQuery", "query_page"]

T = TypeVar("T")
M = TypeVar("M", bound=CNOPModel)

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_INDEX_KEYS = {None: ("pk", "sk"), "gsi1": ("gsi1pk", "gsi1sk"), "gsi2": ("gsi2pk", "gsi2sk")}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_cursor`` back to get the next (None: no more)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class PartitionQuery:
    """Items of one partition whose sort key starts with ``prefix``."""

    table: str
    partition: str
    prefix: str
    index: str | None = None  # None, "gsi1" or "gsi2"

    @property
    def scope(self) -> str:
        return f"{self.table}|{self.index or ''}|{self.partition}|{self.prefix}"


def check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise CNOPValidationException.for_field(
            "limit", f"must be an integer from 1 to {MAX_PAGE_SIZE}"
        )
    return limit


def query_page(
    query: PartitionQuery,
    mapper: ItemMapper[M],
    codec: CursorCodec,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    newest_first: bool = True,
) -> Operation[Page[M]]:
    """One page, newest first; ``next_cursor`` is None exactly when nothing follows."""
    check_limit(limit)
    part_attr, sort_attr = _INDEX_KEYS[query.index]
    names = {"#p": part_attr}
    values: dict[str, Any] = {":p": {"S": query.partition}}
    condition = "#p = :p"
    if query.prefix:
        names["#s"] = sort_attr
        values[":s"] = {"S": query.prefix}
        condition += " AND begins_with(#s, :s)"
    params: dict[str, Any] = {
        "TableName": query.table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": not newest_first,
        # One more than asked tells whether another page exists without an empty last page.
        "Limit": limit + 1,
    }
    if query.index:
        params["IndexName"] = query.index
    else:
        # A ledger listed right after a write shows it (GSIs cannot be read consistently).
        params["ConsistentRead"] = True
    if cursor is not None:
        params["ExclusiveStartKey"] = codec.decode(query.scope, cursor)
    reply = yield Call("query", params, query.table)
    found = reply.get("Items", [])
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        key_names = {"pk", "sk", part_attr, sort_attr}
        next_cursor = codec.encode(query.scope, {n: page[-1][n] for n in key_names})
    elif reply.get("LastEvaluatedKey"):
        # DynamoDB stopped early (1 MB per page): continue from where it stopped.
        next_cursor = codec.encode(query.scope, reply["LastEvaluatedKey"])
    return Page([mapper.from_item(item) for item in page], next_cursor)
