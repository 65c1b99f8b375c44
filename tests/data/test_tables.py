from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cnop.data import (
    DataSettings,
    TableNames,
    check_health,
    create_tables,
    delete_tables,
    describe_tables,
    dynamodb_client,
    schema_problems,
    table_definitions,
    verify_tables,
)
from cnop.data.cli import main
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException


def test_definitions_have_the_documented_indexes() -> None:
    users, orders, inventory = table_definitions(TableNames())
    assert [g["IndexName"] for g in users["GlobalSecondaryIndexes"]] == ["gsi1"]
    assert [g["IndexName"] for g in orders["GlobalSecondaryIndexes"]] == [
        "gsi1",
        "gsi2",
        "gsi3",  # waiting limit orders by asset, side and limit
        "gsi4",  # waiting limit orders by expiry
    ]
    assert inventory["BillingMode"] == "PAY_PER_REQUEST"
    assert {a["AttributeType"] for a in orders["AttributeDefinitions"]} == {"S"}


def test_cli_create_is_idempotent_and_delete_cleans_up(
    dynamodb_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"cli{uuid.uuid4().hex[:6]}-"
    args = ["tables", "create", "--endpoint", dynamodb_endpoint, "--prefix", prefix]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert sorted(first["created"]) == sorted(
        f"{prefix}{n}" for n in ("users", "orders", "inventory")
    )
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["created"] == []
    assert len(again["already_existed"]) == 3

    assert main(["tables", "describe", "--endpoint", dynamodb_endpoint, "--prefix", prefix]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described[f"{prefix}orders"]["indexes"] == ["gsi1", "gsi2", "gsi3", "gsi4"]
    assert described[f"{prefix}users"]["status"] == "ACTIVE"

    assert main(["tables", "delete", "--endpoint", dynamodb_endpoint, "--prefix", prefix]) == 0
    assert len(json.loads(capsys.readouterr().out)["deleted"]) == 3
    assert main(["tables", "delete", "--endpoint", dynamodb_endpoint, "--prefix", prefix]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == []
    settings = DataSettings.from_env(endpoint_url=dynamodb_endpoint)
    names = TableNames.from_env(prefix, {})
    assert describe_tables(dynamodb_client(settings), names) == dict.fromkeys(names.all())


def test_module_entry_point_reports_errors_without_a_traceback() -> None:
    env = {**os.environ, "AWS_REGION": "", "AWS_DEFAULT_REGION": ""}
    result = subprocess.run(
        [sys.executable, "-m", "cnop.data", "tables", "describe"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert "AWS_REGION must be set" in result.stderr
    assert "Traceback" not in result.stderr


# Existing tables keyed differently are refused -------------------------------------------


def _unique_names() -> TableNames:
    return TableNames.from_env(f"s{uuid.uuid4().hex[:8]}-", {})


@pytest.fixture
def cleanup(dynamodb_endpoint: str) -> Iterator[Callable[[TableNames], TableNames]]:
    """Register table names to delete after the test (they live on the shared server)."""
    client = dynamodb_client(DataSettings.from_env(endpoint_url=dynamodb_endpoint))
    registered: list[TableNames] = []

    def register(names: TableNames) -> TableNames:
        registered.append(names)
        return names

    yield register
    for names in registered:
        delete_tables(client, names)


def _create_raw(client: Any, name: str, keys: list[tuple[str, str, str]], **extra: Any) -> None:
    """A table with the given (attribute, type, HASH|RANGE) keys, outside cnop.data."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t, _ in keys]
        + extra.pop("more_attributes", []),
        KeySchema=[{"AttributeName": a, "KeyType": k} for a, _, k in keys],
        **extra,
    )


def test_a_users_table_keyed_differently_is_refused_by_create_health_and_the_cli(
    dynamodb_endpoint: str, cleanup: Callable[[TableNames], TableNames]
) -> None:
    settings = DataSettings.from_env(endpoint_url=dynamodb_endpoint)
    client = dynamodb_client(settings)
    names = cleanup(_unique_names())
    _create_raw(client, names.users, [("id", "S", "HASH")])
    expected = (
        f"table '{names.users}': key schema is (id HASH) but cnop.data needs (pk HASH, sk RANGE)"
    )

    with pytest.raises(CNOPConfigurationException) as caught:
        create_tables(client, names)
    assert caught.value.message.startswith(expected)
    assert caught.value.status >= 500
    # Refused before anything was created.
    assert describe_tables(client, names)[names.orders] is None

    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "USERS_TABLE": names.users,
        "ORDERS_TABLE": names.orders,
        "INVENTORY_TABLE": names.inventory,
    }
    result = subprocess.run(
        [sys.executable, "-m", "cnop.data", "tables", "create"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr

    # The other two are fine once created: health names only the users table.
    client.create_table(**table_definitions(names)[1])
    client.create_table(**table_definitions(names)[2])
    report = check_health(client, names)
    assert not report.healthy
    users = report.checks[f"dynamodb:{names.users}"]
    assert users.status == "wrong_schema"
    assert expected in users.detail
    assert report.checks[f"dynamodb:{names.orders}"].ok
    problems = describe_tables(client, names)[names.users]["problems"]
    assert problems[0] == "key schema is (id HASH) but cnop.data needs (pk HASH, sk RANGE)"
    assert problems[1].startswith("index 'gsi1' is missing")
    with pytest.raises(CNOPConfigurationException, match="key schema is"):
        verify_tables(client, names)


def test_a_missing_index_is_reported_not_added(
    dynamodb_endpoint: str, cleanup: Callable[[TableNames], TableNames]
) -> None:
    client = dynamodb_client(DataSettings.from_env(endpoint_url=dynamodb_endpoint))
    names = cleanup(_unique_names())
    _create_raw(client, names.orders, [("pk", "S", "HASH"), ("sk", "S", "RANGE")])
    with pytest.raises(CNOPConfigurationException) as caught:
        create_tables(client, names)
    assert f"table '{names.orders}': index 'gsi1' is missing" in caught.value.message
    assert "index 'gsi2' is missing" in caught.value.message
    assert caught.value.details["tables"].keys() == {names.orders}
    assert describe_tables(client, names)[names.orders]["indexes"] == []


def test_a_key_of_another_type_is_refused(
    dynamodb_endpoint: str, cleanup: Callable[[TableNames], TableNames]
) -> None:
    client = dynamodb_client(DataSettings.from_env(endpoint_url=dynamodb_endpoint))
    names = cleanup(_unique_names())
    create_tables(client, TableNames(names.users, f"{names.orders}-x", f"{names.inventory}-x"))
    cleanup(TableNames(names.users, f"{names.orders}-x", f"{names.inventory}-x"))
    _create_raw(client, names.inventory, [("pk", "S", "HASH"), ("sk", "N", "RANGE")])
    client.create_table(**table_definitions(names)[1])
    report = check_health(client, names)
    inventory = report.checks[f"dynamodb:{names.inventory}"]
    assert inventory.status == "wrong_schema"
    assert "key attribute 'sk' has type N but cnop.data needs S" in inventory.detail
    assert "index 'gsi1' is missing" in inventory.detail
    assert report.checks[f"dynamodb:{names.users}"].status == "ok"


def test_create_twice_on_correct_tables_is_fine_and_healthy(
    dynamodb_endpoint: str, cleanup: Callable[[TableNames], TableNames]
) -> None:
    client = dynamodb_client(DataSettings.from_env(endpoint_url=dynamodb_endpoint))
    names = cleanup(_unique_names())
    assert sorted(create_tables(client, names)) == sorted(names.all())
    assert create_tables(client, names) == []
    verify_tables(client, names)
    assert check_health(client, names).healthy


def _described(definition: dict[str, Any]) -> dict[str, Any]:
    """What DescribeTable reports for a table created from ``definition``."""
    return {
        **definition,
        "TableStatus": "ACTIVE",
        "GlobalSecondaryIndexes": [
            {**g, "IndexStatus": "ACTIVE"} for g in definition["GlobalSecondaryIndexes"]
        ],
    }


def test_schema_problems_compare_projection_and_index_keys_and_allow_extra_indexes() -> None:
    definition = table_definitions(TableNames())[1]
    assert schema_problems(definition, _described(definition)) == []
    table = _described(definition)
    table["GlobalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "KEYS_ONLY"}
    table["GlobalSecondaryIndexes"][1]["KeySchema"] = [
        {"AttributeName": "gsi2pk", "KeyType": "HASH"}
    ]
    table["GlobalSecondaryIndexes"].append(
        {"IndexName": "extra", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}]}
    )
    assert schema_problems(definition, table) == [
        "index 'gsi1' projects KEYS_ONLY but cnop.data needs ALL",
        "index 'gsi2' key schema is (gsi2pk HASH) but cnop.data needs (gsi2pk HASH, gsi2sk RANGE)",
    ]


# Hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize("users", ["users\n", " users", "users ", "us\x00ers", "us\ters"])
def test_table_names_with_whitespace_or_control_characters_are_refused(
    dynamodb_endpoint: str, users: str
) -> None:
    client = dynamodb_client(DataSettings.from_env(endpoint_url=dynamodb_endpoint))
    with pytest.raises(CNOPConfigurationException, match="USERS_TABLE must be"):
        # TableNames itself lets some through (a trailing newline); the entry points do not.
        create_tables(client, _names_unchecked(users))


def _names_unchecked(users: str) -> TableNames:
    names = object.__new__(TableNames)
    for role, value in (("users", users), ("orders", "orders"), ("inventory", "inventory")):
        object.__setattr__(names, role, value)
    return names


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1, 0, "5", True, None])
def test_a_bad_wait_timeout_is_a_validation_error(dynamodb_endpoint: str, timeout: Any) -> None:
    client = dynamodb_client(DataSettings.from_env(endpoint_url=dynamodb_endpoint))
    with pytest.raises(CNOPValidationException, match="timeout"):
        create_tables(client, _unique_names(), timeout=timeout)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"USERS_TABLE": "users\n"}, "USERS_TABLE must be"),
        ({"ORDERS_TABLE": "same", "INVENTORY_TABLE": "same"}, "three different tables"),
        ({"AWS_ENDPOINT_URL_DYNAMODB": "not a url"}, "must be an http(s) URL"),
        ({"AWS_REGION": "us-east-1\n"}, "AWS_REGION (or --region) must be"),
    ],
)
def test_the_cli_refuses_hostile_settings_without_a_traceback(
    dynamodb_endpoint: str, env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cnop.data", "tables", "describe"],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint, **env},
        check=False,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("deadline", ["nan", "inf", "-1", "0", "\uff11", "\u0661", " 2", "2\n"])
def test_the_cli_health_deadline_must_be_plain_positive_seconds(
    deadline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["health", "--deadline", deadline])
    assert caught.value.code == 2
    assert "argument --deadline: must be a positive number of seconds" in capsys.readouterr().err


def test_the_cli_health_exits_by_the_report(
    dynamodb_endpoint: str,
    cleanup: Callable[[TableNames], TableNames],
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = cleanup(_unique_names())
    prefix = names.users.removesuffix("users")
    args = ["health", "--endpoint", dynamodb_endpoint, "--prefix", prefix, "--deadline", "1.5"]
    assert main(args) == 1
    missing = json.loads(capsys.readouterr().out)
    assert missing["checks"][f"dynamodb:{names.users}"]["status"] == "missing"
    assert main(["tables", "create", "--endpoint", dynamodb_endpoint, "--prefix", prefix]) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["healthy"] is True


def test_two_creates_at_once_both_succeed(
    dynamodb_endpoint: str, cleanup: Callable[[TableNames], TableNames]
) -> None:
    client = dynamodb_client(DataSettings.from_env(endpoint_url=dynamodb_endpoint))
    names = cleanup(_unique_names())
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: create_tables(client, names), range(2)))
    assert sorted(results[0] + results[1]) == sorted(names.all())
    verify_tables(client, names)


class _RacingClient:
    """The real client, except that another deployment creates the users table (keyed by
    ``id``) just before this one's CreateTable reaches the server."""

    def __init__(self, client: Any, users: str) -> None:
        self._client, self._users = client, users

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def create_table(self, **definition: Any) -> Any:
        if definition["TableName"] == self._users:
            _create_raw(self._client, self._users, [("id", "S", "HASH")])
        return self._client.create_table(**definition)


def test_a_table_created_differently_meanwhile_is_refused_after_the_wait(
    dynamodb_endpoint: str, cleanup: Callable[[TableNames], TableNames]
) -> None:
    client = dynamodb_client(DataSettings.from_env(endpoint_url=dynamodb_endpoint))
    names = cleanup(_unique_names())
    with pytest.raises(CNOPConfigurationException, match=r"key schema is \(id HASH\)"):
        create_tables(_RacingClient(client, names.users), names)


def test_a_new_users_table_expires_records_by_their_ttl_attribute(dynamodb_endpoint: str) -> None:
    settings = DataSettings.from_env(
        endpoint_url=dynamodb_endpoint,
        tables=TableNames.from_env(f"ttl{uuid.uuid4().hex[:6]}-", {}),
        region="us-east-1",
    )
    client = dynamodb_client(settings)
    create_tables(client, settings.tables)
    try:
        ttl = client.describe_time_to_live(TableName=settings.tables.users)
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
        assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    finally:
        delete_tables(client, settings.tables)
