"""No owner token reaches a log line, whoever set logging up: cnop.logging, nobody (loguru's
default handler), or the application with a loguru handler of its own that prints local
variables (loguru's ``diagnose``, on by default in ``logger.add``)."""

from __future__ import annotations

import io
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from loguru import logger

from cnop.exceptions import CNOPServiceUnavailableException
from cnop.locking import LockManager, context

#: Nothing listens here: every acquire fails at once with a refused connection.
UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every owner token the lock contexts make."""
    made: list[str] = []
    token_hex = secrets.token_hex

    def spy(nbytes: int | None = None) -> str:
        token = token_hex(nbytes)
        made.append(token)
        return token

    monkeypatch.setattr(context.secrets, "token_hex", spy)
    return made


@pytest.fixture
def app_handler() -> Iterator[io.StringIO]:
    """The application's own loguru handler, with loguru's defaults (diagnose on); loguru's
    default handler stays too, as it does when an application only adds one."""
    buffer = io.StringIO()
    handler = logger.add(buffer, level="DEBUG", backtrace=True, diagnose=True)
    yield buffer
    logger.remove(handler)


def _fail_an_acquire() -> None:
    locks = LockManager.from_url(UNREACHABLE)
    try:
        with pytest.raises(CNOPServiceUnavailableException) as told, locks.lock("x", wait=0):
            pass
    finally:
        locks.close()
    assert "127.0.0.1:1" in str(told.value)


def _fail_a_callback() -> None:
    def on_lost(_: object) -> None:
        raise RuntimeError("the callback broke")

    locks = LockManager.in_memory()
    lock = locks.lock("y", ttl=10, on_lost=on_lost).__enter__()
    locks.force_release("y")
    with pytest.raises(Exception, match="lost"):
        lock.release()


SCENARIOS: dict[str, Callable[[], None]] = {
    "backend_failed": _fail_an_acquire,
    "callback_failed": _fail_a_callback,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_token_in_lines_of_an_application_loguru_handler(
    app_handler: io.StringIO, capfd: pytest.CaptureFixture[str], tokens: list[str], scenario: str
) -> None:
    SCENARIOS[scenario]()
    text = app_handler.getvalue() + "".join(capfd.readouterr())
    assert "ERROR" in text  # the failure was logged
    assert tokens
    assert not [t for t in tokens if t in text]


#: Run in a fresh interpreter, where nothing has configured loguru or cnop.logging yet.
_UNCONFIGURED = """
import secrets, sys
from cnop.locking import LockManager, context
made, token_hex = [], secrets.token_hex
def spy(nbytes=None):
    made.append(token_hex(nbytes))
    return made[-1]
context.secrets.token_hex = spy
if sys.argv[1] == "backend_failed":
    try:
        with LockManager.from_url("redis://127.0.0.1:1/0").lock("x", wait=0):
            pass
    except Exception:
        pass
else:
    def on_lost(_):
        raise RuntimeError("the callback broke")
    locks = LockManager.in_memory()
    lock = locks.lock("y", ttl=10, on_lost=on_lost).__enter__()
    locks.force_release("y")
    try:
        lock.release()
    except Exception:
        pass
print(" ".join(made))
"""


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_token_in_lines_written_before_configuration(scenario: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _UNCONFIGURED, scenario],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    tokens = done.stdout.split()
    assert tokens
    assert '"level":"ERROR"' in done.stderr  # the failure was logged, as JSON
    assert not [t for t in tokens if t in done.stderr]


def test_no_token_in_the_error_of_a_failed_acquire(tokens: list[str]) -> None:
    locks = LockManager.from_url(UNREACHABLE)
    try:
        with pytest.raises(CNOPServiceUnavailableException) as told, locks.lock("x", wait=0):
            pass
    finally:
        locks.close()
    shown = f"{told.value!s} {told.value!r} {told.value.details}"
    assert not [t for t in tokens if t in shown]
