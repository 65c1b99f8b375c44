"""Verify tokens without the signing key: the auth service's public keys, fetched as a JWKS.

Uses only the standard library (``urllib``), so a verifying service needs no extra. The
async path runs the fetch in a worker thread, so it never holds up the event loop.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from cnop.auth import security_events
from cnop.auth.arguments import require_callable
from cnop.auth.keys import JWTKey, KeySet
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPException,
    CNOPServiceUnavailableException,
    CNOPValidationException,
)

DEFAULT_TTL = timedelta(minutes=5)
DEFAULT_MIN_REFETCH = timedelta(seconds=30)
DEFAULT_TIMEOUT = timedelta(seconds=5)
#: A JWKS bigger than this is refused unread (ours is a few KiB).
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_KEYS = 64

Fetcher = Callable[[str, float], bytes]


class JWKSClient:
    """The keys published at ``url`` (the auth service's ``/.well-known/jwks.json``).

    >>> jwks = JWKSClient("https://auth.internal/.well-known/jwks.json")
    >>> tokens = TokenManager.from_jwks(jwks)       # verifies; cannot issue

    The key set is cached for ``ttl``. A token naming a ``kid`` the cache lacks triggers a
    re-fetch, at most once per ``min_refetch_interval`` (a flood of made-up ``kid`` values
    cannot turn into a flood of requests). When a fetch fails (server down, bad reply,
    private key material published) the last good keys stay in use and the failure is
    logged; only with no good keys ever fetched does verification fail, with
    ``CNOPServiceUnavailableException``.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: timedelta = DEFAULT_TTL,
        min_refetch_interval: timedelta = DEFAULT_MIN_REFETCH,
        timeout: timedelta = DEFAULT_TIMEOUT,
        fetch: Fetcher | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = _check_url(url)
        for name, value in (
            ("ttl", ttl),
            ("min_refetch_interval", min_refetch_interval),
            ("timeout", timeout),
        ):
            if not isinstance(value, timedelta) or not (
                timedelta(seconds=0.1) <= value <= timedelta(days=1)
            ):
                raise CNOPConfigurationException(
                    f"JWKSClient.{name} must be a timedelta between 0.1 seconds and 1 day"
                )
        self._ttl = ttl.total_seconds()
        self._min_refetch = min_refetch_interval.total_seconds()
        self._timeout = timeout.total_seconds()
        if fetch is not None:
            require_callable(fetch, "fetch", "(url, timeout) -> bytes")
        self._fetch: Fetcher = fetch if fetch is not None else _http_get
        self._clock = require_callable(clock, "clock", "() -> monotonic seconds")
        self._lock = threading.Lock()  # the cached state; never held across a fetch
        self._fetching = threading.Lock()  # one fetch at a time
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")  # last successful fetch
        self._tried_at = float("-inf")  # last attempt, successful or not

    @property
    def url(self) -> str:
        return self._url

    def keys(self, kid: str | None = None) -> KeySet:
        """The current keys; fetched first when stale, or when ``kid`` is new to them.

        One thread fetches at a time; while it does, the others go on with the cached keys
        (or, before the first good fetch, wait for it). A ``kid`` that is neither text nor
        ``None`` raises ``CNOPValidationException``.
        """
        _require_kid(kid)
        with self._lock:
            due = self._needs_fetch(kid)
            cached = self._keys
        if due:
            if cached is None:
                with self._fetching:
                    self._refresh_if_due(kid)
            elif self._fetching.acquire(blocking=False):
                try:
                    self._refresh_if_due(kid)
                finally:
                    self._fetching.release()
        with self._lock:
            if self._keys is None:
                raise CNOPServiceUnavailableException(
                    f"No signing keys could be fetched from {self._url} yet",
                    details={"jwks_url": self._url},
                )
            return self._keys

    async def keys_async(self, kid: str | None = None) -> KeySet:
        """:meth:`keys` without blocking the event loop (a fetch runs in a worker thread)."""
        _require_kid(kid)
        # Never wait for the lock on the event loop: if it is busy, the worker thread waits.
        if self._lock.acquire(blocking=False):
            try:
                cached = None if self._needs_fetch(kid) else self._keys
            finally:
                self._lock.release()
            if cached is not None:
                return cached
        import asyncio  # noqa: PLC0415 - loaded already: this runs on an event loop

        return await asyncio.to_thread(self.keys, kid)

    # -- internals ---------------------------------------------------------------------

    def _needs_fetch(self, kid: str | None) -> bool:
        now = self._clock()
        if now - self._tried_at < self._min_refetch:
            return False  # rate limit: whatever the reason, not again so soon
        if self._keys is None or now - self._fetched_at >= self._ttl:
            return True
        return kid is not None and self._keys.for_kid(kid) is None

    def _refresh_if_due(self, kid: str | None) -> None:
        """Fetch (holding ``_fetching``, not ``_lock``: the HTTP call blocks no reader)."""
        with self._lock:
            if not self._needs_fetch(kid):
                return  # another thread fetched while this one waited
            now = self._clock()
            self._tried_at = now
        try:
            keys = parse_jwks(self._fetch(self._url, self._timeout))
        except Exception as exc:  # a custom fetch may raise anything; none of it escapes
            security_events.jwks_fetch_failed(
                self._url,
                exc.message if isinstance(exc, CNOPException) else type(exc).__name__,
                have_keys=self._keys is not None,
            )
            return
        with self._lock:
            self._keys = keys
            self._fetched_at = now


def parse_jwks(document: bytes) -> KeySet:
    """The verify-only keys of a JWKS document; any doubtful key refuses the whole set.

    Raises ``CNOPConfigurationException`` for private key material, a key without
    ``kid``/``alg``, a weak or mismatched key, duplicate ``kid`` values, or a malformed
    document.
    """
    if len(document) > MAX_DOCUMENT_BYTES:
        raise CNOPConfigurationException(f"The JWKS is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = json.loads(document)
    except (ValueError, RecursionError):
        raise CNOPConfigurationException("The JWKS is not JSON") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_KEYS:
        raise CNOPConfigurationException(f'The JWKS must be {{"keys": [1-{MAX_KEYS} keys]}}')
    return KeySet.verifying(JWTKey.from_jwk(entry) for entry in entries)


def _require_kid(kid: object) -> None:
    if kid is not None and not isinstance(kid, str):
        raise CNOPValidationException.for_field("kid", "must be a string or None")


def _check_url(url: Any) -> str:
    if not isinstance(url, str):
        raise CNOPConfigurationException("The JWKS URL must be a string")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CNOPConfigurationException("The JWKS URL must be an http(s) URL with a host")
    return url.strip()


def _http_get(url: str, timeout: float) -> bytes:
    # urllib.request (http.client, email, ssl) loads with the first fetch, not at import.
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        # The scheme is checked (http/https only) when the client is built.
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
            if reply.status != 200:
                raise CNOPServiceUnavailableException(f"JWKS endpoint answered {reply.status}")
            body: bytes = reply.read(MAX_DOCUMENT_BYTES + 1)
            return body
    except urllib.error.HTTPError as exc:
        raise CNOPServiceUnavailableException(f"JWKS endpoint answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CNOPServiceUnavailableException(
            f"JWKS endpoint unreachable ({type(exc).__name__})"
        ) from None
