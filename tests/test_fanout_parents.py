"""A fanned-out target's parents one by one: one parent whose task list fails holds back only its own
tasks, and parents beyond one refresh's budget are listed by the next ones (rotated, a few at once).
End to end over real sockets against the small cloud of test_fanout.py."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiohttp import web

from exporter.app import Exporter
from exporter.config import load_config
from exporter.exposition.server import make_app, serve
from tests.conftest import PROJECT
from tests.test_e2e import samples
from tests.test_fanout import INSTANCE_A, INSTANCE_B, KAFKA, TASK_A, Cloud, config_text, states

# The Kafka spec with a list that carries the status: a listed task is not asked on its own.
KAFKA_STATUS = KAFKA.replace("  id: /id\n", "  id: /id\n  carries_status: true\n  item_at: /tasks/0\n")
LABELS = frozenset({"account": "prod", "cloud_service": "kafka_tasks", "region": "r1", "project_id": PROJECT}.items())


@dataclass
class FlakyCloud(Cloud):
    failing: set[str] = field(default_factory=set)  # instances whose task list answers 500
    latency: float = 0.0  # seconds each task list takes (a slow cloud, for the refresh's budget)

    async def list_tasks(self, request: web.Request) -> web.Response:
        if self.latency:
            await asyncio.sleep(self.latency)  # the cloud's latency, not a wait of the test
        if request.match_info["instance"] in self.failing:
            self.asked.append(request.path)
            return web.json_response({"error_code": "DMS.00500000", "error_msg": "internal"}, status=500)
        return await super().list_tasks(request)


@contextlib.asynccontextmanager
async def exporter_on(
    cloud: Cloud, tmp_path: Path, spec: str, extra: str = ""
) -> AsyncIterator[tuple[httpx.AsyncClient, list[float]]]:
    runner = web.AppRunner(cloud.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    text = config_text(
        f"  - {{cloud_service: kafka_tasks, account: prod, region: r1, project_id: {PROJECT}, endpoint: '{url}',"
        " discover: true}\n",
        spec,
    )
    # poll_interval 0: a task that leaves its parent's list is asked on the next scrape, not when its
    # interval (up to max_poll_interval, as the fake tasks were created in 2021) runs out.
    tracking = "tracking: {finished_ttl: 10m, discovery_interval: 1m, poll_interval: 0}\n"
    (tmp_path / "c.yaml").write_text(text + tracking + extra)
    now = [1_700_000_000.0]
    exporter = Exporter(load_config(tmp_path / "c.yaml"), clock=lambda: now[0])
    serving = await serve(make_app(exporter), "127.0.0.1", 0)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30)
    try:
        yield http, now
    finally:
        await http.aclose()
        await serving.stop()
        await runner.cleanup()
        await exporter.aclose()


async def test_one_failing_parent_holds_back_only_its_own_tasks(tmp_path: Path) -> None:
    cloud = FlakyCloud()
    async with exporter_on(cloud, tmp_path, KAFKA_STATUS) as (http, now):
        data = samples((await http.get("/metrics")).text)
        assert states(data, "kafka_tasks")[f"{INSTANCE_A}/{TASK_A}"] == "running"
        cloud.failing = {INSTANCE_B}
        del cloud.tasks[INSTANCE_A][TASK_A]  # the cloud forgot A's running task: it leaves A's list
        for _ in range(4):
            now[0] += 61
            data = samples((await http.get("/metrics")).text)
        # No longer listed by its (answering) parent: asked on its own, not found, gone; B's task stays.
        assert f"/v2/{PROJECT}/instances/{INSTANCE_A}/tasks/{TASK_A}" in cloud.asked
        assert f"{INSTANCE_A}/{TASK_A}" not in states(data, "kafka_tasks")
        assert f"{INSTANCE_B}/8abfa7b27a5c0d0c017a5c2bd6b50068" in states(data, "kafka_tasks")
        assert data[("huaweicloud_task_discovery_last_success_timestamp_seconds", LABELS)] == now[0]
        errors = [v for k, v in data.items() if k[0] == "huaweicloud_task_api_errors_total"
                  and dict(k[1])["reason"] == "server_error"]  # fmt: skip
        assert errors and errors[0] >= 4  # B's trouble is counted


async def test_every_parent_is_listed_within_a_few_refreshes_of_a_small_budget(tmp_path: Path) -> None:
    cloud = FlakyCloud(latency=0.2)
    cloud.instances = {str(uuid.UUID(int=i + 1)): f"kafka-{i}" for i in range(30)}
    cloud.tasks = {iid: {f"{i + 1:032x}": "EXECUTING"} for i, iid in enumerate(cloud.instances)}
    # A discovery budget of 1 s: about 5 task lists one after another, 30 parents.
    async with exporter_on(cloud, tmp_path, KAFKA, "scrape: {refresh_timeout: 2}\n") as (http, now):
        seen: list[int] = []
        for _ in range(3):
            data = samples((await http.get("/metrics")).text)
            seen.append(len({q.split("/")[4] for q in cloud.asked if q.endswith("/tasks")}))
            now[0] += 61  # a pass cut short is due again within a minute
        assert seen[0] < 30  # the budget does not hold them all
        assert seen[-1] == 30, seen
        assert len(states(data, "kafka_tasks")) == 30
