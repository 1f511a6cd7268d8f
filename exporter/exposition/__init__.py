"""What Prometheus and people see: the collectors, the exporter's own metrics, and the HTTP server."""

from __future__ import annotations

from exporter.exposition.collector import TaskCollector, task_families
from exporter.exposition.metrics import SelfMetrics

__all__ = ["SelfMetrics", "TaskCollector", "task_families"]
