"""One refresh's I/O: the status queries and the list calls, within one deadline. Everything here
returns what the cloud said; nothing writes to the task table (the tracker does, afterwards).

The deadline is made once per refresh (`Deadline`) and handed down to every call, so a list call, a
first request and the rest of an account's queries all spend the same budget.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

import structlog

from exporter.cloud.errors import ApiError
from exporter.config import TargetConfig
from exporter.log import repeated
from exporter.model import Reason, TaskStatus
from exporter.services import DiscoverySpec, Paging, Window, fill, list_items, list_next, list_total, lookup, text
from exporter.services.calls import header_total, list_body, page_body, place, request_headers

__all__ = ["MAX_PAGES", "Answer", "Deadline", "ListCall", "Listing", "Querier", "list_calls", "list_target", "poll"]

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
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        headers_into: dict[str, str] | None = None,
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
    # A fanned-out target's (fanout.py): the ID prefixes of the parents whose tasks keep what the list said
    # before (their list failed or was not reached); None: every task's, when there is an error.
    held: tuple[str, ...] | None = None
    succeeded: bool | None = None  # whether it counts as a successful discovery; None: when no error
    cut: bool = False  # parents left for want of time: due again within a minute
    pages: int = 0  # the requests it took (a fanned-out target's: every parent's)

    def holds(self, task_id: str) -> bool:
        """Whether the task keeps its `listed` state (its list did not answer this time)."""
        if self.held is None:
            return bool(self.errors)
        return task_id.startswith(self.held)

    @property
    def success(self) -> bool:
        return not self.errors if self.succeeded is None else self.succeeded


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
    queue, remaining = _queue(client, work, deadline, first_budget)
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
                result = await _ask(client, target, task_id, until)
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


_Job = tuple[TargetConfig, str, Deadline, Sequence[tuple[TargetConfig, str]]]


def _queue(
    client: Querier, work: Sequence[Sequence[tuple[TargetConfig, str]]], deadline: Deadline, first_budget: float
) -> tuple[asyncio.Queue[_Job | None], int]:
    """The queries in the order the workers take them (each untried account's first alone, with the rest
    of that account held in its job), and how many there are."""
    queue: asyncio.Queue[_Job | None] = asyncio.Queue()
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
    return queue, remaining


async def _ask(client: Querier, target: TargetConfig, task_id: str, until: Deadline) -> TaskStatus | ApiError:
    try:
        return await client.query(target, task_id, until.left())  # no time left: the client holds it back
    except Exception as exc:  # the client returns errors; a bug must still not hang the other workers
        repeated(
            log.error,
            "task query raised",
            (target.key, type(exc).__name__),
            exc_info=True,
            **target.labels(),
            task_id=task_id,
        )
        return ApiError(Reason.CLIENT_ERROR, message=f"unexpected {type(exc).__name__} in the exporter")


class ListCall(NamedTuple):
    """One list call sequence: its path and query, the JSON body of a POST list (the pages' values are
    placed in a copy), and its request headers (`{uuid}` made fresh per request by the client)."""

    path: str
    query: dict[str, str]
    body: Any = None
    headers: Mapping[str, str] = {}


def list_calls(target: TargetConfig, lister: DiscoverySpec, now: float, lookback: float) -> list[ListCall]:
    """Each list call sequence: one per configured value (or batch of values) and per value of each
    query parameter that takes several, with the time window in the query or the body."""
    params = dict(target.params)
    path = fill(lister.path, target.project_id, params=params)
    query = {key: fill(value, target.project_id, params=params) for key, value in lister.query.items()}
    window = _window(lister.window, now, lookback)
    calls = []
    for value, extra in _values(lister, target.discover.values):
        body = list_body(lister, target.project_id, params, value)
        for name, stamp in window.items():
            if lister.window is not None and lister.window.where == "body":
                body = place(body, name, stamp)
            else:
                extra = {**extra, name: str(stamp)}
        headers = request_headers(lister.headers, target.project_id, params=params, value=value)
        for chosen in itertools.product(*([(key, v) for v in values] for key, values in lister.query_each.items())):
            calls.append(ListCall(path.replace("{value}", value), {**query, **extra, **dict(chosen)}, body, headers))
    return calls


def _values(lister: DiscoverySpec, values: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """(value, query parameters) of each configured value: all in one call without a `config_key`,
    comma-joined batches into query parameter `batch`, or one call per value (in the path)."""
    if not lister.config_key:
        return [("", {})]
    if lister.batch:
        size = lister.batch_size
        chunks = [",".join(values[i : i + size]) for i in range(0, len(values), size)]
        return [(chunk, {lister.batch: chunk}) for chunk in chunks]
    return [(value, {}) for value in values]


def _window(window: Window | None, now: float, lookback: float) -> dict[str, str | int]:
    """The window's values by query parameter (or body pointer): numbers in a body for epochs, unless
    the spec says `json_type: string`."""
    if window is None:
        return {}
    span = window.lookback or lookback
    start = now - (min(span, window.max_lookback) if window.max_lookback else span)
    number = window.where == "body" and window.format.startswith("epoch") and window.json_type != "string"
    stamps = {window.from_param: start, **({window.to_param: now} if window.to_param else {})}
    return {
        name: int(_stamp(when, window.format)) if number else _stamp(when, window.format)
        for name, when in stamps.items()
    }


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
    calls: Iterable[ListCall],
    deadline: Deadline,
    started: float,
) -> Listing:
    items: list[tuple[str, Any]] = []
    errors: list[ApiError] = []
    pages = 0
    for call in calls:
        found, error, asked = await _pages(client, target, lister, call, deadline)
        items += found
        pages += asked
        if error is not None:
            errors.append(error)
            repeated(
                log.warning,
                "discovery failed; keeping the tasks found before",
                (target.key, error.reason),
                **_labels(target),
                path=call.path,
                error=error.describe(),
            )
    return Listing(target.key, tuple(items), tuple(errors), time.perf_counter() - started, pages=pages)


def _labels(target: TargetConfig) -> dict[str, str]:
    return dict(zip(("account", "cloud_service", "region", "project_id"), target.key, strict=True))


def _query(paging: Paging, params: dict[str, str], position: int, marker: str) -> dict[str, str]:
    """One page's query: the call's, with the paging values where the spec puts them."""
    query = dict(params)
    if paging.style == "none" or paging.where == "body":
        return query
    if paging.template:
        value = paging.template.replace("{limit}", str(paging.limit))
        query[paging.param] = value.replace(
            "{" + paging.style + "}", marker if paging.style == "marker" else str(position)
        )
        return query
    query[paging.limit_param] = str(paging.limit)
    if paging.style in ("offset", "page"):
        query[paging.param] = str(position)
    elif marker:
        query[paging.param] = marker
    return query


@dataclass
class _Walk:
    """Where a list call sequence stands: the items found, their IDs, the next page's place, the total."""

    items: list[tuple[str, Any]]
    seen: set[str]
    position: int
    marker: str = ""
    total: int | None = None

    def take(self, entries: list[tuple[str, Any]], valid: Callable[[str], bool]) -> bool:
        """Keep a page's new items whose ID is `valid` (the list's task IDs' shape); whether it brought any."""
        fresh = [(task_id, item) for task_id, item in entries if valid(task_id) and task_id not in self.seen]
        self.seen.update(task_id for task_id, _ in fresh)
        self.items.extend(fresh)
        return bool(fresh)

    def advance(self, paging: Paging, entries: list[tuple[str, Any]], next_marker: str) -> bool:
        """Move to the next page; False when this one was the last (short, past the total, or the end of
        a marker list)."""
        if len(entries) < paging.limit:
            return False
        if paging.style == "marker" and paging.next is not None and not next_marker:
            return False  # CTS: a null marker is the last page, whatever its length
        self.position += len(entries) if paging.style == "offset" else 1
        done = self.position if paging.style == "offset" else (self.position - paging.first) * paging.limit
        if self.total is not None and done >= self.total:
            return False
        item_marker = text(lookup(entries[-1][1], paging.item_marker)) if paging.item_marker is not None else ""
        self.marker = next_marker or item_marker or entries[-1][0]
        return True


