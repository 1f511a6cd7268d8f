"""List refreshes (exporter/tracking/relist.py): a list whose items carry the status refreshes a target's
unfinished tasks once per their poll interval, not on every scrape of every scraper; when it would take more
pages than the tasks due, those are asked one by one; its window is narrowed to the unfinished tasks; a
fanned-out target lists only the parents with a due task. CBR against the fake cloud over real sockets on
127.0.0.1, on the test's clock; the fanned-out case against the small Kafka cloud of test_fanout.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from exporter.cloud.client import ApiClient
from exporter.config import parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import Shard, State
from exporter.simulator import DEMO_TOKEN, Simulator, parse_scenario, start_simulator
from exporter.tracking import Tracker
from exporter.tracking.intake import take_listing
from exporter.tracking.refresh import Listing
from exporter.tracking.relist import MARGIN, plan_relist
from tests.conftest import PROJECT
from tests.test_e2e import samples
from tests.test_fanout import INSTANCE_A, INSTANCE_B, TASK_A, TASK_B, states
from tests.test_fanout_parents import KAFKA_STATUS, FlakyCloud, exporter_on

NOW = 1_800_000_000.0
RUNNING = [f"cb5b{n:028x}" for n in range(1, 4)]


def backup(task_id: str, began: float, ends: float | None) -> dict[str, Any]:
    """A CBR backup begun `began` s from the start (negative: before), succeeding at `ends` (None: never)."""
    phases: list[dict[str, Any]] = [{"after": 0, "status": "running", "progress": 40}]
    if ends is not None and ends <= 0:
        phases = [{"after": 0, "status": "success", "progress": 100}]  # finished before the start
    elif ends is not None:
        phases.append({"after": ends, "status": "success", "progress": 100})
    return {"cloud_service": "cbr", "task_id": task_id, "job_type": "backup", "begin": began, "phases": phases}


@dataclass
class Rig:
    sim: Simulator
    tracker: Tracker
    registry: CollectorRegistry
    now: list[float]

    def at(self, seconds: float) -> None:
        self.now[0] = NOW + seconds

    async def scrape(self, seconds: float, scraper: str = "a") -> None:
        self.at(seconds)
        await self.tracker.refresh(10, scraper=scraper)

    @property
    def lists(self) -> int:
        return self.sim.stats.list_requests["cbr"]

    def asked(self, task_id: str) -> int:
        return self.sim.stats.by_task[task_id]

    def state(self, task_id: str) -> State | None:
        status = self.tracker.targets[0].tasks[task_id].status
        return None if status is None else status.state

    def saved(self, reason: str) -> float:
        labels = {"cloud_service": "cbr", "reason": reason}
        return self.registry.get_sample_value("huaweicloud_task_api_calls_saved_total", labels) or 0.0


@contextlib.asynccontextmanager
async def cbr(
    tasks: list[dict[str, Any]],
    tracking: str = "poll_interval: 30s, max_poll_interval: 30s",
    shard: Shard | None = None,
) -> AsyncIterator[Rig]:
    now = [NOW]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    sim = Simulator(parse_scenario({"static_tokens": [DEMO_TOKEN], "tasks": tasks}), clock=clock)
    async with await start_simulator(sim) as cloud:
        text = f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
tracking: {{discovery_interval: 10m, finished_ttl: 24h, {tracking}}}
services:
  - {{cloud_service: cbr, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "{cloud.url}",
      discover: true}}
"""
        config = parse_config(text, env={"T": DEMO_TOKEN})
        registry = CollectorRegistry()
        metrics = SelfMetrics(registry)
        metrics.prepare({(t.account, t.cloud_service, t.region) for t in config.targets}, ["prod"])
        client = ApiClient(config, metrics)
        tracker = Tracker(config, client, clock=clock, on_saved=metrics.save, shard=shard)
        try:
            yield Rig(sim, tracker, registry, now)
        finally:
            await tracker.wait_idle()
            await client.aclose()


