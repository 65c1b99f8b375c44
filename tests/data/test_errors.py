"""Every client error becomes a CNOP exception that says what happened."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from cnop.data import DataSettings, TableNames, UserDAO
from cnop.data.errors import CancellationReason, map_error, reasons_to_exception
from cnop.exceptions import (
    CNOPAWSServiceException,
    CNOPConfigurationException,
    CNOPDatabaseConnectionException,
    CNOPDatabaseOperationException,
    CNOPEntityAlreadyExistsException,
    CNOPException,
    CNOPServiceUnavailableException,
)


def _client_error(code: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "boom"}, **extra}, "PutItem")


@pytest.mark.parametrize(
    ("error", "expected", "retryable"),
    [
        (
            _client_error("ProvisionedThroughputExceededException"),
            CNOPServiceUnavailableException,
            True,
        ),
        (_client_error("ThrottlingException"), CNOPServiceUnavailableException, True),
        (_client_error("RequestLimitExceeded"), CNOPServiceUnavailableException, True),
        (_client_error("TransactionConflictException"), CNOPServiceUnavailableException, True),
        (_client_error("InternalServerError"), CNOPServiceUnavailableException, True),
        (_client_error("ResourceNotFoundException"), CNOPConfigurationException, False),
        (_client_error("UnrecognizedClientException"), CNOPConfigurationException, False),
        (_client_error("ValidationException"), CNOPDatabaseOperationException, False),
        (_client_error("SomethingNew"), CNOPAWSServiceException, False),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
            CNOPDatabaseConnectionException,
            True,
        ),
        (ReadTimeoutError(endpoint_url="http://x"), CNOPDatabaseConnectionException, True),
        (ConnectionRefusedError(), CNOPDatabaseConnectionException, True),
        (NoCredentialsError(), CNOPConfigurationException, False),
        (ParamValidationError(report="bad"), CNOPDatabaseOperationException, False),
        (RuntimeError("odd"), CNOPDatabaseOperationException, False),
    ],
)
def test_mapping(error: Exception, expected: type[CNOPException], retryable: bool) -> None:
    mapped = map_error(error, table="users", operation="put_item")
    assert type(mapped) is expected
    assert mapped.retryable is retryable
    assert mapped.details["table"] == "users"


def test_missing_table_is_named() -> None:
    mapped = map_error(
        _client_error("ResourceNotFoundException"), table="prod-users", operation="get_item"
    )
    assert "'prod-users'" in mapped.message
    assert "tables create" in mapped.message


def test_cancellation_reasons_pick_the_failed_item() -> None:
    reasons = [CancellationReason("None"), CancellationReason("ConditionalCheckFailed")]
    found = reasons_to_exception(
        reasons, {1: lambda _: CNOPEntityAlreadyExistsException("Email taken")}
    )
    assert found.message == "Email taken"
    busy = reasons_to_exception([CancellationReason("TransactionConflict")], {})
    assert isinstance(busy, CNOPServiceUnavailableException)
    assert busy.retryable
    error = _client_error(
        "TransactionCanceledException",
        CancellationReasons=[{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Item": {}}],
    )
    mapped = map_error(
        error,
        table="users",
        operation="transact_write_items",
        on_cancelled=lambda rs: reasons_to_exception(
            rs, {1: lambda _: CNOPEntityAlreadyExistsException("taken")}
        ),
    )
    assert isinstance(mapped, CNOPEntityAlreadyExistsException)


def test_throttling_from_a_dao_is_retryable_not_botocore(data_settings: DataSettings) -> None:
    # DynamoDB Local never throttles: a Stubber is the only way to produce it.
    import boto3

    client = boto3.client("dynamodb", **data_settings.client_kwargs())
    users = UserDAO(settings=data_settings, client=client)
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_item", service_error_code="ProvisionedThroughputExceededException"
        )
        with pytest.raises(CNOPServiceUnavailableException) as info:
            users.get_user_by_username("alice_01")
    assert info.value.retryable
    assert info.value.__cause__ is None
    assert not isinstance(info.value, ClientError)


def test_connection_failure_is_a_database_connection_error() -> None:
    settings = DataSettings(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        connect_timeout=0.2,
        read_timeout=0.2,
        max_attempts=1,
    )
    with pytest.raises(CNOPDatabaseConnectionException, match="Could not reach DynamoDB"):
        UserDAO(settings=settings).get_user_by_username("alice_01")


def test_missing_table_from_a_real_server(data_settings: DataSettings) -> None:
    settings = data_settings.with_tables(TableNames(users="no-such-users-table"))
    with pytest.raises(CNOPConfigurationException, match="'no-such-users-table' does not exist"):
        UserDAO(settings=settings).get_user_by_username("alice_01")


def test_settings_refuse_bad_environment() -> None:
    with pytest.raises(CNOPConfigurationException, match="AWS_REGION"):
        DataSettings.from_env({})
    with pytest.raises(CNOPConfigurationException, match="CNOP_DYNAMODB_READ_TIMEOUT"):
        DataSettings.from_env({"AWS_REGION": "us-east-1", "CNOP_DYNAMODB_READ_TIMEOUT": "soon"})
    with pytest.raises(CNOPConfigurationException, match="USERS_TABLE"):
        TableNames.from_env(environ={"USERS_TABLE": "x"})
    with pytest.raises(CNOPConfigurationException, match="CNOP_DYNAMODB_RETRY_MODE"):
        DataSettings.from_env({"AWS_REGION": "eu-west-1", "CNOP_DYNAMODB_RETRY_MODE": "yolo"})
    with pytest.raises(CNOPConfigurationException, match="max_pool_connections"):
        DataSettings(region="eu-west-1", max_pool_connections=0)
    with pytest.raises(CNOPConfigurationException, match="read_timeout must be a number"):
        DataSettings(region="eu-west-1", read_timeout="5")  # type: ignore[arg-type]
    settings = DataSettings.from_env(
        {
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL_DYNAMODB": "http://localhost:8000",
            "ORDERS_TABLE": "orders-v2",
            "CNOP_DYNAMODB_MAX_POOL_CONNECTIONS": "64",
            "CNOP_CURSOR_SECRET": "0123456789abcdef0123",
        },
        table_prefix="dev-",
    )
    assert settings.tables == TableNames("dev-users", "dev-orders-v2", "dev-inventory")
    config = settings.botocore_config()
    assert config.max_pool_connections == 64
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}  # sends, not retries
    assert "0123456789abcdef" not in repr(settings)


async def test_async_connection_failure_is_a_database_connection_error() -> None:
    from cnop.data import AsyncUserDAO, open_async_client

    settings = DataSettings(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        connect_timeout=0.2,
        read_timeout=0.2,
        max_attempts=1,
    )
    async with open_async_client(settings) as client:
        with pytest.raises(CNOPDatabaseConnectionException, match="Could not reach DynamoDB"):
            await AsyncUserDAO(client, settings=settings).get_user_by_username("alice_01")


async def test_async_missing_table(data_settings: DataSettings, async_client: Any) -> None:
    from cnop.data import AsyncUserDAO

    settings = data_settings.with_tables(TableNames(users="no-such-users-table"))
    with pytest.raises(CNOPConfigurationException, match="'no-such-users-table' does not exist"):
        await AsyncUserDAO(async_client, settings=settings).get_user_by_username("alice_01")


async def test_async_throttling_is_retryable_not_botocore(data_settings: DataSettings) -> None:
    # DynamoDB Local never throttles; a before-call hook answers in its place (aiobotocore
    # has no Stubber), the way DynamoDB does: HTTP 400 with a throttling error code.
    from cnop.data import AsyncUserDAO, open_async_client

    calls = []

    def throttle(**kwargs: Any) -> tuple[Any, dict[str, Any]]:
        calls.append(kwargs["model"].name)
        http = type("Response", (), {"status_code": 400, "headers": {}})()
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    async with open_async_client(data_settings) as client:
        client.meta.events.register("before-call.dynamodb.GetItem", throttle)
        users = AsyncUserDAO(client, settings=data_settings)
        with pytest.raises(CNOPServiceUnavailableException, match="throttling") as info:
            await users.get_user_by_username("alice_01")
    assert info.value.retryable
    # The hook answers before botocore's retry loop, so the call was made once.
    assert calls == ["GetItem"]
