"""The README's examples run as written (against the test servers)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "packages" / "cnop-locking" / "README.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_has_examples() -> None:
    assert len(_examples()) >= 5


@pytest.mark.integration
@pytest.mark.parametrize("index", range(len(_examples())))
def test_readme_example_runs(
    index: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    dynamodb_endpoint: str,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    # The region as CNOP services set it: AWS_REGION alone (boto3 reads another name).
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    code = _examples()[index]
    exec(compile(code, f"README example {index + 1}", "exec"), {})  # noqa: S102 - our own docs
    printed = capsys.readouterr().out.splitlines()
    # Every "# expected" comment after a print() matches what it printed.
    expected = [m.strip() for m in re.findall(r"print\(.*\)\s+#\s*(.+)", code)]
    assert printed[: len(expected)] == expected
