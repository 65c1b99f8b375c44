"""DynamoDB lease locks through boto3 (the ``dynamodb`` extra); see ``dynamodb_core``.

DynamoDB has no way to notify a waiter, so a waiter re-reads every ``poll_interval``
seconds (or sooner, when the lease it saw would turn stale or expire).

Clocks: a dead holder's lease is taken over once it has expired by more than
``clock_skew_margin`` (default 2 s) on the waiter's wall clock, so the instances sharing a
lock table must have wall clocks within that margin of each other (NTP or Amazon Time
Sync keeps them within milliseconds). See ``dynamodb_core`` for what a larger difference
does.
"""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPValidationException,
    dynamodb_endpoint_url,
    find_aws_region,
)
from cnop.locking import _validate, dynamodb_core
from cnop.locking.backend import Attempt, token_released_error

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
DEFAULT_POLL_INTERVAL = 0.1
#: How far the wall clocks of instances sharing a lock table may differ (seconds).
DEFAULT_CLOCK_SKEW_MARGIN = 2.0
#: At most this many held tokens' pending clean-ups are remembered per backend.
_FORGET_TRACKED = 10_000


def _dynamodb_client(client: Any) -> Any:
    """A blocking boto3 DynamoDB client (or anything that answers ``update_item`` like one)."""
    update_item = getattr(client, "update_item", None)
    if not callable(update_item) or inspect.iscoroutinefunction(update_item):
        raise CNOPValidationException.for_field(
            "client",
            "must be a blocking boto3 DynamoDB client (boto3.client('dynamodb')), "
            f"got {type(client).__name__}",
        )
    return client


