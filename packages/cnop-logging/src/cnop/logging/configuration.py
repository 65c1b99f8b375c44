"""``configure_logging``: one handler on loguru that writes our lines to one sink.

Importing :mod:`cnop.logging` configures nothing: lines logged before
:func:`configure_logging` go wherever loguru is already set up (by default its own
human-readable stderr handler). ``configure_logging`` then, and on every later call:

* removes the handler it added before (so calling it twice never doubles lines) and
  loguru's default stderr handler, but no handler the application added itself;
* adds one handler writing JSON (or console) lines to ``sink`` (default: stdout);
* with ``intercept_stdlib=True`` replaces the root stdlib logger's handlers with one
  that forwards into the same stream.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, Literal

from loguru import logger

from cnop.exceptions import CNOPConfigurationException
from cnop.logging import _direct, stdlib
from cnop.logging._report import report_once
from cnop.logging.formatting import (
    LINE_EXTRA,
    LINE_TEMPLATE,
    console_line,
    fallback_line,
    json_line,
)
from cnop.logging.redaction import add_secret_keys
from cnop.logging.sinks import SafeSink, Sink

Format = Literal["json", "console"]

LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("json", "console")
_STDLIB_LEVELS = {"TRACE": logging.DEBUG, "SUCCESS": logging.INFO}
# Spellings other tools use for the same levels.
_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
_LOGURU_DEFAULT_HANDLER_ID = 0


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.service: str | None = None
        self.handler_id: int | None = None
        self.sink: SafeSink | None = None
        self.default_removed = False
        # Set while loguru holds only our handler; see cnop.logging._direct.
        self.route: _direct.Route | None = None


_state = _State()


def current_service() -> str | None:
    """The ``service`` given to the last :func:`configure_logging`, or None."""
    return _state.service


def _choose(
    value: str | None, arg_name: str, env_name: str, default: str, allowed: tuple[str, ...]
) -> str:
    source = arg_name
    if value is None:
        source, value = env_name, os.environ.get(env_name) or default
    if isinstance(value, str):
        upper = value.strip().upper()
        upper = _LEVEL_ALIASES.get(upper, upper) if allowed is LEVELS else upper
        if upper in {a.upper() for a in allowed}:
            return upper if allowed is LEVELS else upper.lower()
    raise CNOPConfigurationException(f"{source}: {value!r:.40} is not one of {', '.join(allowed)}")


def _make_formatter(fmt: str, service: str) -> Callable[[Any], str]:
    build = json_line if fmt == "json" else console_line

    def formatter(record: Any) -> str:
        try:
            line = build(record, service)
        except Exception as exc:
            # The record could not be turned into a line (a broken __str__ deep in a
            # field...): write what we safely can instead of losing the event.
            report_once(f"format:{type(exc).__name__}", f"could not format a line: {exc!r:.200}")
            line = fallback_line(record, service, exc)
        record["extra"][LINE_EXTRA] = line
        return LINE_TEMPLATE

    return formatter


def configure_logging(
    *,
    service: str,
    level: str | None = None,
    fmt: Format | None = None,
    sink: Sink | None = None,
    intercept_stdlib: bool = True,
    secret_keys: Iterable[str] = (),
) -> None:
    """Send every log line of this process to ``sink`` as JSON (or console) lines.

    ``level`` defaults to ``$LOG_LEVEL`` or ``INFO``; ``fmt`` to ``$LOG_FORMAT`` or
    ``json``; ``sink`` to ``sys.stdout`` (also a file path or a callable taking a
    line). ``secret_keys`` adds keys to redact. An explicit argument wins over the
    environment. Calling it again replaces the previous configuration.

    Raises :class:`~cnop.exceptions.CNOPConfigurationException` naming the argument
    or variable when a value is not valid.
    """
    if not isinstance(service, str) or not service.strip():
        raise CNOPConfigurationException("service: must be a non-empty string")
    chosen_level = _choose(level, "level", "LOG_LEVEL", "INFO", LEVELS)
    chosen_fmt = _choose(fmt, "fmt", "LOG_FORMAT", "json", FORMATS)
    if secret_keys:
        add_secret_keys(*secret_keys)
    new_sink = SafeSink(sys.stdout if sink is None else sink)
    with _state.lock:
        if not _state.default_removed:
            # ValueError: the application removed it already.
            with contextlib.suppress(ValueError):
                logger.remove(_LOGURU_DEFAULT_HANDLER_ID)
            _state.default_removed = True
        _state.route = None
        if _state.handler_id is not None:
            # ValueError: the application removed it already (logger.remove()).
            with contextlib.suppress(ValueError):
                logger.remove(_state.handler_id)
            _state.handler_id = None
        if _state.sink is not None:
            _state.sink.close()
        _state.service = service.strip()
        _state.sink = new_sink
        _state.handler_id = logger.add(
            new_sink,
            level=chosen_level,
            format=_make_formatter(chosen_fmt, _state.service),
            colorize=False,
            backtrace=False,
            # diagnose=True would print local variables, passwords included.
            diagnose=False,
            catch=True,
        )
        if _direct.AVAILABLE:
            _state.route = _direct.Route(
                _state.handler_id,
                _direct.LEVEL_NUMBERS[chosen_level],
                json_line if chosen_fmt == "json" else console_line,
                _state.service,
                new_sink,
                [None],
            )
        if intercept_stdlib:
            stdlib.install(_STDLIB_LEVELS.get(chosen_level, getattr(logging, chosen_level)))
        else:
            stdlib.uninstall()


def reset_logging() -> None:
    """Undo :func:`configure_logging`: remove its handler and the stdlib interception
    (restoring the root logger's level, not the handlers it replaced)."""
    with _state.lock:
        _state.route = None
        if _state.handler_id is not None:
            # ValueError: the application removed it already (logger.remove()).
            with contextlib.suppress(ValueError):
                logger.remove(_state.handler_id)
            _state.handler_id = None
        if _state.sink is not None:
            _state.sink.close()
            _state.sink = None
        _state.service = None
        stdlib.uninstall()
