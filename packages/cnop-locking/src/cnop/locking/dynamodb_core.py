"""The DynamoDB lease protocol, without I/O: requests to send and how to read the replies.

Modelled on Amazon's DynamoDB Lock Client. One item per lock name::

    lock_name (hash key) | owner (token) | rvn (record version) | lease_ms
    | expires_at_ms | fence | released (map: token -> fence, the last releases)

Acquire is a conditional update that succeeds when nobody owns the item. Every grant,
heartbeat and release writes a fresh random ``rvn``; every grant and heartbeat also writes
``expires_at_ms``: the writer's wall clock (Unix ms) plus the lease. The item is never
deleted, so ``fence`` (``ADD 1`` on each grant, takeovers included) only grows.

A waiter that finds the lock owned takes it over, conditionally on the ``rvn`` it read
being still there (so two waiters never both win), once either holds:

- the lease expired on the waiter's wall clock: ``expires_at_ms`` is older than its now
  minus ``skew_margin``. This is what frees a dead holder's lock for a waiter that comes
  later. It assumes that no instance's clock runs ahead of another's by ``skew_margin``
  or more; a waiter whose clock is ahead by more can take a live lease early (the fence
  still rises, so fenced writes of the old holder are refused). A holder whose clock is
  behind writes an early expiry, with the same effect; one whose clock is ahead only
  makes waiters wait longer, up to the next rule.
- the waiter saw the same ``rvn`` for a full ``lease_ms`` on its own monotonic clock. This
  trusts no wall clock: the holder wrote nothing for a whole lease, so its lease is over.
  It frees the lock for a waiter that was already waiting when the holder died, and caps
  the wait behind a holder with a clock far ahead (or an item that has no
  ``expires_at_ms``).

The holder counts its lease on its own monotonic clock from before it sent the request,
so it stops considering itself the holder before the expiry it wrote.

Each release records its own token in ``released`` (token -> the fence it held), so that
botocore's re-sent release, arriving after other holders came and went, still finds its
release and reports success; and every acquire is conditional on its token not being in
``released``, so a late duplicate of an acquire whose token has been released never
takes the lock again. The map keeps the last ``RELEASES_KEPT`` releases: each grant
reads it (in its reply) and the release that follows removes the older entries in the
same write, so the item stays small (under 1 KB: one write unit). A re-sent release or a
late acquire that comes after more releases than that is treated as if nothing were
remembered: the release reports the lock lost, the acquire may take the lock for one
lease nobody holds (fencing tokens still rise).
"""

from __future__ import annotations

import math
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
    "#e": "expires_at_ms",
    "#d": "released",
}
#: How many releases of one lock its item remembers (see the module docstring).
RELEASES_KEPT = 10
_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


@dataclass(frozen=True)
class Observation:
    """A waiter's memory of the holder's record: its version, when the waiter first saw it
    (monotonic clock), its lease, and the expiry it carries (wall clock, Unix seconds)."""

    rvn: str
    since: float
    lease: float
    expires_at_ms: int | None = None

    def stale(self, now: float) -> bool:
        """Unchanged for a full lease on the waiter's monotonic clock ``now``."""
        return now - self.since >= self.lease

    def expired(self, wall: float, margin: float) -> bool:
        """Past its expiry plus ``margin`` on the waiter's wall clock ``wall``, exactly as
        the takeover condition (``expires_at_ms < :cut``) will judge it."""
        return self.expires_at_ms is not None and self.expires_at_ms < _cut_ms(wall, margin)


def new_rvn() -> str:
    return uuid.uuid4().hex


def _lease_ms(ttl: float) -> str:
    return str(max(1, round(ttl * 1000)))


def _expires_at_ms(wall: float, ttl: float) -> str:
    return str(round(wall * 1000) + int(_lease_ms(ttl)))


def _cut_ms(wall: float, margin: float) -> int:
    """Leases that expired before this moment (Unix ms) may be taken over."""
    return math.floor((wall - margin) * 1000)


