"""End to end for issue 5, over real sockets: tasks arrive by each source (config, task file, discovery
through the list APIs, /probe), finish and leave after their time-to-live; and while the fake cloud
keeps creating tasks, the number of series the exporter serves stays bounded.

The exporter and the fake cloud share the fake cloud's simulated clock, so minutes pass in
milliseconds and no test sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.config import load_config
from exporter.exposition.server import Serving, make_app, serve
from exporter.simulator import (
    DEFAULT_CODEARTS_PROJECT_ID,
    DEFAULT_PROJECT_ID,
    DEMO_CPH_REQUEST_IDS,
    DEMO_TOKEN,
    RunningSimulator,
    Simulator,
    churn_scenario,
    start_simulator,
)
from tests.conftest import Scrape
from tests.test_e2e import samples

STATIC_EVS = "e7500000000000000000000000000001"  # default scenario: SUCCESS at 60 s


@dataclass
class Churn:
    sim: Simulator
    running: RunningSimulator
    serving: Serving
    http: httpx.AsyncClient
    exporter: Exporter
    task_file: Path

    async def scrape(self) -> Scrape:
        response = await self.http.get("/metrics")
        assert response.status_code == 200
        await self.exporter.tracker.settle_files()  # take in a task-file check started by this scrape
        return samples(response.text)

    def hand_over(self, task_ids: list[str]) -> None:
        """What a CI pipeline does after creating tasks: write them to a task file."""
        self.task_file.write_text(yaml.safe_dump({"tasks": [{"cloud_service": "evs", "task_id": t} for t in task_ids]}))


@pytest.fixture
async def churn(tmp_path: Path) -> AsyncIterator[Churn]:
    sim = Simulator(churn_scenario())
    running = await start_simulator(sim)
    target = {"account": "demo", "region": "cn-north-4", "endpoint": running.url}
    document = {
        "accounts": [{"name": "demo", "cloud": "custom", "auth": {"type": "token", "token": DEMO_TOKEN}}],
        "tracking": {"finished_ttl": "2m", "probe_ttl": "2m", "discovery_interval": "30s", "task_files_interval": 1},
        "task_files": [str(tmp_path / "tasks" / "*.yaml")],
        "services": [
            {"cloud_service": "evs", **target, "project_id": DEFAULT_PROJECT_ID, "tasks": [STATIC_EVS]},
            {"cloud_service": "codearts_check", **target,
             "discover": {"codearts_projects": [DEFAULT_CODEARTS_PROJECT_ID]}},
            {"cloud_service": "cph", **target, "project_id": DEFAULT_PROJECT_ID,
             "discover": {"request_ids": [DEMO_CPH_REQUEST_IDS[1]]}},
        ],
    }  # fmt: skip
    (tmp_path / "tasks").mkdir()
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(document))
    exporter = Exporter(load_config(config_file), clock=sim.now)
    serving = await serve(make_app(exporter), "127.0.0.1", 0)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30)
    yield Churn(sim, running, serving, http, exporter, tmp_path / "tasks" / "pipeline.yaml")
    await http.aclose()
    await serving.stop()
    await running.close()


def tracked(data: Scrape) -> dict[str, float]:
    total: dict[str, float] = {}
    for (name, labels), value in data.items():
        if name == "huaweicloud_task_tracked":
            source = dict(labels)["source"]
            total[source] = total.get(source, 0) + value
    return total


def task_ids(data: Scrape) -> set[str]:
    return {dict(labels)["task_id"] for (name, labels), _ in data.items() if name == "huaweicloud_task_status"}


def state(data: Scrape, task_id: str) -> str:
    (found,) = [dict(ls)["state"] for (n, ls), v in data.items() if n == "huaweicloud_task_status" and v == 1
                and dict(ls)["task_id"] == task_id]  # fmt: skip
    return str(found)


async def test_a_task_from_each_source_arrives_finishes_and_leaves(churn: Churn) -> None:
    churn.sim.advance(5)
    handed = [t.task_id for t in churn.sim.created_tasks() if t.cloud_service == "evs"]
    assert handed  # the first generated EVS job exists from t=0
    churn.hand_over(handed[:1])
    await churn.scrape()  # starts the task-file check
    probed = handed[0]
    response = await churn.http.get("/probe", params={"cloud_service": "evs", "task_id": probed})
    assert response.status_code == 200
    data = await churn.scrape()
    sources = tracked(data)
    assert sources["static"] == 1
    assert sources["file"] == 1
    assert sources["discovered"] >= 3  # CodeArts tasks of the project, and the CPH jobs of the request ID
    discovered_cph = [t for t in task_ids(data) if t.startswith("ce11")]
    discovered_codearts = [t for t in task_ids(data) if t.startswith("c0de")]
    assert discovered_cph and discovered_codearts
    assert state(data, handed[0]) == "running"
    assert state(data, STATIC_EVS) in ("pending", "running")

    churn.sim.advance(120)  # everything above has finished by now
    data = await churn.scrape()
    assert state(data, STATIC_EVS) == "succeeded"
    assert state(data, handed[0]) in ("succeeded", "failed")
    first_seen = set(task_ids(data))

    churn.sim.advance(121)  # past the 2 minute finished_ttl
    data = await churn.scrape()
    assert STATIC_EVS not in task_ids(data)
    assert handed[0] not in task_ids(data)
    assert not (first_seen & {t for t in task_ids(data) if t in discovered_codearts + discovered_cph
                              and state(data, t) in ("succeeded", "failed", "stopped")})  # fmt: skip
    dropped = sum(v for (n, ls), v in data.items() if n == "huaweicloud_task_dropped_total"
                  and dict(ls)["reason"] == "finished_ttl")  # fmt: skip
    assert dropped >= 3
    probe = await churn.http.get("/probe", params={"cloud_service": "evs", "task_id": probed})
    assert probe.status_code == 200  # still answered: a probe names its task explicitly


async def test_series_stay_bounded_while_the_cloud_keeps_creating_tasks(churn: Churn) -> None:
    series: list[int] = []
    for _ in range(60):  # ten simulated minutes, a scrape every 10 s, a pipeline handing over every job
        churn.sim.advance(10)
        churn.hand_over([t.task_id for t in churn.sim.created_tasks() if t.cloud_service == "evs"][-5:])
        data = await churn.scrape()
        series.append(sum(1 for name, _ in data if name.startswith("huaweicloud_task_") and "task_id" in dict(_)))
    created = len(churn.sim.created_tasks())
    assert created >= 100  # the fake cloud really kept creating
    per_task = 12  # about: info, 6 states, progress, start, end, duration, last_update
    # Without the TTL every created task would stay: created * per_task series by the end.
    assert max(series) < 0.4 * created * per_task
    # And it levels off: the last three minutes are no higher than the peak of the minutes before.
    assert max(series[-18:]) <= max(series[:-18]) * 1.1
