"""Where lines go: a stream, a file or a callable, wrapped so a failure never raises.

A sink that fails (closed stream, full disk, a callable that raises) is reported once
on stderr; the lines it could not take are dropped and counted.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import IO, Any, TypeAlias

from cnop.exceptions import CNOPConfigurationException
from cnop.logging._report import report_once

#: What ``configure_logging(sink=...)`` accepts.
Sink: TypeAlias = "IO[str] | str | os.PathLike[str] | Callable[[str], object]"


class SafeSink:
    """Writes each line to ``target`` and flushes; never raises.

    ``target`` is a text stream (anything with ``write``), a file path (opened for
    appending, UTF-8) or a callable taking the line.
    """

    def __init__(self, target: Any) -> None:
        self._owned: IO[str] | None = None
        self._write: Callable[[str], object]
        self._flush: Callable[[], object] | None = None
        if isinstance(target, (str, os.PathLike)):
            # os, not pathlib: pathlib alone would add ~5 ms to ``import cnop.logging``.
            path = os.fspath(target)
            name = os.path.basename(path)
            try:
                self._owned = open(path, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise CNOPConfigurationException(
                    f"log sink: cannot open {name!r} for appending ({exc.strerror})"
                ) from exc
            self._write, self._flush = self._owned.write, self._owned.flush
            self.description = f"file {name!r}"
        elif callable(getattr(target, "write", None)):
            self._write = target.write
            flush = getattr(target, "flush", None)
            self._flush = flush if callable(flush) else None
            self.description = f"stream {getattr(target, 'name', type(target).__name__)!r}"
        elif callable(target):
            self._write = target
            self.description = f"callable {getattr(target, '__qualname__', repr(target))!r}"
        else:
            raise CNOPConfigurationException(
                "log sink: expected a text stream, a file path or a callable, "
                f"got {type(target).__name__}"
            )
        self.dropped = 0
        self._id = f"sink:{id(self)}"
        self._lock = threading.Lock()
        # Lines reach a sink through loguru (which serialises its handler) and, when
        # loguru has no other handler, directly; this lock keeps whole lines apart.
        self._write_lock = threading.Lock()
        self._busy = threading.local()

    def __call__(self, line: str) -> None:
        busy = self._busy
        if getattr(busy, "on", False):
            # The sink itself logged (a callable sink calling a logger): writing now
            # would deadlock on the lock this thread holds.
            with self._lock:
                self.dropped += 1
            report_once(
                f"{self._id}:reentrant",
                f"log sink {self.description} logged while writing a line; "
                "lines logged from inside a sink are dropped",
            )
            return
        busy.on = True
        try:
            with self._write_lock:
                self._write(line)
                if self._flush is not None:
                    self._flush()
        except Exception as exc:
            with self._lock:
                self.dropped += 1
            report_once(
                self._id,
                f"log sink {self.description} failed ({type(exc).__name__}: {exc}); "
                "further failures of this sink are counted, not reported",
            )
        finally:
            busy.on = False

    def close(self) -> None:
        """Close the file this sink opened itself (streams given to it stay open)."""
        if self._owned is not None:
            with contextlib.suppress(OSError):
                self._owned.close()
            self._owned = None
