"""Every public input-taking callable of every package, fed hostile values.

The targets are enumerated from each package's ``__all__``: every function, every class
constructor and every public method a class defines in this project. Each parameter in
turn gets every value of :data:`HOSTILE` while the others keep a valid value; the only
acceptable outcomes are a normal return or a typed CNOP error (a CNOPException). A new
public callable is swept automatically; one whose required parameters have no valid
value here fails, asking for a corpus entry (:data:`VALID_BY_NAME`, :data:`OVERRIDES`,
:data:`INSTANCES`). The DynamoDB-writing entry points are also checked to write nothing
when they refuse a value (their tables are compared before and after).

A finding in a package that is not fixed yet is listed in :data:`KNOWN` and checked by
``test_known_finding`` as a strict xfail, so fixing it turns the xfail into a failure that
asks for the entry to be removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib
import inspect
import math
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from cnop.exceptions import CNOPException, CNOPLockLostException

#: A strong random secret for the signing keys the sweep builds.
SECRET = secrets.token_urlsafe(48)

PACKAGES = ("cnop.exceptions", "cnop.logging", "cnop.auth", "cnop.locking", "cnop.data")

#: The text the hostile strings are built around: a valid username, unique to this run, so
#: that a value some backend does accept (a lock name) meets no other test's keys.
BASE = f"h{uuid.uuid4().hex[:9]}"

HOSTILE: dict[str, Any] = {
    "newline_tail": BASE + "\n",
    "newline_head": "\n" + BASE,
    "spaces": f"  {BASE}  ",
    "empty": "",
    "nul": BASE + "\x00x",
    "lone_surrogate": BASE + "\ud800",
    "arabic_digits": "\u0661\u0660",
    "fullwidth_digits": "\uff11\uff10",
    "underscore_digits": "1_0",
    "cyrillic_a": "\u0430" + BASE,
    "huge": BASE * 100_000,
    "none": None,
    "int": 5,
    "negative": -1,
    "bool": True,
    "nan": math.nan,
    "inf": math.inf,
    "bytes": BASE.encode(),
    "list": [BASE],
    "dict": {BASE: 1},
    "object": object(),
}

#: Callables that take no outside input (or only a value they pass through) and why.
NOT_SWEPT: dict[str, str] = {
    "configure_logging": "replaces the process's log sinks; its arguments are checked in "
    "tests/logging",
    "configure_tracing": "installs a process-wide tracer provider",
    "install_meter_provider": "installs a process-wide meter provider",
    "expose_prometheus": "starts an HTTP server per call",
    "RequestContextMiddleware": "wraps an ASGI app; request input is checked in tests/logging",
    "HeldLock": "made by LockManager.lock from its own state, not by callers",
    "AsyncHeldLock": "made by LockManager.alock from its own state, not by callers",
    "InMemoryLockBackend.watch": "takes a callback, not data",
    "delete_tables": "deletes tables; swept only with names no table has (see OVERRIDES)",
}


# --- the world the targets run in ----------------------------------------------------------


@dataclass
class World:
    """Valid objects the sweep builds calls from (one set of tables of its own)."""

    loop: asyncio.AbstractEventLoop
    settings: Any
    client: Any
    async_client: Any
    redis_url: str
    redis: Any
    async_redis: Any
    username: str
    asset_id: str
    order_id: str
    transaction_id: str
    instances: dict[str, Any] = field(default_factory=dict)

    def run(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            return self.loop.run_until_complete(value)
        return value

    def snapshot(self) -> list[Any]:
        """Every item of the sweep's users and orders tables (they stay small)."""
        found: list[Any] = []
        for table in (self.settings.tables.users, self.settings.tables.orders):
            params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
            while True:
                page = self.client.scan(**params)
                found += sorted(page["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
                if "LastEvaluatedKey" not in page:
                    break
                params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _user_create(w: World) -> Any:
    from cnop.data import UserCreate

    name = _unique("u_")
    return UserCreate(
        username=name, email=f"{name}@example.com", first_name="Ada", last_name="Lovelace"
    )


def _asset_create() -> Any:
    from cnop.data import AssetCreate

    return AssetCreate(
        asset_id=_unique("S").upper()[:12], name="Sweep", category="sweep", price_usd="2"
    )


def _hmac_key() -> Any:
    from cnop.auth import JWTKey

    return JWTKey.hmac(SECRET)


def _token_manager() -> Any:
    from cnop.auth import KeySet, TokenManager, TokenSettings

    return TokenManager(TokenSettings(keys=KeySet(signing=_hmac_key())))


def _valid_models() -> dict[str, Callable[[World], dict[str, Any]]]:
    now = datetime.now(timezone.utc)
    return {
        "UserCreate": lambda w: {
            "username": "alice_01",
            "email": "alice@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
        },
        "UserUpdate": lambda w: {"first_name": "Ada"},
        "User": lambda w: {
            "username": "alice_01",
            "email": "alice@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "password_hash": "hash",
        },
        "Balance": lambda w: {"username": "alice_01"},
        "BalanceTransaction": lambda w: {
            "username": "alice_01",
            "transaction_type": "deposit",
            "amount": "1",
        },
        "OrderCreate": lambda w: {"order_type": "market_buy", "asset_id": "BTC", "quantity": "1"},
        "Order": lambda w: {
            "username": "alice_01",
            "order_type": "market_buy",
            "asset_id": "BTC",
            "quantity": "1",
        },
        "AssetCreate": lambda w: {
            "asset_id": "BTC",
            "name": "Bitcoin",
            "category": "crypto",
            "price_usd": "1",
        },
        "AssetUpdate": lambda w: {"name": "Bitcoin"},
        "Asset": lambda w: {
            "asset_id": "BTC",
            "name": "Bitcoin",
            "category": "crypto",
            "price_usd": "1",
        },
        "AssetBalance": lambda w: {"username": "alice_01", "asset_id": "BTC"},
        "AssetTransaction": lambda w: {
            "username": "alice_01",
            "asset_id": "BTC",
            "transaction_type": "buy",
            "quantity": "1",
            "price_usd": "1",
        },
        "FlowResult": lambda w: {
            "flow": "deposit",
            "username": "alice_01",
            "amount": Decimal(1),
            "balance": Decimal(1),
            "committed_at": now,
        },
        "TokenClaims": lambda w: {
            "sub": "alice_01",
            "role": "customer",
            "type": "access",
            "jti": "j1",
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(minutes=5),
        },
        "AccessToken": lambda w: {
            "access_token": "t",
            "token_type": "bearer",
            "expires_in": 60,
            "expires_at": now,
        },
        "TokenPair": lambda w: {
            "access_token": "t",
            "token_type": "bearer",
            "expires_in": 60,
            "expires_at": now,
            "refresh_token": "r",
            "refresh_expires_in": 60,
            "refresh_expires_at": now,
            "session_id": "s1",
            "session_expires_at": now + timedelta(days=1),
        },
    }


MODELS = _valid_models()

#: A valid value for a parameter, by its name (used unless OVERRIDES names the target).
VALID_BY_NAME: dict[str, Callable[[World], Any]] = {
    "username": lambda w: w.username,
    "email": lambda w: f"{w.username}@example.com",
    "asset_id": lambda w: w.asset_id,
    "asset_ids": lambda w: [w.asset_id],
    "order_id": lambda w: w.order_id,
    "transaction_id": lambda w: w.transaction_id,
    "amount": lambda w: "1.00",
    "quantity": lambda w: "1",
    "category": lambda w: "sweep",
    "password": lambda w: "Correct-Horse-9-battery",
    "password_hash": lambda w: "hash",
    "hashed": lambda w: "$2b$04$abcdefghijklmnopqrstuuJZ8e7bE1u6k5H8q0Wl6o3s8cV2fN9aW",
    "stored_hash": lambda w: None,
    "verifier": lambda w: SimpleNamespace(verify_password=lambda p, h: False),
    "user": _user_create,
    "changes": lambda w: None,  # per target, see OVERRIDES
    "expected_version": lambda w: 1,
    "status": lambda w: "confirmed",
    "order": lambda w: None,  # per target
    "record": lambda w: None,  # per target
    "records": lambda w: [],
    "asset": lambda w: _asset_create(),
    "tables": lambda w: w.settings.tables,
    "client": lambda w: w.client,
    "settings": lambda w: w.settings,
    "redis": lambda w: None,
    "current": lambda w: "pending",
    "new": lambda w: "confirmed",
    "exc": lambda w: CNOPException("boom"),
    "text": lambda w: "some text",
    "value": lambda w: "value",
    "keys": lambda w: "token",
    "action": lambda w: "sweep",
    "message": lambda w: "message",
    "name": lambda w: _unique("lock-"),
    "token": lambda w: _unique("tok-"),
    "ttl": lambda w: 5.0,
    "timeout": lambda w: 0.0,
    "previous": lambda w: None,
    "operation": lambda w: "deposit",
    "url": lambda w: w.redis_url,
    "table": lambda w: _unique("sweep-locks-"),
    "service": lambda w: "sweep",
    "headers": lambda w: {"X-User-ID": "alice_01"},
    "context": lambda w: _user_context(),
    "role": lambda w: "customer",
    "jti": lambda w: "jti-1",
    "expires_at": lambda w: datetime.now(timezone.utc) + timedelta(minutes=1),
    "event": lambda w: "login_success",
    "success": lambda w: True,
    "secret": lambda w: SECRET,
    "pem": lambda w: "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
    "algorithm": lambda w: "RS256",
    "kid": lambda w: "k1",
    "signing": lambda w: _hmac_key(),
    "manager": lambda w: w.instances["PasswordManager"],
    "refresh_token": lambda w: "not.a.token",
    "attempt": lambda w: 1,
    "number": lambda w: Decimal(1),
    "data": lambda w: None,  # per target
    "obj": lambda w: {},
    "json_data": lambda w: "{}",
    "ok": lambda w: True,
    "latency_ms": lambda w: 1.0,
    "items": lambda w: [],
    "next_cursor": lambda w: None,
    "acquired": lambda w: True,
    "backend": lambda w: w.instances["InMemoryLockBackend"],
    "assets": lambda w: None,  # per target
    "region": lambda w: "us-east-1",
    # cnop.data flows of the order lifecycle and corrections
    "price": lambda w: "1",
    "reason": lambda w: "sweep correction",
    "operator": lambda w: "ops_sweep",
}


def _user_context() -> Any:
    from cnop.auth import UserContext

    return UserContext(authenticated=True, user_id="alice_01", role="customer")


#: The caller headers a gateway signs (a valid, authenticated caller).
_CALLER = {"X-User-ID": "alice_01", "X-User-Role": "customer", "X-Authenticated": "true"}


def _signer(w: World) -> Any:
    if "GatewaySigner" not in w.instances:
        w.instances["GatewaySigner"] = INSTANCES["GatewaySigner"](w)
    return w.instances["GatewaySigner"]


def _signed_request(w: World) -> dict[str, Any]:
    """A freshly signed request (a new nonce each time: a replay is a different finding)."""
    headers = _signer(w).sign(_CALLER, method="GET", target="/orders?limit=10")
    return {"headers": headers, "method": "GET", "target": "/orders?limit=10"}


def _ec_pem() -> bytes:
    """A fresh P-256 private key (ES256), as PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ec_jwk() -> dict[str, Any]:
    """The public JWK of a fresh ES256 key."""
    from cnop.auth import JWTKey

    jwk: dict[str, Any] = JWTKey.from_pem(_ec_pem(), algorithm="ES256", kid="k1").public_jwk()
    return jwk


def _jwks_client(w: World) -> Any:
    """A JWKSClient serving one EC public key, from memory (no HTTP)."""
    import json

    from cnop.auth import JWKSClient

    document = json.dumps({"keys": [_ec_jwk()]})
    body = document.encode()
    return JWKSClient("https://auth.invalid/jwks.json", fetch=lambda url, timeout: body)


def _model(name: str) -> Callable[[World], dict[str, Any]]:
    return MODELS[name]


#: Valid required arguments for a target whose parameter names are ambiguous.
OVERRIDES: dict[str, Callable[[World], dict[str, Any]]] = {
    "schema_problems": lambda w: {
        "definition": _cls("cnop.data", "table_definitions")(w.settings.tables)[0],
        "table": {},
    },
    "BaseLogger": lambda w: {"name": "sweep"},
    "Counter": lambda w: {
        "name": "sweep_total",
        "unit": "",
        "description": "",
        "labels": (),
        "otel": None,
    },
    "Histogram": lambda w: {
        "name": "sweep_seconds",
        "unit": "",
        "description": "",
        "labels": (),
        "otel": None,
    },
    "Metrics.counter": lambda w: {"name": _unique("sweep_c_")},
    "Metrics.histogram": lambda w: {"name": _unique("sweep_h_")},
    "Histogram.record": lambda w: {"value": 1.0},
    "UserDAO.update_user": lambda w: {
        "username": w.username,
        "changes": _update("UserUpdate", first_name="Ada"),
        "expected_version": 1,
    },
    "AssetDAO.update_asset": lambda w: {
        "asset_id": w.asset_id,
        "changes": _update("AssetUpdate", name="Sweep"),
        "expected_version": 1,
    },
    "OrderDAO.create_order": lambda w: {"order": _order(w)},
    "BalanceDAO.create_transaction": lambda w: {"record": _balance_tx(w)},
    "AssetTransactionDAO.create_transaction": lambda w: {"record": _asset_tx(w)},
    "TransactionManager.place_limit_order": lambda w: {
        "username": w.username,
        "order": _limit_order(w),
    },
    "User.new": lambda w: {"data": _user_create(w), "password_hash": "hash"},
    "Order.new": lambda w: {"username": w.username, "data": _market_order(w)},
    "Asset.new": lambda w: {"data": _asset_create()},
    "CachedAssetDAO": lambda w: {"assets": w.instances["AssetDAO"], "redis": w.redis},
    "AsyncCachedAssetDAO": lambda w: {
        "assets": w.instances["AsyncAssetDAO"],
        "redis": w.async_redis,
    },
    "CachedAssetDAO.remember": lambda w: {"asset": _stored_asset(w)},
    "PasswordPolicy.validate": lambda w: {"password": "Correct-Horse-9-battery"},
    "JWTKey": lambda w: {
        "kid": "k1",
        "algorithm": "HS256",
        "verifier": _hmac_key().verifier,
        "signer": _hmac_key().signer,
    },
    "JWTKey.hmac": lambda w: {"secret": SECRET},
    "JWTKey.from_pem": lambda w: {"pem": _ec_pem(), "algorithm": "ES256", "kid": "k1"},
    "JWTKey.from_jwk": lambda w: {"data": _ec_jwk()},
    "JWKSClient": lambda w: {"url": "https://auth.invalid/jwks.json"},
    "GatewaySigner.from_env": lambda w: {"environ": {"GATEWAY_SIGNING_SECRET": SECRET}},
    "TokenSettings.from_env": lambda w: {"environ": {"JWT_SECRET_KEY": SECRET}},
    "UserContext.from_headers": lambda w: {"headers": _CALLER},
    "TokenSettings": lambda w: {"keys": w.instances["KeySet"]},
    "TokenManager": lambda w: {"settings": w.instances["TokenSettings"]},
    "TokenManager.verify_access_token": lambda w: {"token": "not.a.token"},
    "TokenManager.verify_refresh_token": lambda w: {"token": "not.a.token"},
    "TokenManager.revoke_token": lambda w: {"token": "not.a.token"},
    "InMemoryRevocationList.revoke": lambda w: {
        "jti": "jti-1",
        "expires_at": datetime.now(timezone.utc) + timedelta(minutes=1),
    },
    "AsyncInMemoryLockBackend": lambda w: {"table": w.instances["InMemoryLockBackend"]},
    "RedisLockBackend": lambda w: {"client": w.redis},
    "AsyncRedisLockBackend": lambda w: {"client": w.async_redis},
    "ThreadedAsyncBackend": lambda w: {"backend": w.instances["InMemoryLockBackend"]},
    "LockManager": lambda w: {"backend": w.instances["InMemoryLockBackend"]},
    "LockManager.lock": lambda w: {"name": _unique("lock-")},
    "LockManager.alock": lambda w: {"name": _unique("lock-")},
    "LockManager.force_release": lambda w: {"name": _unique("lock-")},
    "LockManager.aforce_release": lambda w: {"name": _unique("lock-")},
    "LockManager.dynamodb": lambda w: {
        "table": w.instances["_lock_table"],
        "endpoint_url": os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"),
        "region_name": "us-east-1",
    },
    "DynamoDBLockBackend": lambda w: {"table": w.instances["_lock_table"], "client": w.client},
    "DynamoDBLockBackend.connect": lambda w: {
        "table": w.instances["_lock_table"],
        "endpoint_url": os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"),
        "region_name": "us-east-1",
    },
    "delete_tables": lambda w: {"client": w.client, "tables": _no_such_tables()},
    "describe_tables": lambda w: {"client": w.client, "tables": w.settings.tables},
    "create_tables": lambda w: {"client": w.client, "tables": w.settings.tables},
    "check_health": lambda w: {"client": w.client, "tables": w.settings.tables},
    "async_check_health": lambda w: {"client": w.async_client, "tables": w.settings.tables},
    "Attempt": lambda w: {"acquired": True},
    "KeySet": lambda w: {"signing": _hmac_key()},
    "KeySet.verifying": lambda w: {"keys": [_hmac_key()]},
    "TokenManager.from_jwks": lambda w: {"jwks": _jwks_client(w)},
    "GatewaySigner.sign": lambda w: {
        "headers": _CALLER,
        "method": "POST",
        "target": "/orders",
        "body": b"{}",
    },
    "GatewaySigner.verify": _signed_request,
    "GatewaySigner.verify_async": _signed_request,
    "GatewaySigner.authenticate": _signed_request,
    "GatewaySigner.authenticate_async": _signed_request,
    "InMemoryNonceStore.use_once": lambda w: {
        "nonce": _unique("nonce-0123456789-"),
        "ttl_seconds": 5,
    },
    "InMemoryNonceStore.use_once_async": lambda w: {
        "nonce": _unique("nonce-0123456789-"),
        "ttl_seconds": 5,
    },
    "HealthReport": lambda w: {"checks": {}},
}
for _name in MODELS:
    OVERRIDES.setdefault(_name, MODELS[_name])
for _name in ("TokenClaims", "AccessToken", "TokenPair"):
    # A valid object, so that the other arguments (strict, context, ...) are swept too.
    OVERRIDES[f"{_name}.model_validate"] = lambda w, _n=_name: {"obj": MODELS[_n](w)}
    OVERRIDES[f"{_name}.model_validate_json"] = lambda w, _n=_name: {
        "json_data": _cls("cnop.auth", _n)(**MODELS[_n](w)).model_dump_json()
    }
# The async forms take the same arguments as the sync ones.
for _name in list(OVERRIDES):
    if "DAO" in _name or _name.startswith("TransactionManager"):
        OVERRIDES.setdefault("Async" + _name, OVERRIDES[_name])
OVERRIDES["AsyncCachedAssetDAO.remember"] = OVERRIDES["CachedAssetDAO.remember"]
for _async in (
    "AsyncUserDAO",
    "AsyncBalanceDAO",
    "AsyncOrderDAO",
    "AsyncAssetDAO",
    "AsyncAssetBalanceDAO",
    "AsyncAssetTransactionDAO",
    "AsyncTransactionManager",
):
    OVERRIDES[_async] = lambda w: {"client": w.async_client, "settings": w.settings}


def _no_such_tables() -> Any:
    from cnop.data import TableNames

    return TableNames.from_env(_unique("none-") + "-", {})


def _update(model: str, **fields: Any) -> Any:
    import cnop.data

    return getattr(cnop.data, model)(**fields)


def _market_order(w: World) -> Any:
    from cnop.data import OrderCreate

    return OrderCreate(order_type="market_buy", asset_id=w.asset_id, quantity="1")


def _limit_order(w: World) -> Any:
    from cnop.data import OrderCreate

    return OrderCreate(
        order_type="limit_buy", asset_id=w.asset_id, quantity="1", limit_price="0.01"
    )


def _order(w: World) -> Any:
    from cnop.data import Order

    return Order.new(w.username, _market_order(w))


def _balance_tx(w: World) -> Any:
    from cnop.data import BalanceTransaction

    return BalanceTransaction(username=w.username, transaction_type="deposit", amount="1")


def _asset_tx(w: World) -> Any:
    from cnop.data import AssetTransaction

    return AssetTransaction(
        username=w.username,
        asset_id=w.asset_id,
        transaction_type="buy",
        quantity="1",
        price_usd="1",
    )


def _stored_asset(w: World) -> Any:
    return w.instances["AssetDAO"].get_asset(w.asset_id)


#: How to build the instance whose methods are swept, by class name.
INSTANCES: dict[str, Callable[[World], Any]] = {
    "BaseLogger": lambda w: _cls("cnop.logging", "BaseLogger")("sweep"),
    "AuditLogger": lambda w: _cls("cnop.logging", "AuditLogger")(),
    "Counter": lambda w: _cls("cnop.logging", "Metrics")().counter(_unique("sweep_c_")),
    "Histogram": lambda w: _cls("cnop.logging", "Metrics")().histogram(_unique("sweep_h_")),
    "HeldLock": lambda w: w.instances["_held"],
    "AsyncHeldLock": lambda w: w.instances["_aheld"],
    "Metrics": lambda w: _cls("cnop.logging", "Metrics")(),
    "GatewaySigner": lambda w: _cls("cnop.auth", "GatewaySigner")(SECRET),
    "InMemoryNonceStore": lambda w: _cls("cnop.auth", "InMemoryNonceStore")(),
    "JWKSClient": _jwks_client,
    "InMemoryRevocationList": lambda w: _cls("cnop.auth", "InMemoryRevocationList")(),
    "JWTKey": lambda w: _hmac_key(),
    "KeySet": lambda w: _cls("cnop.auth", "KeySet")(signing=_hmac_key()),
    "PasswordManager": lambda w: _cls("cnop.auth", "PasswordManager")(bcrypt_rounds=4),
    "PasswordPolicy": lambda w: _cls("cnop.auth", "PasswordPolicy")(),
    "TokenSettings": lambda w: _cls("cnop.auth", "TokenSettings")(
        keys=_cls("cnop.auth", "KeySet")(signing=_hmac_key())
    ),
    "TokenManager": lambda w: _token_manager(),
    "UserContext": lambda w: _user_context(),
    "InMemoryLockBackend": lambda w: _cls("cnop.locking", "InMemoryLockBackend")(),
    "AsyncInMemoryLockBackend": lambda w: _cls("cnop.locking", "AsyncInMemoryLockBackend")(
        w.instances["InMemoryLockBackend"]
    ),
    "ThreadedAsyncBackend": lambda w: _cls("cnop.locking", "ThreadedAsyncBackend")(
        w.instances["InMemoryLockBackend"]
    ),
    "RedisLockBackend": lambda w: _cls("cnop.locking", "RedisLockBackend")(w.redis),
    "AsyncRedisLockBackend": lambda w: _cls("cnop.locking", "AsyncRedisLockBackend")(w.async_redis),
    "DynamoDBLockBackend": lambda w: _cls("cnop.locking", "DynamoDBLockBackend")(
        w.instances["_lock_table"], w.client
    ),
    "LockManager": lambda w: _cls("cnop.locking", "LockManager").in_memory(),
    "Backoff": lambda w: _cls("cnop.data", "Backoff")(),
    "RetryPolicy": lambda w: _cls("cnop.data", "RetryPolicy")(),
    "FlowLimits": lambda w: _cls("cnop.data", "FlowLimits")(),
    "DataSettings": lambda w: w.settings,
    "TableNames": lambda w: w.settings.tables,
    "CachedAssetDAO": lambda w: _cls("cnop.data", "CachedAssetDAO")(
        w.instances["AssetDAO"], w.redis
    ),
    "AsyncCachedAssetDAO": lambda w: _cls("cnop.data", "AsyncCachedAssetDAO")(
        w.instances["AsyncAssetDAO"], w.async_redis
    ),
}
for _dao in ("UserDAO", "BalanceDAO", "OrderDAO", "AssetDAO", "AssetBalanceDAO"):
    INSTANCES[_dao] = lambda w, _n=_dao: _cls("cnop.data", _n)(settings=w.settings)
INSTANCES["AssetTransactionDAO"] = lambda w: _cls("cnop.data", "AssetTransactionDAO")(
    settings=w.settings
)
INSTANCES["TransactionManager"] = lambda w: _cls("cnop.data", "TransactionManager")(
    settings=w.settings
)
for _dao in (
    "UserDAO",
    "BalanceDAO",
    "OrderDAO",
    "AssetDAO",
    "AssetBalanceDAO",
    "AssetTransactionDAO",
    "TransactionManager",
):
    INSTANCES["Async" + _dao] = lambda w, _n=_dao: _cls("cnop.data", "Async" + _n)(
        w.async_client, settings=w.settings
    )
for _name in MODELS:
    INSTANCES[_name] = lambda w, _n=_name: None  # their methods are classmethods

#: Entry points that write to DynamoDB: a refused value must leave the tables unchanged.
WRITERS = {
    f"{prefix}{name}"
    for prefix in ("", "Async")
    for name in (
        "UserDAO.create_user",
        "UserDAO.update_user",
        "BalanceDAO.create_transaction",
        "BalanceDAO.create_transactions",
        "AssetTransactionDAO.create_transaction",
        "AssetTransactionDAO.create_transactions",
        "OrderDAO.create_order",
        "OrderDAO.update_status",
        "TransactionManager.deposit",
        "TransactionManager.withdraw",
        "TransactionManager.buy",
        "TransactionManager.sell",
        "TransactionManager.place_limit_order",
        "TransactionManager.cancel_order",
    )
}

#: Findings not fixed yet: (target, parameter) -> the first wrong outcome seen. Each is
#: left out of the sweep and checked by ``test_known_finding`` as a strict xfail.
KNOWN: dict[tuple[str, str], str] = {}


def _cls(package: str, name: str) -> Any:
    return getattr(importlib.import_module(package), name)


# --- enumeration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    package: str
    owner: str | None  # the class, for a method
    attr: str  # the method's name (the class's or function's own name otherwise)


def _is_swept_class(obj: Any) -> bool:
    return not (issubclass(obj, enum.Enum) or getattr(obj, "_is_protocol", False))


def _takes_input(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in params
    )


def targets() -> list[Target]:
    found: list[Target] = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj):
                continue
            if not inspect.isclass(obj):
                if _takes_input(obj):
                    found.append(Target(name, package, None, name))
                continue
            if not _is_swept_class(obj):
                continue
            if _takes_input(obj):
                found.append(Target(name, package, None, name))
            if issubclass(obj, BaseException):
                continue
            for attr, member in inspect.getmembers(obj):
                if attr.startswith("_") or isinstance(inspect.getattr_static(obj, attr), property):
                    continue
                home = next((k for k in obj.__mro__ if attr in vars(k)), None)
                if home is None or not home.__module__.startswith("cnop."):
                    continue
                if callable(member) and _takes_input(member):
                    found.append(Target(f"{name}.{attr}", package, name, attr))
    return found


ALL_TARGETS = targets()


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(dynamodb_endpoint: str, redis_url: str) -> Iterator[World]:
    import redis
    import redis.asyncio as aredis

    from cnop.data import (
        AssetDAO,
        DataSettings,
        TableNames,
        TransactionManager,
        UserDAO,
        create_tables,
        dynamodb_client,
    )
    from cnop.data.aio import open_async_client

    settings = DataSettings.from_env(
        endpoint_url=dynamodb_endpoint,
        tables=TableNames.from_env(_unique("hostile-") + "-", {}),
        region="us-east-1",
    )
    client = dynamodb_client(settings)
    create_tables(client, settings.tables)
    loop = asyncio.new_event_loop()
    opened = open_async_client(settings)
    async_client = loop.run_until_complete(opened.__aenter__())
    sync_redis = redis.Redis.from_url(redis_url)
    async_redis = aredis.Redis.from_url(redis_url)
    users = UserDAO(settings=settings, client=client)
    user = users.create_user(_user_create(None), "hash")  # type: ignore[arg-type]
    asset = AssetDAO(settings=settings, client=client).create_asset(_asset_create())
    flows = TransactionManager(settings=settings, client=client)
    flows.deposit(user.username, "100")
    bought = flows.buy(user.username, asset.asset_id, "1")
    assert bought.order is not None
    assert bought.balance_transaction is not None
    w = World(
        loop=loop,
        settings=settings,
        client=client,
        async_client=async_client,
        redis_url=redis_url,
        redis=sync_redis,
        async_redis=async_redis,
        username=user.username,
        asset_id=asset.asset_id,
        order_id=bought.order.order_id,
        transaction_id=bought.balance_transaction.transaction_id,
    )
    w.instances["_lock_table"] = _unique("sweep-locks-")
    for name in ("InMemoryLockBackend", "AssetDAO", "AsyncAssetDAO", "KeySet", "TokenSettings"):
        w.instances[name] = INSTANCES[name](w)
    w.instances["PasswordManager"] = INSTANCES["PasswordManager"](w)
    # A lock held for the whole sweep, whose extend() is swept.
    locks = _cls("cnop.locking", "LockManager").in_memory()
    held = locks.lock(_unique("held-"), ttl=600)
    w.instances["_held"] = held.__enter__()
    aheld = locks.alock(_unique("aheld-"), ttl=600)
    w.instances["_aheld"] = loop.run_until_complete(aheld.__aenter__())
    try:
        yield w
    finally:
        # The sweep of extend() shortens these leases (ttl=5, ...): they may be lost by now.
        with contextlib.suppress(CNOPLockLostException):
            loop.run_until_complete(aheld.__aexit__(None, None, None))
        with contextlib.suppress(CNOPLockLostException):
            held.__exit__(None, None, None)
        loop.run_until_complete(opened.__aexit__(None, None, None))
        loop.run_until_complete(async_redis.aclose())
        loop.close()
        sync_redis.close()


# --- the sweep ----------------------------------------------------------------------------


def _callable(w: World, target: Target) -> Any:
    if target.owner is None:
        return _cls(target.package, target.attr)
    cls = _cls(target.package, target.owner)
    raw = inspect.getattr_static(cls, target.attr)
    if isinstance(raw, (classmethod, staticmethod)):
        return getattr(cls, target.attr)
    if target.owner not in w.instances:
        if target.owner not in INSTANCES:
            pytest.fail(f"add an INSTANCES entry for {target.owner} (to sweep {target.name})")
        w.instances[target.owner] = w.run(INSTANCES[target.owner](w))
    return getattr(w.instances[target.owner], target.attr)


def _baseline(w: World, target: Target, fn: Any) -> tuple[dict[str, Any], list[str]]:
    """Valid keyword arguments for every required parameter, and the parameters to sweep."""
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    given = OVERRIDES[target.name](w) if target.name in OVERRIDES else {}
    kwargs: dict[str, Any] = {}
    for p in params:
        if p.name in given:
            kwargs[p.name] = given[p.name]
        elif p.default is inspect.Parameter.empty:
            make = VALID_BY_NAME.get(p.name)
            value = make(w) if make is not None else None
            if value is None and make is None:
                pytest.fail(
                    f"add a corpus entry (VALID_BY_NAME or OVERRIDES) for parameter "
                    f"'{p.name}' of {target.name}"
                )
            kwargs[p.name] = value
    return kwargs, [p.name for p in params]


def _call(w: World, fn: Any, kwargs: dict[str, Any]) -> BaseException | None:
    try:
        result = w.run(fn(**kwargs))
    except CNOPException:
        return None
    except Exception as exc:  # the finding: any other exception type
        return exc
    if inspect.isawaitable(result):  # pragma: no cover - run() awaited it
        return TypeError("an awaitable was returned twice")
    return None


def _outcome(w: World, target: Target, param: str, hostile: str) -> BaseException | None:
    fn = _callable(w, target)
    kwargs, _ = _baseline(w, target, fn)
    kwargs[param] = HOSTILE[hostile]
    before = w.snapshot() if target.name in WRITERS else None
    try:
        result = w.run(fn(**kwargs))
    except CNOPException:
        if before is not None and w.snapshot() != before:
            return AssertionError(f"{target.name} refused {param}={hostile} but wrote")
        return None
    except Exception as exc:  # the finding: any other exception type
        return exc
    del result
    return None


@pytest.mark.integration
def test_every_public_callable_has_a_corpus_or_a_reason() -> None:
    names = {t.name for t in ALL_TARGETS}
    assert len(names) > 200, "the enumeration found too little; is __all__ read?"
    stale = set(NOT_SWEPT) - names
    assert not stale, f"NOT_SWEPT names callables that are gone: {sorted(stale)}"


@pytest.mark.integration
@pytest.mark.parametrize("target", ALL_TARGETS, ids=lambda t: t.name)
def test_hostile_values_meet_typed_errors_only(world: World, target: Target) -> None:
    if target.name in NOT_SWEPT:
        pytest.skip(NOT_SWEPT[target.name])
    fn = _callable(world, target)
    _, params = _baseline(world, target, fn)
    findings = []
    for param in params:
        if (target.name, param) not in KNOWN:
            findings += _findings(world, target, param)
    assert not findings, f"{target.name} let these through:\n" + "\n".join(findings)


def _findings(world: World, target: Target, param: str) -> list[str]:
    found = []
    for hostile in HOSTILE:
        error = _outcome(world, target, param, hostile)
        if error is not None:
            found.append(f"{param}={hostile}: {type(error).__name__}: {str(error)[:160]}")
    return found


@pytest.mark.integration
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=why))
        for case, why in KNOWN.items()
    ],
    ids="-".join,
)
def test_known_finding(world: World, case: tuple[str, str]) -> None:
    name, param = case
    target = next(t for t in ALL_TARGETS if t.name == name)
    findings = _findings(world, target, param)
    assert not findings, "\n".join(findings)


@pytest.mark.integration
@pytest.mark.parametrize("dao", ["UserDAO", "AsyncUserDAO"])
@pytest.mark.parametrize(
    "field_name", ["username", "email", "first_name", "last_name", "phone", "date_of_birth"]
)
def test_a_forged_user_create_writes_nothing(world: World, dao: str, field_name: str) -> None:
    """A UserCreate built without validation (model_construct) is checked again on write."""
    from cnop.data import UserCreate

    create = _callable(world, Target(f"{dao}.create_user", "cnop.data", dao, "create_user"))
    for hostile, value in HOSTILE.items():
        fields = _user_create(world).model_dump()
        fields[field_name] = value
        try:
            UserCreate(**fields)
        except CNOPException:
            pass
        else:
            continue  # a valid value for this field (None for an optional one)
        forged = UserCreate.model_construct(**fields)
        before = world.snapshot()
        with pytest.raises(CNOPException):
            world.run(create(user=forged, password_hash="hash"))
        assert world.snapshot() == before, f"{field_name}={hostile} was written"


def _lock_operation() -> Any:
    return _cls("cnop.locking", "LockManager").in_memory().user_lock("alice_01", "deposit\n")


def _lock_table() -> Any:
    return _cls("cnop.locking", "DynamoDBLockBackend")("locks\n", client=object())


def _data_table() -> Any:
    return _cls("cnop.data", "TableNames")(users="users\n", orders="orders", inventory="items")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_lock_operation, id="locking-operation"),
        pytest.param(_lock_table, id="locking-table"),
        pytest.param(_data_table, id="data-table-names"),
    ],
)
def test_a_trailing_newline_is_refused_by_every_pattern(make: Callable[[], Any]) -> None:
    """Values checked by a pattern outside the validators of cnop.data (see validation.py)."""
    with pytest.raises(CNOPException):
        make()
