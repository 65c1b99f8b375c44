"""Small pieces the entity operations share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cnop.data.codec import Item, ItemMapper
from cnop.data.core.requests import get_item, put_new
from cnop.data.core.steps import Call, Operation
from cnop.data.models import CNOPModel
from cnop.exceptions import CNOPEntityAlreadyExistsException, CNOPException, CNOPValidationException

__all__ = ["check_version", "get_one", "put_one", "require_model"]

M = TypeVar("M", bound=CNOPModel)


def require_model(value: Any, model: type[M], field: str) -> M:
    if not isinstance(value, model):
        raise CNOPValidationException.for_field(field, f"must be a {model.__name__}")
    return value


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
