"""Tasks named by several parts, and targets fanned out over a parent list.

A spec's `task_id: {parts}` names a task by several parts (DataArts: job name + instance ID), joined into
the one `task_id`; a spec's `parents:` lets a target leave out a path parameter (DMS: instance_id) and
track the tasks of every parent the list names, each task's ID then starting with its parent's ID
(`<instance_id>/<task_id>`). Both come down to one step before a call: the parts of the ID become the
path parameters of the target the client is asked with (`resolve`), so the client and the refresh
need not know either.

The parent list is called on the discovery interval; a list that fails keeps the parents known before
(said once, and in the target's discovery errors). A parent that leaves takes its tasks away as any
task goes: no longer listed, it is asked on its own until the cloud says not found or its TTL ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import structlog

from exporter.cloud.errors import ApiError, Reason
from exporter.config import TargetConfig
from exporter.log import repeated
from exporter.model import TaskStatus
from exporter.services import DiscoverySpec, lookup
from exporter.tracking.refresh import Deadline, ListCall, Listing, Querier, list_calls, list_target
from exporter.tracking.table import Key, Snapshot

__all__ = ["IdentityQuerier", "ParentLists", "child", "fan_out_listing", "list_parents", "resolve"]

log = structlog.get_logger(__name__)
T = TypeVar("T")
PARENT_RETRY = 60.0  # a parent list that failed is asked again this soon (or at the interval, if sooner)
PARENT_CONCURRENCY = 4  # a fanned-out target's parents listed at once (after the first, alone)


def child(target: TargetConfig, parent_id: str) -> TargetConfig:
    """The target with the parent's ID as its path parameter (no longer fanned out)."""
    assert target.spec.parents is not None
    return dataclasses.replace(target, params=(*target.params, (target.spec.parents.param, parent_id)))


def resolve(target: TargetConfig, task_id: str) -> tuple[TargetConfig, str]:
    """The target and ID to ask the client with: the parts of a task's ID as path parameters, the ID
    itself as `{task_id}` once the parent's part is taken off. An ID not of the target's shape (left
    from before a reload changed it) is asked as it is: the cloud's not-found then retires it."""
    identity = target.identity
    if not identity.multi or identity.problem(task_id):
        return target, task_id
    parts = identity.split(task_id)
    parents = target.spec.parents
    if target.fanned_out and parents is not None:
        target = child(target, parts.pop(parents.param))
    inner = target.spec.identity
    if not inner.multi:
        return target, parts[inner.parts[0].name]
    return dataclasses.replace(target, params=(*target.params, *parts.items())), inner.join(parts)


class IdentityQuerier:
    """A client whose status queries take multi-part task IDs (see `resolve`); list calls go through."""

    def __init__(self, client: Querier) -> None:
        self.client = client

    async def query(self, target: TargetConfig, task_id: str, timeout: float) -> TaskStatus | ApiError:
        asked, inner = resolve(target, task_id)
        return await self.client.query(asked, inner, timeout)

    def new_refresh(self) -> None:
        self.client.new_refresh()

    def lone_first(self, account: str) -> bool:
        return self.client.lone_first(account)

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
    ) -> T | ApiError:
        return await self.client.get(
            target,
            path,
            interpret,
            timeout,
            params,
            method=method,
            headers=headers,
            body=body,
            headers_into=headers_into,
        )


async def list_parents(
    client: Querier,
    target: TargetConfig,
    lister: DiscoverySpec,
    parents: list[str],
    calls: Callable[[TargetConfig], list[ListCall]],
    deadline: Deadline,
    started: float,
) -> dict[str, Listing | None]:
    """Each parent's listing, in the order given, the first alone (the account's credentials may be new)
    and the others PARENT_CONCURRENCY at a time, until the deadline; None for a parent not reached."""
    found: dict[str, Listing | None] = dict.fromkeys(parents)
    queue = iter(parents)  # shared: each parent is taken by one worker

    async def work(limit: int | None = None) -> None:
        for parent_id in itertools.islice(queue, limit):
            if deadline.left() <= 0:
                continue  # not reached: None
            each = child(target, parent_id)
            listing = await list_target(client, each, lister, calls(each), deadline, started)
            if not (listing.errors and deadline.left() <= 0 and _cut(listing)):
                found[parent_id] = listing  # else cut short by the deadline: as if not reached

    await work(1)
    await asyncio.gather(*(work() for _ in range(PARENT_CONCURRENCY)))
    return found


