"""The spec interpreter: any service spec plus an API body -> a `TaskStatus` (or the body's error).

The cloud is loose about types (an EVS `end_time` is `""` while running, a CodeArts `task_status` is
null when a task was never checked, DWS times carry no zone), so every reader here accepts None, ""
and the wrong type, and answers None rather than guessing. Only a body without the status at all is a
`BadResponse`.
"""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

import structlog

from exporter.log import repeated
from exporter.model import FINAL_STATES, State, TaskStatus
from exporter.services.spec import (
    END_FORMATS,
    DiscoverySpec,
    ErrorFields,
    Field,
    Paging,
    ProgressCounts,
    ProgressField,
    RemainingField,
    ServiceSpec,
    StatusSpec,
    TimeField,
)
from exporter.services.values import MESSAGE_LIMIT, parse_time, raw_status, text
from exporter.services.values import number as _number

__all__ = [
    "MESSAGE_LIMIT",
    "BadResponse",
    "NoSuchTask",
    "UnknownStatuses",
    "body_error",
    "clean_message",
    "list_items",
    "list_next",
    "list_total",
    "lookup",
    "parse_percent",
    "parse_time",
    "raw_status",
    "read_item",
    "read_progress",
    "read_status",
    "read_time",
    "status_body",
    "text",
]

log = structlog.get_logger(__name__)

_MISSING: Any = object()
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%?\s*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


class BadResponse(Exception):
    """A 2xx answer whose body is not the documented shape. The message says what was wrong; `kind`
    names the kind of problem in a few words (for logging once per kind)."""

    def __init__(self, message: str, kind: str = "not the documented shape") -> None:
        super().__init__(message)
        self.kind = kind


class NoSuchTask(BadResponse):
    """A 200 that says the task does not exist: the list a status is read from is empty (`not_found.empty`),
    or the status is one of `not_found.states` (MPC's NO_TASK)."""


class UnknownStatuses:
    """Hears the raw statuses outside a spec's state table: each is logged once per service and value,
    then at every power of ten, with the count (the counts are the process's, so they outlive a reload;
    at most `exporter.log.MAX_KEYS` values are told apart, however many a broken service makes up)."""

    def note(self, cloud_service: str, raw: str) -> None:
        repeated(
            log.warning,
            "unknown raw task status; reported as state 'unknown'",
            (cloud_service, raw),
            cloud_service=cloud_service,
            raw_status=raw,
        )


# --- values ----------------------------------------------------------------------------------------


def clean_message(value: Any) -> str:
    """An error message fit for a label: control characters become spaces, whitespace is folded, format
    characters and lone surrogates go, at most 256 characters."""
    if isinstance(value, str):
        value = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", value)).split())
    return text(value)


def parse_percent(value: Any) -> float | None:
    """'50%', '9', 50, '100%' -> 0..1; None, '', 'N/A' -> None. Out-of-range values are clamped."""
    return _scaled(value, 100.0)


def _scaled(value: Any, full: float) -> float | None:
    """A progress value on a scale of `full` -> 0..1. A string with a % sign is a percentage whatever
    the scale."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = _number(value)
    else:
        written = text(value)
        match = _PERCENT.fullmatch(written)
        if match is None:
            return None
        number = float(match.group(1))
        full = 100.0 if "%" in written else full
    if number is None or not math.isfinite(number):  # json.loads accepts NaN and Infinity
        return None
    return min(max(number / full, 0.0), 1.0)


# --- pointers --------------------------------------------------------------------------------------


def _resolve(body: Any, pointer: tuple[str, ...]) -> Any:
    node = body
    for token in pointer:
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def lookup(body: Any, field: Field) -> Any:
    """The value at the first of the field's pointers that holds one (not None or ""), else None."""
    for pointer in field.pointers:
        value = _resolve(body, pointer)
        if value is not _MISSING and value is not None and value != "":
            return value
    return None


def _present(body: Any, field: Field) -> tuple[bool, Any]:
    """Whether any of the field's pointers exists (an explicit null counts), and its value."""
    for pointer in field.pointers:
        value = _resolve(body, pointer)
        if value is not _MISSING:
            return True, value
    return False, None


def _text(body: Any, field: Field | None) -> str:
    if field is None:
        return ""
    for pointer in field.pointers:
        found = text(_resolve(body, pointer)) if _resolve(body, pointer) is not _MISSING else ""
        if found:
            return found
    return ""


