"""Structured JSON logging for CNOP services: request ids, trace ids, redaction,
audit events and metrics.

>>> from cnop.logging import BaseLogger, LoggerName, LogAction, configure_logging
>>> configure_logging(service="user-service")
>>> log = BaseLogger(LoggerName.USER)
>>> log.info(action=LogAction.USER_LOGIN_SUCCESS, message="Logged in", user="alice")

Importing this package configures nothing; see :func:`configure_logging`.
"""

from cnop.logging.__about__ import __version__
from cnop.logging.audit import AuditLogger
from cnop.logging.configuration import configure_logging, current_service, reset_logging
from cnop.logging.context import (
    REQUEST_ID_HEADER,
    get_request_id,
    get_user,
    new_request_id,
    request_context,
    request_id_from_header,
)
from cnop.logging.instruments import Counter, Histogram, Metrics, metrics
from cnop.logging.logger import BaseLogger
from cnop.logging.names import AuditEvent, LogAction, LoggerName
from cnop.logging.redaction import REDACTED, add_secret_keys, mask_text, redact

__all__ = [
    "REDACTED",
    "REQUEST_ID_HEADER",
    "AuditEvent",
    "AuditLogger",
    "BaseLogger",
    "Counter",
    "Histogram",
    "LogAction",
    "LoggerName",
    "Metrics",
    "__version__",
    "add_secret_keys",
    "configure_logging",
    "current_service",
    "get_request_id",
    "get_user",
    "mask_text",
    "metrics",
    "new_request_id",
    "redact",
    "request_context",
    "request_id_from_header",
    "reset_logging",
]
