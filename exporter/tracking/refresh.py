"""One refresh's I/O: the status queries and the list calls, within one deadline. Everything here
returns what the cloud said; nothing writes to the task table (the tracker does, afterwards).

The deadline is made once per refresh (`Deadline`) and handed down to every call, so a list call, a
first request and the rest of an account's queries all spend the same budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import structlog

from exporter.cloud.errors import ApiError
from exporter.config import TargetConfig
from exporter.log import repeated
from exporter.model import Reason, TaskStatus
from exporter.services import DiscoverySpec, fill, list_items, list_next, list_total

__all__ = ["MAX_PAGES", "Answer", "Deadline", "Listing", "Querier", "list_calls", "list_target", "poll"]

log = structlog.get_logger(__name__)

MAX_PAGES = 100  # per list call sequence: a cloud that keeps paging cannot hold a scrape forever
T = TypeVar("T")


class Querier(Protocol):
    async def query(self, target: TargetConfig, task_id: str, timeout: float) -> TaskStatus | ApiError: ...

    def new_refresh(self) -> None:
        """A refresh begins (the client may forget what the one before last needed)."""
        ...

    def lone_first(self, account: str) -> bool:
        """Whether the account's first request of this refresh must go alone (credentials not yet
        accepted by the cloud, or refused before)."""
        ...

    async def get(
        self,
        target: TargetConfig,
        path: str,
        interpret: Callable[[Any], T],
        timeout: float,
        params: dict[str, str] | None = None,
    ) -> T | ApiError: ...


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock (the event loop's); `left()` is what remains of it (never negative)."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def left(self) -> float:
        return max(self.at - time.monotonic(), 0.0)

    def sooner(self, seconds: float) -> Deadline:
        """This deadline, or `seconds` from now if that comes first."""
        return Deadline(min(self.at, time.monotonic() + seconds))


@dataclass(frozen=True)
class Answer:
    """One status query's outcome, and when (seconds into the refresh) it came."""

    key: tuple[str, str, str, str]
    task_id: str
    result: TaskStatus | ApiError
    at: float


@dataclass(frozen=True)
class Listing:
    """What one target's list calls found: (task ID, item) pairs, and the error that stopped a call
    sequence early (the items before it are kept)."""

    key: tuple[str, str, str, str]
    items: tuple[tuple[str, Any], ...]
    errors: tuple[ApiError, ...]
    at: float


async def poll(
    client: Querier,
    work: Sequence[Sequence[tuple[TargetConfig, str]]],
    deadline: Deadline,
    *,
    concurrency: int,
    first_budget: float,
    started: float,
    into: list[Answer] | None = None,
    on_all_sent: Callable[[], None] | None = None,
) -> list[Answer]:
    """Ask for every (target, task ID), at most `concurrency` at once, by `concurrency` workers taking
    the queries in turn (cheaper than a task per query at thousands of tasks).

    An account whose credentials the cloud has not accepted yet (new, changed since, or refused before)
    sends its first request alone, and its other queries only after that answer: a wrong key, password
    or clock then costs one refused request per scrape and not `concurrency` of them (after a refusal
    the client holds the rest back; the cloud locks an AK after more than 5 failures in a row). That
    first request gets a slice of the budget only, so a slow service cannot starve the account's
    others. An account the cloud accepted keeps no such request: all of its queries start at once.

    `on_all_sent` is called (soon after) once the last query has been taken by a worker: from then on
    the poll only waits for the answers still out, and the caller may use the time."""
    answers: list[Answer] = [] if into is None else into  # filled as they arrive, for a caller that cannot wait
    client.new_refresh()
    queue: asyncio.Queue[tuple[TargetConfig, str, Deadline, Sequence[tuple[TargetConfig, str]]] | None]
    queue = asyncio.Queue()
    remaining = 0
    later: list[tuple[TargetConfig, str]] = []
    for items in work:
        if not items:
            continue
        remaining += len(items)
        if client.lone_first(items[0][0].account):
            queue.put_nowait((*items[0], deadline.sooner(first_budget), items[1:]))
        else:
            later.extend(items)
    for target, task_id in later:
        queue.put_nowait((target, task_id, deadline, ()))
    workers = min(concurrency, remaining)
    unsent = remaining

    async def worker() -> None:
        nonlocal remaining, unsent
        while (job := await queue.get()) is not None:
            target, task_id, until, rest = job
            unsent -= 1
            if unsent == 0 and on_all_sent is not None:
                asyncio.get_running_loop().call_soon(on_all_sent)
            try:
                result = await client.query(target, task_id, until.left())  # no time left: the client holds it back
            except Exception as exc:  # the client returns errors; a bug must still not hang the other workers
                repeated(
                    log.error,
                    "task query raised",
                    (target.key, type(exc).__name__),
                    exc_info=True,
                    **target.labels(),
                    task_id=task_id,
                )
                result = ApiError(Reason.CLIENT_ERROR, message=f"unexpected {type(exc).__name__} in the exporter")
            finally:
                for other in rest:  # the account's first answer is in: the others may go
                    queue.put_nowait((*other, deadline, ()))
                remaining -= 1
                if remaining == 0:
                    for _ in range(workers):
                        queue.put_nowait(None)
            answers.append(Answer(target.key, task_id, result, time.perf_counter() - started))

    await asyncio.gather(*(worker() for _ in range(workers)))
    return answers


