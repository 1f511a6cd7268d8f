"""Which tasks are tracked, from which sources, their last known state, and how long they stay: the
task table (pure), the refresh (I/O, returns results), task files and list items taken in (intake),
and the tracker that runs them and publishes a snapshot after each refresh or probe."""

from __future__ import annotations

from exporter.tracking.files import FileProblem, FileTask, TaskFiles
from exporter.tracking.refresh import Deadline, Querier
from exporter.tracking.table import (
    Dropped,
    DropReason,
    Snapshot,
    Source,
    TargetSnapshot,
    TaskRecord,
    TaskTable,
)
from exporter.tracking.tracker import Saved, Tracker, tracked_counts

__all__ = [
    "Deadline",
    "DropReason",
    "Dropped",
    "FileProblem",
    "FileTask",
    "Querier",
    "Saved",
    "Snapshot",
    "Source",
    "TargetSnapshot",
    "TaskFiles",
    "TaskRecord",
    "TaskTable",
    "Tracker",
    "tracked_counts",
]
