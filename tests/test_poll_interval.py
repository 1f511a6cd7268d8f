"""Poll intervals (exporter/tracking/due.py): a task is asked at most once per its interval whatever the
number of scrapes and scrapers, its interval grows with its age up to the max, a new task is asked at
once, a final state shows within one interval, /probe still asks at once. The cloud is an
httpx.MockTransport and the clock is the test's."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter

import httpx
import pytest
from prometheus_client import CollectorRegistry

from exporter.cloud.client import ApiClient
from exporter.cloud.guards import Guards
from exporter.config import ConfigError, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import State, TaskStatus
from exporter.tracking import TaskRecord, Tracker
from exporter.tracking.due import is_due, poll_interval
from exporter.tracking.table import Source
from tests.conftest import PROJECT

TASKS = [f"e7{n:030x}" for n in range(1, 4)]
KEY = ("prod", "evs", "cn-north-4", PROJECT)


class Cloud:
    """EVS jobs: job ID -> (status, start in Unix seconds); counts the status queries per job."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, float]] = {}
        self.asked: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        job = request.url.path.rsplit("/", 1)[1]
        self.asked[job] += 1
        status, start = self.jobs[job]
        begin = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start))
        return httpx.Response(200, json={"status": status, "begin_time": begin})


def text(tracking: str, tasks: list[str] = TASKS) -> str:
    return f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
tracking: {tracking}
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://evs.test",
      tasks: [{", ".join(tasks)}]}}
