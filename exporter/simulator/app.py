"""The fake cloud's HTTP server: four services' status APIs, IAM tokens, faults and an admin API.

All services share one base URL, as if one API gateway fronted them. Requests pass, in order: the
configured latency, authentication, the global fault switch, the task lookup (each service's "not
found" answer), the task's own fault, and finally the body for the current simulated time.

Authentication, as the API gateway does it (reference notes C.2 and C.4), unless ``require_auth`` is
off. A request whose ``Authorization`` starts with ``SDK-HMAC-SHA256`` is checked as an AK/SK request
against the scenario's access keys: signature, ``X-Sdk-Date`` within 15 minutes of the *simulated*
clock (else 401 ``APIGW.0303``), and for temporary credentials a signed ``X-Security-Token`` equal to
the key's token. Any other request needs an ``X-Auth-Token`` (a static token or one that IAM issued
and that has not expired on the simulated clock). Failures are 401 ``APIGW.0301``. More than
``AK_LOCK_THRESHOLD`` (5) consecutive failed authentications of one access key (a bad signature, a
malformed signed request, a missing or wrong security token, or a stale ``X-Sdk-Date``) lock that key
for ``AK_LOCK_SECONDS`` (300) simulated seconds; while locked, even correctly signed requests get
401 ``APIGW.0301``; a success resets the count. The error bodies never hold a secret key, a token or a
signature.

Besides the four status APIs, two list APIs (reference A.1 "List APIs" item 1 and A.4 "List API"); they
pass the same latency, authentication and global fault switch (tasks' own faults do not apply), and
list only the tasks that exist at the current simulated time (scenario tasks, plus the generators'
tasks created so far):

- ``GET /v2/{codearts_project_id}/tasks?offset=&limit=`` (CodeArts Check, ShowTaskListByProjectId):
  ``{"tasks": [{"task_id", "task_name", "creator_id", "git_url", "git_branch", "created_at",
  "last_check_time"}], "total": n}``, newest ``created_at`` first (ties in scenario, then generator
  order), times UTC ``yyyy-MM-ddTHH:mm:ssZ``, ``last_check_time`` null for a never-checked task. ``offset`` is a
  PAGE NUMBER, as the current docs define it (ShowTaskListByProjectIdV2: "offset=10, limit=100 starts at
  record 901"): page ``offset`` holds records from ``(offset - 1) * limit``, and 0 is the first page too. ``offset``
  0-999999 (default 0), ``limit`` 1-100 (default 10); ``total`` counts every task of the project.
  ``codearts_project_id`` must be 32 lowercase hex characters; a bad one, or a bad ``offset``/``limit``,
  gets 400 ``{"error_code": "CC.00000001", "error_msg"}`` (an illustrative code). A well-formed but
  unknown project is answered like a project without tasks: 200 ``{"tasks": [], "total": 0}``.
- ``GET /v1/{project_id}/cloud-phone/jobs?request_id=X`` or ``?request_ids=a,b,c`` (CPH ListJobs):
  ``{"request_id": "<new 32 hex>", "jobs": [{"job_id", "phone_id"|"server_id", "begin_time",
  "end_time", "status", "error_code", "error_msg", "execute_msg"}]}``: the jobs of the project that
  the given requests created, request by request in the order asked (duplicates once), each request's
  jobs in creation order, then ``offset`` (a record offset >= 0, default 0) and ``limit`` (1-100,
  default 100) applied. ``request_ids`` (at most 20, empty entries ignored) wins over ``request_id``.
  Neither, more than 20, or a bad ``offset``/``limit``: 400 ``{"request_id", "error_code": "CPS.0002",
  "error_msg"}``. Unknown request IDs list no jobs.

The admin endpoints under ``/_sim/`` need no authentication and are not counted in the stats:

- ``POST /_sim/advance?seconds=N``: move the simulated clock forward (tasks and token expiry).
- ``POST /_sim/fault?kind=throttle|server_error|timeout|malformed|wrong_shape|none``: fault for all
  service requests (an outage).
- ``GET /_sim/stats``: ``{"requests_total", "by_task", "by_status", "tokens_issued", "auth_failures",
  "ak_locked_rejections", "aksk_accepted", "max_consecutive_auth_failures", "list_requests"}``.
- ``GET /_sim/targets``: the scenario's tasks as ``[{"cloud_service", "project_id", "task_ids"}]``
  (generated tasks are not targets; see the next one).
- ``GET /_sim/created?since=UNIX``: the generated tasks created at or after ``since`` (default 0) up to
  now, oldest first, as ``[{"created_at", "cloud_service", "project_id", "task_id"}]``
  (``Simulator.created_tasks``; ``project_id`` is the CodeArts project for codearts_check).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import secrets
import signal
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

import httpx
import structlog
from aiohttp import web

from exporter.cloud.signing import ALGORITHM, VerifyStatus, format_sdk_date, verify
from exporter.services import BUILTIN, DiscoverySpec, ServiceSpec
from exporter.simulator import bodies, iam
from exporter.simulator.scenario import (
    CLOUD_SERVICES,
    FAULT_KINDS,
    AccessKey,
    CreatedTask,
    Scenario,
    Task,
    TaskGenerator,
    churn_scenario,
    default_scenario,
    load_scenario,
    parse_generated_task_id,
)
from exporter.simulator.shapes import SHAPES, ListShape

__all__ = [
    "AK_LOCK_SECONDS",
    "AK_LOCK_THRESHOLD",
    "CODEARTS_LIST_DEFAULT_LIMIT",
    "CPH_LIST_DEFAULT_LIMIT",
    "CPH_LIST_MAX_REQUEST_IDS",
    "FAULT_TIMEOUT_SECONDS",
    "LIST_MAX_LIMIT",
    "MAX_CLOCK_SKEW_SECONDS",
    "AkState",
    "AuthResult",
    "RunningSimulator",
    "SimStats",
    "Simulator",
    "serve",
    "start_simulator",
]

log = structlog.get_logger()

HUGE_BODY_BYTES = 5 * 1024 * 1024  # the "huge" fault's body: a 5 MB JSON string, not the documented object
# How long the "timeout" fault holds a request: longer than any sane client timeout.
FAULT_TIMEOUT_SECONDS = 60.0
THROTTLE_MESSAGE = "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:1 second"
AUTH_MESSAGE = "Incorrect IAM authentication information: token expired or invalid"
# AK/SK answers; wording after the gateway's documented messages. None holds a secret or a signature.
_IAM = "Incorrect IAM authentication information"
SIGNATURE_MESSAGE = f"{_IAM}: verify aksk signature fail"
LOCKED_MESSAGE = f"{_IAM}: AK access failed to reach the limit,forbidden"
TOKEN_MISSING_MESSAGE = f"{_IAM}: X-Security-Token is required for temporary credentials"
TOKEN_UNSIGNED_MESSAGE = f"{_IAM}: X-Security-Token must be a signed header"
TOKEN_INVALID_MESSAGE = f"{_IAM}: verify security token fail"
# The gateway's clock check (reference C.2): at most 15 minutes between X-Sdk-Date and the server.
MAX_CLOCK_SKEW_SECONDS = 900.0
# "More than 5 consecutive AK/SK authentication failures lock the AK for 5 minutes" (reference C.2).
AK_LOCK_THRESHOLD = 5
AK_LOCK_SECONDS = 300.0
# The list APIs' paging (reference A.1 and A.4).
CODEARTS_LIST_DEFAULT_LIMIT = 10
CODEARTS_LIST_MAX_OFFSET = 999_999
CPH_LIST_DEFAULT_LIMIT = 100
CPH_LIST_MAX_REQUEST_IDS = 20
LIST_MAX_LIMIT = 100
_SIGNED_HEADERS_RE = re.compile(r"SignedHeaders=([^\s,]+)")
_HEX32_RE = re.compile(r"[0-9a-f]{32}")
_INT_RE = re.compile(r"[+-]?[0-9]{1,15}")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Answer = Callable[[web.Request, str], Awaitable[web.StreamResponse]]  # a list's answer, given the request ID


@dataclass(slots=True)
class SimStats:
    """Counts of the requests the fake cloud answered (admin endpoints excluded)."""

    requests_total: int = 0
    by_task: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)  # keys are HTTP status codes as strings
    tokens_issued: int = 0
    # Every service request refused by authentication (token or AK/SK, locked AKs included).
    auth_failures: int = 0
    # Requests refused only because their access key was locked.
    ak_locked_rejections: int = 0
    # Access key -> service requests accepted with a valid AK/SK signature.
    aksk_accepted: Counter[str] = field(default_factory=Counter)
    # Access key -> the longest run of consecutive failed authentications seen (0 if none). More than
    # AK_LOCK_THRESHOLD means the client got the key locked.
    max_consecutive_auth_failures: Counter[str] = field(default_factory=Counter)
    # Faults drawn from fault_mix, by kind.
    faults: Counter[str] = field(default_factory=Counter)
    # List API requests on arrival, by cloud service ("codearts_check": the task list, "cph": ListJobs).
    list_requests: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "by_task": dict(self.by_task),
            "by_status": dict(self.by_status),
            "tokens_issued": self.tokens_issued,
            "auth_failures": self.auth_failures,
            "ak_locked_rejections": self.ak_locked_rejections,
            "aksk_accepted": dict(self.aksk_accepted),
            "max_consecutive_auth_failures": dict(self.max_consecutive_auth_failures),
            "list_requests": dict(self.list_requests),
            "faults": dict(self.faults),
        }


class AkState(NamedTuple):
    """An access key's lock state: the current run of failed authentications, and the lock's end."""

    consecutive_failures: int
    locked_until: float | None  # simulated Unix time; None when the key is not locked


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Whether a service request may go on; if not, the gateway error to answer with (HTTP 401)."""

    ok: bool
    error_code: str = ""
    error_msg: str = ""  # never holds a secret key, a security token or a signature
    access_key: str | None = None  # the AK/SK request's access key; None for tokens

    @classmethod
    def accept(cls, access_key: str | None = None) -> AuthResult:
        return cls(True, access_key=access_key)

    @classmethod
    def reject(cls, message: str, access_key: str | None = None, code: str = "APIGW.0301") -> AuthResult:
        return cls(False, code, message, access_key)


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
        if not latency >= 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        if not token_ttl > 0:
            raise ValueError(f"token_ttl must be > 0 seconds, got {token_ttl}")
        base = scenario if scenario is not None else default_scenario()
        self.scenario = base.with_extra_running_tasks(extra_running_tasks)
        self.latency = latency
        self.require_auth = require_auth
        self.token_ttl = token_ttl
        self.static_tokens = frozenset(self.scenario.static_tokens)
        self.fault: str | None = None  # the global fault switch; None means "answer normally"
        # Faults drawn at random per service request: kind -> probability (the soak's mix).
        self.fault_mix: dict[str, float] = {}
        self._random = random.Random(0)
        self.stats = SimStats()
        self._clock = clock
        self._offset = 0.0
        self.started_at = clock()
        self._tokens: dict[str, float] = {}  # token -> expiry, simulated time
        self._access_keys: dict[str, AccessKey] = {k.access_key: k for k in self.scenario.access_keys}
        self._ak_failures: dict[str, int] = {}  # access key -> consecutive failed authentications
        self._ak_locked_until: dict[str, float] = {}  # access key -> end of its lock, simulated time
        # Set when the server shuts down, so that requests held by the "timeout" fault end at once.
        self._release: asyncio.Event | None = None
        specs = {name: spec for name, spec in BUILTIN.items() if name not in CLOUD_SERVICES}
        specs |= dict(services or {}) | {t.spec.name: t.spec for t in self.scenario.tasks if t.spec is not None}
        self.specs: Mapping[str, ServiceSpec] = {**BUILTIN, **specs}
        self._spec_only = specs
        self._tasks: dict[tuple[str, str, str], Task] = {}
        for task in self.scenario.tasks:
            # Sub-jobs are jobs in their own right and can be queried by their IDs.
            for job in (task, *task.sub_jobs):
                self._tasks[(job.cloud_service, self._project(job.cloud_service, job.project_id), job.task_id)] = job
        self.app = self._build_app()

    # --- simulated time -----------------------------------------------------------------------

    def now(self) -> float:
        """Simulated Unix time: the clock plus every ``advance``."""
        return self._clock() + self._offset

    def elapsed(self) -> float:
        """Simulated seconds since the simulator started (what scenario phases count from)."""
        return self.now() - self.started_at

    def advance(self, seconds: float) -> None:
        """Move simulated time forward; time never goes back."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds}")
        self._offset += seconds

    # --- tasks, scenario and generated --------------------------------------------------------

    def find_task(self, cloud_service: str, project_id: str, task_id: str) -> Task | None:
        """The task (or EVS sub-job) that exists now under this ID, or None.

        ``project_id`` is ignored for codearts_check, whose status API has no project.
        """
        project = self._project(cloud_service, project_id)
        task = self._tasks.get((cloud_service, project, task_id))
        if task is not None:
            return task
        parsed = parse_generated_task_id(cloud_service, task_id)
        if parsed is None or parsed[0] >= len(self.scenario.generators):
            return None
        generator = self.scenario.generators[parsed[0]]
        if generator.cloud_service != cloud_service or (project and generator.project_id != project):
            return None
        n = parsed[1]
        return generator.task(n) if n <= generator.count_at(self.elapsed()) else None

    def _project(self, cloud_service: str, project_id: str) -> str:
        """The project a task is looked up under: none for a service whose status path has none."""
        spec = self.specs.get(cloud_service)
        return project_id if spec is None or spec.needs_project_id else ""

    def listed(self, cloud_service: str, values: list[str], project_id: str = "") -> list[Task]:
        """The tasks that the service's list API lists for ``values`` (CodeArts projects, CPH request IDs),
        in its order (shapes.yaml: newest first, or value by value in the order given, oldest first)."""
        return [_materialize(ref) for ref in self._list_refs(cloud_service, project_id, values)]

    # The lists sort light references and build only the tasks of the page asked for: a long churn
    # run has tens of thousands of generated tasks.

    def _list_refs(self, cloud_service: str, project_id: str, values: list[str]) -> list[_TaskRef]:
        listing, lister = SHAPES[cloud_service].list, self.specs[cloud_service].discover
        assert listing is not None
        assert lister is not None
        by_project = "{project_id}" in lister.path
        elapsed = self.elapsed()
        by_value: dict[str, list[_TaskRef]] = {value: [] for value in values}
        for task in self.scenario.tasks:
            refs = by_value.get(task.listed_under)
            if (
                task.cloud_service == cloud_service
                and refs is not None
                and (not by_project or task.project_id == project_id)
            ):
                refs.append((task.created_offset, task, 0))
        for generator in self.scenario.generators:
            refs = by_value.get(generator.list_value)
            if (
                generator.cloud_service == cloud_service
                and refs is not None
                and (not by_project or generator.project_id == project_id)
            ):
                refs.extend(_generated_refs(generator, elapsed))
        if listing.order == "newest":
            # Stable, so equal creation times keep scenario order, then generator order.
            return sorted((ref for refs in by_value.values() for ref in refs), key=lambda ref: -ref[0])
        return [ref for refs in by_value.values() for ref in sorted(refs, key=lambda ref: ref[0])]

    def created_tasks(self, since: float = 0.0) -> list[CreatedTask]:
        """The generated tasks created at or after ``since`` (Unix time) and by now, oldest first.

        Each is ``(created_at, cloud_service, project_id, task_id)``, where ``project_id`` is the
        CodeArts project for codearts_check and the IAM project otherwise. Scenario tasks are not
        included (they exist from the start; see ``Scenario.targets``).
        """
        elapsed = self.elapsed()
        created: list[CreatedTask] = []
        for generator in self.scenario.generators:
            for n in range(1, generator.count_at(elapsed) + 1):
                at = self.started_at + generator.created_offset(n)
                if at >= since:
                    created.append(
                        CreatedTask(at, generator.cloud_service, generator.list_project_id, generator.task_id(n))
                    )
        return sorted(created, key=lambda c: c.created_at)

    def _mixed_fault(self) -> str | None:
        """A fault drawn from ``fault_mix`` (kind -> probability per request), counted in the stats."""
        if not self.fault_mix:
            return None
        draw = self._random.random()
        for kind, probability in self.fault_mix.items():
            if draw < probability:
                self.stats.faults[kind] += 1
                return kind
            draw -= probability
        return None

    def set_fault(self, kind: str | None) -> None:
        """Switch the global fault (None or "none" for normal answers)."""
        kind = None if kind in (None, "none") else kind
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}, none")
        self.fault = kind

    # --- authentication -----------------------------------------------------------------------

    def issue_token(self) -> str:
        """A new IAM token, valid for ``token_ttl`` simulated seconds."""
        now = self.now()
        # Drop expired tokens so that a long run does not grow the table for ever.
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        token = "MIIsim" + secrets.token_urlsafe(48)
        self._tokens[token] = now + self.token_ttl
        self.stats.tokens_issued += 1
        return token

    def ak_state(self, access_key: str) -> AkState:
        """The lock state of ``access_key`` now (``(0, None)`` for a key that never failed)."""
        self._expire_lock(access_key)
        return AkState(self._ak_failures.get(access_key, 0), self._ak_locked_until.get(access_key))

    def _expire_lock(self, access_key: str) -> None:
        until = self._ak_locked_until.get(access_key)
        if until is not None and self.now() >= until:
            # The lock is over: the key starts afresh.
            del self._ak_locked_until[access_key]
            self._ak_failures.pop(access_key, None)

    def _record_ak_failure(self, access_key: str) -> None:
        failures = self._ak_failures.get(access_key, 0) + 1
        self._ak_failures[access_key] = failures
        stats = self.stats.max_consecutive_auth_failures
        stats[access_key] = max(stats[access_key], failures)
        if failures > AK_LOCK_THRESHOLD:
            self._ak_locked_until[access_key] = self.now() + AK_LOCK_SECONDS
            log.warning("simulator.ak_locked", access_key=access_key, failures=failures, seconds=AK_LOCK_SECONDS)

    async def _authenticate(self, request: web.Request) -> AuthResult:
        """Whether ``request`` may call a service API, and if not, which gateway error to answer."""
        if not self.require_auth:
            return AuthResult.accept()
        if request.headers.get("Authorization", "").startswith(ALGORITHM):
            result = await self._authenticate_aksk(request)
        else:
            result = self._authenticate_token(request)
        if not result.ok:
            self.stats.auth_failures += 1
        return result

    def _authenticate_token(self, request: web.Request) -> AuthResult:
        token = request.headers.get("X-Auth-Token")
        if token is not None and token in self.static_tokens:
            return AuthResult.accept()
        expires = self._tokens.get(token) if token is not None else None
        if expires is not None and self.now() < expires:
            return AuthResult.accept()
        return AuthResult.reject(AUTH_MESSAGE)

    async def _authenticate_aksk(self, request: web.Request) -> AuthResult:
        body = await request.read()
        now = self.now()
        try:
            url = _received_url(request.raw_path)
        except (ValueError, httpx.InvalidURL):
            return AuthResult.reject(f"{SIGNATURE_MESSAGE}, the request target cannot be canonicalised")
        result = verify(request.method, url, request.headers, body, self._secret_for, now, MAX_CLOCK_SKEW_SECONDS)
        access_key = result.access_key
        entry = self._access_keys.get(access_key) if access_key is not None else None
        if access_key is None or entry is None:
            # Nothing to lock: the key is unknown or the Authorization header names none.
            if result.status is VerifyStatus.UNKNOWN_ACCESS_KEY:
                # Masked as the gateway does (and as AkSkAuth's repr): with the AK and SK swapped in a
                # client's configuration, the full "access key" would be the secret key.
                shown = f"{(access_key or '')[:4]}******"
                return AuthResult.reject(f"{_IAM}: Get secretKey failed,ak:{shown},err:ak not exist", access_key)
            return AuthResult.reject(f"{SIGNATURE_MESSAGE}, {result.reason}")

        self._expire_lock(access_key)
        if access_key in self._ak_locked_until:
            # Refused without a look at the signature; this does not extend the lock.
            self.stats.ak_locked_rejections += 1
            return AuthResult.reject(LOCKED_MESSAGE, access_key)

        failure: AuthResult | None = None
        match result.status:
            case VerifyStatus.OK:
                failure = self._check_security_token(request, entry)
            case VerifyStatus.CLOCK_SKEW:
                signed_at = request.headers.get("X-Sdk-Date", "")
                failure = AuthResult.reject(
                    "Incorrect app authentication information: signature expired, "
                    f"signature time:{signed_at},server time:{format_sdk_date(now)}",
                    access_key,
                    code="APIGW.0303",
                )
            case VerifyStatus.BAD_SIGNATURE:
                failure = AuthResult.reject(SIGNATURE_MESSAGE, access_key)
            case _:  # malformed: the reason names header names or the date, never a secret
                failure = AuthResult.reject(f"{SIGNATURE_MESSAGE}, {result.reason}", access_key)
        if failure is not None:
            self._record_ak_failure(access_key)
            log.info("simulator.aksk_rejected", access_key=access_key, error_code=failure.error_code)
            return failure
        self._ak_failures.pop(access_key, None)
        self.stats.aksk_accepted[access_key] += 1
        return AuthResult.accept(access_key)

    def _secret_for(self, access_key: str) -> str | None:
        entry = self._access_keys.get(access_key)
        return entry.secret_key if entry is not None else None

    @staticmethod
    def _check_security_token(request: web.Request, entry: AccessKey) -> AuthResult | None:
        """None if the request carries what ``entry`` needs (a signed X-Security-Token for temporary keys)."""
        if entry.security_token is None:
            return None
        given = request.headers.getall("X-Security-Token", [])
        if not given:
            return AuthResult.reject(TOKEN_MISSING_MESSAGE, entry.access_key)
        match = _SIGNED_HEADERS_RE.search(request.headers.get("Authorization", ""))
        if match is None or "x-security-token" not in match.group(1).split(";"):
            return AuthResult.reject(TOKEN_UNSIGNED_MESSAGE, entry.access_key)
        expected = entry.security_token.encode()
        if len(given) != 1 or not secrets.compare_digest(given[0].strip().encode("utf-8", "surrogateescape"), expected):
            return AuthResult.reject(TOKEN_INVALID_MESSAGE, entry.access_key)
        return None

    # --- the application ----------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._count_and_map_errors])
        # Every service's status and list APIs at its spec's paths, and again under /{cloud_service}: on
        # a real cloud each service has a host of its own, which an endpoint ending in /{cloud_service}
        # stands for. The four with hand-written shapes answer in them, every other from its spec alone.
        # On a path that services share (ECS, BMS and EVS; the database family's /v3/{project_id}/jobs), a
        # status request goes to the service that knows the task and a list request to the first lister.
        statuses: dict[str, list[ServiceSpec]] = {}
        listers: dict[str, list[tuple[ServiceSpec, _Handler]]] = {}
        for spec in self.specs.values():
            lister = self._lister(spec)
            for prefix in ("", f"/{spec.name}"):
                statuses.setdefault(prefix + spec.status.path, []).append(spec)
                if lister is not None:
                    assert spec.discover is not None
                    listers.setdefault(prefix + spec.discover.path, []).append((spec, lister))
        for spec in self._spec_only.values():
            if spec.status.progress is not None and spec.status.progress.path:
                for prefix in ("", f"/{spec.name}"):
                    app.router.add_get(prefix + spec.status.progress.path, self._progress_handler(spec))
        for path in dict.fromkeys([*statuses, *listers]):
            # A task nobody knows is answered as the service with a documented shape would answer it.
            sharing = sorted(statuses.get(path, []), key=lambda spec: spec.name not in SHAPES)
            app.router.add_get(path, self._routed(sharing, listers.get(path, [])))
        app.router.add_get("/v3/{project_id}/traces", self._traces)
        app.router.add_post("/v3/auth/tokens", self._iam_tokens)
        iam.register(self, app)  # the IAM project lists (exporter/simulator/iam.py)
        app.router.add_post("/_sim/advance", self._admin_advance)
        app.router.add_post("/_sim/fault", self._admin_fault)
        app.router.add_get("/_sim/stats", self._admin_stats)
        app.router.add_get("/_sim/targets", self._admin_targets)
        app.router.add_get("/_sim/created", self._admin_created)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        self._release = asyncio.Event()

    async def _on_shutdown(self, _app: web.Application) -> None:
        if self._release is not None:
            self._release.set()

    @web.middleware
    async def _count_and_map_errors(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
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
            response = _json(
                404,
                bodies.apigw_error(
                    "APIGW.0101",
                    "The API does not exist or has not been published in the environment",
                    bodies.new_request_id(),
                ),
            )
        self.stats.by_status[str(response.status)] += 1
        return response

    def _progress_handler(self, spec: ServiceSpec) -> _Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            request_id, answered = await self._gateway(spec.name, request)
            if answered is not None:
                return answered
            task_id = request.match_info.get("task_id", "")
            task = self.find_task(spec.name, request.match_info.get("project_id", ""), task_id)
            if task is None:
                status, body = bodies.spec_error(spec, "not_found", task_id)
                return _json(status, body, request_id)
            return _json(200, bodies.spec_progress_body(task, elapsed=self.elapsed()), request_id)

        return handle

    def _lister(self, spec: ServiceSpec) -> _Handler | None:
        """The service's list API: counted, then through the gateway (latency, auth, the global fault)."""
        if spec.discover is None:
            return None
        if spec.name in SHAPES:
            listing = SHAPES[spec.name].list
            if listing is None:
                return None
            answer = self._list_answer(spec, listing)
        else:
            answer = self._spec_list_answer(spec)

        async def handle(request: web.Request) -> web.StreamResponse:
            self.stats.list_requests[spec.name] += 1
            request_id, answered = await self._gateway(spec.name, request)
            return answered if answered is not None else await answer(request, request_id)

        return handle

    def _routed(self, sharing: list[ServiceSpec], listers: list[tuple[ServiceSpec, _Handler]]) -> _Handler:
        """One path's handler: a status request (one that names a task) for the service that knows the
        task, any other for the path's list API."""

        async def handle(request: web.Request) -> web.StreamResponse:
            task_id = _task_id(sharing[0], request) if sharing else ""
            if sharing and (task_id or not listers):
                project = request.match_info.get("project_id", "")
                owner = next((s for s in sharing if self.find_task(s.name, project, task_id) is not None), sharing[0])
                return await self._serve_task(owner.name, request)
            lister = next((h for spec, h in listers if _window_fits(spec, request)), listers[0][1])
            return await lister(request)

        return handle

    async def _gateway(self, cloud_service: str, request: web.Request) -> tuple[str, web.Response | None]:
        """A new request ID, and the answer if latency, authentication or the global fault ends the request."""
        if self.latency:
            await asyncio.sleep(self.latency)
        request_id = bodies.new_request_id()
        auth = await self._authenticate(request)
        if not auth.ok:
            return request_id, _json(401, bodies.apigw_error(auth.error_code, auth.error_msg, request_id), request_id)
        fault = self.fault or self._mixed_fault()
        if fault and (response := await self._fault(fault, cloud_service, request_id, request)):
            return request_id, response
        return request_id, None

    async def _serve_task(self, cloud_service: str, request: web.Request) -> web.StreamResponse:
        request_id, answered = await self._gateway(cloud_service, request)
        if answered is not None:
            return answered
        task_id = _task_id(self.specs[cloud_service], request)
        task = self.find_task(cloud_service, request.match_info.get("project_id", ""), task_id)
        if task is None:
            spec = self._spec_only.get(cloud_service)
            status, body = (
                bodies.spec_error(spec, "not_found", task_id)
                if spec
                else bodies.not_found(cloud_service, task_id, request_id)
            )
            return _json(status, body, request_id)
        if task.fault and (response := await self._fault(task.fault, cloud_service, request_id, request)):
            return response
        body = bodies.task_body(task, start=self.started_at, elapsed=self.elapsed(), request_id=request_id)
        return _json(200, body, request_id)

    def _list_answer(self, spec: ServiceSpec, listing: ListShape) -> _Answer:
        lister = spec.discover
        assert lister is not None

        async def answer(request: web.Request, request_id: str) -> web.StreamResponse:
            paging = lister.paging
            try:
                values = _list_values(request, lister, listing)
                offset = _int_query(request, paging.param, 0, 0, listing.max_offset)
                limit = _int_query(request, paging.limit_param, listing.default_limit, 1, listing.max_limit)
            except ValueError as exc:
                return _json(400, bodies.list_error(spec.name, str(exc), request_id), request_id)
            refs = self._list_refs(spec.name, request.match_info.get("project_id", ""), values)
            # A page number counts from 1 (0 is the first page too); a record offset from 0.
            first = (max(offset, 1) - 1) * limit if paging.style == "page" else offset
            start, elapsed = self.started_at, self.elapsed()
            items = [
                bodies.list_item(_materialize(ref), start=start, elapsed=elapsed, request_id=request_id)
                for ref in refs[first : first + limit]
            ]
            return _json(200, bodies.list_page(spec.name, items, len(refs), request_id), request_id)

        return answer

    def _spec_list_answer(self, spec: ServiceSpec) -> _Answer:
        """A spec-only service's list API, paged as its spec says; the spec's limit is the largest page
        the fake cloud allows, and a window the spec sends is required."""
        lister = spec.discover
        assert lister is not None

        async def answer(request: web.Request, request_id: str) -> web.StreamResponse:
            paging = lister.paging
            window = lister.window
            missing = [
                p for p in ((window.from_param, window.to_param) if window else ()) if p and p not in request.query
            ]
            try:
                if missing:
                    raise ValueError(f"{' and '.join(missing)} required")
                position = _int_query(request, paging.param, paging.first, 0, None) if paging.style != "marker" else 0
                limit = _int_query(request, paging.limit_param, paging.limit, 1, paging.limit)
            except ValueError as exc:
                body = {"error_code": f"{spec.name.upper()}.0400", "error_msg": f"Invalid parameter: {exc}."}
                return _json(400, body, request_id)
            project, elapsed = request.match_info.get("project_id", ""), self.elapsed()
            tasks = sorted(
                (
                    task
                    for task in self.scenario.tasks
                    if task.cloud_service == spec.name
                    and (not project or task.project_id == project)
                    and task.created_offset <= elapsed
                ),
                key=lambda task: -task.created_offset,
            )
            if paging.style == "marker":
                marker = request.query.get(paging.param, "")
                ids = [task.task_id for task in tasks]
                position = ids.index(marker) + 1 if marker in ids else 0
            elif paging.style == "page":
                position = (max(position, 1) - 1) * limit
            page = tasks[position : position + limit] if paging.style != "none" else tasks
            items = [bodies.spec_list_item(task, spec, start=self.started_at, elapsed=elapsed) for task in page]
            more = paging.style == "marker" and position + limit < len(tasks) and page
            return _json(
                200, bodies.spec_list_page(spec, items, len(tasks), page[-1].task_id if more else ""), request_id
            )

        return answer

    async def _fault(self, kind: str, cloud_service: str, request_id: str, request: web.Request) -> web.Response | None:
        """The response for fault ``kind``, or None to go on normally (after a ``timeout`` stall)."""
        match kind:
            case "reset":
                if request.transport is not None:
                    request.transport.abort()  # the connection drops without an answer
                return web.Response(status=500)
            case "html":
                page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
                return web.Response(
                    status=200, text=page, content_type="text/html", headers={"X-Request-Id": request_id}
                )
            case "huge":
                return web.Response(status=200, text='"' + "x" * HUGE_BODY_BYTES + '"', content_type="application/json")
            case "throttle":
                return _json(429, bodies.apigw_error("APIGW.0308", THROTTLE_MESSAGE, request_id), request_id)
            case "server_error":
                spec = self._spec_only.get(cloud_service)
                if cloud_service not in SHAPES:  # a spec-only service, or CTS
                    name = cloud_service.upper()
                    status, body = (
                        bodies.spec_error(spec, "server_error", "")
                        if spec
                        else (500, {"error_code": f"{name}.0500", "error_msg": "Internal server error."})
                    )
                else:
                    status, body = bodies.server_error(cloud_service, request_id)
                return _json(status, body, request_id)
            case "malformed":
                return web.Response(
                    status=200,
                    text='{"status": ',
                    content_type="application/json",
                    headers={"X-Request-Id": request_id},
                )
            case "wrong_shape":
                return _json(200, [], request_id)
            case "timeout":
                if self._release is None:
                    self._release = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), FAULT_TIMEOUT_SECONDS)
                return None
        raise ValueError(f"unknown fault kind {kind!r}")

    def traces(self, project_id: str, service_type: str = "") -> list[dict[str, Any]]:
        """Cloud Trace Service's traces of the project by now, newest first: one per scenario task of a
        service whose spec has a `trace` (stamped when the task was created), and per service type three
        that name no job (a synchronous call, a response cut short, a failed call)."""
        elapsed, found = self.elapsed(), []
        types: dict[str, float] = {}
        for task in self.scenario.tasks:
            spec = self.specs.get(task.cloud_service)
            if spec is None or spec.trace is None or task.project_id != project_id or task.created_offset > elapsed:
                continue
            if service_type and spec.trace.service_type != service_type:
                continue
            found.append(bodies.trace(task, self.started_at + task.created_offset))
            types.setdefault(spec.trace.service_type, self.started_at + task.created_offset)
        for kind, at in types.items():
            found.extend(bodies.odd_traces(kind, at))
        return sorted(found, key=lambda item: -item["time"])

    async def _traces(self, request: web.Request) -> web.StreamResponse:
        """ListTraces: trace_type=system required, from/to in ms (exclusive; default the last hour), limit
        1-200 (default 10), `next` the marker of the previous page (its last trace: older ones follow)."""
        self.stats.list_requests["cts"] += 1
        request_id, answered = await self._gateway("cts", request)
        if answered is not None:
            return answered
        now_ms = int(self.now() * 1000)
        try:
            if request.query.get("trace_type") not in ("system", "data"):
                raise ValueError("trace_type must be system or data")
            limit = _int_query(request, "limit", 10, 1, 200)
            start = _int_query(request, "from", now_ms - 3_600_000, 0, None)
            end = _int_query(request, "to", now_ms, 0, None)
        except ValueError as exc:
            return _json(400, {"error_code": "CTS.0001", "error_msg": f"Invalid parameter: {exc}."}, request_id)
        window = [
            t
            for t in self.traces(request.match_info["project_id"], request.query.get("service_type", ""))
            if start < t["time"] < end
        ]
        marker = request.query.get("next", "")
        ids = [t["trace_id"] for t in window]
        first = ids.index(marker) + 1 if marker in ids else 0
        page = window[first : first + limit]
        more = first + limit < len(window)
        body = {"traces": page, "meta_data": {"count": len(page), "marker": page[-1]["trace_id"] if more else None}}
        return _json(200, body, request_id)

    async def _iam_tokens(self, request: web.Request) -> web.StreamResponse:
        if (domain_scoped := iam.domain_login(self, await request.text())) is not None:
            return domain_scoped
        try:
            login = _password_login(json.loads(await request.text()))
        except ValueError:
            login = None
        if login is None:
            return _json(400, bodies.iam_error(400, "The request body is invalid", "Bad Request"))
        domain, user, password, scope_key, scope_value = login
        sc = self.scenario
        given = "\0".join((domain, user, password)).encode()
        if not secrets.compare_digest(given, "\0".join((sc.iam_domain, sc.iam_user, sc.iam_password)).encode()):
            log.info("simulator.login_rejected", domain=domain, user=user)
            return _json(401, bodies.iam_error(401, "The username or password is wrong.", "Unauthorized"))
        by_name = {name: pid for pid, name in sc.projects.items()}
        project_id = scope_value if scope_key == "id" else by_name.get(scope_value, "")
        if project_id not in sc.projects:
            # Not documented; the exporter only needs to see an authentication failure.
            return _json(401, bodies.iam_error(401, "The project in the scope does not exist.", "Unauthorized"))
        token = self.issue_token()
        now = self.now()
        domain_ref = {"id": _stable_id(f"domain:{domain}"), "name": domain}
        body: dict[str, Any] = {
            "expires_at": bodies.iso_utc_micro(now + self.token_ttl),
            "issued_at": bodies.iso_utc_micro(now),
            "methods": ["password"],
            "project": {"domain": domain_ref, "id": project_id, "name": sc.projects[project_id]},
            "user": {
                "domain": domain_ref,
                "id": _stable_id(f"user:{domain}:{user}"),
                "name": user,
                "password_expires_at": "",
            },
            "roles": [],
        }
        if request.query.get("nocatalog") != "true":
            body["catalog"] = []
        return web.json_response({"token": body}, status=201, headers={"X-Subject-Token": token})

    # --- admin --------------------------------------------------------------------------------

    async def _admin_advance(self, request: web.Request) -> web.StreamResponse:
        try:
            self.advance(float(request.query.get("seconds", "")))
        except ValueError:
            return _json(400, {"error": "seconds must be a finite number >= 0"})
        return _json(200, {"now": self.now(), "elapsed": self.elapsed()})

    async def _admin_fault(self, request: web.Request) -> web.StreamResponse:
        try:
            self.set_fault(request.query.get("kind", ""))
        except ValueError as exc:
            return _json(400, {"error": str(exc)})
        log.info("simulator.fault", kind=self.fault)
        return _json(200, {"fault": self.fault})

    async def _admin_stats(self, _request: web.Request) -> web.StreamResponse:
        return _json(200, self.stats.to_json())

    async def _admin_targets(self, _request: web.Request) -> web.StreamResponse:
        return _json(200, [t._asdict() for t in self.scenario.targets()])

    async def _admin_created(self, request: web.Request) -> web.StreamResponse:
        try:
            since = float(request.query.get("since", "0"))
        except ValueError:
            since = math.nan
        if not math.isfinite(since):
            return _json(400, {"error": "since must be a finite Unix time"})
        return _json(200, [c._asdict() for c in self.created_tasks(since)])


