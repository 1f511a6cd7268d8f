"""End to end over real sockets: the fake cloud, the exporter configured with a YAML file and IAM password
login, and HTTP scrapes of `/metrics`, checked sample by sample and with `promtool check metrics`."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.config import load_config
from exporter.demo import aksk_auth, demo_config, password_auth
from exporter.exposition.render import TaskText
from exporter.exposition.server import make_app, serve
from exporter.simulator import (
    DEMO_PASSWORD,
    DEMO_SECRET_KEY,
    DEMO_SECURITY_TOKEN,
    DEMO_TEMP_ACCESS_KEY,
    DEMO_TEMP_SECRET_KEY,
    DEMO_TOKEN,
    Simulator,
    default_scenario,
    parse_scenario,
    start_simulator,
)
from tests.conftest import Scrape

P = "0123456789abcdef0123456789abcdef"
MISSING = "ffffffffffffffffffffffffffffffff"


def ident(prefix: str, n: int) -> str:
    return f"{prefix}{n:0{32 - len(prefix)}d}"


E_RUN, E_BATCH, E_FAIL, E_OK, E_INIT, E_LATER = (ident("e7", n) for n in range(1, 7))
D_FAIL, D_RUN, D_STOP, D_OK = (ident("d5", n) for n in range(1, 5))
C_OK, C_FAIL, C_RUN = (ident("ce", n) for n in range(1, 4))
K_NEVER, K_RUN, K_OK, K_FAIL, K_STOP = (ident("c0", n) for n in range(1, 6))

SCENARIO = {
    "tasks": [
        {"cloud_service": "evs", "task_id": E_RUN, "begin": -600, "phases": [{"after": 0, "status": "RUNNING"}]},
        {
            "cloud_service": "evs",
            "task_id": E_BATCH,
            "job_type": "batchCreateVolume",
            "phases": [{"after": 0, "status": "RUNNING"}],
            "sub_jobs": [
                {"job_id": ident("eb", 1), "phases": [{"after": 0, "status": "SUCCESS"}]},
                {"job_id": ident("eb", 2), "phases": [{"after": 0, "status": "SUCCESS"}]},
                {"job_id": ident("eb", 3), "phases": [{"after": 0, "status": "RUNNING"}]},
                {"job_id": ident("eb", 4), "phases": [{"after": 0, "status": "FAIL", "error_code": "EVS.5400"}]},
            ],
        },
        {
            "cloud_service": "evs",
            "task_id": E_FAIL,
            "begin": -100,
            "phases": [{"after": 0, "status": "FAIL", "error_code": "EVS.2024", "fail_reason": "quota\nexceeded"}],
        },
        {"cloud_service": "evs", "task_id": E_OK, "begin": -100, "phases": [{"after": 0, "status": "SUCCESS"}]},
        {"cloud_service": "evs", "task_id": E_INIT, "phases": [{"after": 0, "status": "INIT"}]},
        {
            "cloud_service": "evs",
            "task_id": E_LATER,
            "phases": [{"after": 0, "status": "RUNNING"}, {"after": 60, "status": "SUCCESS"}],
        },
        {
            "cloud_service": "dws",
            "task_id": D_FAIL,
            "job_name": "ecfClusterElbCreateJob",
            "begin": -300,
            "phases": [
                {
                    "after": 0,
                    "status": "FAIL",
                    "progress": 9,
                    "failed_code": "CreateELBTask-fail:DWS.0114",
                    "failed_detail": "DWS.0114:ELB private IP is not configured.",
                }
            ],
        },
        {"cloud_service": "dws", "task_id": D_RUN, "phases": [{"after": 0, "status": "RUNNING", "progress": 40}]},
        {"cloud_service": "dws", "task_id": D_STOP, "begin": -50, "phases": [{"after": 0, "status": "STOP"}]},
        {"cloud_service": "dws", "task_id": D_OK, "begin": -50, "phases": [{"after": 0, "status": "SUCCESS"}]},
        {"cloud_service": "cph", "task_id": C_OK, "begin": -6, "phases": [{"after": 0, "status": 2}]},
        {
            "cloud_service": "cph",
            "task_id": C_FAIL,
            "begin": -6,
            "phases": [{"after": 0, "status": -1, "error_code": "CPS.0137", "error_msg": "Phone reset failed."}],
        },
        {"cloud_service": "cph", "task_id": C_RUN, "phases": [{"after": 0, "status": 1}]},
        {"cloud_service": "codearts_check", "task_id": K_NEVER, "phases": [{"after": 0, "status": None}]},
        {"cloud_service": "codearts_check", "task_id": K_RUN, "phases": [{"after": 0, "status": 0, "progress": 50}]},
        {"cloud_service": "codearts_check", "task_id": K_OK, "phases": [{"after": 0, "status": 2}]},
        {"cloud_service": "codearts_check", "task_id": K_FAIL, "phases": [{"after": 0, "status": 1}]},
        {"cloud_service": "codearts_check", "task_id": K_STOP, "phases": [{"after": 0, "status": 3}]},
    ]
}


@dataclass
class Stack:
    sim: Simulator
    exporter: Exporter
    http: httpx.AsyncClient
    config_file: Path

    def sim_url_port(self) -> int:
        return int(self._close[0].port)  # type: ignore[attr-defined]

    async def scrape(self, timeout: float | None = None) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        headers = {"X-Prometheus-Scrape-Timeout-Seconds": str(timeout)} if timeout else {}
        response = await self.http.get("/metrics", headers=headers)
        assert response.status_code == 200
        return samples(response.text)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def task_value(data: Scrape, name: str, task_id: str, **labels: str) -> float | None:
    matches = [
        v for (n, ls), v in data.items() if n == name and ("task_id", task_id) in ls and set(labels.items()) <= ls
    ]
    assert len(matches) <= 1, matches
    return matches[0] if matches else None


def state_of(data: Scrape, task_id: str) -> str:
    states = [
        dict(ls)["state"]
        for (n, ls), v in data.items()
        if n == "huaweicloud_task_status" and ("task_id", task_id) in ls and v == 1
    ]
    assert len(states) == 1, f"{task_id}: {states}"
    return str(states[0])


def auth_block(kind: str, tmp_path: Path) -> dict[str, object]:
    """The account's auth for each way of signing in to the fake cloud, secrets in files."""
    if kind == "token":
        return {"type": "token", "token": DEMO_TOKEN}
    if kind == "password":
        (tmp_path / "password").write_text(DEMO_PASSWORD)
        return password_auth(str(tmp_path / "password"))
    if kind == "temporary-aksk":
        (tmp_path / "sk").write_text(DEMO_TEMP_SECRET_KEY)
        (tmp_path / "st").write_text(DEMO_SECURITY_TOKEN)
        return {"type": "aksk", "access_key": DEMO_TEMP_ACCESS_KEY, "secret_key_file": str(tmp_path / "sk"),
                "security_token_file": str(tmp_path / "st")}  # fmt: skip
    (tmp_path / "sk").write_text(DEMO_SECRET_KEY)
    return aksk_auth(str(tmp_path / "sk"))


