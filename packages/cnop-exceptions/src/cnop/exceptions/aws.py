"""Where AWS is: the region and the DynamoDB endpoint, resolved the same way by every package.

boto3 reads only ``AWS_DEFAULT_REGION`` from the environment, while CNOP services are
configured with ``AWS_REGION`` (the name AWS Lambda, ECS and the AWS SDKs for other
languages set). Every CNOP package that talks to AWS asks these functions instead, so one
setting works everywhere and a bad one is refused at start-up with the variable's name.

>>> aws_region({"AWS_REGION": "eu-west-1"})
'eu-west-1'
>>> dynamodb_endpoint_url({"AWS_ENDPOINT_URL": "http://localhost:8000"})
'http://localhost:8000'

Standard library only: cnop-exceptions has no dependencies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from cnop.exceptions.infrastructure import CNOPConfigurationException

__all__ = [
    "DYNAMODB_ENDPOINT_VARIABLES",
    "REGION_VARIABLES",
    "aws_region",
    "dynamodb_endpoint_url",
    "find_aws_region",
]

#: Where a region is read from, in this order (after an explicit argument).
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
#: Where a DynamoDB endpoint is read from, in this order (after an explicit argument): the
#: service-specific variable, then the one for every service (both are botocore's names).
DYNAMODB_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")

# Every AWS region name has this shape: us-east-1, eu-central-2, us-gov-west-1,
# cn-northwest-1, us-isob-east-1, eusc-de-east-1. ASCII only: a str pattern's \d would
# also take other scripts' digits (Arabic-Indic, fullwidth...).
_REGION = re.compile(r"[a-z]{2,4}(?:-[a-z]{1,16}){1,3}-[0-9]{1,2}")
_MAX_REGION = 32
_MAX_URL = 2048
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?|[0-9A-Fa-f:.]{2,45}")
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\s]")


def _preview(value: str) -> str:
    """A short, printable rendering of a value for a message (never a URL: see below)."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _lookup(
    env: object, explicit: object, argument: str, variables: tuple[str, ...]
) -> tuple[str, object] | None:
    """(where it came from, the raw value) of the first setting present, else None."""
    if env is not None and not isinstance(env, Mapping):
        raise CNOPConfigurationException(
            "env must be a mapping of environment variable names to values (such as "
            f"os.environ), not {type(env).__name__}",
            details={"variable": "env"},
        )
    if explicit is not None:
        return argument, explicit
    source = os.environ if env is None else env
    for variable in variables:
        if variable in source:
            return variable, source[variable]
    return None


def _text(where: str, value: object, example: str) -> str:
    if not isinstance(value, str):
        raise CNOPConfigurationException(
            f"{where} must be text, got {type(value).__name__}", details={"variable": where}
        )
    if not value:
        raise CNOPConfigurationException(
            f"{where} is set but empty: set it (e.g. {example}) or unset it",
            details={"variable": where},
        )
    return value


def find_aws_region(env: Mapping[str, str] | None = None, explicit: object = None) -> str | None:
    """The AWS region: ``explicit``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``.

    ``env`` defaults to ``os.environ``. None when none of them is set (boto3 may still
    find one in the AWS config file). A value that is set is checked as it is, never
    trimmed: it must be a region name such as ``us-east-1``; anything else raises
    ``CNOPConfigurationException`` naming the argument or variable it came from.
    """
    found = _lookup(env, explicit, "region_name", REGION_VARIABLES)
    if found is None:
        return None
    where, raw = found
    value = _text(where, raw, "us-east-1")
    if len(value) > _MAX_REGION or not _REGION.fullmatch(value):
        problem = (
            "must not contain whitespace or control characters"
            if _SPACE_OR_CONTROL.search(value)
            else "must be an AWS region name such as us-east-1 (lower-case ASCII)"
        )
        raise CNOPConfigurationException(
            f"{where} {problem}, got {_preview(value)}", details={"variable": where}
        )
    return value


def aws_region(env: Mapping[str, str] | None = None, explicit: object = None) -> str:
    """``find_aws_region()``, but a missing region raises ``CNOPConfigurationException``."""
    region = find_aws_region(env, explicit)
    if region is None:
        raise CNOPConfigurationException(
            "No AWS region: set AWS_REGION (e.g. us-east-1)",
            details={"variable": REGION_VARIABLES[0]},
        )
    return region


def dynamodb_endpoint_url(
    env: Mapping[str, str] | None = None, explicit: object = None
) -> str | None:
    """The DynamoDB endpoint: ``explicit``, else ``AWS_ENDPOINT_URL_DYNAMODB``, else
    ``AWS_ENDPOINT_URL``; None when none is set (AWS's own endpoint for the region).

    A value that is set must be an ``http://`` or ``https://`` URL with a host, in ASCII,
    without whitespace and without credentials; anything else raises
    ``CNOPConfigurationException`` naming the argument or variable. Messages never repeat
    the URL, which may hold a secret.
    """
    found = _lookup(env, explicit, "endpoint_url", DYNAMODB_ENDPOINT_VARIABLES)
    if found is None:
        return None
    where, raw = found
    value = _text(where, raw, "http://localhost:8000")

    def refuse(problem: str) -> CNOPConfigurationException:
        return CNOPConfigurationException(f"{where} {problem}", details={"variable": where})

    if len(value) > _MAX_URL:
        raise refuse(f"must be at most {_MAX_URL} characters, got {len(value)}")
    if _SPACE_OR_CONTROL.search(value):
        raise refuse("must not contain whitespace or control characters")
    if not value.isascii():
        raise refuse("must be ASCII (write an international host name in punycode)")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise refuse("is not a valid URL (check the host and port)") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise refuse("must start with http:// or https://, e.g. http://localhost:8000")
    if parts.username is not None or parts.password is not None:
        raise refuse("must not contain credentials (user:password@): use AWS credentials")
    if not parts.hostname or not _HOST.fullmatch(parts.hostname):
        raise refuse("must name a host, e.g. http://localhost:8000")
    if port == 0:
        raise refuse("must have a port between 1 and 65535")
    if parts.query or parts.fragment:
        raise refuse("must not have a query or fragment")
    return value
