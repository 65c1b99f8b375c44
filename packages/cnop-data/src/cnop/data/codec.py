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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, TypeVar

from cnop.data.models import CNOPModel
from cnop.exceptions import CNOPDatabaseOperationException

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
    """How one Python type becomes an attribute value and back."""

    encode: Callable[[Any], AttributeValue]
    decode: Callable[[AttributeValue], Any]


def format_timestamp(value: datetime) -> str:
    """``2026-01-02T03:04:05.000006Z`` (fixed width, UTC)."""
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """The aware UTC datetime of a string written by :func:`format_timestamp`."""
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


STR = FieldCodec(lambda v: {"S": v}, lambda a: a["S"])
DECIMAL = FieldCodec(lambda v: {"N": str(v)}, lambda a: Decimal(a["N"]))
INT = FieldCodec(lambda v: {"N": str(v)}, lambda a: int(a["N"]))
BOOL = FieldCodec(lambda v: {"BOOL": v}, lambda a: a["BOOL"])
TIMESTAMP = FieldCodec(lambda v: {"S": format_timestamp(v)}, lambda a: parse_timestamp(a["S"]))
DATE = FieldCodec(lambda v: {"S": v.isoformat()}, lambda a: date.fromisoformat(a["S"]))

E = TypeVar("E", bound=Enum)


def enum_codec(enum: type[E]) -> FieldCodec:
    """Store an enum member as its (string) value."""
    return FieldCodec(lambda v: {"S": v.value}, lambda a: enum(a["S"]))


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
        self._fields = tuple(fields.items())
        self._by_name = dict(fields)
        self._keys = keys
        self._required = frozenset(
            name for name, info in model.model_fields.items() if info.is_required()
        )

    def to_item(self, entity: M) -> Item:
        """The full item for ``entity``, key attributes included."""
        item: Item = {name: {"S": value} for name, value in self._keys(entity).items()}
        for name, codec in self._fields:
            value = getattr(entity, name)
            if value is not None:
                item[name] = codec.encode(value)
        return item

    def encode_field(self, name: str, value: Any) -> AttributeValue:
        """One field's attribute value (for update expressions)."""
        return self._by_name[name].encode(value)

    def from_item(self, item: Mapping[str, AttributeValue]) -> M:
        """The model stored in ``item`` (key attributes are ignored)."""
        values: dict[str, Any] = {}
        try:
            for name, codec in self._fields:
                attribute = item.get(name)
                if attribute is not None and "NULL" not in attribute:
                    values[name] = codec.decode(attribute)
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            raise self._corrupt(f"attribute {name!r} has the wrong type") from exc
        if not self._required.issubset(values):
            missing = sorted(self._required - set(values))
            raise self._corrupt(f"attributes {missing} are missing")
        return self.model.model_construct(**values)

    def _corrupt(self, problem: str) -> CNOPDatabaseOperationException:
        return CNOPDatabaseOperationException(
            f"A stored {self.model.__name__} item is malformed: {problem}",
            details={"entity": self.model.__name__},
        )
