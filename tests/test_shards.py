"""Several exporters sharing the tasks: three shards against one fake cloud serve every task of one
unsharded exporter exactly once, discovered tasks included; the flags and their messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.cli import parse_shard
from exporter.config import load_config
from exporter.demo import demo_config
from exporter.exposition.server import make_app, serve
from exporter.model import Shard
from exporter.simulator import DEMO_TOKEN, Simulator, default_scenario, start_simulator

NOW = 1_700_000_000.0


async def task_series(exporter: Exporter) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    serving = await serve(make_app(exporter), "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30) as http:
            text = (await http.get("/metrics")).text
    finally:
        await serving.stop()
    return {
        (sample.name, frozenset(sample.labels.items()))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "task_id" in sample.labels
    }


async def test_three_shards_serve_each_task_once_and_together_what_one_exporter_serves(
    tmp_path: Path, monkeypatch: Any
) -> None:
    scenario = default_scenario()
    sim = Simulator(scenario, clock=lambda: NOW)
    async with await start_simulator(sim) as cloud:
        document = yaml.safe_load(demo_config(cloud.url, scenario.targets(), {"type": "token", "token": "${T}"}))
        for target in document["services"]:
            if target["cloud_service"] == "ddm":  # and a list API's tasks: discovery is sharded too
                target.update(endpoint=f"{cloud.url}/ddm", tasks=[], discover=True)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        whole = await task_series(Exporter(load_config(path), clock=lambda: NOW))
        shards = [
            await task_series(Exporter(load_config(path), clock=lambda: NOW, shard=Shard(i, 3))) for i in range(3)
        ]
    tasks = [{dict(labels)["task_id"] for _, labels in series} for series in shards]
    assert all(tasks), "every shard has tasks"
    assert not (tasks[0] & tasks[1] or tasks[0] & tasks[2] or tasks[1] & tasks[2]), "no task in two shards"
    assert shards[0] | shards[1] | shards[2] == whole
    ddm = {t.task_id for t in scenario.tasks if t.cloud_service == "ddm"}
    assert ddm <= set().union(*tasks), "the discovered DDM jobs are in some shard"


def test_shard_flags() -> None:
    assert parse_shard("hostname", 3, "huaweicloud-task-exporter-2") == Shard(2, 3)
    assert parse_shard("1", 2, "any") == Shard(1, 2)
    with pytest.raises(ValueError, match=r"--shard.index hostname: 'exporter' does not end in -N"):
        parse_shard("hostname", 3, "exporter")
    with pytest.raises(ValueError, match=r"--shard.index must be from 0 to 2 \(--shard.count less one\), got 3"):
        parse_shard("3", 3, "x")
    with pytest.raises(ValueError, match=r"--shard.count must be from 1 to 1000, got 0"):
        parse_shard("0", 0, "x")
    with pytest.raises(ValueError, match=r"--shard.index: expected a number or 'hostname', got 'two'"):
        parse_shard("two", 3, "x")
