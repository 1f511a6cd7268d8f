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

__all__ = [
    "FINAL_STATES",
    "ID_DESCRIPTION",
    "ID_KINDS",
    "ID_PATTERN",
    "SINGLE_ID",
    "IdPart",
    "Reason",
    "Shard",
    "State",
    "TaskIdentity",
    "TaskStatus",
    "valid_id",
]

# Task, job, request and project IDs as Huawei Cloud issues them: hex strings, or UUIDs. Checked before
# an ID from a config, a file, a request or a list answer is used in a URL.
ID_PATTERN = re.compile(
    r"[0-9a-fA-F]{16,64}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
ID_DESCRIPTION = "16 to 64 hexadecimal characters, or a UUID"


def valid_id(value: str) -> bool:
    """True when `value` is a task, job or project ID of a form Huawei Cloud issues."""
    return ID_PATTERN.fullmatch(value) is not None


# What one part of a task's identity may be, compiled once: (pattern, what it is, for messages). Every
# kind is safe in a URL path segment (no `/`, `?`, `#`, `%`, space): a part goes into the path as it is.
ID_KINDS: dict[str, tuple[re.Pattern[str], str]] = {
    "id": (ID_PATTERN, ID_DESCRIPTION),
    "number": (re.compile(r"[0-9]{1,20}"), "a whole number (up to 20 digits)"),
    "name": (
        re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"),
        "a name of 1 to 128 ASCII letters, digits, '_', '.' and '-', starting with a letter or digit",
    ),
}


@dataclass(frozen=True)
class IdPart:
    """One part of a task's identity: its name (a path placeholder and the `part` label's value) and kind."""

    name: str
    kind: str = "id"

    def problem(self, value: str) -> str:
        """ "" when `value` is a valid part, else what is wrong with it."""
        pattern, what = ID_KINDS[self.kind]
        return "" if pattern.fullmatch(value) else f"{self.name} {value[:80]!r} is not {what}"


@dataclass(frozen=True)
class TaskIdentity:
    """How a task is named: one ID (most services), or several parts joined by `separator` into the one
    `task_id` (DataArts: job name + instance ID, `nightly_load/1a2b...`; a fanned-out target's parent ID
    comes first: `<instance_id>/<task_id>`)."""

    parts: tuple[IdPart, ...] = (IdPart("task_id"),)
    separator: str = "/"

    @property
    def multi(self) -> bool:
        return len(self.parts) > 1

    def describe(self) -> str:
        if not self.multi:
            return ID_KINDS[self.parts[0].kind][1]
        shape = self.separator.join(part.name for part in self.parts)
        kinds = "; ".join(f"{part.name}: {ID_KINDS[part.kind][1]}" for part in self.parts)
        return f"{shape} ({kinds})"

    def split(self, value: str) -> dict[str, str]:
        """The parts of a valid ID by name (a single-part ID is {"task_id": value})."""
        if not self.multi:
            return {self.parts[0].name: value}
        return dict(zip((part.name for part in self.parts), value.split(self.separator), strict=True))

    def problem(self, value: str) -> str:
        """ "" when `value` names a task of this shape, else a message that says what is wrong."""
        if not self.multi:
            pattern, what = ID_KINDS[self.parts[0].kind]
            return "" if pattern.fullmatch(value) else f"invalid task ID {value[:80]!r}: expected {what}"
        pieces = value.split(self.separator)
        if len(pieces) != len(self.parts):
            return (
                f"invalid task ID {value[:80]!r}: expected {len(self.parts)} parts joined by "
                f"{self.separator!r}: {self.describe()}"
            )
        for part, piece in zip(self.parts, pieces, strict=True):
            problem = part.problem(piece)
            if problem:
                return f"invalid task ID {value[:80]!r}: {problem}; expected {self.describe()}"
        return ""

    def join(self, values: dict[str, str]) -> str:
        return self.separator.join(values[part.name] for part in self.parts)

    def under(self, parent: IdPart) -> TaskIdentity:
        """This identity with a parent's ID before it (a target fanned out over a parent list)."""
        return TaskIdentity((parent, *self.parts), self.separator)


SINGLE_ID = TaskIdentity()


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
    # The time the cloud says the task still needs, in seconds, while it is not final (SMS remain_seconds).
    remaining: float | None = None

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