def list_calls(
    target: TargetConfig, lister: DiscoverySpec, now: float, lookback: float
) -> list[tuple[str, dict[str, str]]]:
    """(path, query) of each list call sequence: one per configured value, or per batch of values."""
    params = dict(target.params)
    path = fill(lister.path, target.project_id, params=params)
    query = {key: fill(value, target.project_id, params=params) for key, value in lister.query.items()}
    if lister.window is not None:
        window = lister.window
        span = window.lookback or lookback
        start = now - (min(span, window.max_lookback) if window.max_lookback else span)
        query[window.from_param] = _stamp(start, window.format)
        if window.to_param:
            query[window.to_param] = _stamp(now, window.format)
    values = target.discover.values
    if not lister.config_key:
        return [(path, query)]
    if lister.batch:
        size = lister.batch_size
        chunks = [",".join(values[i : i + size]) for i in range(0, len(values), size)]
        return [(path, {**query, lister.batch: chunk}) for chunk in chunks]
    return [(path.replace("{value}", value), query) for value in values]


def _stamp(when: float, fmt: str) -> str:
    if fmt == "epoch_ms":
        return str(int(when * 1000))
    if fmt == "epoch_s":
        return str(int(when))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ" if fmt == "iso" else fmt, time.gmtime(when))


async def list_target(
    client: Querier,
    target: TargetConfig,
    lister: DiscoverySpec,
    calls: Iterable[tuple[str, dict[str, str]]],
    deadline: Deadline,
    started: float,
) -> Listing:
    items: list[tuple[str, Any]] = []
    errors: list[ApiError] = []
    for path, query in calls:
        found, error = await _pages(client, target, lister, path, query, deadline)
        items += found
        if error is not None:
            errors.append(error)
            repeated(
                log.warning,
                "discovery failed; keeping the tasks found before",
                (target.key, error.reason),
                **dict(zip(("account", "cloud_service", "region", "project_id"), target.key, strict=True)),
                path=path,
                error=error.describe(),
            )
    return Listing(target.key, tuple(items), tuple(errors), time.perf_counter() - started)


def _query(lister: DiscoverySpec, params: dict[str, str], position: int, marker: str) -> dict[str, str]:
    paging = lister.paging
    query = dict(params)
    if paging.style != "none":
        query[paging.limit_param] = str(paging.limit)
    if paging.style in ("offset", "page"):
        query[paging.param] = str(position)
    elif paging.style == "marker" and marker:
        query[paging.param] = marker
    return query


async def _pages(
    client: Querier,
    target: TargetConfig,
    lister: DiscoverySpec,
    path: str,
    params: dict[str, str],
    deadline: Deadline,
) -> tuple[list[tuple[str, Any]], ApiError | None]:
    """Every page of one list call sequence, and the error that stopped it early, if any. Stops at a
    short page, at the total, or when a page brings nothing new (a cloud that repeats its last page
    cannot hold a scrape)."""
    paging = lister.paging

    def interpret(body: Any) -> tuple[list[tuple[str, Any]], int | None, str]:
        return list_items(lister, body), list_total(paging, body), list_next(paging, body)

    items: list[tuple[str, Any]] = []
    seen: set[str] = set()
    position, marker, total = paging.first, "", None
    for _ in range(MAX_PAGES):
        page = await client.get(target, path, interpret, deadline.left(), _query(lister, params, position, marker))
        if isinstance(page, ApiError):
            return items, page
        entries, total, next_marker = page
        fresh = [(task_id, item) for task_id, item in entries if lister.valid(task_id) and task_id not in seen]
        seen.update(task_id for task_id, _ in fresh)
        items.extend(fresh)
        if paging.style == "none" or not fresh or len(entries) < paging.limit:
            break
        if paging.style == "marker" and paging.next is not None and not next_marker:
            break  # CTS: a null marker is the last page, whatever its length
        position += len(entries) if paging.style == "offset" else 1
        done = position if paging.style == "offset" else (position - paging.first) * paging.limit
        if total is not None and done >= total:
            break
        marker = next_marker or entries[-1][0]
    if total is not None and len(items) < total:
        repeated(
            log.warning,
            "a list answered fewer items than its total",
            target.key,
            **dict(zip(("account", "cloud_service", "region", "project_id"), target.key, strict=True)),
            path=path,
            listed=len(items),
            total=total,
        )
    return items, None
