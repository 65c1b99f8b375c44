"""The direct path: a BaseLogger line written straight to the configured sink.

After :func:`cnop.logging.configure_logging`, most processes have exactly one loguru
handler: ours, writing to a :class:`~cnop.logging.sinks.SafeSink` we own. Building a
loguru record for it (caller frame, thread, process, elapsed time, a copy per handler,
a format template) costs about as much again as the whole JSON line. While loguru is
in exactly the state ``configure_logging`` left it in, the line is rendered from the
call's own values and handed to that sink. As soon as anything else could see or
change the record (another handler, a ``capture_logs`` block, ``logger.configure``
extras or a patcher, ``contextualize``), the line goes through
loguru as before, pre-rendering nothing: the output is the same either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from loguru import logger

from cnop.logging._report import report_once
from cnop.logging.formatting import fallback_line, make_record

# Level numbers of loguru's default levels (the only ones BaseLogger uses).
LEVEL_NUMBERS = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "SUCCESS": 25,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}


class Route(NamedTuple):
    """What the direct path needs, replaced as a whole when the configuration changes."""

    handler_id: int  # our loguru handler
    least: int  # our handler's level number
    build: Callable[[Any, str | None], str]
    service: str
    sink: Callable[[str], None]
    # [loguru's handler dict when it was last seen to hold our handler alone]
    seen: list[object]


# loguru copies its handler dict on every add/remove (copy-on-write), so "the dict is
# still the one we saw" means "no handler was added or removed since". These are
# loguru internals: without them (another loguru version) there is no direct path.
_core: Any = getattr(logger, "_core", None)
_loguru_context: Any = getattr(sys.modules.get("loguru._logger"), "context", None)
_PARTS = ("handlers", "extra", "patcher", "activation_list", "enabled")
AVAILABLE = (
    _core is not None
    and _loguru_context is not None
    and all(hasattr(_core, part) for part in _PARTS)
)


def _ours_alone(route: Route) -> bool:
    handlers = _core.handlers
    if len(handlers) != 1 or route.handler_id not in handlers:
        return False
    route.seen[0] = handlers
    return True


def write(route: Route, level: str, cnop: tuple[Any, ...], message: str, exception: bool) -> bool:
    """Write one line by the direct path; False if loguru must take it instead."""
    core = _core
    if (
        (core.handlers is not route.seen[0] and not _ours_alone(route))
        or core.extra
        or core.patcher is not None
        or _loguru_context.get()
    ):
        return False
    if core.activation_list:
        # logger.disable()/enable() was used (libraries disable themselves): loguru
        # decides by the caller's module, BaseLogger.<level>'s caller, three frames up.
        # Its own cache answers; a module it has not decided on yet goes through loguru.
        try:
            enabled = core.enabled.get(sys._getframe(3).f_globals.get("__name__"))
        except ValueError:
            return False
        if enabled is None:
            return False
        if not enabled:
            return True
    if LEVEL_NUMBERS[level] < route.least:
        return True
    record = make_record(level, cnop, message, exception)
    try:
        line = route.build(record, route.service)
    except Exception as exc:
        report_once(f"format:{type(exc).__name__}", f"could not format a line: {exc!r:.200}")
        line = fallback_line(record, route.service, exc)
    route.sink(line + "\n")
    return True
