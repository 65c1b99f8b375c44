"""The Redis protocol of a lock, without I/O: keys, Lua scripts, replies, errors, URLs.

Keys of one lock share a hash tag (``cnop:lock:{n:<name>}:...``) so they live in one slot
of a Redis Cluster and one script can touch them all. Per lock name:

- ``owner``  the holder's random token, with the lease as its expiry (``SET NX PX``);
- ``fence``  the last fencing token handed out;
- ``waiting`` set by every refused acquire, for a few seconds: someone may be waiting;
- ``signal`` a one-element list a release pushes when someone may be waiting, which
  waiters ``BLPOP``;
- ``released:<token>`` one per release, briefly: ``1`` that token released the lock, ``0``
  its release found nothing to free (its lease was lost, or its acquire never arrived).

Uncontended, a release leaves the signal alone (creating and expiring a list on every
release was most of its cost): a waiter always makes a refused acquire, which sets
``waiting``, before it blocks, and ``waiting`` outlives its longest single block.

Every script is safe to run twice with the same token, because redis-py re-sends a command
whose connection broke before the reply came back: a repeated acquire returns the grant it
already made, a repeated release still reports success.

Each release is remembered by its own token (``released:<token>``, kept
``RELEASED_RETENTION_MS``), not by one record per lock that the next release overwrites:
a release re-sent after other holders came and went still reports success. And a token
that was released is never granted again: an acquire held back in the network (after
the client timed out, re-sent it, held the lock and released it) is refused when it
arrives at last, instead of taking the lock for a lease nobody holds. A release that
found nothing to free marks its token too (``0``, still reported as not owned, also when
re-sent): the clean-up of a failed acquire then stops its request if it arrives later.
Both hold for duplicates that arrive within the retention; one delayed longer can still
take the lock for one lease, as a crashed holder would (fencing tokens tell).

Fencing tokens. Every grant reads the server clock (``TIME``, in microseconds) and hands
out ``max(clock, last token + 1)``, storing it as the new last token (one ``SET ... GET``).
The stored value only guards against a clock that steps back; the clock is what keeps
tokens rising when the stored value is old or gone: Redis restarted without its data or
from an older RDB snapshot, a replica promoted before it had every write, or a fence
record that expired (a week after the lock's last grant). Two grants of one lock have at
least a release script between them, which takes microseconds, so on a clock that only
moves forward the token is the clock at the grant (at worst a few microseconds ahead).

The clock assumption: a token is above every earlier one as long as the clock of the
server that grants it reads later than the clock of whichever server granted the earlier
ones read at that grant. A single server whose clock never steps back meets it; so does
a restart or failover, if the clocks of the servers involved (a primary and its replicas)
never differ, or step back, by more than the restart or failover takes (seconds; NTP
keeps them within milliseconds). A clock set back by more than that can repeat tokens
until it has caught up again.

Needs Redis 6.2 or later (``SET ... GET``; a fractional ``BLPOP`` timeout needs 6).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis import exceptions as redis_errors

from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPDatabaseOperationException,
    CNOPException,
    CNOPServiceUnavailableException,
)
from cnop.locking.acquisition import MAX_SINGLE_WAIT
from cnop.locking.backend import Attempt, token_released_error

KEY_PREFIX = "cnop:lock:"
#: How long a lock's last fencing token is kept after its last grant; a lock unused for
#: longer starts again from the server clock, which is above every token it handed out.
FENCE_RETENTION_MS = 7 * 24 * 3600 * 1000
#: How long an unclaimed release signal stays around.
SIGNAL_RETENTION_MS = 5_000

#: How long a release is remembered, per token: a re-sent release within it reports success
#: and a late duplicate acquire within it is refused. Costs one small key per release for
#: this long (about 120 bytes each with a short lock name).
RELEASED_RETENTION_MS = 30_000
#: How long a refused acquire marks the lock as waited for; must exceed the longest single
#: block of a waiter (``acquisition.MAX_SINGLE_WAIT``, 1 s) with room to spare.
WAITING_RETENTION_MS = 5_000

# The fence is built and compared as text: digit strings without leading zeros order by
# length, then digit by digit; formatting a Lua number would cost more than the rest.
# The retention times are part of the script text, not arguments: every argument costs the
# client an encoding and the server a Lua string per call. The reply is one value: the
# fence as text when granted, else an integer (see ``parse_acquire``).
ACQUIRE = f"""
if redis.call('EXISTS', KEYS[4]) == 1 then
  return 0
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local now = redis.call('TIME')
  local fence = now[1] .. string.sub('00000' .. now[2], -6)
  local last = redis.call('SET', KEYS[2], fence, 'PX', {FENCE_RETENTION_MS}, 'GET')
  if last and (#last > #fence or (#last == #fence and last >= fence)) then
    fence = string.format('%.0f', tonumber(last) + 1)
    redis.call('SET', KEYS[2], fence, 'PX', {FENCE_RETENTION_MS})
  end
  return fence
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('GET', KEYS[2]) or '0'
end
redis.call('SET', KEYS[3], '1', 'PX', {WAITING_RETENTION_MS})
return -3 - redis.call('PTTL', KEYS[1])
"""

RELEASE = f"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[3], '1', 'PX', {RELEASED_RETENTION_MS})
  if redis.call('EXISTS', KEYS[4]) == 1 then
    redis.call('DEL', KEYS[2])
    redis.call('RPUSH', KEYS[2], '1')
    redis.call('PEXPIRE', KEYS[2], {SIGNAL_RETENTION_MS})
  end
  return 1
end
local released = redis.call('GET', KEYS[3])
if released == '1' then
  return 1
end
if not released then
  redis.call('SET', KEYS[3], '0', 'PX', {RELEASED_RETENTION_MS})
end
return 0
"""

EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

FORCE_RELEASE = f"""
if redis.call('DEL', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[2])
  redis.call('RPUSH', KEYS[2], '1')
  redis.call('PEXPIRE', KEYS[2], {SIGNAL_RETENTION_MS})
  return 1
end
return 0
"""


@dataclass(frozen=True)
class LockKeys:
    owner: str
    fence: str
    signal: str
    waiting: str
    #: ``released_prefix + token`` remembers that ``token`` released the lock.
    released_prefix: str

    def released(self, token: str) -> str:
        return self.released_prefix + token


@functools.lru_cache(maxsize=4096)
def keys_for(name: str) -> LockKeys:
    """The keys of lock ``name``, all in one cluster slot.

    The hash tag starts with ``n:`` so it is never empty (a name starting with ``}``
    would otherwise give ``{}``, which Redis ignores); whatever braces the name holds,
    the three keys agree up to the first ``}``, hence on the tag.
    """
    base = f"{KEY_PREFIX}{{n:{name}}}"
    return LockKeys(
        owner=f"{base}:owner",
        fence=f"{base}:fence",
        signal=f"{base}:signal",
        waiting=f"{base}:waiting",
        released_prefix=f"{base}:released:",
    )


def millis(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def acquire_args(keys: LockKeys, token: str, ttl: float) -> tuple[list[str], list[str | int]]:
    return [keys.owner, keys.fence, keys.waiting, keys.released(token)], [token, millis(ttl)]


def release_args(keys: LockKeys, token: str) -> tuple[list[str], list[str | int]]:
    return [keys.owner, keys.signal, keys.released(token), keys.waiting], [token]


def extend_args(keys: LockKeys, token: str, ttl: float) -> tuple[list[str], list[str | int]]:
    return [keys.owner], [token, millis(ttl)]


def force_release_args(keys: LockKeys) -> tuple[list[str], list[str | int]]:
    return [keys.owner, keys.signal], []


def parse_acquire(reply: Any) -> Attempt:
    """Map the ACQUIRE script's reply: the fence (text) when granted; ``0`` when the token
    was already released; ``-3 - pttl`` when refused (so ``-1``: freed between SET NX and
    PTTL, ``-2``: a key without expiry)."""
    if isinstance(reply, bytes | str):
        return Attempt(True, fencing_token=int(reply))
    code = int(reply)
    if code == 0:
        raise token_released_error()
    if code == -1:  # freed between SET NX and PTTL: try again at once
        return Attempt(False, retry_after=0.0)
    if code == -2:  # a key without expiry (not set by us): no idea when it goes
        return Attempt(False, retry_after=math.inf)
    return Attempt(False, retry_after=(-3 - code) / 1000)


def blocking_timeout(timeout: float) -> float:
    """A BLPOP timeout: Redis reads 0 as forever, so never send less than a millisecond;
    and never more than ``MAX_SINGLE_WAIT``, which the client's read timeout outlasts (a
    longer block would be cut off by it and reported as an unreachable store). A wait cut
    short ends as not woken, as a poll does; the caller tries again."""
    return max(0.001, round(min(timeout, MAX_SINGLE_WAIT), 3))


@dataclass(frozen=True)
class RedisTarget:
    """Where a lock store lives, parsed from a URL; ``display`` never holds the password."""

    url: str
    cluster: bool
    display: str


_SCHEMES = {
    "redis": ("redis", False),
    "rediss": ("rediss", False),
    "redis+cluster": ("redis", True),
    "rediss+cluster": ("rediss", True),
}


_DATABASE = re.compile(r"(/[0-9]{0,5})?")


def parse_url(url: str) -> RedisTarget:
    """Parse ``redis://``, ``rediss://`` (TLS), ``redis+cluster://``, ``rediss+cluster://``."""
    if not isinstance(url, str) or not url:
        raise CNOPConfigurationException("Redis URL must be a non-empty string")
    # A URL is printable ASCII (RFC 3986: anything else is percent-encoded). urlsplit would
    # silently drop a newline or tab, and a lone surrogate would fail only at connect time.
    # The position, never the URL: it may hold a password.
    odd = next((i for i, c in enumerate(url) if not " " < c < "\x7f"), None)
    if odd is not None:
        raise CNOPConfigurationException(
            f"Redis URL must be printable ASCII without spaces (percent-encode other "
            f"characters); character {odd + 1} of {len(url)} is not"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise CNOPConfigurationException(f"Redis URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise CNOPConfigurationException(
            f"Redis URL scheme must be one of {', '.join(sorted(_SCHEMES))}, got {scheme!r}"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise CNOPConfigurationException(f"Redis URL has an invalid port: {exc}") from None
    if not parts.hostname:
        raise CNOPConfigurationException("Redis URL must name a host, e.g. redis://host:6379/0")
    client_scheme, cluster = _SCHEMES[scheme]
    if not cluster and not _DATABASE.fullmatch(parts.path):
        raise CNOPConfigurationException(
            "Redis URL path must be a database number, e.g. redis://host:6379/0"
        )
    display = f"{scheme}://{parts.hostname}:{port or 6379}"
    return RedisTarget(urlunsplit((client_scheme, *parts[1:])), cluster, display)


#: What redis-py raises: RedisClusterException is not a RedisError.
REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis_errors.RedisError,
    redis_errors.RedisClusterException,
)


def map_error(exc: Exception, target: str) -> CNOPException:
    """Turn a redis-py error into a CNOP one (without the URL's credentials)."""
    unreachable = (
        redis_errors.ConnectionError,
        redis_errors.TimeoutError,
        redis_errors.ClusterError,
        redis_errors.RedisClusterException,
    )
    if isinstance(exc, unreachable):
        return CNOPServiceUnavailableException(
            f"Lock store {target} is unreachable ({type(exc).__name__}: {exc})",
            details={"backend": "redis", "target": target},
        )
    return CNOPDatabaseOperationException(
        f"Lock store {target} refused a command ({type(exc).__name__}: {exc})",
        details={"backend": "redis", "target": target},
    )
