"""The admin API under ``/_sim/``: no authentication, not counted in the stats.

- ``POST /_sim/advance?seconds=N``: move the simulated clock forward (tasks and token expiry).
- ``POST /_sim/fault?kind=throttle|server_error|timeout|malformed|wrong_shape|...|none``: the fault for
  all service requests (an outage).
- ``GET /_sim/stats``: ``SimStats.to_json()``.
- ``GET /_sim/targets``: the scenario's tasks as ``[{"cloud_service", "project_id", "task_ids"}]``
  (generated tasks are not targets; see the next one).
- ``GET /_sim/created?since=UNIX``: the generated tasks created at or after ``since`` (default 0) up to
  now, oldest first, as ``[{"created_at", "cloud_service", "project_id", "task_id"}]``.
"""

from __future__ import annotations

import math

import structlog
from aiohttp import web

from exporter.simulator.parts import Parts
from exporter.simulator.routing import Handler, Route, json_response

__all__ = ["routes"]

log = structlog.get_logger()


def routes(parts: Parts) -> list[Route]:
    async def advance(request: web.Request) -> web.StreamResponse:
        try:
            parts.clock.advance(float(request.query.get("seconds", "")))
        except ValueError:
            return json_response(400, {"error": "seconds must be a finite number >= 0"})
        return json_response(200, {"now": parts.clock.now(), "elapsed": parts.clock.elapsed()})

    async def fault(request: web.Request) -> web.StreamResponse:
        faults = parts.gateway.faults
        try:
            faults.set_fault(request.query.get("kind", ""))
        except ValueError as exc:
            return json_response(400, {"error": str(exc)})
        log.info("simulator.fault", kind=faults.fault)
        return json_response(200, {"fault": faults.fault})

    async def stats(_request: web.Request) -> web.StreamResponse:
        return json_response(200, parts.stats.to_json())

    async def targets(_request: web.Request) -> web.StreamResponse:
        return json_response(200, [t._asdict() for t in parts.scenario.targets()])

    return [
        Route("POST", "/_sim/advance", advance),
        Route("POST", "/_sim/fault", fault),
        Route("GET", "/_sim/stats", stats),
        Route("GET", "/_sim/targets", targets),
        Route("GET", "/_sim/created", _created(parts)),
    ]


def _created(parts: Parts) -> Handler:
    async def created(request: web.Request) -> web.StreamResponse:
        try:
            since = float(request.query.get("since", "0"))
        except ValueError:
            since = math.nan
        if not math.isfinite(since):
            return json_response(400, {"error": "since must be a finite Unix time"})
        return json_response(200, [c._asdict() for c in parts.tasks.created(since)])

    return created
