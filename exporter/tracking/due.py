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
scrape and not every third one.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.config import TargetConfig, TrackingSettings
from exporter.tracking.table import TaskRecord

__all__ = ["AGE_DIVISOR", "JITTER_ROOM", "MAX_SCRAPERS", "Scrapers", "is_due", "poll_interval"]

AGE_DIVISOR = 10.0  # a task that has run 10 minutes is asked once a minute (between the base and the max)
JITTER_ROOM = 0.9  # due at this share of its interval
MAX_SCRAPERS = 64  # scrapers (by address) whose last refresh is remembered, to tell a shared answer


def poll_interval(tracking: TrackingSettings, target: TargetConfig, record: TaskRecord, now: float) -> float:
    """The least time between two asks of the task `record` of `target` at `now`."""
    base = tracking.poll_interval_for(target.cloud_service, target.spec.poll_interval)
    if base <= 0:
        return 0.0
    status = record.status
    began = None if status is None else (status.start or status.created)
    if began is None:
        began = record.first_seen
    age = max(now - began, 0.0) if began is not None else 0.0
    return min(max(age / AGE_DIVISOR, base), max(base, tracking.max_poll_interval))


def is_due(tracking: TrackingSettings, target: TargetConfig, record: TaskRecord, now: float) -> bool:
    """Whether a scrape at `now` asks the task (it is `wanted`: not final, not listed, not a probe's)."""
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
