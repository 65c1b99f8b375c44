"""Reporting the logging system's own failures: once per cause, on the real stderr.

Logging must never raise into business code, but a silent failure is worse than a
noisy one; so each distinct problem is written once to ``sys.__stderr__`` and then
dropped.
"""

from __future__ import annotations

import sys
import threading

_reported: set[str] = set()
_lock = threading.Lock()


def report_once(key: str, message: str) -> bool:
    """Write ``message`` to stderr unless ``key`` was already reported; True if written."""
    with _lock:
        if key in _reported:
            return False
        _reported.add(key)
    stream = sys.__stderr__
    if stream is None:
        return True
    try:
        stream.write(f"cnop.logging: {message}\n")
        stream.flush()
    except Exception:  # noqa: S110 - stderr itself is gone; nothing left to tell
        pass
    return True
