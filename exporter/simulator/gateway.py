"""The fake API gateway in front of every service API: latency, authentication, the global fault,
and the counting of every request (the admin API under ``/_sim/`` and SMN's ``/smn/`` excepted).

All services share one base URL, as if one API gateway fronted them. A service request passes, in
order: the configured latency, authentication (`auth.py`), the global fault switch or the soak's
random mix (`faults.py`); then its route's own answer (a task's lookup, its own fault, its body).
A path or method the gateway does not publish is 404 ``APIGW.0101``.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from exporter.simulator import bodies
from exporter.simulator.auth import Authenticator
from exporter.simulator.faults import Faults
from exporter.simulator.routing import Handler, json_response
from exporter.simulator.stats import SimStats

__all__ = ["Gateway"]


class Gateway:
    """What every service request passes before its own answer."""

    def __init__(
        self,
        auth: Authenticator,
        faults: Faults,
        stats: SimStats,
        *,
        latency: float = 0.0,
        global_services: frozenset[str] = frozenset(),
    ) -> None:
        """`global_services`: the services whose AK/SK requests are signed with the domain ID."""
        if not latency >= 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        self.auth, self.faults, self.stats = auth, faults, stats
        self.latency = latency
        self.global_services = global_services

    async def admit(self, cloud_service: str, request: web.Request) -> tuple[str, web.Response | None]:
        """A new request ID, and the answer if latency, authentication or the global fault ends the request."""
        if self.latency:
            await asyncio.sleep(self.latency)
        request_id = bodies.new_request_id()
        auth = await self.auth.authenticate(request, domain=cloud_service in self.global_services)
        if not auth.ok:
            body = bodies.apigw_error(auth.error_code, auth.error_msg, request_id)
            return request_id, json_response(401, body, request_id)
        fault = self.faults.current()
        if fault and (response := await self.faults.answer(fault, cloud_service, request_id, request)):
            return request_id, response
        return request_id, None

    @web.middleware
    async def count_and_map_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # The admin API and SMN's certificates and confirmations are not service requests.
        if request.path.startswith(("/_sim/", "/smn/")):
            return await handler(request)
        # Counted on arrival, so that requests a client gives up on (timeouts) show too.
        self.stats.requests_total += 1
        if task_id := request.match_info.get("task_id"):
            self.stats.by_task[task_id] += 1
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status not in (404, 405):
                raise
            # The gateway, not the router, answers for paths and methods it does not publish.
            response = json_response(
                404,
                bodies.apigw_error(
                    "APIGW.0101",
                    "The API does not exist or has not been published in the environment",
                    bodies.new_request_id(),
                ),
            )
        self.stats.by_status[str(response.status)] += 1
        return response
