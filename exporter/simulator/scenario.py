"""What the fake cloud knows: its tasks, how they move through their states, and its IAM user.

A scenario is a list of tasks. Each task belongs to one cloud service and walks through *phases*;
a phase starts ``after`` seconds after the simulator started and sets the raw status the API
reports from then on (until the next phase), plus the progress and the error fields. Times that the
APIs report are derived: ``begin_time`` is when the first phase with a non-pending status started
(or ``begin``, an offset in seconds that may be negative for a task that started before the
simulator), ``end_time`` is when the final phase started. A task keeps its last phase for ever.

YAML format (``load_scenario``); every key not listed here is an error::

    iam:                          # optional; the one IAM user that POST /v3/auth/tokens accepts
      domain: demo-domain
      user: demo-user
      password: demo-password
    static_tokens: [demo-token]   # optional; X-Auth-Token values accepted without logging in
    access_keys:                  # optional; the AK/SK pairs that SDK-HMAC-SHA256 signatures are checked
      - access_key: DEMOAKSIMULATOR00001    # against. Default: DEMO_ACCESS_KEY/DEMO_SECRET_KEY and the
        secret_key: <40 characters>         # temporary DEMO_TEMP_ACCESS_KEY/..._SECRET_KEY/DEMO_SECURITY_TOKEN;
      - access_key: DEMOTEMPAKSIMULATOR1    # an empty list turns AK/SK authentication off.
        secret_key: <40 characters>
        security_token: <opaque string>     # temporary credentials: each request must send this value as
                                            # X-Security-Token and sign that header
    projects:                     # optional; project id -> name, for IAM's scope.project{id|name}
      0123456789abcdef0123456789abcdef: cn-north-4
    tasks:
      - cloud_service: dws        # codearts_check | dws | evs | cph
        task_id: d5a00000000000000000000000000002
        project_id: 0123456789abcdef0123456789abcdef   # optional, default DEFAULT_PROJECT_ID
        description: ELB creation fails               # optional, for people
        begin: -10800             # optional: start offset in seconds, instead of the derived one
        fault: throttle           # optional: throttle | server_error | timeout | malformed | wrong_shape
        job_name: ecfClusterElbCreateJob              # dws only
        phases:                   # the first starts at after: 0; `after` strictly increases
          - {after: 0, status: RUNNING, progress: 0}
          - {after: 40, status: FAIL, progress: 9, failed_code: "CreateELBTask-fail:DWS.0114",
             failed_detail: "DWS.0114:ELB private IP is not configured."}
      - cloud_service: evs
        task_id: e7500000000000000000000000000002
        job_type: batchCreateVolume                   # evs only; default createVolume/batchCreateVolume
        volume_id: 0b6f4f41-...                       # evs only; not for batch jobs
        phases: [{after: 0, status: RUNNING}, {after: 120, status: FAIL}]
        sub_jobs:                 # evs only: a batch job's sub-jobs, each with its own phases
          - {job_id: e75b0000000000000000000000000021, phases: [{after: 0, status: SUCCESS}]}

What a task of each service may say comes from its spec (``exporter/services/builtin``) and its shape
(``shapes.yaml``), not from code: ``status`` is written as the spec's state table writes it (an
integer or null for CodeArts Check, whose table has 0-3 and null; an integer for CPH; a string for
DWS and EVS). Values outside the documented sets are allowed on purpose (the exporter must report
them as ``unknown``). ``progress`` (a percentage 0-100 or null) exists where the spec reads one
(CodeArts Check, DWS). The other phase fields are the names of the spec's error fields (DWS
``failed_code``, ``failed_detail``; EVS ``error_code``, ``fail_reason``; CPH ``error_code``,
``error_msg``, ``execute_msg``) and the shape's ``phase`` keys (CodeArts ``info``, by default
"running" for status 0, "success" for 2, else null). A task's other keys are its shape's ``task``
keys with their defaults (DWS ``job_name``; EVS ``job_type``; CodeArts ``task_name``, ``creator_id``,
``git_url``, ``git_branch``), its ``resource`` keys (EVS ``volume_id``, not for batch jobs; CPH
``phone_id`` or ``server_id``, by default a ``phone_id`` derived from the task ID), ``sub_jobs`` where
the spec reads sub-tasks, and its list's key.

List APIs (a spec's ``discover`` and a shape's ``list``): a ``codearts_check`` task belongs to a
CodeArts project, the 32-hex project UUID of CodeArts (ProjectMan), not an IAM project:
``codearts_project_id`` (default ``DEFAULT_CODEARTS_PROJECT_ID``) places it in the task list
``GET /v2/{codearts_project_id}/tasks``. A ``cph`` job was created by an asynchronous call whose
``request_id`` (32 lowercase hex; default: one derived from the task ID, so one job per request)
``GET /v1/{project_id}/cloud-phone/jobs?request_id=`` lists it under. A scenario task exists from the
simulator's start; its creation time (the CodeArts ``created_at``) is ``begin`` when that is negative,
else the simulator's start.

Any other spec (a built-in without a shape, or one passed to ``parse_scenario``) is answered from the
spec alone: its tasks take a status of any JSON scalar, ``progress`` where the spec reads one (a
progress counted from counters is written as counters: the first ``done`` counter that percentage of
1000 items, the others 0, ``total`` 1000), ``remaining`` (seconds, written in the spec's unit) where it
reads a remaining time, a whole number named as the last token of its ``failed_count`` pointer (CDN's
``failed: 2``; 0 when left out), the spec's error fields as phase fields, ``job_type``/``job_name``
where the spec reads them and ``resource_id``, ``parent`` where the spec has a parent list
(``parents:``: the ID of the parent, a DMS instance, a CCE cluster, an AS group, whose task list lists
it; a task without one is listed under every parent); where the spec's list sends a query parameter one
value at a time (IoTDA's task_type), ``listed_under`` is the value that lists the task (default: its ``job_type``).

Generators: a scenario that keeps creating tasks while it runs. The top-level ``generators`` list (with
at least one generator, ``tasks`` may be empty)::

    generators:
      - cloud_service: evs        # codearts_check | dws | evs | cph
        every: 10                 # a new task every 10 simulated seconds (> 0)
        run_for: 30               # each runs 30 s (> 0), then succeeds ...
        fail_every: 5             # optional: ... except every 5th one (the 5th, 10th, ...), which fails
        start: 0                  # optional, default 0: the first task is created at this offset
        stop: 3600                # optional: no task is created at or after this offset (> start)
        project_id: 0123...       # optional, default DEFAULT_PROJECT_ID
        codearts_project_id: ...  # the list key of its shape (codearts_check: the CodeArts project,
        request_id: ...           # default DEFAULT_CODEARTS_PROJECT_ID; cph: the request ID, default one
                                  # per generator, generator_request_id)

Sections: other top-level keys are read by the parts of the fake cloud that serve them
(``sections.SECTIONS``, into ``Scenario.sections``), with the same key-path errors. ``parents`` lists
the parent resources of fan-out services (``parents.py``; served by ``fanout.py``)::

    parents:
      cce:                        # a cloud service (a spec's name)
        - {id: 3c1e0f7a-..., name: prod-cluster, project_id: 0123...}   # name, project_id optional

The n-th task of generator ``i`` (n = 1, 2, ...) is created ``start + (n - 1) * every`` seconds after the
simulator started, with the ID ``generated_task_id(cloud_service, i, n)``: the shape's ``id_prefix``
(c0de, d5a0, e750, ce11), ``6e4e``, ``i`` as 4 hex digits and ``n`` as 20 (32 lowercase hex in all). It
runs (the spec's first running status, with the shape's ``generated.progress``: codearts 0 at 0 %, dws
RUNNING at 0 % then 50 % halfway, evs RUNNING, cph 1; with the shape's ``generated.fields``: a CodeArts
task is named ``generated-<i>-<n>``) until ``run_for`` seconds later and then ends in success (the first
succeeded status: 2, SUCCESS, SUCCESS, 2) or, for every ``fail_every``-th task, in failure (the first
failed status with the shape's ``generated.failure`` fields: 1; FAIL with a ``failed_code``/
``failed_detail``; FAIL with an ``error_code``/``fail_reason``; -1 with an ``error_code``/``error_msg``).
Generated tasks are derived from the simulated clock when asked for; no timer runs and nothing is
stored, so ``advance()`` moves them like every other task. A scenario task ID that a generator would
also produce is an error.
"""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import yaml

