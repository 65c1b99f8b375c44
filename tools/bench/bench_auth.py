"""cnop-auth against the libraries it wraps, side by side in one run.

1. HS256 create+verify round trips per second: ``TokenManager`` against python-jose called
   directly with the same claims and checks. Goal: ours >= 0.8x jose.
2. Eight password verifications (bcrypt cost 12): awaited one after another against eight
   awaited together with ``asyncio.gather``. Goal: concurrent wall time <= 0.6x sequential,
   which shows the hashing runs off the event loop and uses both cores. Beside it, the
   naive peer (passlib's ``verify`` called inside the coroutine) and, for both, the longest
   stall of the event loop: the figure that does not depend on how busy the machine is.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable

from jose import jwt
from passlib.context import CryptContext

from cnop.auth import JWTKey, KeySet, PasswordManager, TokenManager, TokenSettings

TOKEN_GOAL = 0.8
PASSWORD_GOAL = 0.6


def _rate(step: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``step`` over about ``seconds``."""
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            step()
        calls += 100
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def bench_tokens(seconds: float, rounds: int) -> float:
    secret = secrets.token_urlsafe(48)
    manager = TokenManager(TokenSettings(keys=KeySet(JWTKey.hmac(secret))))

    def ours() -> None:
        issued = manager.create_access_token("alice_01", role="customer")
        manager.verify_access_token(issued.access_token)

    def jose_direct() -> None:
        now = int(time.time())
        claims = {
            "sub": "alice_01",
            "role": "customer",
            "type": "access",
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "nbf": now,
            "exp": now + 1800,
            "iss": "cnop-auth",
            "aud": "cnop",
        }
        token = jwt.encode(claims, secret, algorithm="HS256")
        jwt.decode(token, secret, algorithms=["HS256"], audience="cnop", issuer="cnop-auth")

    ours_best = jose_best = 0.0
    for _ in range(rounds):  # interleaved, best of each: fair on a shared machine
        ours_best = max(ours_best, _rate(ours, seconds))
        jose_best = max(jose_best, _rate(jose_direct, seconds))
    ratio = ours_best / jose_best
    print(f"HS256 create+verify round trips/s (best of {rounds} x {seconds:.1f}s)")
    print(f"  cnop.auth TokenManager : {ours_best:10,.0f}/s")
    print(f"  python-jose directly   : {jose_best:10,.0f}/s")
    verdict = "met" if ratio >= TOKEN_GOAL else "NOT met"
    print(f"  ratio ours/jose        : {ratio:10.2f}x  (goal >= {TOKEN_GOAL}x: {verdict})")
    return ratio


class _StallMeter:
    """The longest time the event loop went without running a 5 ms ticker."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _StallMeter:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Let the ticker run once more: a stall is only seen when the ticker wakes up.
        await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.005)
            last = now


async def _passwords(rounds: int) -> float:
    manager = PasswordManager()  # bcrypt cost 12, the production default
    context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=12)  # the naive peer
    password = "Correct-Horse-9x"  # noqa: S105 (a benchmark input)
    stored = manager.hash_password(password)
    await manager.verify_password_async(password, stored)  # start the executor threads

    async def naive() -> bool:
        # What a service does without an async variant: hash inside the coroutine.
        return bool(context.verify(password, stored))

    sequential = concurrent = naive_wall = float("inf")
    ours_stall = naive_stall = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(8):
            if not await manager.verify_password_async(password, stored):
                raise SystemExit("verification failed")
        sequential = min(sequential, time.perf_counter() - start)
        async with _StallMeter() as meter:
            start = time.perf_counter()
            results = await asyncio.gather(
                *(manager.verify_password_async(password, stored) for _ in range(8))
            )
            concurrent = min(concurrent, time.perf_counter() - start)
        ours_stall = max(ours_stall, meter.longest)
        async with _StallMeter() as meter:
            start = time.perf_counter()
            results += await asyncio.gather(*(naive() for _ in range(8)))
            naive_wall = min(naive_wall, time.perf_counter() - start)
        naive_stall = max(naive_stall, meter.longest)
        if not all(results):
            raise SystemExit("verification failed")
    ratio = concurrent / sequential
    print(f"8 password verifications, bcrypt cost 12 (best of {rounds})")
    print(f"  cnop.auth, awaited one by one           : {sequential:7.3f} s")
    print(
        f"  cnop.auth, concurrent (asyncio.gather)  : {concurrent:7.3f} s"
        f"   longest event-loop stall {ours_stall * 1000:7.1f} ms"
    )
    print(
        f"  passlib verify in coroutines, gathered  : {naive_wall:7.3f} s"
        f"   longest event-loop stall {naive_stall * 1000:7.1f} ms"
    )
    verdict = "met" if ratio <= PASSWORD_GOAL else "NOT met"
    print(
        f"  ratio cnop.auth concurrent/sequential   : {ratio:7.2f}x"
        f"  (goal <= {PASSWORD_GOAL}x: {verdict})"
    )
    return ratio


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    # Other work on the machine skews the concurrency figure most: say how busy it was.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, 1-minute load average {load:.2f} at start")
    bench_tokens(seconds=0.5 if quick else 2.0, rounds=2 if quick else 3)
    asyncio.run(_passwords(rounds=1 if quick else 5))
    return 0
