"""The JSON bodies of the fake cloud: from a service's shape (`shapes.yaml`) where it has one, else
from its spec alone.

Each service reports "no time yet" in its own way (DWS and CPH send null, EVS an empty string), which
its shape says; so are its documented error answers and its list items.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from exporter.model import FINAL_STATES
from exporter.services import BUILTIN, Field, ProgressField, ServiceSpec, TimeField, raw_status
from exporter.services.spec import StatusSpec
from exporter.simulator.scenario import Phase, Task
from exporter.simulator.shapes import ABSENT, SHAPES, Shape, render

__all__ = [
    "apigw_error",
    "error_answer",
    "iam_error",
    "iso_utc_micro",
    "list_error",
    "list_item",
    "list_page",
    "new_request_id",
    "not_found",
    "odd_traces",
    "server_error",
    "spec_body",
    "spec_error",
    "spec_list_item",
    "spec_list_page",
    "spec_progress_body",
    "task_body",
    "trace",
]

JSON = dict[str, Any]


def new_request_id() -> str:
    """A request ID as the API gateway writes it: 32 lowercase hex characters."""
    return uuid.uuid4().hex


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _written(ts: float, fmt: str) -> str:
    dt = _utc(ts)
    if fmt == "iso_ms":
        return f"{dt.strftime('%Y-%m-%dT%H:%M:%S')}.{dt.microsecond // 1000:03d}Z"
    return dt.strftime(fmt)


def _cph_time(ts: float) -> str:
    return _written(ts, "%Y-%m-%dT%H:%M:%SZ")


def iso_utc_micro(ts: float) -> str:
    """IAM's token times: ISO 8601 UTC with microseconds, e.g. 2020-01-04T09:05:22.701000Z."""
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _times(task: Task, start: float, elapsed: float) -> tuple[float | None, float | None]:
    """Absolute begin and end of ``task`` as far as they have happened by ``elapsed``."""
    begin, end = task.begin_offset, task.end_offset
    return (
        start + begin if begin is not None and begin <= elapsed else None,
        start + end if end is not None and end <= elapsed else None,
    )


def _values(task: Task, shape: Shape, *, start: float, elapsed: float, request_id: str) -> dict[str, Any]:
    """What a template of ``shape`` may name, for ``task`` ``elapsed`` seconds after the ``start``."""
    phase = task.phase_at(elapsed)
    begin, end = _times(task, start, elapsed)
    values: dict[str, Any] = {
        **task.fields,
        "status": phase.status,
        "progress": None if phase.progress is None else f"{phase.progress:g}%",
        "begin": shape.empty if begin is None else _written(begin, shape.time),
        "end": shape.empty if end is None else _written(end, shape.time),
        "created": _written(start + task.created_offset, shape.time),
        "task_id": task.task_id,
        "job_type": task.job_type,
        "job_name": task.job_name,
        "resource": task.resource_id if task.resource_key else ABSENT,
        "resource_key": task.resource_key,
        "request_id": request_id,
    }
    for name, defaults in shape.phase.items():
        values[name] = phase.fields.get(name, defaults.get(raw_status(phase.status)))
    for name in task.phase_fields:
        values[name] = phase.fields.get(name)
    if task.sub_jobs:
        values["sub_jobs"] = [
            task_body(sub, start=start, elapsed=elapsed, request_id=request_id) for sub in task.sub_jobs
        ]
    else:
        values["sub_jobs"] = ABSENT
    return values


def task_body(task: Task, *, start: float, elapsed: float, request_id: str) -> JSON:
    """The 200 body of ``task``'s status API, ``elapsed`` seconds after the simulator ``start``."""
    shape = SHAPES.get(task.cloud_service)
    if shape is None:
        return spec_body(task, start=start, elapsed=elapsed)
    body: JSON = render(shape.body, _values(task, shape, start=start, elapsed=elapsed, request_id=request_id))
    return body


def list_item(task: Task, *, start: float, elapsed: float, request_id: str) -> JSON:
    """``task`` as its service's list API reports it."""
    shape = SHAPES[task.cloud_service]
    assert shape.list is not None
    item: JSON = render(shape.list.item, _values(task, shape, start=start, elapsed=elapsed, request_id=request_id))
    return item


def list_page(cloud_service: str, items: list[JSON], total: int, request_id: str) -> JSON:
    shape = SHAPES[cloud_service]
    assert shape.list is not None
    page: JSON = render(shape.list.page, {"items": items, "total": total, "request_id": request_id})
    return page


