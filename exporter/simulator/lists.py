"""The services' list APIs: a shape's documented list (CodeArts Check's task list, CPH ListJobs) and
any spec's ``discover`` list, answered from the spec alone.

A list call is generic over its method: its parameters (the paging, the values, the window) are read
alike from the query string or, for a POST, from its JSON body's top-level keys (``routing.request_params``);
the route takes the method the spec's ``discover`` names (``method``, when the spec has one; GET
otherwise). They pass the gateway (latency, authentication, the global fault; tasks' own faults do not
apply) and list only the tasks that exist at the current simulated time.

- A shape's list (``shapes.yaml`` ``list``): the values come from the path (``{value}``) or the spec's
  ``batch`` query parameter (comma-separated, at most ``max_values``, each once; the shape's ``also``
  parameter may hold a single one instead); paged by the spec's paging style with the shape's limits;
  a bad value, offset or limit is 400 in the shape's ``bad_request`` body.
- A spec's list: the service's scenario tasks of the path's project, newest first, paged as the spec
  says (``offset``: a record offset; ``page``: a page number from ``first``, one below it counting as the
  first page; ``marker``: the last ID seen, ``next`` in the answer; ``none``: all); the spec's limit is the
  largest page the fake cloud allows, and a window the spec sends is required. A query parameter the spec
  sends one value at a time (``query: {task_type: [...]}``) is required, must be one of those values, and
  lists the tasks listed under that value (a task's ``listed_under``, by default its ``job_type``).
  A POST's body values are read by their JSON pointers too (``paging.in: body``). Items are the status
  body's part at ``item_at`` when the list carries statuses, else the ID and the ``recent`` time; the
  parts of a task named by several (``id: {job_name: /jobName, instance_id: /instanceId}``) each at its
  pointer, a ``number`` part as a JSON number.
  For a spec with a parent list (``parents:``) the path's parent parameter picks the tasks whose scenario
  ``parent`` it is (and those without one).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from exporter.services import DiscoverySpec, Paging, ServiceSpec
from exporter.simulator import bodies
from exporter.simulator.headers import required_headers
from exporter.simulator.parts import Parts
from exporter.simulator.routing import Handler, int_param, json_response, request_params
from exporter.simulator.scenario import Task
from exporter.simulator.shapes import SHAPES, ListShape
from exporter.simulator.tasks import materialize

__all__ = ["each_value", "list_handler", "list_method", "page_bounds", "window_fits"]

# A list's answer, given the request, its parameters and its request ID.
_Answer = Callable[[web.Request, Mapping[str, str], str], Awaitable[web.StreamResponse]]


def list_method(lister: DiscoverySpec) -> str:
    """The list call's HTTP method: the spec's `method` where it names one, else GET."""
    method = getattr(lister, "method", "") or "GET"
    return str(method).upper()


def list_handler(parts: Parts, spec: ServiceSpec) -> Handler | None:
    """The service's list API: counted, then through the gateway; None for a service without one."""
    if spec.discover is None:
        return None
    if spec.name in SHAPES:
        listing = SHAPES[spec.name].list
        if listing is None:
            return None
        answer = _shape_answer(parts, spec, listing)
    else:
        answer = _spec_answer(parts, spec)

    async def handle(request: web.Request) -> web.StreamResponse:
        parts.stats.list_requests[spec.name] += 1
        request_id, answered = await parts.gateway.admit(spec.name, request)
        if answered is None and spec.discover is not None:
            answered = required_headers(spec, spec.discover.headers, request, request_id)
        if answered is not None:
            return answered
        try:
            params = await request_params(request)
        except ValueError as exc:
            return json_response(400, _bad_request(spec, str(exc), request_id), request_id)
        return await answer(request, params, request_id)

    return handle


def _bad_request(spec: ServiceSpec, message: str, request_id: str) -> bodies.JSON:
    if spec.name in SHAPES:
        return bodies.list_error(spec.name, message, request_id)
    return {"error_code": f"{spec.name.upper()}.0400", "error_msg": f"Invalid parameter: {message}."}


