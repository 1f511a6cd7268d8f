"""The cached task text (exposition/render.py) is byte for byte what prometheus-client's encoders write for
the same families (TaskCollector), in the Prometheus text format and in OpenMetrics, escaping included;
and it follows every change: a new status, a fresh answer, the clock, tasks that come and go."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, exposition
from prometheus_client.openmetrics import exposition as openmetrics

from exporter.config import MetricsSettings, parse_config
from exporter.exposition.collector import TaskCollector
from exporter.exposition.render import TaskText
from exporter.model import State, TaskStatus
from exporter.tracking import Snapshot, Source, TargetSnapshot, TaskRecord

CONFIG = """
accounts:
  - {name: prod, auth: {type: token, token: "${T}"}}
  - {name: dev.team-2, auth: {type: token, token: "${T}"}}
services:
  - {cloud_service: evs, account: prod, region: cn-north-4, project_id: 0123456789abcdef0123456789abcdef}
  - {cloud_service: dws, account: dev.team-2, region: eu-de, project_id: fedcba9876543210fedcba9876543210}
"""
ODD = ['quote " in it', "back\\slash", "new\nline", "ünïcödé ✓", "", "tab\tand\rreturn", "\\n literal", "{}=,"]
NOW = 1_764_583_200.0
DEFAULTS = MetricsSettings()


def random_status(rng: random.Random) -> TaskStatus:
    state = rng.choice(list(State))
    start = rng.choice([None, NOW - rng.uniform(0, 90_000), 1e9, 0.5])
    end = (
        rng.choice([None, NOW - rng.uniform(0, 100)])
        if state in (State.SUCCEEDED, State.FAILED, State.STOPPED)
        else None
    )
    sub = {s: rng.randint(0, 3) for s in State} if rng.random() < 0.3 else None
    return TaskStatus(
        state=state,
        raw_status=rng.choice(["RUNNING", "FAIL", "2", *ODD]),
        progress=rng.choice([None, 0.0, 0.5, 1.0, 1 / 3, 1e-7]),
        start=start,
        end=end,
        job_type=rng.choice(["createVolume", *ODD]),
        job_name=rng.choice(["", *ODD]),
        resource_id=rng.choice(["", "c2d1e8b8-3f0a-4a52-9d8c-0e7a1b2c3d4e"]),
        error_code=rng.choice(["", "EVS.2024", *ODD]),
        error_message=rng.choice(["", "quota exceeded", *ODD, "x" * 256]),
        sub_tasks=sub,
        remaining=None if state in (State.SUCCEEDED, State.FAILED, State.STOPPED) else rng.choice([None, 0.0, 90.5]),
    )


def random_records(rng: random.Random, count: int) -> dict[str, TaskRecord]:
    records = {}
    for _ in range(count):
        task_id = f"{rng.getrandbits(128):032x}"
        records[task_id] = TaskRecord(
            task_id,
            rng.choice(list(Source)),
            random_status(rng) if rng.random() < 0.9 else None,
            rng.choice([None, NOW - rng.uniform(0, 600), NOW]),
        )
    return records


class World:
    """A snapshot that tests change, the clock, and the two renderings to compare."""

    def __init__(self, seed: int, count: int = 60, settings: MetricsSettings = DEFAULTS) -> None:
        self.rng = random.Random(seed)
        self.config = parse_config(CONFIG, env={"T": "t"})
        self.now = NOW
        self.settings = settings
        self.tasks = [random_records(self.rng, count) for _ in self.config.targets]
        self.text = TaskText(lambda: self.snapshot, lambda: self.now, lambda: self.settings)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(TaskCollector(lambda: self.snapshot, lambda: self.now, lambda: self.settings))

    @property
    def snapshot(self) -> Snapshot:
        return Snapshot(
            tuple(
                TargetSnapshot(target, MappingProxyType(dict(tasks)), i % 2 == 0, 0.25 * i, NOW - i or None, None)
                for i, (target, tasks) in enumerate(zip(self.config.targets, self.tasks, strict=True))
            )
        )

    def check(self, encoder: Callable[[CollectorRegistry], bytes] = exposition.generate_latest) -> None:
        expected = encoder(self.registry)
        if encoder is exposition.generate_latest:
            assert b"".join(self.text.render(False)) == expected
        else:
            assert expected.endswith(b"# EOF\n")
            assert b"".join(self.text.render(True)) == expected[: -len(b"# EOF\n")]


@pytest.mark.parametrize("seed", range(8))
def test_the_text_is_prometheus_clients_in_both_formats(seed: int) -> None:
    world = World(seed)
    world.check()
    world.check(openmetrics.generate_latest)
    world.check()  # the second time from the cache


def answers(world: World, step: int, count: int = 20) -> None:
    """New statuses, fresh answers with the same status (the same object, or an equal one anew), tasks
    that leave and others that come."""
    for tasks in world.tasks:
        ids = list(tasks)
        for task_id in world.rng.sample(ids, count):
            old = tasks[task_id]
            status: TaskStatus | None
            if step % 2:
                status = random_status(world.rng)
            else:
                status = old.status if step % 4 or old.status is None else dataclasses.replace(old.status)
            tasks[task_id] = TaskRecord(task_id, old.source, status, world.now)
        for task_id in world.rng.sample(ids, 5):
            del tasks[task_id]
        tasks.update(random_records(world.rng, 5))


def test_every_change_shows_at_the_next_render() -> None:
    world = World(99, count=120)
    world.check()
    for step in range(6):
        world.now += 37.5  # running tasks' durations move with the clock
        answers(world, step)
        world.check()
        world.check(openmetrics.generate_latest)


def test_a_render_prepared_while_answers_come_is_the_same_text() -> None:
    """The tracker has the tasks answered so far rendered while a refresh waits for its last answers
    (`prepare`); the scrape's render is then what a render from nothing would be, with the answers
    that came after, and the clock of the scrape."""
    world = World(12, count=120)
    world.check()
    for step in range(6):
        world.now += 20.0
        answers(world, step)
        world.text.prepare()
        world.now += 2.5
        answers(world, step + 1, count=7)
        world.check()
        world.check(openmetrics.generate_latest)
        fresh = TaskText(lambda: world.snapshot, lambda: world.now, lambda: world.settings)
        assert b"".join(world.text.render()) == b"".join(fresh.render())


def test_nothing_tracked_is_only_the_headers() -> None:
    world = World(1, count=0)
    world.check()
    assert b"huaweicloud_task_status{" not in b"".join(world.text.render())


def test_the_cache_holds_only_tracked_tasks() -> None:
    world = World(2, count=50)
    world.text.render()
    for tasks in world.tasks:
        tasks.clear()
    world.text.render()
    assert world.text._cache == {}


CURRENT = MetricsSettings(finished_states="current")
LEAN = MetricsSettings(
    "current", frozenset({"huaweicloud_task_info", "huaweicloud_task_last_update_timestamp_seconds"})
)


@pytest.mark.parametrize("settings", [CURRENT, LEAN], ids=["finished_states-current", "current-and-exclude"])
def test_the_metrics_settings_render_as_prometheus_client_would(settings: MetricsSettings) -> None:
    world = World(7, count=200, settings=settings)
    world.check()
    world.check(openmetrics.generate_latest)
    text = b"".join(world.text.render())
    for name in settings.exclude:
        assert f"# HELP {name} ".encode() not in text
    # A final task shows one status series, a running one all six.
    for tasks in world.tasks:
        for record in tasks.values():
            if record.status is None or record.source is Source.PROBE:
                continue
            mark = f'task_id="{record.task_id}"'.encode()
            count = sum(
                1 for line in text.splitlines() if line.startswith(b"huaweicloud_task_status{") and mark in line
            )
            assert count == (1 if record.status.final else 6), record


def test_a_reload_that_changes_the_settings_renders_anew() -> None:
    world = World(3, count=80)
    world.check()
    world.settings = LEAN
    world.check()
    world.settings = DEFAULTS
    world.check()


def test_every_per_task_family_but_status_may_be_excluded() -> None:
    from exporter.config.document import EXCLUDABLE
    from exporter.exposition.collector import TASK_FAMILIES, P

    assert set(EXCLUDABLE) == {P + name for name in TASK_FAMILIES} - {"huaweicloud_task_status"}


def test_a_prepared_render_leaves_the_scrape_only_what_came_after(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.exposition import render as module

    world = World(5, count=100)
    world.text.render()
    answers(world, 1)  # new statuses for 20 tasks of each target, 5 new tasks each
    world.text.prepare()
    rendered: list[str] = []
    real = module._render

    def counted(values: dict[str, str], *args: Any) -> Any:
        rendered.append(values["task_id"])
        return real(values, *args)

    monkeypatch.setattr(module, "_render", counted)
    world.check()
    assert rendered == []  # all done by prepare()
    answers(world, 1, count=3)
    world.check()
    assert 0 < len(rendered) <= 2 * (3 + 5)  # only what changed after it
