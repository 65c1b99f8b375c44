"""Fast, exact mapping between entity models and DynamoDB items (low-level client format).

Each entity has an :class:`ItemMapper`: a fixed list of (field, codec) pairs written
once, so mapping a model is a loop of direct conversions rather than boto3's
type-sniffing ``TypeSerializer``. Decimals travel as DynamoDB numbers (their exact
string form), timestamps as ISO-8601 UTC strings ending in ``Z``, enums as their
values; ``None`` fields are left out of the item.

Items are validated when they are written, so reading one back builds the model
without re-running validation; a missing or mistyped attribute (an item written by
something else) is a CNOPDatabaseOperationException naming the attribute.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from operator import attrgetter
from typing import Any, Generic, TypeVar

from cnop.data.models import CNOPModel
from cnop.exceptions import CNOPDatabaseOperationException, CNOPValidationException

__all__ = [
    "BOOL",
    "DATE",
    "DECIMAL",
    "INT",
    "STR",
    "TIMESTAMP",
    "AttributeValue",
    "FieldCodec",
    "Item",
    "ItemMapper",
    "enum_codec",
    "format_timestamp",
    "parse_timestamp",
]

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]
M = TypeVar("M", bound=CNOPModel)


@dataclass(frozen=True, slots=True)
class FieldCodec:
    """How one Python type becomes an attribute value and back.

    The attribute is ``{tag: render(value)}``; reading it back is ``parse(attribute[tag])``
    (``None`` for either means the value is used as it is).
    """

    tag: str
    render: Callable[[Any], Any] | None = None
    parse: Callable[[Any], Any] | None = None

    def encode(self, value: Any) -> AttributeValue:
        return {self.tag: value if self.render is None else self.render(value)}

    def decode(self, attribute: AttributeValue) -> Any:
        raw = attribute[self.tag]
        return raw if self.parse is None else self.parse(raw)


def format_timestamp(value: datetime) -> str:
    """``2026-01-02T03:04:05.000006Z`` (fixed width, UTC).

    ``value`` must be an aware datetime (another offset is converted to UTC); a naive one
    would be read as the machine's local time, so it raises CNOPValidationException.
    """
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise CNOPValidationException.for_field(
            "timestamp", f"must be an aware datetime (UTC), not {_kind(value)}"
        )
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"


# Exactly what format_timestamp writes: ASCII digits, microseconds, "Z".
_WRITTEN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def parse_timestamp(text: str) -> datetime:
    """The aware UTC datetime of a string written by :func:`format_timestamp`.

    Any other form (no ``Z``, another offset, whitespace, other digits) raises
    CNOPValidationException: a naive datetime read back would fail later, when it is
    compared with an aware one.
    """
    if not isinstance(text, str) or not _WRITTEN.fullmatch(text):
        raise CNOPValidationException.for_field(
            "timestamp", f"must be written as {'2026-01-02T03:04:05.000006Z'!r}, not {_kind(text)}"
        )
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    except ValueError:  # e.g. month 13
        raise CNOPValidationException.for_field("timestamp", "is not a valid date") from None


def _kind(value: object) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "...")
    if isinstance(value, datetime):
        return "a naive datetime"
    return f"a {type(value).__name__}"


STR = FieldCodec("S")
DECIMAL = FieldCodec("N", str, Decimal)
INT = FieldCodec("N", str, int)
BOOL = FieldCodec("BOOL")
TIMESTAMP = FieldCodec("S", format_timestamp, parse_timestamp)
DATE = FieldCodec("S", date.isoformat, date.fromisoformat)

E = TypeVar("E", bound=Enum)


def enum_codec(enum: type[E]) -> FieldCodec:
    """Store an enum member as its (string) value."""
    return FieldCodec("S", attrgetter("value"), enum)


_MISSING: Any = object()


class ItemMapper(Generic[M]):
    """Maps one entity model to and from items; ``keys`` adds the table's key attributes."""

    def __init__(
        self,
        model: type[M],
        fields: Mapping[str, FieldCodec],
        keys: Callable[[M], Mapping[str, str]],
    ) -> None:
        missing = set(model.model_fields) - set(fields)
        if missing:
            raise TypeError(f"{model.__name__} fields without a codec: {sorted(missing)}")
        self.model = model
        self._by_name = dict(fields)
        # (name, tag, render, parse) in the model's field order: a flat loop, no dispatch.
        self._plan = tuple(
            (name, fields[name].tag, fields[name].render, fields[name].parse)
            for name in model.model_fields
        )
        self._keys = keys
        # Fields without a plain default must come from the item; the others start at it.
        self._template = {
            name: _MISSING if info.is_required() or info.default_factory else info.default
            for name, info in model.model_fields.items()
        }

    def to_item(self, entity: M) -> Item:
        """The full item for ``entity``, key attributes included."""
        item: Item = {name: {"S": value} for name, value in self._keys(entity).items()}
        data = entity.__dict__
        for name, tag, render, _ in self._plan:
            value = data[name]
            if value is not None:
                item[name] = {tag: value if render is None else render(value)}
        return item

    def encode_field(self, name: str, value: Any) -> AttributeValue:
        """One field's attribute value (for update expressions)."""
        return self._by_name[name].encode(value)

    def from_item(self, item: Mapping[str, AttributeValue]) -> M:
        """The model stored in ``item`` (key attributes are ignored)."""
        values = dict(self._template)
        found = set()
        name = ""
        try:
            for name, tag, _, parse in self._plan:
                attribute = item.get(name)
                if attribute is None or "NULL" in attribute:
                    continue
                raw = attribute[tag]
                values[name] = raw if parse is None else parse(raw)
                found.add(name)
        except (
            KeyError,
            ValueError,
            TypeError,
            ArithmeticError,
            CNOPValidationException,
        ) as exc:
            raise self._corrupt(f"attribute {name!r} has the wrong type") from exc
        if len(found) < len(values):
            missing = sorted(n for n, v in values.items() if v is _MISSING)
            if missing:
                raise self._corrupt(f"attributes {missing} are missing")
        # What model_construct does, without its per-call bookkeeping: the values were
        # validated when the item was written and have just been decoded to their types.
        entity = self.model.__new__(self.model)
        object.__setattr__(entity, "__dict__", values)
        object.__setattr__(entity, "__pydantic_fields_set__", found)
        object.__setattr__(entity, "__pydantic_extra__", None)
        object.__setattr__(entity, "__pydantic_private__", None)
        return entity

    def _corrupt(self, problem: str) -> CNOPDatabaseOperationException:
        return CNOPDatabaseOperationException(
            f"A stored {self.model.__name__} item is malformed: {problem}",
            details={"entity": self.model.__name__},
        )
