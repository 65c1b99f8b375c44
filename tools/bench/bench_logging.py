"""cnop.logging against the standard library writing JSON lines, in the same run.

1. 50,000 JSON lines to a file, each with the same fields (timestamp, level, service,
   logger, action, message, request_id, user, trace_id, span_id + three extra fields):
   - cnop.logging: ``BaseLogger.info(...)`` after ``configure_logging(sink=path)``;
   - stdlib + python-json-logger's ``JsonFormatter`` (what a team would pick);
   - stdlib + a minimal hand-written ``json.dumps`` formatter (the floor);
   - for context, loguru writing the bare message (no JSON, no fields): the cost of
     loguru itself, which any loguru-based logger pays before formatting anything.
   Rounds alternate between the contenders; the median lines/s of each is printed
   with the ratio cnop / peer (goal: >= 1.0 against the stdlib JSON path).
2. Import time of ``cnop.logging`` against ``loguru`` alone, each measured in fresh
   interpreters (``-X importtime``), several runs, median (goal: <= loguru + 20 ms).

Options (as ``--name=value``): ``--lines`` (default 50000), ``--rounds`` (default 5),
``--imports`` (default 21). On a busy machine the minimum is printed next to the median:
it is the figure least disturbed by other processes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SERVICE = "bench-svc"
FIELDS: dict[str, Any] = {"order_id": "01JD0ZQ0000000000000000000", "amount": 12.5, "asset": "BTC"}


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
        with request_context("bench-request-1", user="alice"):
            started = time.perf_counter()
            for _ in range(lines):
                log.info(action=action, message="Order created", **FIELDS)
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
                logger.info("Order created")
            elapsed = time.perf_counter() - started
        finally:
            logger.remove(handler_id)
    return lines / elapsed


class MinimalJsonFormatter(logging.Formatter):
    """The least a stdlib user writes: one json.dumps of the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        line = {
            "timestamp": moment.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "service": SERVICE,
            "logger": record.name,
            "action": getattr(record, "action", None),
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "user": getattr(record, "user", None),
            "trace_id": None,
            "span_id": None,
        }
        for key in FIELDS:
            line[key] = getattr(record, key, None)
        return json.dumps(line, separators=(",", ":"), default=str)


def json_logger_formatter() -> logging.Formatter:
    # Imported by name: the package is in the bench environment only (no stubs for mypy).
    try:
        module = importlib.import_module("pythonjsonlogger.json")
    except ImportError:  # python-json-logger < 3.1
        module = importlib.import_module("pythonjsonlogger.jsonlogger")
    formatter: logging.Formatter = module.JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
        static_fields={"service": SERVICE},
        timestamp=False,
        json_ensure_ascii=True,
    )
    formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
    formatter.default_msec_format = "%s.%03dZ"
    formatter.converter = time.gmtime
    return formatter


def run_stdlib(formatter: logging.Formatter) -> Callable[[Path, int], float]:
    def run(path: Path, lines: int) -> float:
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(formatter)
        logger = logging.getLogger("order")
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        extra = {
            "action": "order_created",
            "request_id": "bench-request-1",
            "user": "alice",
            "trace_id": None,
            "span_id": None,
            **FIELDS,
        }
        try:
            started = time.perf_counter()
            for _ in range(lines):
                logger.info("Order created", extra=extra)
            elapsed = time.perf_counter() - started
        finally:
            logger.handlers = []
            handler.close()
        return lines / elapsed

    return run


def check_output(path: Path, lines: int) -> None:
    """Every contender must really have written ``lines`` JSON objects."""
    written = path.read_text(encoding="utf-8").splitlines()
    if len(written) != lines:
        raise SystemExit(f"{path.name}: wrote {len(written)} lines, expected {lines}")
    first = json.loads(written[0])
    missing = {"timestamp", "level", "service", "logger", "message", "user", *FIELDS} - set(first)
    if missing:
        raise SystemExit(f"{path.name}: fields missing from a line: {sorted(missing)}")


def throughput(lines: int, rounds: int) -> dict[str, float]:
    contenders: dict[str, Callable[[Path, int], float]] = {
        "cnop.logging": run_cnop,
        "stdlib + python-json-logger": run_stdlib(json_logger_formatter()),
        "stdlib + minimal json.dumps formatter": run_stdlib(MinimalJsonFormatter()),
        "(context) loguru, bare message": run_loguru_bare,
    }
    results: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as folder:
        for round_no in range(rounds):
            for index, (name, run) in enumerate(contenders.items()):
                path = Path(folder) / f"round{round_no}-{index}.log"
                results[name].append(run(path, lines))
                if not name.startswith("(context)"):
                    check_output(path, lines)
                path.unlink()
    return {name: statistics.median(values) for name, values in results.items()}


def import_ms(module: str) -> float:
    """Cumulative import time of ``module`` in a fresh interpreter, in ms."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(done.stderr.splitlines()):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    raise SystemExit(f"no import time reported for {module}")


def import_times(runs: int) -> dict[str, tuple[float, float]]:
    """(median, minimum) import time in ms of each module."""
    samples: dict[str, list[float]] = {"cnop.logging": [], "loguru": []}
    for _ in range(runs):
        for module, values in samples.items():  # alternate, so noise hits both alike
            values.append(import_ms(module))
    return {module: (statistics.median(v), min(v)) for module, v in samples.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench logging")
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--imports", type=int, default=21)
    options = parser.parse_args(argv)

    # Only our handler may write while measuring (loguru's default one goes to stderr).
    from loguru import logger

    logger.remove()
    print(f"{options.lines} JSON lines to a file, median of {options.rounds} alternating rounds")
    rates = throughput(options.lines, options.rounds)
    ours = rates["cnop.logging"]
    for name, rate in rates.items():
        ratio = "" if name == "cnop.logging" else f"   cnop/peer = {ours / rate:.2f}x"
        print(f"  {name:<40} {rate:>10,.0f} lines/s{ratio}")

    print(f"import time, fresh interpreter, median of {options.imports} runs")
    times = import_times(options.imports)
    for module, (median, fastest) in times.items():
        print(f"  import {module:<33} {median:>10.1f} ms   (min {fastest:.1f} ms)")
    extra = times["cnop.logging"][0] - times["loguru"][0]
    extra_min = times["cnop.logging"][1] - times["loguru"][1]
    print(
        f"  cnop.logging - loguru = {extra:+.1f} ms median, {extra_min:+.1f} ms min "
        "(goal: <= +20 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
