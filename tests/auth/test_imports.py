"""What `import cnop.auth` loads, and what the distribution declares."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

HEAVY = ("boto3", "botocore", "redis", "aioboto3", "aiobotocore", "fastapi", "starlette")


def test_import_loads_no_aws_redis_or_web_framework() -> None:
    code = (
        "import sys, cnop.auth\n"
        f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_fastapi_loads_only_with_the_integration_module() -> None:
    code = "import sys, cnop.auth.fastapi\nprint('fastapi' in sys.modules)\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "True"


def test_distribution_does_not_depend_on_boto3_redis_or_aioboto3() -> None:
    try:
        requires = metadata.requires("cnop-auth") or []
    except metadata.PackageNotFoundError:  # pragma: no cover - always installed in test envs
        pytest.skip("cnop-auth is not installed as a distribution")
    names = {
        r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip().lower() for r in requires
    }
    assert not names & {"boto3", "botocore", "redis", "aioboto3", "aiobotocore"}
    assert {"libpass", "bcrypt", "python-jose", "pydantic"} <= names
