"""The three tables in code, and idempotent create / delete / describe / verify.

All tables: string keys ``pk``/``sk``, on-demand billing, GSIs ``gsi1`` (and ``gsi2``
for orders and inventory) projecting all attributes. See the README for what each
key holds.

An existing table is only accepted when its key schema, key attribute types and GSIs
(names, key schemas, projection) are the ones defined here: a table keyed differently
would make every read fail later with a 500-class error, so it is refused up front
with a :class:`CNOPConfigurationException` that names the table and what differs.
Nothing here ever changes an existing table (no silent migration).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from cnop.data.config import TableNames
from cnop.data.errors import map_error
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException

__all__ = [
    "checked_tables",
    "create_tables",
    "delete_tables",
    "describe_tables",
    "schema_problems",
    "table_definitions",
    "verify_tables",
]

# orders: gsi1 by user, gsi2 by user and asset, gsi3 waiting limit orders by asset, side and
# limit, gsi4 waiting orders by expiry (both sparse).
_GSIS = {
    "users": ("gsi1",),
    "orders": ("gsi1", "gsi2", "gsi3", "gsi4"),
    "inventory": ("gsi1", "gsi2"),
}
_ROLES = ("users", "orders", "inventory")
# fullmatch, not `$`: `$` also matches before a trailing newline.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_MAX_WAIT = 3600.0


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


def checked_tables(tables: object) -> TableNames:
    """``tables`` if it is a :class:`TableNames` of three distinct, well-formed names.

    Raises CNOPValidationException for another type, CNOPConfigurationException for a
    name with whitespace, control characters or other characters DynamoDB refuses
    (the variable is named, the value is not echoed), or for two roles sharing a table.
    """
    if not isinstance(tables, TableNames):
        raise CNOPValidationException.for_field(
            "tables", f"must be a TableNames, not {type(tables).__name__}"
        )
    for role in _ROLES:
        name = getattr(tables, role)
        if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
            variable = f"{role.upper()}_TABLE"
            raise CNOPConfigurationException(
                f"{variable} must be 3-255 characters of letters, digits, '_', '-' or '.' "
                "(no whitespace or control characters)",
                details={"variable": variable},
            )
    if len(set(tables.all())) != len(_ROLES):
        raise CNOPConfigurationException(
            "USERS_TABLE, ORDERS_TABLE and INVENTORY_TABLE must name three different tables"
        )
    return tables


def _checked_timeout(timeout: object) -> float:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or not 0 < timeout <= _MAX_WAIT
    ):
        raise CNOPValidationException.for_field(
            "timeout", f"must be a number of seconds above 0 and at most {_MAX_WAIT:g}"
        )
    return float(timeout)


def table_definitions(tables: TableNames) -> list[dict[str, Any]]:
    """CreateTable parameters for the users, orders and inventory tables.

    ``tables`` is checked as by :func:`checked_tables`.
    """
    tables = checked_tables(tables)
    return [
        _definition(tables.users, _GSIS["users"]),
        _definition(tables.orders, _GSIS["orders"]),
        _definition(tables.inventory, _GSIS["inventory"]),
    ]


# schema comparison (pure: a definition above against a DescribeTable "Table") -----------


def _entries(value: object) -> list[Mapping[str, Any]]:
    """The mappings of a described list (a malformed entry counts as an empty one)."""
    if not isinstance(value, (list, tuple)):
        return []
    return [v if isinstance(v, Mapping) else {} for v in value]


def _keys(schema: Sequence[Mapping[str, Any]]) -> str:
    return "(" + ", ".join(f"{k.get('AttributeName')} {k.get('KeyType')}" for k in schema) + ")"


def _pairs(schema: Sequence[Mapping[str, Any]]) -> list[tuple[Any, Any]]:
    return [(k.get("AttributeName"), k.get("KeyType")) for k in schema]


def _checked_definition(definition: object) -> Mapping[str, Any]:
    if not isinstance(definition, Mapping) or not all(
        isinstance(definition.get(k), list)
        for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
    ):
        raise CNOPValidationException.for_field(
            "definition", "must be one of the mappings table_definitions() returns"
        )
    return definition


def schema_problems(definition: Mapping[str, Any], table: Mapping[str, Any]) -> list[str]:
    """What keeps the described ``table`` from serving as ``definition`` (empty: fine).

    Compared: the key schema, the type of every key attribute, and each GSI's presence,
    key schema and projection. Extra GSIs, billing mode and throughput are not compared:
    they do not change what cnop.data reads and writes.

    ``definition`` must come from :func:`table_definitions` and ``table`` be a mapping
    (CNOPValidationException otherwise); malformed parts of ``table`` are reported as
    differences, never raised.
    """
    definition = _checked_definition(definition)
    if not isinstance(table, Mapping):
        raise CNOPValidationException.for_field(
            "table", f"must be a DescribeTable 'Table' mapping, not {type(table).__name__}"
        )
    want_types = {
        a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]
    }
    have_types = {
        a.get("AttributeName"): a.get("AttributeType")
        for a in _entries(table.get("AttributeDefinitions"))
        if _hashable(a.get("AttributeName"))
    }
    problems: list[str] = []

    def compare(label: str, want: Sequence[Mapping[str, Any]], have: Sequence[Any]) -> None:
        if _pairs(want) != _pairs(have):
            problems.append(f"{label} is {_keys(have)} but cnop.data needs {_keys(want)}")
            return
        for key in want:
            name = key["AttributeName"]
            found = have_types.get(name)
            if found != want_types[name]:
                problems.append(
                    f"key attribute '{name}' has type {found or 'unknown'} "
                    f"but cnop.data needs {want_types[name]}"
                )

    compare("key schema", definition["KeySchema"], _entries(table.get("KeySchema")))
    indexes = {
        i.get("IndexName"): i
        for i in _entries(table.get("GlobalSecondaryIndexes"))
        if _hashable(i.get("IndexName"))
    }
    for want in definition["GlobalSecondaryIndexes"]:
        name = want["IndexName"]
        have = indexes.get(name)
        if have is None:
            problems.append(
                f"index '{name}' is missing (cnop.data never changes an existing table: "
                "add it with UpdateTable or recreate the table)"
            )
            continue
        compare(f"index '{name}' key schema", want["KeySchema"], _entries(have.get("KeySchema")))
        shape = have.get("Projection")
        projection = (
            shape.get("ProjectionType", "unknown") if isinstance(shape, Mapping) else "unknown"
        )
        needed = want["Projection"]["ProjectionType"]
        if projection != needed:
            problems.append(f"index '{name}' projects {projection} but cnop.data needs {needed}")
    return problems


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _refuse(definitions: Sequence[Mapping[str, Any]], found: Mapping[str, Any]) -> None:
    """Raise one CNOPConfigurationException for every described table that does not fit."""
    wrong: dict[str, list[str]] = {}
    for definition in definitions:
        name = definition["TableName"]
        if found.get(name) is not None:
            problems = schema_problems(definition, found[name])
            if problems:
                wrong[name] = problems
    if wrong:
        raise CNOPConfigurationException(
            "\n".join(f"table '{name}': {'; '.join(p)}" for name, p in wrong.items()),
            details={"tables": wrong},
        )


# I/O --------------------------------------------------------------------------------------


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


def _wait(client: Any, name: str, *, gone: bool, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = _describe(client, name)
        if gone and table is None:
            return None
        if not gone and table is not None and table.get("TableStatus") == "ACTIVE":
            indexes = table.get("GlobalSecondaryIndexes", [])
            if all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
                return table
        time.sleep(0.2)
    raise map_error(TimeoutError(), table=name, operation="wait_for_table")


def create_tables(client: Any, tables: TableNames, *, timeout: float = 120) -> list[str]:
    """Create the tables that do not exist yet and wait until all are active.

    Returns the names created (empty when all existed): safe to run again. An existing
    table with another key schema, key types or GSIs is refused with a
    CNOPConfigurationException naming the table and the difference, before anything
    is created; existing tables are never changed.
    """
    tables = checked_tables(tables)
    timeout = _checked_timeout(timeout)
    definitions = table_definitions(tables)
    existing = {d["TableName"]: _describe(client, d["TableName"]) for d in definitions}
    _refuse(definitions, existing)
    created = []
    for definition in definitions:
        name = definition["TableName"]
        if existing[name] is None:
            try:
                client.create_table(**definition)
                created.append(name)
            except Exception as exc:
                if _error_code(exc) != "ResourceInUseException":  # created meanwhile
                    raise map_error(exc, table=name, operation="create_table") from None
    # Again once active: a table someone else created meanwhile may be keyed differently.
    active = {name: _wait(client, name, gone=False, timeout=timeout) for name in tables.all()}
    _refuse(definitions, active)
    if tables.users in created:
        _expire_records(client, tables.users)
    return created


#: The TTL attribute of items that expire (idempotency records of calls without a key).
TTL_ATTRIBUTE = "expires_at"


def _expire_records(client: Any, name: str) -> None:
    """Let DynamoDB delete items past their ``expires_at`` (it does so within days)."""
    try:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    except Exception as exc:
        raise map_error(exc, table=name, operation="update_time_to_live") from None


def verify_tables(client: Any, tables: TableNames) -> None:
    """Raise CNOPConfigurationException unless every table exists with the expected schema.

    For a service's start-up: the message names each missing or mismatched table.
    """
    tables = checked_tables(tables)
    definitions = table_definitions(tables)
    found = {d["TableName"]: _describe(client, d["TableName"]) for d in definitions}
    missing = [name for name, table in found.items() if table is None]
    if missing:
        raise CNOPConfigurationException(
            "DynamoDB tables do not exist: "
            + ", ".join(f"'{n}'" for n in missing)
            + " (create them with `python -m cnop.data tables create`)",
            details={"missing": missing},
        )
    _refuse(definitions, found)


def delete_tables(client: Any, tables: TableNames, *, timeout: float = 120) -> list[str]:
    """Delete the tables that exist; returns the names deleted (safe to run again)."""
    tables = checked_tables(tables)
    timeout = _checked_timeout(timeout)
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
    """For each table: status, item count, key schema, index names and schema problems.

    ``None`` for a missing table; ``problems`` lists what differs from the expected
    schema (empty when the table fits).
    """
    tables = checked_tables(tables)
    summary: dict[str, dict[str, Any] | None] = {}
    for definition in table_definitions(tables):
        name = definition["TableName"]
        table = _describe(client, name)
        summary[name] = (
            None
            if table is None
            else {
                "status": table.get("TableStatus"),
                "items": table.get("ItemCount", 0),
                "keys": [k["AttributeName"] for k in table.get("KeySchema", [])],
                "indexes": sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])),
                "problems": schema_problems(definition, table),
            }
        )
    return summary
