"""Batch reads and writes split at DynamoDB's limits, retried with backoff and jitter.

Reads are BatchGetItem calls of up to 100 keys. Writes are for NEW, IMMUTABLE records
only (ledger entries) and are TransactWriteItems calls of up to 100 ``Put``s, each on
``attribute_not_exists(pk)``, so the database itself refuses a record that already
exists (BatchWriteItem cannot carry a condition and would silently replace it). Each
chunk is all-or-nothing; chunks are separate transactions, so when one is refused the
chunks written before it (and any sent alongside it) stay written. Anything with a
version is written with a conditional UpdateItem instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import partial
from typing import Any

from cnop.data.codec import Item
from cnop.data.core.backoff import DEFAULT_BACKOFF, Backoff
from cnop.data.core.requests import transact_put_new
from cnop.data.core.steps import Call, Concurrently, Operation, Pause
from cnop.data.errors import CancellationReason, reasons_to_exception
from cnop.exceptions import (
    CNOPEntityAlreadyExistsException,
    CNOPException,
    CNOPServiceUnavailableException,
    CNOPValidationException,
)

__all__ = [
    "BATCH_GET_LIMIT",
    "BATCH_WRITE_LIMIT",
    "Backoff",
    "batch_get",
    "batch_put",
    "put_new_chunk",
]

BATCH_GET_LIMIT = 100
#: Items in one TransactWriteItems call.
BATCH_WRITE_LIMIT = 100


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


def _chunk_token(table: str, items: Sequence[Item]) -> str:
    """A ClientRequestToken (36 chars) derived from the chunk's table, keys and contents.

    A chunk resent after a lost reply carries the same token, so DynamoDB (for 10 minutes)
    answers it as done instead of refusing its own records as already existing.
    """
    canonical = json.dumps([table, list(items)], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:36]


def _refused(ids: Sequence[str], what: str, reasons: Sequence[CancellationReason]) -> CNOPException:
    """Already exists naming every refused record, or the generic cancellation mapping."""
    existing = [
        ident
        for ident, reason in zip(ids, reasons, strict=False)
        if reason.code == "ConditionalCheckFailed"
    ]
    error = CNOPEntityAlreadyExistsException(
        f"{what} already exist: {', '.join(repr(i) for i in existing)}; "
        "no record of this batch chunk was written",
        details={"ids": existing},
    )
    by_index = {i: (lambda _old: error) for i in range(len(ids))}
    return reasons_to_exception(reasons, by_index)


def put_new_chunk(table: str, items: Sequence[Item], ids: Sequence[str], what: str) -> Call:
    """One TransactWriteItems writing ``items`` (at most 100) only if none of them exists.

    ``ids`` name the records (in the same order) in the already-exists error.
    """
    return Call(
        "transact_write_items",
        {
            "TransactItems": [transact_put_new(table, item) for item in items],
            "ClientRequestToken": _chunk_token(table, items),
        },
        table,
        on_cancelled=partial(_refused, list(ids), what),
    )


def batch_put(
    table: str,
    items: Sequence[Item],
    ids: Sequence[str],
    *,
    what: str = "Records",
    concurrency: int = 8,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Operation[int]:
    """Write new immutable ``items`` in transactions of up to 100; returns how many.

    ``ids`` name the records, in the same order, in errors. A record whose key already
    exists is CNOPEntityAlreadyExistsException and its chunk writes nothing; chunks are
    formed in the caller's order and sent ``concurrency`` at a time, and no chunk after a
    refused round is sent. Retryable failures (throttling, transaction conflicts) resend
    the same chunk with the same token, with exponential backoff and full jitter.
    """
    if len(ids) != len(items):
        raise CNOPValidationException.for_field("ids", "must name every record once")
    seen: set[tuple[str, str]] = set()
    for item in items:
        ident = _key_id(item)
        if ident in seen:
            raise CNOPValidationException.for_field(
                "records", "contain the same record twice in one batch"
            )
        seen.add(ident)
    pending = [
        put_new_chunk(table, item_chunk, id_chunk, what)
        for item_chunk, id_chunk in zip(
            _chunks(list(items), BATCH_WRITE_LIMIT),
            _chunks(list(ids), BATCH_WRITE_LIMIT),
            strict=True,
        )
    ]
    attempt = 0
    while pending:
        calls, pending = pending[:concurrency], pending[concurrency:]
        replies = yield Concurrently(tuple(calls))
        leftover: list[Call] = []
        for call, reply in zip(calls, replies, strict=True):
            if isinstance(reply, CNOPException):
                if not _retryable(reply):
                    raise reply
                leftover.append(call)
        if leftover:
            attempt += 1
            if attempt > backoff.max_attempts:
                unwritten = sum(len(c.params["TransactItems"]) for c in leftover)
                raise CNOPServiceUnavailableException(
                    f"DynamoDB stayed busy for {unwritten} records of a batch write on "
                    f"{table!r} after retries; retry the same batch shortly (chunks already "
                    "written are answered as done for 10 minutes)",
                    details={"table": table, "unprocessed": unwritten},
                )
            yield Pause(backoff.delay(attempt))
            pending = leftover + pending
        else:
            attempt = 0
    return len(items)
