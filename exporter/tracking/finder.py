"""Discovery within a refresh: the list calls that are due (a fanned-out target's parent list first, then
its list per parent), and Cloud Trace Service's traces, each account's calls one after another (one
account's requests never go out in a burst before its credentials are known to work)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from exporter.config import Config, TargetConfig
from exporter.services import DiscoverySpec
from exporter.tracking.fanout import ParentLists, fan_out_listing, list_parents
from exporter.tracking.intake import discovery_due
from exporter.tracking.refresh import Deadline, Listing, Querier, list_calls, list_target
from exporter.tracking.table import Key, Source, TaskRecord, TaskTable
from exporter.tracking.traces import CTS, TraceSource, job_ids, trace_calls, trace_sources

__all__ = ["Finder"]

log = structlog.get_logger(__name__)

Add = Callable[[Key, str, Source], TaskRecord | None]


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
        self, table: TaskTable, now: float, interval: float
    ) -> dict[str, list[tuple[TargetConfig, DiscoverySpec | None]]]:
        """By account: the targets whose list calls are due (lister None: only the parent list is)."""
        by_account: dict[str, list[tuple[TargetConfig, DiscoverySpec | None]]] = {}
        for key in table.target_keys():
            target = table.target(key)
            lister = target.spec.discover
            if lister is not None and target.discover and discovery_due(table, key, lister, now):
                table.discovered(key, now + interval, None)
                by_account.setdefault(target.account, []).append((target, lister))
            elif target.fanned_out:
                by_account.setdefault(target.account, []).append((target, None))  # parents' names, when due
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
    ) -> list[Listing]:
        """The list calls that are due; the traces' jobs are added (`add`) as they are read."""
        tracking = config.tracking
        by_account = self._due(table, now, tracking.discovery_interval)
        traces = self._due_traces(now)

        async def account(name: str) -> list[Listing]:
            found = []
            for target, lister in by_account.get(name, []):
                listing = await self._list(client, target, lister, now, config, deadline, started)
                if listing is not None:
                    found.append(listing)
            for source in traces.get(name, []):
                assert CTS.discover is not None
                listing = await list_target(
                    client, source.cts, CTS.discover, trace_calls(source, now), deadline, started
                )
                # A sequence cut short (by the deadline, or an error) is asked again within a minute.
                interval = tracking.discovery_interval
                self._trace_due[source.key] = now + (interval if not listing.errors else min(60.0, interval))
                self._take_traces(table, source, listing, add)
            return found

        results = await asyncio.gather(*(account(name) for name in {*by_account, *traces}))
        return [listing for listings in results for listing in listings]

    async def _list(
        self,
        client: Querier,
        target: TargetConfig,
        lister: DiscoverySpec | None,
        now: float,
        config: Config,
        deadline: Deadline,
        started: float,
    ) -> Listing | None:
        """One target's listing: its list calls, or for a fanned-out target those of each known parent."""
        ttl = config.tracking.finished_ttl
        if not target.fanned_out:
            assert lister is not None
            return await list_target(client, target, lister, list_calls(target, lister, now, ttl), deadline, started)
        errors = await self.parents.refresh(client, target, now, config.tracking.discovery_interval, deadline, started)
        if lister is None:
            return None
        key = target.key
        found = await list_parents(
            client,
            target,
            lister,
            self.parents.order(key),
            lambda each: list_calls(each, lister, now, ttl),
            deadline,
            started,
        )
        self.parents.stopped(key, found)
        return fan_out_listing(target, errors, found)

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
