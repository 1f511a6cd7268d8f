"""Taking a refresh's answers into the task table, and judging each target by them (`up`).

The refresh in flight collects its answers in an `Arrivals`; they are taken in as they come (early,
while the last queries are out, or by a scrape whose deadline came first) and at the refresh's end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from exporter.cloud.errors import ApiError
from exporter.log import repeated
from exporter.model import Reason, TaskStatus
from exporter.tracking.refresh import Answer, Deadline
from exporter.tracking.table import Key, Refresh, TaskTable

__all__ = ["EARLY_TAKE_MARGIN", "EARLY_TAKE_PER_ANSWER", "Arrivals", "judge", "refresh_of", "take_answers"]

log = structlog.get_logger(__name__)

# The early take (answers taken in and rendered while a refresh's last queries are out) holds the event
# loop: about 50 us per answer here, most of it rendering a changed task. It is done only when the
# refresh's deadline leaves a second plus four times that, so that answers that come meanwhile are
# still read in time.
EARLY_TAKE_MARGIN = 1.0
EARLY_TAKE_PER_ANSWER = 200e-6

Outcomes = dict[Key, list[TaskStatus | ApiError]]
TakeAnswers = Callable[[list[Answer], Outcomes, dict[Key, float]], None]


@dataclass
class Arrivals:
    """The refresh in flight: the answers arrived so far (taken in by the refresh, or earlier by a caller
    whose deadline came first), and what they say of each target."""

    arrived: list[Answer] = field(default_factory=list)
    taken: int = 0
    outcomes: Outcomes = field(default_factory=dict)
    finished: dict[Key, float] = field(default_factory=dict)

    def take(self, take_answers: TakeAnswers) -> bool:
        """Take in the answers that arrived since the last take; whether there were any."""
        answers, self.taken = self.arrived[self.taken :], len(self.arrived)
        if answers:
            take_answers(answers, self.outcomes, self.finished)
        return bool(answers)

    def take_early(self, deadline: Deadline, take: Callable[[], None], on_early_take: Callable[[], None]) -> None:
        """Every query is out: what has arrived is taken in now (`take`), while the poll waits for the rest
        (the scrape's answer is then mostly ready when the last one comes), unless the deadline is near."""
        waiting = len(self.arrived) - self.taken
        if not waiting or deadline.left() < EARLY_TAKE_MARGIN + waiting * EARLY_TAKE_PER_ANSWER:
            return
        taken = self.taken
        try:
            take()
        except Exception:  # a callback of the loop: say it here, and leave the answers to the refresh's end
            self.taken = taken  # taken in again there (and failing the refresh, as before, if the bug stays)
            repeated(log.exception, "taking answers in early failed; the refresh takes them in when it ends")
            return
        try:
            on_early_take()
        except Exception:
            repeated(log.exception, "rendering answers early failed; the scrape renders them")


def take_answers(
    table: TaskTable, answers: list[Answer], outcomes: Outcomes, finished: dict[Key, float], now: float
) -> None:
    """Record `answers` in the table; note each target's outcomes and when its last answer came."""
    record = table.record
    for answer in answers:
        if record(answer.key, answer.task_id, answer.result, now) is None:
            continue  # no longer tracked: it, or its target, left while the query was out
        outcomes.setdefault(answer.key, []).append(answer.result)
        if answer.at > finished.get(answer.key, 0.0):
            finished[answer.key] = answer.at
        if isinstance(answer.result, ApiError):
            log.debug(
                "task query failed",
                **table.target(answer.key).labels(),
                task_id=answer.task_id,
                error=answer.result.describe(),
            )


def refresh_of(results: list[TaskStatus | ApiError], duration: float, now: float) -> Refresh:
    """A refresh as the landing page shows it: asked, answered, failed, and the first failure's cause."""
    failures = [r for r in results if isinstance(r, ApiError)]
    cause = failures[0].describe() if failures else ""
    return Refresh(now, duration, len(results), len(results) - len(failures), len(failures), cause)


def judge(table: TaskTable, key: Key, results: list[TaskStatus | ApiError], duration: float, now: float) -> None:
    """Up when nothing was to be asked or at least one query got an answer from the API."""
    # What the exporter held back for its own reasons (a 429 back-off, the deadline, the rate limit)
    # says nothing about the API: a target whose requests were all held back so keeps the `up` of its
    # last real attempt. A hold after refused credentials is the account's outage, and counts.
    attempts = [r for r in results if not isinstance(r, ApiError) or r.sent or r.reason is Reason.AUTH]
    up = not attempts or any(not isinstance(r, ApiError) or r.reason is Reason.NOT_FOUND for r in attempts)
    if results and not attempts:
        up = table.is_up(key)
    refresh = refresh_of(results, duration, now)
    was_up = table.judged(key, up, duration, now, attempted=bool(attempts) or not results, refresh=refresh)
    if was_up != up:
        _say_turn(table.target(key).labels(), up, results)


def _say_turn(labels: dict[str, str], up: bool, results: list[TaskStatus | ApiError]) -> None:
    if up:
        log.info("target up again", **labels)
        return
    failures = [r for r in results if isinstance(r, ApiError)]
    log.warning(
        "target down: no query succeeded",
        **labels,
        failed=len(failures),
        reasons=sorted({f.reason.value for f in failures}),
        example=failures[0].describe(),
    )