async def start_stack(
    tmp_path: Path,
    scenario: object,
    extra_tasks: dict[str, list[str]] | None = None,
    *,
    auth: str = "aksk",
    account_extra: dict[str, object] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    scrape: dict[str, object] | None = None,
    target_extra: dict[str, dict[str, object]] | None = None,
) -> Stack:
    """The fake cloud of `scenario` and an exporter tracking its tasks (plus `extra_tasks`); `target_extra`
    adds keys to the targets of a cloud service (e.g. `discover`)."""
    sim = Simulator(parse_scenario(scenario) if isinstance(scenario, dict) else scenario)  # type: ignore[arg-type]
    running = await start_simulator(sim, ssl_context=ssl_context)
    targets = [
        (t.cloud_service, t.project_id, [*t.task_ids, *(extra_tasks or {}).get(t.cloud_service, [])])
        for t in sim.scenario.targets()
    ]
    document = yaml.safe_load(demo_config(running.url, targets, auth_block(auth, tmp_path)))
    document["accounts"][0].update(account_extra or {})
    for target in document["services"]:
        target.update((target_extra or {}).get(target["cloud_service"], {}))
    if scrape:
        document["scrape"] = scrape
    # Every scrape asks every unfinished task (tracking.poll_interval 0, not the default 30 s): the fake
    # cloud's time moves with `sim.advance`, the exporter's with the wall clock, and these tests expect the
    # next scrape to show what the cloud says now. Poll intervals are tested in test_poll_interval.py.
    document["tracking"] = {"poll_interval": 0}
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(document, sort_keys=False))
    exporter = Exporter(load_config(config_file))
    serving = await serve(make_app(exporter, lifecycle=True), "127.0.0.1", 0)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30)
    stack = Stack(sim, exporter, http, config_file)
    stack._close = (running, serving)  # type: ignore[attr-defined]
    return stack