async def test_the_list_refreshes_its_tasks_once_per_interval_not_every_scrape() -> None:
    async with cbr([backup(t, -100, 95) for t in RUNNING]) as rig:
        await rig.scrape(0)  # the discovery: one page, three running backups
        assert rig.lists == 1
        assert {rig.state(t) for t in RUNNING} == {State.RUNNING}
        for seconds in (5, 10, 15, 20, 25):
            await rig.scrape(seconds)
        assert rig.lists == 1  # nothing due: the scrapes in between serve the last answers
        await rig.scrape(30)
        assert rig.lists == 2  # due: one page refreshes all three (not three status calls)
        assert all(rig.asked(t) == 0 for t in RUNNING)
        assert rig.saved("list") == 3 - 1
        assert rig.saved("interval") == 3 * 5
        for seconds in range(35, 125, 5):
            await rig.scrape(seconds)
        # Refreshed at 60 and 90 (final there: the cloud said success at 95 s, the list showed it at 120).
        assert rig.lists == 5
        assert {rig.state(t) for t in RUNNING} == {State.SUCCEEDED}
        lists = rig.lists
        for seconds in range(125, 400, 5):
            await rig.scrape(seconds)
        assert rig.lists == lists  # nothing unfinished: no list until the next discovery (10 min)


async def test_an_ha_pair_costs_the_lists_of_one_scraper() -> None:
    async with cbr([backup(t, -100, None) for t in RUNNING]) as rig:
        for step in range(40):  # two scrapers, each every 15 s, 7.5 s apart, for 300 s
            await rig.scrape(step * 7.5, "a" if step % 2 == 0 else "b")
        # Once per 30 s: at 0 (the discovery), 30, 60, ... 270; the partner's scrapes share the answers.
        assert rig.lists == 10
        assert rig.saved("shared") > 0


async def test_a_list_longer_than_the_due_tasks_asks_them_alone() -> None:
    finished = [backup(f"cb5f{n:028x}", -600 + n, 0) for n in range(250)]  # three pages of recent history
    async with cbr([backup(RUNNING[0], -100, None), *finished]) as rig:
        await rig.scrape(0)
        assert rig.lists == 3  # the discovery read every page
        await rig.scrape(30)
        # One task due, and its list would take three pages: it is asked on its own, once.
        assert rig.lists == 3
        assert rig.asked(RUNNING[0]) == 1
        assert rig.state(RUNNING[0]) is State.RUNNING
        await rig.scrape(45)
        assert rig.asked(RUNNING[0]) == 1  # and then only once per interval
        await rig.scrape(60)
        assert rig.asked(RUNNING[0]) == 2
        assert rig.saved("list") == 0


async def test_a_shard_counts_the_other_shards_items_in_a_lists_pages() -> None:
    """Two shards: this one's table holds about half of a list's items, the list shows them all. 250
    finished backups and two running ones of this shard make three pages, more than the two due tasks:
    they are asked alone (counting its own items only, some 127, it made that two pages and listed)."""
    shard, key = Shard(0, 2), ("prod", "cbr", "cn-north-4", PROJECT)
    mine = [t for t in (f"cb5a{n:028x}" for n in range(100)) if shard.owns(key, t)][:2]
    finished = [backup(f"cb5f{n:028x}", -600 + n, 0) for n in range(250)]
    async with cbr([*(backup(t, -100, None) for t in mine), *finished], shard=shard) as rig:
        await rig.scrape(0)
        assert rig.lists == 3  # the discovery read every page
        owned = sum(1 for r in rig.tracker._table.records(key) if r.listed)
        assert 100 < owned < 200  # this shard's share: fewer than two pages' worth of its own
        await rig.scrape(30)
        assert (rig.lists, rig.asked(mine[0]), rig.asked(mine[1])) == (3, 1, 1)


async def test_the_window_of_a_list_refresh_starts_before_the_earliest_unfinished_task() -> None:
    async with cbr([backup(RUNNING[0], -3600, None), backup(RUNNING[1], -60, None)]) as rig:
        await rig.scrape(0)
        rig.at(30)
        target = rig.tracker.config.targets[0]
        plan = plan_relist(rig.tracker._table, target, rig.tracker.config.tracking, rig.now[0], None)
        assert plan.listing and plan.due == 2
        assert plan.lookback is not None
        # From the older backup's creation (an hour and 30 s ago), less the margin; not the day of the TTL.
        assert abs(plan.lookback - (3600 + 30 + MARGIN)) <= 5