from exporter.model import FINAL_STATES, SINGLE_ID, State
from exporter.services import BUILTIN, ServiceSpec, raw_status
from exporter.simulator import sections
from exporter.simulator.checks import (
    Invalid,
    ScenarioError,
    SectionContext,
    as_list,
    check_keys,
    ident,
    kind,
    mapping,
    number,
    string,
)
from exporter.simulator.shapes import SHAPES, ListShape, Shape

__all__ = [
    "CLOUD_SERVICES",
    "DEFAULT_ACCESS_KEYS",
    "DEFAULT_CODEARTS_CREATOR_ID",
    "DEFAULT_CODEARTS_PROJECT_ID",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_PROJECT_NAME",
    "DEMO_ACCESS_KEY",
    "DEMO_CPH_REQUEST_IDS",
    "DEMO_DOMAIN",
    "DEMO_PASSWORD",
    "DEMO_SECRET_KEY",
    "DEMO_SECURITY_TOKEN",
    "DEMO_TEMP_ACCESS_KEY",
    "DEMO_TEMP_SECRET_KEY",
    "DEMO_TOKEN",
    "DEMO_USER",
    "DOCUMENTED_STATUSES",
    "FAULT_KINDS",
    "FINAL_STATUSES",
    "PENDING_STATUSES",
    "AccessKey",
    "CreatedTask",
    "Phase",
    "RawStatus",
    "Scenario",
    "ScenarioError",
    "Target",
    "Task",
    "TaskGenerator",
    "bench_task_id",
    "churn_scenario",
    "default_scenario",
    "generated_task_id",
    "generator_request_id",
    "load_scenario",
    "parse_generated_task_id",
    "parse_scenario",
]

DEFAULT_PROJECT_ID = "0123456789abcdef0123456789abcdef"
# The value the demo gives a spec's path parameters (MRS's cluster ID); the fake cloud takes any.
DEMO_PARAM_VALUE = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
DEFAULT_PROJECT_NAME = "cn-north-4"
# CodeArts Check's task list is per CodeArts project: a 32-hex UUID of CodeArts itself (ProjectMan), not
# the IAM project ID (reference A.1, "List APIs").
DEFAULT_CODEARTS_PROJECT_ID = "9f3c2a1e5b7d4c8e9a6b0d1f2e3c4a5b"
# The user who created the CodeArts tasks (SimpleTaskInfoV2.creator_id), 32 hex like an IAM user ID.
DEFAULT_CODEARTS_CREATOR_ID = "4d2e6f8a0b1c4e3d9f7a5b6c8d0e2f41"
# The default scenario's CPH jobs were created by two asynchronous calls: ce11...01 and ce11...02 by the
# first, ce11...03 and ce11...04 by the second (ListJobs lists the jobs of one or more request IDs).
DEMO_CPH_REQUEST_IDS = ("7e9a1c3b5d7f4e2a8c0b6d4f1a3e5c01", "7e9a1c3b5d7f4e2a8c0b6d4f1a3e5c02")
DEMO_TOKEN = "demo-token"  # noqa: S105 -- the fake cloud's published static token
DEMO_DOMAIN = "demo-domain"
DEMO_USER = "demo-user"
DEMO_PASSWORD = "demo-password"  # noqa: S105 -- the fake cloud's published demo login, not a secret
# The fake cloud's published AK/SK pairs, shaped like real ones (AK: 20 uppercase letters and digits,
# SK: 40 characters). They open nothing but the simulator.
DEMO_ACCESS_KEY = "DEMOAKSIMULATOR00001"
DEMO_SECRET_KEY = "DemoSecretKeyForTheFakeCloudSimulator001"  # noqa: S105 -- published demo key
# Temporary credentials (as from IAM's securitytoken API): requests must also carry X-Security-Token.
DEMO_TEMP_ACCESS_KEY = "DEMOTEMPAKSIMULATOR1"
DEMO_TEMP_SECRET_KEY = "DemoTemporarySecretKeyFakeCloudSimulator"  # noqa: S105 -- published demo key
DEMO_SECURITY_TOKEN = "gQpjbi1ub3J0aC00" + "".join(  # an opaque string, about as long as a real one
    uuid.uuid5(uuid.NAMESPACE_OID, f"fake-cloud-security-token-{i}").hex for i in range(24)
)

RawStatus: TypeAlias = str | int | None

# The services with a shape of their own (shapes.yaml); every other spec is answered from the spec alone.
CLOUD_SERVICES = tuple(SHAPES)
FAULT_KINDS = ("throttle", "server_error", "timeout", "malformed", "wrong_shape", "reset", "html", "huge")


def spec_phase_fields(spec: ServiceSpec) -> tuple[str, ...]:
    """The phase keys of a task answered from its spec: the names its error fields have in the answer
    (and in its list items, where they carry the status in fields of their own: DDM's fail_reason)."""
    fields = [spec.status.error.code, spec.status.error.message]
    item = spec.discover.item_status if spec.discover is not None else None
    if item is not None:
        fields += [item.error.code, item.error.message]
    return tuple(dict.fromkeys(p[-1] for f in fields if f is not None for p in f.pointers if p))


def _typed(raw: str) -> RawStatus:
    """A state table's key as the API writes it: null, an integer, or a string."""
    if raw == "null":
        return None
    return int(raw) if re.fullmatch(r"-?[0-9]+", raw) else raw


def _statuses(states: Iterable[State]) -> dict[str, frozenset[RawStatus]]:
    wanted = set(states)
    return {
        name: frozenset(_typed(raw) for raw, state in BUILTIN[name].status.states.items() if state in wanted)
        for name in CLOUD_SERVICES
    }


