"""A fault-injecting TCP proxy for tests: lost replies, late replies, resets, canned errors.

It sits between a client and a real server on loopback (DynamoDB Local over HTTP/1.1, or
redis-server over RESP), listens on ``127.0.0.1`` on a free port, and treats each request
according to a schedule the test sets:

    from faultproxy import DROP_REPLY, FORWARD, FaultProxy, delay, throttle

    with FaultProxy(dynamodb_endpoint, protocol="http") as proxy:
        client = boto3.client("dynamodb", endpoint_url=proxy.url, ...)
        proxy.plan("TransactWriteItems", [DROP_REPLY, FORWARD])
        ...  # the first TransactWriteItems is applied, its reply never arrives
        [first] = proxy.records("TransactWriteItems")[:1]
        assert first.applied and not first.delivered

Faults (what happens to one request):

- ``FORWARD`` (the default): sent to the server, the reply sent back.
- ``DROP_REPLY``: sent to the server; the proxy waits for the server's whole reply, then
  resets the client connection (``SO_LINGER`` 0) without sending it. The server APPLIED the
  request; the client sees a reset connection and cannot know.
- ``delay(seconds)``: sent to the server, the reply held back for ``seconds`` (long enough to
  trip a client read timeout when the test wants). ``delay(seconds, before=True)`` holds the
  request back instead, so the server applies it late, possibly after the client gave up.
  ``delay(30, before=True, until=event)`` holds it until the test sets ``event``, to order
  the held request after something else deterministically.
- ``RESET``: the client connection is reset without forwarding: the server never sees it.
- ``respond(status, body, headers)`` (HTTP only): answered by the proxy without forwarding;
  ``throttle()`` and ``internal_error()`` are DynamoDB's throttling (400) and
  InternalServerError (500) replies. With ``applied=True`` the request is forwarded first
  and the canned reply replaces the server's (a 500 for a write that was committed).
- ``redis_error(message)`` (Redis only): answered with the RESP error ``-message``.

Matching: a rule's ``match`` is ``None`` (every request), a name or a collection of names,
or a callable taking a ``Request``. For HTTP the name is the ``X-Amz-Target`` operation: both
``"TransactWriteItems"`` and ``"DynamoDB_20120810.TransactWriteItems"`` match it; a request
without that header is named ``"<METHOD> <path>"``. For Redis the name is the command
(``EVALSHA``, ``SET``, ...; case-insensitive).

Schedules: ``plan(match, faults)`` consumes one fault per matching request, in order, and is
spent afterwards; ``every(match, fault, probability, seed)`` applies ``fault`` to each matching
request with the given probability from its own seeded generator (reproducible for the same
sequence of requests). Plans are consulted first (oldest first), then ``every`` rules; a
request no rule takes is forwarded. ``clear()`` removes every rule. ``records()`` lists what
was done to each request, in arrival order: its name, the fault, whether the server received
it (``forwarded``), whether the server's whole reply arrived (``applied``), and whether the
client got a reply (``delivered``).

Framing:

- HTTP/1.1: one request is its head plus a body framed by ``Content-Length`` or chunked
  transfer coding; keep-alive connections carry many requests. Replies are framed the same
  way (or end when the server closes). Each client connection has its own server
  connection, opened at its first forwarded request.
- Redis: one request is one RESP command (an array of bulk strings, or an inline command).
  Pipelines are handled command by command: each command is forwarded and its reply awaited
  before the next one is read, so a fault hits exactly the command it matched. After a fault
  that closes the connection, commands the client had already pipelined behind it are never
  forwarded (nor recorded). Once a connection subscribes (``SUBSCRIBE``, ``PSUBSCRIBE``,
  ``SSUBSCRIBE``) or turns on ``MONITOR``, it becomes a plain two-way tunnel without faults,
  since its replies no longer pair with commands.

Limits: a Redis Cluster client learns the nodes' own addresses from the cluster and then
bypasses a proxy placed in front of one node; HTTP ``Expect: 100-continue`` is not
answered by the proxy (it reads a whole request before forwarding it; botocore and
aiobotocore do not send it to DynamoDB).

The proxy runs an accepting thread and one thread per client connection; ``stop()`` (or
leaving the ``with`` block) closes every socket and joins the threads. Standard library only.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DROP_REPLY",
    "FORWARD",
    "RESET",
    "Fault",
    "FaultProxy",
    "Match",
    "Plan",
    "Record",
    "Request",
    "delay",
    "internal_error",
    "redis_error",
    "respond",
    "throttle",
]

Protocol = Literal["http", "redis"]
FaultKind = Literal["forward", "drop_reply", "delay", "reset", "respond"]

#: Longest request or reply head the proxy accepts (bytes); larger is a broken peer.
MAX_HEAD = 64 * 1024
_RECV = 65536


@dataclass(frozen=True)
class Fault:
    """What the proxy does to one request (build them with the constants and functions below)."""

    kind: FaultKind
    seconds: float = 0.0
    #: ``delay``: hold the request back (True) rather than the reply.
    before: bool = False
    #: ``respond``: the proxy's own reply.
    reply: bytes = b""
    #: ``respond``: forward first and answer only once the server applied the request.
    applied: bool = False
    #: ``delay``: end the hold early once this event is set.
    until: threading.Event | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.kind == "delay":
            where = "request" if self.before else "reply"
            gate = " or until set" if self.until is not None else ""
            return f"delay({self.seconds:g}s{gate}, {where})"
        if self.kind == "respond":
            first_line = self.reply.split(b"\r\n", 1)[0].decode("latin-1")
            return f"respond({first_line}{', applied' if self.applied else ''})"
        return self.kind


FORWARD = Fault("forward")
DROP_REPLY = Fault("drop_reply")
RESET = Fault("reset")


def delay(seconds: float, *, before: bool = False, until: threading.Event | None = None) -> Fault:
    """Forward, but hold the reply back ``seconds`` (or the request, with ``before=True``).

    With ``until``, the hold also ends as soon as that event is set, so a test can let a
    held request through at the moment it chooses (``seconds`` then bounds the hold).
    """
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not seconds >= 0:
        raise ValueError(f"delay seconds must be a number >= 0, got {seconds!r}")
    return Fault("delay", seconds=float(seconds), before=before, until=until)


def respond(
    status: int,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    *,
    reason: str = "",
    applied: bool = False,
) -> Fault:
    """Answer an HTTP request with ``status`` and ``body`` without forwarding it.

    ``applied=True`` forwards the request first and sends this reply instead of the
    server's: the server did the work, the client is told it failed.
    """
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"HTTP status must be an int in 100..599, got {status!r}")
    payload = body.encode() if isinstance(body, str) else bytes(body)
    all_headers = {"Content-Type": "application/x-amz-json-1.0"}
    all_headers.update(headers or {})
    all_headers["Content-Length"] = str(len(payload))
    head = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Error')}"]
    head += [f"{name}: {value}" for name, value in all_headers.items()]
    reply = "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + payload
    return Fault("respond", reply=reply, applied=applied)


def _dynamodb_error(status: int, error_type: str, message: str, applied: bool) -> Fault:
    body = '{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"%s"}' % (  # noqa: UP031
        error_type,
        message.replace("\\", "\\\\").replace('"', '\\"'),
    )
    return respond(
        status,
        body,
        {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": "faultproxy"},
        applied=applied,
    )


def throttle(
    message: str = "Rate of requests exceeds the allowed throughput.", *, applied: bool = False
) -> Fault:
    """DynamoDB's ``ThrottlingException`` (400), without forwarding (see ``respond``)."""
    return _dynamodb_error(400, "ThrottlingException", message, applied)


