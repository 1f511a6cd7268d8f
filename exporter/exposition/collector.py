"""Yields the task and target families of docs/metrics.md from the tracker's state, fresh on every scrape.

Per task (labels account, cloud_service, region, project_id, task_id)::

    # HELP huaweicloud_task_status Current normalised state of the task: 1 for the current state, 0 for the others.
    huaweicloud_task_status{...,task_id="4010a32d...",state="running"} 1.0
    huaweicloud_task_progress_ratio{...} 0.5
    huaweicloud_task_remaining_seconds{...} 120.0
    huaweicloud_task_start_timestamp_seconds{...} 1.457422813219e+09
    huaweicloud_task_duration_seconds{...} 42.0

Per target (labels account, cloud_service, region, project_id): `huaweicloud_task_up`,
`huaweicloud_task_scrape_duration_seconds`, `huaweicloud_task_last_success_timestamp_seconds`,
`huaweicloud_task_tracked{source}`. Nothing here knows any one cloud service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter.config import MetricsSettings
from exporter.model import State
from exporter.tracking import Snapshot, Source, TargetSnapshot, TaskRecord

__all__ = [
    "TARGET_FAMILIES",
    "TASK_FAMILIES",
    "TaskCollector",
    "TaskFamilies",
    "id_parts",
    "target_family",
    "task_families",
    "task_family",
    "task_samples",
]

P = "huaweicloud_task_"
TARGET_LABELS = ["account", "cloud_service", "region", "project_id"]
TASK_LABELS = [*TARGET_LABELS, "task_id"]
DEFAULT_SETTINGS = MetricsSettings()


class TaskFamilies(NamedTuple):
    """The per-task families, filled by `task_samples`."""

    info: GaugeMetricFamily
    status: GaugeMetricFamily
    progress: GaugeMetricFamily
    remaining: GaugeMetricFamily
    start: GaugeMetricFamily
    end: GaugeMetricFamily
    duration: GaugeMetricFamily
    error: GaugeMetricFamily
    sub_tasks: GaugeMetricFamily
    last_update: GaugeMetricFamily
    id_part: GaugeMetricFamily


def id_parts(state: TargetSnapshot, task_id: str) -> tuple[tuple[str, str, str], ...]:
    """(part, value, name) of each part of a task ID of several parts; () for a task named by one ID."""
    target = state.target
    identity = target.identity
    if not identity.multi or identity.problem(task_id):
        return ()
    parent = target.spec.parents.param if target.fanned_out and target.spec.parents is not None else ""
    return tuple(
        (name, value, state.parents.get(value, "") if name == parent else "")
        for name, value in identity.split(task_id).items()
    )


def task_samples(
    families: TaskFamilies, labels: list[str], record: TaskRecord, now: float, current_only: bool = False
) -> None:
    """One task's samples; `labels` are the target's label values and the task ID; `current_only`: of a
    final task only its state's status series (metrics.finished_states: current)."""
    task = record.status
    assert task is not None
    families.info.add_metric([*labels, task.job_type, task.job_name, task.resource_id, task.raw_status], 1.0)
    for value in (task.state,) if current_only and task.final else State:
        families.status.add_metric([*labels, value.value], 1.0 if task.state is value else 0.0)
    for family, number in (
        (families.progress, task.progress),
        (families.remaining, task.remaining),
        (families.start, task.start),
        (families.end, task.end),
    ):
        if number is not None:
            family.add_metric(labels, number)
    duration = task.duration(now)
    if duration is not None:
        families.duration.add_metric(labels, duration)
    if task.state is State.FAILED:
        families.error.add_metric([*labels, task.error_code, task.error_message], 1.0)
    if task.sub_tasks is not None:
        for value in State:
            families.sub_tasks.add_metric([*labels, value.value], task.sub_tasks.get(value, 0))
    if record.last_update is not None:
        families.last_update.add_metric(labels, record.last_update)