# The raw values each service's spec documents, and which of them are pending (no begin_time yet) and
# final (an end_time, and no later phase).
DOCUMENTED_STATUSES: Mapping[str, tuple[RawStatus, ...]] = {
    name: tuple(_typed(raw) for raw in BUILTIN[name].status.states) for name in CLOUD_SERVICES
}
PENDING_STATUSES: Mapping[str, frozenset[RawStatus]] = _statuses([State.PENDING])
FINAL_STATUSES: Mapping[str, frozenset[RawStatus]] = _statuses(FINAL_STATES)
_PHASE_FIELDS: Mapping[str, tuple[str, ...]] = {
    name: (*SHAPES[name].phase, *spec_phase_fields(BUILTIN[name])) for name in CLOUD_SERVICES
}
_WITH_PROGRESS = frozenset(name for name in CLOUD_SERVICES if BUILTIN[name].status.progress is not None)
_COMMON_TASK_KEYS = ("cloud_service", "task_id", "project_id", "description", "begin", "fault", "phases")
_GENERATOR_KEYS = ("cloud_service", "every", "run_for", "fail_every", "start", "stop", "project_id")
# Generated task IDs: the service's prefix (as in the default scenario), this marker, the generator's
# index (4 hex digits) and the task's sequence number n >= 1 (20 hex digits).
_SERVICE_PREFIX: Mapping[str, str] = {name: SHAPES[name].id_prefix for name in CLOUD_SERVICES}
_GENERATED_MARKER = "6e4e"
_GENERATED_ID_RE = re.compile(r"([0-9a-f]{4})6e4e([0-9a-f]{4})([0-9a-f]{20})")
_MAX_GENERATORS = 0x10000
_VALUE_RULES = {"[0-9a-f]{32}": "32 lowercase hexadecimal characters"}
# Real AKs are 20 uppercase letters and digits; this also keeps them parseable in an Authorization header.
_ACCESS_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
DEFAULT_SCENARIO_FILE = Path(__file__).parent / "default_scenario.yaml"
UNKNOWN_STATUSES_FILE = Path(__file__).parent / "unknown_statuses.yaml"


@dataclass(frozen=True, slots=True)
class Phase:
    """From ``after`` seconds after the simulator started, the API reports these values."""

    after: float
    status: RawStatus
    progress: float | None = None
    # Service-specific fields such as failed_code or error_msg; absent ones are reported as null.
    fields: Mapping[str, str | None] = field(default_factory=dict)
    # Where the spec reads them: the seconds the task still needs (`remaining`), and how many of its
    # items failed (the spec's `failed_count`, the phase key named as its pointer's last token).
    remaining: float | None = None
    failed: int | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """One task (job) of one cloud service, or one sub-job of an EVS batch job."""

    cloud_service: str
    task_id: str
    phases: tuple[Phase, ...]
    project_id: str = DEFAULT_PROJECT_ID
    begin: float | None = None
    fault: str | None = None
    description: str = ""
    job_type: str = ""
    job_name: str = ""
    resource_key: str = ""  # the answer's key for its resource ("volume_id", "phone_id", "server_id")
    resource_id: str = ""
    sub_jobs: tuple[Task, ...] = ()
    # The value of its service's list API that lists it (a CodeArts project, a CPH request ID).
    listed_under: str = ""
    parent: str = ""  # the parent (a DMS instance, a CCE cluster) whose task list lists it; "": every parent
    # Its other text fields that its service's answers carry (the CodeArts task list's task_name, ...).
    extras: Mapping[str, str] = field(default_factory=dict)
    # When the task came to exist (seconds after the simulator started); None: a scenario task, which
    # exists from the start (or from ``begin`` if that is earlier).
    created: float | None = None
    # A service answered from its spec alone (any spec but the four with hand-written shapes).
    spec: ServiceSpec | None = field(default=None, compare=False, repr=False)

    @property
    def fields(self) -> Mapping[str, str]:
        return self.extras

    @property
    def phase_fields(self) -> tuple[str, ...]:
        """The phase fields its service's answers carry: the names of the spec's error fields."""
        return spec_phase_fields(self.spec or BUILTIN[self.cloud_service])

    def phase_at(self, elapsed: float) -> Phase:
        """The phase in force ``elapsed`` seconds after the simulator started."""
        current = self.phases[0]
        for phase in self.phases[1:]:
            if phase.after > elapsed:
                break
            current = phase
        return current

    @property
    def begin_offset(self) -> float | None:
        """When the task began (seconds after the simulator started), or None if it never does."""
        if self.begin is not None:
            return self.begin
        return next((p.after for p in self.phases if not _is(self, p.status, PENDING_STATUSES)), None)

    @property
    def end_offset(self) -> float | None:
        """When the task reached its final status, or None if it never does."""
        last = self.phases[-1]
        return last.after if _is(self, last.status, FINAL_STATUSES) else None

    @property
    def created_offset(self) -> float:
        """When the task was created (seconds after the simulator started; <= 0 for scenario tasks)."""
        if self.created is not None:
            return self.created
        return min(0.0, self.begin) if self.begin is not None else 0.0


