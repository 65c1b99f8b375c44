"""Idempotency keys: the ClientRequestToken of each attempt and the per-key record.

A key, scoped to its user and table, becomes the ``ClientRequestToken`` of a flow's write,
so DynamoDB applies an identical resent request once; DynamoDB remembers a token for only
10 minutes, per account and region. The
flow also writes a record ``USER#<name>`` / ``IDEMPOTENCY#<key>`` (condition
``attribute_not_exists``) in the same transaction, holding a fingerprint of the request
and its result: a retry at any later time finds the record and gets the stored result
back, and the same key with other parameters is a CNOPIdempotencyConflictException.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from cnop.data.codec import Item, format_timestamp
from cnop.data.layout import key, user_partition
from cnop.data.transactions.results import FlowResult
from cnop.exceptions import (
    CNOPDatabaseOperationException,
    CNOPIdempotencyConflictException,
    CNOPValidationException,
)

__all__ = [
    "attempt_token",
    "check_idempotency_key",
    "fingerprint",
    "idempotency_record",
    "idempotency_record_key",
    "replay",
]

_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,36}$")
IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"


def check_idempotency_key(value: Any) -> str | None:
    """``value`` if it is a usable key (1-36 of letters, digits, ``_.:-``), or None for None."""
    if value is None:
        return None
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise CNOPValidationException.for_field(
            "idempotency_key", "must be 1-36 letters, digits, '_', '.', ':' or '-' (e.g. a UUID)"
        )
    return value


def attempt_token(scope: str, idempotency_key: str | None, attempt: int) -> str:
    """The ClientRequestToken of one write attempt.

    DynamoDB keeps tokens per account and region, not per table or user, while a key is
    the user's own: the token is a digest of ``scope`` (the users table and the username),
    the key and the attempt, so two users (or two deployments' tables) using the same key
    never meet in DynamoDB's token window. A retry after a conflict sends other values (new
    versions), so each attempt has its own token. Without a key every attempt gets a random
    token, so a request botocore resends is still applied once.
    """
    if idempotency_key is None:
        return str(uuid.uuid4())
    digest = hashlib.sha256(f"{scope}\x00{idempotency_key}\x00{attempt}".encode()).hexdigest()
    return digest[:36]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def fingerprint(**request: Any) -> str:
    """A digest of what a request asks for (equal amounts in other notations match)."""
    canonical = json.dumps({k: _plain(v) for k, v in request.items()}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_record_key(username: str, idempotency_key: str) -> Item:
    return key(user_partition(username), IDEMPOTENCY_PREFIX + idempotency_key)


def idempotency_record(
    username: str, idempotency_key: str, request_fingerprint: str, result: FlowResult, now: datetime
) -> Item:
    """The record written with the flow: the request's fingerprint and the flow's result."""
    return {
        **idempotency_record_key(username, idempotency_key),
        "fingerprint": {"S": request_fingerprint},
        "flow": {"S": result.flow.value},
        "result": {"S": result.model_dump_json()},
        "created_at": {"S": format_timestamp(now)},
    }


def replay(item: Item, idempotency_key: str, request_fingerprint: str) -> FlowResult:
    """The stored result for a repeated request, or the conflict error for another one."""
    try:
        stored_fingerprint = item["fingerprint"]["S"]
        stored = FlowResult.model_validate_json(item["result"]["S"])
    except (KeyError, TypeError, ValueError, CNOPValidationException):
        raise CNOPDatabaseOperationException(
            "A stored idempotency record is malformed", details={"entity": "IdempotencyRecord"}
        ) from None
    if stored_fingerprint != request_fingerprint:
        raise CNOPIdempotencyConflictException(
            f"Idempotency key '{idempotency_key}' was already used for a different request "
            f"({stored.flow.value}); use a new key for a new request",
            details={"idempotency_key": idempotency_key, "flow": stored.flow.value},
        )
    return stored.model_copy(update={"replayed": True})
