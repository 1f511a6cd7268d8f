"""Values that cross layers: normalised task states and one task's status as the cloud reported it.

A service spec's interpreter turns an API body into a `TaskStatus`; the tracker keeps the newest one
per task; the collector turns it into samples. Nothing here knows about HTTP or Prometheus.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["FINAL_STATES", "ID_DESCRIPTION", "ID_PATTERN", "Reason", "Shard", "State", "TaskStatus", "valid_id"]

# Task, job, request and project IDs as Huawei Cloud issues them: hex strings, or UUIDs. Checked before
# an ID from a config, a file, a request or a list answer is used in a URL.
ID_PATTERN = re.compile(
    r"[0-9a-fA-F]{16,64}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
ID_DESCRIPTION = "16 to 64 hexadecimal characters, or a UUID"


def valid_id(value: str) -> bool:
    """True when `value` is a task, job or project ID of a form Huawei Cloud issues."""
    return ID_PATTERN.fullmatch(value) is not None


class State(enum.StrEnum):
    """The normalised states, the same for every cloud service (DESIGN section 2)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


class Reason(enum.StrEnum):
    """Why a query failed: the `reason` label of `huaweicloud_task_api_errors_total`, a fixed list."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    THROTTLED = "throttled"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    CLIENT_ERROR = "client_error"
    SERVER_ERROR = "server_error"
    BAD_RESPONSE = "bad_response"


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
    created: float | None = None  # when the task was created, where the service says it apart from the start
    job_name: str = ""
    resource_id: str = ""
    error_code: str = ""
    error_message: str = ""
    # Batch jobs only: number of sub-jobs per state (all six states present), else None.
    sub_tasks: Mapping[State, int] | None = field(default=None)
    # The progress comes from an API of its own (DLI's) that did not answer this time: the tracker keeps
    # the last known progress, as it keeps every value when a status query fails.
    progress_unanswered: bool = False

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def duration(self, now: float) -> float | None:
        """The one rule for a task's duration (metrics and landing page alike): end - start once it is
        final, now - start while pending or running, else (no start; final without an end; unknown) None."""
        if self.start is None:
            return None
        if self.final:
            return max(self.end - self.start, 0.0) if self.end is not None else None
        if self.state in (State.PENDING, State.RUNNING):
            return max(now - self.start, 0.0)
        return None


@dataclass(frozen=True)
class Shard:
    """This exporter's share of the tasks when several split them (`--shard.index`, `--shard.count`),
    as kube-state-metrics shards objects: a task belongs to one shard by a hash of its key, so that
    every task is polled by exactly one of them, whatever source names it."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= 1000:
            raise ValueError(f"--shard.count must be from 1 to 1000, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"--shard.index must be from 0 to {self.count - 1} (--shard.count less one), got {self.index}"
            )

    def owns(self, key: tuple[str, ...], task_id: str) -> bool:
        if self.count == 1:
            return True
        digest = hashlib.sha256("\x00".join((*key, task_id)).encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index
