"""cnop.logging against the standard library and structlog writing JSON lines, in one run.

1. The same JSON line to a file, ``--lines`` times, by each contender: timestamp, level,
   service, logger, action, message, the request id and user of the request context,
   the trace and span id of the active OpenTelemetry span, and five extra fields of
   which two must be redacted (``password``, ``api_token``). Each contender flushes
   every line, as a service's log file is written.
   - cnop.logging: ``BaseLogger.info(...)`` after ``configure_logging(sink=path)``;
   - stdlib + a minimal ``json.dumps`` formatter doing the same work (context vars,
     span lookup, a redaction of secret keys): the floor a team would write by hand;
   - stdlib + python-json-logger's ``JsonFormatter`` with a filter doing the same;
   - structlog + orjson, the fastest Python JSON logging stack we know;
   - for context, loguru writing the bare message (no JSON, no fields).
   Rounds alternate between the contenders; the ratio cnop / peer is taken per round
   (drifting load hits both alike) and the median ratio is reported.
2. Import time of ``cnop.logging`` against ``loguru`` alone, in fresh interpreters,
   alternating, with bytecode cached as for an installed package: ``-X importtime``
   cumulative time and the wall time of the whole process, medians. Also checks that
   the import loads no OpenTelemetry SDK, boto3, redis or FastAPI.

Options (as ``--name=value``): ``--lines`` (default 30000), ``--rounds`` (default 5),
``--imports`` (default 15).
"""

from __future__ import annotations

import argparse
import contextvars
import importlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.bench import summary
else:
    import summary

SERVICE = "bench-svc"
REQUEST_ID = "bench-request-1"
USER = "alice"
MESSAGE = "Order created"
FIELDS: dict[str, Any] = {
    "order_id": "01JD0ZQ0000000000000000000",
    "amount": 12.5,
    "asset": "BTC",
    "password": "hunter2",
    "api_token": "tok-9f8e7d6c5b4a",
}
SECRET_KEYS = frozenset({"password", "api_token"})
REDACTED = "[REDACTED]"
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0x00F067AA0BA902B7

Contender = Callable[[Path, int], float]


@contextmanager
def active_span() -> Iterator[None]:
    """A valid span context made current with the bare OTel API (no SDK needed)."""
    from opentelemetry import trace

    context = trace.SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=trace.TraceFlags(1))
    with trace.use_span(trace.NonRecordingSpan(context)):
        yield


def trace_ids() -> tuple[str | None, str | None]:
    """What every peer does per line to fill trace_id and span_id (as cnop does)."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def redacted(fields: dict[str, Any]) -> dict[str, Any]:
    """The peers' redaction: a value under a known secret key is replaced."""
    return {k: REDACTED if k in SECRET_KEYS else v for k, v in fields.items()}


def run_cnop(path: Path, lines: int) -> float:
    from cnop.logging import (
        BaseLogger,
        LogAction,
        LoggerName,
        configure_logging,
        request_context,
        reset_logging,
    )

    configure_logging(service=SERVICE, level="INFO", sink=path, intercept_stdlib=False)
    log = BaseLogger(LoggerName.ORDER)
    action = LogAction.ORDER_CREATED
    try:
        with request_context(REQUEST_ID, user=USER), active_span():
            started = time.perf_counter()
            for _ in range(lines):
                log.info(action=action, message=MESSAGE, **FIELDS)
            elapsed = time.perf_counter() - started
    finally:
        reset_logging()
    return lines / elapsed


def run_loguru_bare(path: Path, lines: int) -> float:
    from loguru import logger

    with path.open("a", encoding="utf-8") as stream:

        def sink(line: str) -> None:
            stream.write(line)
            stream.flush()

        handler_id = logger.add(sink, format="{message}", colorize=False)
        try:
            started = time.perf_counter()
            for _ in range(lines):
                logger.info(MESSAGE)
            elapsed = time.perf_counter() - started
        finally:
            logger.remove(handler_id)
    return lines / elapsed


# The stdlib peers' request context: what a service without cnop.logging would keep.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bench_request_id", default=None
)
user_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_user", default=None)
_RECORD_KEYS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class MinimalJsonFormatter(logging.Formatter):
    """The least a stdlib user writes for the same line: one json.dumps of its fields."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        trace_id, span_id = trace_ids()
        line = {
            "timestamp": moment.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "service": SERVICE,
            "logger": record.name,
            "action": getattr(record, "action", None),
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "user": user_var.get(),
            "trace_id": trace_id,
            "span_id": span_id,
        }
        extra = {k: v for k, v in record.__dict__.items() if k not in _RECORD_KEYS}
        extra.pop("action", None)
        line.update(redacted(extra))
        return json.dumps(line, separators=(",", ":"), default=str)


class ContextFilter(logging.Filter):
    """python-json-logger's usual companion: adds the context fields and redacts."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = SERVICE
        record.request_id = request_id_var.get()
        record.user = user_var.get()
        record.trace_id, record.span_id = trace_ids()
        for key in SECRET_KEYS:
            if key in record.__dict__:
                record.__dict__[key] = REDACTED
        return True