def _is(task: Task, status: RawStatus, table: Mapping[str, frozenset[RawStatus]]) -> bool:
    """Whether `status` is pending (PENDING_STATUSES) or final (FINAL_STATUSES) for the task's service;
    for a service answered from its spec, as the spec's state table says."""
    if task.spec is None:
        return status in table[task.cloud_service]
    state = task.spec.status.states.get(raw_status(status))
    if table is PENDING_STATUSES:
        return state is State.PENDING
    return state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An AK/SK pair the fake gateway accepts; with a ``security_token`` it is a temporary one.

    The secret key and the token are left out of the repr.
    """

    access_key: str
    secret_key: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


DEFAULT_ACCESS_KEYS = (
    AccessKey(DEMO_ACCESS_KEY, DEMO_SECRET_KEY),
    AccessKey(DEMO_TEMP_ACCESS_KEY, DEMO_TEMP_SECRET_KEY, DEMO_SECURITY_TOKEN),
)


@dataclass(frozen=True, slots=True)
class TaskGenerator:
    """Creates a task every ``every`` seconds from ``start`` until ``stop``; each runs ``run_for`` seconds.

    ``index`` is the generator's position in the scenario and part of its task IDs. Every
    ``fail_every``-th task (counting from 1) fails; the others succeed. Nothing is stored: the tasks
    that exist at a given time are computed from it.
    """

    index: int
    cloud_service: str
    every: float
    run_for: float
    fail_every: int | None = None
    start: float = 0.0
    stop: float | None = None
    project_id: str = DEFAULT_PROJECT_ID
    # The list API value its tasks are listed under; "" means its service's default (shapes.yaml), or
    # one of its own (generator_request_id) where that default is "derived".
    listed_under: str = ""

    def __post_init__(self) -> None:
        if self.cloud_service not in CLOUD_SERVICES:
            raise ValueError(f"unknown cloud service {self.cloud_service!r}")
        if not 0 <= self.index < _MAX_GENERATORS:
            raise ValueError(f"generator index must be 0-{_MAX_GENERATORS - 1}, got {self.index}")
        for name in ("every", "run_for"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number of seconds > 0, got {value}")
        if not (math.isfinite(self.start) and self.start >= 0):
            raise ValueError(f"start must be a finite number of seconds >= 0, got {self.start}")
        if self.stop is not None and not (math.isfinite(self.stop) and self.stop > self.start):
            raise ValueError(f"stop must be a finite number of seconds > start ({self.start:g}), got {self.stop}")
        if self.fail_every is not None and self.fail_every < 1:
            raise ValueError(f"fail_every must be >= 1, got {self.fail_every}")

    @property
    def list_value(self) -> str:
        """The list API value the generated tasks are listed under ("" for a service without a list)."""
        listing = SHAPES[self.cloud_service].list
        if listing is None:
            return ""
        if self.listed_under:
            return self.listed_under
        return generator_request_id(self.index) if listing.default == "derived" else listing.default

    @property
    def list_project_id(self) -> str:
        """The project the generated tasks are listed in: the list value where the list's path names it
        (a CodeArts project), else the IAM project."""
        lister = BUILTIN[self.cloud_service].discover
        return self.list_value if lister is not None and "{value}" in lister.path else self.project_id

    def created_offset(self, n: int) -> float:
        """When the ``n``-th task (n >= 1) is created, in seconds after the simulator started."""
        return self.start + (n - 1) * self.every

    def count_at(self, elapsed: float) -> int:
        """How many tasks exist ``elapsed`` seconds after the simulator started."""
        count = self._count_created_by(elapsed, inclusive=True)
        if self.stop is not None:
            count = min(count, self._count_created_by(self.stop, inclusive=False))
        return count

    def _count_created_by(self, limit: float, *, inclusive: bool) -> int:
        def created(n: int) -> bool:
            at = self.created_offset(n)
            return at <= limit if inclusive else at < limit

        if not created(1):
            return 0
        n = max(1, math.floor((limit - self.start) / self.every) + 1)
        # The division may be off by one in floating point; created_offset is the truth.
        while n > 1 and not created(n):
            n -= 1
        while created(n + 1):
            n += 1
        return n

    def task_id(self, n: int) -> str:
        return generated_task_id(self.cloud_service, self.index, n)

    def fails(self, n: int) -> bool:
        return self.fail_every is not None and n % self.fail_every == 0

    def task(self, n: int) -> Task:
        """The ``n``-th generated task (n >= 1)."""
        if n < 1:
            raise ValueError(f"generated tasks count from 1, got {n}")
        shape = SHAPES[self.cloud_service]
        task_id = self.task_id(n)
        created = self.created_offset(n)
        generated = {k: v.format(index=self.index, n=n) for k, v in shape.generated_fields.items()}
        fields = _defaults(shape.task, task_id, generated)
        return Task(
            cloud_service=self.cloud_service,
            task_id=task_id,
            phases=_generated_phases(self.cloud_service, created, created + self.run_for, failed=self.fails(n)),
            project_id=self.project_id,
            description=f"generated by generators[{self.index}]",
            created=created,
            job_type=fields.pop("job_type", ""),
            job_name=fields.pop("job_name", ""),
            resource_key=shape.resource_keys[0] if shape.resource_keys else "",
            resource_id=_derived_resource(shape.resource_derive, task_id) if shape.resource_keys else "",
            listed_under=self.list_value,
            extras=fields,
        )

    def tasks_at(self, elapsed: float) -> list[Task]:
        """Every task of this generator that exists ``elapsed`` seconds after the simulator started."""
        return [self.task(n) for n in range(1, self.count_at(elapsed) + 1)]


def _generated_phases(service: str, created: float, end: float, *, failed: bool) -> tuple[Phase, ...]:
    """A generated task runs from ``created`` to ``end``, then succeeds or fails: its service's first
    documented raw status of each state, the progress its shape gives (start, half-way, end), and its
    shape's failure fields."""
    states = BUILTIN[service].status.states
    running, succeeded, failed_raw = (
        _typed(next(raw for raw, s in states.items() if s is state))
        for state in (State.RUNNING, State.SUCCEEDED, State.FAILED)
    )
    shape = SHAPES[service]
    progress = shape.generated_progress
    phases = [Phase(created, running, progress.get("start"))]
    if "half" in progress:
        phases.append(Phase((created + end) / 2, running, progress["half"]))
    if failed:
        phases.append(Phase(end, failed_raw, progress.get("half"), dict(shape.generated_failure)))
    else:
        phases.append(Phase(end, succeeded, progress.get("end")))
    return tuple(phases)


def _defaults(template: Mapping[str, str], task_id: str, given: Mapping[str, str]) -> dict[str, str]:
    """A task's fields: the given ones, and the shape's defaults for the others, each formatted with the
    task ID and the fields before it (a git_url from the task_name)."""
    fields: dict[str, str] = {}
    for key, default in template.items():
        fields[key] = given[key] if key in given else default.format(task_id=task_id, **fields)
    return fields


def _derived_resource(derive: str, task_id: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_OID, task_id).hex if derive == "hex" else _derived_uuid(task_id)


def generated_task_id(cloud_service: str, generator_index: int, n: int) -> str:
    """The ID of the ``n``-th task (n >= 1) of generator ``generator_index``: 32 lowercase hex."""
    if not 0 <= generator_index < _MAX_GENERATORS or not 1 <= n < 16**20:
        raise ValueError(f"no generated task {n} of generator {generator_index}")
    return f"{_SERVICE_PREFIX[cloud_service]}{_GENERATED_MARKER}{generator_index:04x}{n:020x}"


def parse_generated_task_id(cloud_service: str, task_id: str) -> tuple[int, int] | None:
    """``(generator_index, n)`` if ``task_id`` has the shape of a generated ID of ``cloud_service``."""
    match = _GENERATED_ID_RE.fullmatch(task_id)
    if match is None or match.group(1) != _SERVICE_PREFIX.get(cloud_service):
        return None
    n = int(match.group(3), 16)
    return (int(match.group(2), 16), n) if n >= 1 else None


