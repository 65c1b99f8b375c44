"""What a core operation asks its executor to do."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from cnop.data.errors import ConditionFailedHandler, TransactionCancelledHandler

__all__ = ["Call", "Concurrently", "Operation", "Pause", "Step"]

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


Step: TypeAlias = Call | Pause | Concurrently
#: A core operation: yields steps, receives replies, returns ``T``.
Operation = Generator[Step, Any, T]
