"""The delay from a job's start to its first sample, with push and without (issue 23): EVS and ECS jobs that
start during the window, found by the account's Cloud Trace discovery alone, by the same plus SMN push
intake, and by push alone; scraped every 15 s and 60 s.

    python bench/intake.py [--quick] [--hours H] [--json FILE]

Simulated time: the fake cloud (over HTTPS, with a test PKI made at run time), the exporter and the SMN
pusher share one clock that the bench moves one second at a time; each scrape is a GET /metrics over a
real socket on 127.0.0.1, and each push a signed SMN notification POSTed to the exporter's /intake/smn.

The population (built with ``parse_scenario``): a job begins every ``window / jobs`` seconds (offsets spread
by the golden ratio inside each slot, so they fall at every phase of the scrape and discovery cycles),
EVS and ECS alternating; three of every four are short (30-120 s), the fourth long (20-60 min). Each is
created by the call that starts it: the bench sets a scenario task's ``created`` to its ``begin`` (a
scenario task otherwise exists from the simulator's start, and its trace would be dated and listable
from then, before the job begins). Scrapes go on for one discovery interval and two scrapes after the
last job began, so that every job can be found.

The set-ups:

- ``discovery``: ``accounts[].discover.cloud_trace: {service_types: [EVS, ECS]}`` at the default
  ``tracking.discovery_interval`` (5 min). The fake cloud lists a job's trace from the moment the job is
  created (`exporter/simulator/traces.py`: a trace is stamped with the task's creation time and
  ListTraces answers it from then): no CTS delay is modelled, so these delays are a floor; Huawei's CTS
  FAQ says traces can take "usually several minutes" more.
- ``discovery + push``: the same plus ``intake.smn`` (a topic of the fake cloud, its signing certificate
  fetched over HTTPS from the fake cloud): the pusher sends the notifications of the jobs begun by then
  once per simulated second (SMN delivers within seconds; modelled as at most one second).
- ``push only``: ``intake.smn`` without Cloud Trace discovery: no ListTraces call at all.

Per job: the first scrape whose /metrics has a ``huaweicloud_task_status`` sample of its task ID, minus
the job's begin; "seen late" counts the jobs first seen already finished, "unseen" those never seen. The
"scrape floor" is the delay an exporter that knew of each job at once would show: to the first scrape
after its begin.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import yaml

from exporter.app import Exporter
from exporter.config import load_config
from exporter.exposition.server import make_app, serve
from exporter.log import setup_logging
from exporter.simulator import DEFAULT_PROJECT_ID, DEMO_TOKEN, Scenario, Simulator, parse_scenario, start_simulator
from exporter.simulator.push import FakePki, Pusher, smn_topic

NOW = 1_800_000_000.0
PHASE = 4.3  # the first scrape, off whole seconds
DISCOVERY = 300.0  # the default tracking.discovery_interval
GOLDEN = (math.sqrt(5) - 1) / 2
SETUPS = ("discovery", "discovery + push", "push only")
STATUS_LINE = re.compile(r'^huaweicloud_task_status\{[^}]*?task_id="([^"]+)"[^}]*\} 1', re.M)
STATE = re.compile(r'state="(\w+)"')
FINAL = ("succeeded", "failed", "stopped")


@dataclass(frozen=True, slots=True)
class Job:
    service: str
    task_id: str
    begin: float
    end: float


def population(window: float, jobs: int) -> tuple[dict[str, Any], list[Job]]:
    """The scenario document and the jobs: one begins in each of `jobs` slots of the window."""
    slot = window / jobs
    tasks, lives = [], []
    for n in range(jobs):
        service = ("evs", "ecs")[n % 2]
        begin = round(slot * (n + 0.05 + 0.9 * ((n * GOLDEN) % 1)), 1)
        runs = 30 + 90 * ((n * GOLDEN * 3) % 1) if n % 4 != 3 else 1200 + 2400 * ((n * GOLDEN * 5) % 1)
        end = round(begin + runs, 1)
        task_id = f"e750b{n:027x}" if service == "evs" else f"ec50b{n:027x}"
        tasks.append({"cloud_service": service, "task_id": task_id, "begin": begin,
                      "phases": [{"after": 0, "status": "RUNNING"}, {"after": end, "status": "SUCCESS"}]})  # fmt: skip
        lives.append(Job(service, task_id, begin, end))
    return {"static_tokens": [DEMO_TOKEN], "tasks": tasks}, lives


def scenario_of(document: dict[str, Any]) -> Scenario:
    """The scenario with each task created when it begins (its trace dated and listable from then)."""
    scenario = parse_scenario(document)
    tasks = tuple(dataclasses.replace(task, created=task.begin) for task in scenario.tasks)
    return dataclasses.replace(scenario, tasks=tasks)


def config(url: str, ca: Path, setup: str) -> dict[str, Any]:
    account: dict[str, Any] = {"name": "prod", "cloud": "custom", "auth": {"type": "token", "token": "${T}"},
                               "tls": {"ca_file": str(ca)}}  # fmt: skip
    if setup != "push only":
        account["discover"] = {"cloud_trace": {"service_types": ["EVS", "ECS"], "endpoint": url}}
    common = {"account": "prod", "region": "cn-north-4", "project_id": DEFAULT_PROJECT_ID, "endpoint": url}
    document: dict[str, Any] = {
        "accounts": [account],
        "services": [{"cloud_service": "evs", **common}, {"cloud_service": "ecs", **common}],
    }
    if setup != "discovery":
        host = url.removeprefix("https://").rstrip("/")
        document["intake"] = {
            "smn": {
                "topics": [{"urn": f"urn:smn:cn-north-4:{DEFAULT_PROJECT_ID}:task-events", "account": "prod"}],
                "certificate_hosts": [host],
                "ca_file": str(ca),
            },
            # Per sender per real second: the bench's two simulated hours pass in seconds of real time.
            "rate_limit": 10000,
        }
    return document


@dataclass(slots=True)
class Run:
    setup: str
    interval: float
    jobs: int
    scrapes: int = 0
    list_calls: int = 0  # ListTraces
    status_calls: int = 0  # every other cloud call
    pushes: int = 0
    refused: int = 0  # pushes not answered 200
    delays: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    late: int = 0  # first seen already finished
    unseen: int = 0
    without_list: int = 0  # seen with no ListTraces call since the job began


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else math.nan


def scrape_times(interval: float, end: float) -> list[float]:
    return [PHASE + k * interval for k in range(int((end - PHASE) // interval) + 1)]


@dataclass(slots=True)
class Watch:
    """What the scrapes saw of each job: when first, and the ListTraces count when each job began."""

    jobs: dict[str, Job]
    first: dict[str, tuple[float, bool, int]] = field(default_factory=dict)  # at, finished then, lists then
    lists_at_begin: dict[str, int] = field(default_factory=dict)

    def began(self, at: float, lists: int) -> None:
        for job in self.jobs.values():
            if job.begin <= at and job.task_id not in self.lists_at_begin:
                self.lists_at_begin[job.task_id] = lists

    def scraped(self, at: float, text: str, lists: int) -> None:
        for line in STATUS_LINE.finditer(text):
            task_id, state = line.group(1), STATE.search(line.group(0))
            if task_id in self.jobs and task_id not in self.first:
                self.first[task_id] = (at, bool(state and state.group(1) in FINAL), lists)


async def measure(setup: str, interval: float, window: float, jobs: int, work: Path, pki: FakePki) -> Run:
    document, lives = population(window, jobs)
    end = window + DISCOVERY + 2 * interval
    now = [NOW]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    sim = Simulator(scenario_of(document), clock=clock)
    run, watch = Run(setup, interval, jobs), Watch({job.task_id: job for job in lives})
    scrapes = scrape_times(interval, end)
    async with await start_simulator(sim, ssl_context=pki.server_context()) as cloud:
        path = work / "config.yaml"
        ca = pki.write_ca(work / "ca.pem")
        path.write_text(yaml.safe_dump(config(cloud.url, ca, setup)), encoding="utf-8")
        exporter = Exporter(load_config(path), clock=clock)
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        base = f"http://127.0.0.1:{serving.port}"
        pusher = Pusher(f"{base}/intake/smn", smn_topic(sim, cloud.url, pki), since=0) if "push" in setup else None
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                for second in range(int(end) + 1):
                    now[0] = NOW + second
                    watch.began(second, sim.stats.list_requests["cts"])
                    if pusher is not None:
                        for _, delivery in await pusher.push_due():
                            run.pushes += 1
                            run.refused += delivery.status != 200
                    for at in (t for t in scrapes if second <= t < second + 1):
                        now[0] = NOW + at
                        text = (await http.get("/metrics")).text
                        run.scrapes += 1
                        watch.scraped(at, text, sim.stats.list_requests["cts"])
        finally:
            await serving.stop()
            await exporter.aclose()
    run.list_calls = sim.stats.list_requests["cts"]
    run.status_calls = sim.stats.requests_total - run.list_calls
    tally(run, watch, scrapes)
    return run


def tally(run: Run, watch: Watch, scrapes: list[float]) -> None:
    for task_id, job in watch.jobs.items():
        run.floor.append(next(t for t in scrapes if t >= job.begin) - job.begin)
        if task_id not in watch.first:
            run.unseen += 1
            continue
        at, finished, lists = watch.first[task_id]
        run.delays.append(at - job.begin)
        run.late += finished
        run.without_list += lists == watch.lists_at_begin.get(task_id, -1)


def row(r: Run) -> dict[str, Any]:
    return {
        "setup": r.setup,
        "interval": r.interval,
        "jobs": r.jobs,
        "scrapes": r.scrapes,
        "delay_p50": percentile(r.delays, 0.5),
        "delay_p95": percentile(r.delays, 0.95),
        "delay_min": min(r.delays) if r.delays else math.nan,
        "delay_max": max(r.delays) if r.delays else math.nan,
        "floor_p95": percentile(r.floor, 0.95),
        "seen": len(r.delays),
        "late": r.late,
        "unseen": r.unseen,
        "without_list": r.without_list,
        "list_calls": r.list_calls,
        "status_calls": r.status_calls,
        "pushes": r.pushes,
        "refused": r.refused,
    }


def table(runs: list[Run], window: float) -> tuple[list[str], dict[str, Any]]:
    rows = [row(r) for r in runs]
    jobs = runs[0].jobs if runs else 0
    _, lives = population(window, jobs)
    short = sum(1 for job in lives if job.end - job.begin <= 120)
    lines = [
        f"intake: {window / 60:g} simulated min, {jobs} EVS and ECS jobs beginning in it ({short} short, 30-120 s; "
        f"the rest 20-60 min); Cloud Trace discovery every {DISCOVERY:g} s (the default), a trace listable the "
        "moment its job is created (no CTS delay modelled: discovery's figures are a floor); SMN push within 1 s",
        "| set-up | interval | scrapes | delay p50 | p95 | max | scrape floor p95 | seen | seen late (finished) "
        "| unseen | seen with no list call | ListTraces calls | other cloud calls | pushes (refused) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setup']} | {r['interval']:g} s | {r['scrapes']} | {r['delay_p50']:.0f} s | {r['delay_p95']:.0f} s "
            f"| {r['delay_max']:.0f} s | {r['floor_p95']:.0f} s | {r['seen']}/{r['jobs']} | {r['late']} | "
            f"{r['unseen']} | {r['without_list']} | {r['list_calls']} | {r['status_calls']} | "
            f"{r['pushes']} ({r['refused']}) |"
        )
    figures = {"minutes": window / 60, "jobs": jobs, "short_jobs": short, "discovery_interval": DISCOVERY,
               "runs": rows}  # fmt: skip
    return lines, figures


async def main_async(
    window: float, jobs: int, intervals: tuple[float, ...] = (15.0, 60.0)
) -> tuple[list[str], dict[str, Any]]:
    os.environ["T"] = DEMO_TOKEN
    pki = FakePki.generate()
    runs = []
    with tempfile.TemporaryDirectory() as work:
        for interval in intervals:
            for setup in SETUPS:
                runs.append(await measure(setup, interval, window, jobs, Path(work), pki))
    return table(runs, window)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 simulated minutes, 20 jobs, 15 s scrapes only")
    parser.add_argument("--hours", type=float, default=None, help="the window (default 2 h: 120 jobs)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = parser.parse_args()
    hours = args.hours if args.hours is not None else (1 / 6 if args.quick else 2.0)
    jobs = max(8, round(hours * 60)) if not args.quick else 20
    intervals = (15.0,) if args.quick else (15.0, 60.0)
    setup_logging("warning")
    started = time.monotonic()
    lines, figures = asyncio.run(main_async(hours * 3600, jobs, intervals))
    print("\n".join(lines))
    print(f"({time.monotonic() - started:.0f} s of wall time)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
