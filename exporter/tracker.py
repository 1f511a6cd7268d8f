"""Which tasks are tracked, their last known state, and the refresh that asks the cloud about them.

A refresh asks for every task that is not in a final state, concurrently (bounded by
`scrape.concurrency`), within a deadline. What does not answer in time keeps its last known value;
its `last_update` shows how old that is. Concurrent scrapes (an HA Prometheus pair) share one refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from exporter.config import Config, TargetConfig
from exporter.errors import ApiError, Reason
from exporter.model import TaskStatus

__all__ = ["SOURCES", "TargetState", "TaskRecord", "Tracker", "all_records", "tracked_counts"]

log = structlog.get_logger(__name__)

SOURCES = ("static", "file", "discovered", "probe")
# A scrape waits this much past its budget for the refresh to record its results before rendering.
JUDGE_SLACK = 0.2


class Querier(Protocol):
    async def query(self, target: TargetConfig, task_id: str, timeout: float) -> TaskStatus | ApiError: ...


@dataclass
class TaskRecord:
    task_id: str
    source: str
    status: TaskStatus | None = None
    last_update: float | None = None  # wall-clock time of the last fresh answer
    last_error: ApiError | None = None
    not_found: int = 0  # consecutive not-found answers

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


class Tracker:
    def __init__(self, config: Config, client: Querier, *, clock: Callable[[], float] = time.time) -> None:
        self._client, self._clock = client, clock
        self._targets: dict[tuple[str, str, str, str], TargetState] = {}
        self._inflight: asyncio.Future[None] | None = None
        self._rotation = 0
        self.config = config
        self.apply(config)

    def apply(self, config: Config) -> None:
        """Track the targets and tasks of `config`, keeping what is known about tasks it still names."""
        old = self._targets
        targets: dict[tuple[str, str, str, str], TargetState] = {}
        for target in config.targets:
            previous = old.get(target.key)
            state = TargetState(target)
            if previous is not None:
                state.up, state.last_success = previous.up, previous.last_success
                state.scrape_duration = previous.scrape_duration
            for task_id in target.tasks:
                known = previous.tasks.get(task_id) if previous else None
                state.tasks[task_id] = known if known is not None else TaskRecord(task_id, "static")
            targets[target.key] = state
        self._targets, self.config = targets, config

    def use_client(self, client: Querier) -> None:
        """Send the next refreshes through `client` (after a reload built a new one)."""
        self._client = client

    @property
    def targets(self) -> list[TargetState]:
        return list(self._targets.values())

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
        slots = asyncio.Semaphore(self.config.scrape.concurrency)
        started = time.perf_counter()
        self._rotation += 1
        work: dict[str, list[tuple[TargetState, TaskRecord]]] = {}
        for state in self.targets:
            for record in state.tasks.values():
                if not record.final:
                    work.setdefault(state.target.account, []).append((state, record))
        results: dict[tuple[str, str, str, str], list[TaskStatus | ApiError]] = {}
        finished: dict[tuple[str, str, str, str], float] = {}

        async def one(state: TargetState, record: TaskRecord, until: float) -> None:
            result = await self._refresh_task(client, state.target, record, until, slots)
            results.setdefault(state.target.key, []).append(result)
            finished[state.target.key] = time.perf_counter() - started

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
        for state in self.targets:
            self._judge_target(state, results.get(state.target.key, []), finished.get(state.target.key, 0.0))

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

    async def _refresh_task(
        self, client: Querier, target: TargetConfig, record: TaskRecord, deadline: float, slots: asyncio.Semaphore
    ) -> TaskStatus | ApiError:
        async with slots:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                result: TaskStatus | ApiError = ApiError(Reason.TIMEOUT, message="scrape deadline passed", sent=False)
            else:
                result = await client.query(target, record.task_id, remaining)
        if isinstance(result, ApiError):
            record.last_error = result
            record.not_found = record.not_found + 1 if result.reason is Reason.NOT_FOUND else 0
            log.debug("task query failed", **_labels(target), task_id=record.task_id, error=result.describe())
        else:
            record.status, record.last_update, record.last_error, record.not_found = (
                result,
                self._clock(),
                None,
                0,
            )
        return result


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
