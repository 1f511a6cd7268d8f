"""List refreshes (README, "Lists that refresh tasks"): a list whose items carry the status
(`carries_status` in the spec) refreshes a target's unfinished tasks in one call sequence, when that
takes fewer calls than asking each.

Between two discoveries, a target's list is called again only when one of its listed unfinished tasks
is due (due.py), and only when the pages it would take are no more than the due tasks: else those are
asked one by one on the status API. The list is narrowed to what it must show: its time window (where
the spec has one) starts `MARGIN` before the earliest unfinished listed task, and a fanned-out target
lists only the parents with a due task. A task the narrowed list does not show is no longer `listed`
and is asked on its own from then on, so no task is lost to a window that a cloud reads otherwise.

The pages are estimated from what the last lists showed (the tracked items the window covers, per
call sequence and parent), not asked: the estimate only chooses between two correct ways.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from exporter.config import TargetConfig, TrackingSettings
from exporter.services import DiscoverySpec
from exporter.tracking.due import Saved, earliest, is_due, saved_reason
from exporter.tracking.refresh import Listing, list_calls
from exporter.tracking.table import Key, TaskRecord, TaskTable

__all__ = ["MARGIN", "Relist", "list_saved", "plan_relist"]

MARGIN = 600.0  # seconds before the earliest unfinished listed task that a narrowed window starts


@dataclass(frozen=True)
class Relist:
    """What a refresh does about one target's listed unfinished tasks: list them again (`listing`, narrowed
    to `lookback` seconds and, when fanned out, to `parents`) for the due ones it shows (`listed`), or ask
    the due ones alone (`alone`); and the asks saved by tasks not due, by reason."""

    listing: bool = False
    lookback: float | None = None  # None: the spec's window as for discovery
    parents: tuple[str, ...] = ()
    due: int = 0
    alone: frozenset[str] = frozenset()
    listed: frozenset[str] = frozenset()  # the due tasks the list is called for (not those asked alone)
    saved: Counter[Saved] = field(default_factory=Counter)


def plan_relist(
    table: TaskTable,
    target: TargetConfig,
    tracking: TrackingSettings,
    now: float,
    seen: float | None,
    known: Collection[str] = (),
) -> Relist:
    """The plan for the listed unfinished tasks of `target` (whose list carries the status) on a refresh
    at `now` that is not its discovery; `seen`: when this scraper's last refresh ended; `known`: a
    fanned-out target's parents (a due task of another is asked alone)."""
    lister = target.spec.discover
    assert lister is not None
    running = [r for r in table.records(target.key) if r.listed and not r.final]
    due, saved = _due(tracking, target, running, now, seen)
    if not due:
        return Relist(saved=saved)
    parents, strays = _parents(target, due, known)
    lookback = _lookback(lister, running, now)
    if target.fanned_out and not parents:
        return Relist(due=len(due), alone=strays, saved=saved)
    pages = _pages(table, target.key, target, lister, now, lookback, parents)
    if pages > len(due) - len(strays):
        return Relist(due=len(due), alone=frozenset(r.task_id for r in due), saved=saved)
    listed = frozenset(r.task_id for r in due) - strays
    return Relist(True, lookback, parents, len(due), strays, listed, saved)


def list_saved(relist: Relist, listing: Listing) -> int:
    """The asks a list refresh saved: the due tasks it answered (not those it failed to show, nor those
    asked alone), less the pages it took."""
    answered = {task_id for task_id, _ in listing.items} & relist.listed
    return max(0, len(answered) - listing.pages)


def _due(
    tracking: TrackingSettings, target: TargetConfig, running: list[TaskRecord], now: float, seen: float | None
) -> tuple[list[TaskRecord], Counter[Saved]]:
    """The due tasks among `running`, and the asks the others saved, by reason."""
    due, saved = [], Counter[Saved]()
    for record in running:
        if is_due(tracking, target, record, now):
            due.append(record)
        else:
            saved[saved_reason(record, seen)] += 1
    return due, saved


def _lookback(lister: DiscoverySpec, running: Iterable[TaskRecord], now: float) -> float | None:
    """The window that shows every unfinished listed task (None: the list has no window, or a task's
    time is not known)."""
    if lister.window is None:
        return None
    times = [earliest(r) for r in running]
    if any(t is None for t in times):
        return None
    return max(now - min(t for t in times if t is not None), 0.0) + MARGIN


def _parent(target: TargetConfig, record: TaskRecord) -> str:
    return record.task_id.split(target.identity.separator, 1)[0]


def _parents(
    target: TargetConfig, due: Iterable[TaskRecord], known: Collection[str]
) -> tuple[tuple[str, ...], frozenset[str]]:
    """A fanned-out target's known parents that hold a due task (their IDs' first part), and the due tasks
    of a parent not known (asked alone)."""
    if not target.fanned_out:
        return (), frozenset()
    parents = dict.fromkeys(_parent(target, r) for r in due)
    strays = frozenset(r.task_id for r in due if _parent(target, r) not in known)
    return tuple(p for p in parents if p in known), strays


def _pages(
    table: TaskTable,
    key: Key,
    target: TargetConfig,
    lister: DiscoverySpec,
    now: float,
    lookback: float | None,
    parents: tuple[str, ...],
) -> int:
    """The pages a list refresh would take: per call sequence (or parent), the items it showed last time
    that the window covers, a page per `limit` of them, at least one. A shard's table holds its share of
    the items, a list shows them all: its own count times the shards (tasks hash evenly among them)."""
    since = None if lookback is None else now - lookback
    shown = [r.task_id for r in table.records(key) if r.listed and (since is None or (earliest(r) or now) >= since)]
    limit = (lister.paging.limit if lister.paging.style != "none" else math.inf) / table.shard.count
    if parents:
        separator = target.identity.separator
        per = Counter(task_id.split(separator, 1)[0] for task_id in shown)
        return sum(max(1, math.ceil(per[parent] / limit)) for parent in parents)
    sequences = len(list_calls(target, lister, now, lookback or 0.0))
    return max(sequences, math.ceil(len(shown) / limit))