async def test_poll_interval_zero_lists_on_every_scrape_as_before() -> None:
    async with cbr([backup(t, -100, None) for t in RUNNING], tracking="poll_interval: 0") as rig:
        for seconds in range(0, 50, 10):
            await rig.scrape(seconds)
        assert rig.lists == 5
        assert all(rig.asked(t) == 0 for t in RUNNING)


async def test_a_fanned_out_target_lists_only_the_parents_with_a_due_task(tmp_path: Path) -> None:
    cloud = FlakyCloud()  # instance A holds a running task, B a finished one
    tracking = "finished_ttl: 1h, discovery_interval: 10m, poll_interval: 30s, max_poll_interval: 30s"
    async with exporter_on(cloud, tmp_path, KAFKA_STATUS, tracking=tracking) as (http, now):
        data = samples((await http.get("/metrics")).text)
        assert states(data, "kafka_tasks")[f"{INSTANCE_A}/{TASK_A}"] == "running"
        lists = {instance: 0 for instance in (INSTANCE_A, INSTANCE_B)}
        for _ in range(4):
            now[0] += 30
            cloud.asked.clear()
            await http.get("/metrics")
            for instance in lists:
                lists[instance] += cloud.asked.count(f"/v2/{PROJECT}/instances/{instance}/tasks")
        assert lists == {INSTANCE_A: 4, INSTANCE_B: 0}  # B's list is not called: nothing of B is due
        cloud.tasks[INSTANCE_A][TASK_A] = "SUCCESS"
        now[0] += 30
        data = samples((await http.get("/metrics")).text)
        assert states(data, "kafka_tasks") == {
            f"{INSTANCE_A}/{TASK_A}": "succeeded",
            f"{INSTANCE_B}/{TASK_B}": "succeeded",
        }


async def test_a_narrowed_window_leaves_out_the_finished_history() -> None:
    history = [backup(f"cb5f{n:028x}", -20000 + n, 0) for n in range(250)]  # finished hours ago
    async with cbr([*(backup(t, -100, None) for t in RUNNING), *history]) as rig:
        await rig.scrape(0)
        assert rig.lists == 3  # the discovery's window is the finished TTL: every page
        await rig.scrape(30)
        # The refresh's window starts 10 minutes before the earliest running backup: one page, no status call.
        assert rig.lists == 4
        assert all(rig.asked(t) == 0 for t in RUNNING)
        assert rig.saved("list") == 3 - 1
        old = rig.tracker.targets[0].tasks[f"cb5f{0:028x}"]
        assert old.status is not None and old.status.state is State.SUCCEEDED  # still shown, not asked again


async def test_a_task_that_leaves_its_list_is_asked_alone_at_once() -> None:
    async with cbr([backup(t, -100, None) for t in RUNNING], "poll_interval: 5m, max_poll_interval: 5m") as rig:
        await rig.scrape(0)
        assert all(rig.asked(t) == 0 for t in RUNNING)
        table, key = rig.tracker._table, rig.tracker.config.targets[0].key
        listing = Listing(key, (), (), 0.0)  # a list that no longer shows any of them
        take_listing(table, listing, rig.tracker._add, now=rig.now[0], finished_ttl=86400)
        record = table.get(key, RUNNING[0])
        assert record is not None and not record.listed and record.ask_again
        await rig.scrape(10)  # asked on its own at once, not 5 minutes later
        assert rig.asked(RUNNING[0]) == 1
        record = table.get(key, RUNNING[0])
        assert record is not None and not record.ask_again and record.status is not None
        await rig.scrape(20)
        assert rig.asked(RUNNING[0]) == 1  # then on its interval