def _message(body: Any, field: Field | None) -> str:
    """The first of the field's values that makes a non-empty message (false, 0 and {} make none)."""
    if field is None:
        return ""
    last = len(field.pointers) - 1
    for index, pointer in enumerate(field.pointers):
        value = _resolve(body, pointer)
        if value is _MISSING or (not value and index < last):  # false, 0, {}: the next one may say more
            continue
        message = clean_message(value)
        if message:
            return message
    return ""


# --- status ----------------------------------------------------------------------------------------


def _value(body: Any, field: Field, what: str, name: str) -> Any:
    """A field that must hold a JSON scalar (or nothing): a list, an object or a boolean there is not a
    value the cloud could mean, so the whole answer is a bad response."""
    value = lookup(body, field)
    if isinstance(value, list | dict | bool):
        raise BadResponse(f"{name}: the {what} at {field.written} is {_kind(value)}", f"{what} of the wrong type")
    return value


def read_time(body: Any, spec: TimeField | None, tz: tzinfo, name: str = "") -> float | None:
    if spec is None:
        return None
    return parse_time(_value(body, spec.at, "time", name), spec.zone or tz, spec.formats)


def _progress(body: Any, spec: ProgressField | None, name: str) -> float | None:
    if spec is None or (spec.unless is not None and lookup(body, spec.unless) is not None):
        return None  # DLI: while a sub-job runs, the progress is the sub-job's
    value = _value(body, spec.at, "progress", name)
    if spec.none_below is not None and (written := _written_number(value)) is not None and written < spec.none_below:
        return None  # CDM's -1: a sentinel, not 0 %
    return _scaled(value, 100.0 if _read_as_percent(spec, value, name) else 1.0)


def _written_number(value: Any) -> float | None:
    """The number as the API wrote it, before any scaling ("-1%" -> -1)."""
    return _number(value.strip().removesuffix("%") if isinstance(value, str) else value)


def _read_as_percent(spec: ProgressField, value: Any, name: str) -> bool:
    """Whether the value is on the 0..100 scale: the spec's, or (with `assumed`) a ratio the service has
    contradicted with a value above 1 (logged once per service, then every value is a percentage)."""
    if spec.scale == "percent":
        return True
    if not spec.assumed:
        return False
    if name in _CONTRADICTED:
        return True
    number = _number(value)
    if number is None or number <= 1:
        return False
    _CONTRADICTED.add(name)
    log.warning(
        "a progress above 1 on the scale the spec assumed (0..1); reading it as a percentage",
        cloud_service=name,
        field=spec.at.written,
        value=number,
    )
    return True


_CONTRADICTED: set[str] = set()  # services whose answers contradicted an assumed scale (logged once)


def _state(spec: StatusSpec, raw: str, unknown: Callable[[str], None] | None) -> State:
    state = spec.states.get(raw)
    if state is None:
        if unknown is not None:
            unknown(raw)
        return State.UNKNOWN
    return state


def _sub_states(body: Any, spec: StatusSpec, unknown: Callable[[str], None] | None) -> list[State] | None:
    if spec.sub_tasks is None:
        return None
    subs = lookup(body, spec.sub_tasks.at)
    if not isinstance(subs, list) or not subs:
        return None
    field = spec.sub_tasks.state
    return [
        _state(spec, raw_status(_present(sub, field)[1]), unknown) if isinstance(sub, dict) else State.UNKNOWN
        for sub in subs
    ]


def _state_value(body: Any, spec: StatusSpec) -> tuple[bool, Any]:
    """The raw status: at the first of the state's pointers that exists and does not hold a `not_yet`
    value (the last one that exists otherwise)."""
    found: tuple[bool, Any] = (False, None)
    last = len(spec.state.pointers) - 1
    for index, pointer in enumerate(spec.state.pointers):
        value = _resolve(body, pointer)
        if value is _MISSING:
            continue
        found = (True, value)
        if not spec.not_yet or index == last:
            return found
        if value is None or value == "":  # MRS: no job_result yet either
            continue
        if not (isinstance(value, str | int) and raw_status(value) in spec.not_yet):
            return found
    return found


