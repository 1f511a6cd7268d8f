"""Where tasks come from and how long they stay: task files (re-read on change, bad files and unmatched
entries reported once, counted, and harmless to other files), discovery through the list APIs, the
finished-task TTL, not-found marking and dropping, and max_tasks. The cloud is an httpx.MockTransport
and the clock is the test's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import structlog.testing
from prometheus_client import CollectorRegistry

from exporter.cloud.client import ApiClient
from exporter.config import Config, ConfigError, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import State
from exporter.services import BUILTIN
from exporter.tracking import Dropped, DropReason, Source, TaskTable, Tracker, tracked_counts
from tests.conftest import PROJECT

EVS = [f"e7{n:030x}" for n in range(1, 40)]
CODEARTS_PROJECT = "c0" * 16
REQUEST_ID = "ab" * 16


class Cloud:
    """A fake cloud whose jobs the test sets: job ID -> EVS status (absent: 404)."""

    def __init__(self) -> None:
        self.jobs: dict[str, str] = {}
        self.codearts_tasks: list[str] = []
        self.last_checks: dict[str, str | None] = {}  # default: checked recently
        self.codearts_status = 0
        self.cph_jobs: dict[str, int] = {}
        self.requests: list[httpx.Request] = []
        self.lists_fail = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/tasks") and self.lists_fail:
            return httpx.Response(500, json={"error_code": "CC.00000000", "error_msg": "network busy"})
        if path.endswith("/tasks"):  # CodeArts task list: `offset` is a page number from 1 (ShowTaskListByProjectIdV2)
            number, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
            start = (max(number, 1) - 1) * limit
            page = self.codearts_tasks[start : start + limit]
            tasks = [{"task_id": t, "last_check_time": self.last_checks.get(t, "2026-11-20T00:00:00Z")} for t in page]
            body = {"tasks": tasks, "total": len(self.codearts_tasks)}
            return httpx.Response(200, json=body)
        if path.endswith("/progress"):
            return httpx.Response(200, json={"task_status": self.codearts_status, "progress": {"ratio": "10%"}})
        if path.endswith("/cloud-phone/jobs"):
            jobs = [{"job_id": j, "status": s, "begin_time": "2019-04-26T07:00:00Z"} for j, s in self.cph_jobs.items()]
            offset = int(request.url.params["offset"])
            return httpx.Response(200, json={"request_id": "f" * 32, "jobs": jobs[offset : offset + 100]})
        job = path.rsplit("/", 1)[1]
        if job not in self.jobs:
            return httpx.Response(404, json={"error": {"code": "EVS.7001", "message": "job does not exist"}})
        return httpx.Response(200, json={"status": self.jobs[job], "begin_time": "2016-03-08T07:40:13.219Z"})


def setup(text: str, cloud: Cloud) -> tuple[Config, Tracker, CollectorRegistry, list[float]]:
    config = parse_config(text, env={"T": "t"}, file="/nonexistent/config.yaml")
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry)
    metrics.prepare({(t.account, t.cloud_service, t.region) for t in config.targets}, config.accounts)
    client = ApiClient(config, metrics, transport=lambda _a: httpx.MockTransport(cloud))
    now = [1000.0]
    tracker = Tracker(config, client, clock=lambda: now[0], on_drop=metrics.drop, on_file_error=metrics.file_error)
    return config, tracker, registry, now


def evs_config(tasks: list[str], tracking: str = "", extra: str = "") -> str:
    return f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
{tracking}
{extra}
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://evs.test",
      tasks: [{", ".join(tasks)}]}}
"""


def tasks_of(tracker: Tracker) -> dict[str, str]:
    return {task_id: record.source for state in tracker.targets for task_id, record in state.tasks.items()}


