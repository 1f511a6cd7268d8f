"""HTTP endpoints: `/metrics`, `/`, `/-/healthy`, `/-/ready`, `POST /-/reload`.

`/metrics` first refreshes the tracked tasks within the scrape's deadline (Prometheus's
`X-Prometheus-Scrape-Timeout-Seconds` minus an offset), then renders the registry. The landing page
shows the tracked tasks; it never shows configuration values, so no secret can reach it.
"""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from prometheus_client import exposition

from exporter import __version__
from exporter.core import Exporter
from exporter.tracker import all_records

__all__ = ["Serving", "make_app", "serve"]

EXPORTER = web.AppKey("exporter", Exporter)
log = structlog.get_logger(__name__)


async def metrics(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER]
    try:
        await exporter.refresh(exporter.scrape_timeout(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")))
    except Exception:  # a bug in a refresh must not hide what is known: log it, serve the last values
        log.exception("refresh failed; serving the last known values")
    encoder, content_type = exposition.choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(exporter.registry), headers={"Content-Type": content_type})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy\n")


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="Ready\n")


async def reload(request: web.Request) -> web.Response:
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


async def landing(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER]
    now = time.time()
    rows = []
    for state, record in all_records(exporter.tracker.targets):
        target, task = state.target, record.status
        duration = None
        if task is not None and task.start is not None:
            duration = (task.end if task.final and task.end is not None else now) - task.start
        cells = [
            target.account,
            target.cloud_service,
            target.region,
            record.task_id,
            task.state.value if task else "(no answer yet)",
            f"{task.progress:.0%}" if task and task.progress is not None else "",
            _duration(duration),
            record.last_error.describe() if record.last_error else "",
        ]
        state_class = task.state.value if task else "none"
        rows.append(f'<tr class="{state_class}">' + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    targets = []
    for state in exporter.tracker.targets:
        label = " / ".join(state.target.key)
        targets.append(f"<li>{html.escape(label)}: {'up' if state.up else 'DOWN'}, {len(state.tasks)} tasks</li>")
    page = _PAGE.format(
        version=html.escape(__version__),
        targets="\n".join(targets) or "<li>none configured</li>",
        rows="\n".join(rows) or '<tr><td colspan="8">No tracked tasks.</td></tr>',
    )
    return web.Response(text=page, content_type="text/html")


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Huawei Cloud task exporter</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
tr.failed td {{ background: #fdd; }} tr.running td {{ background: #def; }} tr.succeeded td {{ background: #dfd; }}
tr.stopped td, tr.unknown td {{ background: #eee; }}
</style></head>
<body>
<h1>Huawei Cloud task exporter</h1>
<p>Version {version}.
<a href="metrics">Metrics</a> &middot; <a href="-/healthy">Health</a> &middot; <a href="-/ready">Readiness</a></p>
<h2>Targets</h2>
<ul>
{targets}
</ul>
<h2>Tracked tasks</h2>
<table>
<tr><th>Account</th><th>Service</th><th>Region</th><th>Task</th><th>State</th><th>Progress</th><th>Duration</th>
<th>Last error</th></tr>
{rows}
</table>
</body></html>
"""


def make_app(exporter: Exporter) -> web.Application:
    app = web.Application()
    app[EXPORTER] = exporter
    app.router.add_get("/", landing)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    app.router.add_put("/-/reload", reload)

    async def close(app: web.Application) -> None:
        await app[EXPORTER].aclose()

    app.on_cleanup.append(close)
    return app


@dataclass(frozen=True)
class Serving:
    """A started server: the port it bound (useful with port 0) and how to stop it."""

    port: int
    stop: Callable[[], Awaitable[None]]


async def serve(app: web.Application, host: str, port: int) -> Serving:
    """Start serving `app` on host:port (0: any free port)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = port
    for address in runner.addresses:
        bound = int(address[1])
    return Serving(bound, runner.cleanup)
