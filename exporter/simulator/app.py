"""The fake cloud's HTTP server, assembled from its parts; each part's module says what it serves.

- `gateway.py`: what every service request passes (latency, `auth.py`'s tokens and AK/SK signatures,
  `faults.py`'s global fault and random mix) and the request counting (`stats.py`).
- `services.py`: every spec's status, progress and list APIs (`lists.py`), answered from the
  service's shape (`shapes.yaml`, `bodies.py`) or from its spec alone, for the tasks `tasks.py` finds.
- `fanout.py`: the parent lists of fan-out services, from the scenario's ``parents:``.
- `traces.py`: Cloud Trace Service's ListTraces; `tokens.py`: IAM's token API; `admin.py`: ``/_sim/``.
- `smn.py`: SMN's signing certificates and subscription confirmation (``/smn/``); `push.py` pushes
  signed SMN messages and CloudEvents to a subscriber (the exporter's intake).

Extension points, for APIs and scenario data added later:

- ``ROUTE_PROVIDERS``: each is a callable taking the simulator's `Parts` (scenario, specs, clock,
  stats, gateway, task lookup) and returning `Route(method, path, handler)`s; a new API (IAM's project
  list, say) is one more row here. A service handler starts with ``parts.gateway.admit(service,
  request)`` (latency, authentication, the global fault) and answers with ``routing.json_response``.
- ``sections.SECTIONS``: the scenario's pluggable top-level keys; a provider reads its section's
  value from ``parts.scenario.sections[key]``.
- List calls are generic over their method (``lists.list_method``; parameters from the query or a
  POST's JSON body, ``routing.request_params``).

The list APIs' documented paging (reference A.1 "List APIs" item 1 and A.4 "List API"), with the
shapes' limits: CodeArts Check's ``GET /v2/{codearts_project_id}/tasks?offset=&limit=`` (``offset`` a
PAGE NUMBER from 1, 0 the first page too; ``limit`` 1-100, default 10; newest first; 400
``CC.00000001`` for a bad project, offset or limit; an unknown project lists no tasks) and CPH ListJobs
``GET /v1/{project_id}/cloud-phone/jobs?request_id=X`` or ``?request_ids=a,b,c`` (at most 20; a record
``offset``, ``limit`` 1-100, default 100; request by request in the order asked, each in creation order;
400 ``CPS.0002``).
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from exporter.services import BUILTIN, ServiceSpec
from exporter.simulator import admin, bodies, fanout, iam, services, smn, tokens, traces
from exporter.simulator.auth import (
    AK_LOCK_SECONDS,
    AK_LOCK_THRESHOLD,
    MAX_CLOCK_SKEW_SECONDS,
    AkState,
    Authenticator,
    AuthResult,
)
from exporter.simulator.clock import SimClock
from exporter.simulator.faults import FAULT_TIMEOUT_SECONDS, Faults
from exporter.simulator.gateway import Gateway
from exporter.simulator.parts import Parts
from exporter.simulator.routing import Route
from exporter.simulator.scenario import (
    CLOUD_SERVICES,
    CreatedTask,
    Scenario,
    Task,
    churn_scenario,
    default_scenario,
    load_scenario,
)
from exporter.simulator.smn import SmnBook
from exporter.simulator.stats import SimStats
from exporter.simulator.tasks import TaskBook

__all__ = [
    "AK_LOCK_SECONDS",
    "AK_LOCK_THRESHOLD",
    "CODEARTS_LIST_DEFAULT_LIMIT",
    "CPH_LIST_DEFAULT_LIMIT",
    "CPH_LIST_MAX_REQUEST_IDS",
    "FAULT_TIMEOUT_SECONDS",
    "LIST_MAX_LIMIT",
    "MAX_CLOCK_SKEW_SECONDS",
    "ROUTE_PROVIDERS",
    "AkState",
    "AuthResult",
    "RunningSimulator",
    "SimStats",
    "Simulator",
    "serve",
    "start_simulator",
]

log = structlog.get_logger()

# The list APIs' paging (reference A.1 and A.4), as shapes.yaml writes it.
CODEARTS_LIST_DEFAULT_LIMIT = 10
CPH_LIST_DEFAULT_LIMIT = 100
CPH_LIST_MAX_REQUEST_IDS = 20
LIST_MAX_LIMIT = 100

RouteProvider = Callable[[Parts], Iterable[Route]]
# Every API the fake cloud serves, provider by provider; earlier routes win on a path two share.
ROUTE_PROVIDERS: tuple[RouteProvider, ...] = (
    services.routes,
    fanout.routes,
    traces.routes,
    tokens.routes,
    iam.routes,
    smn.routes,
    admin.routes,
)


class Simulator:
    """The fake cloud. ``app`` is the aiohttp application; ``start_simulator`` serves it."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
        require_auth: bool = True,
        token_ttl: float = 86400.0,
        extra_running_tasks: int = 0,
        services: Mapping[str, ServiceSpec] | None = None,
    ) -> None:
        """`services`: specs to answer from the spec alone, beyond the built-in ones (a user's custom
        services); a scenario task of such a service needs no code here."""
        base = scenario if scenario is not None else default_scenario()
        self.scenario = base.with_extra_running_tasks(extra_running_tasks)
        self.stats = SimStats()
        self.clock = SimClock(clock)
        sc = self.scenario
        auth = Authenticator(
            self.clock,
            self.stats,
            static_tokens=sc.static_tokens,
            access_keys=sc.access_keys,
            token_ttl=token_ttl,
            require_auth=require_auth,
            domain_id=iam.domain_id(sc),
        )
        # A user's and the scenario's specs may stand in for built-ins without a shape, never for the
        # four with one.
        extra = {**dict(services or {}), **{t.spec.name: t.spec for t in sc.tasks if t.spec is not None}}
        self.specs: Mapping[str, ServiceSpec] = {
            **BUILTIN,
            **{name: spec for name, spec in extra.items() if name not in CLOUD_SERVICES},
        }

        def server_error(cloud_service: str, request_id: str) -> tuple[int, Any]:
            return bodies.error_answer(self.specs, cloud_service, "server_error", "", request_id)

        faults = Faults(self.stats, server_error)
        global_services = frozenset(name for name, spec in self.specs.items() if spec.is_global)
        self.gateway = Gateway(auth, faults, self.stats, latency=latency, global_services=global_services)
        self.tasks = TaskBook(sc, self.specs, self.clock)
        self.parts = Parts(sc, self.specs, self.clock, self.stats, self.gateway, self.tasks)
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self.gateway.count_and_map_errors])
        for provider in ROUTE_PROVIDERS:
            for route in provider(self.parts):
                app.router.add_route(route.method, route.path, route.handler)
        app.on_startup.append(self.gateway.faults.on_startup)
        app.on_shutdown.append(self.gateway.faults.on_shutdown)
        return app

    # The public surface, as the tests, the demo and the benchmarks use it.

    @property
    def started_at(self) -> float:
        return self.clock.started_at

    @property
    def latency(self) -> float:
        return self.gateway.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.gateway.latency = seconds

    @property
    def require_auth(self) -> bool:
        return self.gateway.auth.require_auth

    @property
    def token_ttl(self) -> float:
        return self.gateway.auth.token_ttl

    @property
    def static_tokens(self) -> frozenset[str]:
        return self.gateway.auth.static_tokens

    @property
    def fault(self) -> str | None:
        """The global fault switch; None means "answer normally"."""
        return self.gateway.faults.fault

    @property
    def fault_mix(self) -> dict[str, float]:
        """Faults drawn at random per service request: kind -> probability (the soak's mix)."""
        return self.gateway.faults.mix

    @fault_mix.setter
    def fault_mix(self, mix: dict[str, float]) -> None:
        self.gateway.faults.mix = mix

    def set_fault(self, kind: str | None) -> None:
        """Switch the global fault (None or "none" for normal answers)."""
        self.gateway.faults.set_fault(kind)

    def now(self) -> float:
        """Simulated Unix time: the clock plus every ``advance``."""
        return self.clock.now()

    def elapsed(self) -> float:
        """Simulated seconds since the simulator started (what scenario phases count from)."""
        return self.clock.elapsed()

    def advance(self, seconds: float) -> None:
        """Move simulated time forward; time never goes back."""
        self.clock.advance(seconds)

    def find_task(self, cloud_service: str, project_id: str, task_id: str) -> Task | None:
        """The task (or sub-job) that exists now under this ID, or None (``project_id`` is ignored for
        codearts_check, whose status API has no project)."""
        return self.tasks.find(cloud_service, project_id, task_id)

    def listed(self, cloud_service: str, values: list[str], project_id: str = "") -> list[Task]:
        """The tasks that the service's list API lists for ``values`` (CodeArts projects, CPH request IDs),
        in its order."""
        return self.tasks.listed(cloud_service, values, project_id)

    def created_tasks(self, since: float = 0.0) -> list[CreatedTask]:
        """The generated tasks created at or after ``since`` (Unix time) and by now, oldest first, as
        ``(created_at, cloud_service, project_id, task_id)``; ``project_id`` is the CodeArts project for
        codearts_check and the IAM project otherwise. Scenario tasks are not included."""
        return self.tasks.created(since)

    def traces(self, project_id: str, service_type: str = "") -> list[dict[str, Any]]:
        """Cloud Trace Service's traces of the project by now, newest first (`traces.py`)."""
        return traces.traces(self.parts, project_id, service_type)

    @property
    def smn(self) -> SmnBook:
        """SMN push state: the certificates served under ``/smn/`` and the subscriptions (`smn.py`);
        `push.smn_topic` adds a topic."""
        return self.parts.smn

    def issue_token(self) -> str:
        """A new IAM token, valid for ``token_ttl`` simulated seconds."""
        return self.gateway.auth.issue_token()

    def ak_state(self, access_key: str) -> AkState:
        """The lock state of ``access_key`` now (``(0, None)`` for a key that never failed)."""
        return self.gateway.auth.ak_state(access_key)