def _kind(body: Any) -> str:
    if isinstance(body, bool):
        return f"a boolean ({str(body).lower()})"
    if isinstance(body, list):
        return "a list"
    return "an object" if isinstance(body, dict) else type(body).__name__


def read_status(
    service: ServiceSpec,
    body: Any,
    tz: tzinfo,
    unknown: Callable[[str], None] | None = None,
    *,
    spec: StatusSpec | None = None,
) -> TaskStatus:
    """A status answer -> TaskStatus; `BadResponse` (naming the service) when the body has no status
    where the spec says. `unknown` hears every raw status (of the task or a sub-task) outside the table.

    The rules for every service: a succeeded task's progress is 1, and only a succeeded task's progress
    is 1 when it is counted from sub-tasks (CCE's Running job whose sub-jobs all succeeded has none);
    a task that is not final has no end, whatever the API writes there (DDS, DDM, GeminiDB examples).
    `spec` reads the body in place of the service's status section (a list item's, `discover.status`)."""
    spec = spec or service.status
    raw = _raw_status(service.name, spec, body)
    state = _failed_items(body, spec, _state(spec, raw, unknown), service.name)
    sub_states = _sub_states(body, spec, unknown)
    start = read_time(body, spec.start, tz, service.name)
    failed = state is State.FAILED
    return TaskStatus(
        state=state,
        # A handful of values across thousands of tasks: kept once (sys.intern), not once per task.
        raw_status=sys.intern(raw),
        progress=_task_progress(service.name, spec, body, state, sub_states),
        start=start,
        end=_end(body, spec.end, start, tz, service.name) if state in FINAL_STATES else None,
        created=read_time(body, spec.created, tz, service.name),
        job_type=sys.intern(_text(body, spec.job_type)),
        job_name=_text(body, spec.job_name),
        resource_id=_text(body, spec.resource),
        error_code=_message(body, spec.error.code) if failed else "",
        error_message=_message(body, spec.error.message) if failed else "",
        sub_tasks=_counts(sub_states) if sub_states is not None else None,
        remaining=None if state in FINAL_STATES else _remaining(body, spec.remaining, service.name),
    )


def read_item(service: ServiceSpec, item: Any, tz: tzinfo, unknown: Callable[[str], None] | None = None) -> TaskStatus:
    """The status a list item carries (`discover.carries_status`): read through `discover.status` where
    the spec gives one (the item's own fields), else as a status body with the item at `item_at`."""
    lister = service.discover
    assert lister is not None
    if lister.item_status is not None:
        return read_status(service, item, tz, unknown, spec=lister.item_status)
    return read_status(service, status_body(lister, item), tz, unknown)


def _failed_items(body: Any, spec: StatusSpec, state: State, name: str) -> State:
    """A succeeded task is failed when its `failed_count` is above 0 (CDN: task_done, but 2 URLs failed)."""
    if state is not State.SUCCEEDED or spec.failed_count is None:
        return state
    failed = _number(_value(body, spec.failed_count, "count", name))
    return State.FAILED if failed is not None and failed > 0 else state


def _remaining(body: Any, spec: RemainingField | None, name: str) -> float | None:
    """The remaining time in seconds; None when absent, not a number or negative."""
    if spec is None:
        return None
    value = _number(_value(body, spec.at, "remaining time", name))
    if value is None or value < 0:
        return None
    return value * spec.seconds


def _counted_progress(body: Any, spec: ProgressCounts, name: str) -> float | None:
    """The sum of the done counters over the total; None without a counter or a total above 0."""
    total = _number(_value(body, spec.total, "count", name))
    counters = [_number(_value(body, field, "count", name)) for field in spec.done]
    if total is None or total <= 0 or all(c is None for c in counters):
        return None
    done = sum(c for c in counters if c is not None and c > 0)
    return min(done / total, 1.0)


