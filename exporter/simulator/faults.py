"""Faults: the global switch (an outage), the soak's random mix, and the answer of each kind.

Kinds (``FAULT_KINDS``): ``throttle`` (429 ``APIGW.0308``), ``server_error`` (500 in the service's own
error shape), ``timeout`` (the request is held ``FAULT_TIMEOUT_SECONDS``, or until the server shuts
down, then answered normally), ``malformed`` (a cut JSON body), ``wrong_shape`` (``[]``), ``reset`` (the
connection drops), ``html`` (a proxy's 502 page with status 200), ``huge`` (a 5 MB JSON string).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

from aiohttp import web

from exporter.simulator import bodies
from exporter.simulator.routing import json_response
from exporter.simulator.scenario import FAULT_KINDS
from exporter.simulator.stats import SimStats

__all__ = ["FAULT_TIMEOUT_SECONDS", "HUGE_BODY_BYTES", "THROTTLE_MESSAGE", "Faults", "ServerError"]

HUGE_BODY_BYTES = 5 * 1024 * 1024  # the "huge" fault's body: a 5 MB JSON string, not the documented object
# How long the "timeout" fault holds a request: longer than any sane client timeout.
FAULT_TIMEOUT_SECONDS = 60.0
THROTTLE_MESSAGE = "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:1 second"
# A service's internal error answer: (cloud_service, request_id) -> (HTTP status, body).
ServerError = Callable[[str, str], tuple[int, Any]]


class Faults:
    """The global fault switch, the per-request random mix, and the answers faults give."""

    def __init__(self, stats: SimStats, server_error: ServerError) -> None:
        self.fault: str | None = None  # the global fault switch; None means "answer normally"
        # Faults drawn at random per service request: kind -> probability (the soak's mix).
        self.mix: dict[str, float] = {}
        self._random = random.Random(0)
        self._stats = stats
        self._server_error = server_error
        # Set when the server shuts down, so that requests held by the "timeout" fault end at once.
        self._release: asyncio.Event | None = None

    def set_fault(self, kind: str | None) -> None:
        """Switch the global fault (None or "none" for normal answers)."""
        kind = None if kind in (None, "none") else kind
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}, none")
        self.fault = kind

    def current(self) -> str | None:
        """The fault for the next service request: the global one, else one drawn from the mix."""
        return self.fault or self._drawn()

    def _drawn(self) -> str | None:
        if not self.mix:
            return None
        draw = self._random.random()
        for kind, probability in self.mix.items():
            if draw < probability:
                self._stats.faults[kind] += 1
                return kind
            draw -= probability
        return None

    async def on_startup(self, _app: web.Application) -> None:
        self._release = asyncio.Event()

    async def on_shutdown(self, _app: web.Application) -> None:
        if self._release is not None:
            self._release.set()

    async def answer(self, kind: str, cloud_service: str, request_id: str, request: web.Request) -> web.Response | None:
        """The response for fault ``kind``, or None to go on normally (after a ``timeout`` stall)."""
        if kind == "timeout":
            await self._hold()
            return None
        if kind == "reset":
            if request.transport is not None:
                request.transport.abort()  # the connection drops without an answer
            return web.Response(status=500)
        if kind == "server_error":
            status, body = self._server_error(cloud_service, request_id)
            return json_response(status, body, request_id)
        if kind in _CANNED:
            return _CANNED[kind](request_id)
        raise ValueError(f"unknown fault kind {kind!r}")

    async def _hold(self) -> None:
        if self._release is None:
            self._release = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), FAULT_TIMEOUT_SECONDS)


def _html(request_id: str) -> web.Response:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    return web.Response(status=200, text=page, content_type="text/html", headers={"X-Request-Id": request_id})


def _huge(_request_id: str) -> web.Response:
    return web.Response(status=200, text='"' + "x" * HUGE_BODY_BYTES + '"', content_type="application/json")


def _malformed(request_id: str) -> web.Response:
    headers = {"X-Request-Id": request_id}
    return web.Response(status=200, text='{"status": ', content_type="application/json", headers=headers)


def _throttle(request_id: str) -> web.Response:
    return json_response(429, bodies.apigw_error("APIGW.0308", THROTTLE_MESSAGE, request_id), request_id)


# The faults whose answer is the same whatever the service.
_CANNED: dict[str, Callable[[str], web.Response]] = {
    "html": _html,
    "huge": _huge,
    "malformed": _malformed,
    "throttle": _throttle,
    "wrong_shape": lambda request_id: json_response(200, [], request_id),
}