async def _pages(
    client: Querier, target: TargetConfig, lister: DiscoverySpec, call: ListCall, deadline: Deadline
) -> tuple[list[tuple[str, Any]], ApiError | None, int]:
    """Every page of one list call sequence, the error that stopped it early (if any), and how many pages
    it asked for. Stops at a short page, at the total, or when a page brings nothing new (a cloud that
    repeats its last page cannot hold a scrape)."""
    paging = lister.paging

    def interpret(body: Any) -> tuple[list[tuple[str, Any]], int | None, str]:
        return list_items(lister, body), list_total(paging, body), list_next(paging, body)

    walk = _Walk([], set(), paging.first)
    for asked in range(1, MAX_PAGES + 1):
        answer_headers: dict[str, str] = {}
        page = await client.get(
            target,
            call.path,
            interpret,
            deadline.left(),
            _query(paging, call.query, walk.position, walk.marker),
            method=lister.method,
            headers=call.headers,
            body=page_body(call.body, paging, walk.position, walk.marker) if lister.method == "POST" else None,
            headers_into=answer_headers if paging.total_header else None,
        )
        if isinstance(page, ApiError):
            return walk.items, page, asked
        entries, total, next_marker = page
        walk.total = header_total(answer_headers.get(paging.total_header.lower())) if paging.total_header else total
        if (
            not walk.take(entries, lister.valid)
            or paging.style == "none"
            or not walk.advance(paging, entries, next_marker)
        ):
            break
    if walk.total is not None and len(walk.items) < walk.total:
        repeated(
            log.warning,
            "a list answered fewer items than its total",
            target.key,
            **_labels(target),
            path=call.path,
            listed=len(walk.items),
            total=walk.total,
        )
    return walk.items, None, asked
