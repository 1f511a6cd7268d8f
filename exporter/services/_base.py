"""What every service module provides, and the helpers they share to read loosely typed API bodies.

A service knows its URL, its body and its status vocabulary, and nothing about Prometheus. The cloud
is loose about types (an EVS `end_time` is `""` while running, a CodeArts `task_status` is null when a
task was never checked, DWS times carry no zone), so every helper here accepts None, "" and the
wrong type, and answers None rather than guessing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any, ClassVar

import structlog

from exporter.model import State, TaskStatus

__all__ = ["ID_PATTERN", "BadResponse", "Service", "clean_message", "parse_percent", "parse_time", "text"]

log = structlog.get_logger(__name__)

MESSAGE_LIMIT = 256
# Task, job, request and project IDs as Huawei Cloud issues them: hex strings, or UUIDs. Checked before
# an ID from a config, a file, a request or a list answer is used in a URL.
ID_PATTERN = re.compile(
    r"[0-9a-fA-F]{16,64}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class BadResponse(Exception):
    """A 2xx answer whose body is not the documented shape. The message says what was wrong."""


class Service(ABC):
    """One cloud service's status API."""

    name: ClassVar[str]
    # Endpoint templates per cloud, `{region}` filled in from the target. A cloud missing here does not
    # offer the service; the user can still set `endpoint`.
    endpoints: ClassVar[Mapping[str, str]]
    needs_project_id: ClassVar[bool] = True
    _unknown_seen: ClassVar[set[tuple[str, str]]] = set()

    @abstractmethod
    def status_path(self, project_id: str, task_id: str) -> str:
        """The status API's path for one task; both IDs are validated before they get here."""

    @abstractmethod
    def parse(self, body: Any, tz: tzinfo) -> TaskStatus:
        """A 200 body -> TaskStatus; raise BadResponse when the body is not the documented shape."""

    def is_not_found(self, status: int, code: str, message: str) -> bool:
        """Whether an error answer means the task does not exist (any more)."""
        return status == 404

    def state_of(self, raw: str, table: Mapping[str, State]) -> State:
        """Map a raw status through `table`; an unknown value is `unknown`, logged once per value."""
        state = table.get(raw)
        if state is None:
            if (self.name, raw) not in self._unknown_seen:
                self._unknown_seen.add((self.name, raw))
                log.warning(
                    "unknown raw task status; reported as state 'unknown'",
                    cloud_service=self.name,
                    raw_status=raw,
                )
            return State.UNKNOWN
        return state


def expect_object(body: Any, service: str) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        kind = "a list" if isinstance(body, list) else type(body).__name__
        raise BadResponse(f"{service}: expected a JSON object, got {kind}")
    return body


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


_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%?\s*")


def parse_percent(value: Any) -> float | None:
    """'50%', '9', 50, '100%' -> 0..1; None, '', 'N/A' -> None. Out-of-range values are clamped."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        match = _PERCENT.fullmatch(text(value))
        if match is None:
            return None
        number = float(match.group(1))
    if not math.isfinite(number):  # json.loads accepts NaN and Infinity
        return None
    return min(max(number / 100.0, 0.0), 1.0)


def parse_time(value: Any, tz: tzinfo) -> float | None:
    """An API time -> Unix seconds. A value without a zone is read in `tz`; "", None, junk -> None."""
    raw = text(value).strip()
    if not raw:
        return None
    if isinstance(value, int | float):
        # Epoch numbers: milliseconds when they are too large to be seconds.
        number = float(value)
        if not math.isfinite(number):
            return None
        return number / 1000.0 if number > 1e11 else number
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "T", 1) if "T" not in raw else raw)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def clean_message(value: Any) -> str:
    """An error message fit for a label: control characters become spaces, whitespace is folded, format
    characters and lone surrogates go, at most 256 characters."""
    if isinstance(value, str):
        value = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", value)).split())
    return text(value)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def sub_task_counts(states: list[State]) -> dict[State, int]:
    counts = dict.fromkeys(State, 0)
    for state in states:
        counts[state] += 1
    return counts


def normalise(status: TaskStatus) -> TaskStatus:
    """Apply the rules that hold for every service: a succeeded task's progress is 1."""
    if status.state is State.SUCCEEDED and status.progress != 1.0:
        return replace(status, progress=1.0)
    return status