# Every family, declared once: name -> (HELP, labels beyond the task's or the target's).
TASK_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "info": ("Static facts about the task; always 1.", ("job_type", "job_name", "resource_id", "raw_status")),
    "status": ("Current normalised state of the task: 1 for the current state, 0 for the others.", ("state",)),
    "progress_ratio": ("Task progress from 0 to 1, where the cloud reports it.", ()),
    "remaining_seconds": (
        "Time the cloud says the task still needs, in seconds, where it reports one; only while the task is not final.",
        (),
    ),
    "start_timestamp_seconds": ("When the task started, in Unix seconds, where the cloud reports it.", ()),
    "end_timestamp_seconds": ("When the task ended, in Unix seconds, where the cloud reports it.", ()),
    "duration_seconds": ("End minus start for a finished task; now minus start while it is pending or running.", ()),
    "error_info": (
        "Error of a failed task (message cut to 256 characters); always 1.",
        ("error_code", "error_message"),
    ),
    "sub_tasks": ("Number of sub-tasks of a batch task in each state.", ("state",)),
    "last_update_timestamp_seconds": ("When the exporter last got a fresh answer for the task.", ()),
    "id_part_info": (
        "One part of a task ID made of several (a job name and a run, or a fanned-out target's parent ID and "
        "the task's), with the parent's name where its list gives one; always 1.",
        ("part", "part_value", "part_name"),
    ),
}
TARGET_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "up": (
        "1 if this scrape reached the API and at least one query succeeded (or there was nothing to ask), else 0.",
        (),
    ),
    "scrape_duration_seconds": ("How long this scrape's queries of the target took.", ()),
    "last_success_timestamp_seconds": ("When a query of the target last succeeded.", ()),
    "tracked": ("Number of tracked tasks, by where they came from.", ("source",)),
    "discovery_last_success_timestamp_seconds": ("When the target's list calls last succeeded.", ()),
}


def task_family(name: str) -> GaugeMetricFamily:
    doc, extra = TASK_FAMILIES[name]
    return GaugeMetricFamily(P + name, doc, labels=[*TASK_LABELS, *extra])


def target_family(name: str) -> GaugeMetricFamily:
    doc, extra = TARGET_FAMILIES[name]
    return GaugeMetricFamily(P + name, doc, labels=[*TARGET_LABELS, *extra])


def task_families(
    targets: Iterable[TargetSnapshot],
    now: float,
    *,
    include_target_metrics: bool = True,
    records: Callable[[TargetSnapshot], Iterable[TaskRecord]] | None = None,
    settings: MetricsSettings = DEFAULT_SETTINGS,
) -> list[GaugeMetricFamily]:
    """All families for `targets`; `records` narrows the tasks (e.g. one task for /probe); `settings`
    (the config's `metrics`) leaves out excluded families and a final task's other states."""
    per_task = TaskFamilies(*(task_family(name) for name in TASK_FAMILIES))
    families: list[GaugeMetricFamily] = [f for f in per_task if f.name not in settings.exclude]
    per_target = [target_family(name) for name in TARGET_FAMILIES]
    if include_target_metrics:
        families += per_target

    for state in targets:
        key = list(state.target.key)
        if include_target_metrics:
            _target_samples(per_target, key, state)
        # /metrics leaves out the tasks only /probe asks about: their series belong to the probe's scrape.
        chosen = records(state) if records else (r for r in state.tasks.values() if r.source is not Source.PROBE)
        for record in chosen:
            if record.status is not None:  # never answered yet: nothing is known, so nothing is made up
                task_samples(per_task, [*key, record.task_id], record, now, settings.current_only)
                for part in id_parts(state, record.task_id):
                    per_task.id_part.add_metric([*key, record.task_id, *part], 1.0)
    return families


def _target_samples(families: list[GaugeMetricFamily], key: list[str], state: TargetSnapshot) -> None:
    """One target's samples of the TARGET_FAMILIES, in their order."""
    up, scrape_duration, last_success, tracked, discovered = families
    up.add_metric(key, 1.0 if state.up else 0.0)
    scrape_duration.add_metric(key, state.scrape_duration)
    if state.last_success is not None:
        last_success.add_metric(key, state.last_success)
    for source, count in state.tracked().items():
        tracked.add_metric([*key, source.value], count)
    if state.discovery_success is not None:
        discovered.add_metric(key, state.discovery_success)


class TaskCollector(Collector):
    """The per-task and per-target families of every tracked target."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        clock: Callable[[], float] = time.time,
        settings: Callable[[], MetricsSettings] = lambda: DEFAULT_SETTINGS,
    ) -> None:
        """`snapshot()` is the tracker's latest; `clock` the exporter's (a running task's duration);
        `settings()` the config's `metrics`."""
        self._snapshot, self._clock, self._settings = snapshot, clock, settings

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # collect() is cheap but needs state; nothing to pre-describe

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from task_families(self._snapshot().targets, self._clock(), settings=self._settings())
