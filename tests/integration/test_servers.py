"""The test servers are real and reachable: the base every integration test stands on."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest
import redis

pytestmark = pytest.mark.integration


def test_dynamodb_local_creates_a_table_and_round_trips_an_item(
    dynamodb_endpoint: str, unique_name: Callable[[str], str]
) -> None:
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)
    table = unique_name("servers")
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        client.put_item(TableName=table, Item={"pk": {"S": "k1"}, "amount": {"N": "12.50"}})
        item = client.get_item(TableName=table, Key={"pk": {"S": "k1"}}, ConsistentRead=True)[
            "Item"
        ]
        assert item == {"pk": {"S": "k1"}, "amount": {"N": "12.5"}}
        # A real DynamoDB enforces conditions; a permissive fake would not.
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(
                TableName=table,
                Item={"pk": {"S": "k1"}},
                ConditionExpression="attribute_not_exists(pk)",
            )
    finally:
        client.delete_table(TableName=table)


def test_redis_round_trips_a_key_with_expiry(
    redis_url: str, unique_name: Callable[[str], str]
) -> None:
    client = redis.Redis.from_url(redis_url)
    key = unique_name("servers")
    assert client.set(key, b"value", px=60_000, nx=True) is True
    assert client.set(key, b"other", px=60_000, nx=True) is None
    assert client.get(key) == b"value"
    assert 0 < client.pttl(key) <= 60_000
    assert client.delete(key) == 1
    client.close()


def test_private_server_can_be_killed_and_restarted(private_servers: Callable[..., object]) -> None:
    server = private_servers("redis")
    client = redis.Redis.from_url(server.url, socket_timeout=1)  # type: ignore[attr-defined]
    assert client.ping() is True
    server.kill()  # type: ignore[attr-defined]
    with pytest.raises(redis.ConnectionError):
        client.ping()
    restarted = private_servers("redis", port=server.ports[0])  # type: ignore[attr-defined]
    assert restarted.url == server.url  # type: ignore[attr-defined]
    assert client.ping() is True
    client.close()
