"""BatchGetItem / BatchWriteItem split at DynamoDB's limits, retried with backoff and jitter.

Batch writes are for NEW, IMMUTABLE records only (ledger entries): BatchWriteItem cannot
carry a condition, so anything with a version or an existence rule is written with a
conditional PutItem/UpdateItem instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cnop.data.codec import Item
from cnop.data.core.backoff import DEFAULT_BACKOFF, Backoff
from cnop.data.core.steps import Call, Concurrently, Operation, Pause
from cnop.exceptions import CNOPException, CNOPServiceUnavailableException, CNOPValidationException

__all__ = ["BATCH_GET_LIMIT", "BATCH_WRITE_LIMIT", "Backoff", "batch_get", "batch_put"]

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _key_id(key: Item) -> tuple[str, str]:
    return (key["pk"]["S"], key["sk"]["S"])


def _retryable(error: CNOPException) -> bool:
    return error.retryable


def batch_get(
    table: str,
    keys: Sequence[Item],
    *,
    consistent: bool = False,
    concurrency: int = 4,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Operation[list[Item]]:
    """Every found item for ``keys`` (duplicates removed; order: see the caller's mapping)."""
    unique = list({_key_id(k): k for k in keys}.values())
    pending = _chunks(unique, BATCH_GET_LIMIT)
    found: list[Item] = []
    attempt = 0
    while pending:
        round_chunks, pending = pending[:concurrency], pending[concurrency:]
        calls = tuple(
            Call(
                "batch_get_item",
                {"RequestItems": {table: {"Keys": chunk, "ConsistentRead": consistent}}},
                table,
            )
            for chunk in round_chunks
        )
        replies = yield Concurrently(calls)
        leftover: list[Item] = []
        for chunk, reply in zip(round_chunks, replies, strict=True):
            if isinstance(reply, CNOPException):
                if not _retryable(reply):
                    raise reply
                leftover.extend(chunk)
                continue
            found.extend(reply.get("Responses", {}).get(table, []))
            leftover.extend(reply.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
        if leftover:
            attempt += 1
            if attempt > backoff.max_attempts:
                raise CNOPServiceUnavailableException(
                    f"DynamoDB left {len(leftover)} keys of a batch read on {table!r} "
                    "unprocessed after retries; retry shortly",
                    details={"table": table, "unprocessed": len(leftover)},
                )
            yield Pause(backoff.delay(attempt))
            pending = _chunks(leftover, BATCH_GET_LIMIT) + pending
        else:
            attempt = 0
    return found


def batch_put(
    table: str,
    items: Sequence[Item],
    *,
    concurrency: int = 8,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Operation[int]:
    """Write new immutable ``items`` in 25-item batches; returns how many were written."""
    seen: set[tuple[str, str]] = set()
    for item in items:
        ident = _key_id(item)
        if ident in seen:
            raise CNOPValidationException.for_field(
                "records", "contain the same record twice in one batch"
            )
        seen.add(ident)
    pending = _chunks(list(items), BATCH_WRITE_LIMIT)
    attempt = 0
    while pending:
        round_chunks, pending = pending[:concurrency], pending[concurrency:]
        calls = tuple(
            Call(
                "batch_write_item",
                {"RequestItems": {table: [{"PutRequest": {"Item": item}} for item in chunk]}},
                table,
            )
            for chunk in round_chunks
        )
        replies = yield Concurrently(calls)
        leftover: list[Item] = []
        for chunk, reply in zip(round_chunks, replies, strict=True):
            if isinstance(reply, CNOPException):
                if not _retryable(reply):
                    raise reply
                leftover.extend(chunk)
                continue
            unprocessed = reply.get("UnprocessedItems", {}).get(table, [])
            leftover.extend(request["PutRequest"]["Item"] for request in unprocessed)
        if leftover:
            attempt += 1
            if attempt > backoff.max_attempts:
                raise CNOPServiceUnavailableException(
                    f"DynamoDB left {len(leftover)} records of a batch write on {table!r} "
                    "unwritten after retries; retry the same batch (records are immutable, "
                    "rewriting them is harmless)",
                    details={"table": table, "unprocessed": len(leftover)},
                )
            yield Pause(backoff.delay(attempt))
            pending = _chunks(leftover, BATCH_WRITE_LIMIT) + pending
        else:
            attempt = 0
    return len(items)
