"""The DynamoDB lease protocol, without I/O: requests to send and how to read the replies.

Modelled on Amazon's DynamoDB Lock Client. One item per lock name::

    lock_name (hash key) | owner (token) | rvn (record version) | lease_ms | fence

Acquire is a conditional update that succeeds when nobody owns the item. Every grant,
heartbeat and release writes a fresh random ``rvn``. A waiter that finds the lock owned
remembers the ``rvn`` and *when it first saw it on its own monotonic clock*; only after a
full ``lease_ms`` with that same ``rvn`` does it declare the lease stale and take over,
conditionally on the ``rvn`` still being the one it watched. No machine's wall clock is
trusted. The item is never deleted, so ``fence`` (``ADD 1`` on each grant) only grows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from botocore import exceptions as boto_errors

from cnop.exceptions import (
    CNOPAWSServiceException,
    CNOPConfigurationException,
    CNOPException,
    CNOPServiceUnavailableException,
)
from cnop.locking.backend import Attempt

HASH_KEY = "lock_name"
_NAMES = {
    "#n": HASH_KEY,
    "#o": "owner",
    "#r": "rvn",
    "#l": "lease_ms",
    "#f": "fence",
    "#b": "released_by",
}
_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


@dataclass(frozen=True)
class Observation:
    """A waiter's memory of the holder's record version and when it first saw it."""

    rvn: str
    since: float
    lease: float

    def stale(self, now: float) -> bool:
        return now - self.since >= self.lease


def new_rvn() -> str:
    return uuid.uuid4().hex


def _lease_ms(ttl: float) -> str:
    return str(max(1, round(ttl * 1000)))


def acquire_request(
    table: str, name: str, token: str, ttl: float, *, previous: Attempt | None, now: float
) -> dict[str, Any]:
    """UpdateItem that grants ``name`` to ``token``: if free, or if the watched lease is stale."""
    values: dict[str, Any] = {
        ":o": {"S": token},
        ":r": {"S": new_rvn()},
        ":l": {"N": _lease_ms(ttl)},
        ":one": {"N": "1"},
    }
    condition = "attribute_not_exists(#o)"
    seen = previous.observed if previous is not None else None
    if isinstance(seen, Observation) and seen.stale(now):
        condition += " OR #r = :seen"
        values[":seen"] = {"S": seen.rvn}
    return {
        "TableName": table,
        "Key": {HASH_KEY: {"S": name}},
        "UpdateExpression": "SET #o = :o, #r = :r, #l = :l ADD #f :one",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#o", "#r", "#l", "#f")},
        "ExpressionAttributeValues": values,
        "ReturnValues": "UPDATED_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def granted(response: dict[str, Any]) -> Attempt:
    """The Attempt for a successful acquire UpdateItem reply."""
    return Attempt(True, fencing_token=int(response["Attributes"]["fence"]["N"]))


def already_granted(item: dict[str, Any] | None, token: str) -> Attempt | None:
    """The grant ``token`` already holds, when a failed acquire met its own earlier write.

    botocore re-sends a request whose reply was lost; the re-sent acquire then finds the
    lock owned, by us.
    """
    if item and item.get("owner", {}).get("S") == token and "fence" in item:
        return Attempt(True, fencing_token=int(item["fence"]["N"]))
    return None


def released_by(item: dict[str, Any] | None, token: str) -> bool:
    """True when a failed release met ``token``'s own earlier release (a re-sent request)."""
    # Only a successful release by ``token`` writes it (tokens are never reused), and a
    # later holder leaves it alone, so it stays true after someone else took the lock.
    return item is not None and item.get("released_by", {}).get("S") == token


def refused(item: dict[str, Any] | None, previous: Attempt | None, now: float) -> Attempt:
    """The Attempt for a failed acquire, given the item DynamoDB returned with the failure."""
    if not item or "owner" not in item or "rvn" not in item:
        return Attempt(False, retry_after=0.0)  # released in between: try again at once
    rvn = item["rvn"]["S"]
    lease = int(item.get("lease_ms", {"N": "0"})["N"]) / 1000
    seen = previous.observed if previous is not None else None
    since = seen.since if isinstance(seen, Observation) and seen.rvn == rvn else now
    observation = Observation(rvn, since, lease)
    return Attempt(False, retry_after=max(0.0, since + lease - now), observed=observation)


def extend_request(table: str, name: str, token: str, ttl: float) -> dict[str, Any]:
    """A heartbeat: new record version and lease, only while ``token`` owns ``name``."""
    return {
        "TableName": table,
        "Key": {HASH_KEY: {"S": name}},
        "UpdateExpression": "SET #r = :r, #l = :l",
        "ConditionExpression": "#o = :o",
        "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#o", "#r", "#l")},
        "ExpressionAttributeValues": {
            ":o": {"S": token},
            ":r": {"S": new_rvn()},
            ":l": {"N": _lease_ms(ttl)},
        },
    }


def release_request(table: str, name: str, token: str | None) -> dict[str, Any]:
    """Free ``name``: only for ``token``, or whoever holds it when ``token`` is None."""
    values: dict[str, Any] = {":r": {"S": new_rvn()}}
    if token is None:
        return {
            "TableName": table,
            "Key": {HASH_KEY: {"S": name}},
            "UpdateExpression": "SET #r = :r REMOVE #o, #l, #b",
            "ConditionExpression": "attribute_exists(#o)",
            "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#o", "#r", "#l", "#b")},
            "ExpressionAttributeValues": values,
        }
    values[":o"] = {"S": token}
    # released_by lets a re-sent release recognise that it already succeeded.
    return {
        "TableName": table,
        "Key": {HASH_KEY: {"S": name}},
        "UpdateExpression": "SET #r = :r, #b = :o REMOVE #o, #l",
        "ConditionExpression": "#o = :o",
        "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#o", "#r", "#l", "#b")},
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def create_table_request(table: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "KeySchema": [{"AttributeName": HASH_KEY, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": HASH_KEY, "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def map_error(exc: Exception, table: str) -> CNOPException:
    """Turn a botocore error into a CNOP one."""
    code = error_code(exc)
    if isinstance(exc, (boto_errors.ConnectionError, boto_errors.HTTPClientError)):
        return CNOPServiceUnavailableException(
            f"DynamoDB lock table {table!r} is unreachable ({type(exc).__name__})",
            details={"backend": "dynamodb", "table": table},
        )
    if isinstance(exc, (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError)):
        return CNOPConfigurationException(
            f"No AWS credentials for the DynamoDB lock table {table!r}",
            details={"backend": "dynamodb", "table": table},
        )
    if code in _THROTTLED:
        return CNOPServiceUnavailableException(
            f"DynamoDB lock table {table!r} is throttling or unavailable ({code})",
            details={"backend": "dynamodb", "table": table, "error": code},
        )
    if code == "ResourceNotFoundException":
        return CNOPConfigurationException(
            f"DynamoDB lock table {table!r} does not exist; create it first "
            "(DynamoDBLockBackend.create_table())",
            details={"backend": "dynamodb", "table": table},
        )
    return CNOPAWSServiceException(
        f"DynamoDB lock table {table!r}: {code or type(exc).__name__}",
        details={"backend": "dynamodb", "table": table, "error": code},
    )
