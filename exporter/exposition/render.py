"""The task and target families as exposition text, each task's lines rendered once per change.

`TaskCollector` (collector.py) yields the same families as prometheus-client metric objects, and
prometheus-client renders them anew on every scrape: about 1.5 s of CPU for 10,000 tasks. Here each
task's lines are kept, as bytes, until its status changes; a scrape only formats what moves with the
clock (a running task's duration) or with a fresh answer (the last update time) and joins the rest.
The text is byte for byte what prometheus-client's encoders write for `TaskCollector` (a test compares
them, escaping included): labels sorted by name, values as `floatToGoString` writes them, HELP escaped
per format, families in the same order, and for OpenMetrics the `# EOF` after everything.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import utils

from exporter.config import MetricsSettings
from exporter.exposition.collector import TARGET_FAMILIES, TARGET_LABELS, TASK_FAMILIES, TASK_LABELS, P, id_parts
from exporter.model import State, TaskStatus
from exporter.tracking import Snapshot, Source, TargetSnapshot, TaskRecord

__all__ = ["TaskText"]

STATES = tuple(State)
# The value as prometheus-client writes it (Go's float formatting), so the text is the library's.
floatToGoString: Callable[[float], str] = utils.floatToGoString


def _escape(value: str) -> str:
    """A label value (and an OpenMetrics HELP text): backslash, newline and double quote escaped."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    labels: tuple[str, ...]  # the family's label names
    text_header: bytes  # HELP and TYPE, Prometheus text format
    om_header: bytes  # HELP and TYPE, OpenMetrics


def _family(name: str, doc: str, labels: Sequence[str]) -> _Family:
    help_text = doc.replace("\\", r"\\").replace("\n", r"\n")
    return _Family(
        P + name,
        tuple(labels),
        f"# HELP {P}{name} {help_text}\n# TYPE {P}{name} gauge\n".encode(),
        f"# HELP {P}{name} {_escape(doc)}\n# TYPE {P}{name} gauge\n".encode(),
    )


TASK = tuple(_family(name, doc, [*TASK_LABELS, *extra]) for name, (doc, extra) in TASK_FAMILIES.items())
TARGET = tuple(_family(name, doc, [*TARGET_LABELS, *extra]) for name, (doc, extra) in TARGET_FAMILIES.items())
INFO, STATUS, PROGRESS, REMAINING, START, END, DURATION, ERROR, SUB_TASKS, LAST_UPDATE, ID_PART = range(len(TASK))
UP, SCRAPE_DURATION, LAST_SUCCESS, TRACKED, DISCOVERED = range(len(TARGET))
DURATION_NAME, LAST_UPDATE_NAME = TASK[DURATION].name.encode(), TASK[LAST_UPDATE].name.encode()


def _prefix(family: _Family, values: dict[str, str]) -> str:
    """`name{labels} ` with the labels sorted by name, as prometheus-client writes them."""
    labels = ",".join(f'{k}="{_escape(values[k])}"' for k in sorted(family.labels))
    return f"{family.name}{{{labels}}} "


def _line(family: _Family, values: dict[str, str], value: float) -> str:
    return f"{_prefix(family, values)}{floatToGoString(value)}\n"


@dataclass(slots=True)
class _Rendered:
    """One task's lines per family, for as long as its status is the same."""

    status: TaskStatus
    lines: list[bytes]  # per task family; DURATION when it does not move with the clock, LAST_UPDATE filled per answer
    running_since: float | None  # the start of a pending or running task: its duration is now - start
    labels: bytes  # the task's labels as written (`account="...",...,task_id="..."`), for the lines made per scrape
    last_update: float | None = None
    parts: tuple[tuple[str, str, str], ...] = ()  # (part, value, name) of a task ID of several parts


def _render(
    values: dict[str, str], task: TaskStatus, now: float, current_only: bool, parts: tuple[tuple[str, str, str], ...]
) -> _Rendered:
    lines = [b""] * len(TASK)
    lines[ID_PART] = "".join(
        _line(TASK[ID_PART], {**values, "part": part, "part_value": value, "part_name": name}, 1.0)
        for part, value, name in parts
    ).encode()
    info = {**values, "job_type": task.job_type, "job_name": task.job_name, "resource_id": task.resource_id,
            "raw_status": task.raw_status}  # fmt: skip
    lines[INFO] = _line(TASK[INFO], info, 1.0).encode()
    shown = (task.state,) if current_only and task.final else STATES
    lines[STATUS] = "".join(
        _line(TASK[STATUS], {**values, "state": s.value}, 1.0 if task.state is s else 0.0) for s in shown
    ).encode()
    for index, number in ((PROGRESS, task.progress), (REMAINING, task.remaining), (START, task.start), (END, task.end)):
        if number is not None:
            lines[index] = _line(TASK[index], values, number).encode()
    running_since = task.start if task.start is not None and task.state in (State.PENDING, State.RUNNING) else None
    duration = task.duration(now)
    if running_since is None and duration is not None:
        lines[DURATION] = _line(TASK[DURATION], values, duration).encode()
    if task.state is State.FAILED:
        error = {**values, "error_code": task.error_code, "error_message": task.error_message}
        lines[ERROR] = _line(TASK[ERROR], error, 1.0).encode()
    if task.sub_tasks is not None:
        lines[SUB_TASKS] = "".join(
            _line(TASK[SUB_TASKS], {**values, "state": s.value}, task.sub_tasks.get(s, 0)) for s in STATES
        ).encode()
    labels = _prefix(TASK[DURATION], values)[len(TASK[DURATION].name) + 1 : -2].encode()
    return _Rendered(task, lines, running_since, labels, parts=parts)