class DynamoDBLockBackend:
    """Lease locks in one DynamoDB table (hash key ``lock_name``, a string).

    A holder that dies without releasing keeps its lock until its lease (or last
    heartbeat's lease) has passed by ``clock_skew_margin`` on a waiter's clock; a waiter
    that is waiting then gets it within a ``poll_interval``.

    >>> backend = DynamoDBLockBackend.connect("locks", endpoint_url="http://localhost:8000")
    >>> backend.create_table()  # once, e.g. at deploy time; safe to repeat
    """

    kind = "dynamodb"

    def __init__(
        self,
        table: str,
        client: Any,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        clock_skew_margin: float = DEFAULT_CLOCK_SKEW_MARGIN,
    ) -> None:
        self.table = _validate.table_name(table)
        self._client = _dynamodb_client(client)
        self.poll_interval = _validate.poll_interval(poll_interval)
        self.clock_skew_margin = _validate.clock_skew_margin(clock_skew_margin)
        # Per held token: the old entries of ``released`` its release drops (see
        # dynamodb_core); a release without them (e.g. tracked by another instance) drops
        # none, and the next holder's release catches up.
        self._forget: dict[str, tuple[str, ...]] = {}
        self._forget_guard = threading.Lock()

    @classmethod
    def connect(
        cls,
        table: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        clock_skew_margin: float = DEFAULT_CLOCK_SKEW_MARGIN,
    ) -> DynamoDBLockBackend:
        """A backend with its own boto3 client (short timeouts, few retries).

        ``region_name`` defaults to ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then the
        AWS config file; ``endpoint_url`` to ``AWS_ENDPOINT_URL_DYNAMODB``, then
        ``AWS_ENDPOINT_URL``, then AWS's endpoint for the region — the resolution every
        CNOP package shares (``cnop.exceptions.aws_region``). A bad value raises
        ``CNOPConfigurationException`` naming the argument or variable.
        """
        region = find_aws_region(explicit=region_name)
        endpoint = dynamodb_endpoint_url(explicit=endpoint_url)
        config = Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            # Two sends in all: botocore's ``max_attempts`` would count retries only.
            retries={"total_max_attempts": 2, "mode": "standard"},
        )
        try:
            client = boto3.client(
                "dynamodb", endpoint_url=endpoint, region_name=region, config=config
            )
        except NoRegionError:
            raise CNOPConfigurationException(
                "No AWS region for the DynamoDB lock table: set AWS_REGION or pass region_name",
                details={"variable": "AWS_REGION"},
            ) from None
        except ValueError as exc:  # botocore's own checks; the endpoint passed ours
            raise CNOPConfigurationException(f"DynamoDB lock backend: {exc}") from None
        return cls(table, client, poll_interval=poll_interval, clock_skew_margin=clock_skew_margin)

    @property
    def region(self) -> str:
        """The AWS region the client talks to."""
        return str(self._client.meta.region_name)

    def create_table(self, wait: bool = True) -> None:
        """Create the lock table (on-demand billing) unless it exists."""
        try:
            self._client.create_table(**dynamodb_core.create_table_request(self.table))
        except Exception as exc:
            if dynamodb_core.error_code(exc) != "ResourceInUseException":
                raise dynamodb_core.map_error(exc, self.table) from None
        if wait:
            try:
                self._client.get_waiter("table_exists").wait(
                    TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
                )
            except Exception as exc:
                raise dynamodb_core.map_error(exc, self.table) from None

    def try_acquire(self, name: str, token: str, ttl: float, previous: Attempt | None) -> Attempt:
        name, token, ttl, previous = _validate.acquire_args(name, token, ttl, previous)
        request, attempt = self._acquire_once(name, token, ttl, previous)
        margin = self.clock_skew_margin
        if dynamodb_core.takeover_due(
            request, attempt, now=time.monotonic(), wall=time.time(), margin=margin
        ):
            _, attempt = self._acquire_once(name, token, ttl, attempt)
        return attempt

    def _acquire_once(
        self, name: str, token: str, ttl: float, previous: Attempt | None
    ) -> tuple[dict[str, Any], Attempt]:
        request = dynamodb_core.acquire_request(
            self.table,
            name,
            token,
            ttl,
            previous=previous,
            now=time.monotonic(),
            wall=time.time(),
            margin=self.clock_skew_margin,
        )
        try:
            response = self._client.update_item(**request)
        except Exception as exc:
            if dynamodb_core.error_code(exc) != "ConditionalCheckFailedException":
                raise dynamodb_core.map_error(exc, self.table) from None
            item = getattr(exc, "response", {}).get("Item")
            mine = dynamodb_core.already_granted(item, token)
            if mine is not None:
                self._remember_grant(token, item)
                return request, mine
            if dynamodb_core.released_by(item, token):
                raise token_released_error() from None
            refused = dynamodb_core.refused(
                item, previous, time.monotonic(), wall=time.time(), margin=self.clock_skew_margin
            )
            return request, refused
        self._remember_grant(token, response.get("Attributes"))
        return request, dynamodb_core.granted(response)

    def _remember_grant(self, token: str, item: dict[str, Any] | None) -> None:
        """Keep what the release of ``token`` must drop from the item's ``released`` map."""
        forget = dynamodb_core.to_forget(item)
        if not forget:
            return
        with self._forget_guard:
            if len(self._forget) >= _FORGET_TRACKED:  # holders that never released
                self._forget.pop(next(iter(self._forget)))
            self._forget[token] = forget

    def release(self, name: str, token: str) -> bool:
        name, token = _validate.owner_args(name, token)
        with self._forget_guard:
            forget = self._forget.pop(token, ())
        request = dynamodb_core.release_request(self.table, name, token, forget)
        try:
            self._client.update_item(**request)
        except Exception as exc:
            if dynamodb_core.error_code(exc) != "ConditionalCheckFailedException":
                raise dynamodb_core.map_error(exc, self.table) from None
            item = getattr(exc, "response", {}).get("Item")
            return dynamodb_core.released_by(item, token)
        return True

    def force_release(self, name: str) -> bool:
        name = _validate.lock_name(name)
        return self._conditional(dynamodb_core.release_request(self.table, name, None))

    def extend(self, name: str, token: str, ttl: float) -> bool:
        name, token, ttl = _validate.extend_args(name, token, ttl)
        request = dynamodb_core.extend_request(self.table, name, token, ttl, wall=time.time())
        return self._conditional(request)

    def wait_for_release(self, name: str, timeout: float) -> bool:
        name, timeout = _validate.wait_args(name, timeout)
        time.sleep(max(0.0, min(timeout, self.poll_interval)))
        return False  # DynamoDB cannot signal: this is a poll

    def close(self) -> None:
        self._client.close()

    def _conditional(self, request: dict[str, Any]) -> bool:
        try:
            self._client.update_item(**request)
        except Exception as exc:
            if dynamodb_core.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise dynamodb_core.map_error(exc, self.table) from None
        return True
