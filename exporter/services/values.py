"""Loosely typed API values: the text of a field, a raw status as text, a number, a time.

Shared by the spec reader (a state table's keys, the time formats it accepts) and the interpreter (an
answer's values), so that both sides write a raw status and name a time format the same way.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

__all__ = ["MESSAGE_LIMIT", "TIME_FORMATS", "number", "parse_time", "raw_status", "text"]

MESSAGE_LIMIT = 256

_GO_TIME = re.compile(
    r"(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?P<fraction>\.\d{1,9})? (?P<offset>[+-]\d{4})(?: [A-Za-z0-9+-]+)?"
)
_DAY_MONTH_YEAR = re.compile(
    r"(?P<day>\d\d)-(?P<month>[A-Za-z]{3})-(?P<year>\d{4}) (?P<time>\d\d:\d\d:\d\d)(?::(?P<ms>\d{3}))?"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def text(value: Any) -> str:
    """A string field fit for a label value: None -> "", numbers as text, other types -> "", characters
    that cannot be encoded or shown (lone surrogates, control and format characters) removed, at most
    256 characters."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        return ""
    if value.isascii() and value.isprintable():
        return value[:MESSAGE_LIMIT]
    value = value.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate from JSON becomes "?"
    return "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cf"))[:MESSAGE_LIMIT]


def raw_status(value: Any) -> str:
    """The raw status as a label value: '2', '-1', 'RUNNING', 'null' for an explicit null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return text(value).strip()


def number(value: Any) -> float | None:
    """A JSON number or a numeric string -> a finite float; anything else -> None."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, str):
            value = float(value.strip())
        if not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)
    except (ValueError, OverflowError):  # junk, or an integer too large for a float
        return None


def _epoch(value: Any, divisor: float) -> float | None:
    found = number(value)
    if found is None or found <= 0:  # 0 and -1 are "not yet" placeholders, not 1970
        return None
    return found / divisor


def _iso(raw: str) -> datetime | None:
    return datetime.fromisoformat(raw.replace(" ", "T", 1) if "T" not in raw else raw)


def _go(raw: str) -> datetime | None:
    """Go's time.String() (CCE: "2020-02-02 08:12:40.672772389 +0000 UTC"), nanoseconds cut to microseconds."""
    match = _GO_TIME.fullmatch(raw)
    if match is None:
        return None
    fraction = match["fraction"][:7].ljust(7, "0") if match["fraction"] else ""
    return datetime.fromisoformat(f"{match['when']}{fraction}{match['offset']}")


def _day_month_year(raw: str) -> datetime | None:
    """IMS's older form, "04-Jun-2015 18:11:06:586" (milliseconds after a colon), month names in English
    whatever the process's locale."""
    match = _DAY_MONTH_YEAR.fullmatch(raw)
    if match is None or match["month"].title() not in _MONTHS:
        return None
    month = _MONTHS.index(match["month"].title()) + 1
    return datetime.fromisoformat(f"{match['year']}-{month:02}-{match['day']}T{match['time']}.{match['ms'] or '000'}")


# The named time formats: a reader of the value as the API wrote it (text) -> a datetime, None or
# ValueError when it does not read. Any other format is a strptime pattern.
_TEXT_READERS: dict[str, Callable[[str], datetime | None]] = {
    "iso": _iso,
    "go": _go,
    "day-month-year": _day_month_year,
}
_EPOCHS = {"epoch_s": 1.0, "epoch_ms": 1000.0}
TIME_FORMATS = ("iso", *_EPOCHS, "go", "day-month-year")
assert set(TIME_FORMATS) == {*_EPOCHS, *_TEXT_READERS}


def parse_time(value: Any, tz: tzinfo, fmt: str | tuple[str, ...] = "iso") -> float | None:
    """An API time -> Unix seconds. A value without a zone is read in `tz`; "", None, junk -> None.

    `fmt` names a format of `TIME_FORMATS` or is a strptime pattern; a tuple of them is tried in turn.
    `iso` also reads an epoch number (milliseconds when too large to be seconds); `epoch_s` and
    `epoch_ms` read a number or a numeric string; `go` reads Go's time.String(); `day-month-year` IMS's
    "04-Jun-2015 18:11:06:586"; a strptime pattern also reads a JSON number written in its digits (MPC's
    20200310031605)."""
    for one in (fmt,) if isinstance(fmt, str) else fmt:
        found = _parse_one(value, tz, one)
        if found is not None:
            return found
    return None


def _parse_one(value: Any, tz: tzinfo, fmt: str) -> float | None:
    if fmt in _EPOCHS:
        return _epoch(value, _EPOCHS[fmt])
    if fmt == "iso" and isinstance(value, int | float) and not isinstance(value, bool):
        found = number(value)  # an epoch string needs epoch_s or epoch_ms: no guessing
        return None if found is None or found <= 0 else found / (1000.0 if found > 1e11 else 1.0)
    parsed = _read_text(_written(value), fmt)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):  # year 1 read in a zone east of UTC, and the like
        return None


def _written(value: Any) -> str:
    """The time as the API wrote it: a string, or a whole JSON number's digits (MPC's 20200310031605)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else ""
    return text(value).strip()


def _read_text(raw: str, fmt: str) -> datetime | None:
    if not raw:
        return None
    reader = _TEXT_READERS.get(fmt)
    try:
        return reader(raw) if reader is not None else datetime.strptime(raw, fmt)
    except (ValueError, OverflowError):
        return None
