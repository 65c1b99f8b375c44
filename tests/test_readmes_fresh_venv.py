"""Every package README runs as written in a fresh venv holding only what the README names.

For each package: a new venv; the package installed from its folder with the extras its
README's ``pip install`` lines name, its in-repo dependencies from their folders, and any
other package the README tells the reader to install (``pip install httpx``). Then its
Python blocks run against the session's servers. A block that needs something the README
never mentions fails here, though the shared workspace env (which has everything) passes.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["exceptions", "logging", "auth", "locking", "data"]
# The auth README's blocks build on each other; the others' stand alone.
JOINED = {"auth"}
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
_PIP = re.compile(r"pip install ([^#\n`]+)")
_REQUIREMENT = re.compile(r"""['"]?([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([A-Za-z0-9_,-]+)\])?['"]?""")


def readme_requirements(name: str, text: str) -> tuple[set[str], set[str], dict[str, set[str]]]:
    """(extras of cnop-<name>, other distributions, other cnop-* with their extras) named by
    the README's pip lines."""
    extras: set[str] = set()
    others: set[str] = set()
    siblings: dict[str, set[str]] = {}
    for line in _PIP.findall(text):
        for word in line.split():
            match = _REQUIREMENT.fullmatch(word)
            if match is None or word.startswith("-"):
                continue
            dist, wanted = match.group(1), match.group(2)
            named = set(filter(None, (wanted or "").split(",")))
            if dist == f"cnop-{name}":
                extras.update(named)
            elif dist.startswith("cnop-"):
                siblings.setdefault(dist.removeprefix("cnop-"), set()).update(named)
            else:
                others.add(dist)
    return extras, others, siblings


def in_repo_dependencies(name: str) -> list[str]:
    """The cnop-* distributions cnop-<name> needs, transitively, as package folders."""
    seen: list[str] = []
    todo = [name]
    while todo:
        project = tomllib.loads(
            (ROOT / "packages" / f"cnop-{todo.pop()}" / "pyproject.toml").read_text()
        )["project"]
        for requirement in project.get("dependencies", []):
            match = re.match(r"cnop-([a-z]+)", requirement)
            if match and match.group(1) not in seen:
                seen.append(match.group(1))
                todo.append(match.group(1))
    return seen


@pytest.fixture(scope="module")
def installer() -> list[str]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build the venvs in reasonable time")
    return [uv, "pip", "install", "--quiet"]


def make_venv(tmp: Path, name: str, installer: list[str]) -> Path:
    venv = tmp / f"venv-{name}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    text = (ROOT / "packages" / f"cnop-{name}" / "README.md").read_text(encoding="utf-8")
    extras, others, siblings = readme_requirements(name, text)
    target = str(ROOT / "packages" / f"cnop-{name}")
    if extras:
        target += f"[{','.join(sorted(extras))}]"
    needed = set(in_repo_dependencies(name))
    for sibling in siblings:  # another cnop distribution the README tells to install
        needed |= {sibling, *in_repo_dependencies(sibling)}
    needed.discard(name)
    paths = []
    for dep in sorted(needed):
        path = str(ROOT / "packages" / f"cnop-{dep}")
        if siblings.get(dep):
            path += f"[{','.join(sorted(siblings[dep]))}]"
        paths.append(path)
    done = subprocess.run(
        [*installer, "--python", str(python), target, *paths, *sorted(others)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return python


@pytest.mark.parametrize("name", PACKAGES)
def test_readme_runs_in_a_fresh_venv(
    name: str,
    tmp_path: Path,
    installer: list[str],
    dynamodb_endpoint: str,
    redis_url: str,
) -> None:
    python = make_venv(tmp_path, name, installer)
    prefix = f"fresh{uuid.uuid4().hex[:6]}-"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "REDIS_URL": redis_url,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "GATEWAY_SIGNING_SECRET": secrets.token_urlsafe(48),
        "USERS_TABLE": prefix + "users",
        "ORDERS_TABLE": prefix + "orders",
        "INVENTORY_TABLE": prefix + "inventory",
    }
    text = (ROOT / "packages" / f"cnop-{name}" / "README.md").read_text(encoding="utf-8")
    # Only the servers' addresses differ from what the README's reader has.
    blocks = [
        b.replace("redis://localhost:6379/0", redis_url).replace("port=9464", "port=0")
        for b in _BLOCK.findall(text)
    ]
    assert blocks
    programs = ["\n".join(blocks)] if name in JOINED else blocks

    def run(*args: str) -> None:
        done = subprocess.run(
            [str(python), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{name}: {args[-1][:300]}\n{done.stderr[-3000:]}"

    if name == "data":
        run("-m", "cnop.data", "tables", "create")
    try:
        for program in programs:
            run("-c", program)
    finally:
        if name == "data":
            run("-m", "cnop.data", "tables", "delete")
