"""bench/calls.py's quick mode (issue 22, item 6): the table of cloud calls per task-hour has its rows, and
issue 22's goals hold on it: one scraper and an HA pair within 1.2x the minimum, the pair within 5 % of one,
the final-state delay within one poll interval (or the scrape floor, where scrapes are further apart), and
a list refresh cutting the calls at 50 unfinished tasks by 10x or more."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "calls.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_calls", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_calls"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures() -> tuple[list[str], dict[str, Any]]:
    calls = load()
    mp = pytest.MonkeyPatch()
    mp.setenv("T", calls.DEMO_TOKEN)  # main_async sets it too; undone below
    try:
        result: tuple[list[str], dict[str, Any]] = asyncio.run(calls.main_async(1 / 6, "30s", 10.0))
    finally:
        mp.undo()
    return result


def test_the_table_has_a_row_per_set_up_and_the_minimum(figures: tuple[list[str], dict[str, Any]]) -> None:
    lines, data = figures
    assert lines[0].startswith("calls: ") and "calls per task-hour" in lines[0]
    assert lines[1].startswith("| scrapers | interval |") and "p95" in lines[1] and "scrape floor" in lines[1]
    assert [(r["scrapers"], r["interval"]) for r in data["runs"]] == [(1, 15.0), (2, 15.0), (1, 60.0), (2, 60.0)]
    assert lines[3 + 4].startswith("| minimum |")
    assert data["task_hours"] > 0 and data["minimum_calls"] > data["minimum_list_calls"] > 0
    for row in data["runs"]:
        assert row["calls"] > row["list_calls"] > 0 and row["finals"] > 0 and row["missed"] == 0
        assert math.isfinite(row["delay_p50"]) and 0 <= row["delay_p50"] <= row["delay_p95"]
    assert [(r["service"], r["tasks"]) for r in data["lists"]] == [("cbr", 50), ("cph", 50)]


def test_the_goals_of_issue_22_are_met(figures: tuple[list[str], dict[str, Any]]) -> None:
    lines, data = figures
    goals = lines[lines.index("goals:") + 1 :]
    assert len(goals) == 10 and goals == data["goals"]
    assert all(goal.endswith(": met") for goal in goals), goals
    runs = {(r["scrapers"], r["interval"]): r for r in data["runs"]}
    for interval in (15.0, 60.0):
        one, pair = runs[(1, interval)], runs[(2, interval)]
        assert pair["calls"] <= 1.05 * one["calls"]  # answers younger than the interval serve both
        assert one["x_minimum"] <= 1.2 and pair["x_minimum"] <= 1.2
    assert runs[(1, 15.0)]["delay_p95"] <= 30  # the poll interval: scrapes every 15 s can show it
    assert all(row["cut"] >= 10 for row in data["lists"])


def test_a_final_state_never_shows_before_the_cloud_reports_it(figures: tuple[list[str], dict[str, Any]]) -> None:
    for row in figures[1]["runs"]:
        assert row["delay_p50"] >= 0 and row["floor_p95"] <= row["interval"], row