def list_error(cloud_service: str, message: str, request_id: str) -> JSON:
    """A list API's answer (HTTP 400) to a bad query or path parameter."""
    shape = SHAPES[cloud_service]
    assert shape.list is not None
    body: JSON = render(shape.list.bad_request, {"message": message, "request_id": request_id})
    return body


def not_found(cloud_service: str, task_id: str, request_id: str) -> tuple[int, JSON]:
    """The service's documented answer for an unknown task ID."""
    status, template = SHAPES[cloud_service].not_found
    return status, render(template, {"task_id": task_id, "request_id": request_id})


def server_error(cloud_service: str, request_id: str) -> tuple[int, JSON]:
    """An internal error (HTTP 500) in the service's own error shape."""
    status, template = SHAPES[cloud_service].server_error
    return status, render(template, {"request_id": request_id})


def spec_body(task: Task, *, start: float, elapsed: float, status: StatusSpec | None = None) -> JSON:
    """The answer of a service the fake cloud knows only by its spec: each value written where the spec
    reads it (the first of its pointers), times in the spec's format, null for what is not known yet.
    `status` writes the body of another status section (a list item's own, `discover.status`)."""
    assert task.spec is not None
    spec = status or task.spec.status
    phase = task.phase_at(elapsed)
    body: JSON = {}
    _put_state(body, spec, _raw_in(spec, task.spec.status, phase.status))
    if spec.progress is not None and not spec.progress.path:
        _put(body, spec.progress.at, _written_progress(phase.progress, spec.progress))
    _put_times(body, spec, task, start, elapsed)
    _put_texts(body, spec, task, phase.fields)
    _put_counts(body, spec, phase)
    if spec.sub_tasks is not None and task.sub_jobs:
        _put(body, spec.sub_tasks.at, [spec_body(sub, start=start, elapsed=elapsed) for sub in task.sub_jobs])
    return body


def _raw_in(spec: StatusSpec, status: StatusSpec, raw: Any) -> Any:
    """The scenario's raw status (of the status section's table) as `spec` writes it: a list item with a
    table of its own writes the first of its raw values of the same state."""
    if spec.states is status.states or raw_status(raw) in spec.states:
        return raw
    state = status.states.get(raw_status(raw))
    return next((value for value, mapped in spec.states.items() if mapped is state), raw)


def _put_texts(body: JSON, spec: StatusSpec, task: Task, fields: Mapping[str, str | None]) -> None:
    """The job type and name, the resource, and the phase's error fields where the spec reads them."""
    for pointer, text in ((spec.job_type, task.job_type), (spec.job_name, task.job_name)):
        if pointer is not None:
            _put(body, pointer, text or None)
    if spec.resource is not None and task.resource_key:
        _put(body, spec.resource, task.resource_id)
    for pointer in (spec.error.code, spec.error.message):
        if pointer is not None and pointer.pointers[0]:
            _put(body, pointer, fields.get(pointer.pointers[0][-1]))


# The items a task counted from counters (`progress: {done, total}`) has: the first done counter is the
# phase's progress of them, the others 0.
COUNTED_ITEMS = 1000


def _put_counts(body: JSON, spec: StatusSpec, phase: Phase) -> None:
    """Counters written from the phase's progress, its remaining time in the spec's unit, its failed count."""
    if spec.counts is not None:
        handled = None if phase.progress is None else round(phase.progress * COUNTED_ITEMS / 100)
        for index, counter in enumerate(spec.counts.done):
            _put(body, counter, handled if index == 0 or handled is None else 0)
        _put(body, spec.counts.total, None if handled is None else COUNTED_ITEMS)
    if spec.remaining is not None:
        left = phase.remaining
        _put(body, spec.remaining.at, None if left is None else round(left / spec.remaining.seconds))
    if spec.failed_count is not None:
        _put(body, spec.failed_count, phase.failed or 0)


def _put_state(body: JSON, spec: StatusSpec, status: Any) -> None:
    pointers = spec.state.pointers
    if spec.not_yet and len(pointers) > 1 and spec.states.get(raw_status(status)) not in FINAL_STATES:
        # MRS: job_result says UNDEFINED until the job ends, job_state how far it got
        put(body, pointers[0], min(spec.not_yet))
        put(body, pointers[-1], status)
    else:
        _put(body, spec.state, status)


