"""Which tasks are tracked, where they came from, their last known state, and how long they stay.

Tasks come from four sources: `static` (the config), `file` (task files), `discovered` (the list APIs
of service specs with `discover`) and `probe` (`/probe` requests). A refresh first runs
the discovery that is due, then asks for every task that is not final and not answered by a list
call, concurrently (bounded by `scrape.concurrency`) within a deadline. What does not answer in time
keeps its last known value. Concurrent scrapes share one refresh.

Lifecycle (`tracking:`): a finished task leaves `finished_ttl` after the exporter first saw it final;
a task the cloud does not know is marked (state `unknown`, raw status `not_found`) and leaves after
`not_found_limit` such answers in a row; at most `max_tasks` per target, the oldest finished ones
going first. A task that left is not taken back from the same sources (it is "retired").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import structlog

from exporter.cloud.errors import ApiError
from exporter.config import Config, TargetConfig
from exporter.model import Reason, State, TaskStatus, valid_id
from exporter.services import (
    BadResponse,
    DiscoverySpec,
    list_items,
    list_next,
    list_total,
    lookup,
    read_status,
    read_time,
    text,
)
from exporter.tracking.files import FileTask, TaskFiles

__all__ = ["SOURCES", "TargetState", "TaskRecord", "Tracker", "all_records", "tracked_counts"]

log = structlog.get_logger(__name__)

SOURCES = ("static", "file", "discovered", "probe")
# A scrape waits this much past its budget for the refresh to record its results before rendering.
JUDGE_SLACK = 0.2
MAX_PAGES = 100  # per list call sequence: a cloud that keeps paging cannot hold a scrape forever
NOT_FOUND = "not_found"
T = TypeVar("T")
Key = tuple[str, str, str, str]


class Querier(Protocol):
    async def query(self, target: TargetConfig, task_id: str, timeout: float) -> TaskStatus | ApiError: ...

    async def get(
        self,
        target: TargetConfig,
        path: str,
        interpret: Callable[[Any], T],
        timeout: float,
        params: dict[str, str] | None = None,
    ) -> T | ApiError: ...


@dataclass
class TaskRecord:
    task_id: str
    source: str
    status: TaskStatus | None = None
    last_update: float | None = None  # wall-clock time of the last fresh answer
    last_error: ApiError | None = None
    not_found: int = 0  # consecutive not-found answers
    final_since: float | None = None  # when the exporter first saw it in a final state
    last_probe: float | None = None
    listed: bool = False  # answered by a list call whose items carry the status, not asked one by one
    recheck: str | None = None  # the list item's `recheck` value (CodeArts: last_check_time)
    ask_again: bool = False  # final, but the list's recheck value moved: ask its status once more

    @property
    def final(self) -> bool:
        return self.status is not None and self.status.final


@dataclass
class TargetState:
    target: TargetConfig
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    up: bool = True
    scrape_duration: float = 0.0
    last_success: float | None = None
    retired: dict[str, float] = field(default_factory=dict)  # task ID -> when it left
    discovery_due: float = 0.0
    discovery_success: float | None = None
    refusing: int = 0  # tasks refused in a row because max_tasks is reached


class Tracker:
    def __init__(
        self,
        config: Config,
        client: Querier,
        *,
        clock: Callable[[], float] = time.time,
        on_drop: Callable[[str, str, int], None] = lambda service, reason, count: None,
        on_file_error: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._client, self._clock, self._on_drop, self._on_file_error = client, clock, on_drop, on_file_error
        self._targets: dict[Key, TargetState] = {}
        self._inflight: asyncio.Future[None] | None = None
        self._rotation = 0
        self._files = TaskFiles((), 1.0, on_error=on_file_error, clock=clock)
        self._files_version = -1
        self._unmatched: set[tuple[str, ...]] = set()
        self._probes: dict[tuple[Key, str], asyncio.Future[TaskStatus | ApiError]] = {}
        self.config = config
        self.apply(config)

    # --- configuration and sources --------------------------------------------------------------

    def apply(self, config: Config) -> None:
        """Track the targets of `config`; tasks it still names keep what is known about them, and so do
        the file, discovered and probe tasks of targets that remain."""
        old = self._targets
        targets: dict[Key, TargetState] = {}
        for target in config.targets:
            previous = old.get(target.key)
            state = TargetState(target)
            if previous is not None:
                state.up, state.last_success = previous.up, previous.last_success
                state.scrape_duration, state.retired = previous.scrape_duration, previous.retired
                state.discovery_success = previous.discovery_success
                if previous.target.discover == target.discover:
                    state.discovery_due = previous.discovery_due
                state.tasks = {k: r for k, r in previous.tasks.items() if r.source != "static"}
            targets[target.key] = state
        self._targets, self.config = targets, config
        for state in targets.values():
            for task_id in state.target.tasks:
                record = old[state.target.key].tasks.get(task_id) if state.target.key in old else None
                if record is not None and record.source == "static":
                    state.tasks[task_id] = record
                else:
                    self._add(state, task_id, "static")
        if config.task_files != self._files.patterns or frozenset(config.services) != self._files.services:
            self._files = TaskFiles(
                config.task_files,
                config.tracking.task_files_interval,
                on_error=self._on_file_error,
                clock=self._clock,
                services=frozenset(config.services),
            )
        self._files_version = -1

    def use_client(self, client: Querier) -> None:
        """Send the next refreshes through `client` (after a reload built a new one)."""
        self._client = client

    @property
    def targets(self) -> list[TargetState]:
        return list(self._targets.values())

    def _add(self, state: TargetState, task_id: str, source: str, *, force: bool = False) -> TaskRecord | None:
        """Track `task_id` for `state` from `source`, unless it left before (or `force`); make room under
        max_tasks by dropping the oldest finished task, else refuse it. Tasks only /probe asks about
        have a cap of their own and never push out the tasks of other sources."""
        record = state.tasks.get(task_id)
        if record is not None:
            if record.source == "probe" and source != "probe":
                record.source = source  # now also named by the config, a file or discovery: it stays
            return record
        if task_id in state.retired and not force:
            return None
        limit = self.config.tracking.max_tasks
        if source == "probe":
            probes = [r for r in state.tasks.values() if r.source == "probe"]
            if len(probes) >= limit:
                self._retire(state, min(probes, key=lambda r: r.last_probe or 0.0).task_id, "max_tasks")
        elif len(state.tasks) >= limit and sum(1 for r in state.tasks.values() if r.source != "probe") >= limit:
            finished = [r for r in state.tasks.values() if r.final_since is not None and r.source != "probe"]
            if not finished:
                self._on_drop(state.target.cloud_service, "max_tasks", 1)
                state.refusing += 1
                if state.refusing == 1:  # said once; huaweicloud_task_dropped_total counts the rest
                    log.warning(
                        "max_tasks reached and no finished task to make room; new tasks are not tracked",
                        **_labels(state.target),
                        task_id=task_id,
                        source=source,
                        max_tasks=limit,
                    )
                return None
            self._retire(state, min(finished, key=lambda r: r.final_since or 0.0).task_id, "max_tasks")
        state.retired.pop(task_id, None)
        record = state.tasks[task_id] = TaskRecord(task_id, source)
        state.refusing = 0
        return record

    def _retire(self, state: TargetState, task_id: str, reason: str) -> None:
        self._files_version = -1  # a file task refused for lack of room may fit now
        state.tasks.pop(task_id, None)
        state.retired.pop(task_id, None)  # re-inserted at the end: the order stays retirement order
        state.retired[task_id] = self._clock()
        self._on_drop(state.target.cloud_service, reason, 1)
        # Bounded: only IDs that a source could hand over again need remembering, and not for ever. The
        # dict's order is retirement order (an ID is popped before it is retired again): the oldest go.
        excess = len(state.retired) - 10 * self.config.tracking.max_tasks
        for old in list(itertools.islice(state.retired, max(excess, 0))):
            del state.retired[old]

    def _sync_files(self) -> None:
        self._files.poll()
        if self._files.version == self._files_version or not self._files.scanned:
            return
        self._files_version = self._files.version
        wanted: dict[Key, set[str]] = {}
        reported, self._unmatched = self._unmatched, set()
        for task in self._files.tasks():
            state = self._match(task, reported)
            if state is not None:
                wanted.setdefault(state.target.key, set()).add(task.task_id)
        for state in self._targets.values():
            ids = wanted.get(state.target.key, set())
            for task_id in ids:
                self._add(state, task_id, "file")
            for task_id, record in list(state.tasks.items()):
                if record.source == "file" and task_id not in ids:
                    del state.tasks[task_id]  # gone from every file: no longer handed over

    def _match(self, task: FileTask, reported: set[tuple[str, ...]]) -> TargetState | None:
        candidates = [
            state
            for state in self._targets.values()
            if state.target.cloud_service == task.cloud_service
            and task.account in ("", state.target.account)
            and task.region in ("", state.target.region)
            and task.project_id in ("", state.target.project_id)
        ]
        if len(candidates) == 1:
            return candidates[0]
        problem = "matches no configured target" if not candidates else f"matches {len(candidates)} targets"
        key = (task.origin, task.cloud_service, task.task_id, task.account, task.region, task.project_id, problem)
        self._unmatched.add(key)  # only the entries of the current files are remembered
        if key not in reported:
            self._on_file_error("unmatched")
            hint = "" if not candidates else "; add account, region or project_id"
            log.warning(
                f"task file entry {problem}{hint}",
                entry=task.origin,
                cloud_service=task.cloud_service,
                task_id=task.task_id,
            )
        return None

    async def settle_files(self) -> None:
        """Check the task files now and take them in (at start, so the first scrape sees their tasks)."""
        await self._files.check_now()
        self._sync_files()

    # --- /probe -------------------------------------------------------------------------------------

    async def probe(self, key: Key, task_id: str, timeout: float) -> tuple[TargetState, TaskRecord | None, bool]:
        """Answer for one task now (blackbox style): (target, record, up). A final task is answered from
        memory. A task no other source tracks is stored (as `probe`, with a cap of its own, until it is
        no longer probed for probe_ttl) only once the cloud has answered for it; concurrent probes of
        the same task share one query."""
        state = self._targets[key]
        self._expire_state(state)  # when Prometheus scrapes only /probe, tasks must still age out
        record = state.tasks.get(task_id)
        if record is not None:
            record.last_probe = self._clock()
            if record.final or record.listed:
                return state, record, True
        query = self._probes.get((key, task_id))
        if query is None:
            query = asyncio.ensure_future(self._client.query(state.target, task_id, timeout))
            self._probes[(key, task_id)] = query
            query.add_done_callback(lambda _done: self._probes.pop((key, task_id), None))
        result = await asyncio.shield(query)
        up = not isinstance(result, ApiError) or result.reason is Reason.NOT_FOUND
        if record is None and isinstance(result, ApiError):
            # Nothing known and nothing stored: a made-up ID must not take a slot.
            transient = TaskRecord(task_id, "probe")
            self._record(state, transient, result)
            return state, transient if transient.status is not None else None, up
        record = record or self._add(state, task_id, "probe", force=True)
        if record is not None:
            record.last_probe = self._clock()
            self._record(state, record, result)
        return state, record, up

    # --- refresh ----------------------------------------------------------------------------------

    async def refresh(self, timeout: float) -> None:
        """Bring every non-final task up to date within `timeout` seconds, joining a refresh in flight.

        Each caller waits only up to its own timeout; what has not answered by then keeps its last
        known value, and the shared refresh goes on within its own deadline.
        """
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._refresh(timeout))
        # Shielded: a scrape that Prometheus abandons must not cancel the refresh a second scrape awaits.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._inflight), timeout + JUDGE_SLACK)

    async def wait_idle(self) -> None:
        """Wait for a refresh in flight (before its client is closed)."""
        if self._inflight is not None and not self._inflight.done():
            await asyncio.wait([self._inflight])

    async def _refresh(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        client = self._client  # a reload mid-refresh must not mix the old targets with a new client
        started = time.perf_counter()
        self._sync_files()
        results: dict[Key, list[TaskStatus | ApiError]] = {}
        finished: dict[Key, float] = {}

        def note(state: TargetState, result: TaskStatus | ApiError) -> None:
            results.setdefault(state.target.key, []).append(result)
            finished[state.target.key] = time.perf_counter() - started

        by_account: dict[str, list[TargetState]] = {}
        for state in self.targets:
            by_account.setdefault(state.target.account, []).append(state)
        discovery_until = min(deadline, loop.time() + max(1.0, timeout / 3))
        await asyncio.gather(*(self._discover(client, states, discovery_until, note) for states in by_account.values()))
        await self._poll(client, deadline, timeout, note)
        for state in self.targets:
            self._judge_target(state, results.get(state.target.key, []), finished.get(state.target.key, 0.0))
        self._expire()

    async def _poll(
        self,
        client: Querier,
        deadline: float,
        timeout: float,
        note: Callable[[TargetState, TaskStatus | ApiError], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.config.scrape.concurrency)
        self._rotation += 1
        work: dict[str, list[tuple[TargetState, TaskRecord]]] = {}
        for state in self.targets:
            for record in state.tasks.values():
                # Probe-only tasks are asked when Prometheus probes them, not on every /metrics scrape.
                wanted = not record.final or record.ask_again
                if wanted and not record.listed and record.source != "probe":
                    work.setdefault(state.target.account, []).append((state, record))

        async def one(state: TargetState, record: TaskRecord, until: float) -> None:
            async with slots:
                remaining = until - loop.time()
                if remaining <= 0:
                    result: TaskStatus | ApiError = ApiError(
                        Reason.TIMEOUT, message="scrape deadline passed", sent=False
                    )
                else:
                    result = await client.query(state.target, record.task_id, remaining)
            self._record(state, record, result)
            note(state, result)

        async def account(items: list[tuple[TargetState, TaskRecord]]) -> None:
            # One request first, so that a wrong key, password or clock costs one refused request per
            # scrape and not `concurrency` of them: after a refusal the client holds the rest back (the
            # cloud locks an AK after more than 5 failures in a row). The first request gets a slice
            # of the budget only, so a slow service cannot starve the account's others; and the order
            # rotates, so a budget too short for all tasks does not always leave out the same ones.
            shift = self._rotation % len(items)
            items = items[shift:] + items[:shift]
            await one(*items[0], min(deadline, loop.time() + max(1.0, timeout / 4)))
            await asyncio.gather(*(one(state, record, deadline) for state, record in items[1:]))

        await asyncio.gather(*(account(items) for items in work.values()))

    def _record(self, state: TargetState, record: TaskRecord, result: TaskStatus | ApiError) -> None:
        now = self._clock()
        if isinstance(result, ApiError):
            record.last_error = result
            if result.reason is Reason.NOT_FOUND:
                record.not_found += 1
                # Marked, not yet dropped: a wrong ID or an expired job shows as `unknown`.
                previous = record.status or TaskStatus(State.UNKNOWN, NOT_FOUND)
                record.status = dataclasses.replace(previous, state=State.UNKNOWN, raw_status=NOT_FOUND)
            else:
                record.not_found = 0
            log.debug("task query failed", **_labels(state.target), task_id=record.task_id, error=result.describe())
            return
        record.status, record.last_update, record.last_error, record.not_found = result, now, None, 0
        record.ask_again = False
        if not result.final:
            record.final_since = None  # running (again): the finished TTL starts when it ends
        elif record.final_since is None:
            record.final_since = now

    def _judge_target(self, state: TargetState, results: list[TaskStatus | ApiError], duration: float) -> None:
        """Up when nothing was to be asked or at least one query got an answer from the API."""
        state.scrape_duration = duration
        answered = [r for r in results if not isinstance(r, ApiError) or r.reason is Reason.NOT_FOUND]
        was_up, state.up = state.up, bool(answered) or not results
        if state.up:
            state.last_success = self._clock()
        failures = [r for r in results if isinstance(r, ApiError)]
        if was_up and not state.up:
            example = failures[0]
            log.warning(
                "target down: no query succeeded",
                **_labels(state.target),
                failed=len(failures),
                reasons=sorted({f.reason.value for f in failures}),
                example=example.describe(),
            )
        elif state.up and not was_up:
            log.info("target up again", **_labels(state.target))

    def _expire(self) -> None:
        for state in self._targets.values():
            self._expire_state(state)

    def _expire_state(self, state: TargetState) -> None:
        now, tracking = self._clock(), self.config.tracking
        gone: Counter[str] = Counter()
        for task_id, record in list(state.tasks.items()):
            if record.not_found >= tracking.not_found_limit:
                reason = "not_found"
            elif record.final_since is not None and now - record.final_since >= tracking.finished_ttl:
                reason = "finished_ttl"
            elif record.source == "probe" and now - (record.last_probe or now) >= tracking.probe_ttl:
                reason = "probe_ttl"
            else:
                continue
            self._retire(state, task_id, reason)
            gone[reason] += 1
        if gone:
            log.info("tasks left the output", **_labels(state.target), **gone)

    # --- discovery --------------------------------------------------------------------------------

    async def _discover(
        self,
        client: Querier,
        states: list[TargetState],
        until: float,
        note: Callable[[TargetState, TaskStatus | ApiError], None],
    ) -> None:
        """The list calls that are due for one account's targets, one after another (one account's
        requests never go out in a burst before its credentials are known to work)."""
        now = self._clock()
        for state in states:
            lister = state.target.spec.discover
            if lister is not None and state.target.discover and self._discovery_due(state, lister, now):
                await self._list(client, state, lister, until, note)

    @staticmethod
    def _discovery_due(state: TargetState, lister: DiscoverySpec, now: float) -> bool:
        # A list whose items carry the status is how its tasks are polled: on every scrape while one of
        # them is not final, and every discovery_interval otherwise (to find new ones).
        if now >= state.discovery_due:
            return True
        return lister.carries_status and any(r.listed and not r.final for r in state.tasks.values())

    def _calls(self, target: TargetConfig, lister: DiscoverySpec) -> list[tuple[str, dict[str, str]]]:
        """(path, query) of each list call sequence: one per value, or per batch of values."""
        path = lister.path.replace("{project_id}", target.project_id)
        query = dict(lister.query)
        if lister.window is not None:
            window = lister.window
            now = self._clock()
            start = now - (window.lookback or self.config.tracking.finished_ttl)
            query[window.from_param], query[window.to_param] = _stamp(start, window.format), _stamp(now, window.format)
        values = target.discover.values
        if not lister.config_key:
            return [(path, query)]
        if lister.batch:
            size = lister.batch_size
            chunks = [",".join(values[i : i + size]) for i in range(0, len(values), size)]
            return [(path, {**query, lister.batch: chunk}) for chunk in chunks]
        return [(path.replace("{value}", value), query) for value in values]

    async def _list(
        self,
        client: Querier,
        state: TargetState,
        lister: DiscoverySpec,
        until: float,
        note: Callable[[TargetState, TaskStatus | ApiError], None],
    ) -> None:
        state.discovery_due = self._clock() + self.config.tracking.discovery_interval
        answered: set[str] = set()
        complete = True
        for path, query in self._calls(state.target, lister):
            items, error = await self._pages(client, state, lister, path, query, until)
            if error is not None:
                complete = False
                note(state, error)
                for known in state.tasks.values():
                    if known.listed:
                        known.last_error = error
                log.warning(
                    "discovery failed; keeping the tasks found before",
                    **_labels(state.target),
                    path=path,
                    error=error.describe(),
                )
            for task_id, item in items:
                self._take_listed(state, lister, task_id, item, answered, note)
        if complete:
            state.discovery_success = self._clock()
            for record in state.tasks.values():
                if record.listed and record.task_id not in answered:
                    # No longer in the list (a value removed, or the cloud forgot it): asked on its own
                    # again, where not-found marking and the TTL apply.
                    record.listed = False

    def _take_listed(
        self,
        state: TargetState,
        lister: DiscoverySpec,
        task_id: str,
        item: Any,
        answered: set[str],
        note: Callable[[TargetState, TaskStatus | ApiError], None],
    ) -> None:
        target = state.target
        if lister.carries_status:
            try:
                status = read_status(target.spec, item, target.time_zone)
            except BadResponse as exc:
                log.debug("a list item without a status; skipped", **_labels(target), task_id=task_id, error=str(exc))
                return
            answered.add(task_id)
            record = self._add(state, task_id, "discovered")
            if record is not None:
                record.listed = True
                self._record(state, record, status)
                note(state, status)
            return
        stamp = read_time(item, lister.recent, target.time_zone)
        recheck = text(lookup(item, lister.recheck)) if lister.recheck is not None else None
        record = state.tasks.get(task_id)
        if record is None:
            # Not recent (never run, or longer ago than the finished TTL): nothing recent to show.
            if lister.recent is not None and (
                stamp is None or stamp < self._clock() - self.config.tracking.finished_ttl
            ):
                return
            retired_at = state.retired.get(task_id)
            force = retired_at is not None and stamp is not None and stamp > retired_at
            record = self._add(state, task_id, "discovered", force=force)
            if record is None:
                return
        elif recheck is not None and record.recheck is not None and recheck != record.recheck and record.final:
            # CodeArts: last_check_time is the newest check of any branch or incremental task too, so a
            # new value may not be a new run of this task. The status API decides.
            log.info("the list shows a newer check; asking the task's status again", **_labels(target), task_id=task_id)
            record.ask_again = True
        record.recheck = recheck

    async def _pages(
        self,
        client: Querier,
        state: TargetState,
        lister: DiscoverySpec,
        path: str,
        params: dict[str, str],
        until: float,
    ) -> tuple[list[tuple[str, Any]], ApiError | None]:
        """Every page of one list call sequence, and the error that stopped it early, if any; the pages
        fetched before an error are kept. Stops at a short page, at the total, or when a page brings
        nothing new (a cloud that repeats its last page cannot hold a scrape)."""
        loop = asyncio.get_running_loop()
        paging = lister.paging

        def interpret(body: Any) -> tuple[list[tuple[str, Any]], int | None, str]:
            return list_items(lister, body), list_total(paging, body), list_next(paging, body)

        items: list[tuple[str, Any]] = []
        seen: set[str] = set()
        position, marker, total = paging.first, "", None
        for _ in range(MAX_PAGES):
            remaining = until - loop.time()
            if remaining <= 0:
                return items, ApiError(Reason.TIMEOUT, message="scrape deadline passed while listing", sent=False)
            query = dict(params)
            if paging.style != "none":
                query[paging.limit_param] = str(paging.limit)
            if paging.style in ("offset", "page"):
                query[paging.param] = str(position)
            elif paging.style == "marker" and marker:
                query[paging.param] = marker
            page = await client.get(state.target, path, interpret, remaining, query)
            if isinstance(page, ApiError):
                return items, page
            entries, total, next_marker = page
            fresh = [(task_id, item) for task_id, item in entries if valid_id(task_id) and task_id not in seen]
            seen.update(task_id for task_id, _ in fresh)
            items.extend(fresh)
            if paging.style == "none" or len(entries) < paging.limit or not fresh:
                break
            position += len(entries) if paging.style == "offset" else 1
            done = position if paging.style == "offset" else (position - paging.first) * paging.limit
            if total is not None and done >= total:
                break
            marker = next_marker or entries[-1][0]
        if total is not None and len(items) < total:
            log.warning(
                "a list answered fewer items than its total",
                **_labels(state.target),
                path=path,
                listed=len(items),
                total=total,
            )
        return items, None


def _stamp(when: float, fmt: str) -> str:
    if fmt == "epoch_ms":
        return str(int(when * 1000))
    if fmt == "epoch_s":
        return str(int(when))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def _labels(target: TargetConfig) -> dict[str, str]:
    return dict(zip(("account", "cloud_service", "region", "project_id"), target.key, strict=True))


def tracked_counts(state: TargetState) -> dict[str, int]:
    counts = dict.fromkeys(SOURCES, 0)
    for record in state.tasks.values():
        counts[record.source] += 1
    return counts


def all_records(states: Iterable[TargetState]) -> Iterable[tuple[TargetState, TaskRecord]]:
    for state in states:
        for record in state.tasks.values():
            yield state, record