def _json(status: int, body: object, request_id: str | None = None) -> web.Response:
    headers = {"X-Request-Id": request_id or bodies.new_request_id()}
    return web.json_response(body, status=status, headers=headers)


def _received_url(raw_path: str) -> httpx.URL:
    """The request target as received, for ``verify``: the raw (still percent-encoded) path and query.

    ``verify`` canonicalises only the URL's raw path and query; the Host that was signed comes from the
    request's own Host header, which ``verify`` requires to be signed. So the URL's host is a fixed
    placeholder rather than the Host header, which a client may send in any shape.
    """
    if not raw_path.startswith("/"):
        raise ValueError("the request target is not in origin form")
    return httpx.URL("http://fake-cloud.invalid").copy_with(raw_path=raw_path.encode("ascii"))


# A task in a list before it is built: its creation offset, and the task itself or its generator and n.
_TaskRef: TypeAlias = tuple[float, Task | TaskGenerator, int]


def _generated_refs(generator: TaskGenerator, elapsed: float) -> list[_TaskRef]:
    return [(generator.created_offset(n), generator, n) for n in range(1, generator.count_at(elapsed) + 1)]


def _materialize(ref: _TaskRef) -> Task:
    _, source, n = ref
    return source.task(n) if isinstance(source, TaskGenerator) else source


