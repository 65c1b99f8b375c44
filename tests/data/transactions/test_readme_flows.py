"""The README's "Money flows" example runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
import uuid
from pathlib import Path

import pytest

from cnop.data.cli import main as cli

README = Path(__file__).resolve().parents[3] / "packages" / "cnop-data" / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _expected(code: str) -> list[str]:
    """Each print's expected output: its trailing comment, or the comment line after it."""
    lines = code.splitlines()
    expected = []
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("print("):
            continue
        found = re.search(r"\)  # (.*)$", line)
        if found:
            expected.append(found.group(1))
        else:
            expected.append(lines[i + 1].strip().removeprefix("# "))
    return expected


def test_the_money_flows_example_prints_what_it_says(
    dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    prefix = f"flows{uuid.uuid4().hex[:6]}-"
    for name in ("USERS", "ORDERS", "INVENTORY"):
        monkeypatch.setenv(f"{name}_TABLE", prefix + name.lower())
    assert cli(["tables", "create"]) == 0
    # The section's examples, in order: the flows, then the life of a limit order.
    blocks = re.findall(r"```python\n(.*?)```", _section("Money flows"), re.DOTALL)
    assert len(blocks) == 2
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for code in blocks:
            exec(compile(code, str(README), "exec"), {"__name__": "readme"})  # noqa: S102
    assert out.getvalue().splitlines() == [line for c in blocks for line in _expected(c)]
