"""require_role: admin implies customer; refusals are 401/403 and audited."""

from __future__ import annotations

import pytest

from cnop.auth import UserContext, require_role
from cnop.exceptions import (
    CNOPAuthenticationException,
    CNOPInsufficientPermissionsException,
    CNOPValidationException,
    UserRole,
)

ADMIN = UserContext(authenticated=True, user_id="root_admin", role=UserRole.ADMIN)
CUSTOMER = UserContext(authenticated=True, user_id="alice_01", role=UserRole.CUSTOMER)


def test_admin_implies_customer() -> None:
    assert require_role(ADMIN, UserRole.CUSTOMER) is ADMIN
    assert require_role(ADMIN, "admin") is ADMIN
    assert require_role(CUSTOMER, UserRole.CUSTOMER) is CUSTOMER


def test_customer_is_not_admin() -> None:
    with pytest.raises(CNOPInsufficientPermissionsException, match="admin role is required") as c:
        require_role(CUSTOMER, UserRole.ADMIN)
    assert c.value.status_code == 403


def test_anonymous_caller_is_401() -> None:
    with pytest.raises(CNOPAuthenticationException) as caught:
        require_role(UserContext(), UserRole.CUSTOMER)
    assert caught.value.status_code == 401


def test_unknown_role_is_a_validation_error() -> None:
    with pytest.raises(CNOPValidationException, match="role: must be one of"):
        require_role(ADMIN, "superuser")


def test_something_other_than_a_context_is_a_validation_error() -> None:
    with pytest.raises(CNOPValidationException, match="context: must be a UserContext"):
        require_role({"role": "admin"}, UserRole.ADMIN)  # type: ignore[arg-type]