def _raw_status(name: str, spec: StatusSpec, body: Any) -> str:
    """The raw status of a status body; `BadResponse` when the body is not one, `NoSuchTask` when it is
    the empty list that says the task does not exist."""
    if not isinstance(body, dict):
        raise BadResponse(f"{name}: expected a JSON object, got {_kind(body)}", "not a JSON object")
    if spec.not_found.empty is not None:
        present, listed = _present(body, spec.not_found.empty)
        if present and listed == []:  # no list at all is a bad response (or an error in a 200)
            raise NoSuchTask(f"{name}: the list at {spec.not_found.empty.written} is empty", "no such task")
    found, value = _state_value(body, spec)
    if not found:
        raise BadResponse(f"{name}: the answer has no status at {spec.state.written}", "no status")
    if isinstance(value, list | dict):
        raise BadResponse(f"{name}: the status at {spec.state.written} is {_kind(value)}", "status of the wrong type")
    raw = raw_status(value)
    if raw in spec.not_found.states:
        raise NoSuchTask(f"{name}: the status at {spec.state.written} is {raw}", "no such task")
    return raw


def _task_progress(
    name: str, spec: StatusSpec, body: Any, state: State, sub_states: list[State] | None
) -> float | None:
    if state is State.SUCCEEDED:
        return 1.0
    progress = spec.progress
    if progress is not None and not progress.path:
        found = _progress(body, progress, name)
        if found is not None:
            return found
    if spec.counts is not None:
        counted = _counted_progress(body, spec.counts, name)
        if counted is not None:
            return counted
    if not sub_states:
        return None
    done = sum(s in FINAL_STATES for s in sub_states) / len(sub_states)
    return done if done < 1.0 else None  # all sub-tasks final, the task not yet succeeded: no progress


def _end(body: Any, spec: TimeField | None, start: float | None, tz: tzinfo, name: str) -> float | None:
    if spec is None:
        return None
    if spec.format in END_FORMATS:
        since = _number(_value(body, spec.at, "time", name))
        if start is None or since is None or since < 0:
            return None
        return start + (since / 1000 if spec.format == "duration_ms" else since)
    return read_time(body, spec, tz, name)


def read_progress(service: ServiceSpec, body: Any) -> float | None:
    """The progress in the answer of the spec's progress API (`progress.path`)."""
    if not isinstance(body, dict):
        raise BadResponse(f"{service.name}: expected a JSON object, got {_kind(body)}", "not a JSON object")
    return _progress(body, service.status.progress, service.name)


def _counts(states: list[State]) -> dict[State, int]:
    counts = dict.fromkeys(State, 0)
    for state in states:
        counts[state] += 1
    return counts


def body_error(spec: StatusSpec | None, fields: ErrorFields | None, body: Any) -> tuple[str, str] | None:
    """(code, message) when a 200 body is an error the documents put there: no status (when `spec` is
    given), but an error code at `fields`."""
    if fields is None or fields.code is None or not isinstance(body, dict):
        return None
    if spec is not None and _present(body, spec.state)[0]:
        return None
    code = clean_message(lookup(body, fields.code))
    return (code, _message(body, fields.message)) if code else None


# --- lists -----------------------------------------------------------------------------------------


def list_items(spec: DiscoverySpec, body: Any) -> list[tuple[str, Any]]:
    """(task ID, item) of every item of a list page; items without an ID are skipped. The page is an
    object, or the list itself where the spec's `items` is the root pointer ""."""
    if not isinstance(body, dict) and not (isinstance(body, list) and () in spec.items.pointers):
        raise BadResponse(f"expected a JSON object, got {_kind(body)}")
    found, items = _present(body, spec.items)
    if not found or not isinstance(items, list):
        raise BadResponse(f"the list answer has no list at {spec.items.written}")
    if spec.id_parts:  # a task named by several parts: joined, as the spec's identity says
        sep = spec.identity.separator
        return [
            (sep.join(_text(item, at).strip() for _, at in spec.id_parts), item)
            for item in items
            if isinstance(item, dict)
        ]
    return [(_text(item, spec.id).strip(), item) for item in items if isinstance(item, dict)]


def status_body(spec: DiscoverySpec, item: Any) -> Any:
    """A list item as the status body it would be (placed at `item_at`)."""
    for step in reversed(spec.item_at):
        item = [item] if step == "0" else {step: item}  # GeminiDB's status is the first of a list
    return item


def list_total(paging: Paging, body: Any) -> int | None:
    """The list's total: a JSON integer, or a string of digits (DMS's task_count "4"); else None."""
    total = lookup(body, paging.total) if paging.total is not None else None
    if isinstance(total, str) and total.strip().isdigit():
        return int(total.strip())
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def list_next(paging: Paging, body: Any) -> str:
    return _text(body, paging.next)
