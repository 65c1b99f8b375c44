"""A small facade over the OpenTelemetry metrics API with fixed label names.

    WAIT = metrics.histogram("cnop.lock.wait", unit="s", labels=("backend", "outcome"))
    WAIT.record(0.003, backend="redis", outcome="acquired")

Instruments are made through the global OTel meter provider. Until an SDK provider
is installed (:func:`cnop.logging.expose_prometheus`, or the application's own),
recording is a cheap no-op; once it is, instruments made earlier start recording.
A label set that does not match the declared names is a programming error: it is
reported once on stderr and the measurement is dropped, never raised.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Sequence
from typing import Any

from cnop.exceptions import CNOPValidationException
from cnop.logging._report import report_once

METER_NAME = "cnop"

# The OpenTelemetry instrument-name syntax.
_INSTRUMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_./-]{0,254}")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

#: Bucket bounds for histograms in seconds (OTel's defaults suit milliseconds).
SECONDS_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


def _meter() -> Any:
    # Imported on first use: ``import cnop.logging`` stays cheap for code that never
    # records a metric.
    from opentelemetry import metrics as otel_metrics  # noqa: PLC0415

    return otel_metrics.get_meter(METER_NAME)


class _Instrument:
    __slots__ = ("_label_names", "_otel", "description", "labels", "name", "unit")

    kind = "instrument"

    def __init__(
        self, name: str, unit: str, description: str, labels: tuple[str, ...], otel: Any
    ) -> None:
        # Made directly or through Metrics: the same checks either way.
        labels = _checked(name, unit, description, labels, None)
        self.name, self.unit, self.description, self.labels = name, unit, description, labels
        self._label_names = frozenset(labels)
        self._otel = otel

    def _valid(self, value: Any, labels: dict[str, Any]) -> bool:
        if labels.keys() != self._label_names:
            report_once(
                f"labels:{self.name}:{sorted(labels)}",
                f"{self.kind} {self.name!r} takes labels {sorted(self._label_names)}, "
                f"got {sorted(labels)}; measurement dropped",
            )
            return False
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            report_once(
                f"value:{self.name}",
                f"{self.kind} {self.name!r} needs a number, got {type(value).__name__}; "
                "measurement dropped",
            )
            return False
        for key, label in labels.items():
            if not isinstance(label, (str, bool, int, float)):
                labels[key] = str(label)
        return True


class Counter(_Instrument):
    """A monotonic sum (requests, errors, refusals)."""

    __slots__ = ()
    kind = "counter"

    def add(self, amount: float = 1, **labels: Any) -> None:
        """Add ``amount`` (>= 0) for this label set."""
        try:
            if not self._valid(amount, labels):
                return
            if amount < 0:
                report_once(f"negative:{self.name}", f"counter {self.name!r} cannot go down")
                return
            self._otel.add(amount, attributes=labels)
        except Exception as exc:
            report_once(f"record:{self.name}", f"counter {self.name!r} failed: {exc!r:.200}")


class Histogram(_Instrument):
    """A distribution of values (latencies, wait and hold times)."""

    __slots__ = ()
    kind = "histogram"

    def record(self, value: float, **labels: Any) -> None:
        """Record one ``value`` for this label set."""
        try:
            if self._valid(value, labels):
                self._otel.record(value, attributes=labels)
        except Exception as exc:
            report_once(f"record:{self.name}", f"histogram {self.name!r} failed: {exc!r:.200}")


class Metrics:
    """Makes instruments; the module-level :data:`metrics` is the one to use.

    Asking twice for the same name returns the same instrument; asking with a
    different kind or label set raises :class:`~cnop.exceptions.CNOPValidationException`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._instruments: dict[str, _Instrument] = {}

    def counter(
        self, name: str, *, unit: str = "", description: str = "", labels: Sequence[str] = ()
    ) -> Counter:
        """A :class:`Counter` named ``name`` with the label names ``labels``."""
        found = self._make(
            Counter, name, unit=unit, description=description, labels=labels, buckets=None
        )
        assert isinstance(found, Counter)  # noqa: S101 - guaranteed by _make
        return found

    def histogram(
        self,
        name: str,
        *,
        unit: str = "",
        description: str = "",
        labels: Sequence[str] = (),
        buckets: Sequence[float] | None = None,
    ) -> Histogram:
        """A :class:`Histogram`; ``unit="s"`` gets :data:`SECONDS_BUCKETS` by default."""
        if buckets is None and unit == "s":
            buckets = SECONDS_BUCKETS
        found = self._make(
            Histogram, name, unit=unit, description=description, labels=labels, buckets=buckets
        )
        assert isinstance(found, Histogram)  # noqa: S101 - guaranteed by _make
        return found

    def _make(
        self,
        cls: type[_Instrument],
        name: str,
        *,
        unit: str,
        description: str,
        labels: Sequence[str],
        buckets: Sequence[float] | None,
    ) -> _Instrument:
        label_names = _checked(name, unit, description, labels, buckets)
        with self._lock:
            existing = self._instruments.get(name)
            if existing is not None:
                if type(existing) is not cls or existing.labels != label_names:
                    raise CNOPValidationException.for_field(
                        "name",
                        f"{name!r} is already a {existing.kind} with labels "
                        f"{list(existing.labels)}",
                    )
                return existing
            meter = _meter()
            if cls is Counter:
                otel = meter.create_counter(name, unit=unit, description=description)
            else:
                otel = meter.create_histogram(
                    name,
                    unit=unit,
                    description=description,
                    explicit_bucket_boundaries_advisory=list(buckets) if buckets else None,
                )
            made = cls(name, unit, description, label_names, otel)
            self._instruments[name] = made
            return made


