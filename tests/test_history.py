"""The history-grade data (exporter/tracking/history.py) and its families (exporter/exposition/history.py):
completions counted once per task and process, born at 0, durations with exemplars, the latest end per
resource with its retention and cap, and the `history:` settings' errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as untyped_openmetrics_latest

from exporter.config import ConfigError, HistorySettings, TargetConfig, parse_config
from exporter.exposition.history import HistoryCollector
from exporter.model import State, TaskStatus
from exporter.tracking.history import History
from tests.conftest import MINIMAL, PROJECT

STARTED = 1_000_000.0
openmetrics_latest: Callable[[CollectorRegistry], bytes] = untyped_openmetrics_latest  # untyped there
ENV = {"HWC_TOKEN": "t"}


def targets(text: str = MINIMAL) -> tuple[TargetConfig, ...]:
    return parse_config(text, env=ENV).targets


def status(state: State, job_type: str = "createVolume", *, start: float | None = None, end: float | None = None,
           resource: str = "") -> TaskStatus:  # fmt: skip
    return TaskStatus(state, state.value.upper(), start=start, end=end, job_type=job_type, resource_id=resource)


def counts(history: History) -> dict[tuple[str, str], int]:
    return {(key[4], key[5]): series.count for key, series in history.series() if series.count}


RUNNING = status(State.RUNNING, start=STARTED + 10)


def test_a_task_seen_running_then_final_counts_once_whatever_answers_and_targets_repeat() -> None:
    history = History(HistorySettings(), STARTED)
    (target,) = targets()
    other = TargetConfig(**{**target.__dict__, "account": "other"})  # the same project, another account
    done = status(State.FAILED, start=STARTED + 10, end=STARTED + 70)
    history.answered(target, "t1", None, RUNNING, STARTED + 20)
    history.collected()  # a scrape showed its series at 0
    for _ in range(3):
        history.answered(target, "t1", RUNNING, done, STARTED + 80)
        history.answered(other, "t1", RUNNING, done, STARTED + 80)
    assert counts(history) == {("createVolume", "failed"): 1}


@pytest.mark.parametrize(
    ("first", "counted"),
    [
        (status(State.SUCCEEDED, start=STARTED - 100, end=STARTED + 5), 1),  # ended after the start: a short job
        (status(State.SUCCEEDED, start=STARTED - 100, end=STARTED - 5), 0),  # an earlier process's
        (status(State.SUCCEEDED), 0),  # no end, never seen unfinished: when it ended is unknown
    ],
)
def test_a_task_first_seen_final_counts_only_when_it_ended_after_the_start(first: TaskStatus, counted: int) -> None:
    history = History(HistorySettings(), STARTED)
    (target,) = targets()
    history.answered(target, "t1", None, first, STARTED + 10)
    history.collected()  # the series is shown at 0 first
    history.collected()
    assert sum(counts(history).values()) == counted


def test_a_restart_counts_nothing_again() -> None:
    (target,) = targets()
    done = status(State.SUCCEEDED, start=STARTED + 10, end=STARTED + 50)
    first = History(HistorySettings(), STARTED)
    first.answered(target, "t1", None, RUNNING, STARTED + 20)
    first.collected()
    first.answered(target, "t1", RUNNING, done, STARTED + 60)
    assert sum(counts(first).values()) == 1
    restarted = History(HistorySettings(), STARTED + 100)
    restarted.answered(target, "t1", None, done, STARTED + 110)
    restarted.collected()
    restarted.collected()
    assert counts(restarted) == {}


def test_a_new_series_is_shown_at_zero_before_its_first_completion() -> None:
    history = History(HistorySettings(), STARTED)
    (target,) = targets()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HistoryCollector(history))
    done = status(State.SUCCEEDED, "deleteVolume", start=STARTED + 1, end=STARTED + 61)
    history.answered(target, "t1", None, done, STARTED + 70)  # a job type never seen, already final
    line = (
        'huaweicloud_task_completions_total{account="prod",cloud_service="evs",job_type="deleteVolume",'
        f'project_id="{PROJECT}",region="cn-north-4",state="succeeded"}}'
    )
    scrapes = [generate_latest(registry).decode() for _ in range(3)]
    assert [f"{line} 0.0" in s for s in scrapes] == [True, False, False]
    assert [f"{line} 1.0" in s for s in scrapes] == [False, True, True]
    assert "le=" in scrapes[0] and "# {" not in scrapes[1]  # buckets, and no exemplar in the text format


def test_durations_fall_in_their_buckets_with_the_task_as_exemplar() -> None:
    history = History(HistorySettings(duration_buckets=(60.0, 600.0)), STARTED)
    (target,) = targets()
    history.answered(target, "t0", None, RUNNING, STARTED + 10)
    history.collected()
    for task, took in (("t1", 30.0), ("t2", 300.0), ("t3", 299.0), ("t4", 5000.0)):
        history.answered(target, task, RUNNING, status(State.SUCCEEDED, start=STARTED, end=STARTED + took), STARTED)
    history.answered(target, "t5", RUNNING, status(State.SUCCEEDED), STARTED)  # no times: counted, not observed
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HistoryCollector(history))
    openmetrics = openmetrics_latest(registry).decode()
    key = f'account="prod",cloud_service="evs",job_type="createVolume",project_id="{PROJECT}",region="cn-north-4"'
    assert f'huaweicloud_task_completions_total{{{key},state="succeeded"}} 5.0' in openmetrics

    def bucket(le: str) -> str:
        return (
            'huaweicloud_task_completion_duration_seconds_bucket{account="prod",cloud_service="evs",'
            f'job_type="createVolume",le="{le}",project_id="{PROJECT}",region="cn-north-4",state="succeeded"}}'
        )

    assert f'{bucket("60.0")} 1.0 # {{task_id="t1"}} 30.0 {STARTED}' in openmetrics
    assert f'{bucket("600.0")} 3.0 # {{task_id="t3"}} 299.0 {STARTED}' in openmetrics  # the latest in it
    assert f'{bucket("+Inf")} 4.0 # {{task_id="t4"}} 5000.0 {STARTED}' in openmetrics
    assert f'huaweicloud_task_completion_duration_seconds_sum{{{key},state="succeeded"}} 5629.0' in openmetrics


def test_the_latest_end_per_resource_and_state_with_its_retention_and_cap() -> None:
    history = History(HistorySettings(retention=3600, max_resources=2), STARTED)
    (target,) = targets()
    for task, state, resource, end in (
        ("t1", State.SUCCEEDED, "vol-a", STARTED + 10),
        ("t2", State.SUCCEEDED, "vol-a", STARTED + 30),
        ("t3", State.FAILED, "vol-a", STARTED + 20),
        ("t4", State.SUCCEEDED, "vol-a", STARTED + 25),  # older than t2's: not the latest
    ):
        history.answered(target, task, None, status(state, end=end, resource=resource), STARTED + 40)
    latest = {(k[5], k[6]): end for k, end in history.resources.items()}
    assert latest == {("vol-a", "succeeded"): STARTED + 30, ("vol-a", "failed"): STARTED + 20}
    history.answered(target, "t5", None, status(State.SUCCEEDED, end=STARTED + 35), STARTED + 40)  # no resource
    assert ("", "succeeded") in {(k[5], k[6]) for k in history.resources}
    assert len(history.resources) == 2 and history.dropped_resources == 1  # the one updated longest ago went
    history.expire(STARTED + 35 + 3601)
    assert history.resources == {}


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ("{duration_buckets: [60, 30]}", "history.duration_buckets[1]: expected bucket upper bounds in seconds, "
         "ascending, such as [60, 300, 3600]; 30 does not come after 60"),
        ("{duration_buckets: []}", "history.duration_buckets: expected a list of bucket upper bounds in seconds, "
         "ascending, such as [60, 300, 3600], got an empty one"),
        ("{duration_buckets: [0]}", "history.duration_buckets[0]: expected a positive number of seconds or a "
         "duration such as 5m, got 0"),
        ("{duration_buckets_by_service: {evz: [60]}}", "history.duration_buckets_by_service.evz: unknown "
         "cloud_service 'evz'; did you mean 'evs'?"),
        ("{retention: 60}", "history.retention: expected a number from 3600 to 3.16224e+07, got 60"),
        ("{keep: 1}", "history.keep: unknown key 'keep'"),
    ],
)  # fmt: skip
def test_history_settings_errors(history: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + f"history: {history}\n", env=ENV)
    assert message in str(info.value)


def test_history_settings() -> None:
    config = parse_config(
        MINIMAL + "history: {retention: 48h, duration_buckets: [1m, 1h], duration_buckets_by_service: {cbr: [10m]}}\n",
        env=ENV,
    )
    assert config.history.retention == 48 * 3600
    assert config.history.buckets_for("evs") == (60.0, 3600.0) and config.history.buckets_for("cbr") == (600.0,)


def test_a_probed_task_of_another_shard_is_counted_by_its_own_shard_only() -> None:
    from exporter.model import Shard
    from exporter.tracking.table import Source, TaskTable

    config = parse_config(MINIMAL, env=ENV)
    (target,) = config.targets
    shards = [Shard(i, 2) for i in range(2)]
    task = next(f"{n:032x}" for n in range(100) if shards[1].owns(target.key, f"{n:032x}"))
    done = status(State.SUCCEEDED, start=STARTED + 1, end=STARTED + 9)
    counted = []
    for shard in shards:
        history = History(HistorySettings(), STARTED)
        table = TaskTable(config.tracking, shard, history)
        table.apply(config, STARTED)
        assert table.add(target.key, task, Source.PROBE, STARTED).record is not None  # /probe answers any task
        table.record(target.key, task, RUNNING, STARTED + 2)
        history.collected()
        table.record(target.key, task, done, STARTED + 10)
        counted.append(sum(counts(history).values()))
    assert counted == [0, 1]


def test_the_wait_before_the_start_is_observed_where_the_service_gives_a_creation_time() -> None:
    history = History(HistorySettings(duration_buckets=(60.0, 600.0)), STARTED)
    (target,) = targets()
    history.answered(target, "t0", None, RUNNING, STARTED)
    history.collected()
    created = TaskStatus(
        State.SUCCEEDED,
        "success",
        start=STARTED + 100,
        end=STARTED + 200,
        job_type="createVolume",
        created=STARTED + 10,
    )
    history.answered(target, "t1", RUNNING, created, STARTED + 300)
    history.answered(target, "t2", RUNNING, status(State.SUCCEEDED, start=STARTED, end=STARTED + 50), STARTED + 300)
    series = next(s for k, s in history.series() if k[4:] == ("createVolume", "succeeded"))
    assert (series.count, series.durations.buckets, series.waits.buckets) == (2, [1, 1, 0], [0, 1, 0])
    assert series.waits.exemplars[1] == ("t1", 90.0, STARTED + 300)


def test_completions_of_a_series_nobody_collects_are_not_held_back_for_ever() -> None:
    from exporter.tracking.history import WAITING_MAX

    history = History(HistorySettings(), STARTED)  # only /probe is scraped: collected() never comes
    (target,) = targets()
    for n in range(WAITING_MAX + 5):
        history.answered(target, f"t{n}", RUNNING, status(State.SUCCEEDED, start=STARTED, end=STARTED + 1), STARTED)
    (series,) = [s for k, s in history.series() if k[5] == "succeeded"]
    assert series.count == WAITING_MAX + 5 and len(series.waiting) == 0
