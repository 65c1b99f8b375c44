"""The DynamoDB lock backend finds its region and endpoint as every CNOP package does."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cnop.exceptions import CNOPConfigurationException
from cnop.locking import DynamoDBLockBackend, LockManager


@pytest.fixture
def only_aws_region(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """AWS_REGION set; nothing else boto3 could find a region in."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    return monkeypatch


@pytest.mark.integration
def test_a_manager_with_only_aws_region_set_locks(
    only_aws_region: pytest.MonkeyPatch,
    dynamodb_endpoint: str,
    dynamodb_lock_table: str,
    unique_name: Callable[[str], str],
) -> None:
    locks = LockManager.dynamodb(dynamodb_lock_table, endpoint_url=dynamodb_endpoint)
    with locks.user_lock(unique_name("region"), "deposit") as lock:
        assert lock.fencing_token > 0
    locks.close()


@pytest.mark.integration
def test_a_backend_with_region_and_endpoint_only_in_the_environment_locks(
    only_aws_region: pytest.MonkeyPatch,
    dynamodb_endpoint: str,
    dynamodb_lock_table: str,
    unique_name: Callable[[str], str],
) -> None:
    only_aws_region.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    only_aws_region.setenv("AWS_ENDPOINT_URL", dynamodb_endpoint)  # the all-services name
    backend = DynamoDBLockBackend.connect(dynamodb_lock_table)
    name = unique_name("env-endpoint")
    attempt = backend.try_acquire(name, "token", 5.0, None)
    assert attempt.acquired
    assert backend.release(name, "token")
    backend.close()


def test_aws_region_wins_over_aws_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    backend = DynamoDBLockBackend.connect("locks", endpoint_url="http://127.0.0.1:9")
    assert backend.region == "eu-west-1"
    backend.close()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AWS_REGION", "us-east-1\n"),
        ("AWS_REGION", ""),
        ("AWS_REGION", "us-east-\u0661"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "localhost:8000"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "http://user:hunter2-secret@localhost:8000"),
    ],
)
def test_a_bad_setting_is_refused_at_connect_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(CNOPConfigurationException, match=variable) as caught:
        LockManager.dynamodb("locks")
    assert "hunter2-secret" not in str(caught.value)


def test_a_bad_region_argument_is_refused_naming_it() -> None:
    with pytest.raises(CNOPConfigurationException, match="region_name"):
        LockManager.dynamodb("locks", region_name="us east 1")
