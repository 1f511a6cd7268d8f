"""Cloud Phone (CPH) jobs: `GET /v1/{project_id}/cloud-phone/jobs/{job_id}` (ShowJob).

    {"request_id": "...", "job_id": "...", "begin_time": "2019-04-26T07:00:00Z", "end_time": "2019-04-26T07:00:06Z",
     "status": 2, "phone_id": "...", "error_code": null, "error_msg": null, "execute_msg": null}

`status` is an integer: 1 running, 2 succeeded, -1 failed. CPH answers most errors, "not found"
included, with HTTP 400 and a `CPS.xxxx` code, so not-found is recognised by its message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any, ClassVar

from exporter.model import State, TaskStatus
from exporter.services._base import (
    ID_PATTERN,
    BadResponse,
    Service,
    clean_message,
    expect_object,
    normalise,
    parse_time,
    raw_status,
    text,
)

__all__ = ["CPH"]

_NOT_FOUND = re.compile(r"not\s+(?:be\s+)?(?:found|exist)|does\s*n[o']t\s+exist|no\s+such|不存在", re.IGNORECASE)


class CPH(Service):
    name = "cph"
    endpoints: ClassVar[Mapping[str, str]] = {"huaweicloud": "https://cph.{region}.myhuaweicloud.com"}
    states: ClassVar[Mapping[str, State]] = {"1": State.RUNNING, "2": State.SUCCEEDED, "-1": State.FAILED}

    def status_path(self, project_id: str, task_id: str) -> str:
        return f"/v1/{project_id}/cloud-phone/jobs/{task_id}"

    def is_not_found(self, status: int, code: str, message: str) -> bool:
        return status == 404 or (status == 400 and _NOT_FOUND.search(message) is not None)

    def job_list_path(self, project_id: str) -> str:
        """`GET /v1/{project_id}/cloud-phone/jobs?request_ids=a,b`: the jobs of up to 20 request IDs."""
        return f"/v1/{project_id}/cloud-phone/jobs"

    def parse_job_list(self, body: Any, tz: tzinfo) -> list[tuple[str, TaskStatus]]:
        """A job list page -> [(job_id, status)]; each job has ShowJob's shape without request_id."""
        page = expect_object(body, self.name)
        jobs = page.get("jobs")
        if not isinstance(jobs, list):
            raise BadResponse("cph: the job list has no 'jobs' list")
        found = []
        for job in jobs:
            job_id = text(job.get("job_id")) if isinstance(job, dict) else ""
            if ID_PATTERN.fullmatch(job_id):
                found.append((job_id, self.parse(job, tz)))
        return found

    def parse(self, body: Any, tz: tzinfo) -> TaskStatus:
        job = expect_object(body, self.name)
        if "status" not in job:
            raise BadResponse("cph: the job has no 'status' field")
        raw = raw_status(job.get("status"))
        state = self.state_of(raw, self.states)
        failed = state is State.FAILED
        return normalise(
            TaskStatus(
                state=state,
                raw_status=raw,
                start=parse_time(job.get("begin_time"), tz),
                end=parse_time(job.get("end_time"), tz),
                resource_id=text(job.get("phone_id")) or text(job.get("server_id")),
                error_code=clean_message(job.get("error_code")) if failed else "",
                error_message=clean_message(job.get("error_msg") or job.get("execute_msg")) if failed else "",
            )
        )
