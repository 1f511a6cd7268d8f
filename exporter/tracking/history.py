"""What finished, over time: the data behind the history-grade families (issue 20), which outlive the
per-task series (those leave `finished_ttl` after a task finished).

- **Completions**, counted once per task and process when the exporter first learns the task is final,
  by (account, cloud_service, region, project_id, job_type, state), whatever source named the task.
  A task first seen already final counts when it ended after this process started (a short job found
  by discovery after it ended), or, without an end time, only if this process saw it unfinished: so a
  restart recounts nothing. A series is born at 0 for the three final states when its job type is
  first seen; a completion of a series not yet shown waits for the next collection, so that
  `increase()` sees it (a series born at 1 has no earlier sample to compare with).
- **Durations**, end - start of each counted completion, in a histogram of the same labels, with the
  task's ID as the exemplar of its bucket; and where the service gives a creation time apart from the
  start (CBR), the time it waited, start - created, in a second one.
- **Latest per resource**: the end time of the latest task in each final state per (target, job_type,
  resource_id); tasks without a resource are keyed by job type alone. Kept `retention` after that end,
  at most `max_resources` of them, the one updated longest ago dropped first.

Pure and synchronous, as the task table: every call is told `now`, nothing is logged; what it dropped
is counted in `dropped_resources`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field

from exporter.config import HistorySettings, TargetConfig
from exporter.model import FINAL_STATES, State, TaskStatus

__all__ = ["Completion", "History", "ResourceKey", "SeriesKey"]

# account, cloud_service, region, project_id, job_type, state
SeriesKey = tuple[str, str, str, str, str, str]
# account, cloud_service, region, project_id, job_type, resource_id, state
ResourceKey = tuple[str, str, str, str, str, str, str]
_FINAL = tuple(sorted(s.value for s in FINAL_STATES))
_UNFINISHED = (State.PENDING, State.RUNNING)
WAITING_MAX = 100  # completions a series not yet shown holds back at most


@dataclass
class Observed:
    """One histogram's series: observations per bucket (not cumulative, +Inf last), their sum, and per
    bucket the latest observation as its exemplar (task_id, value, when)."""

    bounds: tuple[float, ...]  # the buckets' upper bounds, +Inf left implicit
    buckets: list[int] = field(default_factory=list)
    total: float = 0.0
    exemplars: list[tuple[str, float, float] | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.buckets = [0] * (len(self.bounds) + 1)
        self.exemplars = [None] * (len(self.bounds) + 1)

    def observe(self, task_id: str, value: float, when: float) -> None:
        slot = bisect.bisect_left(self.bounds, value)
        self.buckets[slot] += 1
        self.total += value
        self.exemplars[slot] = (task_id, value, when)


@dataclass
class Completion:
    """One series of the completions counter and its two histograms: the duration (end - start) and,
    where the service gives a creation time apart from the start, the wait (start - created)."""

    bounds: tuple[float, ...]
    count: int = 0  # completions shown
    durations: Observed = field(init=False)
    waits: Observed = field(init=False)
    shown: bool = False  # collected at least once: a completion may show at once
    waiting: list[tuple[str, float | None, float | None, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.durations, self.waits = Observed(self.bounds), Observed(self.bounds)

    def add(self, task_id: str, duration: float | None, wait: float | None, when: float) -> None:
        if not self.shown:
            self.waiting.append((task_id, duration, wait, when))
            if len(self.waiting) >= WAITING_MAX:  # nobody scrapes /metrics (only /probe): no need to wait
                self.collected()
            return
        self.count += 1
        if duration is not None:  # counted, but no duration to observe without a start and an end
            self.durations.observe(task_id, duration, when)
        if wait is not None:
            self.waits.observe(task_id, wait, when)

    def collected(self) -> None:
        """This series was shown: what waited for that is applied (shown by the next collection)."""
        self.shown = True
        waiting, self.waiting = self.waiting, []
        for task_id, duration, wait, when in waiting:
            self.add(task_id, duration, wait, when)


class History:
    def __init__(self, settings: HistorySettings, started: float) -> None:
        """`started`: the wall-clock time this process started; a task that ended before it is not
        counted (its completion belongs to an earlier process)."""
        self.settings, self.started = settings, started
        self.completions: dict[SeriesKey, Completion] = {}
        self.resources: dict[ResourceKey, float] = {}  # -> end time of the latest task
        self.dropped_resources = 0
        # Tasks counted (or judged to belong to an earlier process), by (cloud_service, region,
        # project_id, task_id): a task named by several targets or sources counts once.
        self._judged: dict[tuple[str, str, str, str], float] = {}
        self._next_expiry = 0.0

    def answered(
        self, target: TargetConfig, task_id: str, before: TaskStatus | None, after: TaskStatus, now: float
    ) -> None:
        """A tracked task's new status, `before` the one it replaces (None: its first answer here)."""
        labels = (target.account, target.cloud_service, target.region, target.project_id, after.job_type)
        if (*labels, _FINAL[0]) not in self.completions:
            bounds = self.settings.buckets_for(target.cloud_service)
            for state in _FINAL:
                self.completions[(*labels, state)] = Completion(bounds)
        if not after.final:
            return
        if after.end is not None:
            self._latest((*labels, after.resource_id, after.state.value), after.end, now)
        if before is not None and before.final:
            return  # not news
        task = (target.cloud_service, target.region, target.project_id, task_id)
        if task in self._judged:
            return
        self._judged[task] = now
        seen_unfinished = before is not None and before.state in _UNFINISHED
        if not seen_unfinished and (after.end is None or after.end < self.started):
            return  # it finished before this process: an earlier one counted it
        series = self.completions[(*labels, after.state.value)]
        series.add(task_id, _since(after.start, after.end), _since(after.created, after.start), now)

    def _latest(self, key: ResourceKey, end: float, now: float) -> None:
        if end <= self.resources.get(key, float("-inf")):
            return
        if now - end > self.settings.retention:
            return  # older than what is kept
        self.resources.pop(key, None)
        self.resources[key] = end  # the dict's order: least recently updated first
        if len(self.resources) > self.settings.max_resources:
            del self.resources[next(iter(self.resources))]
            self.dropped_resources += 1

    def expire(self, now: float) -> None:
        """Forget resources whose latest end is older than the retention, and tasks judged that long ago
        (looked at once a minute: there may be 100,000 of them)."""
        if now < self._next_expiry:
            return
        self._next_expiry = now + 60
        horizon = now - self.settings.retention
        for key in [k for k, end in self.resources.items() if end < horizon]:
            del self.resources[key]
        for task in [t for t, when in self._judged.items() if when < horizon]:
            del self._judged[task]

    def collected(self) -> None:
        """After a collection: every series has been shown once, what waited for that applies."""
        for series in self.completions.values():
            if not series.shown or series.waiting:
                series.collected()

    def series(self) -> Iterator[tuple[SeriesKey, Completion]]:
        return iter(self.completions.items())


def _since(earlier: float | None, later: float | None) -> float | None:
    return max(later - earlier, 0.0) if earlier is not None and later is not None else None
