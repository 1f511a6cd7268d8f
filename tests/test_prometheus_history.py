"""Completions over time on a real Prometheus (issue 20): Debian's `prometheus` scrapes the exporter
every second while the fake cloud's tasks finish (its simulated clock moved forward in steps, the
exporter on the same clock). `increase(huaweicloud_task_completions_total[...])` must equal the tasks
that finished, per job type and state, including the first completion of a job type first seen already
final (added by a reload after it ended); a task that ended before the exporter started counts
nothing; a restarted exporter adds nothing; the duration histogram's exemplars reach Prometheus."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.app import Exporter
from exporter.config import load_config
from exporter.demo import aksk_auth, demo_config
from exporter.exposition.server import Serving, make_app, serve
from exporter.simulator import DEMO_SECRET_KEY, Simulator, parse_scenario, start_simulator
from exporter.simulator.app import RunningSimulator
from tests.test_prometheus_e2e import query, running_prometheus, wait_for

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")

PROJECT = "0123456789abcdef0123456789abcdef"


def evs(n: int, job_type: str, final: str, at: float) -> dict[str, Any]:
    return {
        "cloud_service": "evs", "task_id": f"e7a0{n:028d}", "job_type": job_type,
        "phases": [{"after": 0, "status": "RUNNING"}, {"after": at, "status": final}],
    }  # fmt: skip


EXPORTER_STARTS = 15  # simulated seconds after the fake cloud
TASKS = [
    evs(1, "createVolume", "SUCCESS", 35),
    evs(2, "createVolume", "FAIL", 40),
    evs(3, "extendVolume", "SUCCESS", 45),
    evs(4, "createVolume", "SUCCESS", 50),
    evs(5, "deleteVolume", "SUCCESS", 20),  # named only by a reload at 55 s: first seen already final
    evs(6, "createVolume", "SUCCESS", 10),  # ended before the exporter started
]
LATE = TASKS[4]["task_id"]
EXPECTED = {
    ("createVolume", "succeeded"): 2,
    ("createVolume", "failed"): 1,
    ("extendVolume", "succeeded"): 1,
    ("deleteVolume", "succeeded"): 1,
}


class Stack:
    """The fake cloud and the exporter (on the cloud's clock) on an event loop of their own, in a thread."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = self.run(self._start())

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _start(self) -> int:
        self.sim = Simulator(parse_scenario({"tasks": TASKS}))
        self.running: RunningSimulator = await start_simulator(self.sim)
        (self.workdir / "sk").write_text(DEMO_SECRET_KEY)
        self.sim.advance(EXPORTER_STARTS)
        self.config = self.workdir / "exporter.yaml"
        self.write_config(with_late=False)
        return await self.start_exporter(0)

    def write_config(self, *, with_late: bool) -> None:
        ids = [t["task_id"] for t in TASKS if with_late or t["task_id"] != LATE]
        self.config.write_text(
            demo_config(self.running.url, [("evs", PROJECT, ids)], aksk_auth(str(self.workdir / "sk")))
            # Every scrape asks every running task: the test moves the cloud's clock 10 s at a time and
            # expects each completion counted by the scrapes that follow (poll intervals: test_poll_interval.py).
            + "tracking: {poll_interval: 0}\n"
        )

    async def start_exporter(self, port: int) -> int:
        self.exporter = Exporter(load_config(self.config), clock=self.sim.now)
        self.serving: Serving = await serve(make_app(self.exporter), "127.0.0.1", port)
        return self.serving.port

    async def restart(self) -> None:
        await self.serving.stop()
        await self.start_exporter(self.port)

    def stop(self) -> None:
        async def _stop() -> None:
            await self.serving.stop()
            await self.running.close()

        self.run(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    yield stack
    stack.stop()


@pytest.fixture
def prometheus(stack: Stack, tmp_path: Path) -> Iterator[str]:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "exporter", "static_configs": [{"targets": [f"127.0.0.1:{stack.port}"]}]}],
    }
    with running_prometheus(tmp_path, config, "--enable-feature=exemplar-storage") as url:
        yield url


def scrapes(url: str) -> int:
    """How many times Prometheus has scraped the exporter successfully in the last 10 minutes (the sum of
    its `up` samples: a scrape that timed out on a loaded machine is a 0, and waited for again)."""
    result = query(url, 'sum_over_time(up{job="exporter"}[10m])')["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def scraped_again(url: str, times: int = 2) -> None:
    """Wait until Prometheus has scraped the exporter successfully `times` more times."""
    seen = scrapes(url)
    wait_for(lambda: scrapes(url) >= seen + times, f"{times} more scrapes")


def increases(url: str) -> dict[tuple[str, str], float]:
    result = query(url, "sum by (job_type, state) (increase(huaweicloud_task_completions_total[10m]))")
    return {(r["metric"]["job_type"], r["metric"]["state"]): float(r["value"][1]) for r in result["data"]["result"]}


def assert_counted(url: str) -> None:
    found = increases(url)
    counted = {key: round(value) for key, value in found.items() if value > 0.25}
    assert counted == EXPECTED, found
    assert all(abs(found[key] - n) < 0.25 for key, n in EXPECTED.items()), found


def test_increase_sees_every_completion_once_and_a_restart_adds_none(stack: Stack, prometheus: str) -> None:
    wait_for(lambda: scrapes(prometheus) >= 3, "three scrapes")
    for _ in range(4):  # 40 simulated seconds in steps, each seen by a couple of scrapes
        stack.sim.advance(10)
        scraped_again(prometheus)
    stack.write_config(with_late=True)
    assert stack.run(stack.exporter.reload()) is None
    scraped_again(prometheus, 4)
    assert_counted(prometheus)

    stack.run(stack.restart())
    scraped_again(prometheus, 4)
    now = query(prometheus, 'sum(huaweicloud_task_completions_total{job="exporter"})')["data"]["result"]
    assert float(now[0]["value"][1]) == 0.0  # the new process counts none of the tasks that ended before it
    assert_counted(prometheus)

    end = time.time()
    exemplars = httpx.get(
        f"{prometheus}/api/v1/query_exemplars",
        # The exemplars carry the exporter's (simulated, ahead) clock as their time.
        params={"query": "huaweicloud_task_completion_duration_seconds_bucket", "start": end - 600, "end": end + 3600},
        timeout=10,
    ).json()["data"]
    tasks = {e["labels"]["task_id"] for series in exemplars for e in series["exemplars"]}
    assert {TASKS[0]["task_id"], TASKS[1]["task_id"], TASKS[2]["task_id"], LATE} <= tasks, exemplars
