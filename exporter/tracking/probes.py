"""`/probe`: one task answered now (blackbox style), concurrent probes of the same task sharing one query."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import replace

from exporter.cloud.errors import ApiError
from exporter.model import Reason, TaskStatus
from exporter.tracking.refresh import Querier
from exporter.tracking.table import Key, Snapshot, Source, TargetSnapshot, TaskRecord, TaskTable, answered

__all__ = ["ProbeDesk"]


class ProbeDesk:
    """The probes in flight, and how their answers are stored."""

    def __init__(
        self,
        table: TaskTable,
        clock: Callable[[], float],
        add: Callable[..., TaskRecord | None],
        expire: Callable[[Iterable[Key]], None],
        publish: Callable[[], None],
        shown: Callable[[Snapshot], Snapshot] = lambda snapshot: snapshot,
    ) -> None:
        """`shown`: the table's snapshot as it is published (with the parents of fanned-out targets)."""
        self._table, self._clock, self._add, self._expire, self._publish = table, clock, add, expire, publish
        self._shown = shown
        self.queries: dict[tuple[Key, str], asyncio.Future[TaskStatus | ApiError]] = {}

    def _snapshot(self, key: Key) -> TargetSnapshot:
        return next(t for t in self._shown(self._table.snapshot()).targets if t.target.key == key)

    def _query(self, client: Querier, key: Key, task_id: str, timeout: float) -> asyncio.Future[TaskStatus | ApiError]:
        query = self.queries.get((key, task_id))
        if query is None:
            query = asyncio.ensure_future(client.query(self._table.target(key), task_id, timeout))
            self.queries[(key, task_id)] = query
            query.add_done_callback(lambda _done: self.queries.pop((key, task_id), None))
        return query

    async def probe(
        self, client: Querier, key: Key, task_id: str, timeout: float
    ) -> tuple[TargetSnapshot, TaskRecord | None, bool]:
        """Answer for one task now: (target, record, up). A final task is answered from memory; any other
        is asked, a task its list refreshes too (that answer may be a poll interval old). A task no
        other source tracks is stored (as `probe`, with a cap of its own, until it is no longer probed for
        probe_ttl) only once the cloud has answered for it."""
        table = self._table
        self._expire([key])  # when Prometheus scrapes only /probe, tasks must still age out
        record = table.get(key, task_id)
        if record is not None:
            table.update(key, record := replace(record, last_probe=self._clock()))
            if record.final:  # a listed task too is asked: its list's answer may be an interval old
                self._publish()
                return self._snapshot(key), record, True
        query = self._query(client, key, task_id, timeout)
        before = self._snapshot(key)
        result = await asyncio.shield(query)
        up = not isinstance(result, ApiError) or result.reason is Reason.NOT_FOUND
        if key not in table.target_keys():
            # The target left with a reload while the query was out: answer it, store nothing.
            return before, answered(record or TaskRecord(task_id, Source.PROBE), result, self._clock()), up
        if record is None and isinstance(result, ApiError):
            # Nothing known and nothing stored: a made-up ID must not take a slot.
            transient = answered(TaskRecord(task_id, Source.PROBE), result, self._clock())
            return self._snapshot(key), transient if transient.status is not None else None, up
        if table.get(key, task_id) is None:
            self._add(key, task_id, Source.PROBE, force=True)
        stored = table.get(key, task_id)
        if stored is not None:
            table.update(key, replace(stored, last_probe=self._clock()))
            stored = table.record(key, task_id, result, self._clock())
            if stored is not None and stored.listed and stored.final:  # the status API's final answer stands
                table.update(key, stored := replace(stored, listed=False))
        self._publish()
        return self._snapshot(key), stored, up
