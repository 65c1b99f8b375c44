"""Password hashing and verification over a passlib ``CryptContext``.

The sync methods are the one implementation; the ``*_async`` variants run them in an
executor so that the (deliberately slow) hashing never blocks the event loop.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cnop.auth import security_events
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPInvalidCredentialsException,
    CNOPValidationException,
    FieldConstraints,
)

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from passlib.context import CryptContext

T = TypeVar("T")

SUPPORTED_SCHEMES = ("bcrypt", "argon2")
DEFAULT_BCRYPT_ROUNDS = 12
#: What one hash can hold: bcrypt reads 72 bytes; argon2 has no limit, so we bound the work.
SCHEME_MAX_PASSWORD_BYTES = {"bcrypt": FieldConstraints.PASSWORD_MAX_BYTES, "argon2": 1024}
# Longer input is never a real password; refusing it early bounds the work an attacker can cause.
_MAX_VERIFY_BYTES = 4096


class PasswordManager:
    """Hash and verify passwords; upgrade old hashes on login.

    ``schemes[0]`` hashes new passwords; the other schemes still verify, and a hash in one
    of them (or with a lower bcrypt cost) is replaced on the next successful login.

    >>> passwords = PasswordManager()                      # bcrypt, cost 12
    >>> stored = passwords.hash_password("Correct-Horse-9")
    >>> passwords.verify_password("Correct-Horse-9", stored)
    True
    """

    def __init__(
        self,
        schemes: Sequence[str] = ("bcrypt",),
        *,
        bcrypt_rounds: int = DEFAULT_BCRYPT_ROUNDS,
        executor: Executor | None = None,
    ) -> None:
        """``executor`` runs the async variants (default: the event loop's default executor)."""
        if isinstance(schemes, (str, bytes)) or not isinstance(schemes, Iterable):
            # A lone name would be read letter by letter.
            raise CNOPConfigurationException(
                "PasswordManager schemes must be a sequence of scheme names, e.g. ('bcrypt',)"
            )
        schemes = tuple(schemes)
        if not schemes:
            raise CNOPConfigurationException("PasswordManager needs at least one hash scheme")
        unknown = [s for s in schemes if s not in SUPPORTED_SCHEMES]
        if unknown or len(set(schemes)) != len(schemes):
            raise CNOPConfigurationException(
                f"Unsupported or repeated password schemes {list(schemes)!r}; "
                f"choose from {list(SUPPORTED_SCHEMES)!r}"
            )
        if "argon2" in schemes and importlib.util.find_spec("argon2") is None:
            raise CNOPConfigurationException(
                "The argon2 scheme needs the argon2 extra: pip install 'cnop-auth[argon2]'"
            )
        if isinstance(bcrypt_rounds, bool) or not isinstance(bcrypt_rounds, int):
            raise CNOPConfigurationException("bcrypt_rounds must be an integer")
        if not 4 <= bcrypt_rounds <= 31:
            raise CNOPConfigurationException(f"bcrypt_rounds must be 4-31, got {bcrypt_rounds}")
        if executor is not None and not _is_executor(executor):
            raise CNOPConfigurationException(
                "executor must be a concurrent.futures.Executor (or None)"
            )
        settings: dict[str, Any] = {
            "schemes": list(schemes),
            "deprecated": list(schemes[1:]),
            # min == default: weaker hashes are upgraded; max stops a lower test cost from
            # "upgrading" a stronger production hash downwards.
            "bcrypt__default_rounds": bcrypt_rounds,
            "bcrypt__min_rounds": bcrypt_rounds,
            "bcrypt__max_rounds": 31,
        }
        if "argon2" in schemes:
            settings["argon2__type"] = "ID"
        # passlib (and the hash backends it finds) loads with the first manager, not with
        # ``import cnop.auth``.
        from passlib.context import CryptContext  # noqa: PLC0415

        self._context: CryptContext = CryptContext(**settings)
        self._scheme = schemes[0]
        self._executor = executor
        self._dummy_hash: str | None = None

    @property
    def scheme(self) -> str:
        """The scheme that hashes new passwords."""
        return self._scheme

    @property
    def max_password_bytes(self) -> int:
        """The longest password (UTF-8 bytes) the hashing scheme holds without truncation."""
        return SCHEME_MAX_PASSWORD_BYTES[self._scheme]

    # -- sync core -------------------------------------------------------------------------

    def hash_password(self, password: str) -> str:
        """Hash ``password`` with the current scheme.

        Raises ``CNOPValidationException`` for a non-string, empty or NUL-containing password
        and for one longer than :attr:`max_password_bytes` (never silently truncated).
        """
        _require_password_text(password)
        if "\x00" in password:
            raise CNOPValidationException.for_field("password", "must not contain NUL characters")
        size = _utf8_size(password)
        if size is None:
            raise CNOPValidationException.for_field(
                "password", "must not contain unpaired surrogates (it has no UTF-8 form)"
            )
        if size > self.max_password_bytes:
            raise CNOPValidationException.for_field(
                "password",
                f"is {size} bytes long; at most {self.max_password_bytes} bytes (UTF-8) fit "
                f"the {self._scheme} scheme",
            )
        return str(self._context.hash(password))

    def verify_password(self, password: str, hashed: str) -> bool:
        """Whether ``password`` matches the stored ``hashed`` value.

        A password the stored scheme cannot hold whole (over bcrypt's 72 bytes), an
        unrecognised or corrupt hash: ``False``, never an exception.
        """
        return self.verify_and_update(password, hashed)[0]

    def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """``(matches, new_hash)``: ``new_hash`` is set when the stored hash should be replaced.

        Store ``new_hash`` when it is not ``None``: the stored hash used a deprecated scheme or
        a lower cost than configured.
        """
        _require_password_text(password)
        if not isinstance(hashed, str):
            raise CNOPValidationException.for_field("hashed_password", "must be a string")
        size = _utf8_size(password)
        if not hashed or size is None or size > _MAX_VERIFY_BYTES:
            return False, None  # no UTF-8 form: hash_password never stored such a password
        scheme = self._context.identify(hashed, required=False)
        if scheme is None:
            security_events.stored_hash_unusable("unrecognised hash format")
            return False, None
        if scheme == "bcrypt" and (
            size > SCHEME_MAX_PASSWORD_BYTES["bcrypt"] or "\x00" in password
        ):
            # bcrypt cannot hold this password whole: it is not the one that was stored, and
            # comparing a truncated copy is exactly what must never happen.
            return False, None
        from passlib.exc import MissingBackendError  # noqa: PLC0415 - loaded with passlib.context

        try:
            matches, new_hash = self._context.verify_and_update(password, hashed)
        except MissingBackendError as exc:
            raise CNOPConfigurationException(
                "A stored hash needs a hashing backend that is not installed "
                "(for argon2 hashes: pip install 'cnop-auth[argon2]')"
            ) from exc
        except (ValueError, TypeError) as exc:
            # A malformed hash of a known scheme: the login fails, it never becomes a 500.
            security_events.stored_hash_unusable(type(exc).__name__)
            return False, None
        if matches and new_hash is not None:
            security_events.password_rehashed(self._scheme)
        return bool(matches), new_hash

    def authenticate(self, username: str, password: str, stored_hash: str | None) -> str | None:
        """Check a login and audit it; return a replacement hash to store, or ``None``.

        Pass ``stored_hash=None`` for an unknown user: the same work is done as for a wrong
        password, so response time does not reveal which usernames exist. Raises
        ``CNOPInvalidCredentialsException`` on failure (same message in both cases).
        """
        if not isinstance(username, str) or not username:
            raise CNOPValidationException.for_field("username", "must be a non-empty string")
        if stored_hash is None:
            self.verify_password(password, self._timing_hash())
            security_events.login_failed(username, "unknown user")
            raise CNOPInvalidCredentialsException()
        matches, new_hash = self.verify_and_update(password, stored_hash)
        if not matches:
            security_events.login_failed(username, "invalid password")
            raise CNOPInvalidCredentialsException()
        security_events.login_succeeded(username)
        return new_hash

    # -- async variants: the same core, off the event loop ---------------------------------

    async def hash_password_async(self, password: str) -> str:
        """:meth:`hash_password` in the executor."""
        return await self._off_loop(self.hash_password, password)

    async def verify_password_async(self, password: str, hashed: str) -> bool:
        """:meth:`verify_password` in the executor."""
        return await self._off_loop(self.verify_password, password, hashed)

    async def verify_and_update_async(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """:meth:`verify_and_update` in the executor."""
        return await self._off_loop(self.verify_and_update, password, hashed)

    async def authenticate_async(
        self, username: str, password: str, stored_hash: str | None
    ) -> str | None:
        """:meth:`authenticate` in the executor."""
        return await self._off_loop(self.authenticate, username, password, stored_hash)

    async def _off_loop(self, func: Callable[..., T], *args: Any) -> T:
        import asyncio  # noqa: PLC0415 - loaded already: this runs on an event loop

        loop = asyncio.get_running_loop()
        # Copy the context so request ids (contextvars) reach the logs written in the thread.
        call = functools.partial(contextvars.copy_context().run, func, *args)
        return await loop.run_in_executor(self._executor, call)

    def _timing_hash(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = str(self._context.hash("unknown-user-timing-equaliser"))
        return self._dummy_hash


def _utf8_size(password: str) -> int | None:
    """The UTF-8 length of ``password``; None when it has unpaired surrogates."""
    try:
        return len(password.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _require_password_text(password: Any) -> None:
    if not isinstance(password, str):
        raise CNOPValidationException.for_field("password", "must be a string")
    if not password:
        raise CNOPValidationException.for_field("password", "must not be empty")


def _is_executor(value: object) -> bool:
    # concurrent.futures (and the logging module it loads) only when an executor is given.
    from concurrent.futures import Executor  # noqa: PLC0415

    return isinstance(value, Executor)
