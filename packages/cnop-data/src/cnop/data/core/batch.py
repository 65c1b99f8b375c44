"""Batch reads and writes split at DynamoDB's limits, retried with backoff and jitter.

Reads are BatchGetItem calls of up to 100 keys. Writes are for NEW, IMMUTABLE records
only (ledger entries) and are TransactWriteItems calls of up to 100 ``Put``s, each on
``attribute_not_exists(pk)``, so the database itself refuses a record that already
exists (BatchWriteItem cannot carry a condition and would silently replace it). Each
chunk is all-or-nothing; chunks are separate transactions, sent a few at a time in a
sliding window (a new one starts as soon as one finishes), so when one is refused the
chunks written before it and alongside it stay written, and the error says exactly which
records were written and which were not. Anything with a version is written with a
conditional UpdateItem instead.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from cnop.data.codec import Item
from cnop.data.core.backoff import DEFAULT_BACKOFF, Backoff
from cnop.data.core.requests import transact_put_new
from cnop.data.core.steps import Call, Concurrently, NextDone, Operation, Pause, Start
from cnop.data.errors import CancellationReason, may_have_applied, reasons_to_exception
from cnop.exceptions import (
    CNOPEntityAlreadyExistsException,
    CNOPException,
    CNOPServiceUnavailableException,
    CNOPValidationException,
)

__all__ = [
    "BATCH_GET_LIMIT",
    "BATCH_WRITE_LIMIT",
    "DEFAULT_WRITE_CONCURRENCY",
    "MAX_WRITE_CONCURRENCY",
    "Backoff",
    "batch_get",
    "batch_put",
    "check_write_concurrency",
    "put_new_chunk",
]

BATCH_GET_LIMIT = 100
#: Items in one TransactWriteItems call.
BATCH_WRITE_LIMIT = 100
#: Chunks of a batch write in flight at once unless the caller chooses: enough to keep
#: the requests' round trips overlapped, few enough not to crowd a table's partitions
#: (or the default pool of 8 threads of the sync executor).
DEFAULT_WRITE_CONCURRENCY = 4
#: The most chunks a batch write may keep in flight (beyond it a caller would only wait
#: on the client's connection pool and on throttling).
MAX_WRITE_CONCURRENCY = 32


def check_write_concurrency(value: object) -> int:
    """``value`` if it is a whole number from 1 to ``MAX_WRITE_CONCURRENCY``, else
    CNOPValidationException (a bool, a float or a digit string is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CNOPValidationException.for_field(
            "concurrency", f"must be a whole number (int), not {type(value).__name__}"
        )
    if not 1 <= value <= MAX_WRITE_CONCURRENCY:
        raise CNOPValidationException.for_field(
            "concurrency", f"must be from 1 to {MAX_WRITE_CONCURRENCY}"
        )
    return value


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


@dataclass
class _Chunk:
    """One chunk's request and what became of it."""

    index: int
    call: Call
    ids: list[str]
    failures: int = 0
    #: An attempt failed in a way after which it may still have been applied.
    maybe_applied: bool = False


def _ids_of(chunks: Sequence[_Chunk]) -> list[str]:
    return [i for chunk in sorted(chunks, key=lambda c: c.index) for i in chunk.ids]


def _outcome_error(
    table: str,
    what: str,
    *,
    written: list[_Chunk],
    refused: list[tuple[_Chunk, CNOPException]],
    gave_up: list[_Chunk],
    unsent: list[_Chunk],
) -> CNOPException:
    """The error of a batch that did not write everything, with its exact outcome.

    ``details``: ``written`` (ids of every record now stored by this call), ``not_written``
    (refused with their chunk, or never sent) and ``unresolved`` (still failing when the
    retries ran out, or refused after an attempt whose reply was lost: a re-send of the
    same batch settles them, see ``batch_put``).
    """
    refused.sort(key=lambda pair: pair[0].index)
    # A chunk refused after an attempt that may have applied could be refused for its
    # own records (its token forgotten): that is not known, so it is not "not written".
    unknown = [c for c, _ in refused if c.maybe_applied]
    outcome = {
        "written": _ids_of(written),
        "not_written": _ids_of([c for c, _ in refused if not c.maybe_applied] + unsent),
        "unresolved": _ids_of(gave_up + unknown),
    }
    summary = (
        f"{len(outcome['written'])} record(s) of this batch were written, "
        f"{len(outcome['not_written'])} were not"
    )
    if outcome["unresolved"]:
        summary += f" and {len(outcome['unresolved'])} are unresolved"
    other = [e for _, e in refused if not isinstance(e, CNOPEntityAlreadyExistsException)]
    if other:
        # Not a refusal of records (e.g. a missing table): that error, with the outcome.
        other[0].details.update(outcome)
        return other[0]
    if refused:
        existing = [i for _, e in refused for i in e.details.get("ids", [])]
        return CNOPEntityAlreadyExistsException(
            f"{what} already exist: {', '.join(repr(i) for i in existing)}; {summary} "
            "(a chunk holding an existing record writes none of its records)",
            details={"ids": existing, **outcome},
        )
    return CNOPServiceUnavailableException(
        f"DynamoDB stayed busy for {len(outcome['unresolved'])} records of a batch write on "
        f"{table!r} after retries ({summary}); retry the same batch shortly (chunks already "
        "written are answered as done for 10 minutes)",
        details={"table": table, "unprocessed": len(outcome["unresolved"]), **outcome},
    )


def batch_put(
    table: str,
    items: Sequence[Item],
    ids: Sequence[str],
    *,
    what: str = "Records",
    concurrency: int = DEFAULT_WRITE_CONCURRENCY,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Operation[int]:
    """Write new immutable ``items`` in transactions of up to 100; returns how many.

    ``ids`` name the records, in the same order, in errors. Chunks are formed in the
    caller's order and kept ``concurrency`` (1 to ``MAX_WRITE_CONCURRENCY``) in flight: a
    new chunk starts as soon as one finishes. A record whose key already exists refuses
    its whole chunk; once a refusal is back no further chunk is started, the chunks in
    flight are seen through, and CNOPEntityAlreadyExistsException is raised with
    ``details["ids"]`` (the existing records), ``details["written"]`` and
    ``details["not_written"]`` (every other record of the batch, exactly).
    Retryable failures (throttling, transaction conflicts, a lost reply) resend the same
    chunk with the same ClientRequestToken after exponential backoff with full jitter,
    without holding up the other chunks; DynamoDB answers a resend of a chunk it already
    applied as done, so such a chunk counts as written, not as already existing. A chunk
    still failing after ``backoff.max_attempts`` retries ends the batch with a retryable
    CNOPServiceUnavailableException whose ``details["unresolved"]`` names its records.
    """
    concurrency = check_write_concurrency(concurrency)
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
    queue = deque(
        _Chunk(index, put_new_chunk(table, item_chunk, id_chunk, what), list(id_chunk))
        for index, (item_chunk, id_chunk) in enumerate(
            zip(
                _chunks(list(items), BATCH_WRITE_LIMIT),
                _chunks(list(ids), BATCH_WRITE_LIMIT),
                strict=True,
            )
        )
    )
    in_flight: dict[int, _Chunk] = {}
    written: list[_Chunk] = []
    refused: list[tuple[_Chunk, CNOPException]] = []
    gave_up: list[_Chunk] = []
    while in_flight or (queue and not (refused or gave_up)):
        while queue and not (refused or gave_up) and len(in_flight) < concurrency:
            chunk = queue.popleft()
            in_flight[(yield Start(chunk.call))] = chunk
        ticket, reply = yield NextDone()
        chunk = in_flight.pop(ticket)
        if not isinstance(reply, CNOPException):
            written.append(chunk)
        elif not _retryable(reply):
            refused.append((chunk, reply))
        elif chunk.failures >= backoff.max_attempts:
            gave_up.append(chunk)
        else:
            chunk.failures += 1
            chunk.maybe_applied |= may_have_applied(reply)
            # The resend takes its place in the window again; the others keep going.
            resend = Start(chunk.call, delay=backoff.delay(chunk.failures))
            in_flight[(yield resend)] = chunk
    if refused or gave_up:
        raise _outcome_error(
            table, what, written=written, refused=refused, gave_up=gave_up, unsent=list(queue)
        )
    return len(items)