"""


class Rig:
    def __init__(self, tracking: str, cloud: Cloud, tasks: list[str] = TASKS) -> None:
        self.config = parse_config(text(tracking, tasks), env={"T": "t"}, file="/nonexistent/config.yaml")
        self.registry = CollectorRegistry()
        self.metrics = SelfMetrics(self.registry)
        self.metrics.prepare({(t.account, t.cloud_service, t.region) for t in self.config.targets}, ["prod"])
        self.client = ApiClient(self.config, self.metrics, transport=lambda _a: httpx.MockTransport(cloud))
        self.now = [1_800_000_000.0]
        self.tracker = Tracker(self.config, self.client, clock=lambda: self.now[0], on_saved=self.metrics.save)

    def scrape(self, at: float, scraper: str = "a") -> None:
        self.now[0] = at
        asyncio.run(self.tracker.refresh(10, scraper=scraper))

    def saved(self, reason: str) -> float:
        value = self.registry.get_sample_value(
            "huaweicloud_task_api_calls_saved_total", {"cloud_service": "evs", "reason": reason}
        )
        return value or 0.0

    def state(self, task_id: str) -> State | None:
        status = self.tracker.targets[0].tasks[task_id].status
        return None if status is None else status.state


def test_a_task_is_asked_once_per_interval_over_many_scrapes() -> None:
    cloud = Cloud()
    rig = Rig("{poll_interval: 30s, max_poll_interval: 30s}", cloud)
    start = rig.now[0]
    cloud.jobs = dict.fromkeys(TASKS, ("RUNNING", start))
    for step in range(61):  # every 5 s for 300 s
        rig.scrape(start + 5 * step)
    # At 0, 30, 60, ... 300: the scrapes in between serve the last answer.
    assert cloud.asked == dict.fromkeys(TASKS, 11)
    assert rig.saved("interval") == 3 * (61 - 11)
    assert rig.saved("shared") == 0
    record = rig.tracker.targets[0].tasks[TASKS[0]]
    assert record.last_update == start + 300  # the age of the answer is what the timestamp shows


def test_the_default_is_30s_without_a_poll_interval_in_the_config() -> None:
    no_section = text("{}").replace("tracking: {}\n", "")
    assert "tracking" not in no_section
    assert parse_config(no_section, env={"T": "t"}).tracking.poll_interval == 30
    cloud = Cloud()
    rig = Rig("{}", cloud)  # a tracking section without poll_interval
    start = rig.now[0]
    cloud.jobs = dict.fromkeys(TASKS, ("RUNNING", start))
    for seconds in (0, 10, 20, 26):  # younger than 27 s (nine tenths of 30 s): the first answer serves
        rig.scrape(start + seconds)
    assert cloud.asked == dict.fromkeys(TASKS, 1)
    assert rig.saved("interval") == 3 * 3
    rig.scrape(start + 30)
    assert cloud.asked == dict.fromkeys(TASKS, 2)
    assert rig.tracker.targets[0].tasks[TASKS[0]].last_update == start + 30


def test_poll_interval_zero_asks_on_every_scrape() -> None:
    cloud = Cloud()
    rig = Rig("{poll_interval: 0}", cloud)
    cloud.jobs = dict.fromkeys(TASKS, ("RUNNING", rig.now[0]))
    for step in range(5):
        rig.scrape(rig.now[0] + 1 + step)
    assert cloud.asked == dict.fromkeys(TASKS, 5)
    assert rig.saved("interval") == 0


def test_the_interval_grows_with_the_tasks_age_up_to_the_max() -> None:
    config = parse_config(text("{poll_interval: 30s, max_poll_interval: 5m}"), env={"T": "t"})
    target, tracking = config.targets[0], config.tracking

    record = TaskRecord("x", Source.STATIC, TaskStatus(State.RUNNING, "RUNNING", start=1000.0), last_update=1000.0)
    assert poll_interval(tracking, target, record, 1000.0) == 30
    assert poll_interval(tracking, target, record, 1000.0 + 1000) == 100  # age / 10
    assert poll_interval(tracking, target, record, 1000.0 + 3 * 86400) == 300  # a three-day migration
    # The README's examples: a 5-minute job every 30 s; an hour's backup every 5 min from its 50th minute
    # (age / 10 reaches the max there), so at its end too.
    assert poll_interval(tracking, target, record, 1000.0 + 300) == 30
    assert poll_interval(tracking, target, record, 1000.0 + 2400) == 240
    assert poll_interval(tracking, target, record, 1000.0 + 3600) == 300
    # No start from the cloud: the age runs from when the exporter first saw the task.
    unstarted = TaskRecord("x", Source.STATIC, TaskStatus(State.PENDING, "INIT"), last_update=1900.0, first_seen=0.0)
    assert poll_interval(tracking, target, unstarted, 2000.0) == 200
    assert not is_due(tracking, target, unstarted, 2000.0)  # answered 100 s ago, due every 200 s
    assert is_due(tracking, target, unstarted, 2200.0)  # 300 s ago, due every 220 s


def test_a_long_running_task_is_asked_less_often() -> None:
    cloud = Cloud()
    rig = Rig("{poll_interval: 30s, max_poll_interval: 5m}", cloud)
    start = rig.now[0]
    cloud.jobs = {TASKS[0]: ("RUNNING", start - 86400), TASKS[1]: ("RUNNING", start), TASKS[2]: ("RUNNING", start)}
    for step in range(41):  # every 15 s for 600 s
        rig.scrape(start + 15 * step)
    assert cloud.asked[TASKS[0]] == 3  # at 0, 300, 600: a day old, asked every 5 minutes
    # A new one: every 30 s at first, then every age/10 (at 300 s of age, 30 s; at 600 s, 60 s).
    assert 12 <= cloud.asked[TASKS[1]] <= 18


def test_two_scrapers_at_offset_phases_cost_one_scrapers_calls() -> None:
    alone, pair = Cloud(), Cloud()
    tracking = "{poll_interval: 30s, max_poll_interval: 30s}"
    one, two = Rig(tracking, alone), Rig(tracking, pair)
    start = one.now[0]
    alone.jobs = pair.jobs = dict.fromkeys(TASKS, ("RUNNING", start))
    for step in range(40):  # every 15 s for 10 minutes; the second scraper 7 s later
        one.scrape(start + 15 * step)
        two.scrape(start + 15 * step, "a")
        two.scrape(start + 15 * step + 7, "b")
    assert sum(pair.asked.values()) <= sum(alone.asked.values())
    assert sum(alone.asked.values()) == 3 * 20
    assert two.saved("shared") > 0  # b serves what a's refresh brought, and the other way round
    assert one.saved("shared") == 0


def test_a_new_task_is_asked_at_once() -> None:
    cloud = Cloud()
    rig = Rig("{poll_interval: 1h, max_poll_interval: 1h}", cloud, TASKS[:2])
    cloud.jobs = dict.fromkeys(TASKS, ("RUNNING", rig.now[0]))
    rig.scrape(rig.now[0])
    more = parse_config(text("{poll_interval: 1h, max_poll_interval: 1h}"), env={"T": "t"}, file="c.yaml")
    rig.tracker.apply(more)
    rig.scrape(rig.now[0] + 10)
    assert cloud.asked == {TASKS[0]: 1, TASKS[1]: 1, TASKS[2]: 1}
    assert rig.state(TASKS[2]) is State.RUNNING


def test_the_final_state_shows_within_one_interval_and_then_costs_nothing() -> None:
    cloud = Cloud()
    rig = Rig("{poll_interval: 30s, max_poll_interval: 30s}", cloud, TASKS[:1])
    start = rig.now[0]
    cloud.jobs = {TASKS[0]: ("RUNNING", start)}
    rig.scrape(start)
    rig.scrape(start + 5)
    cloud.jobs = {TASKS[0]: ("SUCCESS", start)}  # finished at start + 6
    seen = None
    for step in range(2, 30):
        rig.scrape(start + 5 * step)
        if seen is None and rig.state(TASKS[0]) is State.SUCCEEDED:
            seen = start + 5 * step
    assert seen is not None and seen - (start + 6) <= 30
    assert cloud.asked[TASKS[0]] == 2  # the first answer, and the final one


def test_probe_still_asks_at_once() -> None:
    cloud = Cloud()
    rig = Rig("{poll_interval: 1h}", cloud, TASKS[:1])
    cloud.jobs = {TASKS[0]: ("RUNNING", rig.now[0])}
    rig.scrape(rig.now[0])

    async def probes() -> None:
        for _ in range(3):
            _target, record, up = await rig.tracker.probe(KEY, TASKS[0], 5)
            assert up and record is not None

    asyncio.run(probes())
    assert cloud.asked[TASKS[0]] == 4


def test_a_probe_counts_in_the_same_rate_limit_budget() -> None:
    """A probe asks at once, but with the slot of the same rate limit the refreshes plan within: one slot
    (0.1 requests per second: the next in 10 s), taken by the probe, leaves the refresh's ask held back,
    and the other way round."""
    cloud = Cloud()
    rig = Rig("{poll_interval: 0}\nscrape: {rate_limit: 0.1}", cloud, TASKS[:2])
    cloud.jobs = dict.fromkeys(TASKS[:2], ("RUNNING", rig.now[0]))

    def held() -> float:
        labels = {"account": "prod", "cloud_service": "evs", "region": "cn-north-4", "reason": "rate_limit"}
        return rig.registry.get_sample_value("huaweicloud_task_api_held_back_total", labels) or 0.0

    async def probe_then_refresh() -> None:
        _target, record, up = await rig.tracker.probe(KEY, TASKS[0], 5)
        assert up and record is not None and record.status is not None
        await rig.tracker.refresh(1.0)

    asyncio.run(probe_then_refresh())
    assert sum(cloud.asked.values()) == 1  # the probe's; the refresh's two asks found no slot
    assert held() == 2
    assert rig.tracker.targets[0].tasks[TASKS[1]].status is None

    async def probe_again() -> None:
        _target, record, up = await rig.tracker.probe(KEY, TASKS[1], 2)
        assert not up and record is not None and record.last_error is not None
        assert "rate limit" in (record.last_error.message or "")

    asyncio.run(probe_again())
    assert sum(cloud.asked.values()) == 1 and held() == 3


def test_per_service_intervals_and_the_spec_hint() -> None:
    config = parse_config(text("{poll_intervals: {evs: 5m}}"), env={"T": "t"})
    assert config.tracking.poll_interval_for("evs", 60) == 300  # the config wins over the spec's hint
    assert config.tracking.poll_interval_for("dws", 60) == 60
    assert config.tracking.poll_interval_for("dws") == 30  # the default
    config = parse_config(text("{poll_interval: 45s}"), env={"T": "t"})
    assert config.tracking.poll_interval_for("dws") == 45
    hinted = parse_config(
        text("{}").replace("cloud_service: evs", "cloud_service: slow")
        + """
