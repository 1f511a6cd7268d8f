"""The tracker: one refresh after another, each turning what the cloud said into the task table, and
a frozen snapshot published after each refresh or probe.

Tasks come from four sources: `static` (the config), `file` (task files), `discovered` (the list APIs
of service specs with `discover`) and `probe` (`/probe` requests). A refresh takes in the task files,
runs the list calls that are due, asks for every task that is not final and not answered by a list,
concurrently within one deadline, and then records the answers. What does not answer in time keeps its
last known value. Concurrent scrapes share one refresh. The table's rules (TTLs, caps, not-found) are
in `table.py`; the I/O in `refresh.py`; taking in task files and list items in `intake.py`.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

import structlog

from exporter.cloud.errors import ApiError
from exporter.config import Config, TargetConfig, TrackingSettings
from exporter.log import repeated
from exporter.model import Shard, TaskStatus
from exporter.services import UnknownStatuses
from exporter.tracking.answers import (
    EARLY_TAKE_MARGIN,
    EARLY_TAKE_PER_ANSWER,
    Arrivals,
    judge,
    refresh_of,
    take_answers,
)
from exporter.tracking.due import Saved, Scrapers, is_due, oldest_first, saved_reason
from exporter.tracking.fanout import IdentityQuerier
from exporter.tracking.files import FileProblem
from exporter.tracking.finder import Finder, Found
from exporter.tracking.history import History
from exporter.tracking.intake import Add, FileIntake, take_listing
from exporter.tracking.probes import ProbeDesk
from exporter.tracking.refresh import Answer, Deadline, Listing, Querier, poll
from exporter.tracking.table import (
    Added,
    Dropped,
    DropReason,
    Key,
    Refresh,
    Snapshot,
    Source,
    TargetSnapshot,
    TaskRecord,
    TaskTable,
)

__all__ = [
    "EARLY_TAKE_MARGIN",
    "EARLY_TAKE_PER_ANSWER",
    "JUDGE_SLACK",
    "RECENT_REFRESHES",
    "Saved",
    "Tracker",
    "tracked_counts",
]

RECENT_REFRESHES = 100  # refreshes kept for the landing page, and failed ones as many again

log = structlog.get_logger(__name__)

# A scrape waits this much past its budget for the refresh to record its results before rendering.
JUDGE_SLACK = 0.2


def tracked_counts(target: TargetSnapshot) -> dict[str, int]:
    return {source.value: count for source, count in target.tracked().items()}


def say_left(table: TaskTable, dropped: Iterable[Dropped]) -> None:
    """One log line per target for the tasks that left the output, by reason."""
    by_target: dict[Key, Counter[str]] = {}
    for d in dropped:
        by_target.setdefault(d.key, Counter())[d.reason.value] += 1
    for key, gone in by_target.items():
        # Every refresh and probe expires: a steady flow of tasks would say this on each.
        repeated(log.info, "tasks left the output", key, **table.target(key).labels(), **gone)


@dataclasses.dataclass
class Work:
    """A refresh's queries by account, and the asks it saved by (cloud service, reason)."""

    batches: list[list[tuple[TargetConfig, str]]]
    saved: Counter[tuple[str, Saved]]


def work(
    table: TaskTable,
    keys: set[Key],
    tracking: TrackingSettings,
    now: float,
    seen: float | None,
    alone: Mapping[Key, frozenset[str]] | None = None,
) -> Work:
    """The queries of a refresh for the targets `keys`, by account: the tasks that are due (due.py), and
    the listed ones a list refresh leaves to be asked `alone` (relist.py). Each account's go asked longest
    ago first, so that when its budget (the rate limit within the refresh's time) is too short for all of
    them, the ones left out are those asked last, and first the next time. `seen`: when this scraper's last
    refresh ended (None: never), to tell a shared answer."""
    by_account: dict[str, list[tuple[float, TargetConfig, str]]] = {}
    saved: Counter[tuple[str, Saved]] = Counter()
    alone = alone or {}
    for key in table.target_keys():
        if key not in keys:
            continue
        target = table.target(key)
        extra = alone.get(key, frozenset())
        for record in table.records(key):
            if not record.wanted and record.task_id not in extra:
                continue
            if record.task_id in extra or is_due(tracking, target, record, now):
                by_account.setdefault(target.account, []).append((oldest_first(record), target, record.task_id))
            else:
                saved[(target.cloud_service, saved_reason(record, seen))] += 1
    batches = [
        [(target, task_id) for _, target, task_id in sorted(items, key=lambda i: i[0])] for items in by_account.values()
    ]
    return Work(batches, saved)


def take_listings(
    table: TaskTable,
    listings: Iterable[Listing],
    add: Add,
    arrivals: Arrivals,
    now: float,
    config: Config,
    unknown: UnknownStatuses,
) -> None:
    """Take in what the list calls found, as the refresh's first arrivals."""
    for listing in listings:
        taken = take_listing(
            table, listing, add, now=now, finished_ttl=config.tracking.finished_ttl, unknown=unknown.note
        )
        arrivals.outcomes.setdefault(listing.key, []).extend(taken)
        arrivals.finished[listing.key] = listing.at