def json_logger_formatter() -> logging.Formatter:
    # Imported by name: the package is in the bench environment only (no stubs for mypy).
    try:
        module = importlib.import_module("pythonjsonlogger.json")
    except ImportError:  # python-json-logger < 3.1
        module = importlib.import_module("pythonjsonlogger.jsonlogger")
    formatter: logging.Formatter = module.JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
        timestamp=False,
        json_ensure_ascii=True,
    )
    formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
    formatter.default_msec_format = "%s.%03dZ"
    formatter.converter = time.gmtime
    return formatter


def run_stdlib(formatter: logging.Formatter, with_filter: bool) -> Contender:
    def run(path: Path, lines: int) -> float:
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(formatter)
        if with_filter:
            handler.addFilter(ContextFilter())
        logger = logging.getLogger("order")
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        extra = {"action": "order_created", **FIELDS}
        rid = request_id_var.set(REQUEST_ID)
        uid = user_var.set(USER)
        try:
            with active_span():
                started = time.perf_counter()
                for _ in range(lines):
                    logger.info(MESSAGE, extra=extra)
                elapsed = time.perf_counter() - started
        finally:
            user_var.reset(uid)
            request_id_var.reset(rid)
            logger.handlers = []
            handler.close()
        return lines / elapsed

    return run


def run_structlog(path: Path, lines: int) -> float:
    # Imported by name: bench-only packages (no stubs for mypy).
    structlog: Any = importlib.import_module("structlog")
    orjson: Any = importlib.import_module("orjson")

    def add_fields(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        event["level"] = event["level"].upper()
        event["service"] = SERVICE
        event["logger"] = "order"
        event["trace_id"], event["span_id"] = trace_ids()
        return redacted(event)

    with path.open("wb") as stream:
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
                add_fields,
                structlog.processors.EventRenamer("message"),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory=structlog.BytesLoggerFactory(stream),
            cache_logger_on_first_use=True,
        )
        log = structlog.get_logger()
        structlog.contextvars.bind_contextvars(request_id=REQUEST_ID, user=USER)
        try:
            with active_span():
                started = time.perf_counter()
                for _ in range(lines):
                    log.info(MESSAGE, action="order_created", **FIELDS)
                elapsed = time.perf_counter() - started
        finally:
            structlog.contextvars.clear_contextvars()
            structlog.reset_defaults()
    return lines / elapsed


def check_output(path: Path, lines: int) -> None:
    """Every contender must really have written ``lines`` lines with the same content."""
    written = path.read_text(encoding="utf-8").splitlines()
    if len(written) != lines:
        raise SystemExit(f"{path.name}: wrote {len(written)} lines, expected {lines}")
    first = json.loads(written[0])
    expected = {
        "level": "INFO",
        "service": SERVICE,
        "message": MESSAGE,
        "request_id": REQUEST_ID,
        "user": USER,
        "trace_id": format(TRACE_ID, "032x"),
        "span_id": format(SPAN_ID, "016x"),
        **redacted(FIELDS),
    }
    wrong = {k: first.get(k) for k, v in expected.items() if first.get(k) != v}
    if wrong or "timestamp" not in first:
        raise SystemExit(f"{path.name}: fields differ from the common line: {wrong}")


CNOP = "cnop.logging"
MINIMAL = "stdlib + minimal json.dumps formatter"
JSON_LOGGER = "stdlib + python-json-logger"
STRUCTLOG = "structlog + orjson"
BARE = "(context) loguru, bare message"