custom_services:
  - name: slow
    poll_interval: 2m
    status: {path: "/v1/{project_id}/jobs/{task_id}", state: /status, states: {RUNNING: running}}
""",
        env={"T": "t"},
    )
    assert hinted.targets[0].spec.poll_interval == 120


@pytest.mark.parametrize(
    ("tracking", "path", "says"),
    [
        ("{poll_intervals: {evz: 5m}}", "tracking.poll_intervals.evz", "did you mean 'evs'"),
        ("{poll_interval: -1}", "tracking.poll_interval", "from 0 to 86400"),
        ("{poll_intervals: {evs: soon}}", "tracking.poll_intervals.evs", "duration"),
        ("{max_poll_interval: [1]}", "tracking.max_poll_interval", "number"),
    ],
)
def test_config_errors_name_file_line_and_key(tracking: str, path: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text(tracking), env={"T": "t"}, file="config.yaml")
    assert caught.value.file == "config.yaml" and caught.value.line == 3 and caught.value.path == path
    assert says in str(caught.value)


def test_the_help_of_the_savings_names_every_reason() -> None:
    registry = CollectorRegistry()
    SelfMetrics(registry)
    (family,) = [m for m in registry.collect() if m.name == "huaweicloud_task_api_calls_saved"]
    for reason in ("interval", "shared", "list"):
        assert f"{reason} (" in family.documentation, reason


class Failing(Cloud):
    """The jobs of `Cloud`, but the status call of the jobs in `bad` answers HTTP `code` (0: times out)."""

    def __init__(self, bad: list[str], code: int) -> None:
        super().__init__()
        self.bad, self.code = set(bad), code

    def __call__(self, request: httpx.Request) -> httpx.Response:
        job = request.url.path.rsplit("/", 1)[1]
        if job not in self.bad:
            return super().__call__(request)
        self.asked[job] += 1
        if not self.code:
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(self.code, json={"error_code": "EVS.5000", "error_msg": "failing"})


@pytest.mark.parametrize("code", [500, 503, 0])
def test_a_task_whose_asks_fail_is_asked_once_per_interval_not_at_every_scrape(code: int) -> None:
    """A failed ask (the request reached the cloud: an error, a timeout) is an ask: the task is asked again
    one base interval later, shared by an HA pair, not at every scrape of each scraper (it was: 80 asks in
    10 minutes of two scrapers every 15 s, against a cloud already failing)."""
    cloud = Failing([TASKS[0]], code)
    rig = Rig("{poll_interval: 30s, max_poll_interval: 5m}", cloud)
    start = rig.now[0]
    cloud.jobs = dict.fromkeys(TASKS, ("RUNNING", start - 86400))
    for step in range(40):  # two scrapers every 15 s, 7 s apart, for 600 s
        rig.scrape(start + 15 * step, "a")
        rig.scrape(start + 15 * step + 7, "b")
    assert cloud.asked[TASKS[0]] == 20  # once per 30 s
    assert cloud.asked[TASKS[1]] == cloud.asked[TASKS[2]] == 3  # a day old: every 5 minutes
    record = rig.tracker.targets[0].tasks[TASKS[0]]
    assert record.status is None and record.last_error is not None


def test_a_held_back_task_stays_due_at_once() -> None:
    from exporter.cloud.errors import ApiError
    from exporter.model import Reason

    config = parse_config(text("{poll_interval: 30s}"), env={"T": "t"})
    target, tracking = config.targets[0], config.tracking
    answered = TaskRecord(
        "x", Source.STATIC, TaskStatus(State.RUNNING, "RUNNING"), last_update=1000.0, last_asked=1000.0
    )
    failed = dataclasses.replace(answered, last_error=ApiError(Reason.SERVER_ERROR, status=500), last_asked=1020.0)
    held = dataclasses.replace(failed, last_error=ApiError(Reason.TIMEOUT, message="rate limit", sent=False))
    assert not is_due(tracking, target, failed, 1040.0)  # failed 20 s ago: again at 27 s
    assert is_due(tracking, target, failed, 1047.0)
    assert is_due(tracking, target, held, 1040.0)  # held back, never sent: its answer is 40 s old
    never = TaskRecord("y", Source.STATIC, last_error=ApiError(Reason.SERVER_ERROR, status=500), last_asked=1020.0)
    assert not is_due(tracking, target, never, 1030.0)  # never answered, but asked 10 s ago and failed
    assert is_due(tracking, target, dataclasses.replace(never, last_error=None, last_asked=None), 1030.0)


def limited(tracking: str, cloud: Cloud) -> Rig:
    """A `Rig` whose rate limit runs on the test's clock (its bucket refills as the scrapes' time moves)."""
    rig = Rig(tracking, cloud)
    rig.client = ApiClient(
        rig.config, rig.metrics, transport=lambda _a: httpx.MockTransport(cloud), guards=Guards(lambda: rig.now[0])
    )
    rig.tracker = Tracker(rig.config, rig.client, clock=lambda: rig.now[0], on_saved=rig.metrics.save)
    return rig


def test_a_task_whose_asks_fail_does_not_starve_the_others_in_a_short_budget() -> None:
    """One request per 20 s (a budget of one ask per scrape) for three due tasks, the first of which keeps
    failing: the budget goes round, asked longest ago first. (By the oldest answer, the failing task, never
    answered, went first at every scrape and the other two were never asked.)"""
    cloud = Failing([TASKS[0]], 500)
    rig = limited("{poll_interval: 30s, max_poll_interval: 30s}\nscrape: {rate_limit: 0.05}", cloud)
    start = rig.now[0]
    cloud.jobs = dict.fromkeys(TASKS, ("RUNNING", start))
    for step in range(4):
        rig.scrape(start + 20 * step)
    assert set(cloud.asked) == set(TASKS)  # each in turn; the held-back ones first the next time
    assert rig.state(TASKS[1]) is rig.state(TASKS[2]) is State.RUNNING
    for step in range(3, 30):
        rig.scrape(start + 20 * step)
    assert sum(cloud.asked.values()) == 30 and min(cloud.asked.values()) >= 9  # shared out, none starved
    labels = {"account": "prod", "cloud_service": "evs", "region": "cn-north-4", "reason": "rate_limit"}
    assert (rig.registry.get_sample_value("huaweicloud_task_api_held_back_total", labels) or 0.0) > 0