def generator_request_id(generator_index: int) -> str:
    """The request ID of a CPH generator's jobs when the scenario names none."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"fake-cloud-generator-request-{generator_index}").hex


class CreatedTask(NamedTuple):
    """A generated task: when it was created (Unix time), its service, project and ID.

    ``project_id`` is the CodeArts project for codearts_check (the task list's), else the IAM project.
    """

    created_at: float
    cloud_service: str
    project_id: str
    task_id: str


class Target(NamedTuple):
    """What an exporter config needs to poll one group of tasks."""

    cloud_service: str
    project_id: str
    task_ids: list[str]


@dataclass(frozen=True, slots=True)
class Scenario:
    """The fake cloud's tasks, its IAM user and its access keys (secrets are left out of the repr)."""

    tasks: tuple[Task, ...]
    iam_domain: str = DEMO_DOMAIN
    iam_user: str = DEMO_USER
    iam_password: str = field(default=DEMO_PASSWORD, repr=False)
    static_tokens: tuple[str, ...] = field(default=(DEMO_TOKEN,), repr=False)
    access_keys: tuple[AccessKey, ...] = DEFAULT_ACCESS_KEYS
    projects: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_PROJECT_ID: DEFAULT_PROJECT_NAME})
    generators: tuple[TaskGenerator, ...] = ()
    # The pluggable sections' values (`sections.py`): key -> what its reader returned, or its default.
    sections: Mapping[str, Any] = field(default_factory=dict)

    def targets(self) -> list[Target]:
        """Top-level task IDs grouped by (cloud_service, project_id), in scenario order."""
        groups: dict[tuple[str, str], list[str]] = {}
        for task in self.tasks:
            groups.setdefault((task.cloud_service, task.project_id), []).append(task.task_id)
        return [Target(service, project, ids) for (service, project), ids in groups.items()]

    def with_extra_running_tasks(self, count: int) -> Scenario:
        """This scenario plus ``count`` EVS jobs that stay RUNNING (for benchmarks)."""
        if count < 0:
            raise ValueError(f"extra_running_tasks must be >= 0, got {count}")
        if count == 0:
            return self
        extra = tuple(
            Task(
                cloud_service="evs",
                task_id=bench_task_id(i),
                phases=(Phase(0.0, "RUNNING"),),
                description="benchmark filler: runs for ever",
                job_type="createVolume",
                resource_key="volume_id",
                resource_id=_derived_uuid(bench_task_id(i)),
            )
            for i in range(count)
        )
        taken = {t.task_id for t in self.tasks if t.cloud_service == "evs"}
        if clash := taken.intersection(t.task_id for t in extra):
            raise ValueError(f"extra running task IDs clash with the scenario: {sorted(clash)}")
        return dataclasses.replace(self, tasks=self.tasks + extra)


def bench_task_id(index: int) -> str:
    """The ID of the ``index``-th generated benchmark task: 32 lowercase hex characters."""
    return f"be7c{index:028x}"


def _derived_uuid(seed: str) -> str:
    # Deterministic resource IDs keep the demo and the tests reproducible.
    return str(uuid.uuid5(uuid.NAMESPACE_OID, seed))


# --- parsing and validation -------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a YAML file; raises ScenarioError with the file and key path."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario file: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    return parse_scenario(data, source=str(path))


def parse_scenario(
    data: object, *, source: str = "<scenario>", services: Mapping[str, ServiceSpec] | None = None
) -> Scenario:
    """Build a Scenario from plain data (as YAML gives it); raises ScenarioError. Tasks may belong to
    the four services with hand-written shapes, or to any spec of `services` (default: the built-in
    specs), which the fake cloud then answers from the spec alone."""
    every = BUILTIN if services is None else services
    specs = {name: spec for name, spec in every.items() if name not in CLOUD_SERVICES}
    try:
        return _scenario(data, specs, SectionContext({**BUILTIN, **every}, DEFAULT_PROJECT_ID))
    except Invalid as exc:
        raise ScenarioError(f"{source}: {exc.path}: {exc.message}") from None


_TOP_KEYS = ("iam", "static_tokens", "access_keys", "projects", "tasks", "generators")


def _scenario(data: object, specs: Mapping[str, ServiceSpec], ctx: SectionContext) -> Scenario:
    top = mapping(data, "(top level)")
    check_keys(top, (*_TOP_KEYS, *(section.key for section in sections.SECTIONS)), ("tasks",), "(top level)")
    iam = mapping(top.get("iam", {}), "iam")
    check_keys(iam, ("domain", "user", "password"), (), "iam")
    tokens = as_list(top.get("static_tokens", [DEMO_TOKEN]), "static_tokens")
    projects = _projects(top.get("projects", {}))
    tasks = tuple(_task(raw, f"tasks[{i}]", specs) for i, raw in enumerate(as_list(top["tasks"], "tasks")))
    raw_generators = as_list(top.get("generators", []), "generators")
    if len(raw_generators) > _MAX_GENERATORS:
        raise Invalid("generators", f"expected at most {_MAX_GENERATORS} generators, got {len(raw_generators)}")
    generators = tuple(_generator(raw, i) for i, raw in enumerate(raw_generators))
    if not tasks and not generators:
        raise Invalid("tasks", "expected at least one task (or a generator)")
    _check_unique_ids(tasks, generators)
    # IAM scopes need a name for every project; sub-projects are named "<region>_<suffix>".
    for project_id in (*(t.project_id for t in tasks), *(g.project_id for g in generators)):
        projects.setdefault(project_id, f"{DEFAULT_PROJECT_NAME}_{project_id[:8]}")
    return Scenario(
        tasks=tasks,
        iam_domain=string(iam.get("domain", DEMO_DOMAIN), "iam.domain"),
        iam_user=string(iam.get("user", DEMO_USER), "iam.user"),
        iam_password=string(iam.get("password", DEMO_PASSWORD), "iam.password"),
        static_tokens=tuple(_token(t, f"static_tokens[{i}]") for i, t in enumerate(tokens)),
        access_keys=_access_keys(top["access_keys"]) if "access_keys" in top else DEFAULT_ACCESS_KEYS,
        projects=projects,
        generators=generators,
        sections=_sections(top, ctx),
    )


def _sections(top: Mapping[str, Any], ctx: SectionContext) -> dict[str, Any]:
    return {s.key: s.read(top[s.key], s.key, ctx) if s.key in top else s.default for s in sections.SECTIONS}


def _projects(raw: object) -> dict[str, str]:
    # The default project always exists, so that tasks without a project_id can be logged in to.
    projects = {DEFAULT_PROJECT_ID: DEFAULT_PROJECT_NAME}
    for project_id, name in mapping(raw, "projects").items():
        projects[ident(project_id, "projects")] = string(name, f"projects.{project_id}")
    if len(set(projects.values())) < len(projects):
        raise Invalid("projects", f"project names must be unique, got {sorted(projects.values())}")
    return projects


def _check_unique_ids(tasks: tuple[Task, ...], generators: tuple[TaskGenerator, ...]) -> None:
    """Each task and sub-job ID once per service and project (across projects for a service without one
    in its status path, CodeArts Check), and none that a generator creates."""
    seen: dict[tuple[str, str, str], str] = {}
    for i, task in enumerate(tasks):
        for j, job in enumerate((task, *task.sub_jobs)):
            path = f"tasks[{i}]" if j == 0 else f"tasks[{i}].sub_jobs[{j - 1}]"
            spec = job.spec or BUILTIN[job.cloud_service]
            key = (job.cloud_service, job.project_id if spec.needs_project_id else "", job.task_id)
            if key in seen:
                raise Invalid(path, f"duplicate {job.cloud_service} task ID {job.task_id} (also {seen[key]})")
            seen[key] = path
            generated = parse_generated_task_id(job.cloud_service, job.task_id)
            by = generators[generated[0]] if generated is not None and generated[0] < len(generators) else None
            if by is not None and by.cloud_service == job.cloud_service:
                raise Invalid(
                    f"{path}.task_id" if j == 0 else f"{path}.job_id",
                    f"{job.task_id} is an ID that generators[{by.index}] creates",
                )


