"""Fixtures shared by every test package: real servers on loopback.

A server named by the environment (``AWS_ENDPOINT_URL_DYNAMODB``, ``REDIS_URL``,
``REDIS_CLUSTER_URL``) is used as it is; otherwise the fixture starts a private one
for the session with ``tools/testservers.py`` and stops it by PID at the end.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


testservers = _load("cnop_testservers", ROOT / "tools" / "testservers.py")
# dynamodb_proxy and redis_proxy: fault-injecting proxies in front of the servers below.
_proxies = _load("cnop_faultproxy_fixtures", ROOT / "tests" / "faultproxy_fixtures.py")
dynamodb_proxy, redis_proxy = _proxies.dynamodb_proxy, _proxies.redis_proxy

# DynamoDB Local accepts any credentials; boto3 insists on having some.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])


def _server_url(env_name: str, kind: str) -> Iterator[str]:
    given = os.environ.get(env_name)
    if given:
        yield given
        return
    server = testservers.start(kind)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """URL of a DynamoDB Local shared by the session (in memory)."""
    yield from _server_url("AWS_ENDPOINT_URL_DYNAMODB", "dynamodb")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://`` URL of a single redis-server shared by the session."""
    yield from _server_url("REDIS_URL", "redis")


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """``redis+cluster://host:port`` of a three-master Redis Cluster shared by the session."""
    yield from _server_url("REDIS_CLUSTER_URL", "redis-cluster")


@pytest.fixture
def private_servers() -> Iterator[Callable[..., Any]]:
    """Start servers that only this test uses (for stopping, killing, restarting).

    ``start = private_servers; server = start("redis")`` or
    ``start("dynamodb", db_path=tmp_path)``; all are stopped after the test.
    """
    started: list[Any] = []

    def start(kind: str, **kwargs: Any) -> Any:
        if kind == "dynamodb":
            server = testservers.start_dynamodb(**kwargs)
        elif kind == "redis":
            server = testservers.start_redis(**kwargs)
        elif kind == "redis-cluster":
            server = testservers.start_redis_cluster(**kwargs)
        else:
            raise ValueError(f"unknown server kind {kind!r}")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Names that no other test (or earlier run on a shared server) uses."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make