async def stop_stack(stack: Stack) -> None:
    running, serving = stack._close  # type: ignore[attr-defined]
    await stack.http.aclose()
    await serving.stop()
    await running.close()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = await start_stack(tmp_path, SCENARIO, extra_tasks={"evs": [MISSING]})
    yield stack
    await stop_stack(stack)


async def test_every_state_of_every_service(stack: Stack) -> None:
    data = await stack.scrape()
    expected = {
        E_RUN: "running", E_BATCH: "running", E_FAIL: "failed", E_OK: "succeeded", E_INIT: "pending",
        D_FAIL: "failed", D_RUN: "running", D_STOP: "stopped", D_OK: "succeeded",
        C_OK: "succeeded", C_FAIL: "failed", C_RUN: "running",
        K_NEVER: "pending", K_RUN: "running", K_OK: "succeeded", K_FAIL: "failed", K_STOP: "stopped",
    }  # fmt: skip
    assert {task: state_of(data, task) for task in expected} == expected
    # All six state series exist for each task, exactly one of them 1.
    for task in expected:
        states = {
            dict(ls)["state"]: v
            for (n, ls), v in data.items()
            if n == "huaweicloud_task_status" and ("task_id", task) in ls
        }
        assert sorted(states) == ["failed", "pending", "running", "stopped", "succeeded", "unknown"]
        assert sum(states.values()) == 1


async def test_answers_taken_in_early_render_into_the_same_scrape(tmp_path: Path) -> None:
    """Two requests at a time: the answers in before the last query are rendered while it is out (the
    exporter's early take), and the scrape shows every task as one without it would."""
    stack = await start_stack(tmp_path, SCENARIO, scrape={"concurrency": 2})
    prepared = []
    prepare = stack.exporter.task_text.prepare

    def counted() -> None:
        prepared.append(1)
        prepare()

    stack.exporter.task_text.prepare = counted  # type: ignore[method-assign]
    try:
        data = await stack.scrape()
    finally:
        await stop_stack(stack)
    assert prepared == [1]
    assert {state_of(data, task) for task in (E_RUN, E_FAIL, E_OK, D_STOP, C_OK, K_NEVER)} == {
        "running",
        "failed",
        "succeeded",
        "stopped",
        "pending",
    }
    now = time.time()  # one clock for both renders (running tasks' durations move with it)
    stack.exporter.task_text._clock = lambda: now
    fresh = TaskText(lambda: stack.exporter.tracker.snapshot, lambda: now, lambda: stack.exporter.config.metrics)
    assert b"".join(fresh.render()) == b"".join(stack.exporter.task_text.render())