def _generator(raw: object, index: int) -> TaskGenerator:
    path = f"generators[{index}]"
    m = mapping(raw, path)
    service = m.get("cloud_service")
    if service not in CLOUD_SERVICES:
        raise Invalid(f"{path}.cloud_service", f"expected one of {', '.join(CLOUD_SERVICES)}, got {service!r}")
    listing = SHAPES[service].list
    check_keys(m, _GENERATOR_KEYS + ((listing.key,) if listing else ()), ("every", "run_for"), path)
    every, run_for, start, stop = _generator_times(m, path)
    fail_every = m.get("fail_every")
    if fail_every is not None and (isinstance(fail_every, bool) or not isinstance(fail_every, int) or fail_every < 1):
        raise Invalid(f"{path}.fail_every", f"expected an integer >= 1, got {fail_every!r}")
    return TaskGenerator(
        index=index,
        cloud_service=service,
        every=every,
        run_for=run_for,
        fail_every=fail_every,
        start=start,
        stop=stop,
        project_id=ident(m.get("project_id", DEFAULT_PROJECT_ID), f"{path}.project_id"),
        listed_under=_list_value(m, listing, path) if listing and listing.key in m else "",
    )


def _generator_times(m: Mapping[str, Any], path: str) -> tuple[float, float, float, float | None]:
    """A generator's every, run_for, start and stop (seconds), checked."""
    every = number(m["every"], f"{path}.every")
    run_for = number(m["run_for"], f"{path}.run_for")
    for key, value in (("every", every), ("run_for", run_for)):
        if value <= 0:
            raise Invalid(f"{path}.{key}", f"expected seconds > 0, got {value:g}")
    start = number(m.get("start", 0), f"{path}.start")
    if start < 0:
        raise Invalid(f"{path}.start", f"expected seconds >= 0, got {start:g}")
    stop = number(m["stop"], f"{path}.stop") if "stop" in m else None
    if stop is not None and stop <= start:
        raise Invalid(f"{path}.stop", f"expected seconds > start ({start:g}), got {stop:g}")
    return every, run_for, start, stop


def _list_value(m: Mapping[str, Any], listing: ListShape, path: str) -> str:
    value = m[listing.key]
    if not isinstance(value, str) or not listing.value.fullmatch(value):
        raise Invalid(
            f"{path}.{listing.key}",
            f"expected {_VALUE_RULES.get(listing.value.pattern, listing.value.pattern)}, got {value!r}",
        )
    return value


def _access_keys(raw: object) -> tuple[AccessKey, ...]:
    keys: list[AccessKey] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(as_list(raw, "access_keys")):
        path = f"access_keys[{i}]"
        m = mapping(item, path)
        check_keys(m, ("access_key", "secret_key", "security_token"), ("access_key", "secret_key"), path)
        access_key = m["access_key"]
        if not isinstance(access_key, str) or not _ACCESS_KEY_RE.fullmatch(access_key):
            raise Invalid(f"{path}.access_key", f"expected 1-128 letters, digits, '-' or '_', got {kind(access_key)}")
        if access_key in seen:
            raise Invalid(f"{path}.access_key", f"duplicate access key {access_key} (also {seen[access_key]})")
        seen[access_key] = path
        keys.append(
            AccessKey(
                access_key=access_key,
                secret_key=_secret(m["secret_key"], f"{path}.secret_key"),
                # Present means temporary credentials: null is an error, not "no token".
                security_token=_secret(m["security_token"], f"{path}.security_token")
                if "security_token" in m
                else None,
            )
        )
    return tuple(keys)


def _secret(value: object, path: str) -> str:
    # The message names the type only: a secret must not end up in an error message or a log.
    if not isinstance(value, str):
        raise Invalid(path, f"expected a string, got {'null' if value is None else type(value).__name__}")
    if not value or value != value.strip() or not value.isascii() or not value.isprintable():
        raise Invalid(path, "expected a non-empty string of printable ASCII without surrounding spaces")
    return value


def _task(raw: object, path: str, specs: Mapping[str, ServiceSpec]) -> Task:
    m = mapping(raw, path)
    service = m.get("cloud_service")
    if isinstance(service, str) and service in specs:
        return _spec_task(m, path, specs[service])
    if service not in CLOUD_SERVICES:
        known = ", ".join((*CLOUD_SERVICES, *sorted(specs)))
        raise Invalid(f"{path}.cloud_service", f"expected one of {known}, got {service!r}")
    shape, spec = SHAPES[service], BUILTIN[service].status
    batch = spec.sub_tasks is not None
    keys = (*shape.task, *shape.resource_keys, *(("sub_jobs",) * batch), *((shape.list.key,) if shape.list else ()))
    check_keys(m, _COMMON_TASK_KEYS + keys, ("task_id", "phases"), path)
    task_id = ident(m["task_id"], f"{path}.task_id")
    project_id = ident(m.get("project_id", DEFAULT_PROJECT_ID), f"{path}.project_id")
    fault = m.get("fault")
    if fault is not None and fault not in FAULT_KINDS:
        raise Invalid(f"{path}.fault", f"expected one of {', '.join(FAULT_KINDS)}, got {fault!r}")
    sub_jobs = tuple(
        _sub_job(sub, f"{path}.sub_jobs[{i}]", task_id, project_id, service)
        for i, sub in enumerate(as_list(m.get("sub_jobs", []), f"{path}.sub_jobs"))
    )
    given = {key: string(m[key], f"{path}.{key}") for key in shape.task if key in m}
    fields = _defaults({**shape.task, **(shape.batch_task if sub_jobs else {})}, task_id, given)
    resource_key, resource_id = _resource(m, shape, task_id, path, batch=bool(sub_jobs))
    task = Task(
        cloud_service=service,
        task_id=task_id,
        project_id=project_id,
        phases=_phases(m["phases"], f"{path}.phases", service),
        begin=number(m["begin"], f"{path}.begin") if "begin" in m else None,
        fault=fault,
        description=string(m.get("description", ""), f"{path}.description"),
        job_type=fields.pop("job_type", ""),
        job_name=fields.pop("job_name", ""),
        resource_key=resource_key,
        resource_id=resource_id,
        sub_jobs=sub_jobs,
        listed_under=_listed_under(m, shape, task_id, path),
        extras=fields,
    )
    _check_timeline(task, path)
    return task


def _resource(m: Mapping[str, Any], shape: Shape, task_id: str, path: str, *, batch: bool) -> tuple[str, str]:
    """The task's resource: the key the scenario gives it under (its shape's first by default), and its ID
    (derived from the task ID by default). A batch job of a shape without one for batches has none."""
    given = [key for key in shape.resource_keys if key in m]
    if len(given) > 1:
        raise Invalid(path, f"a task has {' or '.join(shape.resource_keys)}, not several")
    if batch and not shape.resource_batch:
        if given:
            raise Invalid(f"{path}.{given[0]}", "a batch job reports its resources in its sub_jobs only")
        return "", ""
    if not shape.resource_keys:
        return "", ""
    key = given[0] if given else shape.resource_keys[0]
    value = m[key] if given else _derived_resource(shape.resource_derive, task_id)
    return key, string(value, f"{path}.{key}")


