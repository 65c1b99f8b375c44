"""What a core operation asks its executor to do."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from cnop.data.errors import ConditionFailedHandler, TransactionCancelledHandler

__all__ = ["Call", "Concurrently", "NextDone", "Operation", "Pause", "Start", "Step"]

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One low-level client request: ``client.<operation>(**params)``.

    The executor sends back the reply ``dict``, or throws the mapped CNOP exception
    into the operation (which may catch it). ``on_condition_failed``/``on_cancelled``
    choose the error for a failed condition or a cancelled transaction.
    """

    operation: str
    params: dict[str, Any]
    table: str
    on_condition_failed: ConditionFailedHandler | None = field(default=None, compare=False)
    on_cancelled: TransactionCancelledHandler | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Pause:
    """Sleep ``seconds`` (backoff) before the next step; the reply is ``None``."""

    seconds: float


@dataclass(frozen=True)
class Concurrently:
    """Run ``calls`` at once; the reply is a list, in order, of each reply or its exception."""

    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Start:
    """Send ``call`` in the background after ``delay`` seconds; the reply is its ticket (an int).

    The operation keeps going while the call is in flight and later collects its outcome
    with :class:`NextDone`. An operation collects every call it started before it ends
    (nothing it sent is left unanswered), and bounds how many it keeps in flight.
    """

    call: Call
    delay: float = 0.0


@dataclass(frozen=True)
class NextDone:
    """Wait for the first started call to finish; the reply is ``(ticket, reply or exception)``.

    Only valid while at least one started call has not been collected yet.
    """


Step: TypeAlias = Call | Pause | Concurrently | Start | NextDone
#: A core operation: yields steps, receives replies, returns ``T``.
Operation = Generator[Step, Any, T]
