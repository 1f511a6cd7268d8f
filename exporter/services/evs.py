"""EVS jobs: `GET /v1/{project_id}/jobs/{job_id}` (ShowJob).

    {"status": "RUNNING", "entities": {"volume_id": "..."}, "job_id": "...", "job_type": "createVolume",
     "begin_time": "2016-03-08T07:40:13.219Z", "end_time": "", "error_code": null, "fail_reason": null}

Batch jobs carry `entities.sub_jobs`, each of the same shape; their progress is finished sub-jobs over
all sub-jobs. `end_time` is `""` while a job runs. ECS, BMS, IMS and EIP jobs share this shape, so
`JobService` is the base for them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any, ClassVar

from exporter.model import FINAL_STATES, State, TaskStatus
from exporter.services._base import (
    BadResponse,
    Service,
    clean_message,
    expect_object,
    normalise,
    parse_time,
    raw_status,
    sub_task_counts,
    text,
)

__all__ = ["EVS", "JobService"]

_RESOURCE_KEYS = ("volume_id", "server_id", "image_id", "publicip_id", "nic_id")


class JobService(Service):
    """The `/v1/{project_id}/jobs/{job_id}` family (EVS, ECS, BMS, IMS, EIP)."""

    states: ClassVar[Mapping[str, State]] = {
        "INIT": State.PENDING,
        "WAITING_EXECUTE": State.PENDING,
        "RUNNING": State.RUNNING,
        "LISTENING": State.RUNNING,
        "SUCCESS": State.SUCCEEDED,
        "FAIL": State.FAILED,
    }

    def status_path(self, project_id: str, task_id: str) -> str:
        return f"/v1/{project_id}/jobs/{task_id}"

    def parse(self, body: Any, tz: tzinfo) -> TaskStatus:
        job = expect_object(body, self.name)
        if "status" not in job:
            raise BadResponse(f"{self.name}: the job has no 'status' field")
        raw = raw_status(job.get("status"))
        state = self.state_of(raw, self.states)
        entities: dict[str, Any] = job["entities"] if isinstance(job.get("entities"), dict) else {}
        sub_jobs = entities.get("sub_jobs")
        sub_states: list[State] | None = None
        if isinstance(sub_jobs, list) and sub_jobs:
            sub_states = [
                self.state_of(raw_status(sub.get("status")), self.states) if isinstance(sub, dict) else State.UNKNOWN
                for sub in sub_jobs
            ]
        progress = None
        if sub_states:
            progress = sum(s in FINAL_STATES for s in sub_states) / len(sub_states)
        failed = state is State.FAILED
        return normalise(
            TaskStatus(
                state=state,
                raw_status=raw,
                progress=progress,
                start=parse_time(job.get("begin_time"), tz),
                end=parse_time(job.get("end_time"), tz),
                job_type=text(job.get("job_type")),
                resource_id=next((text(entities[k]) for k in _RESOURCE_KEYS if text(entities.get(k))), ""),
                error_code=clean_message(job.get("error_code")) if failed else "",
                error_message=clean_message(job.get("fail_reason")) if failed else "",
                sub_tasks=sub_task_counts(sub_states) if sub_states is not None else None,
            )
        )


class EVS(JobService):
    name = "evs"
    endpoints: ClassVar[Mapping[str, str]] = {
        "huaweicloud": "https://evs.{region}.myhuaweicloud.com",
        "otc": "https://evs.{region}.otc.t-systems.com",
    }
