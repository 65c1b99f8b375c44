"""cnop-auth against the libraries it wraps, side by side in one run.

1. HS256 create+verify round trips per second: ``TokenManager`` against python-jose called
   directly with the same claims and checks. Goal: ours >= 0.8x jose.
2. Eight password verifications (bcrypt cost 12): awaited one after another against eight
   awaited together with ``asyncio.gather``. Goal: concurrent wall time <= 0.6x sequential,
   which shows the hashing runs off the event loop and uses both cores. Beside it, the
   naive peer (passlib's ``verify`` called inside the coroutine) and, for both, the longest
   stall of the event loop: the figure that does not depend on how busy the machine is.
3. HS256 access-token verifications per second with the revocation check in Redis
   (``RedisRevocationStore``) against the in-process default store: one after another
   (``verify_access_token``) and eight at a time (``verify_access_token_async`` under
   ``asyncio.gather``). The ratio is the price of a fleet-wide logout. A Redis is started
   for the run unless ``REDIS_URL`` is set.
4. RS256 and ES256 verifications per second by a ``TokenManager.from_jwks`` (the keys
   fetched from a JWKS endpoint served on 127.0.0.1) against one holding the same public
   key locally, once the keys are cached; beside it the latency of the first verification,
   which fetches the keys.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwt
from passlib.context import CryptContext

from cnop.auth import (
    JWKSClient,
    JWTKey,
    KeySet,
    PasswordManager,
    RedisRevocationStore,  # the README's spelling: mypy --strict must accept it
    TokenManager,
    TokenSettings,
)
from cnop.exceptions import CNOPTokenInvalidException
from cnop.logging import configure_logging, reset_logging

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


# --- 3. the revocation check in Redis ---------------------------------------------------

CONCURRENCY = 8


async def _async_rate(verify: Callable[[], Awaitable[object]], seconds: float) -> float:
    """Verifications per second, ``CONCURRENCY`` at a time under ``asyncio.gather``."""
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(10):
            await asyncio.gather(*(verify() for _ in range(CONCURRENCY)))
        calls += 10 * CONCURRENCY
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


@contextmanager
def _redis_url() -> Iterator[str]:
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    server = importlib.import_module("testservers").start("redis")
    try:
        yield str(server.url)
    finally:
        server.stop()


def _forget(url: str, prefix: str) -> None:
    """Delete this run's keys (and only them: the Redis may be shared)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def bench_revocation(url: str, seconds: float, rounds: int) -> None:
    secret = secrets.token_urlsafe(48)
    settings = TokenSettings(keys=KeySet(JWTKey.hmac(secret)))
    prefix = f"bench-auth-{secrets.token_hex(6)}"  # unique: the Redis may be shared
    store = RedisRevocationStore.from_url(url, prefix=prefix)
    local = TokenManager(settings)  # the default: revocations kept in this process
    shared = TokenManager(settings, revocation=store)
    token = local.create_token_pair("alice_01", role="customer").access_token
    # Both managers must really check: a token logged out on either is refused by it.
    for manager in (local, shared):
        stolen = manager.create_token_pair("mallory_1").access_token
        manager.logout(stolen)
        try:
            manager.verify_access_token(stolen)
        except CNOPTokenInvalidException:
            pass
        else:
            raise SystemExit("a logged-out token verified")

    async def measure() -> dict[str, list[float]]:
        figures: dict[str, list[float]] = {name: [] for name in ("ls", "rs", "la", "ra")}
        await shared.verify_access_token_async(token)  # open the async connections
        for _ in range(rounds):  # interleaved, best of each: fair on a shared machine
            figures["ls"].append(_rate(lambda: local.verify_access_token(token), seconds))
            figures["rs"].append(_rate(lambda: shared.verify_access_token(token), seconds))
            figures["la"].append(
                await _async_rate(lambda: local.verify_access_token_async(token), seconds)
            )
            figures["ra"].append(
                await _async_rate(lambda: shared.verify_access_token_async(token), seconds)
            )
        await store.aclose()
        return figures

    try:
        best = {name: max(values) for name, values in asyncio.run(measure()).items()}
    finally:
        store.close()
        _forget(url, prefix)
    print(f"HS256 access-token verifications/s, revocation check (best of {rounds} x {seconds}s)")
    print(f"  sequential, in-process store      : {best['ls']:10,.0f}/s")
    print(f"  sequential, RedisRevocationStore  : {best['rs']:10,.0f}/s")
    print(f"  ratio Redis/in-process            : {best['rs'] / best['ls']:10.2f}x")
    print(f"  {CONCURRENCY} concurrent, in-process store    : {best['la']:10,.0f}/s")
    print(f"  {CONCURRENCY} concurrent, RedisRevocationStore: {best['ra']:10,.0f}/s")
    print(f"  ratio Redis/in-process            : {best['ra'] / best['la']:10.2f}x")
    print(f"  Redis, concurrent/sequential      : {best['ra'] / best['rs']:10.2f}x")