def internal_error(message: str = "Internal server error", *, applied: bool = False) -> Fault:
    """DynamoDB's ``InternalServerError`` (500), without forwarding; ``applied=True``: after
    the server applied the request (DynamoDB can answer 500 for a write it committed)."""
    return _dynamodb_error(500, "InternalServerError", message, applied)


def redis_error(
    message: str = "ERR injected by the fault proxy", *, applied: bool = False
) -> Fault:
    """Answer a Redis command with the RESP error ``-message`` (``applied``: see ``respond``)."""
    if "\r" in message or "\n" in message:
        raise ValueError("a RESP error message cannot contain CR or LF")
    return Fault("respond", reply=b"-" + message.encode() + b"\r\n", applied=applied)


_REASONS = {200: "OK", 400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Request:
    """One request as the proxy read it (``raw`` is exactly what the client sent)."""

    protocol: Protocol
    name: str
    raw: bytes
    connection: int
    #: HTTP: the head's headers, names lower-cased. Redis: empty.
    headers: dict[str, str] = field(default_factory=dict)
    #: Redis: the command and its arguments. HTTP: empty.
    args: tuple[bytes, ...] = ()

    @property
    def operation(self) -> str:
        """HTTP: the part of ``X-Amz-Target`` after the dot; Redis: the command."""
        return self.name.rsplit(".", 1)[-1]


@dataclass
class Record:
    """What the proxy did to one request."""

    index: int
    connection: int
    name: str
    fault: Fault
    #: The request was sent to the server.
    forwarded: bool = False
    #: The server's whole reply arrived at the proxy (so the server processed the request).
    applied: bool = False
    #: The client was sent a reply (the server's, or the proxy's own for ``respond``).
    delivered: bool = False
    #: HTTP status of the reply the server gave (0 if none).
    status: int = 0
    #: The server's reply, as it arrived (empty if none).
    reply: bytes = field(default=b"", repr=False)
    #: The request itself.
    request: Request | None = field(default=None, repr=False)

    @property
    def operation(self) -> str:
        return self.name.rsplit(".", 1)[-1]


Match = str | Iterable[str] | Callable[[Request], bool] | None


def _matcher(match: Match) -> Callable[[Request], bool]:
    if match is None:
        return lambda request: True
    if callable(match):
        return match
    names = {match} if isinstance(match, str) else set(match)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"match must name at least one request, got {match!r}")
    folded = {name.upper() for name in names}

    def by_name(request: Request) -> bool:
        if request.protocol == "redis":
            return request.name.upper() in folded
        return request.name in names or request.operation in names

    return by_name


