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
from collections.abc import Callable, Iterable
from dataclasses import replace

import structlog

from exporter.cloud.errors import ApiError
from exporter.config import Config, TargetConfig
from exporter.log import repeated
from exporter.model import Reason, Shard, TaskStatus
from exporter.services import DiscoverySpec, UnknownStatuses
from exporter.tracking.files import FileProblem
from exporter.tracking.history import History
from exporter.tracking.intake import FileIntake, discovery_due, take_listing
from exporter.tracking.refresh import Answer, Deadline, Listing, Querier, list_calls, list_target, poll
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
    answered,
)
from exporter.tracking.traces import CTS, TraceSource, job_ids, trace_calls, trace_sources

__all__ = ["JUDGE_SLACK", "RECENT_REFRESHES", "Tracker", "tracked_counts"]

RECENT_REFRESHES = 100  # refreshes kept for the landing page, and failed ones as many again

log = structlog.get_logger(__name__)

# A scrape waits this much past its budget for the refresh to record its results before rendering.
JUDGE_SLACK = 0.2
# The early take (answers taken in and rendered while a refresh's last queries are out) holds the event
# loop: about 50 us per answer here, most of it rendering a changed task. It is done only when the
# refresh's deadline leaves a second plus four times that, so that answers that come meanwhile are
# still read in time.
EARLY_TAKE_MARGIN = 1.0
EARLY_TAKE_PER_ANSWER = 200e-6


