"""Password strength rules with field-level messages."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException, FieldConstraints

if TYPE_CHECKING:
    from cnop.auth.passwords import PasswordManager

# A username shorter than this is too likely to occur by chance to forbid it.
_MIN_USERNAME_TO_FORBID = 3


@dataclass(frozen=True)
class PasswordPolicy:
    """What a new password must satisfy. Every rule can be changed or switched off.

    >>> PasswordPolicy().validate("Correct-Horse-9", username="alice_01")
    >>> PasswordPolicy().validate("short", username="alice_01")
    Traceback (most recent call last):
    cnop.exceptions.validation.CNOPValidationException: password: must be at least 12 ...

    ``max_bytes`` defaults to what bcrypt holds (72 UTF-8 bytes); use
    :meth:`for_manager` to take the limit from the configured hashing scheme.
    """

    min_length: int = FieldConstraints.PASSWORD_MIN_LENGTH
    max_bytes: int = FieldConstraints.PASSWORD_MAX_BYTES
    require_upper: bool = True
    require_lower: bool = True
    require_digit: bool = True
    require_special: bool = True
    forbid_username: bool = True

    def __post_init__(self) -> None:
        for name in ("min_length", "max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CNOPConfigurationException(f"PasswordPolicy.{name} must be a positive int")
        if self.max_bytes < self.min_length:
            raise CNOPConfigurationException(
                "PasswordPolicy.max_bytes must be at least PasswordPolicy.min_length"
            )

    @classmethod
    def for_manager(cls, manager: PasswordManager, **rules: Any) -> PasswordPolicy:
        """The default rules (or ``rules``) with the length limit of ``manager``'s scheme.

        Raises ``CNOPConfigurationException`` when ``manager`` is not a PasswordManager or
        ``rules`` names something that is not a rule.
        """
        limit = getattr(manager, "max_password_bytes", None)
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise CNOPConfigurationException(
                "PasswordPolicy.for_manager needs a PasswordManager (its max_password_bytes)"
            )
        settable = {f.name for f in fields(cls)} - {"max_bytes"}  # max_bytes is the manager's
        unknown = sorted(set(rules) - settable)
        if unknown:
            raise CNOPConfigurationException(
                f"PasswordPolicy.for_manager: {unknown} are not rules it can set"
            )
        return cls(max_bytes=limit, **rules)

    def validate(self, password: Any, username: str | None = None) -> None:
        """Raise ``CNOPValidationException`` listing every rule ``password`` breaks.

        Each problem is one entry of ``exc.errors`` with ``field="password"``.
        """
        if not isinstance(password, str):
            raise CNOPValidationException.for_field("password", "must be a string")
        if username is not None and not isinstance(username, str):
            raise CNOPValidationException.for_field("username", "must be a string")
        problems = self._problems(password, username)
        if problems:
            raise CNOPValidationException.for_fields(
                [{"field": "password", "message": problem} for problem in problems]
            )

    def _problems(self, password: str, username: str | None) -> list[str]:
        problems: list[str] = []
        if len(password) < self.min_length:
            problems.append(f"must be at least {self.min_length} characters long")
        # An unpaired surrogate (JSON allows "\ud800") has no UTF-8 form: no hash holds it.
        size = len(password.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            problems.append(f"must be at most {self.max_bytes} bytes (UTF-8); it is {size}")
        if any(unicodedata.category(c) == "Cs" for c in password):
            problems.append("must not contain unpaired surrogates")
        if any(unicodedata.category(c) == "Cc" for c in password):
            problems.append("must not contain control characters")
        if self.require_upper and not any(c.isupper() for c in password):
            problems.append("must contain an upper-case letter")
        if self.require_lower and not any(c.islower() for c in password):
            problems.append("must contain a lower-case letter")
        if self.require_digit and not any(c.isdigit() for c in password):
            problems.append("must contain a digit")
        if self.require_special and not any(_is_special(c) for c in password):
            problems.append("must contain a special character (not a letter, digit or space)")
        if (
            self.forbid_username
            and username
            and len(username) >= _MIN_USERNAME_TO_FORBID
            and username.casefold() in password.casefold()
        ):
            problems.append("must not contain the username")
        return problems


def _is_special(char: str) -> bool:
    return not char.isalnum() and not char.isspace() and unicodedata.category(char) != "Cc"
