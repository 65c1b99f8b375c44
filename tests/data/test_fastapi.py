"""cnop.data.fastapi: the lifespan, DAO dependencies and health routes, on DynamoDB Local."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from cnop.data import (
    AsyncBalanceDAO,
    AsyncTransactionManager,
    AsyncUserDAO,
    BalanceDAO,
    DataSettings,
    TableNames,
    TransactionManager,
    UserCreate,
    UserDAO,
)
from cnop.data.fastapi import (
    STATE_KEY,
    DataState,
    cnop_lifespan,
    get_async_balance_dao,
    get_async_transaction_manager,
    get_async_user_dao,
    get_balance_dao,
    get_data_state,
    get_transaction_manager,
    get_user_dao,
    health_router,
)
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException

ORIGINAL_KEYS = {"status", "service", "version", "timestamp", "environment", "checks"}


def make_app(settings: DataSettings, **options: Any) -> FastAPI:
    app = FastAPI(lifespan=cnop_lifespan(settings, **options))
    app.include_router(health_router(service="user_service", environment="test"))

    @app.post("/users/{username}")
    def create(username: str, users: Annotated[UserDAO, Depends(get_user_dao)]) -> dict[str, str]:
        user = UserCreate(
            username=username, email=f"{username}@example.com", first_name="A", last_name="B"
        )
        return {"username": users.create_user(user, "x" * 60).username}

    @app.get("/users/{username}")
    async def read(
        username: str, users: Annotated[AsyncUserDAO, Depends(get_async_user_dao)]
    ) -> dict[str, str]:
        return {"email": (await users.get_user_by_username(username)).email}

    @app.post("/deposit/{username}")
    async def deposit(
        username: str,
        flows: Annotated[AsyncTransactionManager, Depends(get_async_transaction_manager)],
        balances: Annotated[AsyncBalanceDAO, Depends(get_async_balance_dao)],
    ) -> dict[str, str]:
        await flows.deposit(username, Decimal("25.50"))
        return {"balance": str((await balances.get_balance(username)).balance)}

    @app.post("/withdraw/{username}")
    def withdraw(
        username: str,
        flows: Annotated[TransactionManager, Depends(get_transaction_manager)],
        balances: Annotated[BalanceDAO, Depends(get_balance_dao)],
    ) -> dict[str, str]:
        flows.withdraw(username, Decimal("5.50"))
        return {"balance": str(balances.get_balance(username).balance)}

    @app.get("/state-ids")
    def state_ids(state: Annotated[DataState, Depends(get_data_state)]) -> dict[str, int]:
        return {"client": id(state.client), "async": id(state.async_client)}

    return app


def username() -> str:
    return f"u_{uuid.uuid4().hex[:16]}"


def test_sync_and_async_daos_and_transaction_managers_share_the_tables(
    data_settings: DataSettings,
) -> None:
    name = username()
    with TestClient(make_app(data_settings)) as client:
        assert client.post(f"/users/{name}").json() == {"username": name}
        assert client.get(f"/users/{name}").json() == {"email": f"{name}@example.com"}
        assert client.post(f"/deposit/{name}").json() == {"balance": "25.50"}
        assert client.post(f"/withdraw/{name}").json() == {"balance": "20.00"}


def test_clients_are_opened_once_per_process_and_closed_at_shutdown(
    data_settings: DataSettings,
) -> None:
    app = make_app(data_settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        first, second = client.get("/state-ids").json(), client.get("/state-ids").json()
        assert first == second
        state = getattr(app.state, STATE_KEY)
        assert state.async_client is not None
    # After shut-down nothing is left on app.state, and a dependency says why it fails.
    assert not hasattr(app.state, STATE_KEY)
    with pytest.raises(CNOPConfigurationException, match="cnop_lifespan"):
        get_data_state(_request(app))


def _request(app: FastAPI) -> Any:
    from starlette.requests import Request

    return Request({"type": "http", "app": app, "headers": [], "method": "GET", "path": "/"})


def test_a_dependency_without_the_lifespan_is_a_clear_500() -> None:
    app = FastAPI()

    @app.get("/u")
    def read(users: Annotated[UserDAO, Depends(get_user_dao)]) -> str:
        return "never"

    with (
        TestClient(app, raise_server_exceptions=True) as client,
        pytest.raises(CNOPConfigurationException, match=r"FastAPI\(lifespan=cnop_lifespan"),
    ):
        client.get("/u")


def test_the_apps_own_lifespan_runs_inside_with_the_clients_open(
    data_settings: DataSettings,
) -> None:
    seen: list[str] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[None]:
        state = getattr(app.state, STATE_KEY)
        seen.append(type(state.users).__name__)
        yield
        seen.append("closing" if hasattr(app.state, STATE_KEY) else "already closed")

    with TestClient(make_app(data_settings, lifespan=own)) as client:
        assert client.get("/health/live").status_code == 200
    assert seen == ["UserDAO", "closing"]


@pytest.mark.parametrize("path", ["/health", "/health/live"])
def test_liveness_has_the_original_body_shape(data_settings: DataSettings, path: str) -> None:
    with TestClient(make_app(data_settings)) as client:
        response = client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == ORIGINAL_KEYS
    assert body["status"] == "healthy"
    assert body["service"] == "user_service"
    assert body["version"] == "1.0.0"
    assert body["environment"] == "test"
    assert body["timestamp"].endswith("Z")
    assert body["checks"] == {"api": "ok", "service": "running"}


def test_readiness_describes_the_tables(data_settings: DataSettings) -> None:
    with TestClient(make_app(data_settings)) as client:
        response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= ORIGINAL_KEYS
    assert body["status"] == "healthy"
    assert body["checks"]["service"] == "ready"
    for name in data_settings.tables.all():
        assert body["checks"][f"dynamodb:{name}"] == "ok"
        assert body["dependencies"][f"dynamodb:{name}"]["ok"] is True


def test_readiness_is_503_when_a_table_is_missing_but_liveness_stays_200(
    data_settings: DataSettings,
) -> None:
    missing = data_settings.with_tables(TableNames.from_env(f"absent{uuid.uuid4().hex[:6]}-", {}))
    with TestClient(make_app(missing)) as client:
        ready, live = client.get("/health/ready"), client.get("/health/live")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["service"] == "not_ready"
    assert body["checks"][f"dynamodb:{missing.tables.users}"] == "missing"
    assert live.status_code == 200


def test_readiness_pings_redis_when_configured(data_settings: DataSettings, redis_url: str) -> None:
    with TestClient(make_app(data_settings, redis=redis_url)) as client:
        response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["redis"] == "ok"


def test_readiness_is_503_when_redis_does_not_answer(
    data_settings: DataSettings, unused_tcp_port: int
) -> None:
    with TestClient(make_app(data_settings, redis=f"redis://127.0.0.1:{unused_tcp_port}/0")) as c:
        response = c.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "unreachable"


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_works_over_httpx_asgi_transport_inside_the_apps_event_loop(
    data_settings: DataSettings,
) -> None:
    app = make_app(data_settings)
    name = username()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.post(f"/users/{name}")).status_code == 200
            assert (await client.get(f"/users/{name}")).json()["email"] == f"{name}@example.com"
            assert (await client.get("/health/ready")).status_code == 200


def test_start_up_fails_clearly_and_closes_what_it_opened_when_redis_is_misconfigured(
    data_settings: DataSettings,
) -> None:
    class SyncOnly:
        def ping(self) -> bool:
            return True

    with pytest.raises(CNOPConfigurationException, match="asyncio client"):
        cnop_lifespan(data_settings, redis=SyncOnly())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"settings": "us-east-1"}, "DataSettings"),
        ({"redis": "http://localhost:6379"}, "redis://"),
        ({"lifespan": "mine"}, "lifespan"),
        ({"locks": object()}, "user_lock"),
        ({"async_locks": object()}, "auser_lock"),
    ],
)
def test_lifespan_refuses_bad_arguments(options: dict[str, Any], message: str) -> None:
    with pytest.raises(CNOPConfigurationException, match=message):
        cnop_lifespan(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"service": ""},
        {"service": " user_service"},
        {"service": "user_service\n"},
        {"service": "user\x00service"},
        {"service": "user_s\ud800"},
        {"service": "x" * 129},
        {"service": 42},
        {"service": "ok", "version": ""},
        {"service": "ok", "environment": "prod\r\n"},
        {"service": "ok", "prefix": "health"},
        {"service": "ok", "prefix": "/health/"},
    ],
)
def test_health_router_refuses_bad_labels(options: dict[str, Any]) -> None:
    with pytest.raises(CNOPConfigurationException):
        health_router(**options)


@pytest.mark.parametrize("deadline", [0, -1, float("nan"), 61, "2", True])
def test_health_router_refuses_bad_deadlines(deadline: Any) -> None:
    with pytest.raises(CNOPValidationException, match="deadline"):
        health_router(service="ok", deadline=deadline)


def test_environment_defaults_to_the_variable_then_development(
    monkeypatch: pytest.MonkeyPatch, data_settings: DataSettings
) -> None:
    def body(env: str | None) -> dict[str, Any]:
        if env is None:
            monkeypatch.delenv("ENVIRONMENT", raising=False)
        else:
            monkeypatch.setenv("ENVIRONMENT", env)
        app = FastAPI()
        app.include_router(health_router(service="order_service"))
        with TestClient(app) as client:
            result: dict[str, Any] = client.get("/health").json()
        return result

    assert body(None)["environment"] == "development"
    assert body("staging")["environment"] == "staging"


def test_settings_come_from_the_environment_at_start_up(
    monkeypatch: pytest.MonkeyPatch, data_settings: DataSettings, dynamodb_endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    kinds = ("USERS", "ORDERS", "INVENTORY")
    for kind, name in zip(kinds, data_settings.tables.all(), strict=True):
        monkeypatch.setenv(f"{kind}_TABLE", name)
    app = FastAPI(lifespan=cnop_lifespan())
    app.include_router(health_router(service="user_service"))
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200


def test_readiness_is_503_within_the_deadline_when_dynamodb_is_unreachable(
    data_settings: DataSettings, unused_tcp_port: int
) -> None:
    dead = DataSettings.from_env(
        {}, region="us-east-1", endpoint_url=f"http://127.0.0.1:{unused_tcp_port}"
    ).with_tables(data_settings.tables)
    app = FastAPI(lifespan=cnop_lifespan(dead))
    app.include_router(health_router(service="user_service", deadline=1.0))
    with TestClient(app) as client:
        ready, live = client.get("/health/ready"), client.get("/health/live")
    assert ready.status_code == 503
    statuses = {ready.json()["checks"][f"dynamodb:{n}"] for n in dead.tables.all()}
    assert statuses <= {"unreachable", "timeout"}
    assert live.status_code == 200


def test_a_failing_start_up_of_the_apps_own_lifespan_leaves_nothing_open(
    data_settings: DataSettings,
) -> None:
    opened: list[DataState] = []

    @asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        opened.append(getattr(app.state, STATE_KEY))
        raise RuntimeError("the app's own start-up failed")
        yield  # pragma: no cover

    app = make_app(data_settings, lifespan=broken)
    with pytest.raises(RuntimeError, match="own start-up"), TestClient(app):
        pass
    assert len(opened) == 1
    assert not hasattr(app.state, STATE_KEY)


def test_an_app_started_twice_opens_fresh_clients_each_time(data_settings: DataSettings) -> None:
    app = make_app(data_settings)
    states: list[DataState] = []
    for _ in range(2):
        with TestClient(app) as client:
            states.append(getattr(app.state, STATE_KEY))
            assert client.get("/health/ready").status_code == 200
    assert states[0].client is not states[1].client
    assert states[0].async_client is not states[1].async_client
