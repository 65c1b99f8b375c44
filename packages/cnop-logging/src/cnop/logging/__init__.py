"""Structured JSON logging for CNOP services: request ids, trace ids, redaction,
audit events and metrics.

>>> from cnop.logging import BaseLogger, LoggerName, LogAction, configure_logging
>>> configure_logging(service="user-service")
>>> log = BaseLogger(LoggerName.USER)
>>> log.info(action=LogAction.USER_LOGIN_SUCCESS, message="Logged in", user="alice")

Importing this package configures nothing; see :func:`configure_logging`. The audit
logger, metrics, ASGI middleware, tracing and Prometheus helpers load on first access.
"""

from typing import TYPE_CHECKING, Any

from cnop.logging.__about__ import __version__
from cnop.logging.configuration import configure_logging, current_service, reset_logging
from cnop.logging.context import (
    REQUEST_ID_HEADER,
    get_request_id,
    get_user,
    new_request_id,
    request_context,
    request_id_from_header,
)
from cnop.logging.logger import BaseLogger
from cnop.logging.names import AuditEvent, LogAction, LoggerName
from cnop.logging.redaction import REDACTED, add_secret_keys, mask_text, redact

if TYPE_CHECKING:
    from cnop.logging.asgi import RequestContextMiddleware
    from cnop.logging.audit import AuditLogger
    from cnop.logging.instruments import Counter, Histogram, Metrics, metrics
    from cnop.logging.prometheus import (
        expose_prometheus,
        install_meter_provider,
        prometheus_text,
    )
    from cnop.logging.tracing import configure_tracing, traced

# Public names whose modules load on first access, keeping ``import cnop.logging`` cheap.
_LAZY = {
    "AuditLogger": "cnop.logging.audit",
    "Counter": "cnop.logging.instruments",
    "Histogram": "cnop.logging.instruments",
    "Metrics": "cnop.logging.instruments",
    "metrics": "cnop.logging.instruments",
    "RequestContextMiddleware": "cnop.logging.asgi",
    "configure_tracing": "cnop.logging.tracing",
    "traced": "cnop.logging.tracing",
    "expose_prometheus": "cnop.logging.prometheus",
    "install_meter_provider": "cnop.logging.prometheus",
    "prometheus_text": "cnop.logging.prometheus",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnop.logging' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "RequestContextMiddleware",
    "__version__",
    "add_secret_keys",
    "configure_logging",
    "configure_tracing",
    "current_service",
    "expose_prometheus",
    "get_request_id",
    "get_user",
    "install_meter_provider",
    "mask_text",
    "metrics",
    "new_request_id",
    "prometheus_text",
    "redact",
    "request_context",
    "request_id_from_header",
    "reset_logging",
    "traced",
]
