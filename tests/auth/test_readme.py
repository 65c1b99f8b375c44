"""The README's examples run as written and print what their comments say."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "packages" / "cnop-auth" / "README.md"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
_EXPECTED = re.compile(r"^\s*print\(.*\)\s*#\s*(.+)$")


def test_readme_examples_run_and_print_what_they_promise() -> None:
    blocks = _BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    program = "\n".join(blocks)
    expected = [m.group(1).strip() for line in program.splitlines() if (m := _EXPECTED.match(line))]
    env = {
        **os.environ,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "GATEWAY_SIGNING_SECRET": secrets.token_urlsafe(48),
    }
    for name in ("JWT_ALGORITHM", "JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "JWT_ISSUER", "JWT_AUDIENCE"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    printed = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert printed == expected
