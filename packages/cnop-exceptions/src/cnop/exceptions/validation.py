"""Bad input from a caller."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus

from cnop.exceptions.base import CNOPClientException

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any


class CNOPValidationException(CNOPClientException):
    """Input that breaks a rule; ``details["errors"]`` lists field-level problems.

    >>> CNOPValidationException.for_field("username", "must be 6-30 characters")
    """

    code = "VALIDATION_ERROR"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    default_message = "The request contains invalid values"

    @classmethod
    def for_field(cls, field: str, problem: str, **extra: Any) -> CNOPValidationException:
        """One field's problem, e.g. ``for_field("email", "is not a valid address")``."""
        return cls(
            f"{field}: {problem}",
            details={"errors": [{"field": field, "message": problem}], **extra},
        )

    @classmethod
    def for_fields(cls, errors: Sequence[Mapping[str, str]]) -> CNOPValidationException:
        """Several field problems, each a ``{"field": ..., "message": ...}`` mapping."""
        listed = [dict(e) for e in errors]
        message = "; ".join(f"{e.get('field', '?')}: {e.get('message', '')}" for e in listed)
        return cls(message or cls.default_message, details={"errors": listed})

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The field-level problems (may be empty)."""
        found = self.details.get("errors", [])
        return list(found) if isinstance(found, list) else []


class CNOPEntityValidationException(CNOPValidationException):
    """An entity (user, order, asset, ...) failed its model's validation."""

    code = "ENTITY_VALIDATION_ERROR"
    default_message = "The entity is not valid"