@functools.lru_cache(maxsize=64)
def _float_text(value: float) -> bytes:
    """A time as written, kept for the few values in use: a refresh's answers share one clock reading."""
    return floatToGoString(value).encode()


class TaskText:
    """The task and target families of the tracker's snapshot, as exposition text."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        clock: Callable[[], float],
        settings: Callable[[], MetricsSettings] = MetricsSettings,
    ) -> None:
        """`settings()`: the config's `metrics` (excluded families; `finished_states: current` shows only
        a final task's current state, the five others being 0 for good)."""
        self._snapshot, self._clock, self._settings = snapshot, clock, settings
        self._rendered_with = MetricsSettings()
        self._cache: dict[tuple[tuple[str, str, str, str], str], _Rendered] = {}

    def render(self, openmetrics: bool = False) -> list[bytes]:
        """The families' text, in pieces to join: every task family, then every target family."""
        now = self._clock()
        targets = self._snapshot().targets
        settings = self._settings()
        columns: list[list[bytes]] = [[] for _ in TASK]
        for rendered, record in self._tasks(targets, settings, now):
            self._add(columns, rendered, record, now)
        parts: list[bytes] = []
        for family, column in zip(TASK, columns, strict=True):
            if family.name not in settings.exclude:
                parts.append(family.om_header if openmetrics else family.text_header)
                parts.extend(column)
        parts.extend(self._targets(targets, openmetrics))
        return parts

    def prepare(self) -> None:
        """Render now the tasks that changed since the last render (the tracker calls it while a refresh
        waits for its last answers), so that the scrape's render finds them done."""
        for _ in self._tasks(self._snapshot().targets, self._settings(), self._clock()):
            pass

    def _tasks(
        self, targets: Iterable[TargetSnapshot], settings: MetricsSettings, now: float
    ) -> Iterator[tuple[_Rendered, TaskRecord]]:
        """Every shown task's rendered lines, with its record (a task whose status did not change since
        the last call keeps its lines); the cache holds the shown tasks once it is run through. A
        generator: 50,000 pairs held at once would cost the garbage collector more than the rendering."""
        if settings != self._rendered_with:  # a reload changed what the lines hold
            self._cache, self._rendered_with = {}, settings
        current_only = settings.current_only
        cache = self._cache
        kept: dict[tuple[tuple[str, str, str, str], str], _Rendered] = {}
        for state in targets:
            key = state.target.key
            base: dict[str, str] | None = None
            multi = state.target.identity.multi
            for record in state.tasks.values():
                task = record.status
                if task is None or record.source is Source.PROBE:
                    continue
                parts = id_parts(state, record.task_id) if multi else ()
                rendered = cache.get((key, record.task_id))
                if rendered is not None and rendered.status is not task and rendered.status == task:
                    rendered.status = task  # the same answer again: found at once the next time
                if rendered is None or rendered.status is not task or rendered.parts != parts:
                    if base is None:
                        base = dict(zip(TARGET_LABELS, key, strict=True))
                    rendered = _render({**base, "task_id": record.task_id}, task, now, current_only, parts)
                kept[(key, record.task_id)] = rendered
                yield rendered, record
        self._cache = kept

    @staticmethod
    def _add(columns: list[list[bytes]], rendered: _Rendered, record: TaskRecord, now: float) -> None:
        lines = rendered.lines
        for index in (INFO, STATUS, PROGRESS, REMAINING, START, END):
            if lines[index]:
                columns[index].append(lines[index])
        if rendered.running_since is not None:
            duration = floatToGoString(max(now - rendered.running_since, 0.0)).encode()
            columns[DURATION].append(b"%s{%s} %s\n" % (DURATION_NAME, rendered.labels, duration))
        elif lines[DURATION]:
            columns[DURATION].append(lines[DURATION])
        for index in (ERROR, SUB_TASKS, ID_PART):
            if lines[index]:
                columns[index].append(lines[index])
        if record.last_update is not None:
            if record.last_update != rendered.last_update or not lines[LAST_UPDATE]:
                rendered.last_update = record.last_update
                value = _float_text(record.last_update)
                lines[LAST_UPDATE] = b"%s{%s} %s\n" % (LAST_UPDATE_NAME, rendered.labels, value)
            columns[LAST_UPDATE].append(lines[LAST_UPDATE])

    @staticmethod
    def _targets(targets: Iterable[TargetSnapshot], openmetrics: bool) -> list[bytes]:
        columns: list[list[str]] = [[] for _ in TARGET]
        for state in targets:
            values = dict(zip(TARGET_LABELS, state.target.key, strict=True))
            columns[UP].append(_line(TARGET[UP], values, 1.0 if state.up else 0.0))
            columns[SCRAPE_DURATION].append(_line(TARGET[SCRAPE_DURATION], values, state.scrape_duration))
            if state.last_success is not None:
                columns[LAST_SUCCESS].append(_line(TARGET[LAST_SUCCESS], values, state.last_success))
            for source, count in state.tracked().items():
                columns[TRACKED].append(_line(TARGET[TRACKED], {**values, "source": source.value}, count))
            if state.discovery_success is not None:
                columns[DISCOVERED].append(_line(TARGET[DISCOVERED], values, state.discovery_success))
        parts = []
        for family, column in zip(TARGET, columns, strict=True):
            parts.append(family.om_header if openmetrics else family.text_header)
            parts.append("".join(column).encode())
        return parts
