"""Cloud Trace Service's ListTraces, ``GET /v3/{project_id}/traces``: one trace per scenario task of a
service whose spec has a ``trace`` (stamped when the task was created), and per service type three
that name no job (a synchronous call, a response cut short, a failed call).

``trace_type`` system (or data) is required; ``from``/``to`` in ms (exclusive; default the last hour);
``limit`` 1-200 (default 10); ``next`` the marker of the previous page (its last trace: older ones
follow). A bad parameter is 400 ``CTS.0001``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exporter.simulator import bodies
from exporter.simulator.parts import Parts
from exporter.simulator.routing import Handler, Route, int_param, json_response
from exporter.simulator.scenario import Task

__all__ = ["routes", "trace_of", "traces"]


def traces(parts: Parts, project_id: str, service_type: str = "") -> list[dict[str, Any]]:
    """The project's traces by now, newest first."""
    elapsed, started_at, found = parts.clock.elapsed(), parts.clock.started_at, []
    types: dict[str, float] = {}
    for task in parts.scenario.tasks:
        spec = parts.specs.get(task.cloud_service)
        if spec is None or spec.trace is None or task.project_id != project_id or task.created_offset > elapsed:
            continue
        if service_type and spec.trace.service_type != service_type:
            continue
        found.append(trace_of(parts, task))
        types.setdefault(spec.trace.service_type, started_at + task.created_offset)
    for kind, at in types.items():
        found.extend(bodies.odd_traces(kind, at))
    return sorted(found, key=lambda item: -item["time"])


def trace_of(parts: Parts, task: Task) -> dict[str, Any]:
    """The trace of the call that created ``task`` (its service's spec has a ``trace``), as ListTraces
    answers it; `push.py` pushes the same record."""
    return bodies.trace(task, parts.clock.started_at + task.created_offset)


def routes(parts: Parts) -> list[Route]:
    return [Route("GET", "/v3/{project_id}/traces", _handler(parts))]


def _handler(parts: Parts) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        parts.stats.list_requests["cts"] += 1
        request_id, answered = await parts.gateway.admit("cts", request)
        if answered is not None:
            return answered
        now_ms = int(parts.clock.now() * 1000)
        query = request.query
        try:
            if query.get("trace_type") not in ("system", "data"):
                raise ValueError("trace_type must be system or data")
            limit = int_param(query, "limit", 10, 1, 200)
            start = int_param(query, "from", now_ms - 3_600_000, 0, None)
            end = int_param(query, "to", now_ms, 0, None)
        except ValueError as exc:
            return json_response(400, {"error_code": "CTS.0001", "error_msg": f"Invalid parameter: {exc}."}, request_id)
        found = traces(parts, request.match_info["project_id"], query.get("service_type", ""))
        window = [t for t in found if start < t["time"] < end]
        marker = query.get("next", "")
        ids = [t["trace_id"] for t in window]
        first = ids.index(marker) + 1 if marker in ids else 0
        page = window[first : first + limit]
        more = first + limit < len(window)
        body = {"traces": page, "meta_data": {"count": len(page), "marker": page[-1]["trace_id"] if more else None}}
        return json_response(200, body, request_id)

    return handle
