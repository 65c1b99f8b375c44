"""The base of the package's pydantic models: bad values raise a CNOP validation error."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cnop.exceptions import CNOPValidationException

_VALUE_ERROR_PREFIX = "Value error, "
_M = TypeVar("_M", bound="AuthModel")


def validation_error(model: str, error: ValidationError) -> CNOPValidationException:
    """One CNOPValidationException listing every bad field (never the bad values).

    pydantic's own message quotes the input, which may be a token or a secret: it is
    dropped, and only the field names and what was wrong with them are kept.
    """
    problems = [
        {
            "field": ".".join(str(part) for part in item["loc"]) or model,
            "message": str(item["msg"]).removeprefix(_VALUE_ERROR_PREFIX),
        }
        for item in error.errors(include_input=False, include_url=False)
    ]
    if not problems:
        return CNOPValidationException(f"{model} is not valid", details={"model": model})
    return CNOPValidationException.for_fields(problems)


class AuthModel(BaseModel):
    """A pydantic model whose construction and validation raise ``CNOPValidationException``."""

    # Validators are built on a model's first use, not when its module is imported.
    model_config = ConfigDict(defer_build=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise validation_error(type(self).__name__, exc) from None

    @classmethod
    def model_validate(cls: type[_M], obj: Any, *args: Any, **kwargs: Any) -> _M:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise validation_error(cls.__name__, exc) from None

    @classmethod
    def model_validate_json(cls: type[_M], json_data: Any, *args: Any, **kwargs: Any) -> _M:
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as exc:
            raise validation_error(cls.__name__, exc) from None

    @classmethod
    def model_validate_strings(cls: type[_M], obj: Any, *args: Any, **kwargs: Any) -> _M:
        try:
            return super().model_validate_strings(obj, *args, **kwargs)
        except ValidationError as exc:
            raise validation_error(cls.__name__, exc) from None