def throughput(lines: int, rounds: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Median lines/s of each contender, and the per-round ratios cnop / peer."""
    contenders: dict[str, Contender] = {
        CNOP: run_cnop,
        MINIMAL: run_stdlib(MinimalJsonFormatter(), with_filter=False),
        JSON_LOGGER: run_stdlib(json_logger_formatter(), with_filter=True),
        STRUCTLOG: run_structlog,
        BARE: run_loguru_bare,
    }
    results: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as folder:
        for run in contenders.values():  # warm-up: first imports, caches
            path = Path(folder) / "warmup.log"
            run(path, min(lines, 2000))
            path.unlink()
        for round_no in range(rounds):
            order = list(contenders.items())
            if round_no % 2:  # alternate who goes first
                order.reverse()
            for name, run in order:
                path = Path(folder) / f"round{round_no}.log"
                results[name].append(run(path, lines))
                if name != BARE:
                    check_output(path, lines)
                path.unlink()
    ratios = {
        name: [ours / theirs for ours, theirs in zip(results[CNOP], values, strict=True)]
        for name, values in results.items()
        if name != CNOP
    }
    return {name: statistics.median(v) for name, v in results.items()}, ratios


def import_once(module: str, env: dict[str, str]) -> tuple[float, float]:
    """(-X importtime cumulative ms, wall ms of the whole process) in a fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    wall = (time.perf_counter() - started) * 1000
    for line in reversed(done.stderr.splitlines()):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000, wall
    raise SystemExit(f"no import time reported for {module}")


def import_times(runs: int) -> dict[str, tuple[float, float]]:
    """(median importtime ms, median wall ms) of each module, bytecode cached.

    An installed service has its modules' bytecode compiled; an environment that sets
    PYTHONDONTWRITEBYTECODE would make every run compile every source file instead. So
    the runs write and read bytecode in a temporary cache of their own, warmed up first.
    """
    samples: dict[str, list[tuple[float, float]]] = {"cnop.logging": [], "loguru": []}
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for module in samples:
            import_once(module, env)
        for _ in range(runs):
            for module, values in samples.items():  # alternate, so noise hits both alike
                values.append(import_once(module, env))
    return {
        module: (statistics.median(x for x, _ in v), statistics.median(w for _, w in v))
        for module, v in samples.items()
    }


HEAVY = ("opentelemetry.sdk", "boto3", "botocore", "redis", "fastapi", "starlette", "pydantic")


def heavy_modules_loaded() -> list[str]:
    code = (
        "import sys, cnop.logging; "
        f"print(' '.join(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        f"or m.startswith('opentelemetry.sdk')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench logging")
    parser.add_argument("--lines", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--imports", type=int, default=15)
    options = parser.parse_args(argv)

    # Only the contender measured may write (loguru's default handler goes to stderr).
    from loguru import logger

    logger.remove()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{options.lines} JSON lines to a file (request id, trace ids, 5 fields, 2 redacted), "
        f"{options.rounds} alternating rounds; load average {load}"
    )
    rates, ratios = throughput(options.lines, options.rounds)
    for name, rate in rates.items():
        shown = ""
        if name != CNOP:
            per_round = " ".join(f"{r:.2f}" for r in ratios[name])
            shown = f"   cnop/peer median {statistics.median(ratios[name]):.2f}x ({per_round})"
        print(f"  {name:<40} {rate:>10,.0f} lines/s{shown}")

    print(
        f"import time, fresh interpreters, bytecode cached, median of {options.imports} "
        "alternating runs"
    )
    times = import_times(options.imports)
    for module, (cumulative, wall) in times.items():
        print(f"  import {module:<20} {cumulative:>7.1f} ms importtime   {wall:>7.1f} ms process")
    extra = times["cnop.logging"][0] - times["loguru"][0]
    extra_wall = times["cnop.logging"][1] - times["loguru"][1]
    print(f"  cnop.logging - loguru = {extra:+.1f} ms importtime, {extra_wall:+.1f} ms process")
    heavy = heavy_modules_loaded()
    print(f"  heavy modules loaded by import cnop.logging: {', '.join(heavy) or 'none'}")
    print(f"  load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    ours = rates[CNOP]
    minimal = statistics.median(ratios[MINIMAL])
    summary.add(
        "cnop-logging",
        "JSON lines/s to a file (request+trace ids, redaction, fields)",
        cnop=f"{ours:,.0f}/s",
        peer=f"{rates[MINIMAL]:,.0f}/s (stdlib + json.dumps formatter)",
        ratio=minimal,
        target=">= 1.2x",
        met=minimal >= 1.2,
    )
    versus_structlog = statistics.median(ratios[STRUCTLOG])
    summary.add(
        "cnop-logging",
        "JSON lines/s, same lines (goal)",
        cnop=f"{ours:,.0f}/s",
        peer=f"{rates[STRUCTLOG]:,.0f}/s (structlog + orjson)",
        ratio=versus_structlog,
        target=">= 0.5x",
        met=versus_structlog >= 0.5,
    )
    # The import-time target is recorded by bench_imports (rotated rounds of every import).
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
