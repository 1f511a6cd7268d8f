"""The history-grade families (issue 20), from the tracker's `History`, on `/metrics` only::

    # TYPE huaweicloud_task_completions counter
    huaweicloud_task_completions_total{account="prod",cloud_service="ecs",region="cn-north-4",
        project_id="...",job_type="createServer",state="failed"} 3.0
    # TYPE huaweicloud_task_completion_duration_seconds histogram
    huaweicloud_task_completion_duration_seconds_bucket{...,state="succeeded",le="300.0"} 12.0
        # {task_id="ff80808288d41e1b0189c4fd5b1b6bb1"} 217.0 1.7e+09   (OpenMetrics only)
    huaweicloud_task_completion_duration_seconds_sum{...} 2310.0
    huaweicloud_task_completion_duration_seconds_count{...} 12.0
    # TYPE huaweicloud_task_resource_last_finished_timestamp_seconds gauge
    huaweicloud_task_resource_last_finished_timestamp_seconds{...,resource_id="...",state="succeeded"} 1.7e+09
    huaweicloud_task_history_resources_dropped_total 0.0

A completion counted without a duration (the task gave no start or no end) raises the counter but not
the histogram's count. Every collection tells the history it was shown (`History.collected`): a
series born in this collection shows its first completions in the next one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from exporter.tracking.history import History, Observed

__all__ = ["HistoryCollector"]

P = "huaweicloud_task_"
SERIES = ["account", "cloud_service", "region", "project_id", "job_type", "state"]
RESOURCE = ["account", "cloud_service", "region", "project_id", "job_type", "resource_id", "state"]


class HistoryCollector(Collector):
    def __init__(self, history: History) -> None:
        self._history = history

    def collect(self) -> Iterator[Metric]:
        history = self._history
        completions = CounterMetricFamily(
            f"{P}completions",
            "Tasks that finished, counted once each when the exporter first learned it (since this process "
            "started; a task that ended before it is not counted), by job type and final state.",
            labels=SERIES,
        )
        durations = HistogramMetricFamily(
            f"{P}completion_duration_seconds",
            "End minus start of the tasks counted in huaweicloud_task_completions_total (those with both "
            "times), with the task's ID as the exemplar of its bucket.",
            labels=SERIES,
        )
        waits = HistogramMetricFamily(
            f"{P}completion_queue_seconds",
            "Start minus creation time of the tasks counted in huaweicloud_task_completions_total whose service "
            "gives a creation time apart from the start (CBR): how long they waited to run.",
            labels=SERIES,
        )
        for key, series in history.series():
            labels = list(key)
            completions.add_metric(labels, float(series.count))
            durations.add_metric(labels, _buckets(series.durations), series.durations.total)
            waits.add_metric(labels, _buckets(series.waits), series.waits.total)
        last = GaugeMetricFamily(
            f"{P}resource_last_finished_timestamp_seconds",
            "End time of the latest task of this job type on this resource in this final state (resource_id "
            "empty: the job type's tasks without a resource); kept for history.retention after that end.",
            labels=RESOURCE,
        )
        for resource, end in history.resources.items():
            last.add_metric(list(resource), end)
        dropped = CounterMetricFamily(
            f"{P}history_resources_dropped",
            "Resources whose latest-finished series were dropped for history.max_resources (the one updated "
            "longest ago first).",
        )
        dropped.add_metric([], float(history.dropped_resources))
        yield from (completions, durations, waits, last, dropped)
        history.collected()


def _buckets(observed: Observed) -> list[tuple[str, float] | tuple[str, float, Exemplar]]:
    """Cumulative buckets, each with its exemplar (OpenMetrics shows them; the text format drops them)."""
    cumulative = 0
    buckets: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
    bounds = (*observed.bounds, math.inf)
    for bound, count, exemplar in zip(bounds, observed.buckets, observed.exemplars, strict=True):
        cumulative += count
        le = "+Inf" if bound == math.inf else repr(float(bound))
        if exemplar is None:
            buckets.append((le, float(cumulative)))
        else:
            buckets.append((le, float(cumulative), Exemplar({"task_id": exemplar[0]}, exemplar[1], exemplar[2])))
    return buckets
