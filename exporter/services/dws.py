"""GaussDB(DWS) jobs: `GET /v1.0/{project_id}/job/{job_id}` (ListJobDetails, "query task progress").

    {"status": "FAIL", "progress": "9%", "job_id": "...", "job_name": "ecfClusterElbCreateJob",
     "begin_time": "2022-11-09T20:25:00", "end_time": "2022-11-09T20:30:00",
     "failed_code": "CreateELBTask-fail:DWS.0114", "failed_detail": "DWS.0114:ELB private IP is not configured."}

Times carry no zone; the target's `time_zone` (default UTC) says how to read them. `ERROR` is not
documented but the Huawei Terraform provider treats it as a failure, so do we.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any, ClassVar

from exporter.model import State, TaskStatus
from exporter.services._base import (
    BadResponse,
    Service,
    clean_message,
    expect_object,
    normalise,
    parse_percent,
    parse_time,
    raw_status,
    text,
)

__all__ = ["DWS"]


class DWS(Service):
    name = "dws"
    endpoints: ClassVar[Mapping[str, str]] = {
        "huaweicloud": "https://dws.{region}.myhuaweicloud.com",
        "otc": "https://dws.{region}.otc.t-systems.com",
    }
    states: ClassVar[Mapping[str, State]] = {
        "INIT": State.PENDING,
        "WAITING": State.PENDING,
        "DELAY_SCHEDULED": State.PENDING,
        "RUNNING": State.RUNNING,
        "SUCCESS": State.SUCCEEDED,
        "FAIL": State.FAILED,
        "ERROR": State.FAILED,
        "STOP": State.STOPPED,
    }

    def status_path(self, project_id: str, task_id: str) -> str:
        return f"/v1.0/{project_id}/job/{task_id}"

    def parse(self, body: Any, tz: tzinfo) -> TaskStatus:
        job = expect_object(body, self.name)
        if "status" not in job:
            raise BadResponse("dws: the job has no 'status' field")
        raw = raw_status(job.get("status"))
        state = self.state_of(raw, self.states)
        failed = state is State.FAILED
        return normalise(
            TaskStatus(
                state=state,
                raw_status=raw,
                progress=parse_percent(job.get("progress")),
                start=parse_time(job.get("begin_time"), tz),
                end=parse_time(job.get("end_time"), tz),
                job_name=text(job.get("job_name")),
                error_code=clean_message(job.get("failed_code")) if failed else "",
                error_message=clean_message(job.get("failed_detail")) if failed else "",
            )
        )
