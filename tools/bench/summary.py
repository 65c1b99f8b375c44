"""The one table ``hatch run bench:run all`` ends with: measure, cnop, peer, ratio, target, met.

A benchmark calls :func:`add` once per target it measures (after printing its own detail);
``run.py`` prints every row at the end and, with ``--markdown=FILE``, writes the same table
as Markdown with the date and the load average of the run (what each package README's
Performance section shows).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Row", "add", "markdown", "rows", "table", "write_readmes"]


@dataclass(frozen=True)
class Row:
    """One measured target. ``cnop`` and ``peer`` are shown as given (with their unit)."""

    package: str
    measure: str
    cnop: str
    peer: str
    ratio: float | None
    target: str
    met: bool


_ROWS: list[Row] = []


def add(
    package: str,
    measure: str,
    *,
    cnop: str,
    peer: str,
    ratio: float | None,
    target: str,
    met: bool,
) -> Row:
    """Record one target: e.g. ``add("cnop-locking", "acquire+release/s", cnop="9,100/s",
    peer="9,400/s (redis-py)", ratio=0.97, target=">= 0.95x", met=True)``."""
    row = Row(package, measure, cnop, peer, ratio, target, met)
    _ROWS.append(row)
    return row


def rows() -> list[Row]:
    return list(_ROWS)


def _cells(row: Row) -> list[str]:
    ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
    met = "yes" if row.met else "NO"
    return [row.package, row.measure, row.cnop, row.peer, ratio, row.target, met]


_HEAD = ["package", "measure", "cnop", "peer", "ratio", "target", "met"]


def table(selected: list[Row] | None = None) -> str:
    """The rows as a plain-text table."""
    body = [_cells(r) for r in (rows() if selected is None else selected)]
    widths = [max(len(c) for c in col) for col in zip(_HEAD, *body, strict=False)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        for cells in [_HEAD, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def conditions() -> str:
    """When and under which load the run happened (a README states it with the table)."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    return f"Measured {today} on {os.cpu_count()} cores, load average {load} (1, 5, 15 min)."


def markdown(selected: list[Row] | None = None) -> str:
    """The rows as a Markdown table, preceded by the run's date and load average."""
    body = [_cells(r) for r in (rows() if selected is None else selected)]
    out = [conditions(), "", "| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    out += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(out) + "\n"


START = "<!-- performance table: regenerated from a full benchmark run -->"
END = "<!-- end of performance table -->"


def write_readmes(root: Path) -> list[Path]:
    """Put each package's rows between the markers of its README's Performance section."""
    written = []
    for package in sorted({r.package for r in _ROWS}):
        readme = root / "packages" / package / "README.md"
        text = readme.read_text(encoding="utf-8") if readme.exists() else ""
        if START not in text or END not in text:
            continue
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        table = markdown([r for r in _ROWS if r.package == package])
        readme.write_text(f"{head}{START}\n{table}{END}{tail}", encoding="utf-8")
        written.append(readme)
    return written