def _int_query(request: web.Request, name: str, default: int, low: int, high: int | None) -> int:
    """Query parameter ``name`` as an integer in ``low..high``; ValueError names the rule."""
    raw = request.query.get(name)
    if raw is None:
        return default
    rule = (
        f"{name} must be an integer from {low} to {high}" if high is not None else f"{name} must be an integer >= {low}"
    )
    if not _INT_RE.fullmatch(raw):
        raise ValueError(rule)
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise ValueError(rule)
    return value


def _window_fits(spec: ServiceSpec, request: web.Request) -> bool:
    """Whether the request's window start is written in the spec's window format: on a path two list APIs
    share (DDM's and GeminiDB's /v3/{project_id}/jobs, on hosts of their own in a real cloud) it tells
    which of them a client meant."""
    window = spec.discover.window if spec.discover is not None else None
    value = request.query.get(window.from_param, "") if window is not None else ""
    if window is None or not value:
        return False
    if window.format in ("epoch_ms", "epoch_s"):
        return value.isdigit()
    try:
        time.strptime(value, "%Y-%m-%dT%H:%M:%SZ" if window.format == "iso" else window.format)
    except ValueError:
        return False
    return True


def _task_id(spec: ServiceSpec, request: web.Request) -> str:
    """The task ID a status request asks for: in its path, or in the query parameter the spec names."""
    if "task_id" in request.match_info:
        return request.match_info["task_id"]
    key = next((k for k, v in spec.status.query.items() if v == "{task_id}"), "")
    return request.query.get(key, "")


