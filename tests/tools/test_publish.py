"""Publishing end to end: tags in a throw-away clone of this repository, `release.py publish`
to a real package index (pypiserver) on loopback, then what a service's `pip install` gets.

Runs in the ``release`` hatch env, which has pypiserver, twine and build:
``hatch run release:test``. Third-party dependencies (pydantic, boto3, ...) come from the
index pip is configured with: pypiserver redirects every name it does not hold to its
fallback index, so the cnop-* names can only come from the local one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("pypiserver", reason="needs the release env: hatch run release:test")
pytest.importorskip("twine", reason="needs the release env: hatch run release:test")
pytest.importorskip("build", reason="needs the release env: hatch run release:test")

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "tools" / "release.py"
USER = "publisher"
# What the clone releases: three distributions at three different versions.
PUBLISHED = {
    "cnop-exceptions": "0.1.0",
    "cnop-logging": "0.2.0",
    "cnop-auth": "0.3.0",
    "cnop-locking": "0.1.0",
    "cnop-data": "0.1.0",
}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cnop_release", RELEASE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


release = sys.modules.get("cnop_release") or _load()


def run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def git(repo: Path, *args: str) -> str:
    return run("git", *args, cwd=repo)


def _get(url: str) -> tuple[int, str]:
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 (loopback http only)
        return reply.status, reply.read().decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def password() -> str:
    return f"pw-{secrets.token_hex(16)}"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, password: str) -> Iterator[str]:
    """A pypiserver on a free loopback port: uploads need USER's password, reads are open."""
    from passlib.apache import HtpasswdFile

    home = tmp_path_factory.mktemp("index")
    (home / "packages").mkdir()
    htpasswd = HtpasswdFile(str(home / "htpasswd"), new=True)
    htpasswd.set_password(USER, password)
    htpasswd.save()
    port = _free_port()
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pypiserver",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--authenticate",
            "update",
            "--passwords",
            str(home / "htpasswd"),
            str(home / "packages"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (home / "server.log").read_text()
            try:
                if _get(f"{url}/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "pypiserver did not answer within 30 s"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def _set_version_and_notes(repo: Path, name: str, version: str) -> None:
    dist = release.find(repo, name)
    release.bump(dist, version)
    git(repo, "commit", "-qam", f"{name} {version}")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's committed state, with the five first releases tagged in order
    (tags the repository already has are dropped: these are the first releases)."""
    repo = tmp_path_factory.mktemp("clone") / "repo"
    run("git", "clone", "-q", "--no-hardlinks", ROOT, repo)
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "Dev")
    for old in git(repo, "tag", "--list", "cnop-*").split():
        git(repo, "tag", "-d", old)
    # cnop-auth 0.3.0 needs the cnop-logging it is released with, not any 0.x.
    auth = repo / "packages" / "cnop-auth" / "pyproject.toml"
    auth.write_text(auth.read_text().replace('"cnop-logging>=0.1.0"', '"cnop-logging>=0.2.0"'))
    git(repo, "commit", "-qam", "cnop-auth needs cnop-logging 0.2")
    for name, version in PUBLISHED.items():
        _set_version_and_notes(repo, name, version)
        release.tag(release.find(repo, name), version)
    return repo


def publish(repo: Path, tag: str, url: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TWINE_REPOSITORY_URL": f"{url}/",
        "TWINE_USERNAME": USER,
        "TWINE_PASSWORD": password,
    }
    return subprocess.run(
        [sys.executable, str(RELEASE), "--root", str(repo), "publish", tag],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def published(clone: Path, index: str, password: str) -> str:
    """Every tag published once; the index's simple URL."""
    # After the tags: a committed change and an uncommitted one must not be released.
    late = clone / "packages" / "cnop-exceptions" / "src" / "cnop" / "exceptions" / "late.py"
    late.write_text("LATE = True\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "after the release")
    dirty = clone / "packages" / "cnop-auth" / "src" / "cnop" / "auth" / "dirty.py"
    dirty.write_text("DIRTY = True\n")
    about = clone / "packages" / "cnop-auth" / "src" / "cnop" / "auth" / "__about__.py"
    about.write_text('__version__ = "9.9.9"\n')
    for name, version in PUBLISHED.items():
        result = publish(clone, f"{name}-v{version}", index, password)
        assert result.returncode == 0, result.stderr
        assert password not in result.stdout + result.stderr
    return f"{index}/simple/"


def _venv_install(tmp: Path, simple: str, *names: str) -> dict[str, str]:
    """``pip install --index-url simple names`` in a fresh venv; the cnop-* it got."""
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    # This env's pip installs into the venv (no pip of its own to set up), with pip's
    # configuration and cache as they are; byte-compiling boto3 would be most of the time.
    pip = (sys.executable, "-m", "pip", "--python", str(python))
    run(*pip, "install", "--quiet", "--no-compile", "--index-url", simple, *names)
    listed = json.loads(run(*pip, "list", "--format", "json"))
    imports = ", ".join("cnop." + n.removeprefix("cnop-") for n in names)
    run(python, "-c", f"import {imports}")
    return {
        e["name"].lower().replace("_", "-"): e["version"]
        for e in listed
        if e["name"].lower().startswith("cnop")
    }


def _expect(*names: str) -> dict[str, str]:
    return {n: PUBLISHED[n] for n in names}


def test_wrong_password_is_refused_and_never_printed(clone: Path, index: str) -> None:
    wrong = f"wrong-{secrets.token_hex(16)}"
    result = publish(clone, "cnop-exceptions-v0.1.0", index, wrong)
    assert result.returncode == 1
    assert "uploading cnop-exceptions-v0.1.0" in result.stderr
    assert "403" in result.stderr or "401" in result.stderr
    assert wrong not in result.stdout + result.stderr


def test_the_index_holds_exactly_the_tagged_builds(published: str, index: str) -> None:
    page = _get(f"{index}/packages/")[1]
    files = set(re.findall(r'href="[^"]*?/?(cnop_[^"#/]+)', page))
    expected = set()
    for name, version in PUBLISHED.items():
        stem = f"{name.replace('-', '_')}-{version}"
        expected |= {f"{stem}.tar.gz", f"{stem}-py3-none-any.whl"}
    assert files == expected  # one sdist and one wheel per tag, nothing else


def test_auth_installs_with_exactly_its_in_repo_dependencies(
    published: str, tmp_path: Path
) -> None:
    got = _venv_install(tmp_path, published, "cnop-auth")
    assert got == _expect("cnop-auth", "cnop-logging", "cnop-exceptions")
    site = next((tmp_path / "venv" / "lib").glob("python*/site-packages"))
    # Built from the tagged commit: neither a later commit nor the working tree leaked in.
    assert not (site / "cnop" / "exceptions" / "late.py").exists()
    assert not (site / "cnop" / "auth" / "dirty.py").exists()
    assert (site / "cnop_auth-0.3.0.dist-info" / "licenses" / "LICENSE").is_file()


def test_user_service_gets_auth_and_data_without_locking(published: str, tmp_path: Path) -> None:
    got = _venv_install(tmp_path, published, "cnop-auth", "cnop-data")
    assert got == _expect("cnop-auth", "cnop-data", "cnop-logging", "cnop-exceptions")


def test_order_service_gets_data_and_locking_without_auth(published: str, tmp_path: Path) -> None:
    got = _venv_install(tmp_path, published, "cnop-data", "cnop-locking")
    assert got == _expect("cnop-data", "cnop-locking", "cnop-logging", "cnop-exceptions")
