"""configure_logging: options, environment, idempotency, what import does not do."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cnop.exceptions import CNOPConfigurationException
from cnop.logging import BaseLogger, LogAction, LoggerName, configure_logging, reset_logging
from cnop.logging.formatting import utc_timestamp

from .conftest import CapturedLines

log = BaseLogger(LoggerName.COMMON)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.delenv("LOG_FORMAT", raising=False)


@pytest.fixture
def unconfigure() -> object:
    yield None
    reset_logging()


@pytest.mark.usefixtures("unconfigure")
def test_configuring_twice_does_not_double_lines() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(service="svc", sink=first)
    configure_logging(service="svc", sink=second)
    configure_logging(service="svc", sink=second)
    log.info(action=LogAction.SERVICE_START, message="once")
    assert first.getvalue() == ""
    assert [json.loads(x)["message"] for x in second.getvalue().splitlines()] == ["once"]


@pytest.mark.usefixtures("unconfigure")
def test_log_level_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warning")
    out = io.StringIO()
    configure_logging(service="svc", sink=out)
    log.info(action=LogAction.ERROR, message="dropped")
    log.warning(action=LogAction.ERROR, message="kept")
    assert [json.loads(x)["message"] for x in out.getvalue().splitlines()] == ["kept"]


@pytest.mark.usefixtures("unconfigure")
@pytest.mark.parametrize(("given", "written"), [("warn", "WARNING"), (" Fatal ", "CRITICAL")])
def test_level_aliases(given: str, written: str) -> None:
    out = io.StringIO()
    configure_logging(service="svc", level=given, sink=out)
    log.warning(action=LogAction.ERROR, message="w")
    log.critical(action=LogAction.ERROR, message="c")
    levels = [json.loads(x)["level"] for x in out.getvalue().splitlines()]
    assert levels == (["WARNING", "CRITICAL"] if written == "WARNING" else ["CRITICAL"])


@pytest.mark.usefixtures("unconfigure")
def test_explicit_argument_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    monkeypatch.setenv("LOG_FORMAT", "console")
    out = io.StringIO()
    configure_logging(service="svc", level="DEBUG", fmt="json", sink=out)
    log.debug(action=LogAction.ERROR, message="debug line")
    assert json.loads(out.getvalue())["message"] == "debug line"


@pytest.mark.usefixtures("unconfigure")
def test_console_format_from_environment_is_for_people(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "console")
    out = io.StringIO()
    configure_logging(service="svc", sink=out)
    log.info(action=LogAction.LOCK_ACQUIRED, message="Lock acquired", user="al", wait_ms=3)
    text = out.getvalue()
    assert text.count("\n") == 1
    assert not text.startswith("{")
    assert "INFO" in text
    assert "common [lock_acquired] Lock acquired" in text
    assert 'user="al"' in text
    assert "wait_ms=3" in text


@pytest.mark.usefixtures("unconfigure")
def test_console_format_shows_the_stack() -> None:
    out = io.StringIO()
    configure_logging(service="svc", fmt="console", sink=out)
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        log.exception(action=LogAction.ERROR, message="failed")
    assert "RuntimeError: kaput" in out.getvalue()
    assert "Traceback" in out.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "env", "named"),
    [
        ({"level": "LOUD"}, {}, "level"),
        ({"fmt": "xml"}, {}, "fmt"),
        ({}, {"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
        ({}, {"LOG_FORMAT": "yaml"}, "LOG_FORMAT"),
        ({"service": " "}, {}, "service"),
        ({"sink": 42}, {}, "sink"),
    ],
)
def test_bad_settings_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, object], env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    arguments: dict[str, object] = {"service": "svc", **kwargs}
    with pytest.raises(CNOPConfigurationException, match=named):
        configure_logging(**arguments)  # type: ignore[arg-type]


@pytest.mark.usefixtures("unconfigure")
def test_file_path_sink_appends(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    path.write_text('{"earlier": true}\n')
    configure_logging(service="svc", sink=path)
    log.info(action=LogAction.SERVICE_START, message="to file")
    reset_logging()  # closes the file
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0] == {"earlier": True}
    assert lines[1]["message"] == "to file"


def test_unwritable_file_path_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(CNOPConfigurationException, match="sink"):
        configure_logging(service="svc", sink=tmp_path / "missing-dir" / "x.log")


def test_timestamp_is_utc_with_one_zone_marker(captured: CapturedLines) -> None:
    before = datetime.now(timezone.utc)
    log.info(action=LogAction.ERROR, message="now")
    after = datetime.now(timezone.utc)
    stamp = captured.records()[0]["timestamp"]
    assert stamp.endswith("Z")
    assert stamp.count("Z") == 1
    assert "+" not in stamp
    parsed = datetime.fromisoformat(stamp[:-1]).replace(tzinfo=timezone.utc)
    assert before - timedelta(milliseconds=1) <= parsed <= after + timedelta(milliseconds=1)


def test_timestamp_of_a_non_utc_moment() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=india)
    assert utc_timestamp(moment) == "2026-01-01T21:34:05.678901Z"
    assert utc_timestamp(moment.replace(microsecond=7)) == "2026-01-01T21:34:05.000007Z"


def test_import_configures_nothing_and_loads_no_optional_module() -> None:
    code = (
        "import logging, sys\n"
        "import cnop.logging\n"
        "from loguru import logger\n"
        "print(len(logging.getLogger().handlers))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'prometheus'))))\n"
        "logger.info('host line')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    handlers, loaded = done.stdout.splitlines()
    assert handlers == "0"
    assert loaded == "[]"
    # loguru's own default handler is untouched until configure_logging() runs.
    assert "| INFO     |" in done.stderr
    assert "host line" in done.stderr


@pytest.mark.usefixtures("unconfigure")
def test_concurrent_configuration_leaves_exactly_one_handler() -> None:
    out = io.StringIO()
    barrier = threading.Barrier(8)

    def configure() -> None:
        barrier.wait()
        for _ in range(20):
            configure_logging(service="svc", sink=out)

    threads = [threading.Thread(target=configure) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.info(action=LogAction.SERVICE_START, message="after the race")
    assert [json.loads(x)["message"] for x in out.getvalue().splitlines()] == ["after the race"]