def _list_values(request: web.Request, lister: DiscoverySpec, listing: ListShape) -> list[str]:
    """The values a list request asks for: the path's, or the batch query parameter's (comma-separated,
    empty entries ignored, each once), which wins over the single-value one."""
    if "{value}" in lister.path:
        value = request.match_info["value"]
        if not listing.value.fullmatch(value):
            raise ValueError(listing.value_rule)
        return [value]
    many = [v.strip() for v in request.query.get(lister.batch, "").split(",") if v.strip()]
    if len(many) > listing.max_values:
        raise ValueError(f"{lister.batch} holds {len(many)} {listing.noun}, at most {listing.max_values} are allowed")
    if many:
        return list(dict.fromkeys(many))
    one = request.query.get(listing.also, "").strip() if listing.also else ""
    if not one:
        raise ValueError(f"{listing.also} or {lister.batch} is required")
    return [one]


def _stable_id(seed: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_OID, seed).hex


def _password_login(body: object) -> tuple[str, str, str, str, str] | None:
    """(domain, user, password, "id"|"name", project) from IAM's password body, or None if malformed."""
    try:
        auth = body["auth"]  # type: ignore[index]
        identity = auth["identity"]
        user = identity["password"]["user"]
        project = auth["scope"]["project"]
        methods = identity["methods"]
        values = (user["domain"]["name"], user["name"], user["password"])
        scope_key = "id" if "id" in project else "name"
        scope_value = project[scope_key]
    except (KeyError, TypeError):
        return None
    if not isinstance(methods, list) or "password" not in methods:
        return None
    if not all(isinstance(v, str) and v for v in (*values, scope_value)):
        return None
    return (*values, scope_key, scope_value)


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
