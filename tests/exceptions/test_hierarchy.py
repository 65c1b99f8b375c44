from __future__ import annotations

import inspect
import pickle
from http import HTTPStatus

import pytest

import cnop.exceptions as ex
from cnop.exceptions import (
    CNOPClientException,
    CNOPEntityNotFoundException,
    CNOPException,
    CNOPInternalException,
)

ALL = [obj for obj in vars(ex).values() if inspect.isclass(obj) and issubclass(obj, CNOPException)]

SEED_NAMES = [
    "CNOPEntityNotFoundException",
    "CNOPUserNotFoundException",
    "CNOPOrderNotFoundException",
    "CNOPAssetNotFoundException",
    "CNOPBalanceNotFoundException",
    "CNOPAssetBalanceNotFoundException",
    "CNOPTransactionNotFoundException",
    "CNOPEntityAlreadyExistsException",
    "CNOPInsufficientBalanceException",
    "CNOPInvalidCredentialsException",
    "CNOPTokenExpiredException",
    "CNOPTokenInvalidException",
    "CNOPAuthorizationException",
    "CNOPAccessDeniedException",
    "CNOPInsufficientPermissionsException",
    "CNOPEntityValidationException",
    "CNOPDatabaseConnectionException",
    "CNOPDatabaseOperationException",
    "CNOPConfigurationException",
    "CNOPAWSServiceException",
    "CNOPExternalServiceException",
    "CNOPLockAcquisitionException",
    "CNOPLockTimeoutException",
    "CNOPCommonServerException",
    "CNOPInternalServerException",
]


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_seed_class_exists_and_is_exported(name: str) -> None:
    cls = getattr(ex, name)
    assert issubclass(cls, CNOPException)
    assert name in ex.__all__


def test_not_found_classes_share_the_entity_base() -> None:
    for name in SEED_NAMES:
        if name.endswith("NotFoundException") and name != "CNOPEntityNotFoundException":
            assert issubclass(getattr(ex, name), CNOPEntityNotFoundException), name


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_status_family_matches_the_branch(cls: type[CNOPException]) -> None:
    if cls is CNOPException:
        return
    is_client = issubclass(cls, CNOPClientException)
    is_internal = issubclass(cls, CNOPInternalException)
    assert is_client != is_internal, "exactly one branch"
    if is_client:
        assert 400 <= cls.status < 500
        assert cls.client_safe
    else:
        assert 500 <= cls.status < 600
        assert not cls.client_safe


def test_codes_are_unique_and_stable_shape() -> None:
    codes = [cls.code for cls in ALL]
    assert len(codes) == len(set(codes))
    assert all(code.isupper() and " " not in code for code in codes)


def test_auth_statuses() -> None:
    assert ex.CNOPTokenExpiredException.status == HTTPStatus.UNAUTHORIZED
    assert ex.CNOPInvalidCredentialsException.status == HTTPStatus.UNAUTHORIZED
    assert ex.CNOPAccessDeniedException.status == HTTPStatus.FORBIDDEN
    assert ex.CNOPUserNotFoundException().status_code == 404


def test_retryable_defaults_and_override() -> None:
    assert ex.CNOPLockTimeoutException().retryable is True
    assert ex.CNOPVersionConflictException().retryable is True
    assert ex.CNOPDatabaseConnectionException().retryable is True
    assert ex.CNOPUserNotFoundException().retryable is False
    assert ex.CNOPDatabaseOperationException(retryable=True).retryable is True


def test_str_is_the_message_and_defaults_apply() -> None:
    exc = ex.CNOPUserNotFoundException("User 'alice' not found", details={"username": "alice"})
    assert str(exc) == "User 'alice' not found"
    assert exc.details == {"username": "alice"}
    assert str(ex.CNOPUserNotFoundException()) == "User not found"
    assert "USER_NOT_FOUND" in repr(exc)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_pickles_intact(cls: type[CNOPException]) -> None:
    original = cls("boom", details={"k": [1, 2]}, retryable=True)
    original.extra_attribute = "kept"  # type: ignore[attr-defined]
    copy = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own bytes
    assert type(copy) is cls
    assert copy.message == "boom"
    assert copy.details == {"k": [1, 2]}
    assert copy.retryable is True
    assert copy.extra_attribute == "kept"  # type: ignore[attr-defined]
    assert copy.args == original.args


def test_details_are_copied_not_shared() -> None:
    source = {"a": 1}
    exc = ex.CNOPValidationException("bad", details=source)
    source["a"] = 2
    assert exc.details == {"a": 1}


def test_validation_helpers_carry_field_errors() -> None:
    one = ex.CNOPValidationException.for_field("email", "is not a valid address")
    assert one.errors == [{"field": "email", "message": "is not a valid address"}]
    assert str(one) == "email: is not a valid address"
    many = ex.CNOPEntityValidationException.for_fields(
        [{"field": "username", "message": "too short"}, {"field": "email", "message": "missing"}]
    )
    assert isinstance(many, ex.CNOPEntityValidationException)
    assert "username: too short" in str(many)
    assert "email: missing" in str(many)
    assert len(many.errors) == 2


def test_to_dict_has_everything_for_logs() -> None:
    exc = ex.CNOPDatabaseOperationException(
        "PutItem failed on table users", details={"table": "users"}
    )
    assert exc.to_dict() == {
        "type": "CNOPDatabaseOperationException",
        "code": "DATABASE_OPERATION_ERROR",
        "status": 500,
        "message": "PutItem failed on table users",
        "details": {"table": "users"},
        "retryable": False,
    }
