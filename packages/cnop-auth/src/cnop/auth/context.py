"""Who is calling: the user context the gateway passes in headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from cnop.auth.identity import username_problem
from cnop.auth.models import AuthModel
from cnop.exceptions import CNOPValidationException, FieldConstraints, UserRole

REQUEST_ID_HEADER = "X-Request-ID"
USER_ID_HEADER = "X-User-ID"
USER_ROLE_HEADER = "X-User-Role"
AUTHENTICATED_HEADER = "X-Authenticated"
SOURCE_HEADER = "X-Source"
AUTH_SERVICE_HEADER = "X-Auth-Service"
SIGNATURE_HEADER = "X-Gateway-Signature"
TIMESTAMP_HEADER = "X-Gateway-Timestamp"
NONCE_HEADER = "X-Gateway-Nonce"
#: The headers that describe the caller, in the order the gateway signature covers them.
CONTEXT_HEADERS = (
    REQUEST_ID_HEADER,
    USER_ID_HEADER,
    USER_ROLE_HEADER,
    AUTHENTICATED_HEADER,
    SOURCE_HEADER,
    AUTH_SERVICE_HEADER,
)

_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:\-]{{1,{FieldConstraints.REQUEST_ID_MAX_LENGTH}}}")
_SERVICE_NAME = re.compile(r"[A-Za-z0-9._\-]{1,64}")
_BOOLEANS = {"true": True, "false": False}
_SINGLE_VALUED = frozenset(
    h.lower() for h in (*CONTEXT_HEADERS, SIGNATURE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER)
)
# Admin implies customer: what each role may act as.
_GRANTS: dict[UserRole, frozenset[UserRole]] = {
    UserRole.ADMIN: frozenset({UserRole.ADMIN, UserRole.CUSTOMER}),
    UserRole.CUSTOMER: frozenset({UserRole.CUSTOMER}),
}


class UserContext(AuthModel):
    """The caller of one request. ``user_id`` and ``role`` are set when ``authenticated``.

    Built from values of the wrong type, or with ``authenticated`` not matching the
    presence of ``user_id`` and ``role``, it raises ``CNOPValidationException``.
    """

    model_config = ConfigDict(frozen=True)

    #: Strict: a string such as "yes" or "false" is refused, never read as a flag.
    authenticated: bool = Field(default=False, strict=True)
    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    role: UserRole | None = None
    request_id: str | None = None
    source: str | None = None
    auth_service: str | None = None

    @model_validator(mode="after")
    def _user_matches_authentication(self) -> UserContext:
        # The rule from_headers applies: an authenticated caller has a user id and a role,
        # an anonymous one has neither (a half-filled context is a bug, never a caller).
        has_user = (self.user_id is not None, self.role is not None)
        if self.authenticated and not all(has_user):
            raise ValueError("authenticated is true but the user id or role is missing")
        if not self.authenticated and any(has_user):
            raise ValueError("authenticated is false but a user id or role is present")
        return self

    def has_role(self, role: UserRole | str) -> bool:
        """Whether the caller is authenticated with ``role`` or a role implying it."""
        if not self.authenticated or self.role is None:
            return False
        try:
            wanted = UserRole(role)
        except ValueError:
            return False
        return wanted in _GRANTS[self.role]

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> UserContext:
        """Parse the gateway's headers (any letter case) and validate every value.

        This does not prove the headers came from the gateway: use
        :meth:`GatewaySigner.authenticate` for that. Raises ``CNOPValidationException``
        listing each bad header.
        """
        values = lowercase_keys(headers)
        errors: list[dict[str, str]] = []

        def fail(header: str, message: str) -> None:
            errors.append({"field": header, "message": message})

        authenticated = False
        raw_auth = values.get(AUTHENTICATED_HEADER.lower())
        if raw_auth is not None:
            flag = _BOOLEANS.get(raw_auth.strip().lower())
            if flag is None:
                fail(AUTHENTICATED_HEADER, "must be 'true' or 'false'")
            authenticated = bool(flag)

        user_id = values.get(USER_ID_HEADER.lower())
        role_text = values.get(USER_ROLE_HEADER.lower())
        role: UserRole | None = None
        if user_id is not None:
            problem = username_problem(user_id)
            if problem:
                fail(USER_ID_HEADER, problem)
        if role_text is not None:
            try:
                role = UserRole(role_text)
            except ValueError:
                fail(USER_ROLE_HEADER, f"must be one of {[r.value for r in UserRole]}")
        if authenticated and (user_id is None or role_text is None):
            fail(AUTHENTICATED_HEADER, "is true but the user id or role is missing")
        if not authenticated and (user_id is not None or role_text is not None):
            fail(AUTHENTICATED_HEADER, "is not true but a user id or role is present")

        request_id = values.get(REQUEST_ID_HEADER.lower())
        if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
            fail(REQUEST_ID_HEADER, "must be 1-128 letters, digits or . _ : -")
        for header in (SOURCE_HEADER, AUTH_SERVICE_HEADER):
            text = values.get(header.lower())
            if text is not None and not _SERVICE_NAME.fullmatch(text):
                fail(header, "must be 1-64 letters, digits or . _ -")
        if errors:
            raise CNOPValidationException.for_fields(errors)
        return cls(
            authenticated=authenticated,
            user_id=user_id,
            role=role,
            request_id=request_id,
            source=values.get(SOURCE_HEADER.lower()),
            auth_service=values.get(AUTH_SERVICE_HEADER.lower()),
        )


def valid_request_id(value: Any) -> str | None:
    """``value`` if it is a well-formed request id, else ``None``."""
    return value if isinstance(value, str) and _REQUEST_ID.fullmatch(value) else None


def lowercase_keys(headers: Mapping[str, Any]) -> dict[str, str]:
    """``headers`` keyed by lower-case name (values that are not strings are dropped).

    Raises ``CNOPValidationException`` when ``headers`` is not a mapping, or when a header
    this package reads (the context and gateway headers) appears twice, e.g. in two letter
    cases: which copy counts would depend on who reads it, so neither does.
    """
    if not isinstance(headers, Mapping):
        raise CNOPValidationException.for_field("headers", "must be a mapping of names to values")
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(value, str):
            continue
        key = str(name).lower()
        if key in lowered and key in _SINGLE_VALUED:
            raise CNOPValidationException.for_field(str(name), "appears more than once")
        lowered[key] = value
    return lowered