def fan_out_listing(
    target: TargetConfig,
    parent_errors: list[ApiError],
    found: Mapping[str, Listing | None],
    skipped: Iterable[str] = (),
) -> Listing:
    """One listing of a fanned-out target from its parents' listings, each item's ID after its parent's. The
    tasks of a parent whose list failed, or was not reached, or that a list refresh `skipped` (none of its
    tasks was due), keep what was said before; the discovery counts as successful when the parent list
    answered and so did at least one parent (or there is none), so that one parent's trouble (said in the
    errors, which count for `up`) does not stop the target's."""
    separator = target.identity.separator
    items: list[tuple[str, Any]] = []
    errors = list(parent_errors)
    held: list[str] = [parent_id + separator for parent_id in skipped]
    answered = 0
    for parent_id, listing in found.items():
        if listing is None:
            held.append(parent_id + separator)
            continue
        items += [(parent_id + separator + task_id, item) for task_id, item in listing.items]
        errors += listing.errors
        if listing.errors:
            held.append(parent_id + separator)
        else:
            answered += 1
    at = max((listing.at for listing in found.values() if listing is not None), default=0.0)
    succeeded = not parent_errors and (answered > 0 or not found)
    cut = any(listing is None for listing in found.values())
    pages = sum(listing.pages for listing in found.values() if listing is not None)
    return Listing(target.key, tuple(items), tuple(errors), at, tuple(held), succeeded, cut, pages)


def _cut(listing: Listing) -> bool:
    """A listing the refresh's deadline stopped (a request held back or timed out), not the cloud's error."""
    return any(error.reason is Reason.TIMEOUT for error in listing.errors)


class ParentLists:
    """The parents of each fanned-out target, by ID (with their names where the list gives one)."""

    def __init__(self) -> None:
        self._known: dict[Key, dict[str, str]] = {}
        self._due: dict[Key, float] = {}
        self._next: dict[Key, str] = {}  # the parent the next listing starts with: where the last one stopped

    def names(self, key: Key) -> Mapping[str, str]:
        """The parents last listed for the target: ID -> name ("" where the list has none)."""
        return self._known.get(key, {})

    def shown(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with each fanned-out target's parents, for their names as labels."""
        targets = tuple(
            dataclasses.replace(t, parents=self.names(t.target.key)) if t.target.fanned_out else t
            for t in snapshot.targets
        )
        return dataclasses.replace(snapshot, targets=targets)

    def keep(self, keys: Iterable[Key]) -> None:
        """Forget the targets a reload removed; the others keep their parents."""
        wanted = set(keys)
        for gone in [key for key in self._known if key not in wanted]:
            self._known.pop(gone, None)
            self._due.pop(gone, None)
            self._next.pop(gone, None)

    def order(self, key: Key) -> list[str]:
        """The known parents, from the one the last listing did not reach (rotated, so that a budget too
        short for all of them does not leave out the same ones every time)."""
        known = list(self.names(key))
        start = self._next.get(key)
        if start in known:
            turn = known.index(start)
            known = known[turn:] + known[:turn]
        return known

    def stopped(self, key: Key, found: Mapping[str, Listing | None]) -> None:
        """Remember the first parent the listing `found` did not reach in time."""
        left = [parent_id for parent_id, listing in found.items() if listing is None]
        if left:
            self._next[key] = left[0]
        else:
            self._next.pop(key, None)

    async def refresh(
        self, client: Querier, target: TargetConfig, now: float, interval: float, deadline: Deadline, started: float
    ) -> list[ApiError]:
        """List the target's parents when due; the errors of a list that failed (its parents stay)."""
        parents = target.spec.parents
        key = target.key
        if parents is None or now < self._due.get(key, 0.0):
            return []
        lister = parents.lister
        listing = await list_target(client, target, lister, list_calls(target, lister, now, 0.0), deadline, started)
        if listing.errors:
            self._due[key] = now + min(PARENT_RETRY, interval)
            known = self._known.setdefault(key, {})
            repeated(
                log.warning,
                "parent list failed; keeping the parents known before",
                (key, listing.errors[0].reason),
                **target.labels(),
                parents=len(known),
                error=listing.errors[0].describe(),
            )
            return list(listing.errors)
        self._due[key] = now + interval
        found = {}
        for parent_id, item in listing.items:
            name = lookup(item, parents.name) if parents.name is not None else None
            found[parent_id] = name.strip() if isinstance(name, str) else ""
        if found.keys() != self._known.get(key, {}).keys():
            log.info("parents listed", **target.labels(), parents=len(found), param=parents.param)
        self._known[key] = found
        return []
