"""bench/intake.py's quick mode (issue 23): the delay from a job's start to its first sample, with push and
without, has its rows, and the facts that must hold do.

With push (SMN, delivered within a simulated second): every job is on /metrics before it finishes, its p95
delay is at most two scrape intervals (the push comes within a second, the refresh it starts or the next
scrape asks the new job at once), nothing is refused, and without Cloud Trace discovery no ListTraces call
is made at all. Without push: the jobs begin at every phase of the 5-minute discovery cycle, so the delay
is spread over 0-300 s; its p95 is asserted at least half the discovery interval (the expected p95 is
about 285 s; half leaves room for a sample of 20 jobs), its median above push's p95, and short jobs are
found already finished. No job shows before it begins (the bench dates each job's trace at its begin)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "intake.py"
WINDOW, JOBS, INTERVAL = 600.0, 20, 15.0


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_intake", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_intake"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures() -> tuple[list[str], dict[str, Any]]:
    bench = load()
    mp = pytest.MonkeyPatch()
    mp.setenv("T", bench.DEMO_TOKEN)  # main_async sets it too; undone below
    try:
        result: tuple[list[str], dict[str, Any]] = asyncio.run(bench.main_async(WINDOW, JOBS, (INTERVAL,)))
    finally:
        mp.undo()
    return result


def runs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["setup"]: r for r in data["runs"]}


def test_the_table_has_a_row_per_set_up(figures: tuple[list[str], dict[str, Any]]) -> None:
    lines, data = figures
    assert lines[0].startswith("intake: 10 simulated min, 20 EVS and ECS jobs") and "no CTS delay" in lines[0]
    assert lines[1].startswith("| set-up | interval |") and "p95" in lines[1] and "ListTraces" in lines[1]
    assert [(r["setup"], r["interval"]) for r in data["runs"]] == [
        ("discovery", 15.0), ("discovery + push", 15.0), ("push only", 15.0)
    ]  # fmt: skip
    assert [line.split(" | ")[0] for line in lines[3:]] == ["| discovery", "| discovery + push", "| push only"]
    assert 0 < data["short_jobs"] < data["jobs"] == JOBS
    for row in data["runs"]:
        assert row["jobs"] == JOBS and row["scrapes"] > WINDOW / INTERVAL
        assert row["delay_min"] >= 0, row  # never before the job began
        assert row["floor_p95"] <= INTERVAL


def test_with_push_every_job_is_seen_within_two_scrapes_with_no_list_call(
    figures: tuple[list[str], dict[str, Any]],
) -> None:
    by = runs(figures[1])
    for setup in ("discovery + push", "push only"):
        row = by[setup]
        assert (row["seen"], row["unseen"], row["late"]) == (JOBS, 0, 0), row
        assert (row["pushes"], row["refused"]) == (JOBS, 0), row
        assert row["delay_p95"] <= 2 * INTERVAL and row["delay_max"] <= 2 * INTERVAL, row
    alone = by["push only"]
    assert alone["list_calls"] == 0 and alone["without_list"] == JOBS  # found by the push, never by a list


def test_without_push_the_delay_is_of_the_discovery_intervals_order(
    figures: tuple[list[str], dict[str, Any]],
) -> None:
    by = runs(figures[1])
    row, pushed = by["discovery"], by["discovery + push"]
    assert row["pushes"] == 0 and row["seen"] == JOBS and row["unseen"] == 0  # the tail gives each a discovery
    assert row["delay_p95"] >= figures[1]["discovery_interval"] / 2, row
    assert row["delay_p50"] > pushed["delay_p95"]
    assert row["late"] >= 1  # a short job finished before the discovery that found it
    assert row["list_calls"] >= 2 * (WINDOW // figures[1]["discovery_interval"])  # EVS and ECS, each discovery
    assert pushed["list_calls"] == row["list_calls"]  # push adds no list call; discovery still runs
