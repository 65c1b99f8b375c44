"""Settings from the environment, and the one DynamoDB client per process.

Environment variables (DESIGN §8): ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``),
``AWS_ENDPOINT_URL_DYNAMODB`` (or ``AWS_ENDPOINT_URL``: a local DynamoDB), resolved and
checked by ``cnop.exceptions.aws`` exactly as every other CNOP package resolves them;
``USERS_TABLE``, ``ORDERS_TABLE``,
``INVENTORY_TABLE``; tuning: ``CNOP_DYNAMODB_MAX_POOL_CONNECTIONS`` (50),
``CNOP_DYNAMODB_CONNECT_TIMEOUT`` (2 s), ``CNOP_DYNAMODB_READ_TIMEOUT`` (5 s),
``CNOP_DYNAMODB_MAX_ATTEMPTS`` (3), ``CNOP_DYNAMODB_RETRY_MODE`` (``standard``), and
``CNOP_CURSOR_SECRET`` (signs pagination cursors; set the same value on every instance
of a service, or a cursor from one instance is refused by another; without it each process
makes up its own, with a warning unless DynamoDB is local) and
``CNOP_CURSOR_SECRET_PREVIOUS`` (the secret before a rotation, still accepted).

Credentials come from boto3's default chain (environment, profile, web identity,
instance role); nothing here reads or stores them.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from cnop.exceptions import CNOPConfigurationException, dynamodb_endpoint_url, find_aws_region

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DataSettings", "TableNames", "dynamodb_client", "reset_clients"]

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_RETRY_MODES = ("standard", "adaptive", "legacy")
_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")
_PROCESS_SECRET = secrets.token_bytes(32)


def _table_name(value: str, variable: str) -> str:
    if not isinstance(value, str) or not _TABLE_NAME.fullmatch(value):
        raise CNOPConfigurationException(
            f"{variable} must be 3-255 characters of letters, digits, '_', '-' or '.'",
            details={"variable": variable},
        )
    return value


@dataclass(frozen=True)
class TableNames:
    """The three table names (defaults ``users``, ``orders``, ``inventory``)."""

    users: str = "users"
    orders: str = "orders"
    inventory: str = "inventory"

    def __post_init__(self) -> None:
        for name in ("users", "orders", "inventory"):
            _table_name(getattr(self, name), f"{name.upper()}_TABLE")

    @classmethod
    def from_env(cls, prefix: str = "", environ: Mapping[str, str] | None = None) -> TableNames:
        """Names from ``USERS_TABLE``/``ORDERS_TABLE``/``INVENTORY_TABLE``, with ``prefix``."""
        env = _environment(environ)
        if not isinstance(prefix, str):
            raise CNOPConfigurationException("the table prefix must be text")
        return cls(
            users=prefix + env.get("USERS_TABLE", "users"),
            orders=prefix + env.get("ORDERS_TABLE", "orders"),
            inventory=prefix + env.get("INVENTORY_TABLE", "inventory"),
        )

    def all(self) -> tuple[str, str, str]:
        return (self.users, self.orders, self.inventory)


def _environment(environ: object) -> Mapping[str, str]:
    """``environ`` (default ``os.environ``) if it is a mapping of text to text."""
    env = os.environ if environ is None else environ
    if not isinstance(env, Mapping):
        raise CNOPConfigurationException("environ must be a mapping of variable names to text")
    bad = [k for k, v in env.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise CNOPConfigurationException(
            "environ must map text to text", details={"variable": str(bad[0])[:64]}
        )
    return env


def _is_local(settings: DataSettings) -> bool:
    """Local development: DynamoDB on this machine (DynamoDB Local, moto)."""
    host = urlsplit(settings.endpoint_url or "").hostname or ""
    return host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")


_warned = threading.Event()


def _warn_process_secret() -> None:
    if _warned.is_set():
        return
    _warned.set()
    from cnop.logging import BaseLogger, LogAction, LoggerName  # noqa: PLC0415

    BaseLogger(LoggerName.DATABASE).warning(
        action=LogAction.DB_OPERATION,
        message="CNOP_CURSOR_SECRET is not set: this process signs pagination cursors with a "
        "secret of its own, so a cursor from one instance is refused by another; set the same "
        "value on every instance",
        variable="CNOP_CURSOR_SECRET",
    )


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    # ASCII digits only: float() also takes other scripts' digits, "1_0", " 5 " and "nan".
    if not isinstance(raw, str) or not _DECIMAL.fullmatch(raw):
        raise CNOPConfigurationException(
            f"{name} must be a number (digits 0-9, e.g. 2.5)", details={"variable": name}
        )
    value = float(raw)
    if not low <= value <= high:
        raise CNOPConfigurationException(
            f"{name} must be between {low:g} and {high:g}", details={"variable": name}
        )
    return value


# What cnop.exceptions.aws calls an explicit value, and what DataSettings calls it.
_ARGUMENT_NAMES = {"region_name": "region", "endpoint_url": "endpoint_url"}


def _resolved(
    resolve: Callable[[Mapping[str, str] | None, object], str | None],
    env: Mapping[str, str],
    explicit: object,
) -> str | None:
    """``resolve(env, explicit)``; an error about ``explicit`` names the settings field."""
    try:
        return resolve(env, explicit)
    except CNOPConfigurationException as exc:
        where = str(exc.details.get("variable", ""))
        field_name = _ARGUMENT_NAMES.get(where)
        if field_name is None or field_name == where:
            raise
        # The message starts with the name it blames; it never holds an endpoint URL.
        raise CNOPConfigurationException(
            field_name + exc.message[len(where) :], details={"variable": field_name}
        ) from None


def _missing_region() -> CNOPConfigurationException:
    return CNOPConfigurationException(
        "AWS_REGION must be set (e.g. us-east-1)", details={"variable": "AWS_REGION"}
    )


@dataclass(frozen=True)
class DataSettings:
    """Everything cnop.data needs to reach DynamoDB. Build with :meth:`from_env`."""

    region: str
    endpoint_url: str | None = None
    tables: TableNames = field(default_factory=TableNames)
    max_pool_connections: int = 50
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    max_attempts: int = 3
    retry_mode: str = "standard"
    cursor_secret: bytes = field(default=_PROCESS_SECRET, repr=False)
    #: Secrets that still open cursors (the one before a rotation); never used to sign.
    previous_cursor_secrets: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        # Checked however the settings were made (from_env, overrides, the constructor,
        # dataclasses.replace), by the same rules as the environment variables.
        if self.region is None or self.region == "":
            raise _missing_region()
        _resolved(find_aws_region, {}, self.region)
        if self.endpoint_url is not None:
            _resolved(dynamodb_endpoint_url, {}, self.endpoint_url)
        for name, low, high in (
            ("max_pool_connections", 1, 1000),
            ("connect_timeout", 0.05, 60),
            ("read_timeout", 0.05, 300),
            ("max_attempts", 1, 20),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CNOPConfigurationException(f"{name} must be a number")
            if not low <= value <= high:
                raise CNOPConfigurationException(f"{name} must be between {low:g} and {high:g}")
        if self.retry_mode not in _RETRY_MODES:
            raise CNOPConfigurationException(
                f"CNOP_DYNAMODB_RETRY_MODE must be one of {', '.join(_RETRY_MODES)}",
                details={"variable": "CNOP_DYNAMODB_RETRY_MODE"},
            )
        if not isinstance(self.cursor_secret, bytes) or len(self.cursor_secret) < 16:
            raise CNOPConfigurationException(
                "CNOP_CURSOR_SECRET must be at least 16 bytes",
                details={"variable": "CNOP_CURSOR_SECRET"},
            )
        previous = self.previous_cursor_secrets
        if not isinstance(previous, tuple) or not all(isinstance(x, bytes) for x in previous):
            raise CNOPConfigurationException(
                "previous_cursor_secrets must be a tuple of bytes",
                details={"variable": "CNOP_CURSOR_SECRET_PREVIOUS"},
            )
        if any(len(s) < 16 for s in previous):
            raise CNOPConfigurationException(
                "CNOP_CURSOR_SECRET_PREVIOUS must be at least 16 bytes",
                details={"variable": "CNOP_CURSOR_SECRET_PREVIOUS"},
            )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, table_prefix: str = "", **overrides: Any
    ) -> DataSettings:
        """Settings from the environment; keyword ``overrides`` win over it.

        The region is ``region=``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``; the
        endpoint is ``endpoint_url=`` (``None``: AWS's own), else
        ``AWS_ENDPOINT_URL_DYNAMODB``, else ``AWS_ENDPOINT_URL``, else AWS's own. A value
        that is set is checked as it is (never trimmed): a bad one, or no region at all,
        raises ``CNOPConfigurationException`` naming the variable or argument, and never
        repeats an endpoint URL (it may hold a secret).
        """
        env = _environment(environ)
        if not isinstance(table_prefix, str):
            raise CNOPConfigurationException("table_prefix must be text")
        secret = env.get("CNOP_CURSOR_SECRET")
        overrides = dict(overrides)
        region = _resolved(find_aws_region, env, overrides.pop("region", None))
        if region is None:
            raise _missing_region()
        if "endpoint_url" in overrides:
            endpoint = overrides.pop("endpoint_url")  # checked in __post_init__
        else:
            endpoint = _resolved(dynamodb_endpoint_url, env, None)
        values: dict[str, Any] = {
            "region": region,
            "endpoint_url": endpoint,
            "tables": TableNames.from_env(table_prefix, env),
            "max_pool_connections": int(
                _number(env, "CNOP_DYNAMODB_MAX_POOL_CONNECTIONS", 50, 1, 1000)
            ),
            "connect_timeout": _number(env, "CNOP_DYNAMODB_CONNECT_TIMEOUT", 2.0, 0.05, 60),
            "read_timeout": _number(env, "CNOP_DYNAMODB_READ_TIMEOUT", 5.0, 0.05, 300),
            "max_attempts": int(_number(env, "CNOP_DYNAMODB_MAX_ATTEMPTS", 3, 1, 20)),
            "retry_mode": env.get("CNOP_DYNAMODB_RETRY_MODE", "standard"),
        }
        if secret:
            values["cursor_secret"] = secret.encode("utf-8", "surrogateescape")
        previous = env.get("CNOP_CURSOR_SECRET_PREVIOUS")
        if previous:
            values["previous_cursor_secrets"] = (previous.encode("utf-8", "surrogateescape"),)
        values.update(overrides)
        settings = cls(**values)
        if not secret and "cursor_secret" not in overrides and not _is_local(settings):
            _warn_process_secret()
        return settings

    def with_tables(self, tables: TableNames) -> DataSettings:
        return replace(self, tables=tables)

    def botocore_config(self) -> Config:
        """The botocore ``Config`` (pool size, timeouts, retries) every client uses."""
        from botocore.config import Config  # noqa: PLC0415 - keeps `import cnop.data` light

        return Config(
            region_name=self.region,
            max_pool_connections=self.max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            # botocore's "max_attempts" counts retries after the first send; ours counts sends.
            retries=cast(Any, {"mode": self.retry_mode, "total_max_attempts": self.max_attempts}),
            # The endpoint is ``endpoint_url`` alone: botocore would otherwise read
            # AWS_ENDPOINT_URL* from os.environ itself, unchecked, even when these settings
            # came from another mapping or asked for AWS's own endpoint (None). (botocore
            # has the option since 1.31; its type stubs do not list it yet.)
            ignore_configured_endpoint_urls=True,  # type: ignore[call-arg]
            # Every request is built by this package from validated values; botocore's
            # client-side check of each parameter against the service model would cost
            # more client CPU than the rest of a flow (DynamoDB validates requests itself).
            parameter_validation=False,
        )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``session.client("dynamodb", **kwargs)`` (sync or async)."""
        kwargs: dict[str, Any] = {"region_name": self.region, "config": self.botocore_config()}
        if self.endpoint_url is not None:
            kwargs["endpoint_url"] = self.endpoint_url
        return kwargs


_clients: dict[tuple[Any, ...], DynamoDBClient] = {}
_clients_lock = threading.Lock()


def _client_identity(settings: DataSettings) -> tuple[Any, ...]:
    return (
        settings.region,
        settings.endpoint_url,
        settings.max_pool_connections,
        settings.connect_timeout,
        settings.read_timeout,
        settings.max_attempts,
        settings.retry_mode,
    )


def dynamodb_client(settings: DataSettings | None = None) -> DynamoDBClient:
    """The process-wide boto3 DynamoDB client for ``settings`` (thread-safe, made once)."""
    if settings is not None and not isinstance(settings, DataSettings):
        raise CNOPConfigurationException("settings must be a DataSettings")
    settings = settings or DataSettings.from_env()
    identity = _client_identity(settings)
    client = _clients.get(identity)
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(identity)
        if client is None:
            import boto3.session  # noqa: PLC0415 - keeps `import cnop.data` light

            # A private session: boto3's default session is not thread-safe to create.
            client = boto3.session.Session().client("dynamodb", **settings.client_kwargs())
            _clients[identity] = client
    return client


def reset_clients() -> None:
    """Forget the cached clients (tests, or after a fork)."""
    with _clients_lock:
        _clients.clear()
