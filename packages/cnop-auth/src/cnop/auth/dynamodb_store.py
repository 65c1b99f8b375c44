"""A :class:`~cnop.auth.RevocationStore` in a DynamoDB table, shared by every instance.

Needs the ``dynamodb`` extra (``pip install 'cnop-auth[dynamodb]'``). One item per revoked
token (``jti#<id>``) or session (``sid#<id>``) with an ``expires_at`` TTL attribute.
DynamoDB deletes expired items late (up to days), so every read and every conditional
write treats an item past ``expires_at`` as absent. The ``*_async`` methods run the
blocking client in a worker thread, so they never hold up the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

try:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
except ImportError as exc:  # the dynamodb extra is not installed
    raise ImportError(
        "DynamoDBRevocationStore needs boto3: pip install 'cnop-auth[dynamodb]'"
    ) from exc

from cnop.auth import store_core
from cnop.auth.arguments import require_callable
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPDatabaseOperationException,
    CNOPException,
    CNOPServiceUnavailableException,
)

KEY = "pk"
EXPIRES = "expires_at"
OWNER = "owner"
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_READ_ATTEMPTS = 5
# Failures after which a request may or may not have been applied (refused connection,
# reset, read timeout): safe to send again with the same owner mark.
_UNCERTAIN = (ConnectionError, HTTPClientError)


class DynamoDBRevocationStore:
    """Revoked tokens and sessions in the DynamoDB table ``table_name``.

    >>> store = DynamoDBRevocationStore("auth-revocations")   # boto3's default client
    >>> tokens = TokenManager(settings, revocation=store)

    The table has a string partition key ``pk`` and TTL on ``expires_at``;
    :meth:`create_table` makes one.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(table_name, str) or not 3 <= len(table_name) <= 255:
            raise CNOPConfigurationException("table_name must be a DynamoDB table name")
        self._table = table_name
        self._client: Any = client if client is not None else boto3.client("dynamodb")
        self._clock = require_callable(clock, "clock", "() -> epoch seconds")

    @staticmethod
    def create_table(table_name: str, *, client: Any = None) -> None:
        """Create the table (on-demand) and turn on TTL; waits until it is active."""
        client = client if client is not None else boto3.client("dynamodb")
        try:
            client.create_table(
                TableName=table_name,
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            client.get_waiter("table_exists").wait(TableName=table_name)
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES},
            )
        except (ClientError, BotoCoreError) as exc:
            raise _map(exc, table_name) from None

    # -- blocking --------------------------------------------------------------------------

    def is_revoked(self, jti: str, sid: str | None = None) -> bool:
        keys = [f"jti#{store_core.require_id(jti, 'jti')}"]
        if sid is not None:
            keys.append(f"sid#{store_core.require_id(sid, 'sid')}")
        now = self._clock()
        return any(_expiry(item) > now for item in self._get_items(keys))

    def revoke(self, jti: str, expires_at: datetime, sid: str | None = None) -> bool:
        if sid is not None:
            store_core.require_id(sid, "sid")
        return self._claim(f"jti#{store_core.require_id(jti, 'jti')}", expires_at)

    def revoke_session(self, sid: str, expires_at: datetime) -> bool:
        return self._claim(f"sid#{store_core.require_id(sid, 'sid')}", expires_at)

    # -- asyncio (the blocking calls in a worker thread) ---------------------------------

    async def is_revoked_async(self, jti: str, sid: str | None = None) -> bool:
        return await asyncio.to_thread(self.is_revoked, jti, sid)

    async def revoke_async(self, jti: str, expires_at: datetime, sid: str | None = None) -> bool:
        return await asyncio.to_thread(self.revoke, jti, expires_at, sid)

    async def revoke_session_async(self, sid: str, expires_at: datetime) -> bool:
        return await asyncio.to_thread(self.revoke_session, sid, expires_at)

    # -- the calls -------------------------------------------------------------------------

    def _claim(self, key: str, expires_at: datetime) -> bool:
        """Write ``key`` unless a live item has it: ``True`` for the write that landed."""
        until = store_core.expiry_seconds(store_core.require_expiry(expires_at))
        owner = store_core.new_owner()
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {KEY: {"S": key}, EXPIRES: {"N": str(until)}, OWNER: {"S": owner}},
            # An expired item still on the table counts as absent.
            "ConditionExpression": "attribute_not_exists(#k) OR #e <= :now",
            "ExpressionAttributeNames": {"#k": KEY, "#e": EXPIRES},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        for attempt in range(store_core.WRITE_ATTEMPTS):
            values = {":now": {"N": str(int(self._clock()))}}
            try:
                self._client.put_item(**request, ExpressionAttributeValues=values)
                return True
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    if _code(exc) in _RETRYABLE_CODES and attempt + 1 < store_core.WRITE_ATTEMPTS:
                        continue
                    raise _map(exc, self._table) from None
                # Refused: someone holds it, or our own earlier attempt (its reply lost) does.
                response: dict[str, Any] = dict(exc.response)
                old: dict[str, Any] = response.get("Item") or {}
                return bool(old.get(OWNER, {}).get("S") == owner)
            except _UNCERTAIN as exc:
                # The request may have been applied: send it again, same owner mark.
                if attempt + 1 == store_core.WRITE_ATTEMPTS:
                    raise _map(exc, self._table) from None
            except BotoCoreError as exc:
                raise _map(exc, self._table) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_items(self, keys: list[str]) -> list[dict[str, Any]]:
        pending: dict[str, Any] = {
            self._table: {
                "Keys": [{KEY: {"S": key}} for key in keys],
                "ConsistentRead": True,
                "ProjectionExpression": "#k, #e",
                "ExpressionAttributeNames": {"#k": KEY, "#e": EXPIRES},
            }
        }
        found: list[dict[str, Any]] = []
        for attempt in range(_READ_ATTEMPTS):
            try:
                reply = self._client.batch_get_item(RequestItems=pending)
            except ClientError as exc:
                if _code(exc) in _RETRYABLE_CODES and attempt + 1 < _READ_ATTEMPTS:
                    time.sleep(0.02 * 2**attempt)
                    continue
                raise _map(exc, self._table) from None
            except BotoCoreError as exc:
                if isinstance(exc, _UNCERTAIN) and attempt + 1 < _READ_ATTEMPTS:
                    continue
                raise _map(exc, self._table) from None
            found.extend(reply.get("Responses", {}).get(self._table, []))
            pending = reply.get("UnprocessedKeys") or {}
            if not pending:
                return found
            time.sleep(0.02 * 2**attempt)  # DynamoDB asks for a back-off before resending
        raise CNOPServiceUnavailableException(
            f"Revocation table {self._table} did not answer in {_READ_ATTEMPTS} attempts",
            details={"backend": "dynamodb", "table": self._table},
        )


def _expiry(item: dict[str, Any]) -> float:
    """An item's ``expires_at``; one without a readable expiry never expires (fail closed)."""
    try:
        return float(Decimal(item[EXPIRES]["N"]))
    except (KeyError, TypeError, ArithmeticError, ValueError):
        return float("inf")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _map(exc: Exception, table: str) -> CNOPException:
    details = {"backend": "dynamodb", "table": table}
    if isinstance(exc, ClientError):
        code = _code(exc)
        if code == "ResourceNotFoundException":
            return CNOPConfigurationException(
                f"Revocation table {table} does not exist (DynamoDBRevocationStore.create_table)",
                details=details,
            )
        if code in _RETRYABLE_CODES:
            return CNOPServiceUnavailableException(
                f"Revocation table {table} is unavailable ({code})", details=details
            )
        return CNOPDatabaseOperationException(
            f"Revocation table {table} refused a request ({code})", details=details
        )
    return CNOPServiceUnavailableException(
        f"Revocation table {table} is unreachable ({type(exc).__name__})", details=details
    )