def acquire_request(
    table: str,
    name: str,
    token: str,
    ttl: float,
    *,
    previous: Attempt | None,
    now: float,
    wall: float,
    margin: float,
) -> dict[str, Any]:
    """UpdateItem that grants ``name`` to ``token``: if free, or if the lease last seen
    (``previous``) is stale or expired, and still the one seen.

    ``now`` is the caller's monotonic clock, ``wall`` its wall clock (Unix seconds),
    ``margin`` the allowed clock difference between instances (seconds).
    """
    values: dict[str, Any] = {
        ":o": {"S": token},
        ":r": {"S": new_rvn()},
        ":l": {"N": _lease_ms(ttl)},
        ":e": {"N": _expires_at_ms(wall, ttl)},
        ":one": {"N": "1"},
    }
    names = ["#o", "#r", "#l", "#e", "#f", "#d"]
    condition = "attribute_not_exists(#o)"
    seen = previous.observed if previous is not None else None
    if isinstance(seen, Observation):
        if seen.stale(now):
            condition += " OR #r = :seen"
            values[":seen"] = {"S": seen.rvn}
        elif seen.expired(wall, margin):
            # Checked again by DynamoDB: the rvn, so that of two waiters only one wins;
            # the expiry, so that a heartbeat we did not see keeps the lease.
            condition += " OR (#r = :seen AND #e < :cut)"
            values[":seen"] = {"S": seen.rvn}
            values[":cut"] = {"N": str(_cut_ms(wall, margin))}
    values[":none"] = {"M": {}}
    # A token that released the lock is never granted again (a late duplicate acquire).
    condition = f"attribute_not_exists(#d.#t) AND ({condition})"
    return {
        "TableName": table,
        "Key": {HASH_KEY: {"S": name}},
        # Setting ``released`` (to itself) also returns it in the reply, for the release.
        "UpdateExpression": (
            "SET #o = :o, #r = :r, #l = :l, #e = :e, #d = if_not_exists(#d, :none) ADD #f :one"
        ),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {**{k: _NAMES[k] for k in names}, "#t": token},
        "ExpressionAttributeValues": values,
        "ReturnValues": "UPDATED_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def granted(response: dict[str, Any]) -> Attempt:
    """The Attempt for a successful acquire UpdateItem reply."""
    return Attempt(True, fencing_token=int(response["Attributes"]["fence"]["N"]))


def already_granted(item: dict[str, Any] | None, token: str) -> Attempt | None:
    """The grant ``token`` already holds, when a failed acquire met its own earlier write.

    botocore re-sends a request whose reply was lost; the re-sent acquire (or takeover)
    then finds the lock owned, by us.
    """
    if item and item.get("owner", {}).get("S") == token and "fence" in item:
        return Attempt(True, fencing_token=int(item["fence"]["N"]))
    return None


def released_by(item: dict[str, Any] | None, token: str) -> bool:
    """True when ``item`` remembers a release by ``token`` (a failed release met its own
    earlier release, re-sent; or a failed acquire met a token already released)."""
    # Only a successful release by ``token`` writes it (tokens are never reused), and later
    # holders keep the last RELEASES_KEPT, so it stays true after others took the lock.
    if item is None:
        return False
    if token in item.get("released", {}).get("M", {}):
        return True
    return bool(item.get("released_by", {}).get("S") == token)  # written by earlier versions


def to_forget(item: dict[str, Any] | None) -> tuple[str, ...]:
    """The releases a holder's release should drop from ``item`` as granted (its reply's
    attributes), so that with its own the item keeps ``RELEASES_KEPT``."""
    remembered = (item or {}).get("released", {}).get("M", {})
    if len(remembered) < RELEASES_KEPT:
        return ()

    def fence(token: str) -> int:
        value = remembered[token].get("N")
        return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else 0

    newest_first = sorted(remembered, key=fence, reverse=True)
    return tuple(newest_first[RELEASES_KEPT - 1 :])


def refused(
    item: dict[str, Any] | None,
    previous: Attempt | None,
    now: float,
    *,
    wall: float,
    margin: float,
) -> Attempt:
    """The Attempt for a failed acquire, given the item DynamoDB returned with the failure.

    ``retry_after`` is when the lease turns stale (monotonic watch) or expired (wall
    clock plus ``margin``), whichever comes first.
    """
    if not item or "owner" not in item or "rvn" not in item:
        return Attempt(False, retry_after=0.0)  # released in between: try again at once
    rvn = item["rvn"]["S"]
    lease = int(item.get("lease_ms", {"N": "0"})["N"]) / 1000
    expires_text = item.get("expires_at_ms", {}).get("N")
    expires_ms = int(expires_text) if expires_text is not None else None
    seen = previous.observed if previous is not None else None
    since = seen.since if isinstance(seen, Observation) and seen.rvn == rvn else now
    observation = Observation(rvn, since, lease, expires_ms)
    left = since + lease - now
    if expires_ms is not None:  # the first moment _cut_ms() passes the expiry
        left = min(left, (expires_ms + 1) / 1000 + margin - wall)
    return Attempt(False, retry_after=max(0.0, left), observed=observation)


def takeover_due(
    request: dict[str, Any], attempt: Attempt, *, now: float, wall: float, margin: float
) -> bool:
    """Whether a refused ``attempt`` met a lease that may be taken over at once.

    Then the same try sends the takeover (``acquire_request`` with ``attempt`` as
    ``previous``) instead of waiting for the next one: a caller with ``wait=0`` gets a
    dead holder's lock too. Not when ``request`` was that takeover already, for the same
    record version (it was refused because the lease changed: someone else won it).
    """
    seen = attempt.observed
    if attempt.acquired or not isinstance(seen, Observation):
        return False
    if request["ExpressionAttributeValues"].get(":seen") == {"S": seen.rvn}:
        return False
    return seen.stale(now) or seen.expired(wall, margin)


def extend_request(table: str, name: str, token: str, ttl: float, *, wall: float) -> dict[str, Any]:
    """A heartbeat: new record version, lease and expiry, only while ``token`` owns ``name``."""
    return {
        "TableName": table,
        "Key": {HASH_KEY: {"S": name}},
        "UpdateExpression": "SET #r = :r, #l = :l, #e = :e",
        "ConditionExpression": "#o = :o",
        "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#o", "#r", "#l", "#e")},
        "ExpressionAttributeValues": {
            ":o": {"S": token},
            ":r": {"S": new_rvn()},
            ":l": {"N": _lease_ms(ttl)},
            ":e": {"N": _expires_at_ms(wall, ttl)},
        },
    }


