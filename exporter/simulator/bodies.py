"""The JSON bodies of the fake cloud, in each API's documented shape.

Kept apart from the HTTP plumbing so that the shapes can be read in one place next to the reference
notes (``huaweicloud-task-apis.md`` sections A.1-A.4 and C.4). Each service reports "no time yet" in
its own way: DWS and CPH send null, EVS sends an empty string.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from exporter.services import Field, ServiceSpec, TimeField
from exporter.simulator.scenario import Task

__all__ = [
    "CODEARTS_INVALID_PARAMETER",
    "CPH_INVALID_PARAMETER",
    "apigw_error",
    "codearts_list_error",
    "codearts_task_item",
    "cph_job",
    "cph_list_error",
    "iam_error",
    "iso_utc_micro",
    "new_request_id",
    "not_found",
    "server_error",
    "spec_body",
    "spec_error",
    "task_body",
]

# The list APIs' answer to a bad query parameter (HTTP 400). CPS.0002 is CPH's documented code for a bad
# offset/limit (reference A.4); CodeArts Check's "invalid parameter" code is not in the reference notes,
# so CC.00000001 (eight digits, next to the documented CC.00000000 and CC.00000003) is illustrative.
CODEARTS_INVALID_PARAMETER = "CC.00000001"
CPH_INVALID_PARAMETER = "CPS.0002"

JSON = dict[str, Any]


def new_request_id() -> str:
    """A request ID as the API gateway writes it: 32 lowercase hex characters."""
    return uuid.uuid4().hex


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _dws_time(ts: float) -> str:
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%S")


def _evs_time(ts: float) -> str:
    dt = _utc(ts)
    return f"{dt.strftime('%Y-%m-%dT%H:%M:%S')}.{dt.microsecond // 1000:03d}Z"


def _cph_time(ts: float) -> str:
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc_micro(ts: float) -> str:
    """IAM's token times: ISO 8601 UTC with microseconds, e.g. 2020-01-04T09:05:22.701000Z."""
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value:g}%"


def _times(task: Task, start: float, elapsed: float) -> tuple[float | None, float | None]:
    """Absolute begin and end of ``task`` as far as they have happened by ``elapsed``."""
    begin, end = task.begin_offset, task.end_offset
    return (
        start + begin if begin is not None and begin <= elapsed else None,
        start + end if end is not None and end <= elapsed else None,
    )


def task_body(task: Task, *, start: float, elapsed: float, request_id: str) -> JSON:
    """The 200 body of ``task``'s status API, ``elapsed`` seconds after the simulator ``start``."""
    phase = task.phase_at(elapsed)
    fields = phase.fields
    begin, end = _times(task, start, elapsed)
    match task.cloud_service:
        case "codearts_check":
            default_info = {0: "running", 2: "success"}.get(phase.status) if isinstance(phase.status, int) else None
            return {
                "task_status": phase.status,
                "progress": {"ratio": _percent(phase.progress), "info": fields.get("info", default_info)},
            }
        case "dws":
            return {
                "status": phase.status,
                "progress": _percent(phase.progress),
                "job_id": task.task_id,
                "job_name": task.job_name,
                "begin_time": None if begin is None else _dws_time(begin),
                "end_time": None if end is None else _dws_time(end),
                "failed_code": fields.get("failed_code"),
                "failed_detail": fields.get("failed_detail"),
            }
        case "evs":
            entities: JSON
            if task.sub_jobs:
                # A batch job's entities hold only sub_jobs ("the other fields are not returned").
                subs = [task_body(s, start=start, elapsed=elapsed, request_id=request_id) for s in task.sub_jobs]
                entities = {"sub_jobs": subs}
            else:
                entities = {task.resource_key: task.resource_id}
            return {
                "status": phase.status,
                "entities": entities,
                "job_id": task.task_id,
                "job_type": task.job_type,
                "begin_time": "" if begin is None else _evs_time(begin),
                "end_time": "" if end is None else _evs_time(end),
                "error_code": fields.get("error_code"),
                "fail_reason": fields.get("fail_reason"),
            }
        case "cph":
            return {"request_id": request_id} | cph_job(task, start=start, elapsed=elapsed)
    if task.spec is not None:
        return spec_body(task, start=start, elapsed=elapsed)
    raise ValueError(f"unknown cloud service {task.cloud_service!r}")


def spec_body(task: Task, *, start: float, elapsed: float) -> JSON:
    """The answer of a service the fake cloud knows only by its spec: each value written where the spec
    reads it (the first of its pointers), times in the spec's format, null for what is not known yet."""
    assert task.spec is not None
    spec = task.spec.status
    phase = task.phase_at(elapsed)
    begin, end = _times(task, start, elapsed)
    body: JSON = {}
    _put(body, spec.state, phase.status)
    if spec.progress is not None:
        value = phase.progress
        _put(
            body,
            spec.progress.at,
            None if value is None else f"{value:g}%" if spec.progress.scale == "percent" else value / 100,
        )
    for field, when in ((spec.start, begin), (spec.end, end)):
        if field is not None:
            _put(body, field.at, _written_time(when, field))
    for pointer, text in ((spec.job_type, task.job_type), (spec.job_name, task.job_name)):
        if pointer is not None:
            _put(body, pointer, text or None)
    if spec.resource is not None and task.resource_key:
        _put(body, spec.resource, task.resource_id)
    for pointer in (spec.error.code, spec.error.message):
        if pointer is not None and pointer.pointers[0]:
            _put(body, pointer, phase.fields.get(pointer.pointers[0][-1]))
    return body