class Plan:
    """A sequence of faults, one consumed per matching request (see ``FaultProxy.plan``)."""

    def __init__(self, matches: Callable[[Request], bool], faults: Sequence[Fault]) -> None:
        self._matches = matches
        self._faults = list(faults)
        self._used = 0

    @property
    def used(self) -> int:
        """How many faults have been applied so far."""
        return self._used

    @property
    def remaining(self) -> int:
        return len(self._faults) - self._used

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def _take(self, request: Request) -> Fault | None:
        if self.done or not self._matches(request):
            return None
        fault = self._faults[self._used]
        self._used += 1
        return fault


@dataclass
class _Every:
    matches: Callable[[Request], bool]
    fault: Fault
    probability: float
    rng: random.Random

    def take(self, request: Request) -> Fault | None:
        if not self.matches(request):
            return None
        # Draw for every matching request, so the sequence depends only on the requests.
        return self.fault if self.rng.random() < self.probability else None


class _Pair:
    """One client connection and its server connection (opened at the first forward)."""

    def __init__(self, client: socket.socket, number: int) -> None:
        self.client = _Stream(client)
        self.number = number
        self.server: _Stream | None = None


class _Closed(Exception):
    """The peer closed its connection (or the proxy is stopping)."""


class _Stream:
    """A socket with a read buffer, for framing requests and replies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def fill(self) -> None:
        try:
            chunk = self.sock.recv(_RECV)
        except OSError as exc:
            raise _Closed from exc
        if not chunk:
            raise _Closed
        self.buffer += chunk

    def take(self, size: int) -> bytes:
        if size < 0:
            raise ValueError(f"negative length {size}")
        while len(self.buffer) < size:
            self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def line(self) -> bytes:
        """Up to and including the next CRLF."""
        start = 0
        while True:
            end = self.buffer.find(b"\r\n", start)
            if end >= 0:
                return self.take(end + 2)
            if len(self.buffer) > MAX_HEAD:
                raise _Closed
            start = max(0, len(self.buffer) - 1)
            self.fill()

    def rest(self) -> bytes:
        """Everything until the peer closes."""
        with contextlib.suppress(_Closed):
            while True:
                self.fill()
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


# --- HTTP/1.1 framing -----------------------------------------------------------------


def _read_http_head(stream: _Stream) -> tuple[bytes, str, dict[str, str]]:
    lines = [stream.line()]
    while lines[-1] != b"\r\n":
        if sum(map(len, lines)) > MAX_HEAD:
            raise _Closed
        lines.append(stream.line())
    head = b"".join(lines)
    start = lines[0].decode("latin-1").strip()
    headers: dict[str, str] = {}
    for raw in lines[1:-1]:
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return head, start, headers


def _read_http_body(stream: _Stream, headers: dict[str, str], *, until_close: bool) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size_line = stream.line()
            parts.append(size_line)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    trailer = stream.line()
                    parts.append(trailer)
                    if trailer == b"\r\n":
                        return b"".join(parts)
            parts.append(stream.take(size + 2))
    if "content-length" in headers:
        return stream.take(int(headers["content-length"]))
    return stream.rest() if until_close else b""


def _read_http_request(stream: _Stream, connection: int) -> Request:
    head, start, headers = _read_http_head(stream)
    body = _read_http_body(stream, headers, until_close=False)
    target = headers.get("x-amz-target")
    if target:
        name = target
    else:
        method, _, rest = start.partition(" ")
        name = f"{method} {rest.rsplit(' ', 1)[0]}"
    return Request("http", name, head + body, connection, headers=headers)


def _read_http_reply(stream: _Stream, request: Request) -> tuple[bytes, int, bool]:
    """The whole reply, its status, and whether the server will close the connection."""
    while True:
        head, start, headers = _read_http_head(stream)
        parts = start.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status != 100:  # 100 Continue precedes the real reply
            break
    closes = headers.get("connection", "").lower() == "close"
    no_body = status in (204, 304) or request.name.startswith("HEAD ")
    body = b"" if no_body else _read_http_body(stream, headers, until_close=True)
    if not no_body and "content-length" not in headers and "transfer-encoding" not in headers:
        closes = True
    return head + body, status, closes


# --- RESP framing ---------------------------------------------------------------------

_SUBSCRIBING = {b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE", b"MONITOR"}


def _read_resp_value(stream: _Stream) -> bytes:
    """One RESP2/RESP3 value, raw."""
    line = stream.line()
    kind, body = line[:1], line[1:-2]
    if kind in (b"$", b"=", b"!"):  # bulk string, verbatim string, bulk error
        size = int(body)
        return line if size < 0 else line + stream.take(size + 2)
    if kind in (b"*", b"~", b">", b"%", b"|"):  # array, set, push, map, attribute
        count = int(body)
        items = count * 2 if kind in (b"%", b"|") else count
        parts = [line] + [_read_resp_value(stream) for _ in range(max(items, 0))]
        if kind == b"|":  # an attribute precedes the value it annotates
            parts.append(_read_resp_value(stream))
        return b"".join(parts)
    return line  # simple string, error, integer, null, double, boolean, big number


def _read_redis_command(stream: _Stream, connection: int) -> Request:
    while not stream.buffer:
        stream.fill()
    if stream.buffer[:1] == b"*":
        raw = [stream.line()]
        count = int(raw[0][1:-2])
        args: list[bytes] = []
        for _ in range(count):
            size_line = stream.line()
            size = int(size_line[1:-2])
            arg = stream.take(size + 2)
            raw += [size_line, arg]
            args.append(arg[:-2])
        data = b"".join(raw)
    else:  # an inline command (redis-cli, telnet)
        data = stream.line()
        args = data.split()
    name = args[0].decode("latin-1").upper() if args else ""
    return Request("redis", name, data, connection, args=tuple(args))


# --- the proxy ------------------------------------------------------------------------


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER on, timeout 0): the peer sees a reset connection."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _close(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def _parse_target(target: str, protocol: Protocol) -> tuple[str, int, str]:
    """``host``, ``port`` and a URL template for the proxy's own address."""
    if "://" not in target:
        target = ("http://" if protocol == "http" else "redis://") + target
    parts = urlsplit(target)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"the proxy target needs a host and a port, got {target!r}")
    return parts.hostname, parts.port, target


