"""One typed exception hierarchy for CNOP services.

>>> from cnop.exceptions import CNOPUserNotFoundException, to_problem
>>> exc = CNOPUserNotFoundException("User 'alice' not found")
>>> exc.status_code, exc.code
(404, 'USER_NOT_FOUND')
"""

from cnop.exceptions.__about__ import __version__
from cnop.exceptions.base import CNOPClientException, CNOPException, CNOPInternalException
from cnop.exceptions.business import (
    CNOPAssetInactiveException,
    CNOPInsufficientAssetBalanceException,
    CNOPInsufficientBalanceException,
    CNOPInvalidStateTransitionException,
    CNOPLimitExceededException,
)
from cnop.exceptions.constants import (
    ErrorMessage,
    FieldConstraints,
    RequestHeader,
    ServiceName,
    UserRole,
)
from cnop.exceptions.entities import (
    CNOPAssetBalanceNotFoundException,
    CNOPAssetNotFoundException,
    CNOPBalanceNotFoundException,
    CNOPEntityAlreadyExistsException,
    CNOPEntityNotFoundException,
    CNOPIdempotencyConflictException,
    CNOPOrderNotFoundException,
    CNOPTransactionNotFoundException,
    CNOPUserNotFoundException,
    CNOPVersionConflictException,
)
from cnop.exceptions.infrastructure import (
    CNOPAWSServiceException,
    CNOPCommonServerException,
    CNOPConfigurationException,
    CNOPDatabaseConnectionException,
    CNOPDatabaseOperationException,
    CNOPExternalServiceException,
    CNOPInternalServerException,
    CNOPOutcomeUnknownException,
    CNOPServiceUnavailableException,
)
from cnop.exceptions.locking import (
    CNOPLockAcquisitionException,
    CNOPLockLostException,
    CNOPLockTimeoutException,
)
from cnop.exceptions.problem import PROBLEM_CONTENT_TYPE, to_problem
from cnop.exceptions.security import (
    CNOPAccessDeniedException,
    CNOPAuthenticationException,
    CNOPAuthorizationException,
    CNOPInsufficientPermissionsException,
    CNOPInvalidCredentialsException,
    CNOPTokenExpiredException,
    CNOPTokenInvalidException,
    CNOPUserInactiveException,
)
from cnop.exceptions.validation import CNOPEntityValidationException, CNOPValidationException

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from cnop.exceptions.aws import aws_region, dynamodb_endpoint_url, find_aws_region

# The AWS settings helpers (and the re and urllib.parse they use) load on first use: most
# importers only want the exception classes.
_LAZY = frozenset({"aws_region", "dynamodb_endpoint_url", "find_aws_region"})


def __getattr__(name: str) -> object:
    if name in _LAZY or name == "aws":
        import importlib  # noqa: PLC0415

        aws = importlib.import_module("cnop.exceptions.aws")
        if name == "aws":
            return aws
        value = getattr(aws, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'cnop.exceptions' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "CNOPAWSServiceException",
    "CNOPAccessDeniedException",
    "CNOPAssetBalanceNotFoundException",
    "CNOPAssetInactiveException",
    "CNOPAssetNotFoundException",
    "CNOPAuthenticationException",
    "CNOPAuthorizationException",
    "CNOPBalanceNotFoundException",
    "CNOPClientException",
    "CNOPCommonServerException",
    "CNOPConfigurationException",
    "CNOPDatabaseConnectionException",
    "CNOPDatabaseOperationException",
    "CNOPEntityAlreadyExistsException",
    "CNOPEntityNotFoundException",
    "CNOPEntityValidationException",
    "CNOPException",
    "CNOPExternalServiceException",
    "CNOPIdempotencyConflictException",
    "CNOPInsufficientAssetBalanceException",
    "CNOPInsufficientBalanceException",
    "CNOPInsufficientPermissionsException",
    "CNOPInternalException",
    "CNOPInternalServerException",
    "CNOPInvalidCredentialsException",
    "CNOPInvalidStateTransitionException",
    "CNOPLimitExceededException",
    "CNOPLockAcquisitionException",
    "CNOPLockLostException",
    "CNOPLockTimeoutException",
    "CNOPOrderNotFoundException",
    "CNOPOutcomeUnknownException",
    "CNOPServiceUnavailableException",
    "CNOPTokenExpiredException",
    "CNOPTokenInvalidException",
    "CNOPTransactionNotFoundException",
    "CNOPUserInactiveException",
    "CNOPUserNotFoundException",
    "CNOPValidationException",
    "CNOPVersionConflictException",
    "ErrorMessage",
    "FieldConstraints",
    "RequestHeader",
    "ServiceName",
    "UserRole",
    "__version__",
    "aws_region",
    "dynamodb_endpoint_url",
    "find_aws_region",
    "to_problem",
]