async def test_a_task_that_leaves_its_list_just_after_a_failed_list_is_still_asked_at_once() -> None:
    """A list refresh that failed holds its tasks back one interval; a list that then answers without
    one of them makes that one due at once all the same (the failure was the list's, now answered)."""
    async with cbr([backup(t, -100, None) for t in RUNNING]) as rig:
        await rig.scrape(0)
        rig.sim.set_fault("server_error")
        await rig.scrape(30)  # the refresh's list fails: its tasks wait one interval
        rig.sim.set_fault(None)
        table, key = rig.tracker._table, rig.tracker.config.targets[0].key
        assert table.get(key, RUNNING[0]).last_error is not None  # type: ignore[union-attr]
        take_listing(table, Listing(key, (), (), 0.0), rig.tracker._add, now=NOW + 35, finished_ttl=86400)
        await rig.scrape(40)  # 10 s after the failed list, not 27
        assert rig.asked(RUNNING[0]) == 1


async def test_a_list_that_fails_is_tried_once_per_interval_and_saves_nothing() -> None:
    """A list refresh that fails (500 on every page) answers none of its due tasks: no `list` saving (it
    counted the due tasks less the page, 2 per failed call), and the tasks keep their answers and are tried
    again one interval after the failed call, not at every scrape (it was called at every one)."""
    async with cbr([backup(t, -100, None) for t in RUNNING]) as rig:
        await rig.scrape(0)
        rig.sim.set_fault("server_error")
        for seconds in range(30, 120, 5):
            await rig.scrape(seconds)
        assert rig.lists == 1 + 3  # at 30, 60 and 90
        assert rig.saved("list") == 0
        assert all(rig.asked(t) == 0 for t in RUNNING)
        record = rig.tracker.targets[0].tasks[RUNNING[0]]
        assert record.listed and record.last_error is not None and record.last_update == NOW
        rig.sim.set_fault(None)
        await rig.scrape(120)
        assert rig.lists == 5 and rig.saved("list") == 3 - 1  # answered again: three tasks for one page
        assert rig.tracker.targets[0].tasks[RUNNING[0]].last_update == NOW + 120


async def test_a_reload_that_turns_the_list_off_asks_its_tasks_alone() -> None:
    """The tasks a list refreshed keep being polled when a reload turns its discovery off (they stayed
    `listed`, asked neither by the list nor alone: running for ever, 0 calls)."""
    async with cbr([backup(t, -100, 95) for t in RUNNING]) as rig:
        await rig.scrape(0)
        target = rig.tracker.config.targets[0]
        assert target.discover
        off = parse_config(
            f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
tracking: {{discovery_interval: 10m, finished_ttl: 24h, poll_interval: 30s, max_poll_interval: 30s}}
services:
  - {{cloud_service: cbr, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "{target.endpoint}"}}
""",
            env={"T": DEMO_TOKEN},
        )
        rig.tracker.apply(off)
        assert not any(r.listed for r in rig.tracker.targets[0].tasks.values())
        for seconds in range(5, 125, 5):
            await rig.scrape(seconds)
        assert rig.lists == 1
        assert all(rig.asked(t) == 4 for t in RUNNING)  # at 30, 60, 90 and 120: each on its own
        assert {rig.state(t) for t in RUNNING} == {State.SUCCEEDED}


async def test_a_probe_asks_a_listed_task_at_once() -> None:
    """/probe is an explicit question: a task its list refreshes is asked too, not answered from the list's
    answer (at 200 s it said `running` from the answer of 0 s, although the backup ended at 95 s)."""
    async with cbr([backup(t, -100, 95) for t in RUNNING], "poll_interval: 5m, max_poll_interval: 5m") as rig:
        await rig.scrape(0)
        rig.at(200)
        key = rig.tracker.config.targets[0].key
        _target, record, up = await rig.tracker.probe(key, RUNNING[0], 5)
        assert up and record is not None and record.status is not None
        assert (record.status.state, record.last_update) == (State.SUCCEEDED, NOW + 200)
        assert rig.asked(RUNNING[0]) == 1 and rig.lists == 1
        await rig.scrape(210)
        assert rig.asked(RUNNING[0]) == 1  # final now: the refresh does not ask it again