async def test_finished_tasks_leave_after_their_ttl(tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.jobs = {EVS[0]: "SUCCESS", EVS[1]: "RUNNING"}
    _, tracker, registry, now = setup(evs_config(EVS[:2], "tracking: {finished_ttl: 1h}"), cloud)
    await tracker.refresh(5)
    assert set(tasks_of(tracker)) == {EVS[0], EVS[1]}
    now[0] += 3599
    await tracker.refresh(5)
    assert EVS[0] in tasks_of(tracker)
    now[0] += 2  # an hour after the exporter first saw it succeeded
    await tracker.refresh(5)
    assert set(tasks_of(tracker)) == {EVS[1]}
    assert (
        registry.get_sample_value("huaweicloud_task_dropped_total", {"cloud_service": "evs", "reason": "finished_ttl"})
        == 1
    )
    # The config still names it, but it left: a reload does not bring it back.
    tracker.apply(tracker.config)
    assert set(tasks_of(tracker)) == {EVS[1]}


async def test_a_task_the_cloud_does_not_know_is_marked_then_dropped() -> None:
    cloud = Cloud()
    _, tracker, registry, now = setup(evs_config(EVS[:1], "tracking: {not_found_limit: 3}"), cloud)
    for expected_present in (True, True, False):
        await tracker.refresh(5)
        now[0] += 30  # a not-found is a failed ask: asked again one poll interval later, not at once
        record = next(iter(tracker.targets[0].tasks.values()), None)
        assert (record is not None) == expected_present
        if record is not None:
            assert record.status is not None
            assert (record.status.state, record.status.raw_status) == (State.UNKNOWN, "not_found")
    assert (
        registry.get_sample_value("huaweicloud_task_dropped_total", {"cloud_service": "evs", "reason": "not_found"})
        == 1
    )
    assert tracker.targets[0].up  # the API answered: not an outage


async def test_a_found_answer_resets_the_not_found_count() -> None:
    cloud = Cloud()
    _, tracker, _, _ = setup(evs_config(EVS[:1], "tracking: {not_found_limit: 2}"), cloud)
    await tracker.refresh(5)  # 404
    cloud.jobs[EVS[0]] = "RUNNING"
    await tracker.refresh(5)
    del cloud.jobs[EVS[0]]
    await tracker.refresh(5)  # one 404 again: still there
    assert EVS[0] in tasks_of(tracker)


async def test_max_tasks_drops_the_oldest_finished_first(tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.jobs = {EVS[0]: "SUCCESS", EVS[1]: "FAIL", EVS[2]: "RUNNING", EVS[3]: "RUNNING"}
    text = evs_config(EVS[:3], "tracking: {max_tasks: 3}", f"task_files: ['{tmp_path}/*.yaml']")
    _, tracker, registry, now = setup(text, cloud)
    await tracker.refresh(5)
    now[0] += 10
    # A fourth task arrives in a task file: the oldest finished one makes room.
    (tmp_path / "t.yaml").write_text(f"tasks: [{{cloud_service: evs, task_id: {EVS[3]}}}]\n")
    await tracker.settle_files()
    assert set(tasks_of(tracker)) == {EVS[1], EVS[2], EVS[3]}
    dropped = {"cloud_service": "evs", "reason": "max_tasks"}
    assert registry.get_sample_value("huaweicloud_task_dropped_total", dropped) == 1


async def test_max_tasks_refuses_new_tasks_when_none_is_finished(tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.jobs = dict.fromkeys(EVS[:6], "RUNNING")
    entries = "".join(f"  - {{cloud_service: evs, task_id: {t}}}\n" for t in EVS[2:6])
    (tmp_path / "t.yaml").write_text("tasks:\n" + entries)
    text = evs_config(EVS[:2], "tracking: {max_tasks: 3}", f"task_files: ['{tmp_path}/*.yaml']")
    with structlog.testing.capture_logs() as logs:
        _, tracker, registry, _ = setup(text, cloud)
        await tracker.settle_files()
    assert len(tasks_of(tracker)) == 3
    dropped = {"cloud_service": "evs", "reason": "max_tasks"}
    assert registry.get_sample_value("huaweicloud_task_dropped_total", dropped) == 3
    assert len([e for e in logs if e["event"].startswith("max_tasks reached")]) == 1  # said once, counted always


def test_more_configured_tasks_than_max_tasks_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"services\[0\]: 3 tasks listed, but tracking.max_tasks is 2: raise"):
        parse_config(evs_config(EVS[:3], "tracking: {max_tasks: 2}"), env={"T": "t"})


# --- task files -------------------------------------------------------------------------------------


async def test_task_files_are_read_reread_and_bad_ones_lose_nothing(tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.jobs = {task: "RUNNING" for task in EVS[:6]}
    good = tmp_path / "pipeline-1.yaml"
    good.write_text(f"tasks:\n  - {{cloud_service: evs, task_id: {EVS[1]}}}\n")
    other = tmp_path / "pipeline-2.json"
    other.write_text(json.dumps({"tasks": [{"cloud_service": "evs", "task_id": EVS[2], "region": "cn-north-4"}]}))
    text = evs_config(
        EVS[:1], "tracking: {task_files_interval: 1s}", f"task_files: ['{tmp_path}/*.yaml', '{tmp_path}/*.json']"
    )
    _, tracker, registry, _ = setup(text, cloud)
    await tracker.settle_files()
    assert tasks_of(tracker) == {EVS[0]: "static", EVS[1]: "file", EVS[2]: "file"}
    await tracker.refresh(5)
    assert all(r.status is not None for r in tracker.targets[0].tasks.values())

    # The pipeline appends a task; a broken file and an unmatched entry are reported once each.
    good.write_text(
        f"tasks:\n  - {{cloud_service: evs, task_id: {EVS[1]}}}\n  - {{cloud_service: evs, task_id: {EVS[3]}}}\n"
    )
    other.write_text('{"tasks": [')  # caught half-written: its task stays
    (tmp_path / "elsewhere.yaml").write_text(f"tasks:\n  - {{cloud_service: evs, task_id: {EVS[4]}, region: eu-de}}\n")
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            tracker.files_due()  # the check interval has passed
            await tracker.settle_files()
    assert tasks_of(tracker) == {EVS[0]: "static", EVS[1]: "file", EVS[2]: "file", EVS[3]: "file"}
    problems = [(e.get("reason"), e["event"]) for e in logs if e["log_level"] == "warning"]
    assert problems == [
        ("parse", "task file problem"),
        (None, "task file entry matches no configured target"),
    ]
    assert registry.get_sample_value("huaweicloud_task_file_errors_total", {"reason": "parse"}) == 1
    assert registry.get_sample_value("huaweicloud_task_file_errors_total", {"reason": "unmatched"}) == 1

    # A file that goes away takes its tasks with it; the static task stays.
    good.unlink()
    tracker.files_due()
    await tracker.settle_files()
    assert tasks_of(tracker) == {EVS[0]: "static", EVS[2]: "file"}


async def test_task_file_entries_are_validated(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "tasks:\n"
        "  - {cloud_service: evs, task_id: ../../v3/auth/tokens}\n"
        "  - {cloud_service: nosuch, task_id: " + EVS[5] + "}\n"
        "  - {cloud_service: evs, task_id: " + EVS[6] + ", colour: blue}\n"
        "  - {cloud_service: evs, task_id: " + EVS[7] + "}\n"
    )
    text = evs_config([], "", f"task_files: ['{tmp_path}/*.yaml']")
    with structlog.testing.capture_logs() as logs:
        _, tracker, registry, _ = setup(text, Cloud())
        await tracker.settle_files()
    assert tasks_of(tracker) == {EVS[7]: "file"}
    problems = [e["problem"] for e in logs if e.get("reason") == "invalid_entry"]
    assert problems == [
        "tasks[0]: invalid task_id '../../v3/auth/tokens': expected 16 to 64 hexadecimal characters, or a UUID",
        f"tasks[1]: cloud_service must be one of {', '.join(sorted(BUILTIN))}, got 'nosuch'",
        "tasks[2]: unknown key 'colour'; expected cloud_service, task_id, account, region, project_id",
    ]
    assert registry.get_sample_value("huaweicloud_task_file_errors_total", {"reason": "invalid_entry"}) == 3


# --- discovery ---------------------------------------------------------------------------------------


DISCOVERY = f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
tracking: {{discovery_interval: 5m, poll_interval: 0}}
services:
  - cloud_service: codearts_check
    account: prod
    region: cn-north-4
    endpoint: "http://codearts.test"
    discover: {{codearts_projects: [{CODEARTS_PROJECT}]}}
  - cloud_service: cph
    account: prod
    region: cn-north-4
    project_id: {PROJECT}
    endpoint: "http://cph.test"
    discover: {{request_ids: [{REQUEST_ID}]}}
"""


async def test_codearts_discovery_pages_through_the_list_at_most_every_interval() -> None:
    cloud = Cloud()
    cloud.codearts_tasks = [f"c0de{n:028x}" for n in range(250)]
    _, tracker, _, now = setup(DISCOVERY, cloud)
    await tracker.refresh(10)
    lists = [r for r in cloud.requests if r.url.path.endswith("/tasks")]
    assert [r.url.params["offset"] for r in lists] == ["1", "2", "3"]  # pages, not records
    assert lists[0].url.path == f"/v2/{CODEARTS_PROJECT}/tasks"
    codearts = next(s for s in tracker.targets if s.target.cloud_service == "codearts_check")
    assert tracked_counts(codearts)["discovered"] == 250
    assert all(r.status is not None and r.status.state is State.RUNNING for r in codearts.tasks.values())
    assert codearts.discovery_success == now[0]
    # Not again before the interval: the next scrapes only poll the tasks' progress.
    cloud.codearts_tasks.append("c0de" + "f" * 28)
    now[0] += 299
    await tracker.refresh(10)
    assert len([r for r in cloud.requests if r.url.path.endswith("/tasks")]) == 3
    now[0] += 2
    await tracker.refresh(10)
    codearts = next(s for s in tracker.targets if s.target.cloud_service == "codearts_check")  # the new snapshot
    assert tracked_counts(codearts)["discovered"] == 251


async def test_discovery_failure_keeps_the_last_list() -> None:
    cloud = Cloud()
    cloud.codearts_tasks = [f"c0de{n:028x}" for n in range(5)]
    _, tracker, _, now = setup(DISCOVERY, cloud)
    await tracker.refresh(10)
    cloud.lists_fail = True
    now[0] += 301
    await tracker.refresh(10)
    codearts = next(s for s in tracker.targets if s.target.cloud_service == "codearts_check")
    assert tracked_counts(codearts)["discovered"] == 5
    assert codearts.discovery_success == 1000.0


async def test_cph_jobs_of_request_ids_come_from_one_list_call() -> None:
    cloud = Cloud()
    cloud.cph_jobs = {f"ce11{n:028x}": 1 for n in range(30)}
    _, tracker, _, _ = setup(DISCOVERY, cloud)
    await tracker.refresh(10)
    cph = next(s for s in tracker.targets if s.target.cloud_service == "cph")
    assert tracked_counts(cph)["discovered"] == 30
    job_calls = [r for r in cloud.requests if "cloud-phone" in r.url.path]
    assert len(job_calls) == 1  # one call answered for 30 jobs: no per-job calls
    assert job_calls[0].url.params["request_ids"] == REQUEST_ID
    # While jobs run, the list is the poll: once per scrape.
    cloud.cph_jobs = dict.fromkeys(cloud.cph_jobs, 2)
    await tracker.refresh(10)
    assert len([r for r in cloud.requests if "cloud-phone" in r.url.path]) == 2
    cph = next(s for s in tracker.targets if s.target.cloud_service == "cph")  # the new snapshot
    assert all(r.status is not None and r.status.state is State.SUCCEEDED for r in cph.tasks.values())
    await tracker.refresh(10)  # all final, interval not over: no call
    assert len([r for r in cloud.requests if "cloud-phone" in r.url.path]) == 2


def test_discovery_config_errors() -> None:
    bad = DISCOVERY.replace("discover: {codearts_projects", "discover: {request_ids")
    with pytest.raises(ConfigError, match=r"services\[0\]\.discover\.request_ids: unknown key 'request_ids'; expected"):
        parse_config(bad, env={"T": "t"}, file="c.yaml")
    evs = evs_config(EVS[:1]).replace("tasks: [", f"discover: {{request_ids: [{REQUEST_ID}]}}, tasks: [")
    with pytest.raises(
        ConfigError,
        match="evs has no list API to discover tasks with; discovery exists for as, cbr, cce_upgrade, cdm, "
        "codearts_check",
    ):
        parse_config(evs, env={"T": "t"}, file="c.yaml")


async def test_codearts_discovery_skips_never_checked_tasks_and_follows_new_runs() -> None:
    cloud = Cloud()
    never, old, rerun = "c0de" + "1" * 28, "c0de" + "2" * 28, "c0de" + "3" * 28
    cloud.codearts_tasks = [never, old, rerun]
    cloud.last_checks = {never: None, old: "2020-01-01T00:00:00Z", rerun: "2026-11-20T00:00:00Z"}
    _, tracker, _, now = setup(DISCOVERY, cloud)
    now[0] = 1_795_000_000.0  # 2026-11-17: "old" was last checked years ago
    cloud.codearts_status = 2  # succeeded
    await tracker.refresh(10)
    codearts = next(s for s in tracker.targets if s.target.cloud_service == "codearts_check")
    assert set(codearts.tasks) == {rerun}
    assert codearts.tasks[rerun].final
    progress_calls = len([r for r in cloud.requests if r.url.path.endswith("/progress")])
    # The task is checked again: the list shows a newer last_check_time, so the new run is followed.
    cloud.last_checks[rerun] = "2026-11-21T00:00:00Z"
    cloud.codearts_status = 0
    now[0] += 301
    await tracker.refresh(10)
    assert len([r for r in cloud.requests if r.url.path.endswith("/progress")]) == progress_calls + 1
    codearts = next(s for s in tracker.targets if s.target.cloud_service == "codearts_check")  # the new snapshot
    status = codearts.tasks[rerun].status
    assert status is not None and status.state is State.RUNNING


async def test_codearts_newer_check_of_a_branch_is_not_taken_for_a_new_run() -> None:
    # last_check_time covers branch and incremental checks too (codecheck_api_1004): when it moves but the
    # status API still says the task ended, nothing restarts; the finished TTL keeps counting.
    cloud = Cloud()
    task = "c0de" + "4" * 28
    cloud.codearts_tasks, cloud.last_checks = [task], {task: "2026-11-20T00:00:00Z"}
    _, tracker, _, now = setup(DISCOVERY, cloud)
    now[0] = 1_795_000_000.0
    cloud.codearts_status = 2
    await tracker.refresh(10)
    codearts = next(s for s in tracker.targets if s.target.cloud_service == "codearts_check")
    finished_at = codearts.tasks[task].final_since
    cloud.last_checks[task] = "2026-11-21T00:00:00Z"
    now[0] += 301
    with structlog.testing.capture_logs() as logs:
        await tracker.refresh(10)
    assert [e["event"] for e in logs if e.get("task_id") == task] == [
        "the list shows a newer check; asking the task's status again"
    ]
    assert len([r for r in cloud.requests if r.url.path.endswith("/progress")]) == 2
    record = codearts.tasks[task]
    assert record.final and record.final_since == finished_at and not record.ask_again
    now[0] += 301  # unchanged list: not asked again
    await tracker.refresh(10)
    assert len([r for r in cloud.requests if r.url.path.endswith("/progress")]) == 2


async def test_cph_jobs_missing_from_the_list_are_asked_on_their_own() -> None:
    cloud = Cloud()
    job = "ce11" + "1" * 28
    cloud.cph_jobs = {job: 1}
    _, tracker, _, _ = setup(DISCOVERY, cloud)
    await tracker.refresh(10)
    cloud.cph_jobs = {}  # the cloud no longer lists it while it was running
    await tracker.refresh(10)
    cph = next(s for s in tracker.targets if s.target.cloud_service == "cph")
    assert not cph.tasks[job].listed
    await tracker.refresh(10)
    assert any(r.url.path.endswith(f"/cloud-phone/jobs/{job}") for r in cloud.requests)


async def test_a_task_file_of_the_wrong_types_is_a_parse_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(f"tasks: [{{cloud_service: [evs], task_id: {EVS[0]}}}]\n")
    (tmp_path / "b.json").write_text("[" * 100_000)
    (tmp_path / "c.yaml").write_text(f"tasks: [{{cloud_service: evs, task_id: {EVS[1]}}}]\n")
    text = evs_config([], "", f"task_files: ['{tmp_path}/*.yaml', '{tmp_path}/*.json']")
    with structlog.testing.capture_logs() as logs:
        _, tracker, _, _ = setup(text, Cloud())
        await tracker.settle_files()
        await tracker.refresh(5)
    assert tasks_of(tracker) == {EVS[1]: "file"}  # the good file's task, whatever the others hold
    reasons = sorted(e["reason"] for e in logs if e["event"] == "task file problem")
    assert reasons == ["invalid_entry", "parse"]


async def test_a_probed_task_named_by_another_source_joins_that_source(tmp_path: Path) -> None:
    cloud = Cloud()
    cloud.jobs = {EVS[0]: "RUNNING"}
    (tmp_path / "t.yaml").write_text("tasks: []\n")
    text = evs_config([], "", f"task_files: ['{tmp_path}/*.yaml']")
    _, tracker, _, _ = setup(text, cloud)
    key = tracker.targets[0].target.key
    await tracker.probe(key, EVS[0], 5)
    assert tasks_of(tracker) == {EVS[0]: "probe"}
    (tmp_path / "t.yaml").write_text(f"tasks: [{{cloud_service: evs, task_id: {EVS[0]}}}]\n")
    await tracker.settle_files()
    assert tasks_of(tracker) == {EVS[0]: "file"}


async def test_probes_of_made_up_ids_store_nothing_and_probes_never_push_out_other_tasks() -> None:
    cloud = Cloud()
    cloud.jobs = {EVS[0]: "FAIL", **{task: "RUNNING" for task in EVS[1:10]}}
    _, tracker, _, _ = setup(evs_config(EVS[:2], "tracking: {max_tasks: 3}"), cloud)
    await tracker.refresh(5)
    key = tracker.targets[0].target.key
    for made_up in (f"dead{n:028x}" for n in range(20)):
        _, record, up = await tracker.probe(key, made_up, 5)
        assert up
        assert record is not None and record.status is not None and record.status.raw_status == "not_found"
    assert set(tasks_of(tracker)) == {EVS[0], EVS[1]}  # nothing stored for IDs the cloud does not know
    for task in EVS[2:10]:  # real tasks, probed: their own cap (3), the oldest probe makes room
        await tracker.probe(key, task, 5)
    sources = tasks_of(tracker)
    assert [t for t, source in sources.items() if source == "static"] == [EVS[0], EVS[1]]  # the failed one stays
    assert sum(1 for source in sources.values() if source == "probe") == 3


async def test_concurrent_probes_of_one_task_share_one_query() -> None:
    cloud = Cloud()
    cloud.jobs = {EVS[0]: "RUNNING"}
    _, tracker, _, _ = setup(evs_config([]), cloud)
    key = tracker.targets[0].target.key
    results = await asyncio.gather(*(tracker.probe(key, EVS[0], 5) for _ in range(20)))
    assert all(up for _, _, up in results)
    assert len(cloud.requests) == 1


async def test_probe_only_tasks_age_out_without_metrics_scrapes() -> None:
    cloud = Cloud()
    cloud.jobs = {EVS[0]: "RUNNING", EVS[1]: "RUNNING"}
    _, tracker, _, now = setup(evs_config([], "tracking: {probe_ttl: 10m}"), cloud)
    key = tracker.targets[0].target.key
    await tracker.probe(key, EVS[0], 5)
    now[0] += 601
    await tracker.probe(key, EVS[1], 5)  # only /probe is scraped: the other probe task still ages out
    assert set(tasks_of(tracker)) == {EVS[1]}


def test_the_list_of_tasks_that_left_stays_bounded_and_forgets_the_oldest() -> None:
    config = parse_config(evs_config([], "tracking: {max_tasks: 1}"), env={"T": "t"})
    table = TaskTable(config.tracking)
    table.apply(config, 1000.0)
    (key,) = table.target_keys()
    for index, task in enumerate(EVS[:15]):
        assert table.retire(key, task, DropReason.NOT_FOUND, 1000.0 + index) == Dropped(key, task, DropReason.NOT_FOUND)
    # 10 x max_tasks remembered, the five oldest forgotten: those may come back, the others may not.
    assert [table.retired_at(key, task) for task in EVS[:6]] == [None] * 5 + [1005.0]
    assert table.add(key, EVS[6], Source.FILE, 2000.0).record is None  # retired: not taken back (room is free)
    assert table.add(key, EVS[0], Source.FILE, 2000.0).record is not None  # forgotten: welcome again
