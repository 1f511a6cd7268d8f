"""bench/calls.py's quick mode (issue 22, item 6): the table of cloud calls per task-hour has its rows, and
today's facts hold. Issue 22's next steps change these facts on purpose: when answers are shared (item 2)
an HA pair costs one scraper and the ratio asserted below falls to about 1.0, and the poll intervals
(item 1) bring the 15 s scraper near the minimum; this test must then be updated with them."""

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
        result: tuple[list[str], dict[str, Any]] = asyncio.run(calls.main_async(1 / 6))
    finally:
        mp.undo()
    return result


def test_the_table_has_a_row_per_set_up_and_the_minimum(figures: tuple[list[str], dict[str, Any]]) -> None:
    lines, data = figures
    assert lines[0].startswith("calls: ") and "calls per task-hour" in lines[0]
    assert lines[1].startswith("| scrapers | interval |") and "p95" in lines[1]
    assert [(r["scrapers"], r["interval"]) for r in data["runs"]] == [(1, 15.0), (2, 15.0), (1, 60.0), (2, 60.0)]
    assert len(lines) == 3 + 4 + 1 and lines[-1].startswith("| minimum |")
    assert data["task_hours"] > 0 and data["minimum_calls"] > 0
    for row in data["runs"]:
        assert row["calls"] > 0 and row["finals"] > 0 and row["missed"] == 0
        assert math.isfinite(row["delay_p50"]) and 0 <= row["delay_p50"] <= row["delay_p95"]


def test_todays_exporter_an_ha_pair_costs_about_twice_one_scraper(figures: tuple[list[str], dict[str, Any]]) -> None:
    """Today every scrape asks every unfinished task: two scrapers ask twice. Issue 22 item 2 makes this
    ratio about 1.0 (within 5 %); update this test when it lands."""
    runs = {(r["scrapers"], r["interval"]): r for r in figures[1]["runs"]}
    for interval in (15.0, 60.0):
        ratio = runs[(2, interval)]["calls"] / runs[(1, interval)]["calls"]
        assert 1.5 <= ratio <= 2.5, (interval, ratio)
    # Scraping every 15 s costs about four times scraping every 60 s, well above the minimum.
    assert runs[(1, 15.0)]["x_minimum"] > 2.5
    assert 3 <= runs[(1, 15.0)]["calls"] / runs[(1, 60.0)]["calls"] <= 5


def test_todays_final_state_delay_is_within_one_scrape_interval(figures: tuple[list[str], dict[str, Any]]) -> None:
    """Every scrape asks every unfinished task, so a final state shows at the next scrape."""
    for row in figures[1]["runs"]:
        assert row["delay_p95"] <= row["interval"], row