class FaultProxy:
    """A threaded TCP proxy in front of ``target`` that injects faults per request.

    ``target`` is the server's URL (``http://127.0.0.1:8000``, ``redis://127.0.0.1:6379/0``)
    or ``host:port``; ``protocol`` is ``"http"`` or ``"redis"``. ``url`` is the proxy's own
    address in the same form (a Redis URL keeps the target's credentials and database).
    """

    def __init__(self, target: str, protocol: Protocol, *, port: int = 0) -> None:
        if protocol not in ("http", "redis"):
            raise ValueError(f"protocol must be 'http' or 'redis', got {protocol!r}")
        self.protocol: Protocol = protocol
        self._target_host, self._target_port, self._target_url = _parse_target(target, protocol)
        self._requested_port = port
        self._lock = threading.Lock()
        self._plans: list[Plan] = []
        self._every: list[_Every] = []
        self._records: list[Record] = []
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._connections = 0
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> FaultProxy:
        if self._listener is not None:
            raise RuntimeError("the proxy is already running")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._requested_port))
        listener.listen(64)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop, "faultproxy-accept")
        return self

    def stop(self) -> None:
        """Close the listener and every connection, and join the threads."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        _close(listener)
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The proxy's address, for a client (same scheme, credentials and path as target)."""
        parts = urlsplit(self._target_url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    # --- schedule ---------------------------------------------------------------------

    def plan(self, match: Match, faults: Sequence[Fault]) -> Plan:
        """Apply ``faults`` in order, one per request that ``match`` takes; then stop."""
        checked = [self._check_fault(fault) for fault in faults]
        plan = Plan(_matcher(match), checked)
        with self._lock:
            self._plans.append(plan)
        return plan

    def every(self, match: Match, fault: Fault, probability: float, seed: int) -> None:
        """Apply ``fault`` to each request ``match`` takes with ``probability`` (seeded)."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability!r}")
        rule = _Every(_matcher(match), self._check_fault(fault), probability, random.Random(seed))
        with self._lock:
            self._every.append(rule)

    def clear(self) -> None:
        """Remove every plan and ``every`` rule (the records stay)."""
        with self._lock:
            self._plans.clear()
            self._every.clear()

    def records(self, match: Match = None) -> list[Record]:
        """What was done to each request ``match`` takes, in arrival order."""
        matches = _matcher(match)
        with self._lock:
            records = list(self._records)
        return [record for record in records if record.request and matches(record.request)]

    def counts(self) -> dict[str, int]:
        """How many requests received each fault so far (``{"forward": 3, ...}``)."""
        counted: dict[str, int] = {}
        with self._lock:
            for record in self._records:
                counted[record.fault.kind] = counted.get(record.fault.kind, 0) + 1
        return counted

    def _check_fault(self, fault: Fault) -> Fault:
        if not isinstance(fault, Fault):
            raise TypeError(f"expected a Fault, got {fault!r}")
        if fault.kind == "respond" and (fault.reply[:5] == b"HTTP/") != (self.protocol == "http"):
            raise ValueError(f"{fault} does not fit a {self.protocol} proxy")
        return fault

    def _decide(self, request: Request) -> Record:
        with self._lock:
            fault: Fault | None = None
            for plan in self._plans:
                fault = plan._take(request)
                if fault is not None:
                    break
            if fault is None:
                for rule in self._every:
                    fault = rule.take(request)
                    if fault is not None:
                        break
            record = Record(len(self._records), request.connection, request.name, fault or FORWARD)
            record.request = request
            self._records.append(record)
            return record

    # --- connections ------------------------------------------------------------------

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [alive for alive in self._threads if alive.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopping.is_set():
                return False
            self._sockets.add(sock)
            return True

    def _untrack(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._lock:
                self._sockets.discard(sock)

    def _accept_loop(self) -> None:
        listener = self._listener
        if listener is None:  # stopped before this thread ran
            return
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not self._track(client):
                _close(client)
                return
            with self._lock:
                self._connections += 1
                number = self._connections
            self._spawn(partial(self._serve, _Pair(client, number)), f"faultproxy-conn-{number}")

    def _serve(self, pair: _Pair) -> None:
        try:
            while not self._stopping.is_set() and self._serve_one(pair):
                pass
        except (_Closed, OSError, ValueError):
            # A peer closed or sent something unframeable: end this connection pair.
            pass
        finally:
            for sock in (pair.client.sock, pair.server.sock if pair.server else None):
                self._untrack(sock)
                _close(sock)

    def _serve_one(self, pair: _Pair) -> bool:
        """Read one request and treat it as its fault says; False ends the connection."""
        if self.protocol == "http":
            request = _read_http_request(pair.client, pair.number)
        else:
            request = _read_redis_command(pair.client, pair.number)
        record = self._decide(request)
        fault = record.fault
        if fault.kind == "respond" and not fault.applied:
            self._deliver(pair.client.sock, record, fault.reply)
            return True
        if fault.kind == "reset":
            _reset(pair.client.sock)
            return False
        return self._forward(pair, request, record)

    def _forward(self, pair: _Pair, request: Request, record: Record) -> bool:
        fault = record.fault
        if fault.kind == "delay" and fault.before and self._hold(fault):
            return False
        server = pair.server or self._connect_upstream(pair)
        server.sock.sendall(request.raw)
        record.forwarded = True
        if self.protocol == "http":
            reply, record.status, closes = _read_http_reply(server, request)
        else:
            reply, closes = _read_resp_value(server), False
        record.reply = reply
        record.applied = True
        if fault.kind == "drop_reply":
            _reset(pair.client.sock)
            return False
        if fault.kind == "delay" and not fault.before and self._hold(fault):
            return False
        self._deliver(pair.client.sock, record, fault.reply if fault.kind == "respond" else reply)
        if self.protocol == "redis" and request.name.encode() in _SUBSCRIBING:
            self._tunnel(pair.client, server)
            return False
        return not closes

    def _connect_upstream(self, pair: _Pair) -> _Stream:
        try:
            upstream = socket.create_connection((self._target_host, self._target_port), timeout=10)
        except OSError:
            _reset(pair.client.sock)  # the client sees the server as unreachable
            raise
        upstream.settimeout(None)  # blocking commands (BLPOP) may wait as long as they like
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._track(upstream):
            _close(upstream)
            raise _Closed
        pair.server = _Stream(upstream)
        return pair.server

    def _hold(self, fault: Fault) -> bool:
        """Wait as ``fault`` says; True if the proxy is stopping meanwhile."""
        if fault.until is None:
            return self._stopping.wait(fault.seconds)
        end = time.monotonic() + fault.seconds
        while not fault.until.wait(0.01):
            if self._stopping.is_set() or time.monotonic() >= end:
                break
        return self._stopping.is_set()

    @staticmethod
    def _deliver(client: socket.socket, record: Record, reply: bytes) -> None:
        # Marked first: a test that has just read the reply must see it as delivered.
        record.delivered = True
        try:
            client.sendall(reply)
        except OSError:
            record.delivered = False
            raise

    def _tunnel(self, client: _Stream, server: _Stream) -> None:
        """Copy bytes both ways until either side closes (subscribed Redis connections)."""

        def pump(source: _Stream, sink: socket.socket) -> None:
            try:
                if source.buffer:
                    sink.sendall(bytes(source.buffer))
                    source.buffer.clear()
                while True:
                    chunk = source.sock.recv(_RECV)
                    if not chunk:
                        break
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                _close(sink)

        back = threading.Thread(target=pump, args=(server, client.sock), daemon=True)
        back.start()
        pump(client, server.sock)
        back.join(5)