def _put(body: JSON, field: Field, value: Any) -> None:
    *parents, leaf = field.pointers[0]
    node = body
    for token in parents:
        node = node.setdefault(token, {})
    node[leaf] = value


def _written_time(when: float | None, field: TimeField) -> Any:
    if when is None:
        return None
    if field.format == "epoch_ms":
        return int(when * 1000)
    if field.format == "epoch_s":
        return int(when)
    if field.format == "iso":
        return _cph_time(when)
    return datetime.fromtimestamp(when, field.zone or UTC).strftime(field.format)


def spec_error(task_spec: ServiceSpec, kind: str, task_id: str) -> tuple[int, JSON]:
    """A spec-only service's "not found" (as its spec recognises it) or internal error."""
    name = task_spec.name.upper()
    if kind == "server_error":
        return 500, {"error_code": f"{name}.0500", "error_msg": "Internal server error."}
    not_found = task_spec.status.not_found
    code = min(not_found.codes) if not_found.codes else f"{name}.0404"
    if 404 in not_found.http or not not_found.codes:
        status = 404 if 404 in not_found.http or not not_found.http else min(not_found.http)
    else:
        status = 200 if task_spec.status.error_in_200 is not None else 400
    return status, {"error_code": code, "error_msg": f"The job {task_id} does not exist."}


def cph_job(task: Task, *, start: float, elapsed: float) -> JSON:
    """A CPH job as ListJobs reports it: ShowJob's body without its ``request_id``."""
    phase = task.phase_at(elapsed)
    begin, end = _times(task, start, elapsed)
    return {
        "job_id": task.task_id,
        "begin_time": None if begin is None else _cph_time(begin),
        "end_time": None if end is None else _cph_time(end),
        "status": phase.status,
        task.resource_key: task.resource_id,
        "error_code": phase.fields.get("error_code"),
        "error_msg": phase.fields.get("error_msg"),
        "execute_msg": phase.fields.get("execute_msg"),
    }


def codearts_task_item(task: Task, *, start: float, elapsed: float) -> JSON:
    """A CodeArts Check task in the task list (SimpleTaskInfoV2); times are UTC ``yyyy-MM-ddTHH:mm:ssZ``.

    ``last_check_time`` is when the task's check started, null while it has never been checked.
    """
    begin, _ = _times(task, start, elapsed)
    return {
        "task_id": task.task_id,
        "task_name": task.task_name,
        "creator_id": task.creator_id,
        "git_url": task.git_url,
        "git_branch": task.git_branch,
        "created_at": _cph_time(start + task.created_offset),
        "last_check_time": None if begin is None else _cph_time(begin),
    }


def codearts_list_error(message: str) -> JSON:
    """CodeArts Check's answer (HTTP 400) to a bad query or path parameter of the task list."""
    return {"error_code": CODEARTS_INVALID_PARAMETER, "error_msg": message}


def cph_list_error(message: str, request_id: str) -> JSON:
    """CPH's answer (HTTP 400) to a bad query parameter of ListJobs."""
    return {"request_id": request_id, "error_code": CPH_INVALID_PARAMETER, "error_msg": message}


def not_found(cloud_service: str, task_id: str, request_id: str) -> tuple[int, JSON]:
    """Each service's documented answer for an unknown task ID (CPH really says 400, CodeArts 200)."""
    match cloud_service:
        case "evs":
            return 404, {"error": {"message": f"Job {task_id} does not exist.", "code": "EVS.7001"}}
        case "dws":
            return 404, {"error_code": "DWS.0015", "error_msg": "The job does not exist."}
        case "cph":
            return 400, {"request_id": request_id, "error_code": "CPS.0005", "error_msg": "The job does not exist."}
        case "codearts_check":
            # HTTP 200 with an error body, as CodeArts documents its CC.0005xxxx codes (ErrorCode.html); a
            # wrong task ID is "project not exist" (FAQ codecheck_02_0021).
            return 200, {"error_code": "CC.00050013", "error_msg": "project not exist"}
    raise ValueError(f"unknown cloud service {cloud_service!r}")


def server_error(cloud_service: str, request_id: str) -> tuple[int, JSON]:
    """An internal error (HTTP 500) in the service's own error shape."""
    message = "Internal server error."
    match cloud_service:
        case "evs":
            return 500, {"error": {"message": message, "code": "EVS.0001"}}
        case "dws":
            return 500, {"error_code": "DWS.0001", "error_msg": message}
        case "cph":
            return 500, {"request_id": request_id, "error_code": "CPS.0001", "error_msg": message}
        case "codearts_check":
            # CodeArts codes have eight digits; CC.00000000 is its documented "network busy" error.
            return 500, {"error_code": "CC.00000000", "error_msg": message}
    raise ValueError(f"unknown cloud service {cloud_service!r}")


def apigw_error(code: str, message: str, request_id: str) -> JSON:
    """The API gateway's own error shape (auth failures, throttling, unknown APIs)."""
    return {"error_msg": message, "error_code": code, "request_id": request_id}


def iam_error(status: int, message: str, title: str) -> JSON:
    """IAM's error shape; note that ``code`` is an integer here."""
    return {"error": {"code": status, "message": message, "title": title}}
