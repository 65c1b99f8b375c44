"""Turning one loguru record into one line: compact JSON or a console line.

Pure functions of the record plus the request context and the active span; the
handler set up by :func:`cnop.logging.configure_logging` calls them once per line.
"""

from __future__ import annotations

import json
import re
import sys
import time
import traceback
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring_ascii,
)
from typing import Any, NamedTuple

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
    "log_warning",
)
#: The field that says a line was changed because a call broke the rules.
WARNING_FIELD = "log_warning"
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


class _Level(NamedTuple):
    name: str


class _Exception(NamedTuple):
    type: Any
    value: Any
    traceback: Any


def make_record(level: str, cnop: tuple[Any, ...], message: str, exception: bool) -> dict[str, Any]:
    """The part of a loguru record that :func:`record_fields` reads, for a BaseLogger
    call (``cnop``: logger, action, user, request_id, fields) that loguru never saw;
    ``exception``: attach the exception being handled."""
    return {
        "extra": {CNOP_EXTRA: cnop},
        "time": datetime.now(timezone.utc),
        "level": _Level(level),
        "message": message,
        "exception": _Exception(*sys.exc_info()) if exception else None,
        "name": cnop[0],
    }


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
    """JSON for what :mod:`json` cannot encode: never raises.

    Enums become their value, dates ISO text, ``Decimal`` its exact text (``"10.50"``),
    bytes ``"<n bytes>"``, anything else its ``str()``, masked.
    """
    try:
        if isinstance(value, Enum):
            return _finite(value.value)
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return f"<{len(value)} bytes>"
        return mask_text(str(value))
    except Exception:
        return f"<unprintable {type(value).__name__}>"


# Python refuses to turn ints of more than 4300 digits (about 14,280 bits) into text by
# default (sys.get_int_max_str_digits), so the encoder would raise on them.
_MAX_INT_BITS = 14_000
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats as text and over-long ints described."""
    if isinstance(value, float) and value - value != 0:
        return _NON_FINITE.get(repr(float(value)), "NaN")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        return f"<int of {value.bit_length()} bits>"
    return value


def _text(value: str) -> str:
    """``value`` with lone surrogates (which strict JSON readers refuse) as U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def strict_json(value: Any, depth: int = 0) -> Any:
    """A copy of an already redacted ``value`` that any strict JSON reader accepts.

    The slow path of :func:`json_line`, taken only for a line the fast encoder refused:
    non-finite floats become ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; ints too long
    to print are described; lone surrogates become U+FFFD; other values go through
    :func:`json_default`.
    """
    if depth > 64:
        return "<nested too deep>"
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return _finite(value)
    if isinstance(value, dict):
        return {
            _text(k if isinstance(k, str) else str(k)): strict_json(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [strict_json(item, depth + 1) for item in value]
    return strict_json(json_default(value), depth + 1)


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

    ``action``, ``user`` and ``request_id`` given with the call set the line's values.
    Other fields never overwrite the schema: a field with a reserved name is kept as
    ``field_<name>`` and the line gets a ``log_warning`` field naming it.
    """
    extra = record["extra"]
    cnop = extra.get(CNOP_EXTRA)
    if cnop is not None:
        logger_name, action, user, request_id, fields = cnop
    else:
        logger_name, action, user, request_id, fields = record["name"], None, None, None, None
    others = None
    if len(extra) > (cnop is not None) + (LINE_EXTRA in extra):
        # Fields bound with loguru's own bind()/contextualize() by the host application;
        # its action, user and request_id count as given with the call.
        others = {k: v for k, v in extra.items() if k not in (CNOP_EXTRA, LINE_EXTRA)}
        if action is None:
            action = others.pop("action", None)
        if user is None:
            user = others.pop("user", None)
        if request_id is None:
            request_id = others.pop("request_id", None)
    trace_id, span_id = current_trace_ids()
    out: dict[str, Any] = {
        "timestamp": utc_timestamp(record["time"]),
        "level": record["level"].name,
        "service": service,
        "logger": logger_name,
        "action": _plain(action),
        "message": mask_text(record["message"]),
        "request_id": _plain(request_id) if request_id is not None else request_id_var.get(),
        "user": _plain(user) if user is not None else user_var.get(),
        "trace_id": trace_id,
        "span_id": span_id,
    }
    clashes: list[str] = []
    if others:
        _add_fields(out, others, clashes)
    if fields:
        _add_fields(out, fields, clashes)
    if clashes:
        out[WARNING_FIELD] = "reserved names passed as fields were not applied: " + ", ".join(
            f"{name} (kept as field_{name})" for name in clashes
        )
    if record["exception"] is not None:
        exception = exception_fields(record["exception"])
        if exception is not None:
            out["exception"] = exception
    return out


def _add_fields(out: dict[str, Any], fields: dict[str, Any], clashes: list[str]) -> None:
    if _RESERVED.isdisjoint(fields):
        redact_fields(fields, into=out)
        return
    clashes.extend(name for name in fields if name in _RESERVED)
    redact_fields(fields, into=out, taken=_RESERVED)


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
    # copies every container and cuts nesting at MAX_DEPTH. allow_nan=False: strict
    # JSON readers drop a line with a bare NaN, so such a line takes the slow path.
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(default=json_default, separators=(",", ":"), allow_nan=False).encode
    chunks = c_make_encoder(
        None, json_default, encode_basestring_ascii, None, ":", ",", False, False, False
    )
    return lambda value: "".join(chunks(value, 0))


_encode = _make_encoder()


def json_line(record: Any, service: str | None) -> str:
    """One compact JSON object (no newline) for ``record``, valid for strict readers."""
    fields = record_fields(record, service)
    try:
        line = _encode(fields)
    except (ValueError, TypeError, OverflowError, RecursionError):
        # NaN/Infinity (refused by the encoder), an int too long to print, a default()
        # that returned something odd: rebuild the line value by value.
        return _encode(strict_json(fields))
    if "\\ud" in line and any(m[1] for m in _LONE_SURROGATE.finditer(line)):
        return _encode(strict_json(fields))
    return line


# A \uXXXX escape of a surrogate not part of a pair (an escaped backslash is skipped
# as a whole, so "\\ud800" written by a caller is not taken for one).
_LONE_SURROGATE = re.compile(
    r"\\\\|\\ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|(\\ud[89a-f][0-9a-f]{2})"
)


def fallback_line(record: Any, service: str | None, error: BaseException) -> str:
    """A minimal JSON line for a record that could not be formatted in full."""
    out: dict[str, Any] = {"service": service, "format_error": type(error).__name__}
    for key, build in (
        ("timestamp", lambda: utc_timestamp(record["time"])),
        ("level", lambda: record["level"].name),
        ("message", lambda: _text(mask_text(str(record["message"])))),
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
