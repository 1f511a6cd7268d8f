"""CodeArts Check tasks: `GET /v2/tasks/{task_id}/progress` (ShowProgressDetailV2).

    {"task_status": 0, "progress": {"ratio": "50%", "info": "running"}}

`task_status`: 0 checking, 1 failed, 2 succeeded, 3 stopped, null never checked. `ratio` is null once
a check is no longer running. The API has no times and no project ID in its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any, ClassVar

from exporter.model import State, TaskStatus
from exporter.services._base import BadResponse, Service, expect_object, normalise, parse_percent, raw_status

__all__ = ["CodeArtsCheck"]


class CodeArtsCheck(Service):
    name = "codearts_check"
    endpoints: ClassVar[Mapping[str, str]] = {"huaweicloud": "https://codearts-check.{region}.myhuaweicloud.com"}
    needs_project_id = False
    states: ClassVar[Mapping[str, State]] = {
        "null": State.PENDING,
        "0": State.RUNNING,
        "1": State.FAILED,
        "2": State.SUCCEEDED,
        "3": State.STOPPED,
    }

    def status_path(self, project_id: str, task_id: str) -> str:
        return f"/v2/tasks/{task_id}/progress"

    def parse(self, body: Any, tz: tzinfo) -> TaskStatus:
        task = expect_object(body, self.name)
        if "task_status" not in task:
            raise BadResponse("codearts_check: the answer has no 'task_status' field")
        raw = raw_status(task.get("task_status"))
        progress: dict[str, Any] = task["progress"] if isinstance(task.get("progress"), dict) else {}
        return normalise(
            TaskStatus(
                state=self.state_of(raw, self.states),
                raw_status=raw,
                progress=parse_percent(progress.get("ratio")),
            )
        )