def _checked(
    name: str,
    unit: str,
    description: str,
    labels: Sequence[str],
    buckets: Sequence[float] | None,
) -> tuple[str, ...]:
    if not isinstance(name, str) or not _INSTRUMENT_NAME.fullmatch(name):
        raise CNOPValidationException.for_field(
            "name", f"must start with a letter and use letters, digits and _./- (got {name!r:.60})"
        )
    if not isinstance(unit, str) or len(unit) > 63 or not unit.isascii():
        raise CNOPValidationException.for_field("unit", "must be ASCII, at most 63 characters")
    if not isinstance(description, str):
        raise CNOPValidationException.for_field("description", "must be a string")
    label_names = _names(labels)
    if len(set(label_names)) != len(label_names):
        raise CNOPValidationException.for_field("labels", "names must not repeat")
    if buckets is not None:
        bounds = _sequence("buckets", buckets, "numbers")
        if (
            not bounds
            or not all(_is_finite_number(b) for b in bounds)
            or any(a >= b for a, b in itertools.pairwise(bounds))
        ):
            raise CNOPValidationException.for_field(
                "buckets", "must be a non-empty, strictly increasing sequence of finite numbers"
            )
    return label_names


def _sequence(field: str, value: object, of: str) -> tuple[Any, ...]:
    """``value`` as a tuple when it is a list, tuple or other sequence (not text or bytes)."""
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        raise CNOPValidationException.for_field(
            field, f"must be a list or tuple of {of}, not {type(value).__name__}"
        )
    return tuple(value)


def _names(labels: object) -> tuple[str, ...]:
    label_names = _sequence("labels", labels, "label names")
    for label in label_names:
        if not isinstance(label, str) or not _LABEL_NAME.fullmatch(label):
            raise CNOPValidationException.for_field(
                "labels", f"{label!r:.40} is not a valid label name (letters, digits, _)"
            )
    return label_names


def _is_finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: The facade every cnop package uses: ``metrics.counter(...)``, ``metrics.histogram(...)``.
metrics = Metrics()
