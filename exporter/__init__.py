"""huaweicloud-task-exporter: Prometheus metrics for the asynchronous tasks of Huawei Cloud and OTC."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
