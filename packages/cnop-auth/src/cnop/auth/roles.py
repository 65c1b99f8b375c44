"""Role checks: refuse a caller who lacks a role (admin implies customer)."""

from __future__ import annotations

from cnop.auth import security_events
from cnop.auth.context import UserContext
from cnop.auth.identity import require_role_value
from cnop.exceptions import (
    CNOPAuthenticationException,
    CNOPInsufficientPermissionsException,
    CNOPValidationException,
    UserRole,
)


def require_role(context: UserContext, role: UserRole | str) -> UserContext:
    """Return ``context`` if the caller holds ``role`` (or a role implying it).

    Raises ``CNOPAuthenticationException`` (401) for an anonymous caller and
    ``CNOPInsufficientPermissionsException`` (403) for a missing role; both are audited.
    """
    if not isinstance(context, UserContext):
        raise CNOPValidationException.for_field("context", "must be a UserContext")
    wanted = require_role_value(role)
    if not context.authenticated:
        security_events.access_denied(
            None, "not authenticated", required_role=wanted.value, request_id=context.request_id
        )
        raise CNOPAuthenticationException("Authentication is required")
    if not context.has_role(wanted):
        security_events.access_denied(
            context.user_id,
            "missing role",
            required_role=wanted.value,
            role=context.role.value if context.role else None,
            request_id=context.request_id,
        )
        raise CNOPInsufficientPermissionsException(f"The {wanted.value} role is required")
    return context
