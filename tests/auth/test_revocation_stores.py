"""The shared revocation stores against real servers: Redis, Redis Cluster, DynamoDB Local.

Every store passes the same contract; then a fleet of two TokenManagers shares one store.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
import redis
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from cnop.auth import (
    DynamoDBRevocationStore,
    InMemoryRevocationList,
    RedisRevocationStore,
    RevocationStore,
    TokenManager,
)
from cnop.auth.revocation import as_store
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPServiceUnavailableException,
    CNOPTokenInvalidException,
    CNOPValidationException,
)

pytestmark = pytest.mark.integration

KINDS = ["memory", "redis", "redis-cluster", "dynamodb"]
SHARED = ["redis", "redis-cluster", "dynamodb"]


def _later(seconds: float = 600) -> datetime:
    return datetime.fromtimestamp(time.time() + seconds, tz=timezone.utc)


@pytest.fixture(scope="session")
def revocation_table(dynamodb_endpoint: str) -> str:
    name = f"auth-revocations-{time.time_ns()}"
    DynamoDBRevocationStore.create_table(name, client=_dynamodb(dynamodb_endpoint))
    return name


def _dynamodb(endpoint: str, **config: Any) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, config=Config(**config))


@pytest.fixture
def make_store(
    request: pytest.FixtureRequest, unique_name: Callable[[str], str]
) -> Iterator[Callable[[str], RevocationStore]]:
    """``make_store(kind)``: a fresh handle on the one store of this test (same prefix)."""
    prefix = unique_name("auth-test")
    memory = as_store(InMemoryRevocationList())
    made: list[Any] = []

    def make(kind: str) -> RevocationStore:
        store: RevocationStore
        if kind == "memory":
            return memory
        if kind == "redis":
            url = request.getfixturevalue("redis_url")
            store = RedisRevocationStore.from_url(url, prefix=prefix)
        elif kind == "redis-cluster":
            store = RedisRevocationStore.from_url(
                request.getfixturevalue("redis_cluster_url"), prefix=prefix
            )
        elif kind == "dynamodb":
            endpoint = request.getfixturevalue("dynamodb_endpoint")
            store = DynamoDBRevocationStore(
                request.getfixturevalue("revocation_table"), client=_dynamodb(endpoint)
            )
        else:
            raise ValueError(kind)
        made.append(store)
        return store

    yield make
    for store in made:
        if isinstance(store, RedisRevocationStore):
            store.close()


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, make_store: Callable[[str], Any]) -> RevocationStore:
    return make_store(request.param)  # type: ignore[no-any-return]


def _ids(unique_name: Callable[[str], str]) -> tuple[str, str]:
    return unique_name("jti"), unique_name("sid")


# -- the contract ----------------------------------------------------------------------------


def test_a_token_is_revoked_once(store: RevocationStore, unique_name: Any) -> None:
    jti, sid = _ids(unique_name)
    assert not store.is_revoked(jti, sid)
    assert store.revoke(jti, _later(), sid) is True
    assert store.revoke(jti, _later(), sid) is False
    assert store.is_revoked(jti, sid)
    assert not store.is_revoked(unique_name("other"), sid)


def test_a_revoked_session_covers_every_token_of_it(
    store: RevocationStore, unique_name: Any
) -> None:
    jti, sid = _ids(unique_name)
    assert store.revoke_session(sid, _later()) is True
    assert store.revoke_session(sid, _later()) is False
    assert store.is_revoked(jti, sid)
    assert store.is_revoked(unique_name("jti"), sid)
    assert not store.is_revoked(jti, None)
    assert not store.is_revoked(jti, unique_name("sid"))


def test_a_token_outside_any_session(store: RevocationStore, unique_name: Any) -> None:
    jti = unique_name("jti")
    assert store.revoke(jti, _later()) is True
    assert store.is_revoked(jti)
    assert store.revoke(jti, _later()) is False


def test_concurrent_revocations_of_one_id_succeed_exactly_once(
    store: RevocationStore, unique_name: Any
) -> None:
    jti, sid = _ids(unique_name)
    results: list[bool] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        results.append(store.revoke(jti, _later(), sid))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


async def test_the_async_methods_keep_the_contract(
    store: RevocationStore, unique_name: Any
) -> None:
    jti, sid = _ids(unique_name)
    try:
        assert not await store.is_revoked_async(jti, sid)
        results = await asyncio.gather(*(store.revoke_async(jti, _later(), sid) for _ in range(6)))
        assert sorted(results) == [False] * 5 + [True]
        assert await store.is_revoked_async(jti, sid)
        assert await store.revoke_session_async(sid, _later())
        assert await store.is_revoked_async(unique_name("jti"), sid)
    finally:
        if isinstance(store, RedisRevocationStore):
            await store.aclose()


@pytest.mark.parametrize("kind", SHARED)
@pytest.mark.parametrize(
    "bad", ["", "a b", "x{tag}", "a\n", "a\x00b", "é", "x" * 129, 5, None, "\u0661\u0660", "\uff21"]
)
def test_ids_that_are_not_ours_are_refused(
    make_store: Callable[[str], RevocationStore], kind: str, bad: Any
) -> None:
    store = make_store(kind)
    with pytest.raises(CNOPValidationException):
        store.revoke(bad, _later())
    with pytest.raises(CNOPValidationException):
        store.revoke_session(bad, _later())
    with pytest.raises(CNOPValidationException):
        store.is_revoked("ok-id", bad if bad is not None else 5)


@pytest.mark.parametrize("kind", SHARED)
def test_a_naive_or_wrong_expiry_is_refused(
    make_store: Callable[[str], RevocationStore], kind: str
) -> None:
    store = make_store(kind)
    for bad in (datetime(2030, 1, 1), 1_900_000_000, "tomorrow"):
        with pytest.raises(CNOPValidationException, match="expires_at"):
            store.revoke("jti-1", bad)  # type: ignore[arg-type]


# -- expiry --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
def test_redis_entries_expire_with_the_token(
    make_store: Callable[[str], RevocationStore], kind: str, unique_name: Any
) -> None:
    store = make_store(kind)
    assert isinstance(store, RedisRevocationStore)
    jti, sid = _ids(unique_name)
    store.revoke(jti, _later(100), sid)
    store.revoke_session(sid, _later(200))
    client = store._client  # the test looks at the keys themselves
    assert client is not None
    prefix = store._prefix
    token_ttl = client.pttl(f"{prefix}:{{{sid}}}:jti:{jti}")
    session_ttl = client.pttl(f"{prefix}:{{{sid}}}:sid")
    assert 0 < token_ttl <= 100_000
    assert 100_000 < session_ttl <= 200_000


def test_dynamodb_items_past_their_expiry_count_as_absent(
    make_store: Callable[[str], RevocationStore],
    revocation_table: str,
    dynamodb_endpoint: str,
    unique_name: Any,
) -> None:
    # DynamoDB deletes expired items late; until then they are still returned by reads.
    store = make_store("dynamodb")
    jti, sid = _ids(unique_name)
    client = _dynamodb(dynamodb_endpoint)
    past = str(int(time.time()) - 10)
    for key in (f"jti#{jti}", f"sid#{sid}"):
        client.put_item(
            TableName=revocation_table,
            Item={"pk": {"S": key}, "expires_at": {"N": past}, "owner": {"S": "old"}},
        )
    assert not store.is_revoked(jti, sid)
    assert store.revoke(jti, _later(), sid) is True  # the stale item is replaced
    assert store.revoke_session(sid, _later()) is True
    assert store.is_revoked(jti, sid)
    ttl = client.describe_time_to_live(TableName=revocation_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    item = client.get_item(TableName=revocation_table, Key={"pk": {"S": f"jti#{jti}"}})["Item"]
    assert int(item["expires_at"]["N"]) >= int(time.time()) + 590


# -- lost replies: the write landed, the answer did not ------------------------------------


class _RedisLosingFirstReply(redis.Redis):
    """A real client whose first write is applied by the server but whose reply is lost."""

    lost = 0

    def eval(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        result = super().eval(*args, **kwargs)
        if self.lost == 0:
            self.lost += 1
            raise redis.ConnectionError("connection reset after the command was sent")
        return result


def test_redis_a_revocation_whose_reply_was_lost_is_still_ours(
    redis_url: str, unique_name: Any
) -> None:
    client = _RedisLosingFirstReply.from_url(redis_url)
    store = RedisRevocationStore(client, prefix=unique_name("auth-test"))
    jti, sid = _ids(unique_name)
    # Sent again after the reset, SET NX is refused: the entry is our own first write.
    assert store.revoke(jti, _later(), sid) is True
    assert client.lost == 1
    assert store.revoke(jti, _later(), sid) is False  # someone else's from now on
    client.close()


class _DynamoDBLosingFirstReply:
    def __init__(self, client: Any) -> None:
        self._client = client
        self.lost = 0

    def put_item(self, **request: Any) -> Any:
        result = self._client.put_item(**request)
        if self.lost == 0:
            self.lost += 1
            raise EndpointConnectionError(endpoint_url="http://lost-reply")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_dynamodb_a_revocation_whose_reply_was_lost_is_still_ours(
    revocation_table: str, dynamodb_endpoint: str, unique_name: Any
) -> None:
    client = _DynamoDBLosingFirstReply(_dynamodb(dynamodb_endpoint))
    store = DynamoDBRevocationStore(revocation_table, client=client)
    jti, sid = _ids(unique_name)
    assert store.revoke(jti, _later(), sid) is True
    assert client.lost == 1
    assert store.revoke(jti, _later(), sid) is False


# -- failing closed ----------------------------------------------------------------------


def test_an_unreachable_redis_fails_verification_closed(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    from cnop_testservers import free_port  # loaded by the shared conftest

    store = RedisRevocationStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    manager = TokenManager(make_tokens().settings, revocation=store, clock=clock)
    pair = manager.create_token_pair("alice_01")
    with pytest.raises(CNOPServiceUnavailableException, match="unreachable") as caught:
        manager.verify_access_token(pair.access_token)
    assert caught.value.retryable
    with pytest.raises(CNOPServiceUnavailableException):
        asyncio.run(manager.verify_access_token_async(pair.access_token))


def test_an_unreachable_dynamodb_fails_verification_closed(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    from cnop_testservers import free_port

    client = _dynamodb(
        f"http://127.0.0.1:{free_port()}",
        connect_timeout=1,
        read_timeout=1,
        retries={"max_attempts": 1},
    )
    manager = TokenManager(
        make_tokens().settings,
        revocation=DynamoDBRevocationStore("auth-revocations", client=client),
        clock=clock,
    )
    pair = manager.create_token_pair("alice_01")
    with pytest.raises(CNOPServiceUnavailableException, match="unreachable"):
        manager.verify_access_token(pair.access_token)


def test_a_missing_dynamodb_table_is_a_configuration_error(
    dynamodb_endpoint: str, unique_name: Any
) -> None:
    store = DynamoDBRevocationStore(unique_name("missing"), client=_dynamodb(dynamodb_endpoint))
    with pytest.raises(CNOPConfigurationException, match="does not exist"):
        store.is_revoked("jti-1", "sid-1")
    with pytest.raises(CNOPConfigurationException, match="does not exist"):
        store.revoke("jti-1", _later())


@pytest.mark.parametrize(
    "url", ["", "http://host", "redis://", "redis://host:99999", "memcached://x", 5]
)
def test_bad_redis_urls_are_refused(url: Any) -> None:
    with pytest.raises(CNOPConfigurationException):
        RedisRevocationStore.from_url(url)


def test_redis_url_credentials_never_reach_a_message() -> None:
    from cnop_testservers import free_port

    store = RedisRevocationStore.from_url(f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0")
    with pytest.raises(CNOPServiceUnavailableException) as caught:
        store.is_revoked("jti-1")
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value.details)


# -- a fleet: two instances, one store ---------------------------------------------------


@pytest.fixture(params=SHARED)
def fleet(
    request: pytest.FixtureRequest,
    make_store: Callable[[str], RevocationStore],
    make_tokens: Callable[..., TokenManager],
    clock: Any,
) -> tuple[TokenManager, TokenManager]:
    settings = make_tokens().settings
    a = TokenManager(settings, revocation=make_store(request.param), clock=clock)
    b = TokenManager(settings, revocation=make_store(request.param), clock=clock)
    return a, b


def test_logout_on_one_instance_is_refused_on_another(
    fleet: tuple[TokenManager, TokenManager],
) -> None:
    a, b = fleet
    pair = a.create_token_pair("alice_01")
    assert b.verify_access_token(pair.access_token).sid == pair.session_id
    a.logout(pair.access_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        b.verify_access_token(pair.access_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        b.rotate_refresh_token(pair.refresh_token)


def test_refresh_reuse_across_instances_revokes_the_session_everywhere(
    fleet: tuple[TokenManager, TokenManager],
) -> None:
    a, b = fleet
    stolen = a.create_token_pair("alice_01")
    current = a.rotate_refresh_token(stolen.refresh_token)
    with pytest.raises(CNOPTokenInvalidException, match="reused"):
        b.rotate_refresh_token(stolen.refresh_token)
    for manager in (a, b):
        with pytest.raises(CNOPTokenInvalidException, match="revoked"):
            manager.verify_access_token(current.access_token)


def test_concurrent_rotation_on_two_instances_has_one_winner(
    fleet: tuple[TokenManager, TokenManager],
) -> None:
    a, b = fleet
    refresh = a.create_token_pair("alice_01").refresh_token
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def attempt(manager: TokenManager) -> None:
        start.wait()
        try:
            manager.rotate_refresh_token(refresh)
            outcomes.append("won")
        except CNOPTokenInvalidException:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=((a, b)[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]


async def test_the_async_paths_share_the_store(
    fleet: tuple[TokenManager, TokenManager],
) -> None:
    a, b = fleet
    pair = a.create_token_pair("alice_01")
    fresh = await a.rotate_refresh_token_async(pair.refresh_token)
    assert (await b.verify_access_token_async(fresh.access_token)).sub == "alice_01"
    await b.logout_async(fresh.refresh_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        await a.verify_access_token_async(fresh.access_token)
    for manager in (a, b):
        store = manager._store
        if isinstance(store, RedisRevocationStore):
            await store.aclose()
