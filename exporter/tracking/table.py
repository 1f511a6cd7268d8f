"""The task table: which tasks are tracked for which target, and what is known about each.

Pure and synchronous: no I/O, no clock of its own (every call is told `now`), no logging. Adding,
recording, retiring and expiring return what they dropped, so that the caller counts and logs it. A
task's record is a frozen value replaced on every change, so that `snapshot()` is a cheap copy of
references that the collector and the landing page can read while the next refresh runs.

Lifecycle (`tracking:`): a finished task leaves `finished_ttl` after the exporter first saw it final;
a task the cloud does not know is marked (state `unknown`, raw status `not_found`) and leaves after
`not_found_limit` such answers in a row; at most `max_tasks` per target, the oldest finished ones going
first; a task only /probe asks about has a cap of its own and leaves `probe_ttl` after its last probe.
A task that left is "retired" and not taken back from the same sources.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from exporter.cloud.errors import ApiError
from exporter.config import Config, TargetConfig, TrackingSettings
from exporter.model import Reason, Shard, State, TaskStatus
from exporter.tracking.history import History

__all__ = [
    "NOT_FOUND",
    "Added",
    "DropReason",
    "Dropped",
    "Key",
    "Refresh",
    "Snapshot",
    "Source",
    "TargetSnapshot",
    "TaskRecord",
    "TaskTable",
]

Key = tuple[str, str, str, str]
NOT_FOUND = "not_found"


class Source(enum.StrEnum):
    """Where a task came from: the `source` label of `huaweicloud_task_tracked`."""

    STATIC = "static"
    FILE = "file"
    DISCOVERED = "discovered"
    PROBE = "probe"
    PUSHED = "pushed"  # named by a pushed notice (SMN, CloudEvents): a hint, its state from the status API


class DropReason(enum.StrEnum):
    """Why a task left the output: the `reason` label of `huaweicloud_task_dropped_total`."""

    FINISHED_TTL = "finished_ttl"
    NOT_FOUND = "not_found"
    MAX_TASKS = "max_tasks"
    PROBE_TTL = "probe_ttl"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """What is known about one tracked task."""

    task_id: str
    source: Source
    status: TaskStatus | None = None
    last_update: float | None = None  # wall-clock time of the last fresh answer
    last_error: ApiError | None = None
    not_found: int = 0  # consecutive not-found answers
    final_since: float | None = None  # when the exporter first saw it in a final state
    last_probe: float | None = None
    listed: bool = False  # answered by a list call whose items carry the status, not asked one by one
    recheck: str | None = None  # the list item's `recheck` value (CodeArts: last_check_time)
    # Ask its status at the next refresh: final, but the list's recheck value moved, or it left its list.
    ask_again: bool = False
    first_seen: float | None = None  # when it was first tracked (its age, for its poll interval, without a start)
    # When the cloud was last asked about it (a request sent, answered or failed; a list's answer too): the
    # order of a budget too short for every due task, and when a failed ask is tried again (due.py).
    last_asked: float | None = None

    @property
    def final(self) -> bool:
        return self.status is not None and self.status.final

    @property
    def wanted(self) -> bool:
        """Asked on its own on a /metrics refresh: not final (or to be asked again), not answered by a
        list, and not a task only /probe asks about."""
        return (not self.final or self.ask_again) and not self.listed and self.source is not Source.PROBE


@dataclass(frozen=True)
class Dropped:
    key: Key
    task_id: str
    reason: DropReason

    @property
    def cloud_service(self) -> str:
        return self.key[1]


@dataclass(frozen=True)
class Added:
    """What `add` did: the record (None when refused), what it pushed out, and whether it was refused
    for lack of room for the first time in a row (worth one log line)."""

    record: TaskRecord | None
    dropped: tuple[Dropped, ...] = ()
    refused_first: bool = False


@dataclass(frozen=True)
class Refresh:
    """A target's last refresh, as the landing page shows it: when, how long, how many queries were
    asked, answered and failed, and the first failure's cause (the cloud's code and message)."""

    at: float
    duration: float
    asked: int
    answered: int
    failed: int
    cause: str = ""


@dataclass(frozen=True)
class TargetSnapshot:
    """A target as the last refresh or probe left it."""

    target: TargetConfig
    tasks: Mapping[str, TaskRecord]
    up: bool
    scrape_duration: float
    last_success: float | None
    discovery_success: float | None
    last_refresh: Refresh | None = None  # None: not polled yet
    # A fanned-out target's parents as last listed: ID -> name ("" where the list gives none).
    parents: Mapping[str, str] = field(default_factory=dict)

    def tracked(self) -> dict[Source, int]:
        counts = dict.fromkeys(Source, 0)
        for record in self.tasks.values():
            counts[record.source] += 1
        return counts


@dataclass(frozen=True)
class Snapshot:
    targets: tuple[TargetSnapshot, ...] = ()
    # The recent refreshes, newest first: the last 100, and failed ones among the last 100 failed (as
    # blackbox_exporter keeps recent probes), so that an old failure is still there to read.
    refreshes: tuple[Refresh, ...] = ()

    def records(self) -> Iterator[tuple[TargetSnapshot, TaskRecord]]:
        for target in self.targets:
            for record in target.tasks.values():
                yield target, record


@dataclass
class _Target:
    target: TargetConfig
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    retired: dict[str, float] = field(default_factory=dict)  # task ID -> when it left, in retirement order
    refusing: int = 0  # tasks refused in a row because max_tasks is reached
    up: bool = True
    scrape_duration: float = 0.0
    last_success: float | None = None
    discovery_due: float = 0.0
    discovery_success: float | None = None
    last_refresh: Refresh | None = None


class TaskTable:
    def __init__(self, tracking: TrackingSettings, shard: Shard | None = None, history: History | None = None) -> None:
        """`history`: told every answer recorded, so that each completion is counted once, from whatever
        path the answer came (a refresh, a probe, a push)."""
        self._tracking = tracking
        self._targets: dict[Key, _Target] = {}
        self.shard = shard or Shard()  # this exporter's share of the tasks: the table holds only those
        self._history = history

    # --- targets ---------------------------------------------------------------------------------

    def apply(self, config: Config, now: float) -> list[Dropped]:
        """Track the targets of `config`. A target that stays keeps its tasks, its history and (unless
        its discovery settings changed) its discovery schedule; tasks the config no longer names leave."""
        self._tracking = config.tracking
        old, self._targets = self._targets, {}
        dropped: list[Dropped] = []
        for target in config.targets:
            previous = old.get(target.key)
            state = _Target(target)
            if previous is not None:
                state.up, state.last_success = previous.up, previous.last_success
                state.scrape_duration, state.retired = previous.scrape_duration, previous.retired
                state.last_refresh = previous.last_refresh
                state.discovery_success = previous.discovery_success
                if previous.target.discover == target.discover:
                    state.discovery_due = previous.discovery_due
                named = set(target.tasks)
                state.tasks = {k: r for k, r in previous.tasks.items() if r.source is not Source.STATIC or k in named}
                if not _lists_status(target):  # no list refreshes them now: each is asked on its own
                    state.tasks = {k: replace(r, listed=False) if r.listed else r for k, r in state.tasks.items()}
            self._targets[target.key] = state
            for task_id in target.tasks:
                record = state.tasks.get(task_id)
                if record is None or record.source is not Source.STATIC:
                    dropped += self.add(target.key, task_id, Source.STATIC, now).dropped
        return dropped

    def target_keys(self) -> list[Key]:
        return list(self._targets)

    def target(self, key: Key) -> TargetConfig:
        return self._targets[key].target

    def get(self, key: Key, task_id: str) -> TaskRecord | None:
        return self._targets[key].tasks.get(task_id)

    def records(self, key: Key) -> Iterable[TaskRecord]:
        return self._targets[key].tasks.values()

    def retired_at(self, key: Key, task_id: str) -> float | None:
        return self._targets[key].retired.get(task_id)

    # --- adding and dropping ---------------------------------------------------------------------

    def add(self, key: Key, task_id: str, source: Source, now: float, *, force: bool = False) -> Added:
        """Track `task_id` from `source`, unless it left before (or `force`); make room under max_tasks by
        dropping the oldest finished task, else refuse it. Tasks only /probe asks about have a cap of
        their own and never push out the tasks of other sources."""
        state = self._targets[key]
        record = state.tasks.get(task_id)
        if record is not None:
            if record.source is Source.PROBE and source is not Source.PROBE:
                record = state.tasks[task_id] = replace(record, source=source)  # now also named elsewhere: it stays
            return Added(record)
        if task_id in state.retired and not force:
            return Added(None)
        if source is not Source.PROBE and not self.shard.owns(key, task_id):
            return Added(None)  # another shard's: not tracked here, not counted (/probe still answers)
        dropped = self._make_room(key, state, source, now)
        if dropped is None:
            state.refusing += 1
            return Added(None, (Dropped(key, task_id, DropReason.MAX_TASKS),), state.refusing == 1)
        state.retired.pop(task_id, None)
        record = state.tasks[task_id] = TaskRecord(task_id, source, first_seen=now)
        state.refusing = 0
        return Added(record, dropped)

    def _make_room(self, key: Key, state: _Target, source: Source, now: float) -> tuple[Dropped, ...] | None:
        """Room under max_tasks for one more task of `source`: what was dropped for it, or None if it is refused
        (the other sources' tasks are all still moving)."""
        limit = self._tracking.max_tasks
        if len(state.tasks) < limit:
            return ()  # room for any source: no need to count them (thousands of tasks are added at a start)
        if source is Source.PROBE:
            probes = [r for r in state.tasks.values() if r.source is Source.PROBE]
            if len(probes) < limit:
                return ()
            oldest = min(probes, key=lambda r: r.last_probe or 0.0)
            return (self.retire(key, oldest.task_id, DropReason.MAX_TASKS, now),)
        if sum(1 for r in state.tasks.values() if r.source is not Source.PROBE) < limit:
            return ()
        finished = [r for r in state.tasks.values() if r.final_since is not None and r.source is not Source.PROBE]
        if not finished:
            return None
        oldest = min(finished, key=lambda r: r.final_since or 0.0)
        return (self.retire(key, oldest.task_id, DropReason.MAX_TASKS, now),)

    def retire(self, key: Key, task_id: str, reason: DropReason, now: float) -> Dropped:
        state = self._targets[key]
        state.tasks.pop(task_id, None)
        state.retired.pop(task_id, None)  # re-inserted at the end: the order stays retirement order
        state.retired[task_id] = now
        # Bounded: only IDs that a source could hand over again need remembering, and not for ever.
        excess = len(state.retired) - 10 * self._tracking.max_tasks
        for old in list(itertools.islice(state.retired, max(excess, 0))):
            del state.retired[old]
        return Dropped(key, task_id, reason)

    def forget(self, key: Key, task_id: str) -> None:
        """No longer tracked because its source no longer hands it over (a task file lost it): not a
        departure of the output's rules, so not retired."""
        self._targets[key].tasks.pop(task_id, None)

    def expire(self, now: float, keys: Iterable[Key] | None = None) -> list[Dropped]:
        """Retire the tasks whose time is up. Run on every refresh over every tracked task: the records
        are read in place (a copy of 50,000 of them costs the garbage collector more than the checks)."""
        limit, ttl, probe_ttl = self._tracking.not_found_limit, self._tracking.finished_ttl, self._tracking.probe_ttl
        dropped: list[Dropped] = []
        for key in self._targets if keys is None else keys:
            due: list[tuple[str, DropReason]] = []
            for task_id, record in self._targets[key].tasks.items():
                if record.not_found >= limit:
                    due.append((task_id, DropReason.NOT_FOUND))
                elif record.final_since is not None and now - record.final_since >= ttl:
                    due.append((task_id, DropReason.FINISHED_TTL))
                elif record.source is Source.PROBE and now - (record.last_probe or now) >= probe_ttl:
                    due.append((task_id, DropReason.PROBE_TTL))
            dropped.extend(self.retire(key, task_id, reason, now) for task_id, reason in due)
        return dropped

    # --- what is known ---------------------------------------------------------------------------

    def update(self, key: Key, record: TaskRecord) -> None:
        """Store a changed record of a tracked task (a list's flags, a probe's time)."""
        state = self._targets.get(key)
        if state is not None and record.task_id in state.tasks:
            state.tasks[record.task_id] = record

    def record(self, key: Key, task_id: str, result: TaskStatus | ApiError, now: float) -> TaskRecord | None:
        """Take in an answer (or a failure) for a tracked task; None when it is no longer tracked (it
        left, or its target left with a reload while the query was out)."""
        state = self._targets.get(key)
        record = state.tasks.get(task_id) if state is not None else None
        if state is None or record is None:
            return None
        before = record.status
        if isinstance(result, ApiError) and _unknown_to_status_api(state.target, record, result):
            # The list said it is final (and asked its status API for the detail): an API that does not
            # know the task leaves the list's final state standing, and is not asked again.
            record = state.tasks[task_id] = replace(record, last_error=result, ask_again=False, last_asked=now)
            return record
        record = state.tasks[task_id] = answered(record, result, now)
        # A probed task of another shard is answered here but counted by its own shard.
        if self._history is not None and record.status is not None and self.shard.owns(key, task_id):
            self._history.answered(state.target, task_id, before, record.status, now)
        return record

    def discovery(self, key: Key) -> tuple[float, float | None]:
        """(when discovery is due next, when it last succeeded)."""
        state = self._targets[key]
        return state.discovery_due, state.discovery_success

    def discovered(self, key: Key, due: float, success: float | None) -> None:
        state = self._targets[key]
        state.discovery_due = due
        if success is not None:
            state.discovery_success = success

    def is_up(self, key: Key) -> bool:
        return self._targets[key].up

    def judged(
        self, key: Key, up: bool, duration: float, now: float, *, attempted: bool = True, refresh: Refresh | None = None
    ) -> bool:
        """Record a refresh's verdict on a target; returns whether it was up before. A refresh that sent
        nothing (`attempted` False) is no success either."""
        state = self._targets[key]
        was_up, state.up, state.scrape_duration = state.up, up, duration
        if refresh is not None:
            state.last_refresh = refresh
        if up and attempted:
            state.last_success = now
        return was_up

    def snapshot(self) -> Snapshot:
        return Snapshot(
            tuple(
                TargetSnapshot(
                    s.target,
                    MappingProxyType(dict(s.tasks)),
                    s.up,
                    s.scrape_duration,
                    s.last_success,
                    s.discovery_success,
                    s.last_refresh,
                )
                for s in self._targets.values()
            )
        )


def _lists_status(target: TargetConfig) -> bool:
    """Whether the target's list refreshes its tasks (discovery on, and its spec's items carry the status)."""
    lister = target.spec.discover
    return bool(target.discover) and lister is not None and lister.carries_status


def _unknown_to_status_api(target: TargetConfig, record: TaskRecord, result: ApiError) -> bool:
    """A not-found from the status API for a task its list showed final (asked once for the detail)."""
    return result.reason is Reason.NOT_FOUND and record.final and record.ask_again and _lists_status(target)


def _kept_error(known: TaskStatus | None, result: TaskStatus) -> TaskStatus:
    """A final answer without an error keeps the error said before for the same final state (DDM: its list
    gives the failure's reason, its status API none)."""
    if known is None or known.state is not result.state or not (known.error_code or known.error_message):
        return result
    return replace(result, error_code=known.error_code, error_message=known.error_message)


def answered(record: TaskRecord, result: TaskStatus | ApiError, now: float) -> TaskRecord:
    """`record` after an answer: a status replaces what was known (but for a progress whose own API did
    not answer: the one known for the same state stays); a failure keeps it, and a not-found marks it
    (state `unknown`, raw status `not_found`) without dropping it yet."""
    if isinstance(result, ApiError):
        asked = now if result.sent else record.last_asked  # held back: not asked, still first in line
        if result.reason is not Reason.NOT_FOUND:
            return replace(record, last_error=result, not_found=0, last_asked=asked)
        previous = record.status or TaskStatus(State.UNKNOWN, NOT_FOUND)
        marked = replace(previous, state=State.UNKNOWN, raw_status=NOT_FOUND)
        return replace(record, last_error=result, not_found=record.not_found + 1, status=marked, last_asked=asked)
    if result.final and not (result.error_code or result.error_message):
        result = _kept_error(record.status, result)
    if result.progress_unanswered:  # the status answered, its progress API did not: the progress stays
        known = record.status
        kept = known.progress if known is not None and known.state is result.state else None
        result = replace(result, progress=kept, progress_unanswered=False)
    # Running (again): the finished TTL starts when it ends; final: from when the exporter first saw it so.
    final_since = (record.final_since or now) if result.final else None
    # Built directly, not with dataclasses.replace: this runs for every answer of every scrape.
    return TaskRecord(
        task_id=record.task_id,
        source=record.source,
        status=result,
        last_update=now,
        last_error=None,
        not_found=0,
        final_since=final_since,
        last_probe=record.last_probe,
        listed=record.listed,
        recheck=record.recheck,
        ask_again=False,
        first_seen=record.first_seen,
        last_asked=now,
    )
