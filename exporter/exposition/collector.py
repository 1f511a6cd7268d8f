"""Yields the metric families of DESIGN section 3 from the tracker's state, fresh on every scrape.

Per task (labels account, cloud_service, region, project_id, task_id)::

    # HELP huaweicloud_task_status Current normalised state of the task: 1 for the current state, 0 for the others.
    huaweicloud_task_status{...,task_id="4010a32d...",state="running"} 1.0
    huaweicloud_task_progress_ratio{...} 0.5
    huaweicloud_task_start_timestamp_seconds{...} 1.457422813219e+09
    huaweicloud_task_duration_seconds{...} 42.0

Per target (labels account, cloud_service, region, project_id): `huaweicloud_task_up`,
`huaweicloud_task_scrape_duration_seconds`, `huaweicloud_task_last_success_timestamp_seconds`,
`huaweicloud_task_tracked{source}`. Nothing here knows any one cloud service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter.model import FINAL_STATES, State
from exporter.tracking.tracker import TargetState, TaskRecord, tracked_counts

__all__ = ["TaskCollector", "task_families"]

P = "huaweicloud_task_"
TARGET_LABELS = ["account", "cloud_service", "region", "project_id"]
TASK_LABELS = [*TARGET_LABELS, "task_id"]


def task_families(
    targets: Iterable[TargetState],
    now: float,
    *,
    include_target_metrics: bool = True,
    records: Callable[[TargetState], Iterable[TaskRecord]] | None = None,
) -> list[GaugeMetricFamily]:
    """All families for `targets`; `records` narrows the tasks (e.g. one task for /probe)."""

    def gauge(
        name: str, doc: str, extra: list[str] | None = None, labels: list[str] = TASK_LABELS
    ) -> GaugeMetricFamily:
        return GaugeMetricFamily(P + name, doc, labels=[*labels, *(extra or [])])

    info = gauge(
        "info",
        "Static facts about the task; always 1.",
        ["job_type", "job_name", "resource_id", "raw_status"],
    )
    status = gauge(
        "status",
        "Current normalised state of the task: 1 for the current state, 0 for the others.",
        ["state"],
    )
    progress = gauge("progress_ratio", "Task progress from 0 to 1, where the cloud reports it.")
    start = gauge("start_timestamp_seconds", "When the task started, in Unix seconds, where the cloud reports it.")
    end = gauge("end_timestamp_seconds", "When the task ended, in Unix seconds, where the cloud reports it.")
    duration = gauge(
        "duration_seconds",
        "End minus start for a finished task; now minus start while it is pending or running.",
    )
    error = gauge(
        "error_info",
        "Error of a failed task (message cut to 256 characters); always 1.",
        ["error_code", "error_message"],
    )
    sub_tasks = gauge("sub_tasks", "Number of sub-tasks of a batch task in each state.", ["state"])
    last_update = gauge("last_update_timestamp_seconds", "When the exporter last got a fresh answer for the task.")
    families = [info, status, progress, start, end, duration, error, sub_tasks, last_update]
    if include_target_metrics:
        up = gauge(
            "up",
            "1 if this scrape reached the API and at least one query succeeded (or there was nothing to ask), else 0.",
            labels=TARGET_LABELS,
        )
        scrape_duration = gauge(
            "scrape_duration_seconds",
            "How long this scrape's queries of the target took.",
            labels=TARGET_LABELS,
        )
        last_success = gauge(
            "last_success_timestamp_seconds",
            "When a query of the target last succeeded.",
            labels=TARGET_LABELS,
        )
        tracked = gauge(
            "tracked", "Number of tracked tasks, by where they came from.", ["source"], labels=TARGET_LABELS
        )
        discovered = gauge(
            "discovery_last_success_timestamp_seconds",
            "When the target's list calls (CodeArts task lists, CPH request IDs) last succeeded.",
            labels=TARGET_LABELS,
        )
        families += [up, scrape_duration, last_success, tracked, discovered]

    for state in targets:
        key = list(state.target.key)
        if include_target_metrics:
            up.add_metric(key, 1.0 if state.up else 0.0)
            scrape_duration.add_metric(key, state.scrape_duration)
            if state.last_success is not None:
                last_success.add_metric(key, state.last_success)
            for source, count in tracked_counts(state).items():
                tracked.add_metric([*key, source], count)
            if state.discovery_success is not None:
                discovered.add_metric(key, state.discovery_success)
        # /metrics leaves out the tasks only /probe asks about: their series belong to the probe's scrape.
        chosen = records(state) if records else (r for r in state.tasks.values() if r.source != "probe")
        for record in chosen:
            task = record.status
            if task is None:
                continue  # never answered yet: nothing is known, so nothing is made up
            labels = [*key, record.task_id]
            info.add_metric([*labels, task.job_type, task.job_name, task.resource_id, task.raw_status], 1.0)
            for value in State:
                status.add_metric([*labels, value.value], 1.0 if task.state is value else 0.0)
            if task.progress is not None:
                progress.add_metric(labels, task.progress)
            if task.start is not None:
                start.add_metric(labels, task.start)
            if task.end is not None:
                end.add_metric(labels, task.end)
            if task.start is not None:
                if task.state in FINAL_STATES and task.end is not None:
                    duration.add_metric(labels, max(task.end - task.start, 0.0))
                elif task.state in (State.PENDING, State.RUNNING):
                    duration.add_metric(labels, max(now - task.start, 0.0))
            if task.state is State.FAILED:
                error.add_metric([*labels, task.error_code, task.error_message], 1.0)
            if task.sub_tasks is not None:
                for value in State:
                    sub_tasks.add_metric([*labels, value.value], task.sub_tasks.get(value, 0))
            if record.last_update is not None:
                last_update.add_metric(labels, record.last_update)
    return families


class TaskCollector(Collector):
    """The per-task and per-target families of every tracked target."""

    def __init__(self, targets: Callable[[], Iterable[TargetState]], clock: Callable[[], float] = time.time) -> None:
        self._targets, self._clock = targets, clock

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # collect() is cheap but needs state; nothing to pre-describe

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from task_families(self._targets(), self._clock())
