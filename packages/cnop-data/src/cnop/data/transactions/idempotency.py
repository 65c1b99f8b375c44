"""Idempotency keys: the per-key record and the ClientRequestToken of each attempt.

Every flow runs under a key: the caller's, or an internal one for a call without. The
flow writes a record ``USER#<name>`` / ``IDEMPOTENCY#<key>`` (condition
``attribute_not_exists``) in the same transaction, holding a fingerprint of the request
and its result. At most one transaction can create it, so a key is applied at most once
whatever was re-sent; a retry at any later time finds the record and gets the stored
result back, and the same key with other parameters is a CNOPIdempotencyConflictException.
Each write attempt also carries its own random ``ClientRequestToken``, so re-sending that
attempt while its outcome is unknown is answered with its outcome rather than refused.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict

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
    "canonical",
    "check_idempotency_key",
    "expired",
    "fingerprint",
    "idempotency_record",
    "idempotency_record_key",
    "internal_key",
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


def attempt_token() -> str:
    """A fresh ``ClientRequestToken`` for one write attempt.

    The token makes a re-send of that very attempt (by botocore after a lost reply, or by
    the runner while the outcome is unknown) apply at most once. It is random: DynamoDB
    keeps tokens for 10 minutes per account and region, and a token derived from the key
    would meet another call's token (two users' equal keys, a redeployed table set, two
    concurrent calls with one key), which DynamoDB answers with a parameter mismatch. What
    makes a key apply once across calls, at any later time, is the record.
    """
    return str(uuid.uuid4())


def internal_key() -> str:
    """The key a flow called without one runs under, so its own re-sends are as safe."""
    return str(uuid.uuid4())


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def canonical(**request: Any) -> str:
    """What a request asks for, as canonical JSON (equal amounts in other notations match)."""
    return json.dumps({k: _plain(v) for k, v in request.items()}, sort_keys=True)


def fingerprint(**request: Any) -> str:
    """A digest of what a request asks for (equal amounts in other notations match)."""
    return hashlib.sha256(canonical(**request).encode()).hexdigest()


def expired(item: Item, now: datetime) -> bool:
    """Whether a record is past its ``expires_at``: absent, though DynamoDB deletes it late."""
    raw = item.get("expires_at", {}).get("N")
    return raw is not None and int(raw) < int(now.timestamp())


def _differences(stored: str | None, asked: str | None) -> list[str]:
    """The parameters in which two canonical requests differ (empty when unknown)."""
    try:
        old, new = json.loads(stored or ""), json.loads(asked or "")
    except ValueError:
        return []
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def idempotency_record_key(username: str, idempotency_key: str) -> Item:
    return key(user_partition(username), IDEMPOTENCY_PREFIX + idempotency_key)


def idempotency_record(
    username: str,
    idempotency_key: str,
    request_fingerprint: str,
    result: FlowResult,
    now: datetime,
    *,
    call_id: str,
    expires_at: datetime | None = None,
    request: str | None = None,
) -> Item:
    """The record written with the flow: the request's fingerprint and the flow's result.

    ``call_id`` names the call that wrote it, so that call, finding its own record after
    a lost reply, does not report its own commit as a replay. ``expires_at`` (epoch
    seconds, DynamoDB's TTL format) is set on records nobody reads after their call.
    """
    item: Item = {
        **idempotency_record_key(username, idempotency_key),
        "fingerprint": {"S": request_fingerprint},
        "flow": {"S": result.flow.value},
        "result": {"S": result.model_dump_json()},
        "call_id": {"S": call_id},
        "created_at": {"S": format_timestamp(now)},
    }
    if expires_at is not None:
        item["expires_at"] = {"N": str(int(expires_at.timestamp()))}
    if request is not None:
        item["request"] = {"S": request}
    return item


#: What results recorded by earlier releases carried and a FlowResult no longer has (the
#: balance and holding after the flow: flows no longer read them).
_RETIRED_FIELDS = ("balance", "holding")


class _RecordedResult(FlowResult):
    model_config = ConfigDict(extra="allow", frozen=True)


def _stored_result(raw: str) -> FlowResult:
    recorded = _RecordedResult.model_validate_json(raw)
    unknown = set(recorded.model_extra or {}) - set(_RETIRED_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    fields = {name: getattr(recorded, name) for name in FlowResult.model_fields}
    return FlowResult.model_validate(fields)


def replay(
    item: Item,
    idempotency_key: str,
    request_fingerprint: str,
    call_id: str | None = None,
    request: str | None = None,
) -> FlowResult:
    """The stored result for a repeated request, or the conflict error for another one.

    ``replayed`` is true unless the record was written by ``call_id`` itself.
    """
    try:
        stored_fingerprint = item["fingerprint"]["S"]
        stored = _stored_result(item["result"]["S"])
        writer = item.get("call_id", {}).get("S")
    except (KeyError, TypeError, ValueError, AttributeError, CNOPValidationException):
        raise CNOPDatabaseOperationException(
            "A stored idempotency record is malformed", details={"entity": "IdempotencyRecord"}
        ) from None
    if stored_fingerprint != request_fingerprint:
        differ = _differences(item.get("request", {}).get("S"), request)
        which = f": {', '.join(differ)} differ" if differ else ""
        raise CNOPIdempotencyConflictException(
            f"Idempotency key '{idempotency_key}' was already used for a different request "
            f"({stored.flow.value}{which}); use a new key for a new request",
            details={
                "idempotency_key": idempotency_key,
                "flow": stored.flow.value,
                "differs": differ,
            },
        )
    return stored.model_copy(update={"replayed": call_id is None or writer != call_id})
