"""Exponential backoff with full jitter, shared by every retry in the core."""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_BACKOFF", "Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base·2ⁿ))."""

    base: float = 0.05
    cap: float = 2.0
    max_attempts: int = 8
    jitter: Callable[[], float] = _random.random

    def delay(self, attempt: int) -> float:
        return self.jitter() * min(self.cap, self.base * 2.0**attempt)


DEFAULT_BACKOFF = Backoff()