def _shape_answer(parts: Parts, spec: ServiceSpec, listing: ListShape) -> _Answer:
    lister = spec.discover
    assert lister is not None
    paging = lister.paging

    async def answer(request: web.Request, params: Mapping[str, str], request_id: str) -> web.StreamResponse:
        try:
            values = _list_values(params, request.match_info, lister, listing)
            offset = int_param(params, paging.param, 0, 0, listing.max_offset)
            limit = int_param(params, paging.limit_param, listing.default_limit, 1, listing.max_limit)
        except ValueError as exc:
            return json_response(400, bodies.list_error(spec.name, str(exc), request_id), request_id)
        refs = parts.tasks.list_refs(spec.name, request.match_info.get("project_id", ""), values)
        # A page number counts from 1 (0 is the first page too); a record offset from 0.
        first = (max(offset, 1) - 1) * limit if paging.style == "page" else offset
        start, elapsed = parts.clock.started_at, parts.clock.elapsed()
        items = [
            bodies.list_item(materialize(ref), start=start, elapsed=elapsed, request_id=request_id)
            for ref in refs[first : first + limit]
        ]
        return json_response(200, bodies.list_page(spec.name, items, len(refs), request_id), request_id)

    return answer


def _spec_answer(parts: Parts, spec: ServiceSpec) -> _Answer:
    lister = spec.discover
    assert lister is not None
    window = lister.window
    required = [p for p in ((window.from_param, window.to_param) if window else ()) if p]

    async def answer(request: web.Request, params: Mapping[str, str], request_id: str) -> web.StreamResponse:
        tasks = _of_parent(spec, request, parts.tasks.of_service(spec.name, request.match_info.get("project_id", "")))
        ids = [task.task_id for task in tasks]
        try:
            if missing := [p for p in required if p not in params]:
                raise ValueError(f"{' and '.join(missing)} required")
            if chosen := each_value(lister, params):
                parts.stats.list_values.update(f"{spec.name}.{name}={value}" for name, value in chosen.items())
                tasks = [task for task in tasks if task.listed_under in chosen.values()]
            start, elapsed = parts.clock.started_at, parts.clock.elapsed()
            tasks = in_window(spec, params, tasks, start)
            ids = [task.task_id for task in tasks]
            first, limit = page_bounds(lister.paging, params, ids)
        except ValueError as exc:
            return json_response(400, _bad_request(spec, str(exc), request_id), request_id)
        page = tasks[first : first + limit] if limit is not None else tasks
        items = [bodies.spec_list_item(task, spec, start=start, elapsed=elapsed) for task in page]
        marker = next_marker(lister.paging, ids, first, limit)
        return json_response(200, bodies.spec_list_page(spec, items, len(tasks), marker), request_id)

    return answer


def _of_parent(spec: ServiceSpec, request: web.Request, tasks: list[Task]) -> list[Task]:
    """A parent's tasks (a DMS instance's, for a spec with `parents:`): those listed under it, and those of
    no parent; every task otherwise."""
    parent = request.match_info.get(spec.parents.param, "") if spec.parents is not None else ""
    return [task for task in tasks if task.parent in ("", parent)] if parent else tasks


def each_value(lister: DiscoverySpec, params: Mapping[str, str]) -> dict[str, str]:
    """The values asked for of the list's one-call-per-value parameters (IoTDA's required task_type): each
    must be sent and be one the spec lists; ValueError otherwise."""
    chosen: dict[str, str] = {}
    for name, values in lister.query_each.items():
        value = params.get(name, "")
        if not value:
            raise ValueError(f"{name} is required")
        if value not in values:
            raise ValueError(f"{name} must be one of {', '.join(values)}")
        chosen[name] = value
    return chosen


