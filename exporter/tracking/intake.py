"""What the sources hand over, taken into the task table: task files, and the items of list calls.

Both are synchronous and do no I/O: the files were read in a worker thread (`files.py`), the lists by
the refresh (`refresh.py`). They add tasks through the tracker's `Add` (which counts and logs what the
table refused or dropped) and write what they learn to the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import structlog

from exporter.cloud.errors import ApiError
from exporter.config import Config, TargetConfig
from exporter.log import repeated
from exporter.model import TaskStatus
from exporter.services import BadResponse, DiscoverySpec, lookup, read_item, read_time, text
from exporter.tracking.files import FileProblem, FileTask, TaskFiles
from exporter.tracking.refresh import Listing
from exporter.tracking.table import Key, Source, TaskRecord, TaskTable

__all__ = ["Add", "FileIntake", "discovery_due", "take_listing"]

log = structlog.get_logger(__name__)


CUT_RETRY = 60.0  # seconds: a fanned-out target whose parents were not all listed in time lists again this soon
_NONE = "task file entry matches no configured target"
_SEVERAL = "task file entry matches several targets; add account, region or project_id"


class Add(Protocol):
    def __call__(self, key: Key, task_id: str, source: Source, *, force: bool = False) -> TaskRecord | None: ...


class FileIntake:
    """The task files' tasks, matched to the configured targets; an entry that matches none (or several)
    is counted once for as long as the files hold it, and logged once per service, place and problem,
    then at every power of ten (a file of a thousand such entries has one cause, not a thousand)."""

    def __init__(self, on_error: Callable[[FileProblem], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._on_error, self._clock = on_error, clock
        self.files = TaskFiles((), 1.0, on_error=on_error, clock=clock)
        self._version = -1
        self._unmatched: set[tuple[str | int, ...]] = set()

    def apply(self, config: Config) -> None:
        services = frozenset(config.services)
        identities = {
            name: tuple(dict.fromkeys(t.identity for t in config.targets if t.cloud_service == name))
            for name in services
        }
        changed = (config.task_files, services, identities) != (
            self.files.patterns,
            self.files.services,
            self.files.identities,
        )
        if changed:  # a reload that fans a target out reads the files anew: their IDs' shapes changed
            self.files = TaskFiles(
                config.task_files,
                config.tracking.task_files_interval,
                on_error=self._on_error,
                clock=self._clock,
                services=services,
                identities=identities,
            )
        self.stale()

    def stale(self) -> None:
        """Take the files in again at the next sync (a task refused for lack of room may fit now)."""
        self._version = -1

    def sync(self, table: TaskTable, add: Add) -> None:
        self.files.poll()
        if self.files.version == self._version or not self.files.scanned:
            return
        self._version = self.files.version
        wanted: dict[Key, set[str]] = {}
        reported, self._unmatched = self._unmatched, set()
        for task in self.files.tasks():
            key = self._match(table, task, reported)
            if key is not None:
                wanted.setdefault(key, set()).add(task.task_id)
        for key in table.target_keys():
            ids = wanted.get(key, set())
            for task_id in ids:
                add(key, task_id, Source.FILE)
            for record in list(table.records(key)):
                if record.source is Source.FILE and record.task_id not in ids:
                    table.forget(key, record.task_id)  # gone from every file: no longer handed over

    def _match(self, table: TaskTable, task: FileTask, reported: set[tuple[str | int, ...]]) -> Key | None:
        candidates = [
            key
            for key in table.target_keys()
            if key[1] == task.cloud_service
            and not table.target(key).identity.problem(task.task_id)  # a fanned-out target's, or another's
            and task.account in ("", key[0])
            and task.region in ("", key[2])
            and task.project_id in ("", key[3])
        ]
        if len(candidates) == 1:
            return candidates[0]
        where = (task.account, task.region, task.project_id)
        entry = (task.origin, task.cloud_service, task.task_id, *where, len(candidates))
        self._unmatched.add(entry)  # only the entries of the current files are remembered
        if entry not in reported:
            self._on_error(FileProblem.UNMATCHED)
            repeated(
                log.warning,
                _SEVERAL if candidates else _NONE,
                (task.cloud_service, *where),  # not per task: one cause, however many entries
                entry=task.origin,
                cloud_service=task.cloud_service,
                task_id=task.task_id,
                targets=len(candidates),
            )
        return None


def discovery_due(table: TaskTable, key: Key, now: float) -> bool:
    """Whether the target's discovery is due (every discovery_interval; a list that carries the status
    is also called between two, to refresh its tasks: relist.py)."""
    due, _ = table.discovery(key)
    return now >= due


def take_listing(
    table: TaskTable,
    listing: Listing,
    add: Add,
    *,
    now: float,
    finished_ttl: float,
    unknown: Callable[[str, str], None] = lambda service, raw: None,
) -> list[TaskStatus | ApiError]:
    """Take in one target's list calls; the outcomes that count for its `up` (the statuses the items
    carried, and the errors that stopped a call). `unknown(service, raw)` hears raw statuses outside the
    spec's state table."""
    key = listing.key
    if key not in table.target_keys():
        return []  # the target left with a reload during the list calls
    target = table.target(key)
    lister = target.spec.discover
    assert lister is not None
    outcomes: list[TaskStatus | ApiError] = list(listing.errors)
    answered: set[str] = set()
    for task_id, item in listing.items:
        status = _take_item(
            table, add, key, target, lister, task_id, item, now=now, finished_ttl=finished_ttl, unknown=unknown
        )
        if status is not None:
            answered.add(task_id)
            outcomes.append(status)
    for record in list(table.records(key)):
        if not record.listed:
            continue
        if listing.holds(record.task_id):
            if listing.errors:  # a list that failed is tried again as a failed ask is (due.py)
                error = listing.errors[0]
                asked = now if error.sent else record.last_asked
                table.update(key, replace(record, last_error=error, last_asked=asked))
        elif record.task_id not in answered:
            # No longer in the list (a value removed, or the cloud forgot it): asked on its own again, at
            # once if unfinished (what it is now, the list no longer says), where not-found marking and the
            # TTL apply. An earlier failed list's error goes: this list answered, so nothing holds it back.
            again = record.ask_again or not record.final
            table.update(key, replace(record, listed=False, ask_again=again, last_error=None))
    due, _ = table.discovery(key)
    if listing.cut:
        due = min(due, now + CUT_RETRY)
    table.discovered(key, due, now if listing.success else None)
    return outcomes