def _listed_under(m: Mapping[str, Any], shape: Shape, task_id: str, path: str) -> str:
    if shape.list is None:
        return ""
    if shape.list.key in m:
        return _list_value(m, shape.list, path)
    # A task without a value of its own: the shape's default, or (where that is "derived") a value of
    # its own: a CPH job created by a call of its own.
    return _derived_request_id(task_id) if shape.list.default == "derived" else shape.list.default


def _spec_task_id(value: object, path: str, spec: ServiceSpec) -> str:
    """A spec task's ID: of the shape the spec names its tasks in (`task_id: {parts}` or `{kind}`:
    `job_batch/34765`, a CDM job's name), else the scenario's usual ID."""
    if spec.identity == SINGLE_ID:
        return ident(value, path)
    problem = spec.identity.problem(value) if isinstance(value, str) else f"expected a string, got {value!r}"
    if problem:
        raise Invalid(path, problem)
    assert isinstance(value, str)
    return value


def _spec_task(m: dict[str, Any], path: str, spec: ServiceSpec) -> Task:
    """A task of a service that the fake cloud answers from its spec: status any JSON scalar, progress
    when the spec reads one, and the error fields the spec points at."""
    status = spec.status
    keys = ("job_type",) * (status.job_type is not None) + ("job_name",) * (status.job_name is not None)
    keys += ("sub_jobs",) * (status.sub_tasks is not None)
    keys += ("listed_under",) * bool(spec.discover is not None and spec.discover.query_each)
    keys += ("parent",) * (spec.parents is not None)
    check_keys(m, (*_COMMON_TASK_KEYS, *keys, "resource_id"), ("task_id", "phases"), path)
    task_id = _spec_task_id(m["task_id"], f"{path}.task_id", spec)
    sub_jobs = []
    for i, raw in enumerate(as_list(m.get("sub_jobs", []), f"{path}.sub_jobs")):
        sub = mapping(raw, f"{path}.sub_jobs[{i}]")
        if "job_id" not in sub:
            raise Invalid(f"{path}.sub_jobs[{i}]", "missing required key 'job_id'")
        renamed = {"task_id" if key == "job_id" else key: value for key, value in sub.items()}
        if renamed.get("task_id") == task_id:
            raise Invalid(f"{path}.sub_jobs[{i}].job_id", "a sub-job needs its own ID, not its batch job's")
        if "sub_jobs" in renamed:
            raise Invalid(f"{path}.sub_jobs[{i}].sub_jobs", "a sub-job has no sub-jobs of its own")
        project = m.get("project_id", DEFAULT_PROJECT_ID)
        sub_jobs.append(_spec_task({**renamed, "project_id": project}, f"{path}.sub_jobs[{i}]", spec))
    fault = m.get("fault")
    if fault is not None and fault not in FAULT_KINDS:
        raise Invalid(f"{path}.fault", f"expected one of {', '.join(FAULT_KINDS)}, got {fault!r}")
    resource_key = (
        status.resource.pointers[0][-1] if status.resource is not None and status.resource.pointers[0] else ""
    )
    task = Task(
        cloud_service=spec.name,
        task_id=task_id,
        project_id=ident(m.get("project_id", DEFAULT_PROJECT_ID), f"{path}.project_id"),
        phases=(),
        begin=number(m["begin"], f"{path}.begin") if "begin" in m else None,
        fault=fault,
        description=string(m.get("description", ""), f"{path}.description"),
        job_type=string(m.get("job_type", ""), f"{path}.job_type"),
        job_name=string(m.get("job_name", ""), f"{path}.job_name"),
        resource_key=resource_key,
        resource_id=string(m.get("resource_id", _derived_uuid(task_id)), f"{path}.resource_id") if resource_key else "",
        spec=spec,
        sub_jobs=tuple(sub_jobs),
        listed_under=_each_value(m, path, spec),
        parent=ident(m["parent"], f"{path}.parent") if "parent" in m else "",
    )
    task = dataclasses.replace(task, phases=_phases(m["phases"], f"{path}.phases", spec.name, task))
    _check_timeline(task, path)
    return task


def _each_value(m: Mapping[str, Any], path: str, spec: ServiceSpec) -> str:
    """The value of a spec's one-call-per-value list parameter that lists the task (IoTDA's task_type):
    `listed_under`, by default its job type; one of the values the spec sends."""
    each = spec.discover.query_each if spec.discover is not None else {}
    if not each:
        return ""
    value = string(m.get("listed_under", m.get("job_type", "")), f"{path}.listed_under")
    values = [v for vs in each.values() for v in vs]
    if value not in values:
        raise Invalid(
            f"{path}.listed_under", f"expected one of {', '.join(values)} (or such a job_type), got {value!r}"
        )
    return value


def _derived_request_id(task_id: str) -> str:
    # A CPH job without a request_id was created by a call of its own.
    return uuid.uuid5(uuid.NAMESPACE_OID, f"fake-cloud-request-{task_id}").hex


def _sub_job(raw: object, path: str, parent_id: str, project_id: str, service: str) -> Task:
    """A batch job's sub-job: a job of the same service in its own right, queryable by its ID."""
    shape = SHAPES[service]
    m = mapping(raw, path)
    check_keys(m, ("job_id", *shape.task, *shape.resource_keys, "begin", "phases"), ("job_id", "phases"), path)
    job_id = ident(m["job_id"], f"{path}.job_id")
    if job_id == parent_id:
        raise Invalid(f"{path}.job_id", "a sub-job needs its own ID, not its batch job's")
    fields = _defaults(shape.task, job_id, {key: string(m[key], f"{path}.{key}") for key in shape.task if key in m})
    resource_key, resource_id = _resource(m, shape, job_id, path, batch=False)
    job = Task(
        cloud_service=service,
        task_id=job_id,
        project_id=project_id,
        phases=_phases(m["phases"], f"{path}.phases", service),
        begin=number(m["begin"], f"{path}.begin") if "begin" in m else None,
        job_type=fields.pop("job_type", ""),
        job_name=fields.pop("job_name", ""),
        resource_key=resource_key,
        resource_id=resource_id,
        extras=fields,
    )
    _check_timeline(job, path)
    return job


def _phases(raw: object, path: str, service: str, spec_task: Task | None = None) -> tuple[Phase, ...]:
    phases = tuple(_phase(item, f"{path}[{i}]", service, spec_task) for i, item in enumerate(as_list(raw, path)))
    if not phases:
        raise Invalid(path, "expected at least one phase")
    if phases[0].after != 0:
        raise Invalid(f"{path}[0].after", f"the first phase starts at 0, got {phases[0].after:g}")
    for i in range(1, len(phases)):
        if phases[i].after <= phases[i - 1].after:
            raise Invalid(f"{path}[{i}].after", f"must be later than the phase before ({phases[i - 1].after:g})")
        final = (
            _is(spec_task, phases[i - 1].status, FINAL_STATUSES)
            if spec_task
            else phases[i - 1].status in FINAL_STATUSES[service]
        )
        if final:
            raise Invalid(f"{path}[{i}]", f"no phase may follow the final status {phases[i - 1].status!r}")
    return phases


