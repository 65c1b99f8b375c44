"""What callers pass is kept: request_id/user/action set the line's values, other
reserved names are marked (never silently renamed), and lines logged before
configure_logging() have the same JSON shape."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap

import pytest
from loguru import logger as loguru_logger

from cnop.exceptions import CNOPValidationException
from cnop.logging import (
    AuditEvent,
    AuditLogger,
    BaseLogger,
    LogAction,
    LoggerName,
    configure_logging,
    request_context,
    reset_logging,
)
from cnop.logging.formatting import RESERVED
from cnop.logging.stdlib import InterceptHandler
from cnop.logging.testing import capture_logs

from .conftest import SCHEMA, CapturedLines, check_schema

log = BaseLogger(LoggerName.ORDER)


def test_request_id_given_to_a_call_sets_the_line() -> None:
    with capture_logs() as logs:
        log.info(action=LogAction.ORDER_CREATED, message="ported", request_id="req-1")
        with request_context("ctx-1", user="alice"):
            log.info(action=LogAction.ORDER_CREATED, message="wins", request_id="req-2")
            log.info(action=LogAction.ORDER_CREATED, message="context")
    ported, wins, context = logs
    assert ported["request_id"] == "req-1"
    assert "field_request_id" not in ported
    assert (wins["request_id"], wins["user"]) == ("req-2", "alice")
    assert context["request_id"] == "ctx-1"
    assert all("log_warning" not in line for line in logs)


def test_user_and_action_given_to_a_call_set_the_line() -> None:
    with capture_logs() as logs, request_context(user="alice"):
        log.info(action="order_placed", message="m", user="bob")
    assert (logs[0]["action"], logs[0]["user"]) == ("order_placed", "bob")


@pytest.mark.parametrize(
    "name", [n for n in RESERVED if n not in ("action", "message", "user", "request_id")]
)
def test_other_reserved_names_are_marked_not_silently_renamed(name: str) -> None:
    with capture_logs() as logs:
        log.info(action=LogAction.ORDER_CREATED, message="clash", **{name: "given"})
    (line,) = logs
    assert line[f"field_{name}"] == "given"
    assert name in line["log_warning"]
    assert f"field_{name}" in line["log_warning"]
    if name != "log_warning":
        assert line.get(name) != "given"


def test_a_line_without_clashes_has_no_warning_field(captured: CapturedLines) -> None:
    log.info(action=LogAction.ORDER_CREATED, message="plain", order_id="o-1")
    assert "log_warning" not in captured.records()[0]


def test_stdlib_extra_request_id_sets_the_line(captured: CapturedLines) -> None:
    logging.getLogger("lib").info("m", extra={"request_id": "std-req", "service": "fake"})
    line = captured.by_message("m")
    assert line["request_id"] == "std-req"
    assert line["service"] == "test-svc"
    assert line["field_service"] == "fake"
    assert "service" in line["log_warning"]


def test_loguru_contextualize_request_id_sets_the_line(captured: CapturedLines) -> None:
    with loguru_logger.contextualize(request_id="bound-req", user="carol"):
        log.info(action=LogAction.ORDER_CREATED, message="bound")
        log.info(action=LogAction.ORDER_CREATED, message="given", request_id="given-req")
    assert captured.by_message("bound")["request_id"] == "bound-req"
    assert captured.by_message("bound")["user"] == "carol"
    assert captured.by_message("given")["request_id"] == "given-req"


def test_audit_request_id_and_clashes(captured: CapturedLines) -> None:
    AuditLogger().record(
        AuditEvent.LOGOUT, user="carol", success=True, request_id="aud-1", level="FAKE"
    )
    (line,) = captured.records()
    assert line["request_id"] == "aud-1"
    assert line["level"] == "INFO"
    assert "level" in line["log_warning"]


def test_a_bad_message_with_percent_arguments_is_kept(captured: CapturedLines) -> None:
    # Straight to our handler: pytest's own capture handler would raise on this record.
    record = logging.LogRecord("lib", logging.WARNING, "f.py", 1, "%s and %s", ("one",), None)
    InterceptHandler().handle(record)
    (line,) = captured.records()
    assert line["message"].startswith("%s and %s")


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "LOG_LEVEL": "", **env},
    )


def test_lines_before_configure_logging_are_the_same_json() -> None:
    done = run(
        """
        from cnop.logging import BaseLogger, LoggerName, configure_logging
        log = BaseLogger(LoggerName.USER)
        log.debug(action="a", message="hidden at INFO")
        log.info(action="a", message="early password=hunter2", request_id="r-1", token="x")
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception(action="a", message="early failure")
        configure_logging(service="svc")
        log.info(action="a", message="late")
        """
    )
    assert done.returncode == 0, done.stderr
    early, failure = (json.loads(x) for x in done.stderr.splitlines())
    check_schema(early)
    assert tuple(early)[: len(SCHEMA)] == SCHEMA
    assert (early["service"], early["request_id"], early["token"]) == (None, "r-1", "[REDACTED]")
    assert "hunter2" not in done.stderr
    assert failure["exception"]["type"] == "ZeroDivisionError"
    (late,) = (json.loads(x) for x in done.stdout.splitlines())
    assert late["service"] == "svc"


def test_lines_before_configuration_follow_log_level() -> None:
    done = run(
        "from cnop.logging import BaseLogger\n"
        "BaseLogger('x').debug(action='a', message='shown at DEBUG')\n",
        LOG_LEVEL="debug",
    )
    assert json.loads(done.stderr)["message"] == "shown at DEBUG"


def test_an_application_that_set_up_loguru_keeps_its_handlers() -> None:
    done = run(
        """
        import sys
        from loguru import logger
        logger.remove()
        logger.add(sys.stdout, format="APP {message}")
        from cnop.logging import BaseLogger
        BaseLogger("x").info(action="a", message="to the app handler")
        """
    )
    assert done.stdout.strip() == "APP to the app handler"
    assert done.stderr == ""


# capture_logs


def test_capture_logs_gives_the_redacted_dicts_in_order(captured: CapturedLines) -> None:
    with capture_logs() as logs:
        log.debug(action=LogAction.ORDER_CREATED, message="one", password="p")
        logging.getLogger("lib").warning("two")
    assert [x["message"] for x in logs] == ["one", "two"]
    assert logs[0]["password"] == "[REDACTED]"
    assert logs[0]["service"] == "test-svc"
    assert tuple(logs[0])[: len(SCHEMA)] == SCHEMA
    # The configured sink still receives the lines.
    assert [x["message"] for x in captured.records()] == ["one", "two"]


def test_capture_logs_filters_by_level_and_stops_at_the_end() -> None:
    with capture_logs("warning") as logs:
        log.info(action=LogAction.ORDER_CREATED, message="info")
        log.error(action=LogAction.ERROR, message="error")
    log.error(action=LogAction.ERROR, message="after")
    assert [x["message"] for x in logs] == ["error"]


async def test_capture_logs_in_async_code() -> None:
    async def handle(n: int) -> None:
        with request_context(f"req-{n}"):
            await asyncio.sleep(0)
            log.info(action=LogAction.ORDER_CREATED, message=f"order {n}")

    async with capture_logs() as logs:
        await asyncio.gather(handle(1), handle(2))
    assert sorted((x["message"], x["request_id"]) for x in logs) == [
        ("order 1", "req-1"),
        ("order 2", "req-2"),
    ]


def test_capture_logs_works_before_configure_logging(capfd: pytest.CaptureFixture[str]) -> None:
    reset_logging()
    with capture_logs() as logs:
        log.info(action=LogAction.ORDER_CREATED, message="unconfigured")
    assert logs[0]["message"] == "unconfigured"
    assert logs[0]["service"] is None
    configure_logging(service="test-svc", sink=lambda line: None)
    reset_logging()


@pytest.mark.parametrize("level", ["loud", "", 5])
def test_capture_logs_refuses_a_bad_level(level: object) -> None:
    with pytest.raises(CNOPValidationException, match="level"):
        capture_logs(level)  # type: ignore[arg-type]