async def test_progress_times_and_errors(stack: Stack) -> None:
    data = await stack.scrape()
    progress = "huaweicloud_task_progress_ratio"
    assert task_value(data, progress, D_FAIL) == pytest.approx(0.09)  # a failed DWS job keeps its 9 %
    assert task_value(data, progress, D_RUN) == pytest.approx(0.4)
    assert task_value(data, progress, K_RUN) == pytest.approx(0.5)
    assert task_value(data, progress, K_NEVER) is None  # never checked: no sample, not a made-up 0
    assert task_value(data, progress, E_RUN) is None  # EVS single jobs report no progress
    assert task_value(data, progress, E_BATCH) == pytest.approx(0.75)  # 3 of 4 sub-jobs finished
    for task in (E_OK, D_OK, C_OK, K_OK):
        assert task_value(data, progress, task) == 1.0

    subs = {
        s: task_value(data, "huaweicloud_task_sub_tasks", E_BATCH, state=s)
        for s in ("succeeded", "running", "failed", "pending")
    }
    assert subs == {"succeeded": 2, "running": 1, "failed": 1, "pending": 0}
    assert task_value(data, "huaweicloud_task_sub_tasks", E_RUN, state="running") is None

    start = task_value(data, "huaweicloud_task_start_timestamp_seconds", E_OK)
    end = task_value(data, "huaweicloud_task_end_timestamp_seconds", E_OK)
    assert start is not None and end is not None
    assert task_value(data, "huaweicloud_task_duration_seconds", E_OK) == pytest.approx(end - start)
    assert task_value(data, "huaweicloud_task_end_timestamp_seconds", E_RUN) is None  # end_time "" while running
    running_for = task_value(data, "huaweicloud_task_duration_seconds", E_RUN)
    assert running_for is not None and 590 <= running_for <= 700  # began 600 s before the fake cloud started
    assert task_value(data, "huaweicloud_task_duration_seconds", K_OK) is None  # CodeArts reports no times

    error = "huaweicloud_task_error_info"
    assert (
        task_value(
            data,
            error,
            D_FAIL,
            error_code="CreateELBTask-fail:DWS.0114",
            error_message="DWS.0114:ELB private IP is not configured.",
        )
        == 1
    )
    assert task_value(data, error, E_FAIL, error_code="EVS.2024", error_message="quota exceeded") == 1
    assert task_value(data, error, C_FAIL, error_code="CPS.0137", error_message="Phone reset failed.") == 1
    assert task_value(data, error, K_FAIL, error_code="", error_message="") == 1
    assert task_value(data, error, E_OK) is None

    assert task_value(data, "huaweicloud_task_info", D_FAIL, job_name="ecfClusterElbCreateJob", raw_status="FAIL") == 1
    assert task_value(data, "huaweicloud_task_info", E_BATCH, job_type="batchCreateVolume", raw_status="RUNNING") == 1
    assert task_value(data, "huaweicloud_task_info", K_NEVER, raw_status="null") == 1
    assert task_value(data, "huaweicloud_task_info", C_FAIL, raw_status="-1") == 1
    updated = task_value(data, "huaweicloud_task_last_update_timestamp_seconds", E_RUN)
    assert updated is not None and abs(updated - time.time()) < 60


async def test_target_metrics_and_not_found(stack: Stack) -> None:
    data = await stack.scrape()
    for service in ("evs", "dws", "cph", "codearts_check"):
        key = frozenset({"account": "demo", "cloud_service": service, "region": "cn-north-4", "project_id": P}.items())
        assert data[("huaweicloud_task_up", key)] == 1
        assert ("huaweicloud_task_last_success_timestamp_seconds", key) in data
        assert data[("huaweicloud_task_tracked", key | {("source", "static")})] > 0
        assert data[("huaweicloud_task_tracked", key | {("source", "probe")})] == 0
    # A task the cloud does not know: marked unknown/not_found (until dropped), counted, the target stays up.
    assert state_of(data, MISSING) == "unknown"
    assert task_value(data, "huaweicloud_task_info", MISSING, raw_status="not_found") == 1
    errors = data[
        (
            "huaweicloud_task_api_errors_total",
            frozenset(
                {"account": "demo", "cloud_service": "evs", "region": "cn-north-4", "reason": "not_found"}.items()
            ),
        )
    ]
    assert errors == 1


async def test_final_tasks_are_not_asked_again_and_tasks_move_on(stack: Stack) -> None:
    await stack.scrape()
    await stack.scrape()
    assert stack.sim.stats.by_task[E_OK] == 1
    assert stack.sim.stats.by_task[E_RUN] == 2
    stack.sim.advance(61)
    data = await stack.scrape()
    assert state_of(data, E_LATER) == "succeeded"
    assert task_value(data, "huaweicloud_task_progress_ratio", E_LATER) == 1.0
    await stack.scrape()
    assert stack.sim.stats.by_task[E_LATER] == 3


async def test_outage_keeps_last_known_values(stack: Stack) -> None:
    before = await stack.scrape()
    stack.sim.set_fault("server_error")
    during = await stack.scrape()
    evs = frozenset({"account": "demo", "cloud_service": "evs", "region": "cn-north-4", "project_id": P}.items())
    assert during[("huaweicloud_task_up", evs)] == 0
    assert state_of(during, E_RUN) == "running"  # still served, not dropped
    assert task_value(during, "huaweicloud_task_last_update_timestamp_seconds", E_RUN) == task_value(
        before, "huaweicloud_task_last_update_timestamp_seconds", E_RUN
    )
    reason = frozenset(
        {"account": "demo", "cloud_service": "evs", "region": "cn-north-4", "reason": "server_error"}.items()
    )
    assert during[("huaweicloud_task_api_errors_total", reason)] >= 3
    stack.sim.set_fault(None)
    after = await stack.scrape()
    assert after[("huaweicloud_task_up", evs)] == 1


