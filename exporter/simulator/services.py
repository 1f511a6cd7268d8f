"""The services' status, progress and list APIs, at every spec's own paths, and again under
``/{cloud_service}``: on a real cloud each service has a host of its own, which an endpoint ending in
``/{cloud_service}`` stands for.

A status request passes the gateway, then the check of the headers its spec requires (`headers.py`),
the task lookup (the service's "not found" answer), the
task's own fault, and gets the body for the current simulated time: from the service's shape where it
has one (``shapes.yaml``), else from its spec alone. On a path that services share (ECS, BMS and EVS;
the database family's ``/v3/{project_id}/jobs``) a status request goes to the service that knows the
task (one with a shape first, for a task nobody knows), a progress request likewise, and a list request
to the service whose scenario parent the path names (the DMS engines' task lists: one host in a real
cloud), else to the lister whose window format the request's window start is written in (else the first).
"""

from __future__ import annotations

from aiohttp import web

from exporter.services import ServiceSpec
from exporter.simulator import bodies
from exporter.simulator.headers import required_headers
from exporter.simulator.lists import list_handler, list_method, window_fits
from exporter.simulator.parts import Parts
from exporter.simulator.routing import Handler, Route, json_response
from exporter.simulator.shapes import SHAPES

__all__ = ["routes", "task_id_of"]


def routes(parts: Parts) -> list[Route]:
    """The route provider: every spec's status, progress and list routes."""
    statuses: dict[str, list[ServiceSpec]] = {}
    listers: dict[tuple[str, str], list[tuple[ServiceSpec, Handler]]] = {}
    progresses: dict[str, list[ServiceSpec]] = {}
    found: list[Route] = []
    for spec in parts.specs.values():
        lister = list_handler(parts, spec)
        for prefix in ("", f"/{spec.name}"):
            statuses.setdefault(prefix + spec.status.path, []).append(spec)
            if lister is not None and spec.discover is not None:
                key = (list_method(spec.discover), prefix + spec.discover.path)
                listers.setdefault(key, []).append((spec, lister))
            progress = spec.status.progress
            if spec.name not in SHAPES and progress is not None and progress.path:
                progresses.setdefault(prefix + progress.path, []).append(spec)
    found += [Route("GET", path, _progress_handler(parts, sharing)) for path, sharing in progresses.items()]
    for path in dict.fromkeys([*statuses, *(path for method, path in listers if method == "GET")]):
        # A task nobody knows is answered as the service with a documented shape would answer it.
        sharing = sorted(statuses.get(path, []), key=lambda spec: spec.name not in SHAPES)
        found.append(Route("GET", path, _routed(parts, sharing, listers.get(("GET", path), []))))
    for (method, path), handlers in listers.items():
        if method != "GET":
            found.append(Route(method, path, _routed(parts, [], handlers)))
    return found


def task_id_of(spec: ServiceSpec, request: web.Request) -> str:
    """The task ID a status request asks for: in its path, or in the query parameter the spec names; a
    task named by several parts (DataArts: job name + instance ID) is the parts joined, each found so."""
    identity = spec.identity
    names = [part.name for part in identity.parts] if identity.multi else ["task_id"]
    values = {name: _named(spec, request, name) for name in names}
    if not identity.multi:
        return values["task_id"]
    return identity.join(values) if all(values.values()) else ""


def _named(spec: ServiceSpec, request: web.Request, name: str) -> str:
    if name in request.match_info:
        return request.match_info[name]
    key = next((k for k, v in spec.status.query.items() if v == "{" + name + "}"), "")
    return request.query.get(key, "")


def _routed(parts: Parts, sharing: list[ServiceSpec], listers: list[tuple[ServiceSpec, Handler]]) -> Handler:
    """One path's handler: a status request (one that names a task) for the service that knows the
    task, any other for the path's list API."""

    async def handle(request: web.Request) -> web.StreamResponse:
        task_id = task_id_of(sharing[0], request) if sharing else ""
        if sharing and (task_id or not listers):
            project = request.match_info.get("project_id", "")
            owner = next((s for s in sharing if parts.tasks.find(s.name, project, task_id) is not None), sharing[0])
            return await _serve_task(parts, owner, request)
        return await _lister(parts, listers, request)(request)

    return handle


def _lister(parts: Parts, listers: list[tuple[ServiceSpec, Handler]], request: web.Request) -> Handler:
    """Of the list APIs at one path, the one a request is for: the service whose scenario parent the
    path names (the DMS engines' task lists), else the one whose window format the request's window start
    is written in, else the first."""
    known = parts.scenario.sections.get("parents", {})
    for spec, handler in listers:
        parent = request.match_info.get(spec.parents.param, "") if spec.parents is not None else ""
        if parent and any(p.id == parent for p in known.get(spec.name, ())):
            return handler
    return next((h for spec, h in listers if window_fits(spec, request.query)), listers[0][1])


async def _serve_task(parts: Parts, spec: ServiceSpec, request: web.Request) -> web.StreamResponse:
    request_id, answered = await parts.gateway.admit(spec.name, request)
    if answered is None:
        answered = required_headers(spec, spec.status.headers, request, request_id)
    if answered is not None:
        return answered
    task_id = task_id_of(spec, request)
    task = parts.tasks.find(spec.name, request.match_info.get("project_id", ""), task_id)
    if task is None:
        status, body = bodies.error_answer(parts.specs, spec.name, "not_found", task_id, request_id)
        return json_response(status, body, request_id)
    faults = parts.gateway.faults
    if task.fault and (response := await faults.answer(task.fault, spec.name, request_id, request)):
        return response
    clock = parts.clock
    body = bodies.task_body(task, start=clock.started_at, elapsed=clock.elapsed(), request_id=request_id)
    return json_response(200, body, request_id)


def _progress_handler(parts: Parts, sharing: list[ServiceSpec]) -> Handler:
    """A spec's progress API (DLI's): the status and the progress of the task; on a path that services
    share (DMS Kafka's and RocketMQ's), for the service that knows the task."""

    async def handle(request: web.Request) -> web.StreamResponse:
        task_id, project = request.match_info.get("task_id", ""), request.match_info.get("project_id", "")
        spec = next((s for s in sharing if parts.tasks.find(s.name, project, task_id) is not None), sharing[0])
        request_id, answered = await parts.gateway.admit(spec.name, request)
        if answered is None:
            answered = required_headers(spec, spec.status.headers, request, request_id)
        if answered is not None:
            return answered
        task = parts.tasks.find(spec.name, project, task_id)
        if task is None:
            status, body = bodies.spec_error(spec, "not_found", task_id, progress_api=True)
            return json_response(status, body, request_id)
        return json_response(200, bodies.spec_progress_body(task, elapsed=parts.clock.elapsed()), request_id)

    return handle
