"""The README's examples run as written, each in a fresh interpreter, and print what
the README says they print."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "packages" / "cnop-logging" / "README.md"
BLOCKS: list[str] = re.findall(
    r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL
)


def run(code: str) -> subprocess.CompletedProcess[str]:
    # Port 0 instead of the documented fixed port: tests may run side by side.
    code = code.replace("port=9464", "port=0")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def block(marker: str) -> str:
    (found,) = [b for b in BLOCKS if marker in b]
    return found


def test_every_block_is_covered() -> None:
    assert len(BLOCKS) == 9


def test_configure_and_log() -> None:
    done = run(block('configure_logging(service="user-service")'))
    assert done.returncode == 0, done.stderr
    created, failed = (json.loads(line) for line in done.stdout.splitlines())
    assert created["service"] == "user-service"
    assert created["action"] == "user_registration_success"
    assert created["email_verified"] is False
    assert failed["exception"]["type"] == "ZeroDivisionError"


def test_request_context() -> None:
    done = run(block("@request_context()"))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["user"] == "alice"
    assert lines[0]["request_id"]
    assert len({line["request_id"] for line in lines}) == 3


def test_asgi_middleware() -> None:
    if importlib.util.find_spec("fastapi") is None:
        pytest.skip("FastAPI is not installed in this environment")
    done = run(block("app.add_middleware(RequestContextMiddleware)"))
    assert done.returncode == 0, done.stderr


def test_tracing() -> None:
    done = run(
        "from cnop.logging import configure_logging\nconfigure_logging(service='s')\n"
        + block("@traced()")
    )
    assert done.returncode == 0, done.stderr
    (line,) = (json.loads(x) for x in done.stdout.splitlines())
    assert len(line["trace_id"]) == 32
    assert len(line["span_id"]) == 16


def test_redaction_prints_what_the_readme_says() -> None:
    code = block("add_secret_keys")
    done = run(code)
    assert done.returncode == 0, done.stderr
    promised = [c.strip() for c in re.findall(r"# (\{.*\}|GET .*)", code)]
    assert done.stdout.splitlines() == promised


def test_capture_logs() -> None:
    code = block("capture_logs()")
    done = run(code)
    assert done.returncode == 0, done.stderr
    (promised,) = re.findall(r"# (Bad login .*)", code)
    assert done.stdout.splitlines() == [promised]
    # Before configure_logging the line also went to stderr, as JSON, redacted.
    assert json.loads(done.stderr)["password"] == "[REDACTED]"


def test_audit() -> None:
    done = run(
        "from cnop.logging import configure_logging\nconfigure_logging(service='s')\n"
        + block("AuditLogger()")
    )
    assert done.returncode == 0, done.stderr
    (line,) = (json.loads(x) for x in done.stdout.splitlines())
    assert (line["event"], line["outcome"], line["logger"]) == ("login_failure", "failure", "audit")


def test_metrics_and_prometheus() -> None:
    code = (
        block("metrics.histogram")
        + "\n"
        + block("expose_prometheus")
        + (
            "\nimport urllib.request\n"
            "before = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics').read().decode()\n"
            "print('cnop_dao_errors_total' in before)\n"
            "WAIT.record(0.003, backend='redis', outcome='acquired')\n"
            "ERRORS.add(1, table='users', operation='put_item', error='conditional_check_failed')\n"
            "body = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics').read().decode()\n"
            "print('cnop_dao_errors_total' in body, 'cnop_lock_wait_seconds_count' in body)\n"
        )
    )
    done = run(code)
    assert done.returncode == 0, done.stderr
    # Recorded before the SDK existed: a no-op; the same instruments record afterwards.
    assert done.stdout.split() == ["False", "True", "True"]