def _phase(raw: object, path: str, service: str, spec_task: Task | None = None) -> Phase:
    m = mapping(raw, path)
    spec = spec_task.spec if spec_task is not None else None
    extra = spec_phase_fields(spec) if spec is not None else _PHASE_FIELDS[service]
    with_progress = _with_progress(spec) if spec is not None else service in _WITH_PROGRESS
    counts = _count_keys(spec)
    allowed = ("after", "status", *(("progress",) if with_progress else ()), *counts, *extra)
    check_keys(m, allowed, ("after", "status"), path)
    after = number(m["after"], f"{path}.after")
    if after < 0:
        raise Invalid(f"{path}.after", f"expected seconds >= 0, got {after:g}")
    status = m["status"]
    ok, expected = _status_rule(service if spec is None else None)
    if not ok(status):
        raise Invalid(f"{path}.status", f"expected {expected} for {service}, got {status!r}")
    progress = _progress(m.get("progress"), f"{path}.progress", spec)
    fields = {key: None if m[key] is None else string(m[key], f"{path}.{key}") for key in extra if key in m}
    remaining, failed = _counted(m, counts, path)
    return Phase(after=after, status=status, progress=progress, fields=fields, remaining=remaining, failed=failed)


def _with_progress(spec: ServiceSpec) -> bool:
    """Whether a phase may say `progress`: the spec reads one (a field, or counters written from it)."""
    return spec.status.progress is not None or spec.status.counts is not None


def _count_keys(spec: ServiceSpec | None) -> tuple[str, ...]:
    """The phase keys of a spec's remaining time (`remaining`) and failed count (its pointer's last token)."""
    if spec is None:
        return ()
    keys = ("remaining",) if spec.status.remaining is not None else ()
    failed = spec.status.failed_count
    return (*keys, failed.pointers[0][-1]) if failed is not None and failed.pointers[0] else keys


def _counted(m: Mapping[str, Any], keys: tuple[str, ...], path: str) -> tuple[float | None, int | None]:
    """A phase's remaining seconds (>= 0 or null) and failed count (a whole number >= 0 or null)."""
    remaining = failed = None
    for key in keys:
        value = m.get(key)
        if value is None:
            continue
        found = number(value, f"{path}.{key}")
        if found < 0 or (key != "remaining" and found != int(found)):
            what = "seconds >= 0" if key == "remaining" else "a whole number >= 0"
            raise Invalid(f"{path}.{key}", f"expected {what} or null, got {found:g}")
        if key == "remaining":
            remaining = found
        else:
            failed = int(found)
    return remaining, failed


def _progress(value: object, path: str, spec: ServiceSpec | None) -> float | None:
    """A phase's progress, 0-100; -1 too where the spec reads a value below `none_below` as "no
    progress" (CDM writes -1 on failure)."""
    if value is None:
        return None
    progress = number(value, path)
    sentinel = spec is not None and spec.status.progress is not None and spec.status.progress.none_below is not None
    if not 0 <= progress <= 100 and not (sentinel and progress == -1):
        raise Invalid(
            path, f"expected a percentage 0-100{' (or -1: no progress)' if sentinel else ''}, got {progress:g}"
        )
    return progress


def _status_rule(service: str | None) -> tuple[Callable[[object], bool], str]:
    """What a phase's status may be, and its description: any JSON scalar for a service answered from
    its spec (None); for a shaped one, as its documented values are written (integers, and null where
    the spec knows it, or strings)."""
    if service is None:
        return (lambda s: isinstance(s, str | int | float | None) and not isinstance(s, bool)), "a JSON scalar"
    documented = DOCUMENTED_STATUSES[service]
    if any(isinstance(raw, str) for raw in documented):
        return (lambda s: isinstance(s, str) and s != ""), "a non-empty string"
    if None in documented:
        return (lambda s: s is None or (isinstance(s, int) and not isinstance(s, bool))), "an integer or null"
    return (lambda s: isinstance(s, int) and not isinstance(s, bool)), "an integer"


def _check_timeline(task: Task, path: str) -> None:
    end = task.end_offset
    if task.begin is not None and end is not None and task.begin > end:
        raise Invalid(f"{path}.begin", f"the task cannot begin ({task.begin:g}) after it ended ({end:g})")
    for i, sub in enumerate(task.sub_jobs):
        sub_end = sub.end_offset
        if end is not None and (sub_end is None or sub_end > end):
            raise Invalid(f"{path}.sub_jobs[{i}]", "a batch job cannot finish before all its sub-jobs have")


def _token(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        # An empty static token would let requests with an empty X-Auth-Token header in.
        raise Invalid(path, f"expected a non-empty string, got {kind(value)}")
    return value


# --- the built-in scenario --------------------------------------------------------------------


def default_scenario(*, unknown_statuses: bool = False) -> Scenario:
    """Every documented raw status of every service, failures, a batch job, stuck and stalled tasks
    (``default_scenario.yaml``, which says what each task shows); with ``unknown_statuses``, also the
    tasks of ``unknown_statuses.yaml``, whose statuses no document lists (the ``unknown`` state)."""
    if not unknown_statuses:
        return load_scenario(DEFAULT_SCENARIO_FILE)
    data = yaml.safe_load(DEFAULT_SCENARIO_FILE.read_text(encoding="utf-8"))
    data["tasks"] += yaml.safe_load(UNKNOWN_STATUSES_FILE.read_text(encoding="utf-8"))["tasks"]
    return parse_scenario(data, source=f"{DEFAULT_SCENARIO_FILE} + {UNKNOWN_STATUSES_FILE.name}")


def churn_scenario() -> Scenario:
    """The default scenario plus generators that keep creating tasks while the simulator runs.

    - ``generators[0]``: an EVS job every 10 s, running 30 s; every 5th fails (IDs e7506e4e0000...).
    - ``generators[1]``: a CodeArts Check task every 20 s in ``DEFAULT_CODEARTS_PROJECT_ID``, running
      40 s (IDs c0de6e4e0001...).
    - ``generators[2]``: a CPH job every 15 s under ``DEMO_CPH_REQUEST_IDS[1]``, running 20 s (IDs
      ce116e4e0002...).

    All in ``DEFAULT_PROJECT_ID``; the first task of each is created at the simulator's start.
    """
    generators = (
        TaskGenerator(0, "evs", every=10.0, run_for=30.0, fail_every=5),
        TaskGenerator(1, "codearts_check", every=20.0, run_for=40.0, listed_under=DEFAULT_CODEARTS_PROJECT_ID),
        TaskGenerator(2, "cph", every=15.0, run_for=20.0, listed_under=DEMO_CPH_REQUEST_IDS[1]),
    )
    return dataclasses.replace(default_scenario(), generators=generators)
