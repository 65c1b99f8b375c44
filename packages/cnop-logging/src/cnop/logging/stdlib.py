"""Routing standard-library logging (boto3, botocore, redis, uvicorn...) into loguru."""

from __future__ import annotations

import logging

from loguru import logger

from cnop.logging._report import report_once
from cnop.logging.formatting import CNOP_EXTRA

# Libraries that install their own handlers and stop propagation; after interception
# their records travel to the root logger like everyone else's.
OWN_HANDLER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error")

# Attributes every LogRecord has; anything else came from ``extra=`` and is a field.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

_LOGURU_LEVELS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


class InterceptHandler(logging.Handler):
    """A stdlib handler that re-emits each record through loguru, in our format.

    The stdlib logger's name becomes the line's ``logger`` field, and attributes given
    with ``extra=`` become fields (``action``, ``user`` and ``request_id`` fill those
    schema fields).
    """

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock around emit(): loguru serialises writes itself, and a second
        # lock would make every thread that logs through the stdlib wait in line.
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = _LOGURU_LEVELS.get(record.levelno, record.levelno)
            fields = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}
            action = fields.pop("action", None)
            user = fields.pop("user", None)
            request_id = fields.pop("request_id", None)
            logger.bind(**{CNOP_EXTRA: (record.name, action, user, request_id, fields)}).opt(
                exception=record.exc_info if record.exc_info else None
            ).log(level, _message(record))
        except Exception as exc:
            report_once(
                f"stdlib:{type(exc).__name__}",
                f"could not forward a record of {record.name!r} ({type(exc).__name__}: {exc})",
            )


def _message(record: logging.LogRecord) -> str:
    """The record's text; a message whose %-arguments do not fit is kept, not lost."""
    try:
        return record.getMessage()
    except Exception as exc:
        try:
            return f"{record.msg} (arguments {record.args!r} did not fit: {exc})"
        except Exception:
            return f"<unprintable message of {record.name!r}>"


# The root level before the first install(), restored by uninstall().
_level_before: list[int] = []


def install(level: int) -> None:
    """Make the root logger send everything at ``level`` or above to loguru.

    Replaces the root logger's handlers (as ``logging.basicConfig(force=True)`` does),
    so no line is written twice; safe to call again.
    """
    root = logging.getLogger()
    if not _level_before:
        _level_before.append(root.level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(InterceptHandler())
    root.setLevel(level)
    for name in OWN_HANDLER_LOGGERS:
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True


def uninstall() -> None:
    """Remove the handler :func:`install` added and restore the root level.

    The handlers it replaced are not put back.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, InterceptHandler):
            root.removeHandler(handler)
    if _level_before:
        root.setLevel(_level_before.pop())
