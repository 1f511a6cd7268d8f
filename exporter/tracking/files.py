"""Tasks handed over in files: the `task_files` globs of YAML or JSON files of the form

    tasks:
      - {cloud_service: evs, task_id: 4010a32d535527910153552b492c0002}
      - {cloud_service: dws, task_id: 2c9080e88459fa44018459fbeb600001, account: prod, region: cn-north-4}

This is how a CI pipeline hands over a task it just created: it writes (or appends to) a file. The
files are checked at most every `tracking.task_files_interval` seconds, in a worker thread, and only
files whose size, mtime or inode changed are read again, so a scrape never waits for the disk. A
file that does not parse keeps the tasks it had before and is reported once; it never drops the
tasks of other files.
"""

from __future__ import annotations

import asyncio
import enum
import glob
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
import yaml

from exporter.log import repeated
from exporter.model import ID_DESCRIPTION, SINGLE_ID, TaskIdentity

__all__ = ["FileProblem", "FileTask", "TaskFiles"]

log = structlog.get_logger(__name__)

Stamp = tuple[int, int, int]
_OPTIONAL = ("account", "region", "project_id")


class FileProblem(enum.StrEnum):
    """The `reason` label of `huaweicloud_task_file_errors_total`."""

    UNREADABLE = "unreadable"
    PARSE = "parse"  # not valid YAML/JSON, or not the documented shape
    INVALID_ENTRY = "invalid_entry"
    UNMATCHED = "unmatched"  # an entry that matches no configured target, or several


@dataclass(frozen=True)
class FileTask:
    """One entry of a task file; `origin` says where it came from (file and index), for messages."""

    cloud_service: str
    task_id: str
    account: str = ""
    region: str = ""
    project_id: str = ""
    origin: str = ""


@dataclass(frozen=True)
class _Failed:
    stamp: Stamp | None
    reason: FileProblem
    message: str


@dataclass(frozen=True)
class _Parsed:
    stamp: Stamp
    tasks: tuple[FileTask, ...]
    problems: tuple[tuple[FileProblem, str], ...]  # (reason, message) found while parsing


class TaskFiles:
    """The tasks of all files matching `patterns`, refreshed in the background."""

    def __init__(
        self,
        patterns: tuple[str, ...],
        interval: float,
        *,
        on_error: Callable[[FileProblem], None],
        clock: Callable[[], float] = time.monotonic,
        services: frozenset[str] = frozenset(),
        identities: Mapping[str, tuple[TaskIdentity, ...]] | None = None,
    ) -> None:
        """`services`: the cloud_service names an entry may give (the configured specs); `identities`: the
        shapes of task ID each service's targets take (default: one ID)."""
        self._patterns, self._interval, self._on_error, self._clock = patterns, interval, on_error, clock
        self._services = services
        self.identities: Mapping[str, tuple[TaskIdentity, ...]] = identities or {}
        self._files: dict[str, _Parsed] = {}
        self._failed: dict[str, Stamp | None] = {}  # files whose current version was reported as bad
        self._checked_at = float("-inf")
        self._check: asyncio.Future[dict[str, _Parsed | _Failed | None]] | None = None
        self.version = 0  # changes whenever the set of tasks may have changed
        self.scanned = False  # until the first scan is taken in, "no tasks" means "not read yet"

    @property
    def patterns(self) -> tuple[str, ...]:
        return self._patterns

    @property
    def services(self) -> frozenset[str]:
        return self._services

    def tasks(self) -> list[FileTask]:
        return [task for parsed in self._files.values() for task in parsed.tasks]

    def due(self) -> None:
        """Make the next `poll` check the files, whatever the interval."""
        self._checked_at = float("-inf")

    def poll(self) -> None:
        """Take in a finished check, and start the next one when it is due; never waits."""
        if not self._patterns:
            return
        if self._check is not None and self._check.done():
            self._take_check()
        now = self._clock()
        if self._check is None and now - self._checked_at >= self._interval:
            self._checked_at = now
            self._check = asyncio.ensure_future(asyncio.to_thread(self._scan, self._known()))

    async def check_now(self) -> None:
        """Scan the files now, whatever the interval, and take the result in (at start, and in tests)."""
        if not self._patterns:
            return
        if self._check is not None:
            await asyncio.wait([self._check])
            self._take_check()
        self._checked_at = self._clock()
        self._take(await asyncio.to_thread(self._scan, self._known()))

    def _take_check(self) -> None:
        assert self._check is not None
        check, self._check = self._check, None
        self._take(check.result())

    def _known(self) -> dict[str, Stamp | None]:
        """The versions already taken in, good or bad: the scan skips files still at these."""
        return {**{path: parsed.stamp for path, parsed in self._files.items()}, **self._failed}

    def _scan(self, known: dict[str, Stamp | None]) -> dict[str, _Parsed | _Failed | None]:
        """In a worker thread: path -> its new parse, its problem, or None (unchanged since last time)."""
        result: dict[str, _Parsed | _Failed | None] = {}
        paths = sorted({path for pattern in self._patterns for path in glob.glob(pattern)})
        for path in paths:
            stamp: Stamp | None = None
            try:
                st = os.stat(path)
                stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
                if path in known and known[path] == stamp:
                    result[path] = None
                    continue
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except (OSError, UnicodeDecodeError) as exc:
                message = f"cannot read it: {getattr(exc, 'strerror', None) or exc}"
                result[path] = (
                    None if path in known and known[path] == stamp else _Failed(stamp, FileProblem.UNREADABLE, message)
                )
                continue
            try:
                parsed = _parse(path, stamp, text, self._services, self.identities)
            except Exception as exc:  # a file we cannot make sense of must not stop the others
                parsed = f"cannot be read as task entries: {type(exc).__name__}"
            result[path] = _Failed(stamp, FileProblem.PARSE, parsed) if isinstance(parsed, str) else parsed
        return result

    def _take(self, scanned: dict[str, _Parsed | _Failed | None]) -> None:
        files: dict[str, _Parsed] = {}
        failed: dict[str, Stamp | None] = {}
        for path, outcome in scanned.items():
            previous = self._files.get(path)
            if isinstance(outcome, _Parsed):
                files[path] = outcome
                for reason, message in outcome.problems:
                    self._report(path, reason, message)
                continue
            if isinstance(outcome, _Failed):
                self._report(path, outcome.reason, outcome.message)
                failed[path] = outcome.stamp
            elif path in self._failed:
                failed[path] = self._failed[path]  # still the same bad version: reported already
            if previous is not None:
                files[path] = previous  # keep what the file said last time it could be read
        if files.keys() != self._files.keys() or any(files[p] is not self._files.get(p) for p in files):
            self.version += 1
        self._files, self._failed, self.scanned = files, failed, True

    def _report(self, path: str, reason: FileProblem, message: str) -> None:
        """Counted every time; logged once per file and problem, then at every power of ten (a file
        rewritten by a pipeline with the same bad entry says it again only at the 10th time), and at most
        `exporter.log.MAX_KEYS` problems are told apart (a file of many bad entries)."""
        self._on_error(reason)
        repeated(log.warning, "task file problem", (path, reason, message), file=path, reason=reason, problem=message)


