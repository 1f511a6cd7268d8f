"""What the fake cloud counts of the requests it answered (admin endpoints excluded): ``/_sim/stats``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SimStats"]


@dataclass(slots=True)
class SimStats:
    """Counts of the requests the fake cloud answered (admin endpoints excluded)."""

    requests_total: int = 0
    by_task: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)  # keys are HTTP status codes as strings
    tokens_issued: int = 0
    # Every service request refused by authentication (token or AK/SK, locked AKs included).
    auth_failures: int = 0
    # Requests refused only because their access key was locked.
    ak_locked_rejections: int = 0
    # Access key -> service requests accepted with a valid AK/SK signature.
    aksk_accepted: Counter[str] = field(default_factory=Counter)
    # Access key -> the longest run of consecutive failed authentications seen (0 if none). More than
    # AK_LOCK_THRESHOLD means the client got the key locked.
    max_consecutive_auth_failures: Counter[str] = field(default_factory=Counter)
    # Faults drawn from fault_mix, by kind.
    faults: Counter[str] = field(default_factory=Counter)
    # List API requests on arrival, by cloud service ("codearts_check": the task list, "cph": ListJobs;
    # "<service>.parents": a service's parent list).
    list_requests: Counter[str] = field(default_factory=Counter)
    # List requests by the value of a parameter the spec sends one value at a time ("iotda.task_type=...").
    list_values: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "by_task": dict(self.by_task),
            "by_status": dict(self.by_status),
            "tokens_issued": self.tokens_issued,
            "auth_failures": self.auth_failures,
            "ak_locked_rejections": self.ak_locked_rejections,
            "aksk_accepted": dict(self.aksk_accepted),
            "max_consecutive_auth_failures": dict(self.max_consecutive_auth_failures),
            "list_requests": dict(self.list_requests),
            "list_values": dict(self.list_values),
            "faults": dict(self.faults),
        }
