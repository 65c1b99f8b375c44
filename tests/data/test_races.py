"""Concurrent creates and updates: the database decides, exactly one wins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cnop.data import AsyncUserDAO, DataSettings, UserCreate, UserDAO, UserUpdate
from cnop.exceptions import CNOPEntityAlreadyExistsException, CNOPVersionConflictException

WORKERS = 20


def _outcomes(results: list[Any]) -> tuple[int, list[BaseException]]:
    wins = sum(1 for r in results if not isinstance(r, BaseException))
    return wins, [r for r in results if isinstance(r, BaseException)]


def _threaded(fn: Callable[[int], Any]) -> list[Any]:
    def attempt(i: int) -> Any:
        try:
            return fn(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(attempt, range(WORKERS)))


def test_threads_one_username(
    data_settings: DataSettings, user_input: Callable[..., UserCreate]
) -> None:
    users = UserDAO(settings=data_settings)
    name = user_input().username
    results = _threaded(
        lambda i: users.create_user(user_input(username=name, email=f"{name}.{i}@example.com"), "h")
    )
    wins, errors = _outcomes(results)
    assert wins == 1
    assert len(errors) == WORKERS - 1
    assert all(isinstance(e, CNOPEntityAlreadyExistsException) for e in errors)
    assert all("Username" in str(e) for e in errors)


def test_threads_one_email(
    data_settings: DataSettings, user_input: Callable[..., UserCreate]
) -> None:
    users = UserDAO(settings=data_settings)
    email = f"{user_input().username}@example.com"
    results = _threaded(lambda i: users.create_user(user_input(email=email), "h"))
    wins, errors = _outcomes(results)
    assert wins == 1
    assert all(isinstance(e, CNOPEntityAlreadyExistsException) for e in errors)
    assert all("Email" in str(e) for e in errors)
    assert len(errors) == WORKERS - 1


async def test_asyncio_one_username_and_one_email(
    data_settings: DataSettings, async_client: Any, user_input: Callable[..., UserCreate]
) -> None:
    users = AsyncUserDAO(async_client, settings=data_settings)
    name = user_input().username
    by_name = await asyncio.gather(
        *(
            users.create_user(user_input(username=name, email=f"{name}.{i}@example.com"), "h")
            for i in range(WORKERS)
        ),
        return_exceptions=True,
    )
    email = f"{user_input().username}@example.com"
    by_email = await asyncio.gather(
        *(users.create_user(user_input(email=email), "h") for _ in range(WORKERS)),
        return_exceptions=True,
    )
    for results in (by_name, by_email):
        wins, errors = _outcomes(list(results))
        assert wins == 1
        assert len(errors) == WORKERS - 1
        assert all(isinstance(e, CNOPEntityAlreadyExistsException) for e in errors)


def test_two_updates_from_one_version_one_conflicts(
    data_settings: DataSettings, user_input: Callable[..., UserCreate]
) -> None:
    users = UserDAO(settings=data_settings)
    user = users.create_user(user_input(), "h")
    for round_ in range(5):
        version = users.get_user_by_username(user.username).version
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(
                    users.update_user,
                    user.username,
                    UserUpdate(last_name=f"Name{chr(65 + i)}"),
                    version,
                )
                for i in range(2)
            ]
        results = []
        for f in futures:
            try:
                results.append(f.result())
            except CNOPVersionConflictException as exc:
                results.append(exc)
        wins, errors = _outcomes(results)
        assert (wins, len(errors)) == (1, 1), f"round {round_}"
        winner = next(r for r in results if not isinstance(r, BaseException))
        assert users.get_user_by_username(user.username) == winner
        assert winner.version == version + 1


async def test_async_updates_from_one_version(
    data_settings: DataSettings, async_client: Any, user_input: Callable[..., UserCreate]
) -> None:
    users = AsyncUserDAO(async_client, settings=data_settings)
    user = await users.create_user(user_input(), "h")
    results = await asyncio.gather(
        *(users.update_user(user.username, UserUpdate(first_name=n), 1) for n in ("Ann", "Bea")),
        return_exceptions=True,
    )
    wins, errors = _outcomes(list(results))
    assert wins == 1
    assert len(errors) == 1
    assert isinstance(errors[0], CNOPVersionConflictException)


def test_concurrent_status_changes_one_wins(
    data_settings: DataSettings, new_username: Callable[[], str]
) -> None:
    from cnop.data import Order, OrderCreate, OrderDAO, OrderStatus
    from cnop.exceptions import CNOPInvalidStateTransitionException

    orders = OrderDAO(settings=data_settings)
    order = orders.create_order(
        Order.new(
            new_username(), OrderCreate(order_type="market_buy", asset_id="BTC", quantity="1")
        )
    )
    # Both targets are terminal: once one is applied, no other change is allowed.
    targets = [OrderStatus.CANCELLED, OrderStatus.FAILED] * (WORKERS // 2)
    results = _threaded(lambda i: orders.update_status(order.order_id, targets[i]))
    wins, errors = _outcomes(results)
    assert wins == 1
    assert len(errors) == WORKERS - 1
    assert all(isinstance(e, CNOPInvalidStateTransitionException) for e in errors)
    winner = next(r for r in results if not isinstance(r, BaseException))
    stored = orders.get_order(order.order_id)
    assert stored == winner
    assert stored.version == 2
