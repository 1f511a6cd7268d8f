"""Cloud calls per task-hour (issue 22): what the exporter asks the fake cloud for a mixed population of
tasks, for one scraper and for an HA pair at offset phases, at scrape intervals 15 s and 60 s, beside the
minimum for the same freshness, and the delay from a task's final state in the cloud to the exporter's;
then what a list refresh saves at 50 unfinished tasks per target.

    python bench/calls.py [--quick] [--hours H] [--json FILE] [--poll-interval 30s]

Simulated time: the fake cloud and the exporter share one clock that the bench moves from scrape to
scrape; each scrape is a GET /metrics over a real socket on 127.0.0.1. The population (built here with
``parse_scenario``):

- short jobs: a CodeArts Check task every 97 s running 301 s (found by its list, then asked one by
  one) and a CPH job every 127 s running 613 s (its list carries the status);
- hour-long backups: 30 CBR operations (list carries the status), begun 0-1 h before the start, each
  running an hour;
- day-long migrations: 8 SMS tasks (asked one by one), begun 0-24 h before, each running a day.

The minimum for the same freshness asks each task once when it is new and then once per its poll
interval, 30 s growing with its age (a tenth of it) up to 5 min, and a list-capable target once per page
(ceil(unfinished / page size)) per the shortest interval among its unfinished tasks; and, as the same
freshness of finding tasks, each list once per discovery interval (30 s here, for the short jobs; one
page: a call that both discovers and refreshes counts once). The "scrape floor" is the delay an exporter
that knew each final state at once would show: to the first scrape after it.

The list refresh: 50 unfinished CBR backups (a list with a time window) and 50 CPH jobs (a list by request
ID, no window) on one target each, scraped every 15 s for 30 simulated minutes, tracked by their list
(`discover`) and, for comparison, named in the config (each asked on its own).
"""

from __future__ import annotations

import argparse
import asyncio
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
from exporter.simulator import DEMO_TOKEN, Scenario, Simulator, parse_scenario, start_simulator

NOW = 1_800_000_000.0
PROJECT = "0123456789abcdef0123456789abcdef"
CODEARTS_PROJECT = "9f3c2a1e5b7d4c8e9a6b0d1f2e3c4a5b"
REQUEST_ID = "7e9a1c3b5d7f4e2a8c0b6d4f1a3e5c02"
BASE_POLL, MAX_POLL = 30.0, 300.0
PAGE = {"cbr": 100, "cph": 100}  # the specs' paging limits (list-capable: `carries_status`)
PHASE = 4.3
DISCOVERY = 30.0  # the bench's tracking.discovery_interval
LISTS = ("cbr", "cph", "codearts_check")  # the discovered services (CBR and CPH: their lists carry the status)
GOLDEN = (math.sqrt(5) - 1) / 2
FINAL = ("succeeded", "failed", "stopped")
STATUS_LINE = re.compile(r'^huaweicloud_task_status\{[^}]*?task_id="([^"]+)"[^}]*\} 1', re.M)
STATE = re.compile(r'state="(\w+)"')


@dataclass(frozen=True, slots=True)
class Life:
    """One task: the service (a list-capable one refreshes by listing), when it began and ended (None: runs
    past the window), in seconds from the start."""

    service: str
    begin: float
    end: float | None


def population(hours: float) -> tuple[dict[str, Any], dict[str, Life]]:
    """The scenario document and every task's life (generated ones included) over the window."""
    tasks: list[dict[str, Any]] = []
    lives: dict[str, Life] = {}
    for n in range(30):  # hour-long backups, begun up to an hour ago
        began = -3600 * ((n * GOLDEN + 0.01) % 1)  # spread, off whole seconds
        task_id = f"cb5b{n:028x}"
        tasks.append(
            {
                "cloud_service": "cbr",
                "task_id": task_id,
                "job_type": "backup",
                "begin": began,
                "phases": [
                    {"after": 0, "status": "running", "progress": 50},
                    {"after": began + 3600, "status": "success", "progress": 100},
                ],
            }
        )
        lives[task_id] = Life("cbr", began, began + 3600)
    for n in range(8):  # day-long migrations, begun up to a day ago
        began = -86400 * ((n * GOLDEN + 0.01) % 1)
        task_id = f"5350b000-0000-4000-8000-{n:012x}"
        tasks.append(
            {
                "cloud_service": "sms",
                "task_id": task_id,
                "job_type": "MIGRATE_BLOCK",
                "begin": began,
                "phases": [
                    {"after": 0, "status": "RUNNING", "remaining": 3600},
                    {"after": began + 86400, "status": "MIGRATE_SUCCESS"},
                ],
            }
        )
        lives[task_id] = Life("sms", began, began + 86400)
    generators = [
        {"cloud_service": "codearts_check", "every": 97, "run_for": 301, "codearts_project_id": CODEARTS_PROJECT},
        {"cloud_service": "cph", "every": 127, "run_for": 613, "request_id": REQUEST_ID},
    ]
    document = {"static_tokens": [DEMO_TOKEN], "tasks": tasks, "generators": generators}
    return document, lives


