"""Turning one loguru record into one line: compact JSON or a console line.

Pure functions of the record plus the request context and the active span; the
handler set up by :func:`cnop.logging.configure_logging` calls them once per line.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring_ascii,
)
from typing import Any

from cnop.logging.context import request_id_var, user_var
from cnop.logging.redaction import mask_text, redact_fields

#: Key of the loguru ``extra`` entry that carries (logger, action, user, fields);
#: BaseLogger binds it by this literal name.
CNOP_EXTRA = "_cnop"
#: Key of the loguru ``extra`` entry where the finished line is left for the handler.
LINE_EXTRA = "_cnop_line"
LINE_TEMPLATE = "{extra[" + LINE_EXTRA + "]}\n"

RESERVED = (
    "timestamp",
    "level",
    "service",
    "logger",
    "action",
    "message",
    "request_id",
    "user",
    "trace_id",
    "span_id",
    "exception",
)
_RESERVED = frozenset(RESERVED)

# (second, formatted second) of the last line: one slot, replaced as a whole tuple so
# threads never see a half-updated pair.
_second_cache: list[tuple[int, str]] = [(-1, "")]


def utc_timestamp(moment: datetime) -> str:
    """``moment`` in UTC as ``2026-01-02T03:04:05.678901Z`` (exactly one zone marker)."""
    seconds = int(moment.timestamp())
    cached_second, prefix = _second_cache[0]
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache[0] = (seconds, prefix)
    return f"{prefix}.{moment.microsecond:06d}Z"


def current_trace_ids() -> tuple[str | None, str | None]:
    """(trace_id, span_id) of the active OpenTelemetry span as hex, or (None, None)."""
    # No span can be active unless something imported the trace API, so a process
    # that does not trace never pays for importing it here.
    trace_api = sys.modules.get("opentelemetry.trace")
    if trace_api is None:
        return None, None
    context = trace_api.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def json_default(value: Any) -> Any:
    """JSON for what :mod:`json` cannot encode: never raises."""
    try:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, bytes):
            return f"<{len(value)} bytes>"
        return mask_text(str(value))
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def exception_fields(exception: Any) -> dict[str, Any] | None:
    """The structured ``exception`` object of a record: type, message, stack."""
    if exception is None or exception.type is None:
        return None
    exc_type, value, tb = exception
    try:
        message = str(value) if value is not None else ""
    except Exception:
        message = "<unprintable message>"
    out: dict[str, Any] = {
        "type": f"{exc_type.__module__}.{exc_type.__qualname__}"
        if exc_type.__module__ != "builtins"
        else exc_type.__qualname__,
        "message": mask_text(message),
        "stack": mask_text("".join(traceback.format_exception(exc_type, value, tb))),
    }
    code = getattr(value, "code", None)
    if isinstance(code, str):
        out["code"] = code
    return out


def record_fields(record: Any, service: str | None) -> dict[str, Any]:
    """Every field of the line for ``record`` (redacted), in the documented order.

    Extra fields never overwrite the schema: a clashing one is kept as ``field_<name>``.
    """
    extra = record["extra"]
    cnop = extra.get(CNOP_EXTRA)
    if cnop is not None:
        logger_name, action, user, fields = cnop
    else:
        logger_name, action, user, fields = record["name"], None, None, None
    trace_id, span_id = current_trace_ids()
    out: dict[str, Any] = {
        "timestamp": utc_timestamp(record["time"]),
        "level": record["level"].name,
        "service": service,
        "logger": logger_name,
        "action": _plain(action),
        "message": mask_text(record["message"]),
        "request_id": request_id_var.get(),
        "user": user if user is not None else user_var.get(),
        "trace_id": trace_id,
        "span_id": span_id,
    }
    if len(extra) > (cnop is not None) + (LINE_EXTRA in extra):
        # Fields bound with loguru's own bind()/contextualize() by the host application.
        others = {k: v for k, v in extra.items() if k not in (CNOP_EXTRA, LINE_EXTRA)}
        redact_fields(others, into=out, taken=_RESERVED)
    if fields:
        redact_fields(fields, into=out, taken=_RESERVED)
    if record["exception"] is not None:
        exception = exception_fields(record["exception"])
        if exception is not None:
            out["exception"] = exception
    return out


def _plain(value: Any) -> Any:
    """An enum member as its plain value (str enums without the slow ``.value``)."""
    if type(value) is str or value is None:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    return value.value if isinstance(value, Enum) else value


def _make_encoder() -> Callable[[Any], str]:
    # The C encoder made once: json.dumps/JSONEncoder.encode build one per call, which
    # is a good part of the cost of a short line. No cycle check is needed: redaction
    # copies every container and cuts nesting at MAX_DEPTH.
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(default=json_default, separators=(",", ":")).encode
    chunks = c_make_encoder(
        None, json_default, encode_basestring_ascii, None, ":", ",", False, False, True
    )
    return lambda value: "".join(chunks(value, 0))


_encode = _make_encoder()


def json_line(record: Any, service: str | None) -> str:
    """One compact JSON object (no newline) for ``record``."""
    return _encode(record_fields(record, service))


def fallback_line(record: Any, service: str | None, error: BaseException) -> str:
    """A minimal JSON line for a record that could not be formatted in full."""
    out: dict[str, Any] = {"service": service, "format_error": type(error).__name__}
    for key, build in (
        ("timestamp", lambda: utc_timestamp(record["time"])),
        ("level", lambda: record["level"].name),
        ("message", lambda: mask_text(str(record["message"]))),
    ):
        try:
            out[key] = build()
        except Exception:
            out[key] = None
    return json.dumps(out)


def console_line(record: Any, service: str | None) -> str:
    """A line for people: time, level, logger, action, message, then key=value fields."""
    fields = record_fields(record, service)
    head = (
        f"{fields.pop('timestamp')} {fields.pop('level'):<8} "
        f"{fields.pop('logger')} [{fields.pop('action') or '-'}] {fields.pop('message')}"
    )
    exception = fields.pop("exception", None)
    fields.pop("service")
    rest = " ".join(
        f"{key}={json.dumps(value, default=json_default)}"
        for key, value in fields.items()
        if value is not None
    )
    line = f"{head}  {rest}" if rest else head
    if exception is not None:
        line = f"{line}\n{exception['stack'].rstrip()}"
    return line
