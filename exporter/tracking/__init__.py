"""Which tasks are tracked, from which sources, their last known state, and how long they stay."""

from __future__ import annotations

from exporter.tracking.files import FileTask, TaskFiles
from exporter.tracking.tracker import SOURCES, TargetState, TaskRecord, Tracker, all_records, tracked_counts

__all__ = ["SOURCES", "FileTask", "TargetState", "TaskFiles", "TaskRecord", "Tracker", "all_records", "tracked_counts"]
