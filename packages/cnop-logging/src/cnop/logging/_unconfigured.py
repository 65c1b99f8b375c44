"""Lines logged before :func:`cnop.logging.configure_logging`: the same JSON, on stderr.

While loguru still has only its own default handler (nobody configured it), a
``BaseLogger`` line would come out in loguru's human format, without its fields and
with its message unmasked. Instead it is written here as the JSON line
``configure_logging`` would write (``service`` null) to stderr, at ``$LOG_LEVEL`` or
INFO. Nothing in loguru is changed. Once the application has set loguru up itself
(added or removed a handler), lines go through loguru to the handlers it chose.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from loguru import logger

from cnop.logging._report import report_once
from cnop.logging.formatting import fallback_line, json_line, make_record

_LEVELS = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "SUCCESS": 25,
    "WARNING": 30,
    "WARN": 30,
    "ERROR": 40,
    "CRITICAL": 50,
    "FATAL": 50,
}
_LOGURU_DEFAULT_HANDLER_ID = 0


# Handlers of open ``capture_logs`` blocks: loguru handler id -> (least level, callback).
# They do not count as configuring loguru; lines written here are handed to them.
_captures: dict[int, tuple[int, Callable[[dict[str, Any]], None]]] = {}


def add_capture(handler_id: int, level: str, callback: Callable[[dict[str, Any]], None]) -> None:
    """Hand the lines written here to ``callback`` too (for ``capture_logs``)."""
    _captures[handler_id] = (_LEVELS.get(level, 0), callback)


def remove_capture(handler_id: int) -> None:
    """Stop handing lines to the capture of ``handler_id``."""
    _captures.pop(handler_id, None)


def loguru_untouched() -> bool:
    """True while loguru has exactly its default handler (nobody configured it)."""
    # loguru has no public way to list handlers; without this attribute (another
    # loguru version) we assume it was configured and leave the line to loguru.
    handlers = getattr(getattr(logger, "_core", None), "handlers", None)
    if not isinstance(handlers, dict):
        return False
    return [h for h in handlers if h not in _captures] == [_LOGURU_DEFAULT_HANDLER_ID]


def write(level: str, cnop: tuple[Any, ...], message: str, exception: bool) -> bool:
    """Write one line of a BaseLogger call made before configuration; False if loguru
    was configured by the application and should take the line instead."""
    if not loguru_untouched():
        return False
    levelno = _LEVELS.get(level, 20)
    threshold = _LEVELS.get((os.environ.get("LOG_LEVEL") or "INFO").strip().upper(), 20)
    captures = [callback for least, callback in list(_captures.values()) if levelno >= least]
    if levelno < threshold and not captures:
        return True
    record = make_record(level, cnop, message, exception)
    for callback in captures:
        callback(record)
    if levelno < threshold:
        return True
    try:
        line = json_line(record, None)
    except Exception as exc:
        line = fallback_line(record, None, exc)
    try:
        stream = sys.stderr
        stream.write(line + "\n")
        stream.flush()
    except Exception as exc:
        report_once(f"unconfigured:{type(exc).__name__}", f"stderr refused a line ({exc!r:.80})")
    return True
