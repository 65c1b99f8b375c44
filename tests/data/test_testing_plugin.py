"""cnop.data.testing: the pytest plugin that the cnop-data entry point registers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import cnop.data.testing as plugin
from cnop.data import DataSettings, TableNames, UserCreate, UserDAO, dynamodb_client
from cnop.data.testing import TestDynamoDB, find_dynamodb_local

INNER = """
import json, os
from cnop.data import UserCreate, UserDAO

def test_inner(cnop_dynamodb, cnop_data_settings, cnop_tables):
    users = UserDAO(settings=cnop_data_settings)
    users.create_user(UserCreate(username="alice_01", email="a@example.com",
                                 first_name="A", last_name="B"), "x" * 60)
    assert users.get_user_by_username("alice_01").email == "a@example.com"
    assert cnop_tables == cnop_data_settings.tables
    report(cnop_dynamodb, cnop_tables)

def test_second(cnop_dynamodb, cnop_tables):
    report(cnop_dynamodb, cnop_tables)

def report(dynamodb, tables):
    with open(os.environ["CNOP_PLUGIN_REPORT"], "a") as out:
        out.write(json.dumps({"kind": dynamodb.kind, "endpoint": dynamodb.endpoint_url,
                              "tables": list(tables.all())}) + "\\n")
"""


def run_inner(tmp_path: Path, env_changes: dict[str, str | None], source: str = INNER) -> Any:
    """Run ``source`` as a test file in a new pytest process; its report and output."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(source))
    report = tmp_path / "report.json"
    env = {**os.environ, "CNOP_PLUGIN_REPORT": str(report)}
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "default",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    lines = report.read_text().splitlines() if report.exists() else []
    return [json.loads(line) for line in lines], output


def table_exists(endpoint: str, name: str) -> bool:
    settings = DataSettings.from_env({}, region="us-east-1", endpoint_url=endpoint)
    names = dynamodb_client(settings).list_tables(ExclusiveStartTableName=name[:-1], Limit=10)
    return name in names["TableNames"]


def test_fixtures_come_from_the_entry_point_and_tables_are_removed_after(
    tmp_path: Path, dynamodb_endpoint: str
) -> None:
    first, second = run_inner(tmp_path, {"AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint})[0]
    assert first["kind"] == "environment"
    assert first["endpoint"] == dynamodb_endpoint
    assert len(set(first["tables"] + second["tables"])) == 6  # each test its own three
    for name in first["tables"] + second["tables"]:
        assert name.startswith("cnop-test-")
        assert not table_exists(dynamodb_endpoint, name)


def test_the_plugin_is_used_in_process_too(
    cnop_data_settings: DataSettings, cnop_tables: TableNames
) -> None:
    # The same fixtures, loaded by this run through the entry point.
    assert cnop_tables == cnop_data_settings.tables
    assert cnop_data_settings.endpoint_url is not None
    assert all(table_exists(cnop_data_settings.endpoint_url, n) for n in cnop_tables.all())
    users = UserDAO(settings=cnop_data_settings)
    created = users.create_user(
        UserCreate(username="zed_99", email="z@example.com", first_name="Z", last_name="Z"),
        "x" * 60,
    )
    assert created.username == "zed_99"


def test_nothing_starts_and_nothing_warns_when_no_test_asks(tmp_path: Path) -> None:
    source = """
    def test_plain():
        assert True
    """
    empty = tmp_path / "no-jar"
    empty.mkdir()
    _, output = run_inner(
        tmp_path,
        {"AWS_ENDPOINT_URL_DYNAMODB": None, plugin.JAR_DIR_VARIABLE: str(empty)},
        source,
    )
    assert "moto" not in output
    assert "1 passed" in output


def test_the_module_defines_no_hooks() -> None:
    assert [name for name in vars(plugin) if name.startswith("pytest_")] == []


@pytest.mark.slow
def test_falls_back_to_moto_loudly_without_dynamodb_local(tmp_path: Path) -> None:
    empty = tmp_path / "no-jar"
    empty.mkdir()
    (report, _), output = run_inner(
        tmp_path, {"AWS_ENDPOINT_URL_DYNAMODB": None, plugin.JAR_DIR_VARIABLE: str(empty)}
    )
    assert report["kind"] == "moto"
    assert report["endpoint"] is None
    assert "DynamoDBFallbackWarning" in output
    assert "DynamoDBLocal.jar was not found" in output


@pytest.mark.slow
@pytest.mark.skipif(find_dynamodb_local() is None, reason="DynamoDB Local is not installed")
def test_starts_dynamodb_local_and_stops_it_after_the_session(tmp_path: Path) -> None:
    (report, _), output = run_inner(tmp_path, {"AWS_ENDPOINT_URL_DYNAMODB": None})
    assert report["kind"] == "dynamodb-local", output[-2000:]
    assert "DynamoDBFallbackWarning" not in output
    # The server the session started is gone with it.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(report["endpoint"], timeout=2)  # noqa: S310


def test_settings_of_a_test_dynamodb() -> None:
    target = TestDynamoDB("environment", "http://127.0.0.1:1")
    tables = TableNames.from_env("cnop-x-", {})
    settings = target.settings(tables, read_timeout=1.0)
    assert settings.endpoint_url == "http://127.0.0.1:1"
    assert settings.tables == tables
    assert settings.read_timeout == 1.0
    assert len(settings.cursor_secret) == 32


def test_a_named_folder_without_the_jar_is_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(plugin.JAR_DIR_VARIABLE, str(tmp_path))
    assert find_dynamodb_local() is None
    (tmp_path / "DynamoDBLocal.jar").write_bytes(b"")
    assert find_dynamodb_local() == tmp_path


README = Path(__file__).resolve().parents[2] / "packages" / "cnop-data" / "README.md"


def test_the_readme_example_runs_as_a_test_file(tmp_path: Path, dynamodb_endpoint: str) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Testing with pytest") :]
    example = section[section.index("```python\n") + 10 : section.index("```\n", 10)]
    assert "def test_" in example
    source = example + textwrap.dedent(
        """
        import json, os

        def test_report(cnop_dynamodb):
            with open(os.environ["CNOP_PLUGIN_REPORT"], "a") as out:
                out.write(json.dumps({"kind": cnop_dynamodb.kind}) + "\\n")
        """
    )
    reports, output = run_inner(tmp_path, {"AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint}, source)
    assert "2 passed" in output
    assert reports == [{"kind": "environment"}]
