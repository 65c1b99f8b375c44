from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from cnop.data import DataSettings, TableNames, describe_tables, dynamodb_client, table_definitions
from cnop.data.cli import main


def test_definitions_have_the_documented_indexes() -> None:
    users, orders, inventory = table_definitions(TableNames())
    assert [g["IndexName"] for g in users["GlobalSecondaryIndexes"]] == ["gsi1"]
    assert [g["IndexName"] for g in orders["GlobalSecondaryIndexes"]] == ["gsi1", "gsi2"]
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
    assert described[f"{prefix}orders"]["indexes"] == ["gsi1", "gsi2"]
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