# --- serving ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A simulator bound to a socket; ``await close()`` stops it."""

    simulator: Simulator
    url: str
    port: int
    _runner: web.AppRunner = field(repr=False)

    async def close(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningSimulator:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


async def start_simulator(
    sim: Simulator,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> RunningSimulator:
    """Serve ``sim`` on ``host:port`` (port 0 picks a free one) and return at once.

    With ``ssl_context`` (a server-side context holding the certificate chain) it serves HTTPS, and the
    returned ``url`` starts with ``https://``.
    """
    # handler_cancellation: a client that gives up (e.g. on a "timeout" fault) frees its handler.
    runner = web.AppRunner(sim.app, handler_cancellation=True, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = int(runner.addresses[0][1])
    url_host = f"[{host}]" if ":" in host else host
    scheme = "https" if ssl_context is not None else "http"
    return RunningSimulator(sim, f"{scheme}://{url_host}:{bound_port}", bound_port, runner)


def serve(
    host: str,
    port: int,
    *,
    scenario_file: str | None = None,
    latency: float = 0.0,
    extra_running_tasks: int = 0,
    churn: bool = False,
    on_ready: Callable[[RunningSimulator], None] = lambda running: None,
) -> None:
    """Run the fake cloud until SIGINT or SIGTERM (the ``simulate`` command); ``on_ready`` hears it
    listening.

    ``churn`` serves ``churn_scenario()`` (the default scenario plus generators that keep creating
    tasks) instead of the default scenario; it cannot be combined with ``scenario_file`` (a file can
    carry its own ``generators``). Raises ValueError for both, ScenarioError for a bad scenario file and
    OSError if the address is taken.
    """
    if churn and scenario_file:
        raise ValueError("churn and scenario_file cannot be combined; put generators in the scenario file")
    scenario = churn_scenario() if churn else default_scenario()
    if scenario_file:
        scenario = load_scenario(scenario_file)
    sim = Simulator(scenario, latency=latency, extra_running_tasks=extra_running_tasks)
    asyncio.run(_serve_until_signal(sim, host, port, on_ready))


async def _serve_until_signal(
    sim: Simulator, host: str, port: int, on_ready: Callable[[RunningSimulator], None]
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        running = await start_simulator(sim, host, port)
        log.info(
            "simulator.listening",
            url=running.url,
            tasks=len(sim.scenario.tasks),
            generators=len(sim.scenario.generators),
            iam_user=sim.scenario.iam_user,
            require_auth=sim.require_auth,
        )
        on_ready(running)
        try:
            await stop.wait()
        finally:
            await running.close()
        log.info("simulator.stopped")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
