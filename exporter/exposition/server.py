"""HTTP endpoints: `/metrics`, `/probe`, `/`, `/-/healthy`, `/-/ready`, `POST /-/reload`.

`/metrics` first refreshes the tracked tasks within the scrape's deadline (Prometheus's
`X-Prometheus-Scrape-Timeout-Seconds` minus an offset), then renders the registry. The landing page
shows the tracked tasks; it never shows configuration values, so no secret can reach it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlencode

import structlog
import yaml
from aiohttp import web
from multidict import MultiMapping
from prometheus_client import CollectorRegistry, exposition
from prometheus_client.core import Metric
from prometheus_client.openmetrics import exposition as openmetrics_exposition
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.cloud import TRACE
from exporter.config import Config, MetricsSettings, TargetConfig, redacted
from exporter.exposition.collector import target_family, task_families
from exporter.exposition.intake import INTAKE, IntakeDesk, add_intake, desk_of
from exporter.exposition.listener import SAFE_HEADERS, Serving, serve
from exporter.exposition.render import TaskText
from exporter.exposition.webconfig import BasicAuth
from exporter.log import repeated
from exporter.model import ID_DESCRIPTION, State, TaskStatus
from exporter.tracking import TargetSnapshot, TaskRecord, Tracker
from exporter.tracking.table import Refresh

__all__ = ["Serving", "make_app", "serve"]


class Served(Protocol):
    """What the server needs of the running exporter (`exporter.app.Exporter`)."""

    registry: CollectorRegistry
    tracker: Tracker
    task_text: TaskText

    @property
    def config(self) -> Config: ...

    def clock(self) -> float: ...

    def scrape_timeout(self, header: str | None) -> float: ...

    async def refresh(self, timeout: float, scraper: str = "") -> None: ...

    async def reload(self) -> str | None: ...

    async def aclose(self) -> None: ...


EXPORTER = web.AppKey("exporter", Served)
LIFECYCLE = web.AppKey("lifecycle", bool)  # POST /-/reload allowed (--web.enable-lifecycle)
log = structlog.get_logger(__name__)


async def metrics(request: web.Request) -> web.StreamResponse:
    exporter = request.app[EXPORTER]
    # Decided before any cloud call: an Accept header this exporter cannot honour gets the text format.
    openmetrics, compress = wants_openmetrics(request), wants_gzip(request)
    headers = {"Content-Type": _CONTENT_TYPES[openmetrics], "Vary": "Accept, Accept-Encoding"}
    if compress:
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":  # the headers a GET would have, without a refresh (so without a length)
        return web.Response(headers=headers)
    try:
        timeout = exporter.scrape_timeout(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds"))
        await exporter.refresh(timeout, request.remote or "")
    except Exception:  # a bug in a refresh must not hide what is known: log it, serve the last values
        repeated(log.exception, "refresh failed; serving the last known values")
    pieces = _pieces(openmetrics, exporter.registry, exporter.task_text.render)
    response = web.StreamResponse(headers=headers)
    if not compress:
        response.content_length = sum(len(p) for p in pieces)
    await response.prepare(request)
    # Written in chunks of about CHUNK bytes, each compressed on the way: the text of 10,000 tasks
    # (23 MB) is never one object in memory.
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS) if compress else None
    for chunk in _chunks(pieces):
        out = packer.compress(chunk) if packer is not None else chunk
        if out:
            await response.write(out)
    if packer is not None:
        await response.write(packer.flush())
    await response.write_eof()
    return response


_openmetrics_text: Callable[[CollectorRegistry], bytes] = openmetrics_exposition.generate_latest  # untyped there
_CONTENT_TYPES = {True: openmetrics_exposition.CONTENT_TYPE_LATEST, False: exposition.CONTENT_TYPE_PLAIN_0_0_4}


def _media_ranges(header: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """An Accept or Accept-Encoding header's entries: (lowercased name, parameters, q); a q that is not a
    number counts as 0 (the entry is ignored), as do entries that are not even names."""
    for entry in header.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        values = {}
        for param in params:
            key, _, value = param.partition("=")
            values[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(values.get("q", "1"))
        except ValueError:
            q = 0.0
        if name and q > 0:  # NaN is not above 0 either
            yield name.lower(), values, q


def wants_openmetrics(request: web.BaseRequest) -> bool:
    """OpenMetrics 1.0.0 when the scraper ranks it at least as high as the text format, else the text
    format 0.0.4: the only two this exporter writes. Any other version, a malformed header or none
    gets the text format; the header is never an error."""
    best: dict[bool, float] = {True: 0.0, False: 0.0}
    for name, params, q in _media_ranges(request.headers.get("Accept", "")):
        version = params.get("version", "")
        if name == "application/openmetrics-text" and version in ("", "1.0.0"):
            best[True] = max(best[True], q)
        elif name in ("text/plain", "text/*", "*/*"):
            best[False] = max(best[False], q)
    return best[True] > 0 and best[True] >= best[False]


def wants_gzip(request: web.BaseRequest) -> bool:
    """gzip when the scraper lists it (or x-gzip) with a q above 0: `gzip;q=0` means no."""
    return any(name in ("gzip", "x-gzip") for name, _, _ in _media_ranges(request.headers.get("Accept-Encoding", "")))


# Level 1: a tenth of the text's size already, at a fraction of the default level's CPU (the text of
# 10,000 tasks is about 23 MB).
GZIP_LEVEL = 1
CHUNK = 256 * 1024
OPENMETRICS_EOF = b"# EOF\n"


def _chunks(pieces: list[bytes]) -> Iterator[bytes]:
    """The pieces joined into chunks of about CHUNK bytes."""
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def _pieces(
    openmetrics: bool, registry: CollectorRegistry, more: Callable[[bool], list[bytes]] | None = None
) -> list[bytes]:
    """The registry in the format chosen (prometheus-client's own encoders), then what `more(openmetrics)`
    renders (the task families), as pieces of text to send in turn."""
    if not openmetrics:
        return [exposition.generate_latest(registry), *(more(False) if more else ())]
    body = _openmetrics_text(registry)
    if more is None:
        return [body]
    return [body[: -len(OPENMETRICS_EOF)], *more(True), OPENMETRICS_EOF]


def _exposition(request: web.Request, registry: CollectorRegistry) -> web.Response:
    """A small registry (a probe's) in the format the scraper asks for, gzip-compressed when it accepts
    gzip, as Prometheus does."""
    openmetrics = wants_openmetrics(request)
    (body,) = _pieces(openmetrics, registry)
    headers = {"Content-Type": _CONTENT_TYPES[openmetrics], "Vary": "Accept, Accept-Encoding"}
    if wants_gzip(request):
        body = gzip.compress(body, compresslevel=GZIP_LEVEL)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


PROBE_PARAMS = ("cloud_service", "task_id", "account", "region", "project_id", "debug")


class _ProbeCollector(Collector):
    """One task's families and `huaweicloud_task_up` for the probe; built fresh for every /probe."""

    def __init__(
        self,
        state: TargetSnapshot,
        record: TaskRecord | None,
        up: bool,
        duration: float,
        now: float,
        settings: MetricsSettings,
    ) -> None:
        self._state, self._record, self._up, self._duration, self._now = state, record, up, duration, now
        self._settings = settings

    def collect(self) -> Iterator[Metric]:
        records = [self._record] if self._record is not None else []
        yield from task_families(
            [self._state], self._now, include_target_metrics=False, records=lambda _s: records, settings=self._settings
        )
        key = list(self._state.target.key)
        up, duration = target_family("up"), target_family("scrape_duration_seconds")
        up.add_metric(key, 1.0 if self._up else 0.0)
        duration.add_metric(key, self._duration)
        yield from (up, duration)


def _bad_request(reason: str) -> web.Response:
    """A 400 that says what was wrong, as plain text (a value quoted in it cannot become markup)."""
    return web.Response(status=400, text=reason + "\n", headers={"X-Content-Type-Options": "nosniff"})


async def probe(request: web.Request) -> web.Response:
    """`/probe?cloud_service=&task_id=[&account=&region=&project_id=]`: one task, a fresh registry."""
    exporter = request.app[EXPORTER]
    asked = _probe_query(exporter.config, request.query)
    if isinstance(asked, str):
        return _bad_request(asked)
    target, task_id, debug = asked
    if request.method == "HEAD":  # the headers only, and no cloud query for them
        return _exposition(request, CollectorRegistry(auto_describe=False))
    started = time.perf_counter()
    lines: list[str] = []
    token = TRACE.set(lines if debug else None)
    # A probe's query gets the caller's deadline, but no more than a refresh's budget: concurrent probes of
    # one task share the query, so one caller's header must not hold it for everyone.
    timeout = min(
        exporter.scrape_timeout(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")),
        exporter.config.scrape.refresh_timeout,
    )
    try:
        state, record, up = await exporter.tracker.probe(target.key, task_id, timeout)
    finally:
        TRACE.reset(token)
    registry = CollectorRegistry(auto_describe=False)
    took = time.perf_counter() - started
    registry.register(_ProbeCollector(state, record, up, took, exporter.clock(), exporter.config.metrics))
    if debug:
        return web.Response(text=_debug_text(exporter.config, target, task_id, lines, registry, record, up))
    return _exposition(request, registry)


def _probe_query(config: Config, query: MultiMapping[str]) -> tuple[TargetConfig, str, bool] | str:
    """A probe's parameters -> (its one target, the task ID, debug), or what is wrong with them."""
    for name in query:
        if name not in PROBE_PARAMS:
            return f"unknown parameter {name[:40]!r}; expected: {', '.join(PROBE_PARAMS)}"
        if len(query.getall(name)) > 1:
            return f"parameter {name!r} is given more than once"
    # IDs with surrounding whitespace are the IDs, as in the config and task files.
    cloud_service, task_id = query.get("cloud_service", ""), query.get("task_id", "").strip()
    if not cloud_service or not task_id:
        return "cloud_service and task_id are required"
    wanted = {name: query[name].strip() for name in ("account", "region", "project_id") if name in query}
    target = _probe_target(config, cloud_service, task_id, wanted)
    if isinstance(target, str):
        return target
    debug = query.get("debug", "false").lower()
    if debug not in ("true", "false"):
        return "debug must be true or false"
    return target, task_id, debug == "true"


def _probe_target(config: Config, cloud_service: str, task_id: str, wanted: dict[str, str]) -> TargetConfig | str:
    """The one configured target of the service with the account, region and project_id wanted whose task
    IDs look like `task_id` (one ID; parts, for a two-part or fanned-out one), or why there is none."""
    targets = [
        target
        for target in config.targets
        if target.cloud_service == cloud_service and all(getattr(target, k) == v for k, v in wanted.items())
    ]
    if not targets:
        return "no configured target matches " + ", ".join(
            f"{k}={v[:64]!r}" for k, v in {"cloud_service": cloud_service, **wanted}.items()
        )
    problems = [target.identity.problem(task_id) for target in targets]
    if all(problems):
        multi = targets[0].identity.describe() != ID_DESCRIPTION  # parts, or a name (CDM)
        return problems[0] if multi else "task_id must be 16 to 64 hexadecimal characters, or a UUID"
    targets = [target for target, problem in zip(targets, problems, strict=True) if not problem]
    if len(targets) > 1:
        return f"{len(targets)} configured targets match; add account, region or project_id to choose one"
    return targets[0]


def _debug_text(
    config: Config,
    target: TargetConfig,
    task_id: str,
    lines: list[str],
    registry: CollectorRegistry,
    record: TaskRecord | None,
    up: bool,
) -> str:
    """What blackbox_exporter's debug page shows: the probe's log, its metrics, its configuration."""
    if not lines:
        why = (
            "the task is final: its last answer is shown"
            if record is not None and record.final
            else ("a query of this task was already in flight: this probe shared its answer")
        )
        lines = [f"no request sent: {why}"]
    error = record.last_error.describe() if record is not None and record.last_error is not None else "none"
    return (
        f"Logs for the probe of {target.cloud_service} task {task_id} ({'/'.join(p for p in target.key if p)}):\n"
        + "\n".join(lines)
        + f"\nProbe {'succeeded' if up else 'failed'}; the task's last error: {error}\n\n"
        + "Metrics that would have been returned:\n"
        + exposition.generate_latest(registry).decode()
        + "\nTarget configuration (secrets redacted):\n"
        + yaml.safe_dump(redacted(config, target), sort_keys=False)
    )


async def show_config(request: web.Request) -> web.Response:
    """`/config`: the running configuration, every secret redacted."""
    config = request.app[EXPORTER].config
    return web.Response(text=yaml.safe_dump(redacted(config), sort_keys=False), content_type="text/plain")


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy\n")


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="Ready\n")


async def reload(request: web.Request) -> web.Response:
    if not request.app[LIFECYCLE]:
        return web.Response(status=403, text="Lifecycle API is not enabled (--web.enable-lifecycle).\n")
    error = await request.app[EXPORTER].reload()
    if error is not None:
        return web.Response(status=500, text=f"failed to reload config: {error}\n")
    return web.Response(text="OK\n")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


# Task rows on the landing page unless `?tasks=all`: a browser copes with a few thousand rows, not with
# 50,000 (about 40 MB of HTML).
LANDING_TASKS = 1000
# Which tasks the page shows first when they do not all fit: failed, then those still moving, then
# those without an answer, then the finished ones, latest first.
_FIRST = {State.FAILED: 0, State.PENDING: 1, State.RUNNING: 1, State.UNKNOWN: 2}


def _landing_tasks(
    records: list[tuple[TargetSnapshot, TaskRecord]], limit: int | None
) -> list[tuple[TargetSnapshot, TaskRecord]]:
    if limit is None or len(records) <= limit:
        return records

    def rank(item: tuple[TargetSnapshot, TaskRecord]) -> tuple[int, float]:
        task = item[1].status
        if task is None:
            return 3, 0.0
        if task.state in _FIRST:
            return _FIRST[task.state], 0.0
        return 4, -(task.end or item[1].last_update or 0.0)

    return sorted(records, key=rank)[:limit]


async def landing(request: web.Request) -> web.Response:
    """What an operator needs without opening /metrics: each target's state, last refresh and the real
    cause of a failure; each task's raw status, job, times, the age of its last answer, its error, and a
    link to its debug probe (at most LANDING_TASKS of them unless `?tasks=all`)."""
    exporter = request.app[EXPORTER]
    shown = request.query.get("tasks", "")
    if len(request.query.getall("tasks", [])) > 1:
        return _bad_request("parameter 'tasks' is given more than once")
    if shown not in ("", "all"):
        return _bad_request(f"tasks={shown[:40]!r}: the only value is 'all' (every tracked task)")
    now = exporter.clock()
    snapshot = exporter.tracker.snapshot
    records = list(snapshot.records())
    listed = _landing_tasks(records, None if shown == "all" else LANDING_TASKS)
    page = _PAGE.format(
        version=html.escape(__version__),
        refreshes="\n".join(map(_refresh_row, snapshot.refreshes)) or '<tr><td colspan="6">No refresh yet.</td></tr>',
        targets="\n".join(map(_target_row, snapshot.targets)) or '<tr><td colspan="9">No targets configured.</td></tr>',
        rows="\n".join(_task_row(state, record, now) for state, record in listed)
        or '<tr><td colspan="14">No tracked tasks.</td></tr>',
        count=_task_count(len(listed), len(records)),
        confirmations=_confirmations(request.app),
        style=_STYLE,
    )
    return web.Response(text=page, content_type="text/html", headers={"Content-Security-Policy": _PAGE_POLICY})


def _confirmations(app: web.Application) -> str:
    """The SMN subscriptions waiting for an operator to open their subscribe_url (`intake.smn.confirm: log`;
    only https URLs on a configured certificate host get here)."""
    waiting = app[INTAKE].confirmations if INTAKE in app else {}
    if not waiting:
        return ""
    rows = "".join(
        f'<li>{html.escape(topic)}: <a href="{html.escape(url)}" rel="noreferrer">{html.escape(url)}</a></li>'
        for topic, url in waiting.items()
    )
    return f"<h2>SMN subscriptions to confirm</h2>\n<p>Open each link once to confirm.</p><ul>{rows}</ul>\n"


def _task_count(listed: int, tracked: int) -> str:
    if listed < tracked:
        return (
            f"<p>{listed:,} of {tracked:,} tasks: the failed ones first, then those still moving, "
            "then those in an unknown state, then those without an answer yet, then the latest finished. "
            '<a href="?tasks=all">Show all</a>.</p>'
        )
    return f"<p>{tracked:,} tasks.</p>" if tracked else ""


def _task_row(state: TargetSnapshot, record: TaskRecord, now: float) -> str:
    """A task's row: where it is, its answer, the age of that answer, its errors, a link to its debug probe."""
    target, task = state.target, record.status
    probe = urlencode(
        {"cloud_service": target.cloud_service, "task_id": record.task_id, "account": target.account,
         "region": target.region, "project_id": target.project_id, "debug": "true"}
    )  # fmt: skip
    answer, error = _answer_cells(task, now) if task is not None else (["(no answer yet)", *[""] * 6], "")
    cells = [
        " / ".join(p for p in (target.account, target.cloud_service, target.region) if p),
        record.task_id,
        record.source,
        *answer,
        _duration(now - record.last_update) + " ago" if record.last_update is not None else "never",
        error,
        record.last_error.describe() if record.last_error else "",
    ]
    return (
        f'<tr class="{task.state.value if task else "none"}">'
        + "".join(_cells(cells, wrap_from=11))
        + f'<td><a href="probe?{html.escape(probe)}">debug</a></td></tr>'
    )


def _answer_cells(task: TaskStatus, now: float) -> tuple[list[str], str]:
    """A task's answer: state, raw status, job, progress, start, end, duration; and a failed task's error."""
    cells = [
        task.state.value,
        task.raw_status,
        " ".join(p for p in (task.job_type, task.job_name) if p),
        _progress_cell(task),
        _when(task.start),
        _when(task.end),
        _duration(task.duration(now)),
    ]
    failed = task.state is State.FAILED
    return cells, ": ".join(p for p in (task.error_code, task.error_message) if p) if failed else ""


def _progress_cell(task: TaskStatus) -> str:
    """The progress, and the time the cloud says is left where it says one ("40%, 2m left")."""
    parts = [f"{task.progress:.0%}" if task.progress is not None else ""]
    if task.remaining is not None:
        parts.append(f"{_duration(task.remaining)} left")
    return ", ".join(p for p in parts if p)


def _target_row(state: TargetSnapshot) -> str:
    refresh = state.last_refresh
    if refresh is None:
        status, cells = "not polled yet", ["", "", "", "", "", ""]
    else:
        status = "up" if state.up else "DOWN"
        cells = [
            _when(refresh.at),
            f"{refresh.duration:.2f} s",
            str(refresh.asked),
            str(refresh.answered),
            str(refresh.failed),
            refresh.cause,
        ]
    label = " / ".join(p for p in state.target.key if p)
    return (
        f'<tr class="{"none" if refresh is None else "succeeded" if state.up else "failed"}">'
        + "".join(_cells((label, status, str(len(state.tasks)), *cells), wrap_from=8))
        + "</tr>"
    )


def _refresh_row(r: Refresh) -> str:
    return (
        f'<tr class="{"failed" if r.failed else "succeeded"}">'
        + "".join(
            _cells((_when(r.at), f"{r.duration:.2f} s", str(r.asked), str(r.answered), str(r.failed), r.cause), 5)
        )
        + "</tr>"
    )


def _cells(texts: Iterable[str], wrap_from: int) -> Iterator[str]:
    """Table cells; those from `wrap_from` on (errors and causes) wrap, the others (times, counts) do not."""
    for i, text in enumerate(texts):
        yield f'<td class="text">{html.escape(text)}</td>' if i >= wrap_from else f"<td>{html.escape(text)}</td>"


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts is not None else ""


_STYLE = """
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td { white-space: nowrap; } td.text { white-space: normal; min-width: 20em; max-width: 40em; }
tr.failed td { background: #fdd; } tr.running td { background: #def; } tr.succeeded td { background: #dfd; }
tr.pending td { background: #ffe; }
tr.stopped td, tr.unknown td, tr.none td { background: #eee; }
"""
# The page's only style, allowed by its hash; nothing else (scripts, frames, forms, images) is.
_PAGE_POLICY = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
    + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Huawei Cloud task exporter</title>
<style>{style}</style></head>
<body>
<h1>Huawei Cloud task exporter</h1>
<p>Version {version}.
<a href="metrics">Metrics</a> &middot; <a href="config">Configuration</a> &middot; <a href="probe">Probe</a>
(<code>?cloud_service=&amp;task_id=[&amp;debug=true]</code>)
&middot; <a href="-/healthy">Health</a> &middot; <a href="-/ready">Readiness</a></p>
<h2>Targets</h2>
<table id="targets">
<tr><th>Target</th><th>State</th><th>Tasks</th><th>Last refresh</th><th>Took</th><th>Asked</th><th>Answered</th>
<th>Failed</th><th>Cause of the first failure</th></tr>
{targets}
</table>
{confirmations}<h2>Tracked tasks</h2>
{count}
<table id="tasks">
<tr><th>Target</th><th>Task</th><th>Source</th><th>State</th><th>Raw status</th><th>Job</th><th>Progress</th>
<th>Start</th><th>End</th><th>Duration</th><th>Last answer</th><th>Error</th><th>Last query error</th>
<th>Probe</th></tr>
{rows}
</table>
<h2>Recent refreshes</h2>
<p>The last 100, newest first, and failed ones among the last 100 that failed.</p>
<table id="refreshes">
<tr><th>At</th><th>Took</th><th>Asked</th><th>Answered</th><th>Failed</th><th>Cause of the first failure</th></tr>
{refreshes}
</table>
</body></html>
"""


async def _safe_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Every answer, error pages included: no content sniffing, no framing, nothing loaded or run (the
    landing page sets its own policy, which allows its one style)."""
    for name, value in SAFE_HEADERS.items():
        response.headers.setdefault(name, value)


def make_app(
    exporter: Served,
    users: Mapping[str, bytes] | None = None,
    *,
    lifecycle: bool = False,
    intake: IntakeDesk | None = None,
) -> web.Application:
    """The exporter's endpoints; with `users` (user -> bcrypt hash), every one behind basic auth;
    `POST /-/reload` only with `lifecycle` (else 403, as Prometheus without --web.enable-lifecycle). The
    intake doors answer here unless `intake` is given: the desk of a listener of their own
    (`make_intake_app`), and these answer 404."""
    app = _base_app(users)
    app[EXPORTER] = exporter
    app[LIFECYCLE] = lifecycle
    app.router.add_get("/", landing)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/probe", probe)
    app.router.add_get("/config", show_config)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    app.router.add_put("/-/reload", reload)
    add_intake(app, intake or desk_of(exporter), serves=intake is None)

    async def close(app: web.Application) -> None:
        await app[EXPORTER].aclose()

    async def load_task_files(app: web.Application) -> None:
        await app[EXPORTER].tracker.settle_files()  # the first scrape already sees the files' tasks

    app.on_startup.append(load_task_files)
    app.on_cleanup.append(close)
    return app


def make_intake_app(desk: IntakeDesk, users: Mapping[str, bytes] | None = None) -> web.Application:
    """The intake doors alone, for `--web.intake-address`: the same TLS and basic auth as the main listener."""
    app = _base_app(users)
    add_intake(app, desk)
    return app


def _base_app(users: Mapping[str, bytes] | None) -> web.Application:
    """An application with the safe headers, and with `users` every path behind basic auth."""
    auth = BasicAuth(users) if users else None
    app = web.Application(middlewares=[auth.middleware] if auth else [])
    app.on_response_prepare.append(_safe_headers)
    if auth is not None:

        async def stop_auth(app: web.Application) -> None:
            auth.close()

        app.on_cleanup.append(stop_auth)
    return app
