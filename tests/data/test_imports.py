"""`import cnop.data` loads only what it needs: no aioboto3, no redis, not even boto3."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_is_light() -> None:
    code = (
        "import json, sys; import cnop.data; "
        "print(json.dumps(sorted(m for m in ('boto3', 'aioboto3', 'aiobotocore', 'aiohttp',"
        " 'redis') if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []
