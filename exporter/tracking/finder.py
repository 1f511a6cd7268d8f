"""Discovery within a refresh: the list calls that are due (a fanned-out target's parent list first, then
its list per parent), the list refreshes of lists that carry the status (relist.py), and Cloud Trace
Service's traces, each account's calls one after another (one account's requests never go out in a burst
before its credentials are known to work)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from exporter.config import Config, TargetConfig
from exporter.services import DiscoverySpec
from exporter.tracking.due import Saved
from exporter.tracking.fanout import ParentLists, fan_out_listing, list_parents
from exporter.tracking.intake import discovery_due
from exporter.tracking.refresh import Deadline, Listing, Querier, list_calls, list_target
from exporter.tracking.relist import Relist, list_saved, plan_relist
from exporter.tracking.table import Key, Source, TaskRecord, TaskTable
from exporter.tracking.traces import CTS, TraceSource, job_ids, trace_calls, trace_sources

__all__ = ["Finder", "Found"]

log = structlog.get_logger(__name__)

Add = Callable[[Key, str, Source], TaskRecord | None]
Due = tuple[
    TargetConfig, DiscoverySpec | None, Relist | None
]  # lister None: the parent list only; Relist None: a discovery


@dataclass
class Found:
    """What a refresh's discovery found (the listings), the listed tasks it leaves to be asked alone (their
    list would take more calls), and the asks it saved, by (cloud service, reason)."""

    listings: list[Listing] = field(default_factory=list)
    alone: dict[Key, frozenset[str]] = field(default_factory=dict)
    saved: Counter[tuple[str, Saved]] = field(default_factory=Counter)


class Finder:
    """What each refresh's discovery asks, and when each list is due again."""

    def __init__(self) -> None:
        self.parents = ParentLists()
        self._traces: list[TraceSource] = []
        self._trace_due: dict[Key, float] = {}  # CTS discovery, by (account, "cts", region, project)
        self._trace_turn = 0

    def apply(self, config: Config) -> None:
        self._traces, problems = trace_sources(config)
        for problem in problems:
            log.warning("Cloud Trace Service discovery is off for this account and region", problem=problem)
        self.parents.keep(target.key for target in config.targets)

    def _due(
        self, table: TaskTable, config: Config, now: float, seen: float | None, found: Found
    ) -> dict[str, list[Due]]:
        """By account: the targets whose list calls are due: a discovery, or a list refresh (relist.py),
        or only the parent list (lister None). The plans' tasks to ask alone and savings go into `found`."""
        by_account: dict[str, list[Due]] = {}
        for key in table.target_keys():
            target = table.target(key)
            lister = target.spec.discover
            relist = None
            if lister is not None and target.discover and discovery_due(table, key, now):
                table.discovered(key, now + config.tracking.discovery_interval, None)
            elif lister is not None and target.discover and lister.carries_status:
                relist = plan_relist(table, target, config.tracking, now, seen, self.parents.names(key))
                found.alone[key] = relist.alone
                for reason, count in relist.saved.items():
                    found.saved[(target.cloud_service, reason)] += count
                if not relist.listing:
                    lister = None
            else:
                lister = None
            if lister is not None or target.fanned_out:  # a fanned-out target's parents' names, when due
                by_account.setdefault(target.account, []).append((target, lister, relist))
        return by_account

    def _due_traces(self, now: float) -> dict[str, list[TraceSource]]:
        traces: dict[str, list[TraceSource]] = {}
        # Rotated, so that a deadline too short for all of them does not leave out the same ones.
        self._trace_turn += 1
        shift = self._trace_turn % len(self._traces) if self._traces else 0
        for source in self._traces[shift:] + self._traces[:shift]:
            if now >= self._trace_due.get(source.key, 0.0):
                traces.setdefault(source.cts.account, []).append(source)
        return traces

    async def discover(
        self,
        client: Querier,
        table: TaskTable,
        config: Config,
        deadline: Deadline,
        started: float,
        now: float,
        add: Add,
        seen: float | None = None,
    ) -> Found:
        """The list calls that are due; the traces' jobs are added (`add`) as they are read. `seen`: when
        the scraper's last refresh ended (to tell the savings of an answer another's refresh brought)."""
        tracking = config.tracking
        found = Found()
        by_account = self._due(table, config, now, seen, found)
        traces = self._due_traces(now)

        async def account(name: str) -> list[Listing]:
            listings = []
            for target, lister, relist in by_account.get(name, []):
                listing = await self._list(client, target, lister, relist, now, config, deadline, started)
                if listing is not None:
                    listings.append(listing)
                    if relist is not None:  # the tasks a list refresh answered, less the pages it took
                        found.saved[(target.cloud_service, Saved.LIST)] += list_saved(relist, listing)
            for source in traces.get(name, []):
                assert CTS.discover is not None
                listing = await list_target(
                    client, source.cts, CTS.discover, trace_calls(source, now), deadline, started
                )
                # A sequence cut short (by the deadline, or an error) is asked again within a minute.
                interval = tracking.discovery_interval
                self._trace_due[source.key] = now + (interval if not listing.errors else min(60.0, interval))
                self._take_traces(table, source, listing, add)
            return listings

        results = await asyncio.gather(*(account(name) for name in {*by_account, *traces}))
        found.listings = [listing for listings in results for listing in listings]
        return found

    async def _list(
        self,
        client: Querier,
        target: TargetConfig,
        lister: DiscoverySpec | None,
        relist: Relist | None,
        now: float,
        config: Config,
        deadline: Deadline,
        started: float,
    ) -> Listing | None:
        """One target's listing: its list calls, or for a fanned-out target those of each known parent (a
        list refresh: those of the parents with a due task), in the window of a list refresh if narrowed."""
        span = config.tracking.finished_ttl
        if relist is not None and relist.lookback is not None:
            span = min(span, relist.lookback)
        if not target.fanned_out:
            assert lister is not None
            return await list_target(client, target, lister, list_calls(target, lister, now, span), deadline, started)
        errors = await self.parents.refresh(client, target, now, config.tracking.discovery_interval, deadline, started)
        if lister is None:
            return None
        key = target.key
        chosen = self.parents.order(key) if relist is None else list(relist.parents)
        found = await list_parents(
            client, target, lister, chosen, lambda each: list_calls(each, lister, now, span), deadline, started
        )
        if relist is None:
            self.parents.stopped(key, found)
        skipped = [] if relist is None else [p for p in self.parents.names(key) if p not in relist.parents]
        return fan_out_listing(target, errors, found, skipped)

    def _take_traces(self, table: TaskTable, source: TraceSource, listing: Listing, add: Add) -> None:
        """Track the jobs the traces name; a job already tracked, or retired here before, is left alone."""
        found, skipped = job_ids(source, listing)
        added = 0
        for target, job_id in found:
            key = target.key
            if key not in table.target_keys() or table.get(key, job_id) is not None:
                continue
            # A job that left before (finished and gone after its TTL) is refused by the table.
            added += add(key, job_id, Source.DISCOVERED) is not None
        if added or skipped:
            log.debug(
                "Cloud Trace Service traces read",
                **source.cts.labels(),
                traces=len(listing.items),
                jobs_added=added,
                skipped=dict(skipped),
            )
