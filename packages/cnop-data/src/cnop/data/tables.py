"""The three tables in code, and idempotent create / delete / describe.

All tables: string keys ``pk``/``sk``, on-demand billing, GSIs ``gsi1`` (and ``gsi2``
for orders and inventory) projecting all attributes. See the README for what each
key holds.
"""

from __future__ import annotations

import time
from typing import Any

from cnop.data.config import TableNames
from cnop.data.errors import map_error

__all__ = ["create_tables", "delete_tables", "describe_tables", "table_definitions"]

_GSIS = {"users": ("gsi1",), "orders": ("gsi1", "gsi2"), "inventory": ("gsi1", "gsi2")}


def _definition(name: str, gsis: tuple[str, ...]) -> dict[str, Any]:
    attributes = ["pk", "sk"] + [f"{g}{part}" for g in gsis for part in ("pk", "sk")]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": g,
                "KeySchema": [
                    {"AttributeName": f"{g}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{g}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for g in gsis
        ],
    }


def table_definitions(tables: TableNames) -> list[dict[str, Any]]:
    """CreateTable parameters for the users, orders and inventory tables."""
    return [
        _definition(tables.users, _GSIS["users"]),
        _definition(tables.orders, _GSIS["orders"]),
        _definition(tables.inventory, _GSIS["inventory"]),
    ]


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _describe(client: Any, name: str) -> dict[str, Any] | None:
    try:
        table: dict[str, Any] = client.describe_table(TableName=name)["Table"]
        return table
    except Exception as exc:
        if _error_code(exc) == "ResourceNotFoundException":
            return None
        raise map_error(exc, table=name, operation="describe_table") from None


def _wait(client: Any, name: str, *, gone: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = _describe(client, name)
        if gone and table is None:
            return
        if not gone and table is not None and table.get("TableStatus") == "ACTIVE":
            indexes = table.get("GlobalSecondaryIndexes", [])
            if all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
                return
        time.sleep(0.2)
    raise map_error(TimeoutError(), table=name, operation="wait_for_table")


def create_tables(client: Any, tables: TableNames, *, timeout: float = 120) -> list[str]:
    """Create the tables that do not exist yet and wait until all are active.

    Returns the names created (empty when all existed): safe to run again.
    """
    created = []
    for definition in table_definitions(tables):
        name = definition["TableName"]
        if _describe(client, name) is None:
            try:
                client.create_table(**definition)
                created.append(name)
            except Exception as exc:
                if _error_code(exc) != "ResourceInUseException":  # created meanwhile
                    raise map_error(exc, table=name, operation="create_table") from None
    for name in tables.all():
        _wait(client, name, gone=False, timeout=timeout)
    return created


def delete_tables(client: Any, tables: TableNames, *, timeout: float = 120) -> list[str]:
    """Delete the tables that exist; returns the names deleted (safe to run again)."""
    deleted = []
    for name in tables.all():
        try:
            client.delete_table(TableName=name)
            deleted.append(name)
        except Exception as exc:
            if _error_code(exc) not in ("ResourceNotFoundException", "ResourceInUseException"):
                raise map_error(exc, table=name, operation="delete_table") from None
    for name in deleted:
        _wait(client, name, gone=True, timeout=timeout)
    return deleted


def describe_tables(client: Any, tables: TableNames) -> dict[str, dict[str, Any] | None]:
    """For each table: status, item count, key schema and index names (None if missing)."""
    summary: dict[str, dict[str, Any] | None] = {}
    for name in tables.all():
        table = _describe(client, name)
        summary[name] = (
            None
            if table is None
            else {
                "status": table.get("TableStatus"),
                "items": table.get("ItemCount", 0),
                "keys": [k["AttributeName"] for k in table.get("KeySchema", [])],
                "indexes": sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])),
            }
        )
    return summary