def _load(path: str, text: str) -> tuple[Any, str]:
    """A task file's document, or why it is not valid JSON or YAML."""
    try:
        return (json.loads(text) if path.endswith(".json") else yaml.safe_load(text)), ""
    except (ValueError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"not valid {'JSON' if path.endswith('.json') else 'YAML'}: {first_line}"


def _parse(
    path: str, stamp: Stamp, text: str, services: frozenset[str], identities: Mapping[str, tuple[TaskIdentity, ...]]
) -> _Parsed | str:
    document, problem = _load(path, text)
    if problem:
        return problem
    if document is None:
        return _Parsed(stamp, (), ())
    if not isinstance(document, dict) or not isinstance(document.get("tasks"), list) or set(document) - {"tasks"}:
        return "expected a mapping with one key, 'tasks', holding a list of {cloud_service, task_id, ...}"
    tasks: list[FileTask] = []
    problems: list[tuple[FileProblem, str]] = []
    for index, entry in enumerate(document["tasks"]):
        task = _entry(f"{path}: tasks[{index}]", entry, services, identities)
        if isinstance(task, str):
            problems.append((FileProblem.INVALID_ENTRY, f"tasks[{index}]: {task}"))
        else:
            tasks.append(task)
    return _Parsed(stamp, tuple(tasks), tuple(problems))


def _entry(
    origin: str, entry: Any, services: frozenset[str], identities: Mapping[str, tuple[TaskIdentity, ...]]
) -> FileTask | str:
    """One entry of `tasks:` -> its task, or what is wrong with it."""
    if isinstance(entry, dict):  # IDs with surrounding whitespace are the IDs, as everywhere
        entry = {k: v.strip() if isinstance(v, str) and k in _IDS else v for k, v in entry.items()}
    problem = _entry_problem(entry, services, identities)
    if problem:
        return problem
    account, region, project_id = (str(entry.get(key) or "") for key in _OPTIONAL)
    return FileTask(entry["cloud_service"], entry["task_id"], account, region, project_id, origin)


_IDS = ("task_id", "project_id")


def _entry_problem(entry: Any, services: frozenset[str], identities: Mapping[str, tuple[TaskIdentity, ...]]) -> str:
    if not isinstance(entry, dict):
        return "expected a mapping with cloud_service and task_id"
    unknown = set(entry) - {"cloud_service", "task_id", *_OPTIONAL}
    if unknown:
        return f"unknown key {sorted(unknown)[0]!r}; expected cloud_service, task_id, account, region, project_id"
    if not isinstance(entry.get("cloud_service"), str) or entry["cloud_service"] not in services:
        return f"cloud_service must be one of {', '.join(sorted(services))}, got {entry.get('cloud_service')!r}"
    task_id = entry.get("task_id")
    if not isinstance(task_id, str):
        return f"invalid task_id {task_id!r}: expected {ID_DESCRIPTION}"
    shapes = identities.get(entry["cloud_service"]) or (SINGLE_ID,)
    problems = [identity.problem(task_id) for identity in shapes]
    if all(problems):  # a two-part ID, or a fanned-out target's, says what it expected
        if shapes[0] != SINGLE_ID:
            return problems[0]
        return f"invalid task_id {task_id!r}: expected {ID_DESCRIPTION}"
    return ""