def tracked_counts(target: TargetSnapshot) -> dict[str, int]:
    return {source.value: count for source, count in target.tracked().items()}


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
    ) -> None:
        """`clock` is the exporter's one wall clock (task ages, TTLs); tests share the fake cloud's.
        `on_early_take` is called when a refresh's last query is out and the answers before it are taken
        in (and published): the exporter renders their text then, while the last answers come."""
        self._clock, self._on_drop, self._on_file_error = clock, on_drop, on_file_error
        self._on_early_take = on_early_take
        self._config, self._client = config, client
        self._unknown = unknown or UnknownStatuses()
        # Completions, durations and the latest per resource: counted from the process's start.
        self.history = History(config.history, started=clock())
        self._table = TaskTable(config.tracking, shard, self.history)
        self._inflight: asyncio.Future[None] | None = None
        self._rotation = 0
        self._files = FileIntake(on_file_error, clock)
        self._probes: dict[tuple[Key, str], asyncio.Future[TaskStatus | ApiError]] = {}
        # The refresh in flight: the answers arrived so far (taken in by the refresh, or earlier by a
        # caller whose deadline came first), and what they say of each target.
        self._arrived: list[Answer] = []
        self._taken = 0
        self._outcomes: dict[Key, list[TaskStatus | ApiError]] = {}
        self._finished: dict[Key, float] = {}
        self.snapshot = Snapshot()
        self._traces: list[TraceSource] = []
        self._trace_due: dict[Key, float] = {}  # CTS discovery, by (account, "cts", region, project)
        self._trace_turn = 0
        self._recent: collections.deque[Refresh] = collections.deque(maxlen=RECENT_REFRESHES)
        self._failed: collections.deque[Refresh] = collections.deque(maxlen=RECENT_REFRESHES)
        self.apply(config)

    # --- configuration and sources ---------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @property
    def targets(self) -> tuple[TargetSnapshot, ...]:
        """The targets as the last refresh or probe left them."""
        return self.snapshot.targets

    def apply(self, config: Config) -> None:
        """Track the targets of `config`; tasks it still names keep what is known about them, and so do
        the file, discovered and probe tasks of targets that remain."""
        self._config = config
        self.history.settings = config.history  # new buckets for new series; the counts stay
        self._count(self._table.apply(config, self._clock()))
        self._files.apply(config)
        self._traces, problems = trace_sources(config)
        for problem in problems:
            log.warning("Cloud Trace Service discovery is off for this account and region", problem=problem)
        self._publish()

    def use_client(self, client: Querier) -> None:
        """Send the next refreshes through `client` (after a reload built a new one)."""
        self._client = client

    def use(self, config: Config, client: Querier) -> None:
        """A reload's new configuration and the client built for it; a refresh in flight goes on with the
        old pair, which it took at its start."""
        self.apply(config)
        self._client = client

    def _count(self, dropped: Iterable[Dropped], *, made_room: bool = True) -> None:
        counts = Counter((d.cloud_service, d.reason) for d in dropped)
        for (service, reason), count in counts.items():
            self._on_drop(service, reason, count)
        if counts and made_room:
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
        by_target: dict[Key, Counter[str]] = {}
        for d in dropped:
            by_target.setdefault(d.key, Counter())[d.reason.value] += 1
        for key, gone in by_target.items():
            # Every refresh and probe expires: a steady flow of tasks would say this on each.
            repeated(log.info, "tasks left the output", key, **self._table.target(key).labels(), **gone)

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
        self.snapshot = dataclasses.replace(self._table.snapshot(), refreshes=tuple(history))

    def _remember(self, refresh: Refresh) -> None:
        self._recent.append(refresh)
        if refresh.failed:
            self._failed.append(refresh)

    # --- /probe ----------------------------------------------------------------------------------

    async def probe(self, key: Key, task_id: str, timeout: float) -> tuple[TargetSnapshot, TaskRecord | None, bool]:
        """Answer for one task now (blackbox style): (target, record, up). A final task is answered from
        memory. A task no other source tracks is stored (as `probe`, with a cap of its own, until it is
        no longer probed for probe_ttl) only once the cloud has answered for it; concurrent probes of
        the same task share one query."""
        self._expire([key])  # when Prometheus scrapes only /probe, tasks must still age out
        target = self._table.target(key)
        record = self._table.get(key, task_id)
        if record is not None:
            self._table.update(key, record := replace(record, last_probe=self._clock()))
            if record.final or record.listed:
                self._publish()
                return self._target_snapshot(key), record, True
        query = self._probes.get((key, task_id))
        if query is None:
            query = asyncio.ensure_future(self._client.query(target, task_id, timeout))
            self._probes[(key, task_id)] = query
            query.add_done_callback(lambda _done: self._probes.pop((key, task_id), None))
        before = self._target_snapshot(key)
        result = await asyncio.shield(query)
        up = not isinstance(result, ApiError) or result.reason is Reason.NOT_FOUND
        if key not in self._table.target_keys():
            # The target left with a reload while the query was out: answer it, store nothing.
            return before, answered(record or TaskRecord(task_id, Source.PROBE), result, self._clock()), up
        if record is None and isinstance(result, ApiError):
            # Nothing known and nothing stored: a made-up ID must not take a slot.
            transient = answered(TaskRecord(task_id, Source.PROBE), result, self._clock())
            return self._target_snapshot(key), transient if transient.status is not None else None, up
        if self._table.get(key, task_id) is None:
            self._add(key, task_id, Source.PROBE, force=True)
        stored = self._table.get(key, task_id)
        if stored is not None:
            self._table.update(key, replace(stored, last_probe=self._clock()))
            stored = self._table.record(key, task_id, result, self._clock())
        self._publish()
        return self._target_snapshot(key), stored, up

    def _target_snapshot(self, key: Key) -> TargetSnapshot:
        return next(t for t in self._table.snapshot().targets if t.target.key == key)

    # --- refresh ---------------------------------------------------------------------------------

    async def refresh(self, timeout: float, budget: float | None = None) -> None:
        """Bring every non-final task up to date, joining a refresh in flight; wait at most `timeout`.

        A refresh that this call starts gets `budget` seconds (default `timeout`): the exporter gives it
        a budget of its own from the configuration, so that whoever arrives first does not set it for
        everyone. Each caller waits only up to its own timeout and then sees what has answered by then;
        the shared refresh goes on within its own deadline, whatever happens to the caller.
        """
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._refresh(timeout if budget is None else budget))
        # Shielded: a scrape that Prometheus abandons must not cancel the refresh a second scrape awaits.
        try:
            await asyncio.wait_for(asyncio.shield(self._inflight), timeout + JUDGE_SLACK)
        except TimeoutError:
            self._take_arrived()  # render what is known now; the refresh takes in the rest when it ends

    async def wait_idle(self) -> None:
        """Wait for the refresh and the probe queries in flight (before their client is closed)."""
        pending = [f for f in (self._inflight, *self._probes.values()) if f is not None and not f.done()]
        if pending:
            await asyncio.wait(pending)

    async def _refresh(self, timeout: float) -> None:
        deadline = Deadline.after(timeout)
        # A reload mid-refresh must not mix the old targets with a new client: this refresh asks only
        # for the targets of the configuration its client was built for.
        client, config = self._client, self._config
        started = time.perf_counter()
        self._files.sync(self._table, self._add)
        outcomes: dict[Key, list[TaskStatus | ApiError]] = {}
        finished: dict[Key, float] = {}
        self._outcomes, self._finished, self._arrived, self._taken = outcomes, finished, [], 0
        listings = await self._discover(client, deadline.sooner(max(1.0, timeout / 3)), started)
        tracking = self._config.tracking
        for listing in listings:
            outcomes.setdefault(listing.key, []).extend(
                take_listing(
                    self._table,
                    listing,
                    self._add,
                    now=self._clock(),
                    finished_ttl=tracking.finished_ttl,
                    unknown=self._unknown.note,
                )
            )
            finished[listing.key] = listing.at
        await poll(
            client,
            self._work({t.key for t in config.targets}),
            deadline,
            concurrency=self._config.scrape.concurrency,
            first_budget=max(1.0, timeout / 4),
            started=started,
            into=self._arrived,
            on_all_sent=lambda: self._take_early(deadline),
        )
        self._take_arrived()
        for key in self._table.target_keys():
            self._judge(key, outcomes.get(key, []), finished.get(key, 0.0))
        results = [r for key in self._table.target_keys() for r in outcomes.get(key, [])]
        failures = [r for r in results if isinstance(r, ApiError)]
        self._remember(
            Refresh(
                self._clock(),
                time.perf_counter() - started,
                len(results),
                len(results) - len(failures),
                len(failures),
                failures[0].describe() if failures else "",
            )
        )
        self._expire()
        self._publish()
        # Taken in: this refresh's answers are the records' now (thousands of them, not kept twice).
        self._arrived, self._taken, self._outcomes, self._finished = [], 0, {}, {}

    def _work(self, keys: set[Key]) -> list[list[tuple[TargetConfig, str]]]:
        """The queries of this refresh for the targets `keys`, by account; the order rotates between
        refreshes, so a budget too short for all tasks does not always leave out the same ones."""
        self._rotation += 1
        by_account: dict[str, list[tuple[TargetConfig, str]]] = {}
        for key in self._table.target_keys():
            if key not in keys:
                continue
            target = self._table.target(key)
            for record in self._table.records(key):
                if record.wanted:
                    by_account.setdefault(target.account, []).append((target, record.task_id))
        work = []
        for items in by_account.values():
            shift = self._rotation % len(items)
            work.append(items[shift:] + items[:shift])
        return work

    def _take_early(self, deadline: Deadline) -> None:
        """Every query is out: what has arrived is taken in now, while the poll waits for the rest (the
        scrape's answer is then mostly ready when the last one comes), unless the deadline is near."""
        waiting = len(self._arrived) - self._taken
        if not waiting or deadline.left() < EARLY_TAKE_MARGIN + waiting * EARLY_TAKE_PER_ANSWER:
            return
        taken = self._taken
        try:
            self._take_arrived()
        except Exception:  # a callback of the loop: say it here, and leave the answers to the refresh's end
            self._taken = taken  # taken in again there (and failing the refresh, as before, if the bug stays)
            repeated(log.exception, "taking answers in early failed; the refresh takes them in when it ends")
            return
        try:
            self._on_early_take()
        except Exception:
            repeated(log.exception, "rendering answers early failed; the scrape renders them")

    def _take_arrived(self) -> None:
        """Record the answers that arrived since the last take, and publish them."""
        answers, self._taken = self._arrived[self._taken :], len(self._arrived)
        if answers:
            self._take_answers(answers, self._outcomes, self._finished)
            self._publish()

    def _take_answers(
        self, answers: list[Answer], outcomes: dict[Key, list[TaskStatus | ApiError]], finished: dict[Key, float]
    ) -> None:
        now = self._clock()
        record = self._table.record
        for answer in answers:
            if record(answer.key, answer.task_id, answer.result, now) is None:
                continue  # no longer tracked: it, or its target, left while the query was out
            outcomes.setdefault(answer.key, []).append(answer.result)
            if answer.at > finished.get(answer.key, 0.0):
                finished[answer.key] = answer.at
            if isinstance(answer.result, ApiError):
                log.debug(
                    "task query failed",
                    **self._table.target(answer.key).labels(),
                    task_id=answer.task_id,
                    error=answer.result.describe(),
                )

    def _judge(self, key: Key, results: list[TaskStatus | ApiError], duration: float) -> None:
        """Up when nothing was to be asked or at least one query got an answer from the API."""
        # What the exporter held back for its own reasons (a 429 back-off, the deadline, the rate limit)
        # says nothing about the API: a target whose requests were all held back so keeps the `up` of its
        # last real attempt. A hold after refused credentials is the account's outage, and counts.
        attempts = [r for r in results if not isinstance(r, ApiError) or r.sent or r.reason is Reason.AUTH]
        up = not attempts or any(not isinstance(r, ApiError) or r.reason is Reason.NOT_FOUND for r in attempts)
        if results and not attempts:
            up = self._table.is_up(key)
        failures = [r for r in results if isinstance(r, ApiError)]
        refresh = Refresh(
            self._clock(),
            duration,
            len(results),
            len(results) - len(failures),
            len(failures),
            failures[0].describe() if failures else "",
        )
        was_up = self._table.judged(
            key, up, duration, self._clock(), attempted=bool(attempts) or not results, refresh=refresh
        )
        labels = self._table.target(key).labels()
        if was_up and not up:
            failures = [r for r in results if isinstance(r, ApiError)]
            log.warning(
                "target down: no query succeeded",
                **labels,
                failed=len(failures),
                reasons=sorted({f.reason.value for f in failures}),
                example=failures[0].describe(),
            )
        elif up and not was_up:
            log.info("target up again", **labels)

    # --- discovery -------------------------------------------------------------------------------

    async def _discover(self, client: Querier, deadline: Deadline, started: float) -> list[Listing]:
        """The list calls that are due, for each account one after another (one account's requests never
        go out in a burst before its credentials are known to work)."""
        now, tracking = self._clock(), self._config.tracking
        by_account: dict[str, list[tuple[TargetConfig, DiscoverySpec]]] = {}
        for key in self._table.target_keys():
            target = self._table.target(key)
            lister = target.spec.discover
            if lister is not None and target.discover and discovery_due(self._table, key, lister, now):
                self._table.discovered(key, now + tracking.discovery_interval, None)
                by_account.setdefault(target.account, []).append((target, lister))

        traces: dict[str, list[TraceSource]] = {}
        # Rotated, so that a deadline too short for all of them does not leave out the same ones.
        self._trace_turn += 1
        shift = self._trace_turn % len(self._traces) if self._traces else 0
        for source in self._traces[shift:] + self._traces[:shift]:
            if now >= self._trace_due.get(source.key, 0.0):
                traces.setdefault(source.cts.account, []).append(source)

        async def account(name: str) -> list[Listing]:
            found = []
            for target, lister in by_account.get(name, []):
                calls = list_calls(target, lister, now, tracking.finished_ttl)
                found.append(await list_target(client, target, lister, calls, deadline, started))
            for source in traces.get(name, []):
                assert CTS.discover is not None
                calls = trace_calls(source, now)
                listing = await list_target(client, source.cts, CTS.discover, calls, deadline, started)
                # A sequence cut short (by the deadline, or an error) is asked again within a minute.
                retry = tracking.discovery_interval if not listing.errors else min(60.0, tracking.discovery_interval)
                self._trace_due[source.key] = now + retry
                self._take_traces(source, listing)
            return found

        results = await asyncio.gather(*(account(name) for name in {*by_account, *traces}))
        return [listing for listings in results for listing in listings]

    def _take_traces(self, source: TraceSource, listing: Listing) -> None:
        """Track the jobs the traces name; a job already tracked, or retired here before, is left alone."""
        found, skipped = job_ids(source, listing)
        added = 0
        for target, job_id in found:
            key = target.key
            if key not in self._table.target_keys() or self._table.get(key, job_id) is not None:
                continue
            # A job that left before (finished and gone after its TTL) is refused by the table.
            added += self._add(key, job_id, Source.DISCOVERED) is not None
        if added or skipped:
            log.debug(
                "Cloud Trace Service traces read",
                **source.cts.labels(),
                traces=len(listing.items),
                jobs_added=added,
                skipped=dict(skipped),
            )