def release_request(
    table: str, name: str, token: str | None, forget: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Free ``name``: only for ``token``, or whoever holds it when ``token`` is None.

    A release by ``token`` records it in ``released`` (with the fence it held) and drops
    the entries named in ``forget`` (``to_forget`` of the item as granted).
    """
    values: dict[str, Any] = {":r": {"S": new_rvn()}}
    if token is None:
        return {
            "TableName": table,
            "Key": {HASH_KEY: {"S": name}},
            "UpdateExpression": "SET #r = :r REMOVE #o, #l, #e, #b",
            "ConditionExpression": "attribute_exists(#o)",
            "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#o", "#r", "#l", "#e", "#b")},
            "ExpressionAttributeValues": values,
        }
    values[":o"] = {"S": token}
    names = {k: _NAMES[k] for k in ("#o", "#r", "#l", "#e", "#d", "#f")}
    names["#t"] = token
    dropped = "".join(f", #d.#x{i}" for i in range(len(forget)))
    names.update({f"#x{i}": old for i, old in enumerate(forget)})
    # ``released`` lets a re-sent release recognise that it already succeeded. The
    # acquire that granted the lock created the map, so the nested SET has a parent.
    return {
        "TableName": table,
        "Key": {HASH_KEY: {"S": name}},
        "UpdateExpression": f"SET #r = :r, #d.#t = #f REMOVE #o, #l, #e{dropped}",
        "ConditionExpression": "#o = :o",
        "ExpressionAttributeNames": names,
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
