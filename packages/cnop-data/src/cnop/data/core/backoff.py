"""Exponential backoff with full jitter, shared by every retry in the core."""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable
from dataclasses import dataclass

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException

__all__ = ["DEFAULT_BACKOFF", "Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base·2ⁿ)).

    ``base`` and ``cap`` are seconds (finite, 0 <= base <= cap), ``max_attempts`` an
    integer of at least 1, ``jitter`` a function returning a fraction in [0, 1]; anything
    else raises CNOPConfigurationException naming the field.
    """

    base: float = 0.05
    cap: float = 2.0
    max_attempts: int = 8
    jitter: Callable[[], float] = _random.random

    def __post_init__(self) -> None:
        for name in ("base", "cap"):
            if not _is_seconds(getattr(self, name)):
                raise CNOPConfigurationException(
                    f"Backoff.{name} must be a finite number of seconds, 0 or more"
                )
        if self.base > self.cap:
            raise CNOPConfigurationException("Backoff needs base <= cap (seconds)")
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise CNOPConfigurationException("Backoff.max_attempts must be an integer, 1 or more")
        if not callable(self.jitter):
            raise CNOPConfigurationException("Backoff.jitter must be a function of no arguments")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (an integer, 0 or more)."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
            raise CNOPValidationException.for_field(
                "attempt", f"must be an integer, 0 or more (got {type(attempt).__name__})"
            )
        # Past the cap the exponent no longer matters; bounding it keeps 2.0**n finite.
        return self.jitter() * min(self.cap, self.base * 2.0 ** min(attempt, _MAX_EXPONENT))


_MAX_EXPONENT = 1000


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


DEFAULT_BACKOFF = Backoff()
