"""What importing each package must not load: heavy dependencies wait until they are used.

Each case imports in a fresh interpreter and lists which of the named modules ended up in
``sys.modules``. No timing here (that is ``tools/bench/bench_imports.py``); only which
libraries an import drags in, which is what makes it slow.

What each package may load, decided from what its import needs:

- ``cnop.exceptions`` depends on nothing: the standard library only.
- ``cnop.logging`` is built on loguru and the OpenTelemetry *API*; the SDK is an extra
  and loads only in ``configure_tracing``. It never needs AWS, Redis, web or model code.
- ``cnop.auth`` loads nothing heavy at all: every name loads its module on first use.
  ``TokenManager`` brings python-jose (and cryptography, which jose loads), not pydantic
  (the claim models load with the first token), passlib or the logging library (both
  wait for their first use). ``PasswordManager`` loads passlib when one is built. The
  stores load redis or boto3; nothing but ``cnop.auth.fastapi`` loads FastAPI.
- ``cnop.locking`` loads no backend library until a backend is created: redis and boto3
  wait for ``RedisLockBackend`` / the DynamoDB backend.
- ``cnop.data`` uses botocore's error classes and pydantic models; boto3 loads with the
  first client, aioboto3 with the first async client, redis with a cache that uses it,
  FastAPI only with ``cnop.data.fastapi``. It never imports cnop.locking or cnop.auth.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

AWS = ("boto3", "botocore", "aioboto3", "aiobotocore")
WEB = ("fastapi", "starlette", "httpx")
OTEL_SDK = ("opentelemetry.sdk",)
PASSWORDS = ("passlib", "bcrypt", "argon2")
# cryptography (under python-jose) loads bcrypt itself, for encrypted SSH keys.
HASHERS = ("passlib", "argon2")
JOSE = ("jose", "cryptography")
LOGGING = ("cnop.logging", "loguru")
EVERYTHING_HEAVY = (
    *AWS,
    "redis",
    *WEB,
    *OTEL_SDK,
    "pydantic",
    *PASSWORDS,
    *JOSE,
    *LOGGING,
)

CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (statement, modules it must not load)
    "cnop.exceptions": ("import cnop.exceptions", EVERYTHING_HEAVY),
    "cnop.exceptions.to_problem": (
        "from cnop.exceptions import CNOPUserNotFoundException, to_problem",
        EVERYTHING_HEAVY,
    ),
    "cnop.logging": (
        "import cnop.logging",
        (*AWS, "redis", *WEB, *OTEL_SDK, "pydantic", *PASSWORDS, *JOSE),
    ),
    "cnop.logging.BaseLogger": (
        "from cnop.logging import BaseLogger, LogAction, LoggerName",
        (*AWS, "redis", *WEB, *OTEL_SDK, "pydantic", *PASSWORDS, *JOSE),
    ),
    "cnop.auth": ("import cnop.auth", (*EVERYTHING_HEAVY, "urllib.request")),
    "cnop.auth.TokenManager": (
        "from cnop.auth import TokenManager, TokenSettings, TokenType",
        (*AWS, "redis", *WEB, *OTEL_SDK, "pydantic", *HASHERS, *LOGGING, "urllib.request"),
    ),
    "cnop.auth.PasswordManager": (
        "from cnop.auth import PasswordManager, PasswordPolicy",
        (*AWS, "redis", *WEB, *OTEL_SDK, "pydantic", *PASSWORDS, *JOSE, *LOGGING),
    ),
    "cnop.auth.GatewaySigner": (
        "from cnop.auth import GatewaySigner, UserContext, require_role",
        (*AWS, "redis", *WEB, *OTEL_SDK, *PASSWORDS, *JOSE, *LOGGING),
    ),
    "cnop.auth.JWKSClient": (
        "from cnop.auth import JWKSClient",
        (*AWS, "redis", *WEB, *OTEL_SDK, "pydantic", *HASHERS, *LOGGING, "urllib.request"),
    ),
    "cnop.auth.star": (
        "from cnop.auth import *",
        (*AWS, "redis", *WEB, *OTEL_SDK, "argon2", "loguru", "urllib.request"),
    ),
    "cnop.auth.RedisRevocationStore": (
        # redis itself loads the OpenTelemetry SDK when it is installed: not asserted.
        "from cnop.auth import RedisNonceStore, RedisRevocationStore",
        (*AWS, *WEB, "pydantic", *PASSWORDS, "loguru"),
    ),
    "cnop.auth.DynamoDBRevocationStore": (
        "from cnop.auth import DynamoDBRevocationStore",
        ("aioboto3", "aiobotocore", "redis", *WEB, *OTEL_SDK, "pydantic", *PASSWORDS, "loguru"),
    ),
    "cnop.auth.fastapi": (
        "import cnop.auth.fastapi",
        (*AWS, "redis", "httpx", *OTEL_SDK, "passlib", "argon2"),
    ),
    "cnop.locking": (
        "import cnop.locking",
        (*AWS, "redis", *WEB, *OTEL_SDK, "pydantic", *PASSWORDS, *JOSE, "cnop.data"),
    ),
    "cnop.locking.LockManager": (
        "from cnop.locking import InMemoryLockBackend, LockManager",
        (*AWS, "redis", *WEB, *OTEL_SDK, "pydantic", *PASSWORDS, *JOSE),
    ),
    "cnop.data": (
        "import cnop.data",
        (
            "boto3",
            "aioboto3",
            "aiobotocore",
            "redis",
            *WEB,
            *OTEL_SDK,
            *PASSWORDS,
            *JOSE,
            "cnop.locking",
            "cnop.auth",
        ),
    ),
}

_PROBE = """
import json, sys
{statement}
names = json.loads(sys.argv[1])
print(json.dumps([n for n in names if n in sys.modules]))
"""


def loaded_by(statement: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` are in ``sys.modules`` after ``statement`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement), json.dumps(list(names))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_import_does_not_load_heavy_modules(case: str) -> None:
    statement, forbidden = CASES[case]
    assert loaded_by(statement, forbidden) == []


def test_exceptions_load_the_standard_library_only() -> None:
    code = (
        "import json, sys\n"
        "import cnop.exceptions\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] not in "
        "sys.stdlib_module_names and not m.startswith('cnop.exceptions') and m != 'cnop')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    # Whatever the interpreter's site setup loaded before us would show here too: a bare
    # interpreter loads none of it, so anything listed came with cnop.exceptions.
    bare = subprocess.run(
        [sys.executable, "-c", code.replace("import cnop.exceptions\n", "")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert set(json.loads(done.stdout)) - set(json.loads(bare.stdout)) == set()


def test_lazy_names_resolve_to_the_same_objects() -> None:
    """The package root still offers every public name, and the same object as its module."""
    import cnop.auth
    import cnop.auth.claims
    import cnop.auth.token_type
    import cnop.auth.tokens
    import cnop.exceptions
    import cnop.exceptions.aws

    for name in cnop.auth.__all__:
        assert getattr(cnop.auth, name) is not None
    assert cnop.auth.TokenManager is cnop.auth.tokens.TokenManager
    assert cnop.auth.TokenType is cnop.auth.claims.TokenType is cnop.auth.token_type.TokenType
    assert set(cnop.auth.__all__) <= set(dir(cnop.auth))
    for name in cnop.exceptions.__all__:
        assert getattr(cnop.exceptions, name) is not None
    assert cnop.exceptions.aws_region is cnop.exceptions.aws.aws_region
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cnop.auth.nope  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cnop.exceptions.nope  # noqa: B018


def test_submodules_stay_reachable_as_attributes() -> None:
    """``import cnop.auth`` alone used to load its submodules; they are still attributes."""
    code = "import cnop.auth\nprint(cnop.auth.tokens.TokenManager.__name__)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "TokenManager"