def page_bounds(paging: Paging, params: Mapping[str, str], ids: Sequence[str]) -> tuple[int, int | None]:
    """The first item of the page asked for and the page's size (None: all, for paging style none);
    ValueError for a bad offset, page or limit. The spec's limit is the largest page allowed."""
    position = int_param(params, paging.param, paging.first, 0, None) if paging.style != "marker" else 0
    limit = int_param(params, paging.limit_param, paging.limit, 1, paging.limit)
    if paging.style == "marker":
        marker = params.get(paging.param, "")
        return (ids.index(marker) + 1 if marker in ids else 0), limit
    if paging.style == "page":  # counted from `first`; a page below it is the first page
        return max(position - paging.first, 0) * limit, limit
    return (position, limit) if paging.style == "offset" else (0, None)


def next_marker(paging: Paging, ids: Sequence[str], first: int, limit: int | None) -> str:
    """The marker of the next page (the page's last ID) for marker paging while more follow, else ""."""
    if paging.style != "marker" or limit is None or first + limit >= len(ids) or first >= len(ids):
        return ""
    return ids[first + limit - 1]


def in_window(spec: ServiceSpec, params: Mapping[str, str], tasks: list[Task], start: float) -> list[Task]:
    """The tasks created in the request's window (the real lists' start_time filters on creation)."""
    since = window_start(spec, params)
    return tasks if since is None else [task for task in tasks if start + task.created_offset >= since]


def window_start(spec: ServiceSpec, params: Mapping[str, str]) -> float | None:
    """The Unix time a query window starts at (None: no window in the query, or one in a POST body);
    ValueError for a start not in the spec's format."""
    window = spec.discover.window if spec.discover is not None else None
    if window is None or window.where == "body" or not params.get(window.from_param):
        return None
    value = params[window.from_param]
    if window.format in ("epoch_ms", "epoch_s"):
        if not value.isdigit():
            raise ValueError(f"{window.from_param} must be a Unix time in {window.format[6:]}")
        return int(value) / (1000 if window.format == "epoch_ms" else 1)
    pattern = "%Y-%m-%dT%H:%M:%SZ" if window.format == "iso" else window.format
    try:
        return float(calendar.timegm(time.strptime(value, pattern)))
    except ValueError:
        raise ValueError(f"{window.from_param} must be written as {pattern}") from None


def window_fits(spec: ServiceSpec, params: Mapping[str, str]) -> bool:
    """Whether the request's window start is written in the spec's window format: on a path two list APIs
    share (DDM's and GeminiDB's /v3/{project_id}/jobs, on hosts of their own in a real cloud) it tells
    which of them a client meant."""
    window = spec.discover.window if spec.discover is not None else None
    value = params.get(window.from_param, "") if window is not None else ""
    if window is None or not value:
        return False
    if window.format in ("epoch_ms", "epoch_s"):
        return value.isdigit()
    try:
        time.strptime(value, "%Y-%m-%dT%H:%M:%SZ" if window.format == "iso" else window.format)
    except ValueError:
        return False
    return True


def _list_values(
    params: Mapping[str, str], match_info: Mapping[str, str], lister: DiscoverySpec, listing: ListShape
) -> list[str]:
    """The values a list request asks for: the path's, or the batch parameter's (comma-separated, empty
    entries ignored, each once), which wins over the single-value one."""
    if "{value}" in lister.path:
        value = match_info["value"]
        if not listing.value.fullmatch(value):
            raise ValueError(listing.value_rule)
        return [value]
    many = [v.strip() for v in params.get(lister.batch, "").split(",") if v.strip()]
    if len(many) > listing.max_values:
        raise ValueError(f"{lister.batch} holds {len(many)} {listing.noun}, at most {listing.max_values} are allowed")
    if many:
        return list(dict.fromkeys(many))
    one = params.get(listing.also, "").strip() if listing.also else ""
    if not one:
        raise ValueError(f"{listing.also} or {lister.batch} is required")
    return [one]