async def test_scrape_deadline_from_prometheus_header(tmp_path: Path) -> None:
    stack = await start_stack(tmp_path, SCENARIO, scrape={"refresh_timeout": 5})
    reason = frozenset({"account": "demo", "cloud_service": "evs", "region": "cn-north-4", "reason": "timeout"}.items())
    try:
        await stack.scrape()
        stack.sim.set_fault("timeout")  # the fake cloud holds every answer for a minute
        started = time.monotonic()
        data = await stack.scrape(timeout=1.5)
        elapsed = time.monotonic() - started
        # Answered at its own deadline (1.5 s minus the 0.5 s offset), not at the refresh's end: the
        # refresh's timeouts, counted when it ends, are not in it. The bound in seconds is the refresh's
        # budget (5 s), with room for a loaded machine (1.6 s seen where 1 s was meant).
        assert data.get(("huaweicloud_task_api_errors_total", reason), 0.0) == 0.0
        assert elapsed < 5
        assert state_of(data, E_RUN) == "running"
        # The refresh goes on with its own budget; its timeouts are counted when it ends, in 5 s.
        await stack.exporter.tracker.wait_idle()
        data = await stack.scrape(timeout=1.5)
        assert data[("huaweicloud_task_api_errors_total", reason)] >= 1
    finally:
        await stop_stack(stack)


async def test_one_callers_tiny_timeout_does_not_set_the_refresh_for_its_partner(stack: Stack) -> None:
    # A scrape with a timeout header of 0.0001 s starts the refresh; the refresh keeps its own budget, so
    # the HA partner's scrape that joins it sees every target up and every poll sent.
    await stack.scrape()
    asked = stack.sim.stats.requests_total
    non_final = sum(1 for s in stack.exporter.tracker.targets for r in s.tasks.values() if not r.final)
    stack.sim.latency = 1.0  # the refresh outlasts the hasty scrape's wait (its timeout plus slack)
    hasty = await stack.http.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "0.0001"})
    assert hasty.status_code == 200
    data = await stack.scrape()
    assert all(v == 1.0 for (name, _), v in data.items() if name == "huaweicloud_task_up")
    assert stack.sim.stats.requests_total - asked == non_final


async def test_concurrent_scrapes_share_one_refresh(stack: Stack) -> None:
    await stack.scrape()
    asked = stack.sim.stats.requests_total
    non_final = sum(1 for s in stack.exporter.tracker.targets for r in s.tasks.values() if not r.final)
    stack.sim.latency = 0.2  # keep the first refresh in flight while the second scrape arrives
    await asyncio.gather(stack.scrape(), stack.scrape())
    assert stack.sim.stats.requests_total - asked == non_final


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
async def test_promtool_check_metrics_on_a_real_scrape(stack: Stack) -> None:
    response = await stack.http.get("/metrics")
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=response.text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


async def test_landing_health_ready(stack: Stack) -> None:
    before = (await stack.http.get("/")).text
    assert "<td>not polled yet</td>" in before and "<td>up</td>" not in before
    await stack.scrape()
    page = (await stack.http.get("/")).text
    assert '<a href="metrics">' in page and '<a href="config">' in page
    # The targets: up, when, how long, and the counts of the last refresh.
    assert re.search(r"<td>demo / evs / cn-north-4 / \w+</td><td>up</td><td>\d+</td><td>[\d-]+ [\d:]+ UTC</td>"
                     r"<td>[\d.]+ s</td><td>\d+</td><td>\d+</td><td>\d+</td>", page), page  # fmt: skip
    # A failed task: raw status, job, its error code and message, and a link to its debug probe.
    failed = re.search(
        rf"<td>{D_FAIL}</td><td>static</td><td>failed</td><td>FAIL</td><td>[^<]*</td><td>9%</td>.*?</tr>", page
    )
    assert failed and "DWS.0114" in failed.group(0) and f"task_id={D_FAIL}" in failed.group(0), page
    assert "debug=true" in failed.group(0) and "ago</td>" in failed.group(0)
    running = re.search(rf"<td>{E_RUN}</td><td>static</td><td>running</td><td>RUNNING</td>.*?<td>1\dm\d\ds</td>", page)
    assert running, page
    # The recent refreshes: this one, with its counts (the scenario's failed query is a not_found).
    recent = page.split('<table id="refreshes">')[1]
    assert re.search(
        r"<tr class=\"(failed|succeeded)\"><td>[\d-]+ [\d:]+ UTC</td><td>[\d.]+ s</td><td>\d+</td>", recent
    )
    assert DEMO_PASSWORD not in page
    assert (await stack.http.get("/-/healthy")).status_code == 200
    assert (await stack.http.get("/-/ready")).status_code == 200
    assert (await stack.http.get("/nope")).status_code == 404


