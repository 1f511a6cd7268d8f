"""CodeArts Check tasks: `GET /v2/tasks/{task_id}/progress` (ShowProgressDetailV2).

    {"task_status": 0, "progress": {"ratio": "50%", "info": "running"}}

`task_status`: 0 checking, 1 failed, 2 succeeded, 3 stopped, null never checked. `ratio` is null once
a check is no longer running. The API has no times and no project ID in its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo
from typing import Any, ClassVar

from exporter.model import State, TaskStatus
from exporter.services._base import (
    ID_PATTERN,
    BadResponse,
    Service,
    expect_object,
    normalise,
    parse_percent,
    parse_time,
    raw_status,
    text,
)

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

    def task_list_path(self, codearts_project: str) -> str:
        """`GET /v2/{codearts_project_id}/tasks`: the project's tasks (not their runs), with `offset`/`limit`."""
        return f"/v2/{codearts_project}/tasks"

    def parse_task_list(self, body: Any) -> tuple[list[tuple[str, float | None]], int | None]:
        """A task list page -> ([(task_id, last_check_time)], total). Entries with a bad ID are skipped."""
        page = expect_object(body, self.name)
        tasks = page.get("tasks")
        if not isinstance(tasks, list):
            raise BadResponse("codearts_check: the task list has no 'tasks' list")
        found = []
        for task in tasks:
            task_id = text(task.get("task_id")) if isinstance(task, dict) else ""
            if ID_PATTERN.fullmatch(task_id):
                found.append((task_id, parse_time(task.get("last_check_time"), UTC)))
        total = page.get("total")
        return found, total if isinstance(total, int) and not isinstance(total, bool) else None

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
