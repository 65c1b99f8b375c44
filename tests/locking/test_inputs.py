"""Bad input is refused with a typed error that names the value; configuration from env."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException
from cnop.locking import InMemoryLockBackend, LockManager, redis_url_from_env
from cnop.locking.redis_core import parse_url


@pytest.fixture
def locks() -> LockManager:
    return LockManager.in_memory()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must not be empty"),
        ("x" * 257, "at most 256"),
        ("has space", "whitespace"),
        ("tab\there", "whitespace"),
        ("nul\x00", "control"),
        (42, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_bad_lock_names_are_refused(locks: LockManager, name: Any, problem: str) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        locks.lock(name)
    assert problem in str(caught.value)
    assert caught.value.errors[0]["field"] == "name"


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("ttl", 0, "between"),
        ("ttl", -1, "between"),
        ("ttl", 0.001, "between"),
        ("ttl", 86_401, "between"),
        ("ttl", math.nan, "finite"),
        ("ttl", math.inf, "finite"),
        ("ttl", True, "number of seconds"),
        ("ttl", "5", "number of seconds"),
        ("wait", -0.1, "between"),
        ("wait", 3_601, "between"),
        ("wait", math.inf, "finite"),
        ("wait", "1", "number of seconds"),
    ],
)
def test_bad_ttl_and_wait_are_refused(
    locks: LockManager, field: str, value: Any, problem: str
) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        locks.lock("ok", **{field: value})
    assert problem in str(caught.value)
    assert caught.value.errors[0]["field"] == field


def test_validation_happens_when_the_lock_is_asked_for_not_when_entered(
    locks: LockManager,
) -> None:
    with pytest.raises(CNOPValidationException):
        locks.alock("", ttl=1)
    with pytest.raises(CNOPValidationException):
        locks.auser_lock("alice", "Deposit!")


@pytest.mark.parametrize(
    ("username", "operation", "field"),
    [
        ("", "deposit", "username"),
        ("a b", "deposit", "username"),
        ("x" * 129, "deposit", "username"),
        (7, "deposit", "username"),
        ("alice", "", "operation"),
        ("alice", "Deposit", "operation"),
        ("alice", "with space", "operation"),
        ("alice", None, "operation"),
    ],
)
def test_bad_user_lock_arguments_are_refused(
    locks: LockManager, username: Any, operation: Any, field: str
) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        locks.user_lock(username, operation)
    assert caught.value.errors[0]["field"] == field


def test_bad_manager_settings_are_refused() -> None:
    with pytest.raises(CNOPValidationException, match="default_ttl"):
        LockManager.in_memory(default_ttl=0)
    with pytest.raises(CNOPValidationException, match="default_wait"):
        LockManager.in_memory(default_wait=-1)
    with pytest.raises(CNOPValidationException, match="operation"):
        LockManager.in_memory(operation_ttls={"Bad Op": 5})
    with pytest.raises(CNOPValidationException, match=r"operation_ttls\[deposit\]"):
        LockManager.in_memory(operation_ttls={"deposit": -5})
    with pytest.raises(CNOPValidationException, match="operation_ttls"):
        LockManager.in_memory(operation_ttls=[("deposit", 5)])  # type: ignore[arg-type]


def test_operation_ttls_override_the_defaults() -> None:
    locks = LockManager.in_memory(operation_ttls={"deposit": 2.5, "refund": 4})
    assert locks.ttl_for("deposit") == 2.5
    assert locks.ttl_for("refund") == 4
    assert locks.ttl_for("sell") == 15
    assert locks.ttl_for("anything-else") == locks.default_ttl


# --- URLs and environment ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "cluster", "client_url"),
    [
        ("redis://h:1/0", False, "redis://h:1/0"),
        ("rediss://:pw@h:2/1", False, "rediss://:pw@h:2/1"),
        ("redis+cluster://h:3", True, "redis://h:3"),
        ("rediss+cluster://u:pw@h:4", True, "rediss://u:pw@h:4"),
    ],
)
def test_redis_urls_are_parsed_and_their_display_hides_the_password(
    url: str, cluster: bool, client_url: str
) -> None:
    target = parse_url(url)
    assert target.cluster is cluster
    assert target.url == client_url
    assert "pw" not in target.display


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "non-empty"),
        ("http://h:1", "scheme"),
        ("redis://:pw@:6379", "host"),
        ("redis://h:99999", "port"),
        ("redis://:pw@h:6379/0?socket_timeout=soon", "socket_timeout"),
        ("rediss://:pw@h:6379/0?health_check_interval=x", "health_check_interval"),
        ("redis+cluster://:pw@h:6379?socket_timeout=soon", "socket_timeout"),
    ],
)
def test_bad_redis_urls_are_configuration_errors(url: str, problem: str) -> None:
    with pytest.raises(CNOPConfigurationException) as caught:
        LockManager.from_url(url)
    assert problem in str(caught.value)
    assert "pw" not in str(caught.value)


def test_redis_url_comes_from_redis_url_first() -> None:
    env = {"REDIS_URL": "rediss://h:1/0", "REDIS_HOST": "ignored"}
    assert redis_url_from_env(env) == "rediss://h:1/0"


def test_redis_url_is_built_from_host_port_password_tls_and_cluster() -> None:
    assert redis_url_from_env({"REDIS_HOST": "cache"}) == "redis://cache:6379/0"
    env = {"REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_PASSWORD": "p@ss/word"}
    assert redis_url_from_env(env) == "redis://:p%40ss%2Fword@cache:6380/0"
    assert redis_url_from_env({"REDIS_HOST": "c", "REDIS_SSL": "true"}) == "rediss://c:6379/0"
    env = {"REDIS_HOST": "c", "REDIS_CLUSTER": "yes"}
    assert redis_url_from_env(env) == "redis+cluster://c:6379"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "REDIS_URL"),
        ({"REDIS_HOST": "c", "REDIS_PORT": "http"}, "REDIS_PORT"),
        ({"REDIS_HOST": "c", "REDIS_PORT": "0"}, "REDIS_PORT"),
        ({"REDIS_HOST": "c", "REDIS_SSL": "maybe"}, "REDIS_SSL"),
    ],
)
def test_missing_or_bad_redis_settings_name_the_variable(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(CNOPConfigurationException) as caught:
        LockManager.from_env(env)
    assert variable in str(caught.value)


def test_from_env_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    locks = LockManager.from_env()
    with locks.lock("from-env", ttl=1, wait=0) as lock:
        assert lock.held
    locks.close()


async def test_async_face_needs_an_async_backend() -> None:
    locks = LockManager(InMemoryLockBackend())
    with pytest.raises(CNOPConfigurationException, match="asyncio backend"):
        async with locks.alock("x"):
            pytest.fail("entered without an asyncio backend")