def _take_item(
    table: TaskTable,
    add: Add,
    key: Key,
    target: TargetConfig,
    lister: DiscoverySpec,
    task_id: str,
    item: Any,
    *,
    now: float,
    finished_ttl: float,
    unknown: Callable[[str, str], None],
) -> TaskStatus | None:
    """Take in one list item; the status it carries, if it does."""
    if lister.carries_status:
        return _take_status_item(table, add, key, target, lister, task_id, item, now=now, unknown=unknown)
    _take_recent_item(table, add, key, target, lister, task_id, item, now=now, finished_ttl=finished_ttl)
    return None


def _take_status_item(
    table: TaskTable,
    add: Add,
    key: Key,
    target: TargetConfig,
    lister: DiscoverySpec,
    task_id: str,
    item: Any,
    *,
    now: float,
    unknown: Callable[[str, str], None],
) -> TaskStatus | None:
    """An item that carries its task's status: the task is tracked, and the status recorded. An item read
    through `discover.status` (fields of its own, fewer than the status API's) that says a task the
    exporter saw unfinished is now final has it asked once on its own, for the detail only the status API
    has (its error, its end); its answer then stands: later items no longer overwrite it."""
    try:
        status = read_item(target.spec, item, target.time_zone, lambda raw: unknown(target.cloud_service, raw))
    except BadResponse as exc:
        log.debug("a list item without a status; skipped", **target.labels(), task_id=task_id, error=str(exc))
        return None
    except Exception as exc:  # one odd item must not stop the refresh of every target
        repeated(
            log.warning,
            "a list item could not be read; skipped",
            (target.key, type(exc).__name__),
            **target.labels(),
            task_id=task_id,
            error=type(exc).__name__,
        )
        return None
    record = add(key, task_id, Source.DISCOVERED)
    if record is None:
        return status
    own = lister.item_status is not None and status.final
    if own and record.final and not record.listed:
        return status  # final, and asked (or to be asked) on its own: that answer has more than the item
    # Asked once when the list shows it turn final (the exporter saw it unfinished); not a task final when
    # first seen (a new target's history would cost a call each), nor where the status API did not know it.
    ask = own and record.status is not None and not record.final and record.not_found == 0
    table.update(key, replace(record, listed=True))
    answered = table.record(key, task_id, status, now)
    if ask and answered is not None:
        table.update(key, replace(answered, listed=False, ask_again=True))
    return status


def _take_recent_item(
    table: TaskTable,
    add: Add,
    key: Key,
    target: TargetConfig,
    lister: DiscoverySpec,
    task_id: str,
    item: Any,
    *,
    now: float,
    finished_ttl: float,
) -> None:
    """An item without a status: tracked if recent; a new check (`recheck`) of a final task asks it again."""
    try:
        stamp = read_time(item, lister.recent, target.time_zone, target.cloud_service)
    except BadResponse:
        stamp = None  # a list item whose time is not a value: not known to be recent
    recheck = text(lookup(item, lister.recheck)) if lister.recheck is not None else None
    record = table.get(key, task_id)
    if record is None:
        # Not recent (never run, or longer ago than the finished TTL): nothing recent to show.
        if lister.recent is not None and (stamp is None or stamp < now - finished_ttl):
            return
        retired_at = table.retired_at(key, task_id)
        record = add(
            key, task_id, Source.DISCOVERED, force=retired_at is not None and stamp is not None and stamp > retired_at
        )
        if record is None:
            return
    elif recheck is not None and record.recheck is not None and recheck != record.recheck and record.final:
        # CodeArts: last_check_time is the newest check of any branch or incremental task too, so a new
        # value may not be a new run of this task. The status API decides.
        repeated(
            log.info,
            "the list shows a newer check; asking the task's status again",
            target.key,
            **target.labels(),
            task_id=task_id,
        )
        record = replace(record, ask_again=True)
    table.update(key, replace(record, recheck=recheck))