def _put_times(body: JSON, spec: StatusSpec, task: Task, start: float, elapsed: float) -> None:
    """The start, end and creation times where the spec reads them; an end written as a duration (DLI)
    is how long the task has run, so far or in all."""
    begin, end = _times(task, start, elapsed)
    for field, when in ((spec.start, begin), (spec.end, end)):
        if field is not None and field.format in ("duration_ms", "duration_s"):
            since = None if begin is None else (end if end is not None else start + elapsed) - begin
            scale = 1000 if field.format == "duration_ms" else 1
            _put(body, field.at, None if since is None else int(since * scale))
        elif field is not None:
            _put(body, field.at, _written_time(when, field))
    if spec.created is not None:
        _put(body, spec.created.at, _written_time(start + task.created_offset, spec.created))


def spec_progress_body(task: Task, *, elapsed: float) -> JSON:
    """The answer of a spec's progress API (DLI's): the status and the progress."""
    assert task.spec is not None
    spec, progress, phase = task.spec.status, task.spec.status.progress, task.phase_at(elapsed)
    assert progress is not None
    body: JSON = {}
    _put(body, spec.state, phase.status)
    _put(body, progress.at, _written_progress(phase.progress, progress))
    return body


def trace(task: Task, at: float) -> JSON:
    """The Cloud Trace Service trace of the call that created `task` (ListTraces' Traces), at `at`: its
    response holds the job ID where the spec's `trace.job_id` reads it, as a string of JSON."""
    assert task.spec is not None or task.cloud_service in BUILTIN
    spec = task.spec or BUILTIN[task.cloud_service]
    assert spec.trace is not None
    response: JSON = {}
    put(response, spec.trace.job_id.pointers[0], task.task_id)
    return _trace_item(task.task_id, spec.trace.service_type, task.job_type or "createJob", at, json.dumps(response))


def odd_traces(service_type: str, at: float) -> list[JSON]:
    """Three traces that name no job: a synchronous call, a response CTS cut short, a failed call."""
    seed = f"{service_type}-{at}"
    truncated = '{"job_id":"' + _stable(seed + "-cut")[:12]
    return [
        _trace_item(_stable(seed + "-sync"), service_type, "updateMetadata", at, '{"metadata": {"k": "v"}}'),
        _trace_item(_stable(seed + "-cut"), service_type, "createJob", at, truncated),
        _trace_item(
            _stable(seed + "-fail"),
            service_type,
            "createJob",
            at,
            '{"error": {"code": "' + service_type + '.0001", "message": "quota exceeded"}}',
            code="400",
        ),
    ]


def _stable(seed: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_OID, seed).hex


def _trace_item(seed: str, service_type: str, name: str, at: float, response: str, code: str = "202") -> JSON:
    ms = int(at * 1000)
    return {
        "trace_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"trace-{seed}")),
        "trace_name": name,
        "trace_rating": "normal" if int(code) < 400 else "warning",
        "trace_type": "ApiCall",
        "request": "",
        "response": response,
        "code": code,
        "api_version": "v2",
        "message": "",
        "record_time": ms,
        "time": ms,
        "service_type": service_type,
        "resource_type": service_type.lower(),
        "source_ip": "127.0.0.1",
        "request_id": _stable(f"request-{seed}"),
    }


def _put(body: JSON, field: Field, value: Any) -> None:
    put(body, field.pointers[0], value)


def put(body: JSON, pointer: tuple[str, ...], value: Any) -> None:
    """Write `value` at `pointer`, making the objects on the way (a "0" token makes a one-item list, as
    GeminiDB's jobs list)."""
    node: Any = body
    for token, after in itertools.pairwise(pointer):
        node = _child(node, token, [] if after == "0" else {})
    if isinstance(node, list):
        node.append(value) if not node else node.__setitem__(0, value)
    else:
        node[pointer[-1]] = value


def _child(node: Any, token: str, empty: Any) -> Any:
    if isinstance(node, list):
        if not node:
            node.append(empty)
        return node[0]
    return node.setdefault(token, empty)


def _at(body: Any, pointer: tuple[str, ...]) -> Any:
    for token in pointer:
        body = body[0] if isinstance(body, list) else body.get(token, {})
    return body


def spec_list_item(task: Task, spec: ServiceSpec, *, start: float, elapsed: float) -> JSON:
    """`task` as a spec-only service's list API reports it: its status body's part at `item_at` when
    the list carries statuses (or, with `discover.status`, the item's own fields where that reads them),
    else its ID and, when the spec reads one, its `recent` time."""
    lister = spec.discover
    assert lister is not None
    if lister.item_status is not None:
        item: JSON = spec_body(task, start=start, elapsed=elapsed, status=lister.item_status)
    elif lister.carries_status:
        item = _at(spec_body(task, start=start, elapsed=elapsed), lister.item_at)
    else:
        item = {}
    _put_id(item, spec, task.task_id)
    if lister.recent is not None:
        _put(item, lister.recent.at, _written_time(start + task.created_offset, lister.recent))
    return item