async def test_the_landing_page_shows_the_tasks_that_matter_first_when_they_do_not_all_fit(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.exposition import server

    await stack.scrape()
    tracked = sum(1 for _ in stack.exporter.tracker.snapshot.records())
    page = (await stack.http.get("/")).text
    assert f"<p>{tracked} tasks.</p>" in page and "Show all" not in page
    monkeypatch.setattr(server, "LANDING_TASKS", 3)
    page = (await stack.http.get("/")).text
    rows = page.split('<table id="tasks">')[1].split("</table>")[0]
    assert re.findall(r'<tr class="(\w+)">', rows) == ["failed"] * 3  # four failed tasks: three of them shown
    assert (
        f"<p>3 of {tracked} tasks: the failed ones first, then those still moving, then those in an unknown" in page
        and 'href="?tasks=all">Show all' in page
    )
    every = (await stack.http.get("/", params={"tasks": "all"})).text
    assert every.count('<a href="probe?') == tracked and D_FAIL in every and E_OK in every
    bad = await stack.http.get("/", params={"tasks": "<b>" + "5" * 100})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/plain")
    assert bad.text == f"tasks={'<b>' + '5' * 37!r}: the only value is 'all' (every tracked task)\n"
    twice = await stack.http.get("/?tasks=all&tasks=all")
    assert (twice.status_code, twice.text) == (400, "parameter 'tasks' is given more than once\n")


def test_the_landing_page_order_when_the_tasks_do_not_fit() -> None:
    from exporter.exposition.server import _landing_tasks
    from exporter.model import State, TaskStatus
    from exporter.tracking import Source, TaskRecord

    def record(task_id: str, state: State | None, end: float | None = None) -> TaskRecord:
        status = TaskStatus(state, state.value.upper(), end=end) if state is not None else None
        return TaskRecord(task_id, Source.STATIC, status, 100.0)

    records = [
        record("old-ok", State.SUCCEEDED, end=10.0), record("new-ok", State.SUCCEEDED, end=50.0),
        record("asked", None), record("moving", State.RUNNING), record("odd", State.UNKNOWN),
        record("stopped", State.STOPPED, end=30.0), record("failed", State.FAILED, end=5.0),
    ]  # fmt: skip
    pairs: list[tuple[Any, TaskRecord]] = [(None, r) for r in records]  # the target plays no part
    order = [r.task_id for _, r in _landing_tasks(pairs, 6)]
    assert order == ["failed", "moving", "odd", "asked", "new-ok", "stopped"]
    assert _landing_tasks(pairs, 7) == pairs  # all fit: the table's own order


async def test_reload_keeps_serving_on_a_broken_file(stack: Stack) -> None:
    good = stack.config_file.read_text()
    stack.config_file.write_text(good.replace("region: cn-north-4", "regoin: cn-north-4", 1))
    response = await stack.http.post("/-/reload")
    assert response.status_code == 500
    assert "unknown key 'regoin'; did you mean 'region'?" in response.text
    data = await stack.scrape()
    assert data[("huaweicloud_task_exporter_config_last_reload_successful", frozenset())] == 0
    assert state_of(data, E_RUN) == "running"
    stack.config_file.write_text(good.replace(f"  - {K_STOP}\n", ""))  # the whole line
    assert (await stack.http.post("/-/reload")).status_code == 200
    data = await stack.scrape()
    assert data[("huaweicloud_task_exporter_config_last_reload_successful", frozenset())] == 1
    assert task_value(data, "huaweicloud_task_status", K_STOP, state="stopped") is None
    assert (await stack.http.get("/-/reload")).status_code == 405


async def _states_over_time(stack: Stack) -> dict[str, set[str]]:
    """The states each service's tasks show while the scenario runs its six minutes."""
    seen: dict[str, set[str]] = {}
    for _ in range(12):
        data = await stack.scrape()
        for (name, labels), value in data.items():
            if name == "huaweicloud_task_status" and value == 1:
                label = dict(labels)
                seen.setdefault(label["cloud_service"], set()).add(label["state"])
        stack.sim.advance(30)
    return seen


UNKNOWN_STATUS = "unknown raw task status; reported as state 'unknown'"


async def test_default_scenario_shows_every_state_over_time_and_warns_of_nothing_unknown(tmp_path: Path) -> None:
    """What `make demo` shows: every service's states appear while the built-in scenario runs, and no
    task answers a status its service's documents do not list (a new user takes the warning for a bug)."""
    stack = await start_stack(tmp_path, default_scenario())
    try:
        with structlog.testing.capture_logs() as logs:
            seen = await _states_over_time(stack)
    finally:
        await stop_stack(stack)
    assert seen["codearts_check"] >= {"pending", "running", "succeeded", "failed", "stopped"}
    assert seen["dws"] >= {"pending", "running", "succeeded", "failed", "stopped"}
    assert seen["evs"] >= {"pending", "running", "succeeded", "failed"}
    assert seen["cph"] >= {"running", "succeeded", "failed"}
    assert not any("unknown" in states for states in seen.values()), seen
    assert [e for e in logs if e["event"] == UNKNOWN_STATUS] == []


async def test_the_unknown_statuses_scenario_shows_the_unknown_state_and_its_warning(tmp_path: Path) -> None:
    """exporter/simulator/unknown_statuses.yaml, for the tests that need a status no document lists:
    EVS PENDING_PAYMENT (an ECS/BMS status) and CPH 0."""
    stack = await start_stack(tmp_path, default_scenario(unknown_statuses=True))
    try:
        with structlog.testing.capture_logs() as logs:
            seen = await _states_over_time(stack)
    finally:
        await stop_stack(stack)
    assert seen["evs"] >= {"pending", "running", "succeeded", "failed", "unknown"}
    assert seen["cph"] >= {"running", "succeeded", "failed", "unknown"}
    # Once per value, then at every power of ten (PENDING_PAYMENT is answered on each of the 12 scrapes).
    warned = [(e["log_level"], e["cloud_service"], e["raw_status"]) for e in logs if e["event"] == UNKNOWN_STATUS]
    once = ("warning", "evs", "PENDING_PAYMENT")
    assert sorted(warned) == [("warning", "cph", "0"), once, once]


async def test_odd_characters_in_answers_and_headers_do_not_break_scrapes(tmp_path: Path) -> None:
    scenario = {
        "tasks": [
            {
                "cloud_service": "evs",
                "task_id": ident("e7", 1),
                "job_type": "create\x01Volume\u202e",
                "phases": [
                    {"after": 0, "status": "FAIL", "error_code": "EVS.1", "fail_reason": "bad \udc80 byte\nnext"}
                ],
            }
        ]
    }
    stack = await start_stack(tmp_path, scenario)
    try:
        data = await stack.scrape()
        task = ident("e7", 1)
        assert task_value(data, "huaweicloud_task_error_info", task, error_message="bad ? byte next") == 1
        assert task_value(data, "huaweicloud_task_info", task, job_type="createVolume") == 1
        response = await stack.http.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "inf"})
        assert response.status_code == 200
        assert (await stack.http.get("/")).status_code == 200
    finally:
        await stop_stack(stack)


async def test_a_reload_does_not_cut_a_probe_in_flight(stack: Stack) -> None:
    await stack.scrape()
    stack.sim.latency = 0.5
    before = stack.sim.stats.by_task[E_RUN]
    probe = asyncio.ensure_future(stack.http.get("/probe", params={"cloud_service": "evs", "task_id": E_RUN}))
    deadline = time.monotonic() + 10
    while stack.sim.stats.by_task[E_RUN] == before:  # poll until the probe's query has reached the cloud
        assert time.monotonic() < deadline, "the probe's query never arrived"
        await asyncio.sleep(0.01)
    config = yaml.safe_load(stack.config_file.read_text())
    config["tracking"]["finished_ttl"] = "2h"
    stack.config_file.write_text(yaml.safe_dump(config))
    assert await stack.exporter.reload() is None  # swaps in a new client; the old one must wait for the probe
    response = await probe
    assert response.status_code == 200
    up = [line for line in response.text.splitlines() if line.startswith("huaweicloud_task_up{")]
    assert up and up[0].endswith(" 1.0"), response.text
