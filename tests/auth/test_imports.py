"""What `import cnop.auth` loads, and what the distribution declares."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def test_fastapi_module_without_fastapi_says_which_extra_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['fastapi'] = None  # as if it were not installed\n"
        "try:\n"
        "    import cnop.auth.fastapi\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "pip install 'cnop-auth[fastapi]'" in out.stdout


def _closure(root: str) -> set[str]:
    """Every distribution ``pip install root`` pulls in, as installed here.

    Follows the extras that requirements ask for (``python-jose[cryptography]``), not the
    root's own extras.
    """
    seen: set[tuple[str, str]] = set()
    pending: list[tuple[str, str]] = [(root, "")]
    while pending:
        name, extra = pending.pop()
        key = (canonicalize_name(name), extra)
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(key[0]) or []
        except metadata.PackageNotFoundError:
            continue  # not needed on this platform/Python, so not installed here
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                pending.append((requirement.name, ""))
                pending.extend((requirement.name, wanted) for wanted in requirement.extras)
    return {name for name, _ in seen}


def test_plain_install_pulls_in_no_boto3_redis_or_aioboto3() -> None:
    closure = _closure("cnop-auth")
    assert {"libpass", "bcrypt", "python-jose", "cryptography", "pydantic", "loguru"} <= closure
    assert not closure & {"boto3", "botocore", "redis", "aioboto3", "aiobotocore", "fastapi"}


def test_shared_stores_load_redis_and_boto3_only_when_asked_for() -> None:
    code = (
        "import sys, cnop.auth\n"
        "assert 'redis' not in sys.modules and 'boto3' not in sys.modules\n"
        "from cnop.auth import RedisRevocationStore\n"
        "print('redis' in sys.modules, 'boto3' in sys.modules)\n"
        "from cnop.auth import DynamoDBRevocationStore\n"
        "print('boto3' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["True", "False", "True"]


def test_stores_without_their_extra_say_which_extra_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "sys.modules['boto3'] = None\n"
        "import cnop.auth\n"
        "for name in ('RedisRevocationStore', 'DynamoDBRevocationStore'):\n"
        "    try:\n"
        "        getattr(cnop.auth, name)\n"
        "    except ImportError as exc:\n"
        "        print(exc)\n"
        "try:\n"
        "    cnop.auth.NoSuchThing\n"
        "except AttributeError:\n"
        "    print('AttributeError')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    lines = out.stdout.splitlines()
    assert "pip install 'cnop-auth[redis]'" in lines[0]
    assert "pip install 'cnop-auth[dynamodb]'" in lines[1]
    assert lines[2] == "AttributeError"
