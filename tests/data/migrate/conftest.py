"""Source tables in the original layout and fresh cnop target tables, per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cnop.data import DataSettings, TableNames, create_tables, dynamodb_client

from .original import Original, create_source_tables


def _names(prefix: str) -> TableNames:
    return TableNames(f"{prefix}users", f"{prefix}orders", f"{prefix}inventory")


@pytest.fixture
def client(dynamodb_endpoint: str) -> Any:
    settings = DataSettings.from_env(endpoint_url=dynamodb_endpoint, region="us-east-1")
    return dynamodb_client(settings)


@pytest.fixture
def source(client: Any) -> Iterator[TableNames]:
    names = _names(f"orig{uuid.uuid4().hex[:10]}-")
    create_source_tables(client, names)
    yield names
    for name in names.all():
        client.delete_table(TableName=name)


@pytest.fixture
def target(client: Any) -> Iterator[TableNames]:
    names = _names(f"cnop{uuid.uuid4().hex[:10]}-")
    create_tables(client, names)
    yield names
    for name in names.all():
        client.delete_table(TableName=name)


@pytest.fixture
def original(client: Any, source: TableNames) -> Original:
    return Original(client, source)
