"""When a task is asked again: its poll interval, and whether a scrape finds it due (README, "Poll
intervals").

Polls stay scrape-driven: a scrape asks only the tasks that are due and serves the last answer of the
others, so no scrape waits for a poll it does not need, and an answer younger than its interval serves
every scraper (an HA pair of Prometheus servers costs what one does).

The interval of a task is `clamp(age / 10, base, max(base, tracking.max_poll_interval))`, where `base`
is the service's poll interval (`tracking.poll_intervals`, else the spec's `poll_interval` hint, else
`tracking.poll_interval`) and `age` the time since the task started (its creation time, else since the
exporter first saw it). A base of 0 asks on every scrape. A task is due when it was never answered,
when it is to be asked again, or when its last answer is at least nine tenths of its interval old: the
tenth leaves room for the scrape's own jitter, so that a scrape every 15 s asks a 30 s task every other
scrape and not every third one. A task whose last ask failed (an error, a timeout, a 429, a not-found:
the request reached the cloud) is due again one base interval after that ask, not at every scrape of
every scraper; one held back (never sent) stays due at once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from exporter.config import TargetConfig, TrackingSettings
from exporter.tracking.table import TaskRecord

__all__ = [
    "AGE_DIVISOR",
    "JITTER_ROOM",
    "MAX_SCRAPERS",
    "Saved",
    "Scrapers",
    "began",
    "earliest",
    "failed_lately",
    "is_due",
    "oldest_first",
    "poll_interval",
    "saved_reason",
]

AGE_DIVISOR = 10.0  # a task that has run 10 minutes is asked once a minute (between the base and the max)
JITTER_ROOM = 0.9  # due at this share of its interval
MAX_SCRAPERS = 64  # scrapers (by address) whose last refresh is remembered, to tell a shared answer


class Saved(enum.StrEnum):
    """Why a task was not asked on a refresh: the `reason` label of `huaweicloud_task_api_calls_saved_total`."""

    INTERVAL = "interval"  # its last answer is younger than its poll interval
    SHARED = "shared"  # ... and came after this scraper's last refresh: another scraper's (or a probe's)
    LIST = "list"  # a list call refreshed it with others (fewer calls than asking each)


def began(record: TaskRecord) -> float | None:
    """When the task began, for its age: its start time, else its creation, else when the exporter first
    saw it."""
    status = record.status
    start = None if status is None else (status.start or status.created)
    return start if start is not None else record.first_seen


def earliest(record: TaskRecord) -> float | None:
    """The earliest time known of the task (creation, start, first seen): where a list's window must
    begin to show it."""
    status = record.status
    times = [t for t in (None if status is None else status.created, None if status is None else status.start) if t]
    if record.first_seen is not None:
        times.append(record.first_seen)
    return min(times) if times else None


def oldest_first(record: TaskRecord) -> float:
    """The order in which due tasks are asked (README, "A budget per account"): the task asked longest
    ago first (answered or failed; a held-back request was not asked), one never asked by when it was first
    seen. Not by its last answer: a task whose asks keep failing would go first at every refresh and take
    a short budget from the others for ever."""
    for when in (record.last_asked, record.last_update, record.first_seen):
        if when is not None:
            return when
    return 0.0


def saved_reason(record: TaskRecord, seen: float | None) -> Saved:
    """Why a task that is not due was not asked by a scraper whose last refresh ended at `seen` (None:
    never): its last answer came after that (another scraper's) or before (its interval)."""
    fresher = seen is None or (record.last_update or 0.0) > seen
    return Saved.SHARED if fresher else Saved.INTERVAL


def poll_interval(tracking: TrackingSettings, target: TargetConfig, record: TaskRecord, now: float) -> float:
    """The least time between two asks of the task `record` of `target` at `now`."""
    base = tracking.poll_interval_for(target.cloud_service, target.spec.poll_interval)
    if base <= 0:
        return 0.0
    start = began(record)
    age = max(now - start, 0.0) if start is not None else 0.0
    return min(max(age / AGE_DIVISOR, base), max(base, tracking.max_poll_interval))


def failed_lately(tracking: TrackingSettings, target: TargetConfig, record: TaskRecord, now: float) -> bool:
    """Whether the task's last ask reached the cloud and failed less than (nine tenths of) its service's
    base interval ago: asked again after that, as any ask, not on every scrape (a throttling or failing
    cloud is not asked harder, and an HA pair does not double it)."""
    error, asked = record.last_error, record.last_asked
    if error is None or not error.sent or asked is None:
        return False
    base = tracking.poll_interval_for(target.cloud_service, target.spec.poll_interval)
    return now - asked < base * JITTER_ROOM


def is_due(tracking: TrackingSettings, target: TargetConfig, record: TaskRecord, now: float) -> bool:
    """Whether a scrape at `now` asks the task (it is `wanted`: not final, not listed, not a probe's)."""
    if failed_lately(tracking, target, record, now):
        return False
    if record.last_update is None or record.ask_again:
        return True
    interval = poll_interval(tracking, target, record, now)
    return interval <= 0 or now - record.last_update >= interval * JITTER_ROOM


class Scrapers:
    """When the last refresh each scraper (its address) waited for ended: an answer after that is
    another's, `shared`. Bounded: the scraper seen longest ago is forgotten first."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._ended: dict[str, float] = {}

    def last(self, scraper: str) -> float | None:
        return self._ended.get(scraper)

    def saw(self, scraper: str) -> None:
        self._ended.pop(scraper, None)
        self._ended[scraper] = self._clock()
        while len(self._ended) > MAX_SCRAPERS:
            del self._ended[next(iter(self._ended))]
