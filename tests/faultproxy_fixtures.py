"""Fault-injecting proxies (``tools/faultproxy.py``) in front of the session's servers.

``dynamodb_proxy`` stands in front of the session's DynamoDB Local, ``redis_proxy`` in front
of its Redis; both are new for each test and stopped after it. Give ``proxy.url`` to the
client under test (``endpoint_url=`` for boto3/aioboto3 or DataSettings, a ``redis://`` URL
for redis-py or ``LockManager.from_url``) and keep a direct client for checking what the
server really holds. The module's names (``DROP_REPLY``, ``delay``, ``throttle``, ...) are
importable in tests as ``cnop_faultproxy``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_faultproxy() -> Any:
    name = "cnop_faultproxy"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "faultproxy.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


faultproxy = _load_faultproxy()


@pytest.fixture
def dynamodb_proxy(dynamodb_endpoint: str) -> Iterator[Any]:
    """A ``FaultProxy`` in front of the session's DynamoDB Local; ``.url`` is its endpoint."""
    with faultproxy.FaultProxy(dynamodb_endpoint, "http") as proxy:
        yield proxy


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[Any]:
    """A ``FaultProxy`` in front of the session's Redis; ``.url`` is a ``redis://`` URL."""
    with faultproxy.FaultProxy(redis_url, "redis") as proxy:
        yield proxy