def generated_lives(scenario: Scenario, window: float) -> dict[str, Life]:
    from exporter.simulator import generated_task_id

    lives = {}
    for gen in scenario.generators:
        for n in range(1, int(window // gen.every) + 2):
            begin = gen.start + (n - 1) * gen.every
            if begin < window:
                lives[generated_task_id(gen.cloud_service, gen.index, n)] = Life(
                    gen.cloud_service, begin, begin + gen.run_for
                )
    return lives


def config(url: str, lives: dict[str, Life], poll: str = "30s") -> dict[str, Any]:
    common = {"account": "t", "region": "cn-north-4", "project_id": PROJECT, "endpoint": url}
    sms = [task_id for task_id, life in lives.items() if life.service == "sms"]
    return {
        "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
        "tracking": {"discovery_interval": "30s", "finished_ttl": "24h", "poll_interval": poll},
        "services": [
            {"cloud_service": "cbr", "discover": True, **common},
            {"cloud_service": "cph", "discover": {"request_ids": [REQUEST_ID]}, **common},
            {"cloud_service": "codearts_check", "discover": {"codearts_projects": [CODEARTS_PROJECT]}, **common},
            {"cloud_service": "sms", "tasks": sms, **common},
        ],
    }


def poll_interval(age: float) -> float:
    return min(MAX_POLL, max(BASE_POLL, age / 10))


def task_hours(lives: dict[str, Life], window: float) -> float:
    return (
        sum(
            min(window, life.end if life.end is not None else window) - max(0.0, life.begin)
            for life in lives.values()
            if life.begin < window and (life.end is None or life.end > 0)
        )
        / 3600
    )


def minimum_calls(lives: dict[str, Life], window: float, step: float = 1.0) -> tuple[float, float]:
    """(status calls, list calls) of the minimum: each task once when new, then once per its poll interval;
    each list once per discovery interval, or, for a list-capable one, once per page per the shortest
    interval among its unfinished tasks when that is more often (integrated over the window, `step` s apart)."""
    status = 0.0
    for life in lives.values():
        if life.service not in PAGE and life.begin < window and (life.end is None or life.end > 0):
            status += 1
    lists = 0.0
    t = 0.0
    while t < window:
        listed: dict[str, list[float]] = {}
        for life in lives.values():
            if life.begin <= t and (life.end is None or t < life.end):
                if life.service in PAGE:
                    listed.setdefault(life.service, []).append(poll_interval(t - life.begin))
                else:
                    status += step / poll_interval(t - life.begin)
        for service in LISTS:
            intervals = listed.get(service, [])
            rate = math.ceil(len(intervals) / PAGE[service]) / min(intervals) if intervals else 0.0
            lists += step * max(rate, 1 / DISCOVERY)
        t += step
    return status, lists


@dataclass(slots=True)
class Run:
    scrapers: int
    interval: float
    calls: int = 0
    lists: int = 0
    scrapes: int = 0
    delays: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)  # to the first scrape after each final state
    missed: int = 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else math.nan


def scrape_times(scrapers: int, interval: float, window: float) -> list[float]:
    """Each scraper every `interval` s from 4.3 s (off the tasks' whole-minute ends, so that the delays are
    not all 0); the second at an offset phase, 0.4 of the interval later."""
    offsets = [PHASE, PHASE + 0.4 * interval][:scrapers]
    return sorted(o + k * interval for o in offsets for k in range(int((window - o) // interval) + 1))


async def measure(scrapers: int, interval: float, hours: float, work: Path, poll: str = "30s") -> Run:
    window = hours * 3600
    document, lives = population(hours)
    scenario = parse_scenario(document)
    lives |= generated_lives(scenario, window)
    now = [NOW]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    sim = Simulator(scenario, clock=clock)
    run = Run(scrapers, interval)
    seen_final: set[str] = set()
    async with await start_simulator(sim) as cloud:
        path = work / "config.yaml"
        path.write_text(yaml.safe_dump(config(cloud.url, lives, poll)), encoding="utf-8")
        exporter = Exporter(load_config(path), clock=clock)
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30) as http:
                for at in scrape_times(scrapers, interval, window):
                    now[0] = NOW + at
                    text = (await http.get("/metrics")).text
                    run.scrapes += 1
                    for line in STATUS_LINE.finditer(text):
                        task_id, state = line.group(1), STATE.search(line.group(0))
                        life = lives.get(task_id)
                        if state and state.group(1) in FINAL and task_id not in seen_final and life is not None:
                            seen_final.add(task_id)
                            if life.end is not None and life.end > 0:
                                run.delays.append(at - life.end)
                                times = scrape_times(scrapers, interval, window)
                                run.floor.append(next(x for x in times if x >= life.end) - life.end)
        finally:
            await serving.stop()
            await exporter.aclose()
    run.calls = sim.stats.requests_total
    run.lists = sum(sim.stats.list_requests.values())
    last = scrape_times(scrapers, interval, window)[-1]
    run.missed = sum(
        1
        for t, life in lives.items()
        if life.end is not None and 0 < life.end <= last - interval and t not in seen_final
    )
    return run


def table(runs: list[Run], hours: float) -> tuple[list[str], dict[str, Any]]:
    window = hours * 3600
    _, lives = population(hours)
    lives |= generated_lives(parse_scenario(population(hours)[0]), window)
    th = task_hours(lives, window)
    status, lists = minimum_calls(lives, window)
    floor = status + lists
    lines = [
        f"calls: {hours:g} simulated h, {len(lives)} tasks, {th:.1f} task-hours; minimum "
        f"{floor / th:.1f} calls per task-hour ({status:.0f} status calls + {lists:.0f} list calls)",
        "| scrapers | interval | scrapes | cloud calls (lists) | calls per task-hour | x minimum | "
        "final-state delay p50 | p95 | scrape floor p95 | finals seen | missed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for r in runs:
        per = r.calls / th
        p50, p95, p95_floor = percentile(r.delays, 0.5), percentile(r.delays, 0.95), percentile(r.floor, 0.95)
        lines.append(
            f"| {r.scrapers} | {r.interval:g} s | {r.scrapes} | {r.calls} ({r.lists}) | {per:.1f} "
            f"| {r.calls / floor:.2f} | {p50:.0f} s | {p95:.0f} s | {p95_floor:.0f} s | {len(r.delays)} | {r.missed} |"
        )
        rows.append(
            {
                "scrapers": r.scrapers,
                "interval": r.interval,
                "scrapes": r.scrapes,
                "calls": r.calls,
                "list_calls": r.lists,
                "calls_per_task_hour": per,
                "x_minimum": r.calls / floor,
                "delay_p50": p50,
                "delay_p95": p95,
                "floor_p95": p95_floor,
                "finals": len(r.delays),
                "missed": r.missed,
            }
        )
    lines.append(
        f"| minimum | poll 30 s -> 5 min | | {floor:.0f} ({lists:.0f}) | {floor / th:.1f} | 1.00 | | "
        "<= poll interval | | | |"
    )
    figures = {
        "hours": hours,
        "tasks": len(lives),
        "task_hours": th,
        "minimum_calls": floor,
        "minimum_list_calls": lists,
        "minimum_per_task_hour": floor / th,
        "runs": rows,
    }
    return lines, figures


@dataclass(frozen=True, slots=True)
class ListRun:
    service: str
    tasks: int
    by_list: int  # cloud calls with the tasks tracked by their list
    alone: int  # ... and named in the config, each asked on its own


async def list_refresh(service: str, tasks: int, minutes: float, work: Path, poll: str) -> ListRun:
    """`tasks` unfinished tasks of one target, scraped every 15 s for `minutes`: the cloud calls when the
    list refreshes them, and when each is asked on its own."""
    calls = []
    now = [NOW]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    for discover in (True, False):
        document: dict[str, Any] = {"static_tokens": [DEMO_TOKEN], "tasks": []}
        ids = []
        for n in range(tasks):
            task_id = f"cb5b{n:028x}" if service == "cbr" else f"cbf{n:029x}"
            ids.append(task_id)
            entry = {"cloud_service": service, "task_id": task_id, "begin": -60 - n,
                     "phases": [{"after": 0, "status": "running" if service == "cbr" else 1}]}  # fmt: skip
            entry |= {"job_type": "backup"} if service == "cbr" else {"request_id": REQUEST_ID}
            document["tasks"].append(entry)
        now[0] = NOW
        sim = Simulator(parse_scenario(document), clock=clock)
        async with await start_simulator(sim) as cloud:
            common = {"account": "t", "region": "cn-north-4", "project_id": PROJECT, "endpoint": cloud.url}
            found: Any = {"request_ids": [REQUEST_ID]} if service == "cph" else True
            target = {"cloud_service": service, **common, **({"discover": found} if discover else {"tasks": ids})}
            text = {
                "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
                "tracking": {"discovery_interval": "5m", "finished_ttl": "24h", "poll_interval": poll},
                "services": [target],
            }
            path = work / "lists.yaml"
            path.write_text(yaml.safe_dump(text), encoding="utf-8")
            exporter = Exporter(load_config(path), clock=clock)
            try:
                for k in range(int(minutes * 4)):
                    now[0] = NOW + PHASE + 15 * k
                    await exporter.tracker.refresh(10)
            finally:
                await exporter.aclose()
        calls.append(sim.stats.requests_total)
    return ListRun(service, tasks, calls[0], calls[1])


def list_table(runs: list[ListRun], minutes: float) -> tuple[list[str], list[dict[str, Any]]]:
    lines = [
        f"list refresh: one target, unfinished tasks scraped every 15 s for {minutes:g} simulated min",
        "| service | unfinished tasks | calls, tracked by the list | calls, each asked alone | cut |",
        "|---|---|---|---|---|",
    ]
    rows = []
    for r in runs:
        cut = r.alone / max(r.by_list, 1)
        lines.append(f"| {r.service} | {r.tasks} | {r.by_list} | {r.alone} | {cut:.1f}x |")
        rows.append({"service": r.service, "tasks": r.tasks, "by_list": r.by_list, "alone": r.alone, "cut": cut})
    return lines, rows


def goals(figures: dict[str, Any], poll: float) -> list[str]:
    """Issue 22's goals, each with its figure and whether it holds."""
    runs = {(r["scrapers"], r["interval"]): r for r in figures["runs"]}
    said = []

    def goal(text: str, holds: bool) -> None:
        said.append(f"- {text}: {'met' if holds else 'NOT MET'}")

    for interval in (15.0, 60.0):
        one, pair = runs[(1, interval)], runs[(2, interval)]
        goal(f"{interval:g} s: one scraper {one['x_minimum']:.2f}x the minimum (<= 1.2)", one["x_minimum"] <= 1.2)
        goal(f"{interval:g} s: HA pair {pair['x_minimum']:.2f}x the minimum (<= 1.2)", pair["x_minimum"] <= 1.2)
        ratio = pair["calls"] / one["calls"]
        goal(f"{interval:g} s: HA pair {ratio:.3f}x one scraper (within 5 %)", ratio <= 1.05)
        bound = max(poll, one["floor_p95"])
        goal(
            f"{interval:g} s: final-state delay p95 {one['delay_p95']:.0f} s, pair {pair['delay_p95']:.0f} s "
            f"(<= the poll interval {poll:g} s, or the scrape floor {one['floor_p95']:.0f} s where scrapes are "
            "further apart)",
            max(one["delay_p95"], pair["delay_p95"]) <= bound,
        )
    for row in figures["lists"]:
        goal(f"list refresh {row['service']}: {row['cut']:.1f}x fewer calls at {row['tasks']} tasks (>= 10)",
             row["cut"] >= 10)  # fmt: skip
    return said


async def main_async(hours: float, poll: str = "30s", list_minutes: float = 30.0) -> tuple[list[str], dict[str, Any]]:
    """The four runs and the list refreshes; `poll` is the exporter's tracking.poll_interval (its default)."""
    os.environ["T"] = DEMO_TOKEN
    runs = []
    with tempfile.TemporaryDirectory() as work:
        for interval in (15.0, 60.0):
            for scrapers in (1, 2):
                runs.append(await measure(scrapers, interval, hours, Path(work), poll))
        lists = [await list_refresh(service, 50, list_minutes, Path(work), poll) for service in ("cbr", "cph")]
    lines, figures = table(runs, hours)
    more, figures["lists"] = list_table(lists, list_minutes)
    seconds = float(poll[:-1]) * {"s": 1, "m": 60}[poll[-1]] if poll[-1] in "sm" else float(poll)
    said = goals(figures, seconds)
    figures["goals"] = said
    return [*lines, "", *more, "", "goals:", *said], figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 simulated minutes instead of 2 hours")
    parser.add_argument("--hours", type=float, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("--poll-interval", default="30s", help="the exporter's tracking.poll_interval (default 30s)")
    args = parser.parse_args()
    hours = args.hours if args.hours is not None else (1 / 6 if args.quick else 2.0)
    started = time.monotonic()
    lines, figures = asyncio.run(main_async(hours, args.poll_interval, 10.0 if args.quick else 30.0))
    print("\n".join(lines))
    print(f"({time.monotonic() - started:.0f} s of wall time)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