def count_dropped(dropped: Iterable[Dropped], on_drop: Callable[[str, DropReason, int], None]) -> bool:
    """Hand the drops to `on_drop` by cloud service and reason; whether there were any."""
    counts = Counter((d.cloud_service, d.reason) for d in dropped)
    for (service, reason), count in counts.items():
        on_drop(service, reason, count)
    return bool(counts)


class Tracker:
    def __init__(
        self,
        config: Config,
        client: Querier,
        *,
        clock: Callable[[], float] = time.time,
        on_drop: Callable[[str, DropReason, int], None] = lambda service, reason, count: None,
        on_file_error: Callable[[FileProblem], None] = lambda reason: None,
        unknown: UnknownStatuses | None = None,
        shard: Shard | None = None,
        on_early_take: Callable[[], None] = lambda: None,
        on_saved: Callable[[str, Saved, int], None] = lambda service, reason, count: None,
    ) -> None:
        """`clock` is the exporter's one wall clock (task ages, TTLs); tests share the fake cloud's.
        `on_early_take` is called when a refresh's last query is out and the answers before it are taken
        in (and published): the exporter renders their text then, while the last answers come.
        `on_saved` counts the asks a refresh saved (tasks not due), by cloud service and reason."""
        self._clock, self._on_drop, self._on_file_error = clock, on_drop, on_file_error
        self._on_saved = on_saved
        self._seen = Scrapers(clock)
        self._on_early_take = on_early_take
        self._config, self._client = config, IdentityQuerier(client)
        self._unknown = unknown or UnknownStatuses()
        # Completions, durations and the latest per resource: counted from the process's start.
        self.history = History(config.history, started=clock())
        self._table = TaskTable(config.tracking, shard, self.history)
        self._inflight: asyncio.Future[None] | None = None
        self._files = FileIntake(on_file_error, clock)
        self._finder = Finder()
        self._probes = ProbeDesk(self._table, clock, self._add, self._expire, self._publish, self._finder.parents.shown)
        self._arrivals = Arrivals()  # the refresh in flight's answers
        self.snapshot = Snapshot()
        self._recent: collections.deque[Refresh] = collections.deque(maxlen=RECENT_REFRESHES)
        self._failed: collections.deque[Refresh] = collections.deque(maxlen=RECENT_REFRESHES)
        self.apply(config)

    # --- configuration and sources ---------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @property
    def targets(self) -> tuple[TargetSnapshot, ...]:  # as the last refresh or probe left them
        return self.snapshot.targets

    def apply(self, config: Config) -> None:
        """Track the targets of `config`; tasks it still names keep what is known about them, and so do
        the file, discovered and probe tasks of targets that remain."""
        self._config = config
        self.history.settings = config.history  # new buckets for new series; the counts stay
        self._count(self._table.apply(config, self._clock()))
        self._files.apply(config)
        self._finder.apply(config)
        self._publish()

    def use_client(self, client: Querier) -> None:
        """Send the next refreshes through `client` (after a reload built a new one)."""
        self._client = IdentityQuerier(client)

    def use(self, config: Config, client: Querier) -> None:
        """A reload's new configuration and its client; a refresh in flight goes on with the old pair."""
        self.apply(config)
        self.use_client(client)

    def _count(self, dropped: Iterable[Dropped], *, made_room: bool = True) -> None:
        if count_dropped(dropped, self._on_drop) and made_room:
            self._files.stale()  # a file task refused for lack of room may fit now

    def _add(self, key: Key, task_id: str, source: Source, *, force: bool = False) -> TaskRecord | None:
        added: Added = self._table.add(key, task_id, source, self._clock(), force=force)
        # A refusal made no room: taking the files in again would only refuse (and count) them again.
        self._count(added.dropped, made_room=added.record is not None)
        if added.refused_first:  # said once; huaweicloud_task_dropped_total counts the rest
            log.warning(
                "max_tasks reached and no finished task to make room; new tasks are not tracked",
                **self._table.target(key).labels(),
                task_id=task_id,
                source=source.value,
                max_tasks=self._config.tracking.max_tasks,
            )
        return added.record

    def _expire(self, keys: Iterable[Key] | None = None) -> None:
        self.history.expire(self._clock())
        dropped = self._table.expire(self._clock(), keys)
        self._count(dropped)
        say_left(self._table, dropped)

    async def settle_files(self) -> None:
        """Check the task files now and take them in (at start, so the first scrape sees their tasks)."""
        await self._files.files.check_now()
        self._files.sync(self._table, self._add)
        self._publish()

    def files_due(self) -> None:
        """Check the task files at the next refresh, whatever the interval (tests, and after a reload)."""
        self._files.files.due()

    def _publish(self) -> None:
        history = sorted({id(r): r for r in (*self._recent, *self._failed)}.values(), key=lambda r: -r.at)
        snapshot = self._finder.parents.shown(self._table.snapshot())
        self.snapshot = dataclasses.replace(snapshot, refreshes=tuple(history))

    def push(self, key: Key, job_id: str) -> bool:
        """Track a job a pushed notice names (source `pushed`): due at once, its state from the status API.
        False when the table refused it (no room, or retired here before)."""
        if key not in self._table.target_keys():
            return False
        added = self._table.get(key, job_id) is not None or self._add(key, job_id, Source.PUSHED) is not None
        self._publish()
        return added

    # --- /probe and refresh ----------------------------------------------------------------------

    async def probe(self, key: Key, task_id: str, timeout: float) -> tuple[TargetSnapshot, TaskRecord | None, bool]:
        """Answer for one task now (blackbox style): (target, record, up); see `ProbeDesk.probe`."""
        return await self._probes.probe(self._client, key, task_id, timeout)

    async def refresh(self, timeout: float, budget: float | None = None, *, scraper: str = "") -> None:
        """Bring every due task up to date (due.py), joining a refresh in flight; wait at most `timeout`.
        `scraper` names the caller (its address), to tell the answers another scraper's refresh brought.

        A refresh that this call starts gets `budget` seconds (default `timeout`): the exporter gives it
        a budget of its own from the configuration, so that whoever arrives first does not set it for
        everyone. Each caller waits only up to its own timeout and then sees what has answered by then;
        the shared refresh goes on within its own deadline, whatever happens to the caller.
        """
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(
                self._refresh(timeout if budget is None else budget, self._seen.last(scraper))
            )
        self._inflight.add_done_callback(lambda _: self._seen.saw(scraper))
        # Shielded: a scrape that Prometheus abandons must not cancel the refresh a second scrape awaits.
        try:
            await asyncio.wait_for(asyncio.shield(self._inflight), timeout + JUDGE_SLACK)
        except TimeoutError:
            self._take_arrived()  # render what is known now; the refresh takes in the rest when it ends

    async def wait_idle(self) -> None:
        """Wait for the refresh and the probe queries in flight (before their client is closed)."""
        pending = [f for f in (self._inflight, *self._probes.queries.values()) if f is not None and not f.done()]
        if pending:
            await asyncio.wait(pending)

    async def _refresh(self, timeout: float, seen: float | None = None) -> None:
        deadline = Deadline.after(timeout)
        # A reload mid-refresh must not mix the old targets with a new client: this refresh asks only
        # for the targets of the configuration its client was built for.
        client, config = self._client, self._config
        started = time.perf_counter()
        self._files.sync(self._table, self._add)
        arrivals = self._arrivals = Arrivals()
        discovery = deadline.sooner(max(1.0, timeout / 3))
        found: Found = await self._finder.discover(
            client, self._table, config, discovery, started, self._clock(), self._add, seen
        )
        take_listings(self._table, found.listings, self._add, arrivals, self._clock(), self._config, self._unknown)
        keys = {t.key for t in config.targets}
        todo = work(self._table, keys, config.tracking, self._clock(), seen, found.alone)
        for (service, reason), count in (todo.saved + found.saved).items():
            self._on_saved(service, reason, count)
        await poll(
            client,
            todo.batches,
            deadline,
            concurrency=self._config.scrape.concurrency,
            first_budget=max(1.0, timeout / 4),
            started=started,
            into=arrivals.arrived,
            on_all_sent=lambda: arrivals.take_early(deadline, self._take_arrived, self._on_early_take),
        )
        self._take_arrived()
        self._close(arrivals, started)
        # Taken in: this refresh's answers are the records' now (thousands of them, not kept twice).
        self._arrivals = Arrivals()

    def _close(self, arrivals: Arrivals, started: float) -> None:
        """Judge each target by what this refresh found, remember the refresh, expire and publish."""
        outcomes, finished = arrivals.outcomes, arrivals.finished
        for key in self._table.target_keys():
            judge(self._table, key, outcomes.get(key, []), finished.get(key, 0.0), self._clock())
        results = [r for key in self._table.target_keys() for r in outcomes.get(key, [])]
        refresh = refresh_of(results, time.perf_counter() - started, self._clock())
        self._recent.append(refresh)
        if refresh.failed:
            self._failed.append(refresh)
        self._expire()
        self._publish()

    def _take_arrived(self) -> None:
        """Record the answers that arrived since the last take, and publish them."""
        if self._arrivals.take(self._take_answers):
            self._publish()

    def _take_answers(
        self, answers: list[Answer], outcomes: dict[Key, list[TaskStatus | ApiError]], finished: dict[Key, float]
    ) -> None:
        take_answers(self._table, answers, outcomes, finished, self._clock())
