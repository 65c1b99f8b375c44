"""Creating planned items in the target so that a second run, or a resumed one, is harmless.

Every item is created on ``attribute_not_exists(pk)`` with the old item returned on
failure. An existing item equal to the planned one is an earlier run's work (done); a
different one is a conflict, reported and left alone. A failure after which the write
may have been applied (a timeout, a reset, a 5xx) or a throttle is re-sent: the
condition then tells whether the first attempt landed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum

from cnop.data.codec import Item
from cnop.data.core.backoff import Backoff
from cnop.data.core.requests import get_item, put_new, transact_put_new
from cnop.data.core.steps import Call, Operation, Pause
from cnop.data.errors import CancellationReason, may_have_applied, reasons_to_exception
from cnop.data.migrate._plan import Write
from cnop.exceptions import CNOPEntityAlreadyExistsException, CNOPException

__all__ = ["Outcome", "WriteResult", "differing_attributes", "write_planned"]

_BACKOFF = Backoff(base=0.05, cap=2.0, max_attempts=6)


class Outcome(str, Enum):
    WRITTEN = "written"
    PRESENT = "present"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class WriteResult:
    outcome: Outcome
    #: For a conflict: which attributes differ (names only: values may be secret).
    detail: str = ""


def _same_value(a: dict[str, object], b: dict[str, object]) -> bool:
    if a.keys() != b.keys():
        return False
    if "N" in a:
        # DynamoDB gives numbers back in its own form ("10.50" is read as "10.5").
        try:
            return Decimal(str(a["N"])) == Decimal(str(b["N"]))
        except InvalidOperation:
            return False
    return a == b


def differing_attributes(planned: Item, found: Item) -> list[str]:
    """Names of the attributes in which ``found`` is not ``planned`` (sorted)."""
    names = set(planned) | set(found)
    return sorted(
        n
        for n in names
        if n not in planned or n not in found or not _same_value(planned[n], found[n])
    )


def _compare(planned: Sequence[Item], found: Sequence[Item | None]) -> WriteResult:
    problems = []
    for want, have in zip(planned, found, strict=True):
        key = f"{want['pk']['S']}/{want['sk']['S']}"
        if have is None:
            problems.append(f"{key} is missing")
        else:
            diff = differing_attributes(want, have)
            if diff:
                problems.append(f"{key} differs in {', '.join(diff)}")
    if not problems:
        return WriteResult(Outcome.PRESENT)
    return WriteResult(Outcome.CONFLICT, "; ".join(problems))


def _read(table: str, items: Sequence[Item]) -> Operation[list[Item | None]]:
    found: list[Item | None] = []
    for item in items:
        key = {"pk": item["pk"], "sk": item["sk"]}
        reply = yield Call("get_item", get_item(table, key, consistent=True), table)
        found.append(reply.get("Item"))
    return found


def _should_resend(exc: CNOPException, attempt: int) -> bool:
    return attempt < _BACKOFF.max_attempts and (exc.retryable or may_have_applied(exc))


def _put(write: Write) -> Operation[WriteResult]:
    (item,) = write.items
    old: list[Item | None] = []

    def exists(found: Item | None) -> CNOPException:
        old.append(found)
        return CNOPEntityAlreadyExistsException("the item exists")

    uncertain = False
    attempt = 0
    while True:
        try:
            yield Call(
                "put_item", put_new(write.table, item), write.table, on_condition_failed=exists
            )
            return WriteResult(Outcome.WRITTEN)
        except CNOPEntityAlreadyExistsException:
            found = old[-1] if old else None
            if found is None:  # not returned: read it
                found = (yield from _read(write.table, write.items))[0]
            result = _compare(write.items, [found])
            if result.outcome is Outcome.PRESENT and uncertain:
                return WriteResult(Outcome.WRITTEN)  # our own earlier attempt landed
            return result
        except CNOPException as exc:
            if not _should_resend(exc, attempt):
                raise
            uncertain = uncertain or may_have_applied(exc)
            attempt += 1
            yield Pause(_BACKOFF.delay(attempt))


def _transact(write: Write) -> Operation[WriteResult]:
    """The user, its email guard and its balance: all three or none, like cnop's create_user."""
    cancelled: list[Sequence[CancellationReason]] = []

    def explain(reasons: Sequence[CancellationReason]) -> CNOPException:
        if any(r.code == "ConditionalCheckFailed" for r in reasons):
            cancelled.append(reasons)
            return CNOPEntityAlreadyExistsException("an item exists")
        return reasons_to_exception(reasons, {})

    params = {"TransactItems": [transact_put_new(write.table, item) for item in write.items]}
    uncertain = False
    attempt = 0
    while True:
        try:
            yield Call("transact_write_items", params, write.table, on_cancelled=explain)
            return WriteResult(Outcome.WRITTEN)
        except CNOPEntityAlreadyExistsException:
            # Only the items whose condition failed come back; read them all to compare.
            found = yield from _read(write.table, write.items)
            result = _compare(write.items, found)
            if result.outcome is Outcome.PRESENT and uncertain:
                return WriteResult(Outcome.WRITTEN)
            return result
        except CNOPException as exc:
            if not _should_resend(exc, attempt):
                raise
            uncertain = uncertain or may_have_applied(exc)
            attempt += 1
            yield Pause(_BACKOFF.delay(attempt))


def _predict(write: Write) -> Operation[WriteResult]:
    found = yield from _read(write.table, write.items)
    if all(item is None for item in found):
        return WriteResult(Outcome.WRITTEN)
    return _compare(write.items, found)


def write_planned(write: Write, *, dry_run: bool) -> Operation[WriteResult]:
    """Create ``write``'s items, or (``dry_run``) only say what creating them would do."""
    if dry_run:
        return (yield from _predict(write))
    if len(write.items) == 1:
        return (yield from _put(write))
    return (yield from _transact(write))
