"""A service spec: everything the exporter knows about one cloud service's job API, as data.

Built-in specs (`builtin/*.yaml`) and a user's `custom_services:` entries are read by `read_spec`, with
the same strict checks and messages as the rest of the configuration. A spec knows its API and nothing
about Prometheus; `interpret.py` turns a spec plus an API body into a `TaskStatus`.

    name: evs                                  # the cloud_service label value
    scope: project                             # project (default) | domain: a global service (CDN), one
                                               # host for every region, no {project_id}; see below
    endpoints: {huaweicloud: "https://evs.{region}.myhuaweicloud.com"}
    regions: {huaweicloud: [cn-north-4, ...]}   # optional: where each cloud offers it (else a warning)
    region_endpoints: {huaweicloud: {eu-west-101: "https://..."}}   # optional: hosts off the template
    status:
      path: /v1/{project_id}/jobs/{task_id}
      state: /status                           # JSON pointers (RFC 6901) into the answer
      states: {INIT: pending, RUNNING: running, SUCCESS: succeeded, FAIL: failed}
      progress: {at: /progress, scale: percent}   # percent (0..100, "60%") | ratio (0..1); none_below: 0
                                               # (a lower value is "no progress": CDM's -1); unless: /sub_job_id
                                               # (no progress while that holds a value: DLI's is a sub-job's)
      start: {at: /begin_time, format: iso}    # iso | epoch_s | epoch_ms | go | day-month-year ("04-Jun-2015
                                               # 18:11:06:586") | a strptime pattern (also reads a whole JSON
                                               # number: 20200310031605), or a list tried in turn; zone
      end: {at: /end_time, format: iso}
      job_type: /job_type                      # or a list of pointers: the first non-empty wins
      job_name: /job_name
      resource: [/entities/volume_id, /entities/server_id]
      error: {code: /error_code, message: /fail_reason}   # read for failed tasks only
      remaining: {at: /remain_seconds, unit: s}   # s | ms | min: the time the cloud says is left (a pointer
                                               # alone: seconds), read while the task is not final
      # progress: {done: [/success_num, /fail_num, /skip_num], total: /total_num}   # or counted: the sum
                                               # of the done counters over the total (OMS task groups)
      failed_count: /failed                    # a succeeded task whose count here is above 0 is failed
                                               # (CDN's task_done with failed > 0)
      sub_tasks: {at: /entities/sub_jobs, state: /status}
      not_found: {http: [404], codes: [EVS.7001], message: "does not exist"}
                                               # also empty: /task_array (a 200 whose list is empty),
                                               # states: [NO_TASK] (raw statuses meaning no such task)
      error_in_200: {code: /error/code, message: /error/message}   # a 200 without a status but with this
      reasons: {CC.00050006: server_error}     # the reason of other error codes, whatever the HTTP status
      headers: {Client-Request-Id: "{uuid}"}   # request headers; {uuid}: a fresh UUID per request
    discover:                                  # optional; see DiscoverySpec
      path: /v2/{project_id}/training-job-searches
      method: POST                             # GET (default) | POST with a JSON `body`
      body: {sort_by: create_time, filters: [{key: create_time, operator: between, value: ["", ""]}]}
      headers: {X-Language: en-us}             # as the status call's
      query: {task_type: [a, b]}               # a list: one call sequence per value
      items: /items
      id: /metadata/id
      paging: {style: page, in: body, param: /offset, limit_param: /limit, first: 0, limit: 50, total: /total}
      #   in: query (default) | body (pointers into the body); template: "limit::{limit}|offset::{offset}"
      #   (all in the one parameter `param`); item_marker: /created_at (style marker: the last item's field);
      #   total: {header: Content-Range} (the total in a response header); total: {at: /task_count,
      #   json_type: string} (a total written as a string of digits, DMS's "4"; a plain pointer reads either)
      window: {in: body, from: /filters/0/value/0, to: /filters/0/value/1, format: epoch_ms, json_type: string}
      carries_status: true                     # each item carries its task's status: refreshed from the list
      item_at: /job                            # an item is the status body's object placed here (ELB); or:
      status: {state: /status, progress: /process, start: {at: /create_time, format: iso}}
                                               # the item's own fields (RDS's tasklist), the reading keys of
                                               # `status` (state, states, progress, start, end, created,
                                               # job_type, job_name, resource, error, failed_count, remaining)
                                               # as pointers into an item; a final one is asked once on its own
      # items may be "" (the root pointer: the answer is the list itself, as SWR's sync jobs)
    task_id: {kind: number}                    # optional: one ID of another kind (OMS's int64); or
    task_id:                                   # a task named by several parts (DataArts)
      parts: [{name: job_name, kind: name}, instance_id]   # kind: id (default) | number | name
      separator: "/"                           # task_id "nightly_load/1a2b..."; the path uses {job_name}
    task_id: {kind: number}                    # or: one ID of another kind than the default `id` (MPC's
                                               # numbers; `name`: CDM's job names, RFS's stack names)
    parents:                                   # optional: fan a target out over a parent list (DMS)
      param: instance_id                       # one of `params:`; a target that leaves it out (or says
      path: /v2/{project_id}/instances         #   `all`) tracks the tasks of every listed parent
      items: /instances
      id: /instance_id
      name: /name                              # optional: the parent's name, shown as a label
      paging: {style: offset, param: start_number, total: /total_number}   # as discover's

A global service (`scope: domain`, as CDN) has one host (`endpoints: {huaweicloud:
"https://cdn.myhuaweicloud.com"}`, no `{region}`), no project (no `{project_id}` in any path, query,
header or body of the spec) and so no `regions`, `region_endpoints` or `trace`; AK/SK calls to it are
signed with the account's domain ID (X-Domain-Id, as the SDK's GlobalCredentials), not a project ID.
A target of it names no `project_id` and no `region` other than `global` (`GLOBAL_REGION`), the value
of its `region` label.

Rules for every spec: a task's progress is 1 once it succeeded, and only then when it is counted from
sub-tasks; a task that is not final has no end time, whatever the API writes there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from typing import Any

from exporter.model import ID_KINDS, SINGLE_ID, IdPart, Reason, State, TaskIdentity
from exporter.schema import ConfigError, Ctx, Section, load_document, read_url, scalar_text, time_zone
from exporter.services.values import TIME_FORMATS, raw_status

__all__ = [
    "CLOUDS",
    "GLOBAL_REGION",
    "SCOPES",
    "DiscoverySpec",
    "ErrorFields",
    "Field",
    "NotFound",
    "Paging",
    "ParentsSpec",
    "ProgressCounts",
    "ProgressField",
    "RemainingField",
    "ServiceSpec",
    "StatusSpec",
    "SubTasks",
    "TimeField",
    "Window",
    "load_spec_file",
    "read_spec",
]

CLOUDS = ("huaweicloud", "otc", "custom")
SCOPES = ("project", "domain")  # a service's calls: in a project of a region, or of the whole account
GLOBAL_REGION = "global"  # the `region` of a global service's targets (`scope: domain`)
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
REGION_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
END_FORMATS = ("duration_ms", "duration_s")  # an end written as the time since the start (DLI's duration)
JSON_TYPES = ("number", "string")
WINDOW_FORMATS = ("iso", "epoch_s", "epoch_ms")
PAGING_STYLES = ("offset", "page", "marker", "none")
# A remaining time's units: how many seconds one of them is.
REMAINING_UNITS = {"s": 1.0, "ms": 0.001, "min": 60.0}
_POINTER = re.compile(r"(/([^~/]|~[01])*)*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Field:
    """One value of a body, at the first of `pointers` that holds something (None, "" count as nothing)."""

    pointers: tuple[tuple[str, ...], ...]
    written: str  # as the spec wrote it, for messages


@dataclass(frozen=True)
class TimeField:
    at: Field
    # iso | epoch_s | epoch_ms | go (Go's time.String(), as CCE writes) | a strptime pattern; an end also
    # duration_ms | duration_s: the time since the start (DLI writes start_time and duration)
    format: str
    zone: tzinfo | None = None  # None: the target's time_zone

    @property
    def formats(self) -> tuple[str, ...]:
        return (self.format, *self.also)

    # Read only once the task is final (CCE's updateTimestamp is its end then). Every end is now read only
    # once final (the interpreter's rule); the key stays valid and says so in a spec.
    final_only: bool = False
    # How the document writes the value, "number" or "string" ("" = the format's usual: numbers for
    # epochs, strings otherwise). The exporter reads either; the fake cloud writes this one.
    json_type: str = ""
    # The spec's `format` may list several (IMS: [iso, day-month-year]): the first is `format` (the one
    # the fake cloud writes), the others are tried in turn when it does not read.
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProgressField:
    at: Field
    scale: str  # percent (0..100, "60%") | ratio (0..1)
    # The document does not give the scale (IMS): a number above 1 on a ratio scale contradicts it, is
    # logged once and read as a percentage.
    assumed: bool = False
    json_type: str = ""  # as for times ("" = "60%" strings on the percent scale, numbers on the ratio one)
    # A second API that reports the progress (DLI), asked while the task is not final; "" = the status API.
    path: str = ""
    # A value below this is a "no progress" sentinel, not 0 % (CDM writes -1 on failure); None: no floor.
    none_below: float | None = None
    # While this pointer holds a value the progress is a part's, not the task's, and is not read (DLI's
    # sub_job_id: its progress is then the running sub-job's).
    unless: Field | None = None


@dataclass(frozen=True)
class ProgressCounts:
    """A progress counted from the answer's counters: the sum of `done` over `total` (OMS task groups:
    objects succeeded, failed and skipped over all objects). A counter that is absent counts 0; no
    progress while none of them is there, or while `total` is not above 0."""

    done: tuple[Field, ...]
    total: Field


@dataclass(frozen=True)
class RemainingField:
    """The time the cloud says a task still needs (SMS remain_seconds, OMS left_time in ms), read while
    the task is not final; a negative value is none."""

    at: Field
    unit: str = "s"  # of REMAINING_UNITS

    @property
    def seconds(self) -> float:
        """How many seconds one unit is."""
        return REMAINING_UNITS[self.unit]


@dataclass(frozen=True)
class SubTasks:
    at: Field  # a list of objects
    state: Field  # in each object; mapped through the spec's state table


@dataclass(frozen=True)
class NotFound:
    http: frozenset[int] = frozenset({404})
    codes: frozenset[str] = frozenset()
    message: re.Pattern[str] | None = None  # an HTTP 400 whose message matches (CPH says 400 for "not found")
    empty: Field | None = None  # a 200 whose list here is empty (a status read from a filtered list API)
    # Raw statuses that mean "no such task" (MPC's NO_TASK in its filtered list), not a task's state.
    states: frozenset[str] = frozenset()

    def matches(self, status: int, code: str, message: str) -> bool:
        if code and code in self.codes:
            return True
        if status in self.http:
            return True
        return status == 400 and self.message is not None and self.message.search(message) is not None


@dataclass(frozen=True)
class ErrorFields:
    code: Field | None = None
    message: Field | None = None


@dataclass(frozen=True)
class StatusSpec:
    path: str
    state: Field
    states: Mapping[str, State]
    progress: ProgressField | None = None
    start: TimeField | None = None
    end: TimeField | None = None
    # When the task was created, where the service says it apart from the start (CBR's created_at): the
    # time it waited, start - created, is observed in huaweicloud_task_completion_queue_seconds.
    created: TimeField | None = None
    job_type: Field | None = None
    job_name: Field | None = None
    resource: Field | None = None
    error: ErrorFields = field(default_factory=ErrorFields)
    sub_tasks: SubTasks | None = None
    not_found: NotFound = field(default_factory=NotFound)
    error_in_200: ErrorFields | None = None
    reasons: Mapping[str, Reason] = field(default_factory=dict)
    # Query parameters of the status call, templates like the path's (RDS: {id: "{task_id}"}).
    query: Mapping[str, str] = field(default_factory=dict)
    # Raw values of a `state` pointer that mean "ask the next one" (MRS: job_result UNDEFINED while a
    # job runs, then its job_state tells pending from running).
    not_yet: frozenset[str] = frozenset()
    # Request headers of the status call (and of its progress call): name -> template, `{uuid}` a fresh
    # UUID per request (RFS's Client-Request-Id).
    headers: Mapping[str, str] = field(default_factory=dict)
    # `progress: {done, total}`: the progress counted from counters, in place of a progress field.
    counts: ProgressCounts | None = None
    remaining: RemainingField | None = None
    # A task the state table calls succeeded whose count here is above 0 is failed (CDN's task_done with
    # failed > 0, DNS's DONE with error_count > 0): "finished, but N of its items failed".
    failed_count: Field | None = None


@dataclass(frozen=True)
class Paging:
    """How a list API pages. `offset`: `param` counts records from 0; `page`: `param` is the page
    number from `first`; `marker`: `param` is the ID of the last item seen (or `next` in the answer);
    `none`: one call.

    `where` is `query` (parameters `param` and `limit_param`) or `body` (JSON pointers `param` and
    `limit_param` into a POST list's body, values as numbers). With `template`, the one query parameter
    `param` carries them all (SWR: `limit::{limit}|offset::{offset}`). `item_marker`: the next marker is
    this field of the last item (VPN: its created_at), not its ID. `total_header`: the total is in this
    response header (a number, or `offset-count/total` as SWR's Content-Range)."""

    style: str = "none"
    param: str = "offset"
    limit_param: str = "limit"
    limit: int = 100
    first: int = 0
    total: Field | None = None
    next: Field | None = None
    where: str = "query"
    template: str = ""
    item_marker: Field | None = None
    total_header: str = ""
    # How the answer writes the total, "number" or "string" ("" = a number): the exporter reads either
    # (DMS's task_count "4"); the fake cloud writes this one.
    total_type: str = ""


@dataclass(frozen=True)
class Window:
    """A required time window on the list call: `from_param`..`to_param` covering the last `lookback`
    seconds (0: `tracking.finished_ttl`)."""

    from_param: str
    to_param: str  # "" when the API takes only a start (ELB's begin_time)
    format: str  # epoch_s | epoch_ms | iso (Z) | a strftime pattern, written in UTC
    lookback: float = 0.0
    max_lookback: float = 0.0  # the longest window the API takes (DDS, GeminiDB, DDM: 30 days); 0: no limit
    # `body`: `from_param` and `to_param` are JSON pointers into a POST list's body, the values written as
    # `json_type` ("" = numbers for epochs, strings otherwise).
    where: str = "query"
    json_type: str = ""


@dataclass(frozen=True)
class DiscoverySpec:
    """A list API that finds recent jobs.

    `config_key` names the target's `discover:` key whose values the calls need (CodeArts project IDs,
    CPH request IDs); each value goes into the path as `{value}` or, with `batch`, up to `batch_size`
    of them comma-joined into query parameter `batch`. Without `config_key`, `discover: true` turns it on.
    Items whose `recent` time is older than `tracking.finished_ttl` are left alone. With
    `carries_status`, an item is read as a status body and its task is not asked on its own; the list is
    then called on every scrape while one of its tasks is not final. When a tracked final task's
    `recheck` value changes, its status is asked once more."""

    path: str
    items: Field
    id: Field
    carries_status: bool = False
    config_key: str = ""
    config_doc: str = ""
    batch: str = ""
    batch_size: int = 1
    query: Mapping[str, str] = field(default_factory=dict)
    paging: Paging = field(default_factory=Paging)
    recent: TimeField | None = None
    recheck: Field | None = None
    window: Window | None = None
    # With `carries_status`: where an item sits in a status body (CBR lists operation logs that its status
    # API wraps in {"operation_log": ...}); empty when an item is a status body as it is.
    item_at: tuple[str, ...] = ()
    # With `carries_status`, `status:` (in place of `item_at`): the item's own fields (RDS's tasklist:
    # status, process, create_time), read as this status section, whose pointers are into an item. Its
    # path, query, headers and "not found" are the status section's; its states, reasons and not_yet too
    # unless it gives its own `states`.
    item_status: StatusSpec | None = None
    # A task named by several parts (`task_id: {parts}`): `id` is then a mapping part -> pointer, read
    # into `id_parts`, and an item's task ID is the parts joined as `identity` says.
    id_parts: tuple[tuple[str, Field], ...] = ()
    identity: TaskIdentity = SINGLE_ID

    def valid(self, task_id: str) -> bool:
        """Whether a listed ID names a task (items with a malformed ID are left alone)."""
        return not self.identity.problem(task_id)

    # How the list is called: `method` GET or POST, `body` the POST's JSON body as text (a template: its
    # strings take the path's placeholders), request `headers` as the status call's. A query parameter
    # in `query_each` takes each of its values in turn: one call sequence per value (IoTDA's task_type).
    method: str = "GET"
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    query_each: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class TraceSpec:
    """How Cloud Trace Service records the service's operations: its `service_type` (EVS, ECS, ...), and
    where the job ID sits in an operation's response body (`job_id`, CCE's `status.jobID`)."""

    service_type: str
    job_id: Field


@dataclass(frozen=True)
class ParentsSpec:
    """A list of parents (DMS instances, CCE clusters, AS scaling groups) whose IDs fill path parameter
    `param`: a target that does not give it is fanned out over every listed parent, each parent's ID
    becoming the first part of its tasks' IDs. `lister` is the list call (path, items, id, paging)."""

    param: str
    lister: DiscoverySpec
    name: Field | None = None

    @property
    def part(self) -> IdPart:
        return IdPart(self.param, "id")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    status: StatusSpec
    endpoints: Mapping[str, str] = field(default_factory=dict)
    regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    region_endpoints: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    discover: DiscoverySpec | None = None
    title: str = ""
    source: str = ""  # where the spec was read: a built-in file or the config file and line
    # Path parameters each target gives in its `params:` (MRS: {cluster_id: "the MRS cluster ID"}).
    params: Mapping[str, str] = field(default_factory=dict)
    trace: TraceSpec | None = None  # found in Cloud Trace Service's traces (an account's discover.cloud_trace)
    identity: TaskIdentity = SINGLE_ID  # how a task is named (`task_id: {parts}`)
    parents: ParentsSpec | None = None  # the parent list a target may be fanned out over
    scope: str = "project"  # "domain": a global service, signed with the account's domain ID
    # A hint: the least time between two asks of one task (the config's tracking.poll_intervals wins).
    poll_interval: float | None = None

    @property
    def is_global(self) -> bool:
        """A global (domain-scoped) service: one host, no project; AK/SK calls carry X-Domain-Id."""
        return self.scope == "domain"

    def identity_for(self, params: Mapping[str, str]) -> TaskIdentity:
        """How the tasks of a target with these `params` are named: with the parent's ID first when the
        target is fanned out (it does not give the parent parameter)."""
        if self.parents is not None and self.parents.param not in params:
            return self.identity.under(self.parents.part)
        return self.identity

    @property
    def optional_params(self) -> frozenset[str]:
        """The params that fill request headers only (DataArts' `workspace`): a target may leave them
        out, and a header that names one the target does not give is not sent."""
        status, lister = self.status, self.discover
        templates = [status.path, *status.query.values(), status.progress.path if status.progress else ""]
        if lister is not None:
            templates += [lister.path, lister.body, *lister.query.values()]
            templates += [value for values in lister.query_each.values() for value in values]
        if self.parents is not None:
            templates.append(self.parents.lister.path)
        headers = [*status.headers.values(), *(lister.headers.values() if lister is not None else ())]
        used = "\n".join(templates)
        return frozenset(
            name
            for name in self.params
            if "{" + name + "}" not in used and any("{" + name + "}" in text for text in headers)
        )

    @property
    def needs_project_id(self) -> bool:
        """Whether a target needs a project ID: its status path or query, or its list path, has one."""
        paths = (self.status.path, *self.status.query.values(), self.discover.path if self.discover is not None else "")
        return any("{project_id}" in path for path in paths)

    def endpoint(self, cloud: str, region: str) -> str | None:
        """The base URL for `region` of `cloud`, or None when the spec has no template for that cloud."""
        override = self.region_endpoints.get(cloud, {}).get(region)
        if override is not None:
            return override
        template = self.endpoints.get(cloud)
        return template.replace("{region}", region) if template is not None else None

    def status_path(self, project_id: str, task_id: str, params: Mapping[str, str] | None = None) -> str:
        """The status API's path; the IDs are validated before they get here."""
        return fill(self.status.path, project_id, task_id, params)

    def status_query(self, project_id: str, task_id: str, params: Mapping[str, str] | None = None) -> dict[str, str]:
        return {key: fill(value, project_id, task_id, params) for key, value in self.status.query.items()}


def fill(template: str, project_id: str, task_id: str = "", params: Mapping[str, str] | None = None) -> str:
    """A path or query template with the target's project ID and parameters and the task ID."""
    for name, value in (params or {}).items():
        template = template.replace("{" + name + "}", value)
    return template.replace("{project_id}", project_id).replace("{task_id}", task_id)


# --- reading -------------------------------------------------------------------------------------


def _pointer(ctx: Ctx, text: str, *, root: bool = False) -> tuple[str, ...]:
    """A JSON pointer's tokens; the root pointer "" (the whole body) only where `root` allows it."""
    if root and text == "":
        return ()
    if not text.startswith("/") or _POINTER.fullmatch(text) is None:
        ctx.fail(f"expected a JSON pointer such as /status or /job/entities/sub_jobs, got {ctx.show(text)}")
    return tuple(token.replace("~1", "/").replace("~0", "~") for token in text.split("/")[1:])


def _field(ctx: Ctx, value: Any, *, root: bool = False) -> Field:
    """A pointer, or a list of pointers (the first that holds a value wins)."""
    items = value if isinstance(value, list) else [value]
    if not items:
        ctx.fail("expected a JSON pointer or a non-empty list of them")
    pointers = []
    for index, item in enumerate(items):
        item_ctx = ctx.child(value, index) if isinstance(value, list) else ctx
        if not isinstance(item, str):
            item_ctx.fail(f"expected a JSON pointer such as /status, got {item_ctx.describe(item)}")
        pointers.append(_pointer(item_ctx, item, root=root))
    return Field(tuple(pointers), ", ".join(item or '""' for item in items))


def _optional_field(section: Section, key: str, *, root: bool = False) -> Field | None:
    ctx, value = section.raw(key)
    return None if value is None else _field(ctx, value, root=root)


def _placeholders(ctx: Ctx, template: str, allowed: tuple[str, ...], what: str) -> str:
    for name in _PLACEHOLDER.findall(template):
        if name not in allowed:
            ctx.fail(
                f"unknown placeholder {{{name}}} in the {what}; allowed: {', '.join('{' + a + '}' for a in allowed)}"
            )
    return template


def _path(section: Section, key: str, allowed: tuple[str, ...]) -> str:
    path = section.string(key, required=True, expect="a URL path such as /v1/{project_id}/jobs/{task_id}")
    ctx = section.raw(key)[0]
    if not path.startswith("/") or any(c in path for c in "?# "):
        ctx.fail(f"expected a URL path starting with '/', without query or fragment, got {ctx.show(path)}")
    return _placeholders(ctx, path, allowed, "path")


def _time(section: Section, key: str) -> TimeField | None:
    ctx, value = section.raw(key)
    if value is None:
        return None
    if isinstance(value, str):
        return TimeField(_field(ctx, value), "iso")
    times = Section(ctx, value, "a time field ({at, format, zone, final_only, json_type})")
    times.allow("at", "format", "zone", "final_only", "json_type")
    at_ctx, at = times.raw("at")
    if at is None:
        ctx.fail("missing required key 'at': expected the JSON pointer of the time")
    formats = _time_formats(times, TIME_FORMATS + END_FORMATS if key == "end" else TIME_FORMATS)
    zone = times.string("zone")
    return TimeField(
        _field(at_ctx, at),
        formats[0],
        time_zone(times.raw("zone")[0], zone) if zone else None,
        times.flag("final_only", False),
        times.string("json_type", choices=JSON_TYPES),
        formats[1:],
    )


def _time_formats(times: Section, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """`format`: one format, or a list tried in turn (a duration only alone: it is not a time)."""
    ctx, value = times.raw("format")
    if value is None:
        return ("iso",)
    items = value if isinstance(value, list) else [value]
    if not items:
        ctx.fail("expected a time format or a non-empty list of them")
    contexts = [ctx.child(value, index) for index in range(len(items))] if isinstance(value, list) else [ctx]
    for item_ctx, fmt in zip(contexts, items, strict=True):
        if not isinstance(fmt, str):
            item_ctx.fail(f"expected a time format such as iso, got {item_ctx.describe(fmt)}")
        if fmt not in allowed and "%" not in fmt:
            item_ctx.fail(
                f"expected one of {', '.join(allowed)} or a strptime pattern such as %Y-%m-%d %H:%M:%S, "
                f"got {item_ctx.show(fmt)}"
            )
        if fmt in END_FORMATS and len(items) > 1:
            item_ctx.fail(f"{fmt} is a duration since the start: it cannot be listed with other formats")
    return tuple(items)


def _counted(value: Any) -> bool:
    """Whether a `progress:` value is the counters form ({done, total})."""
    return isinstance(value, dict) and ("done" in value or "total" in value)


def _progress(section: Section, params: tuple[str, ...] = ()) -> ProgressField | None:
    ctx, value = section.raw("progress")
    if value is None or _counted(value):
        return None
    if isinstance(value, str):
        return ProgressField(_field(ctx, value), "percent")
    progress = Section(ctx, value, "a progress field ({at, scale, assumed, json_type, path, none_below, unless})")
    progress.allow("at", "scale", "assumed", "json_type", "path", "none_below", "unless")
    at_ctx, at = progress.raw("at")
    if at is None:
        ctx.fail("missing required key 'at': expected the JSON pointer of the progress")
    return ProgressField(
        _field(at_ctx, at),
        progress.string("scale", default="percent", choices=("percent", "ratio")),
        progress.flag("assumed", False),
        progress.string("json_type", choices=JSON_TYPES),
        _path(progress, "path", ("project_id", "task_id", *params)) if progress.has("path") else "",
        progress.number("none_below", 0, minimum=-1e9, maximum=1e9) if progress.has("none_below") else None,
        _optional_field(progress, "unless"),
    )


def _counts(section: Section) -> ProgressCounts | None:
    """`progress: {done: [pointers], total: pointer}`: the progress counted from counters."""
    ctx, value = section.raw("progress")
    if not _counted(value):
        return None
    counts = Section(ctx, value, "a progress from counters ({done, total})")
    counts.allow("done", "total")
    done_ctx, done = counts.raw("done")
    total = _optional_field(counts, "total")
    if done is None or total is None:
        ctx.fail(
            "expected both 'done' (the pointers of the counters of handled items, summed) and 'total' "
            "(the pointer of the number of all items)"
        )
    items = done if isinstance(done, list) else [done]
    if not items:
        done_ctx.fail("expected a JSON pointer or a non-empty list of them, each a counter")
    contexts = [done_ctx.child(done, index) for index in range(len(items))] if isinstance(done, list) else [done_ctx]
    return ProgressCounts(tuple(_field(item_ctx, item) for item_ctx, item in zip(contexts, items, strict=True)), total)


def _remaining(section: Section) -> RemainingField | None:
    """`remaining: {at, unit}` (or a pointer alone: seconds): the time the cloud says a task still needs."""
    ctx, value = section.raw("remaining")
    if value is None:
        return None
    if isinstance(value, str):
        return RemainingField(_field(ctx, value))
    remaining = Section(ctx, value, "a remaining time ({at, unit})")
    remaining.allow("at", "unit")
    at_ctx, at = remaining.raw("at")
    if at is None:
        ctx.fail("missing required key 'at': expected the JSON pointer of the remaining time")
    return RemainingField(_field(at_ctx, at), remaining.string("unit", default="s", choices=tuple(REMAINING_UNITS)))


def _readings(section: Section) -> dict[str, Any]:
    """The fields a status section and a list's `status` read alike: times, names, resource, error."""
    return {
        "start": _time(section, "start"),
        "end": _time(section, "end"),
        "created": _time(section, "created"),
        "job_type": _optional_field(section, "job_type"),
        "job_name": _optional_field(section, "job_name"),
        "resource": _optional_field(section, "resource"),
        "error": _errors(section, "error") or ErrorFields(),
    }


def _states(section: Section) -> dict[str, State]:
    ctx, value = section.raw("states")
    if value is None:
        section.ctx.fail("missing required key 'states': expected a mapping of raw status -> state")
    table = Section(ctx, value, "the state table (raw status -> state)")
    choices = [state.value for state in State if state is not State.UNKNOWN]
    states: dict[str, State] = {}
    for raw in table.data:
        state = table.string(raw, required=True, choices=choices)
        states[raw_status(raw)] = State(state)
    if not states:
        ctx.fail("expected at least one raw status")
    return states


def _errors(section: Section, key: str) -> ErrorFields | None:
    ctx, value = section.raw(key)
    if value is None:
        return None
    errors = Section(ctx, value, "error fields ({code, message})")
    errors.allow("code", "message")
    return ErrorFields(_optional_field(errors, "code"), _optional_field(errors, "message"))


def _not_found(section: Section, table: Mapping[str, State]) -> NotFound:
    ctx, value = section.raw("not_found")
    if value is None:
        return NotFound()
    spec = Section(ctx, value, "what 'not found' looks like ({http, codes, message, empty, states})")
    spec.allow("http", "codes", "message", "empty", "states")
    states = frozenset(raw_status(item) for _, item in spec.items("states", "raw statuses"))
    if mapped := sorted(states.intersection(table)):
        spec.raw("states")[0].fail(f"{', '.join(mapped)}: a raw status is a task's state or 'not found', not both")
    http: set[int] = set()
    for item_ctx, item in spec.items("http", "HTTP status codes"):
        if isinstance(item, bool) or not isinstance(item, int) or not 200 <= item <= 599:
            item_ctx.fail(f"expected an HTTP status code from 200 to 599, got {item_ctx.describe(item)}")
        http.add(item)
    codes = {_code(item_ctx, item) for item_ctx, item in spec.items("codes", "error codes")}
    message = spec.string("message")
    pattern = None
    if message:
        try:
            pattern = re.compile(message, re.IGNORECASE)
        except re.error as exc:
            spec.raw("message")[0].fail(f"not a valid regular expression: {exc}")
    return NotFound(
        frozenset(http) if spec.has("http") else frozenset({404}),
        frozenset(codes),
        pattern,
        _optional_field(spec, "empty"),
        states,
    )


def _code(ctx: Ctx, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        ctx.fail(f"expected an error code such as EVS.7001, got {ctx.describe(value)}")
    return str(value).strip()


def _reasons(section: Section) -> dict[str, Reason]:
    ctx, value = section.raw("reasons")
    if value is None:
        return {}
    table = Section(ctx, value, "error code -> reason")
    reasons = {}
    for code in table.data:
        code_ctx = table.raw(code)[0]
        if str(code).upper().startswith(("APIGW.", "APIG.")):
            # The gateway's own codes (authentication, throttling, unknown API) keep their meaning: they
            # drive the pause that keeps an AK from being locked, and the 429 back-off.
            code_ctx.fail(f"{code} is an API gateway code, whose meaning no spec can change")
        reasons[_code(code_ctx, code)] = Reason(table.string(code, required=True, choices=[r.value for r in Reason]))
    return reasons


def _sub_tasks(section: Section) -> SubTasks | None:
    ctx, value = section.raw("sub_tasks")
    if value is None:
        return None
    subs = Section(ctx, value, "sub-task fields ({at, state})")
    subs.allow("at", "state")
    at, state = _optional_field(subs, "at"), _optional_field(subs, "state")
    if at is None or state is None:
        ctx.fail("expected both 'at' (the list of sub-tasks) and 'state' (the status in each)")
    return SubTasks(at, state)


_STATUS_KEYS = (
    "path", "query", "state", "states", "progress", "start", "end", "created", "job_type", "job_name", "resource",
    "error",
    "sub_tasks", "not_found", "error_in_200", "reasons", "not_yet", "headers", "remaining", "failed_count",
)  # fmt: skip


def _status(section: Section, params: tuple[str, ...] = (), identity: TaskIdentity = SINGLE_ID) -> StatusSpec:
    ctx, value = section.raw("status")
    if value is None:
        section.ctx.fail("missing required key 'status': expected the status API ({path, state, states, ...})")
    status = Section(ctx, value, "the status API")
    status.allow(*_STATUS_KEYS)
    parts = tuple(part.name for part in identity.parts) if identity.multi else ()
    path = _path(status, "path", ("project_id", "task_id", *params, *parts))
    query_ctx = status.raw("query")[0]
    query = {
        key: _placeholders(query_ctx, value, ("project_id", "task_id", *params, *parts), "query")
        for key, value in _query(status).items()
    }
    _check_named(status, path, query, parts)
    state = _optional_field(status, "state")
    if state is None:
        ctx.fail("missing required key 'state': expected the JSON pointer of the raw status")
    states = _states(status)
    return StatusSpec(
        path=path,
        state=state,
        states=states,
        progress=_progress(status, params),
        **_readings(status),
        sub_tasks=_sub_tasks(status),
        not_found=_not_found(status, states),
        error_in_200=_errors(status, "error_in_200"),
        reasons=_reasons(status),
        query=query,
        not_yet=_not_yet(status, state),
        headers=_headers(status, ("project_id", "task_id", "uuid", *params)),
        counts=_counts(status),
        remaining=_remaining(status),
        failed_count=_optional_field(status, "failed_count"),
    )


def _check_named(status: Section, path: str, query: Mapping[str, str], parts: tuple[str, ...]) -> None:
    """The status call must name the task: {task_id}, or every part of a task's identity."""
    templates = (path, *query.values())
    if any("{task_id}" in template for template in templates):
        return
    missing = [part for part in parts if not any("{" + part + "}" in template for template in templates)]
    if not parts:
        status.raw("path")[0].fail("the status path (or its query) must contain {task_id}")
    if missing:
        status.raw("path")[0].fail(
            "the status path (or its query) must contain {task_id} or every part of it; missing "
            + ", ".join("{" + part + "}" for part in missing)
        )


def _not_yet(status: Section, state: Field) -> frozenset[str]:
    values = frozenset(raw_status(item) for _, item in status.items("not_yet", "raw statuses"))
    if values and len(state.pointers) < 2:
        status.raw("not_yet")[0].fail("'not_yet' needs a 'state' of two or more pointers: it means 'ask the next'")
    return values


def _paging(section: Section) -> Paging:
    ctx, value = section.raw("paging")
    if value is None:
        return Paging()
    paging = Section(ctx, value, "paging ({style, param, limit_param, limit, first, total, next, in, template, ...})")
    paging.allow("style", "param", "limit_param", "limit", "first", "total", "next", "in", "template", "item_marker")
    style = paging.string("style", required=True, choices=PAGING_STYLES)
    built = Paging(
        style=style,
        param=paging.string("param", default="marker" if style == "marker" else "offset"),
        limit_param=paging.string("limit_param", default="limit"),
        limit=int(paging.number("limit", 100, minimum=1, maximum=10000, integer=True)),
        first=int(paging.number("first", 1 if style == "page" else 0, minimum=0, maximum=1, integer=True)),
        next=_optional_field(paging, "next"),
        **_paging_placement(paging, style, section.string("method", default="GET").upper()),
    )
    # Keys the paging would not read: refused rather than ignored.
    if style == "none":
        for key in [k for k in paging.data if k != "style"]:
            paging.raw(str(key))[0].fail(f"'style: none' reads one page: '{key}' would be ignored; remove it")
    if style != "marker" and paging.has("next"):
        paging.raw("next")[0].fail("'next' is for 'style: marker' (where the next page's marker is in the answer)")
    return built


def _window(section: Section) -> Window | None:
    ctx, value = section.raw("window")
    if value is None:
        return None
    window = Section(ctx, value, "a time window ({from, to, format, lookback, max_lookback, in, json_type})")
    window.allow("from", "to", "format", "lookback", "max_lookback", "in", "json_type")
    fmt = window.string("format", default="epoch_ms")
    if fmt not in WINDOW_FORMATS and "%" not in fmt:
        format_ctx = window.raw("format")[0]
        format_ctx.fail(
            f"expected one of {', '.join(WINDOW_FORMATS)} or a strftime pattern such as %Y-%m-%dT%H:%M:%S+0000, "
            f"got {format_ctx.show(fmt)}"
        )
    return Window(
        from_param=window.string("from", required=True, expect="the query parameter of the window's start"),
        to_param=window.string("to", expect="the query parameter of the window's end"),
        format=fmt,
        lookback=window.number("lookback", 0, minimum=0, maximum=366 * 86400),
        max_lookback=window.number("max_lookback", 0, minimum=0, maximum=366 * 86400),
        **_window_placement(window, section.string("method", default="GET").upper()),
    )


def _query(section: Section) -> dict[str, str]:
    ctx, value = section.raw("query")
    if value is None:
        return {}
    query = Section(ctx, value, "fixed query parameters")
    return {str(key): query.string(str(key), required=True) for key in query.data}


_DISCOVER_KEYS = (
    "path", "items", "id", "carries_status", "config_key", "config_doc", "batch", "batch_size", "query",
    "paging", "recent", "recheck", "window", "item_at", "method", "body", "headers", "status",
)  # fmt: skip
# What `discover.status` may say: the reading fields of a status section, relative to a list item.
_ITEM_STATUS_KEYS = (
    "state", "states", "progress", "start", "end", "created", "job_type", "job_name", "resource", "error",
    "failed_count", "remaining",
)  # fmt: skip
# The status section's keys that are about its call or its whole answer, not about an item's fields.
_ITEM_STATUS_REFUSED = ("path", "query", "headers", "not_found", "error_in_200", "sub_tasks", "reasons", "not_yet")


def _item_status(discover: Section, status: StatusSpec | None, carries_status: bool) -> StatusSpec | None:
    """`discover.status`: a status section read from a list item's own fields (RDS's tasklist items)."""
    ctx, value = discover.raw("status")
    if value is None or status is None:
        return None
    if not carries_status:
        ctx.fail("'status' reads a list item as a task's status: it needs 'carries_status: true'")
    if discover.has("item_at"):
        ctx.fail(
            "give either 'item_at' (an item is part of a status body) or 'status' (an item's own fields), not both"
        )
    section = Section(ctx, value, "a list item's status fields ({state, states, progress, start, end, ...})")
    for key in map(str, section.data):
        if key in _ITEM_STATUS_REFUSED:
            section.raw(key)[0].fail(
                f"'{key}' is the status section's: a list item's status is read from the item itself, and "
                f"only its fields go here ({', '.join(_ITEM_STATUS_KEYS)})"
            )
    section.allow(*_ITEM_STATUS_KEYS)
    state = _optional_field(section, "state")
    if state is None:
        ctx.fail("missing required key 'state': expected the JSON pointer of the raw status in a list item")
    progress = _progress(section)
    if progress is not None and progress.path:
        section.raw("progress")[0].fail("a list item's progress is read from the item: 'path' does not go here")
    return replace(
        status,
        state=state,
        states=_states(section) if section.has("states") else status.states,
        progress=progress,
        **_readings(section),
        sub_tasks=None,
        not_found=replace(status.not_found, empty=None),  # `empty` points into a status body
        error_in_200=None,
        not_yet=status.not_yet if len(state.pointers) > 1 else frozenset(),
        counts=_counts(section),
        remaining=_remaining(section),
        failed_count=_optional_field(section, "failed_count"),
    )


def _item_at(discover: Section, carries_status: bool) -> tuple[str, ...]:
    if not discover.has("item_at"):
        return ()
    at_ctx, _ = discover.raw("item_at")
    if not carries_status:
        at_ctx.fail("'item_at' places an item in a status body: it needs 'carries_status: true'")
    return _pointer(at_ctx, discover.string("item_at", required=True))


def _batch(discover: Section, config_key: str, path: str) -> str:
    """The query parameter that takes the target's values, checked against `config_key` and the path."""
    batch = discover.string("batch", expect="the query parameter that takes the values")
    if config_key and not batch and "{value}" not in path:
        discover.ctx.fail("with 'config_key', the path needs {value} or 'batch' names a query parameter for the values")
    if batch and not config_key:
        discover.ctx.fail("'batch' needs 'config_key': the target's discover key whose values it sends")
    if batch and "{value}" in path:
        discover.ctx.fail("give the values either in the path ({value}) or in a query parameter ('batch'), not both")
    return batch


def _id_parts(discover: Section, identity: TaskIdentity) -> tuple[tuple[str, Field], ...]:
    """With a task named by several parts, `id` gives the pointer of each part in a list item."""
    ctx, value = discover.raw("id")
    if not identity.multi or value is None:
        return ()
    names = [part.name for part in identity.parts]
    if not isinstance(value, dict):
        ctx.fail(f"expected the pointer of each part of the task ID ({', '.join(names)}), got {ctx.describe(value)}")
    pointers = Section(ctx, value, "the pointer of each part of the task ID")
    pointers.allow(*names)
    found = []
    for name in names:
        field_ = _optional_field(pointers, name)
        if field_ is None:
            ctx.fail(f"missing required key {name!r}: the pointer of that part of the task ID in an item")
        found.append((name, field_))
    return tuple(found)


def _discover(
    section: Section,
    params: tuple[str, ...] = (),
    identity: TaskIdentity = SINGLE_ID,
    status: StatusSpec | None = None,
) -> DiscoverySpec | None:
    ctx, value = section.raw("discover")
    if value is None:
        return None
    discover = Section(ctx, value, "the discovery list API")
    discover.allow(*_DISCOVER_KEYS)
    config_key = discover.string("config_key", pattern=NAME_PATTERN, expect="a key name such as request_ids")
    path = _path(discover, "path", ("project_id", "value", *params) if config_key else ("project_id", *params))
    batch = _batch(discover, config_key, path)
    id_parts = _id_parts(discover, identity)
    # A list answer may be the list itself (SWR's sync jobs): its items at the root pointer "".
    items = _optional_field(discover, "items", root=True)
    id_ = id_parts[0][1] if id_parts else _optional_field(discover, "id")
    carries_status = discover.flag("carries_status", False)
    if items is None or id_ is None:
        discover.ctx.fail("expected 'items' (the JSON pointer of the list) and 'id' (of the task ID in an item)")
    return DiscoverySpec(
        path=path,
        items=items,
        id=id_,
        carries_status=carries_status,
        config_key=config_key,
        config_doc=discover.string("config_doc") or "IDs",
        batch=batch,
        batch_size=int(discover.number("batch_size", 1, minimum=1, maximum=1000, integer=True)),
        paging=_paging(discover),
        recent=_time(discover, "recent"),
        recheck=_optional_field(discover, "recheck"),
        window=_window(discover),
        item_at=_item_at(discover, carries_status),
        item_status=_item_status(discover, status, carries_status),
        id_parts=id_parts,
        identity=identity,
        **_list_call(discover, ("project_id", "value", *params) if config_key else ("project_id", *params)),
    )


# --- how a call is made: headers, method and body, values of a query parameter, paging places --------

HTTP_METHODS = ("GET", "POST")
# Headers a spec may not set: the auth and signing ones (the exporter writes them, and AK/SK signs them),
# the hop-by-hop ones, the body's framing, and the encodings the client decodes.
RESERVED_HEADERS = frozenset(
    {
        "authorization", "host", "x-sdk-date", "x-project-id", "x-domain-id", "x-auth-token", "x-security-token",
        "x-sdk-content-sha256", "x-subject-token", "content-length", "transfer-encoding", "connection",
        "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "upgrade", "accept-encoding",
    }
)  # fmt: skip
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^`|~-]{1,64}")
_HEADER_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e]{0,510}[\x21-\x7e])?")
_POSITION = {"offset": "offset", "page": "page", "marker": "marker"}  # a paging template's placeholder per style


def _headers(section: Section, allowed: tuple[str, ...]) -> dict[str, str]:
    """Request headers: name -> value template; `{uuid}` is a fresh UUID per request."""
    ctx, value = section.raw("headers")
    if value is None:
        return {}
    table = Section(ctx, value, "request headers (name -> value)")
    headers: dict[str, str] = {}
    for name in table.data:
        key_ctx = table.raw(str(name))[0]
        if _HEADER_NAME.fullmatch(str(name)) is None or "_" in str(name):
            key_ctx.fail(
                "expected a header name of letters, digits and '-' such as Client-Request-Id (a name with '_' is "
                f"neither signed nor passed on by the API gateway), got {key_ctx.show(str(name))}"
            )
        if str(name).lower() in RESERVED_HEADERS:
            key_ctx.fail(f"header {name} is the exporter's own (authentication, signing or transport): no spec sets it")
        if str(name).lower() in (h.lower() for h in headers):
            key_ctx.fail(f"header {name} is given twice (header names are not case-sensitive)")
        text = table.string(str(name), required=True, expect="the header's value")
        if _HEADER_VALUE.fullmatch(text) is None:
            key_ctx.fail(f"expected printable ASCII without surrounding spaces, got {key_ctx.show(text)}")
        headers[str(name)] = _placeholders(key_ctx, text, allowed, "header")
    return headers


def _list_call(discover: Section, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The list call's method, body, headers and query parameters (fixed, or one call per value)."""
    method = discover.string("method", default="GET").upper()
    if method not in HTTP_METHODS:
        discover.raw("method")[0].fail(f"expected GET or POST, got {discover.raw('method')[0].show(method)}")
    ctx, body = discover.raw("body")
    if body is not None and method != "POST":
        ctx.fail("a body is sent with 'method: POST' only")
    if body is not None and not isinstance(body, dict | list):
        ctx.fail(f"expected the JSON body as a mapping or a list, got {ctx.describe(body)}")
    if body is not None:
        _body_placeholders(ctx, body, allowed)
    query, each = _list_query(discover, allowed)
    return {
        "method": method,
        "body": json.dumps({} if body is None and method == "POST" else body) if method == "POST" else "",
        "headers": _headers(discover, (*allowed, "uuid")),
        "query": query,
        "query_each": each,
    }


def _body_placeholders(ctx: Ctx, value: Any, allowed: tuple[str, ...]) -> None:
    if isinstance(value, str):
        _placeholders(ctx, value, allowed, "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            _body_placeholders(ctx.child(value, key), item, allowed)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _body_placeholders(ctx.child(value, index), item, allowed)


def _list_query(discover: Section, allowed: tuple[str, ...]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Fixed query parameters, and those written as a list: each value in turn, one call sequence each."""
    ctx, value = discover.raw("query")
    if value is None:
        return {}, {}
    query = Section(ctx, value, "query parameters (name -> value, or a list of values: one call per value)")
    fixed: dict[str, str] = {}
    each: dict[str, tuple[str, ...]] = {}
    for key in map(str, query.data):
        key_ctx, listed = query.raw(key)
        if not isinstance(listed, list):
            fixed[key] = _placeholders(ctx, query.string(key, required=True), allowed, "query")
            continue
        values = []
        for item_ctx, item in query.items(key, "values"):
            if isinstance(item, bool) or not isinstance(item, str | int) or not str(item):
                item_ctx.fail(f"expected a value such as firmwareUpgrade, got {item_ctx.describe(item)}")
            values.append(_placeholders(item_ctx, scalar_text(item), allowed, "query"))
        if not values or len(set(values)) != len(values):
            key_ctx.fail("expected a list of distinct values, one list call sequence each")
        each[key] = tuple(values)
    return fixed, each


def _placement(section: Section, method: str, names: tuple[str, ...]) -> str:
    """`in: query | body`; in a body, the `names` keys must be JSON pointers into it."""
    where = section.string("in", default="query", choices=("query", "body"))
    if where == "body":
        if method != "POST":
            section.raw("in")[0].fail(
                "values go in the body of a POST list only: the discover section needs method: POST"
            )
        for name in names:
            if section.has(name):
                _pointer(section.raw(name)[0], section.string(name))
    return where


def _paging_placement(paging: Section, style: str, method: str) -> dict[str, Any]:
    where = _placement(paging, method, ("param", "limit_param"))
    if where == "body" and not (paging.has("param") and paging.has("limit_param")) and style != "none":
        paging.ctx.fail(
            "with 'in: body', give 'param' and 'limit_param' as JSON pointers into the body, such as /offset"
        )
    template = paging.string("template", expect="the paging parameter's value, such as limit::{limit}|offset::{offset}")
    if template:
        where_ctx = paging.raw("template")[0]
        if style == "none" or where == "body":
            where_ctx.fail("'template' packs the paging values into the query parameter 'param' of a paged list")
        _placeholders(where_ctx, template, ("limit", _POSITION[style]), "paging template")
        if "{" + _POSITION[style] + "}" not in template:
            where_ctx.fail(f"the template needs {{{_POSITION[style]}}}, where the {style} paging goes")
    item_marker = _optional_field(paging, "item_marker")
    if item_marker is not None and style != "marker":
        paging.raw("item_marker")[0].fail(
            "'item_marker' is for 'style: marker' (the next marker is the last item's field)"
        )
    return {"where": where, "template": template, "item_marker": item_marker, **_paging_total(paging)}


def _paging_total(paging: Section) -> dict[str, Any]:
    """`total`: a pointer; {at, json_type} (DMS writes its task_count as a string: json_type string); or
    {header} (the total in a response header)."""
    total_ctx, total = paging.raw("total")
    if not isinstance(total, dict):
        return {"total_header": "", "total": _optional_field(paging, "total")}
    totals = Section(total_ctx, total, "the list's total ({at, json_type} in the body, or {header})")
    totals.allow("header", "at", "json_type")
    if "header" in total:
        header = totals.string(
            "header", required=True, pattern=_HEADER_NAME, expect="a header name such as Content-Range"
        )
        return {"total_header": header, "total": None}
    at_ctx, at = totals.raw("at")
    if at is None:
        total_ctx.fail("the list's total needs 'at' (a pointer into the answer) or 'header'")
    return {
        "total_header": "",
        "total": _field(at_ctx, at),
        "total_type": totals.string("json_type", choices=JSON_TYPES),
    }


def _window_placement(window: Section, method: str) -> dict[str, Any]:
    where = _placement(window, method, ("from", "to"))
    json_type = window.string("json_type", choices=JSON_TYPES)
    if json_type and where != "body":
        window.raw("json_type")[0].fail("'json_type' is for 'in: body' (a query parameter is always a string)")
    return {"where": where, "json_type": json_type}


def _per_cloud(section: Section, key: str, what: str) -> dict[str, Any]:
    ctx, value = section.raw(key)
    if value is None:
        return {}
    clouds = Section(ctx, value, f"{what} per cloud")
    clouds.allow(*CLOUDS)
    return {cloud: clouds.raw(cloud) for cloud in clouds.data}


def _url(ctx: Ctx, value: Any, *, template: bool) -> str:
    example = "https://evs.{region}.myhuaweicloud.com" if template else "https://evs.eu-west-101.myhuaweicloud.eu"
    if not isinstance(value, str):
        ctx.fail(f"expected a URL such as {example}, got {ctx.describe(value)}")
    read_url(ctx, value.replace("{region}", "region"), f"expected a URL such as {example}")
    return _placeholders(ctx, value.rstrip("/"), ("region",) if template else (), "endpoint")


def _trace(section: Section) -> TraceSpec | None:
    ctx, value = section.raw("trace")
    if value is None:
        return None
    trace = Section(ctx, value, "how Cloud Trace Service records it ({service_type, job_id})")
    trace.allow("service_type", "job_id")
    service_type = trace.string(
        "service_type",
        required=True,
        pattern=re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}"),
        expect="a CTS service type such as EVS",
    )
    job_id = _optional_field(trace, "job_id") or Field((("job_id",),), "/job_id")
    return TraceSpec(service_type, job_id)


def _params(section: Section) -> dict[str, str]:
    ctx, value = section.raw("params")
    if value is None:
        return {}
    table = Section(ctx, value, "path parameters each target gives (name -> what it is)")
    params = {}
    for name in table.data:
        key = str(name)
        if NAME_PATTERN.fullmatch(key) is None or key in ("project_id", "task_id", "value", "region"):
            key_ctx = table.raw(key)[0]
            key_ctx.fail(
                "expected a lower-case name such as cluster_id, other than project_id, task_id, value and "
                f"region, got {key_ctx.show(key)}"
            )
        params[key] = table.string(key, required=True, expect="what the value is, for messages")
    return params


_PART_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _identity(section: Section, params: Mapping[str, str]) -> TaskIdentity:
    """`task_id: {parts: [...], separator}`: a task named by two or more parts (DataArts: job name +
    instance ID), each a placeholder of the status path; `task_id: {kind: number}`: one ID of another kind
    than hexadecimal or a UUID (MPC's task numbers, RFS's stack names); without it, one ID."""
    ctx, value = section.raw("task_id")
    if value is None:
        return SINGLE_ID
    spec = Section(ctx, value, "the task's ID ({kind} of one ID, or {parts, separator})")
    spec.allow("kind", "parts", "separator")
    if spec.has("kind"):  # one ID of another kind than the default (OMS: an int64, `number`)
        if spec.has("parts") or spec.has("separator"):
            ctx.fail("expected 'kind' (of a task's one ID) or 'parts' (of an ID of several), not both")
        return TaskIdentity((IdPart("task_id", spec.string("kind", required=True, choices=tuple(ID_KINDS))),))
    parts: list[IdPart] = []
    for item_ctx, item in spec.items("parts", "the parts, in order"):
        parts.append(_id_part(item_ctx, item, params, [part.name for part in parts]))
    if len(parts) < 2:
        (spec.raw("parts")[0] if spec.has("parts") else ctx).fail("expected a list of two or more parts")
    separator = spec.string("separator", default="/", expect="the character between the parts")
    if len(separator) != 1 or separator.isalnum() or separator in "_.-%?# ":
        sep_ctx = spec.raw("separator")[0]
        sep_ctx.fail(f"expected one character that no part holds, such as '/' or ':', got {sep_ctx.show(separator)}")
    return TaskIdentity(tuple(parts), separator)


def _id_part(ctx: Ctx, item: Any, params: Mapping[str, str], before: list[str]) -> IdPart:
    if isinstance(item, str):
        name, kind = item, "id"
    elif isinstance(item, dict):
        part = Section(ctx, item, "a part ({name, kind})")
        part.allow("name", "kind")
        name = part.string("name", required=True, expect="the part's name, a placeholder of the status path")
        kind = part.string("kind", default="id", choices=tuple(ID_KINDS))
    else:
        ctx.fail(f"expected a part name such as instance_id, or {{name, kind}}, got {ctx.describe(item)}")
    reserved = ("project_id", "task_id", "value", "region", *params)
    if _PART_NAME.fullmatch(name) is None or name in reserved or name in before:
        ctx.fail(
            "expected a lower-case name such as job_name, other than project_id, task_id, value, region, the "
            f"spec's params and the other parts, got {ctx.show(name)}"
        )
    return IdPart(name, kind)


_PARENTS_KEYS = ("param", "path", "items", "id", "name", "paging", "query")


def _parents(section: Section, params: Mapping[str, str]) -> ParentsSpec | None:
    """`parents:`: the list call whose items' IDs fill path parameter `param` of a fanned-out target."""
    ctx, value = section.raw("parents")
    if value is None:
        return None
    parents = Section(ctx, value, "the parent list ({param, path, items, id, name, paging, query})")
    parents.allow(*_PARENTS_KEYS)
    param = parents.string("param", required=True, expect="the path parameter a parent's ID fills")
    if param not in params:
        parents.raw("param")[0].fail(
            f"{param!r} is not among the spec's params ({', '.join(params) or 'none'}): a parent's ID fills one"
        )
    items, id_ = _optional_field(parents, "items"), _optional_field(parents, "id")
    if items is None or id_ is None:
        ctx.fail("expected 'items' (the JSON pointer of the list) and 'id' (of the parent's ID in an item)")
    lister = DiscoverySpec(
        path=_path(parents, "path", ("project_id",)),
        items=items,
        id=id_,
        query={
            key: _placeholders(parents.raw("query")[0], v, ("project_id",), "query")
            for key, v in _query(parents).items()
        },
        paging=_paging(parents),
    )
    return ParentsSpec(param, lister, _optional_field(parents, "name"))


def read_spec(ctx: Ctx, value: Any, *, source: str = "") -> ServiceSpec:
    """One spec from its YAML mapping; a `ConfigError` names the file, key path and line."""
    section = Section(ctx, value, "a service spec")
    section.allow(
        "name", "title", "endpoints", "regions", "region_endpoints", "params", "status", "discover", "trace",
        "task_id", "parents", "scope", "poll_interval",
    )  # fmt: skip
    name = section.string("name", required=True, pattern=NAME_PATTERN, expect="a lower-case name such as sfs_turbo")
    scope = section.string("scope", default="project", choices=SCOPES)
    if scope == "domain":
        _check_global(section)
    params = _params(section)
    identity = _identity(section, params)
    endpoints = {
        cloud: _url(c, v, template=True) for cloud, (c, v) in _per_cloud(section, "endpoints", "URL templates").items()
    }
    regions: dict[str, tuple[str, ...]] = {}
    for cloud, (cloud_ctx, listed) in _per_cloud(section, "regions", "regions").items():
        if not isinstance(listed, list):
            cloud_ctx.fail(f"expected a list of regions, got {cloud_ctx.describe(listed)}")
        names = []
        for index, item in enumerate(listed):
            if not isinstance(item, str) or REGION_PATTERN.fullmatch(item) is None:
                item_ctx = cloud_ctx.child(listed, index)
                item_ctx.fail(f"expected a region such as cn-north-4, got {item_ctx.describe(item)}")
            names.append(item)
        regions[cloud] = tuple(names)
    overrides: dict[str, dict[str, str]] = {}
    for cloud, (cloud_ctx, table) in _per_cloud(section, "region_endpoints", "region URLs").items():
        by_region = Section(cloud_ctx, table, "region -> URL")
        overrides[cloud] = {
            str(r): _url(by_region.raw(str(r))[0], u, template=False) for r, u in by_region.data.items()
        }
    status = _status(section, tuple(params), identity)
    return ServiceSpec(
        name=name,
        title=section.string("title"),
        endpoints=endpoints,
        regions=regions,
        region_endpoints=overrides,
        status=status,
        discover=_discover(section, tuple(params), identity, status),
        params=params,
        trace=_trace(section),
        identity=identity,
        parents=_parents(section, params),
        scope=scope,
        poll_interval=section.number("poll_interval", 30, minimum=0, maximum=86400)
        if section.has("poll_interval")
        else None,
        source=source or (f"{ctx.file}:{ctx.line}" if ctx.line else ctx.file),
    )


_NOT_GLOBAL = (
    ("regions", "a global service has one host for every region"),
    ("region_endpoints", "a global service has one host for every region"),
    ("trace", "Cloud Trace Service's traces are per project, and a global service has none"),
)


def _check_global(section: Section) -> None:
    """`scope: domain`: one host (no {region}), no project (no {project_id} anywhere in the calls)."""
    for key, why in _NOT_GLOBAL:
        if section.has(key):
            section.raw(key)[0].fail(f"'{key}' does not go with 'scope: domain': {why}")
    for cloud, (ctx, value) in _per_cloud(section, "endpoints", "URL templates").items():
        if isinstance(value, str) and "{region}" in value:
            ctx.fail(
                f"a global service (scope: domain) has one host for {cloud}: expected a URL without {{region}} "
                f"such as https://cdn.myhuaweicloud.com, got {ctx.show(value)}"
            )
    for key in ("status", "discover", "parents"):
        _refuse_project_id(*section.raw(key))


def _refuse_project_id(ctx: Ctx, value: Any) -> None:
    """The first string under `value` that names {project_id}, as an error at its key."""
    if isinstance(value, str) and "{project_id}" in value:
        ctx.fail(
            "a global service (scope: domain) has no project: expected no {project_id} here (its calls are "
            f"signed with the account's domain ID), got {ctx.show(value)}"
        )
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        _refuse_project_id(ctx.child(value, key), item)


def load_spec_file(path: str) -> ServiceSpec:
    """A spec from a YAML file of its own (the built-ins)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    document = load_document(text, file=path)
    if document is None:
        raise ConfigError("the file is empty: expected a service spec", file=path)
    return read_spec(Ctx(path, "", None, {}), document, source=path)
