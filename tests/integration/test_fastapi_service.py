"""A service as an adopter writes it: cnop.data.fastapi + cnop.auth.fastapi + per-user locks,
tested with the packages' own testing modules against DynamoDB Local."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoints' annotations.

import uuid
from decimal import Decimal
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from cnop.auth import GatewaySigner, UserContext
from cnop.auth.fastapi import FastAPIAuth, add_problem_handler
from cnop.auth.testing import TestGateway, TestTokens
from cnop.data import (
    AsyncBalanceDAO,
    AsyncTransactionManager,
    DataSettings,
    TransactionManager,
    UserCreate,
    UserDAO,
)
from cnop.data.fastapi import (
    cnop_lifespan,
    get_async_balance_dao,
    get_async_transaction_manager,
    get_transaction_manager,
    get_user_dao,
    health_router,
)
from cnop.locking import LockManager
from cnop.locking.testing import cnop_memory_locks

__all__ = ["cnop_memory_locks"]  # a fixture, imported the way users import it

pytestmark = pytest.mark.integration


def build_app(
    settings: DataSettings, locks: LockManager, tokens: TestTokens, gateway: TestGateway
) -> FastAPI:
    app = FastAPI(lifespan=cnop_lifespan(settings, locks=locks, async_locks=locks))
    add_problem_handler(app)
    app.include_router(health_router(service="user_service"))
    auth = FastAPIAuth(tokens=tokens.manager, gateway=GatewaySigner(gateway.secret))
    Caller = Annotated[UserContext, Depends(auth.current_user)]  # noqa: N806

    @app.post("/register")
    def register(caller: Caller, users: Annotated[UserDAO, Depends(get_user_dao)]) -> str:
        name = str(caller.user_id)
        created = users.create_user(
            UserCreate(username=name, email=f"{name}@example.com", first_name="A", last_name="B"),
            "x" * 60,
        )
        return created.username

    @app.post("/deposit")
    async def deposit(
        caller: Caller,
        flows: Annotated[AsyncTransactionManager, Depends(get_async_transaction_manager)],
        balances: Annotated[AsyncBalanceDAO, Depends(get_async_balance_dao)],
    ) -> str:
        await flows.deposit(str(caller.user_id), Decimal("40.00"))
        return str((await balances.get_balance(str(caller.user_id))).balance)

    @app.post("/withdraw")
    def withdraw(
        caller: Caller, flows: Annotated[TransactionManager, Depends(get_transaction_manager)]
    ) -> str:
        return str(flows.withdraw(str(caller.user_id), Decimal("15.00")).amount)

    return app


@pytest.fixture
def service(
    flow_settings: DataSettings, cnop_memory_locks: LockManager
) -> tuple[TestClient, TestTokens, TestGateway]:
    tokens, gateway = TestTokens(), TestGateway()
    return TestClient(build_app(flow_settings, cnop_memory_locks, tokens, gateway)), tokens, gateway


def test_a_user_registers_deposits_and_withdraws_by_token_and_by_gateway(
    service: tuple[TestClient, TestTokens, TestGateway],
) -> None:
    client, tokens, gateway = service
    name = f"u_{uuid.uuid4().hex[:12]}"
    with client:
        assert client.post("/register", headers=tokens.headers(name)).json() == name
        assert client.post("/deposit", headers=tokens.headers(name)).json() == "40.00"
        signed = gateway.headers(name, method="POST", target="/withdraw")
        assert client.post("/withdraw", headers=signed).json() == "-15.00"  # a debit
        replayed = client.post("/withdraw", headers=signed)
        assert replayed.status_code == 401
        assert client.get("/health/ready").status_code == 200


def test_a_flow_waits_for_the_users_lock_and_gives_up_with_a_retryable_error(
    service: tuple[TestClient, TestTokens, TestGateway], cnop_memory_locks: LockManager
) -> None:
    client, tokens, _ = service
    name = f"u_{uuid.uuid4().hex[:12]}"
    with client:
        client.post("/register", headers=tokens.headers(name))
        with cnop_memory_locks.user_lock(name, "held_elsewhere"):
            for path in ("/deposit", "/withdraw"):
                refused = client.post(path, headers=tokens.headers(name))
                assert refused.status_code in (409, 423, 429, 503), refused.text
                assert refused.headers["content-type"].startswith("application/problem+json")
        assert client.post("/deposit", headers=tokens.headers(name)).json() == "40.00"