def _put_id(item: JSON, spec: ServiceSpec, task_id: str) -> None:
    """The task's ID in a list item: each part at its pointer where it has several (a number part as a
    JSON number: DataArts' instanceId is int64), else the one ID."""
    lister, identity = spec.discover, spec.identity
    assert lister is not None
    if not lister.id_parts or identity.problem(task_id):
        _put(item, lister.id, task_id)
        return
    values = identity.split(task_id)
    kinds = {part.name: part.kind for part in identity.parts}
    for name, at in lister.id_parts:
        _put(item, at, int(values[name]) if kinds[name] == "number" else values[name])


def spec_list_page(spec: ServiceSpec, items: list[JSON], total: int, next_marker: str) -> JSON:
    lister = spec.discover
    assert lister is not None
    page: JSON = {}
    _put(page, lister.items, items)
    if lister.paging.total is not None:
        _put(page, lister.paging.total, str(total) if lister.paging.total_type == "string" else total)
    if lister.paging.next is not None:
        _put(page, lister.paging.next, next_marker or None)
    return page


def _written_progress(value: float | None, field: ProgressField) -> Any:
    if value is None:
        return None
    number = value if field.scale == "percent" else value / 100
    if field.json_type == "number" or (not field.json_type and field.scale == "ratio"):
        return int(number) if field.scale == "percent" and number == int(number) else number
    return f"{number:g}%" if field.scale == "percent" else f"{number:g}"


def _written_time(when: float | None, field: TimeField) -> Any:
    if when is None:
        return None
    if field.format in ("epoch_ms", "epoch_s"):
        number = int(when * 1000) if field.format == "epoch_ms" else int(when)
        return str(number) if field.json_type == "string" else number
    if field.format == "iso":
        return _cph_time(when)
    if field.format == "go":  # Go's time.String(), as CCE writes it
        return _utc(when).strftime("%Y-%m-%d %H:%M:%S.%f000 +0000 UTC")
    written = datetime.fromtimestamp(when, field.zone or UTC).strftime(field.format)
    # MPC writes its yyyymmddhhmmss times as JSON numbers (20200310031605)
    return int(written) if field.json_type == "number" and written.isdigit() else written


def spec_error(task_spec: ServiceSpec, kind: str, task_id: str, *, progress_api: bool = False) -> tuple[int, JSON]:
    """A spec-only service's "not found" (as its spec recognises it) or internal error. The 200s that say
    "not found" (MPC's NO_TASK, an empty list) are the status API's; a progress API answers an error."""
    name = task_spec.name.upper()
    if kind == "server_error":
        return 500, {"error_code": f"{name}.0500", "error_msg": "Internal server error."}
    not_found = task_spec.status.not_found
    # A 200 that says so: MPC's NO_TASK status, GeminiDB's empty list.
    said: JSON = {}
    if not_found.states and not progress_api:
        _put(said, task_spec.status.state, min(not_found.states))
        return 200, said
    if not_found.empty is not None and not progress_api:
        _put(said, not_found.empty, [])
        return 200, said
    code = min(not_found.codes) if not_found.codes else f"{name}.0404"
    if 404 in not_found.http or not not_found.codes:
        status = 404 if 404 in not_found.http or not not_found.http else min(not_found.http)
    else:
        status = 200 if task_spec.status.error_in_200 is not None else 400
    return status, {"error_code": code, "error_msg": f"The job {task_id} does not exist."}


def error_answer(
    specs: Mapping[str, ServiceSpec], cloud_service: str, kind: str, task_id: str, request_id: str
) -> tuple[int, JSON]:
    """A service's "not_found" or "server_error" answer: its shape's where it has one, else its spec's;
    a service without a spec (CTS) has a generic internal error."""
    if cloud_service in SHAPES:
        if kind == "not_found":
            return not_found(cloud_service, task_id, request_id)
        return server_error(cloud_service, request_id)
    spec = specs.get(cloud_service)
    if spec is not None:
        return spec_error(spec, kind, task_id)
    return 500, {"error_code": f"{cloud_service.upper()}.0500", "error_msg": "Internal server error."}


def apigw_error(code: str, message: str, request_id: str) -> JSON:
    """The API gateway's own error shape (auth failures, throttling, unknown APIs)."""
    return {"error_msg": message, "error_code": code, "request_id": request_id}


def iam_error(status: int, message: str, title: str) -> JSON:
    """IAM's error shape; note that ``code`` is an integer here."""
    return {"error": {"code": status, "message": message, "title": title}}