# --- 4. keys from a JWKS endpoint ------------------------------------------------------


def _private_pem(algorithm: str) -> str:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@contextmanager
def _jwks_server(document: bytes) -> Iterator[str]:
    """Serve ``document`` at http://127.0.0.1:<free port>/.well-known/jwks.json."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the benchmark's output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def bench_jwks(algorithm: str, seconds: float, rounds: int) -> None:
    private_pem = _private_pem(algorithm)
    issuer = TokenManager(
        TokenSettings(keys=KeySet(JWTKey.from_pem(private_pem, algorithm=algorithm, kid="k1")))
    )
    token = issuer.create_access_token("alice_01", role="customer").access_token
    public = JWTKey.from_pem(_public_pem(private_pem), algorithm=algorithm, kid="k1")
    local = TokenManager(TokenSettings(keys=KeySet.verifying([public])))
    with _jwks_server(json.dumps(issuer.jwks()).encode()) as url:
        first: list[float] = []
        for _ in range(5):  # a fresh client each time: the first verification fetches
            fresh = TokenManager.from_jwks(JWKSClient(url))
            start = time.perf_counter()
            fresh.verify_access_token(token)
            first.append(time.perf_counter() - start)
        remote = TokenManager.from_jwks(JWKSClient(url, ttl=timedelta(hours=1)))
        remote.verify_access_token(token)  # the fetch, out of the timed loops
        local_best = remote_best = 0.0
        for _ in range(rounds):
            local_best = max(local_best, _rate(lambda: local.verify_access_token(token), seconds))
            remote_best = max(
                remote_best, _rate(lambda: remote.verify_access_token(token), seconds)
            )
    print(f"{algorithm} access-token verifications/s (best of {rounds} x {seconds}s)")
    print(f"  public key configured locally     : {local_best:10,.0f}/s")
    print(f"  TokenManager.from_jwks, cached    : {remote_best:10,.0f}/s")
    print(f"  ratio JWKS/local                  : {remote_best / local_best:10.2f}x")
    print(
        f"  first verification, with the fetch: {statistics.median(first) * 1000:10.2f} ms"
        f"  (median of {len(first)} fresh clients; min {min(first) * 1000:.2f} ms)"
    )


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    # Other work on the machine skews the concurrency figure most: say how busy it was.
    print(f"{os.cpu_count()} CPUs, 1-minute load average {_load():.2f} at start")
    seconds, rounds = (0.5, 2) if quick else (2.0, 3)
    bench_tokens(seconds=seconds, rounds=rounds)
    asyncio.run(_passwords(rounds=1 if quick else 5))
    with tempfile.TemporaryDirectory() as tmp, _redis_url() as url:
        # The correctness check logs out a token: its audit lines go to a file, not here.
        configure_logging(
            service="bench", level="INFO", sink=Path(tmp) / "log.jsonl", intercept_stdlib=False
        )
        try:
            bench_revocation(url, seconds=seconds / 2 if quick else 1.0, rounds=rounds)
        finally:
            reset_logging()
    for algorithm in ("RS256", "ES256"):
        bench_jwks(algorithm, seconds=seconds / 2 if quick else 1.0, rounds=rounds)
    print(f"1-minute load average {_load():.2f} at the end")
    return 0
