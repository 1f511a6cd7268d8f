"""Values that cross layers: normalised task states and one task's status as the cloud reported it.

A service module turns an API body into a `TaskStatus`; the tracker keeps the newest one per task;
the collector turns it into samples. Nothing here knows about HTTP or Prometheus.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["FINAL_STATES", "State", "TaskStatus"]


class State(enum.StrEnum):
    """The normalised states, the same for every cloud service (DESIGN section 2)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


FINAL_STATES = frozenset({State.SUCCEEDED, State.FAILED, State.STOPPED})


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One answer of a status API, normalised. Optional values are None where the API did not say."""

    state: State
    raw_status: str
    progress: float | None = None
    start: float | None = None
    end: float | None = None
    job_type: str = ""
    job_name: str = ""
    resource_id: str = ""
    error_code: str = ""
    error_message: str = ""
    # Batch jobs only: number of sub-jobs per state (all six states present), else None.
    sub_tasks: Mapping[State, int] | None = field(default=None)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES
