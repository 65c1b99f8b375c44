"""The README's examples run as written (against DynamoDB Local and redis-server)."""

from __future__ import annotations

import importlib.util
import re
import uuid
from pathlib import Path

import pytest

from cnop.data.cli import main as cli

README = Path(__file__).resolve().parents[2] / "packages" / "cnop-data" / "README.md"


def test_readme_examples_run(
    dynamodb_endpoint: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"readme{uuid.uuid4().hex[:6]}-"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    for name in ("USERS", "ORDERS", "INVENTORY"):
        monkeypatch.setenv(f"{name}_TABLE", prefix + name.lower())
    assert cli(["tables", "create"]) == 0
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert len(blocks) >= 3  # every Python example in the README runs
    skipped = []
    for block in blocks:
        # An example that uses another cnop distribution (the password example needs
        # cnop-auth) runs where it is installed; cnop-data's own environment has not.
        missing = [
            name
            for name in re.findall(r"^from (cnop\.\w+) import", block, re.MULTILINE)
            if importlib.util.find_spec(name) is None
        ]
        if missing:
            skipped += missing
            continue
        code = block.replace("redis://localhost:6379/0", redis_url)
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})  # noqa: S102
    out = capsys.readouterr().out
    assert "Email 'alice@example.com' is already registered" in out
    assert "User 'alice_01' was changed by another request (expected version 1" in out
    assert "['confirmed'] None" in out
    assert "alice@example.com" in out
    assert "'healthy': True" in out
    assert "completed 10.00 2\n355.00 3.5\n" in out  # the limit buy filled below its limit
    assert "True 1\n4.5\n" in out  # the limit sell expired and gave its quantity back
    if "cnop.auth" not in skipped:
        assert "True 2" in out  # the rehash on login was stored at version 2
