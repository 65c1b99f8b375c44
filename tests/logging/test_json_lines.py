"""Every line is JSON that strict readers accept: no bare NaN/Infinity, no lone
surrogate escapes, whatever the fields hold."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnop.logging import BaseLogger, LogAction, LoggerName

from .conftest import CapturedLines

log = BaseLogger(LoggerName.COMMON)


def refuse(constant: str) -> Any:
    raise ValueError(f"not JSON: {constant}")


def strict_records(captured: CapturedLines) -> list[dict[str, Any]]:
    out = []
    for raw in captured.raw():
        line = json.loads(raw, parse_constant=refuse)
        json.dumps(line, allow_nan=False).encode("utf-8")  # no surrogate survives
        out.append(line)
    return out


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


class BadStr:
    """Its str() raises; its repr() works, so hypothesis can show a failing example."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        return "BadStr()"


def test_non_finite_floats_are_written_as_text(captured: CapturedLines) -> None:
    log.info(
        action=LogAction.ERROR,
        message="floats",
        nan=math.nan,
        inf=math.inf,
        ninf=-math.inf,
        nested={"values": [1.5, math.nan]},
        dec=Decimal("0.1000000000000000055511151231257827"),
        dec_nan=Decimal("NaN"),
    )
    (line,) = strict_records(captured)
    assert (line["nan"], line["inf"], line["ninf"]) == ("NaN", "Infinity", "-Infinity")
    assert line["nested"] == {"values": [1.5, "NaN"]}
    # Decimals exactly, as text: a JSON number would be read back as a float.
    assert line["dec"] == "0.1000000000000000055511151231257827"
    assert line["dec_nan"] == "NaN"


def test_odd_values_never_break_a_line(captured: CapturedLines) -> None:
    loop: list[Any] = []
    loop.append(loop)
    log.info(
        action=LogAction.ERROR,
        message="odd \ud800 message",
        raw=b"password=x",
        tags=frozenset({"a"}),
        when=datetime(2026, 1, 2, tzinfo=timezone.utc),
        day=date(2026, 1, 2),
        bad=BadRepr(),
        loop=loop,
        huge=10**5000,
        lone="x\udfffy",
        **{"key\ud800": 1},
    )
    (line,) = strict_records(captured)
    assert line["message"] == "odd \ufffd message"
    assert line["raw"] == "<10 bytes>"
    assert line["tags"] == ["a"]
    assert line["bad"] == "<unprintable BadRepr>"
    assert line["huge"] == "<int of 16610 bits>"
    assert line["lone"] == "x\ufffdy"
    assert line["key\ufffd"] == 1


def test_text_that_looks_like_an_escape_is_kept(captured: CapturedLines) -> None:
    log.info(action=LogAction.ERROR, message="m", text="\\ud800 written by hand", emoji="😀")
    (line,) = strict_records(captured)
    assert line["text"] == "\\ud800 written by hand"
    assert line["emoji"] == "😀"


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and both infinities included
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(),  # lone surrogates included
    st.binary(max_size=20),
    st.datetimes(),
    st.just(BadStr()),
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=st.dictionaries(st.text(max_size=10), values, max_size=5), message=st.text())
def test_every_line_is_strict_json(
    captured: CapturedLines, fields: dict[str, Any], message: str
) -> None:
    captured.buffer.seek(0)
    captured.buffer.truncate()
    log.info(action=LogAction.ERROR, message=message, **{f"f_{k}": v for k, v in fields.items()})
    (line,) = strict_records(captured)
    assert set(line) >= {"timestamp", "message"}
    assert "format_error" not in line
