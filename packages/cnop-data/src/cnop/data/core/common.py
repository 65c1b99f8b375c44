"""Small pieces the entity operations share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cnop.data.codec import Item, ItemMapper
from cnop.data.core.backoff import Backoff
from cnop.data.core.requests import get_item, put_new
from cnop.data.core.steps import Call, Operation, Pause
from cnop.data.models import CNOPModel
from cnop.exceptions import (
    CNOPEntityAlreadyExistsException,
    CNOPException,
    CNOPServiceUnavailableException,
    CNOPValidationException,
)

__all__ = [
    "check_version",
    "get_one",
    "is_transaction_conflict",
    "put_one",
    "require_model",
    "transact_retrying_conflicts",
]

M = TypeVar("M", bound=CNOPModel)


def require_model(value: Any, model: type[M], field: str) -> M:
    """``value`` as a valid ``model``, or CNOPValidationException naming what is wrong.

    An instance is validated again: one built without validation (``model_construct``)
    could hold any type, and requests are sent without botocore's parameter check, so a
    wrong type would reach DynamoDB (stored as something else, or refused as a fault).
    """
    if not isinstance(value, model):
        raise CNOPValidationException.for_field(field, f"must be a {model.__name__}")
    given = value.model_fields_set
    fields = model.model_fields
    # A field left at its plain default is left out (a partial update tells "not given"
    # from "cleared" that way); one made by a factory (an id) is kept as it was made.
    data = {
        name: held
        for name, held in value.__dict__.items()
        if name in given or (name in fields and fields[name].default_factory is not None)
    }
    checked = model.model_validate(data)
    object.__setattr__(checked, "__pydantic_fields_set__", set(given))
    return checked


def check_version(expected_version: Any) -> int:
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise CNOPValidationException.for_field("expected_version", "must be an integer")
    if expected_version < 1:
        raise CNOPValidationException.for_field("expected_version", "must be 1 or more")
    return expected_version


def get_one(
    table: str,
    key: Item,
    mapper: ItemMapper[M],
    not_found: Callable[[], CNOPException],
    *,
    consistent: bool = True,
) -> Operation[M]:
    """The entity at ``key``, or the ``not_found`` error."""
    reply = yield Call("get_item", get_item(table, key, consistent=consistent), table)
    item = reply.get("Item")
    if not item:
        raise not_found()
    return mapper.from_item(item)


def put_one(table: str, entity: M, mapper: ItemMapper[M], what: str) -> Operation[M]:
    """Write a new entity; an existing one with the same key is CNOPEntityAlreadyExistsException."""

    def exists(_: Item | None) -> CNOPException:
        return CNOPEntityAlreadyExistsException(f"{what} already exists")

    yield Call(
        "put_item", put_new(table, mapper.to_item(entity)), table, on_condition_failed=exists
    )
    return entity


def is_transaction_conflict(error: CNOPException) -> bool:
    """Whether DynamoDB refused a write only because another transaction held its items."""
    return isinstance(error, CNOPServiceUnavailableException) and (
        "TransactionConflict" in error.details.get("reasons", ())
        or error.details.get("dynamodb_error") == "TransactionConflictException"
    )


_CONFLICT_BACKOFF = Backoff(base=0.02, max_attempts=5)


def transact_retrying_conflicts(
    call: Call, backoff: Backoff = _CONFLICT_BACKOFF
) -> Operation[dict[str, Any]]:
    """Run a TransactWriteItems ``call``, retrying a cancellation caused only by a
    concurrent transaction on the same items, so that the conditions decide the outcome
    (e.g. "already exists" for every loser of a registration race), not the timing."""
    attempt = 0
    while True:
        try:
            reply: dict[str, Any] = yield call
        except CNOPServiceUnavailableException as exc:
            if not is_transaction_conflict(exc) or attempt >= backoff.max_attempts:
                raise
            attempt += 1
            yield Pause(backoff.delay(attempt))
        else:
            return reply
