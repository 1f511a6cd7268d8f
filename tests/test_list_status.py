"""Lists that refresh tasks from fields of their own (`discover.status`, issue 22 item 3): RDS's, DDS's,
GaussDB's and DDM's lists carry each task's status in fields named otherwise than their status API's.

The spec key and its errors; documented and SDK-shaped list items (the official SDK's models are the
oracle) read through the built-in specs; and, end to end over real sockets against the fake cloud, a task
refreshed from its list while it runs (no call of its own) and asked on its own once when it is final.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization

from exporter.app import Exporter
from exporter.config import load_config, parse_config
from exporter.exposition.server import make_app, serve
from exporter.model import State
from exporter.schema import ConfigError
from exporter.services import BUILTIN, list_items, read_item
from exporter.simulator import DEMO_TOKEN, Simulator, parse_scenario, start_simulator
from tests.test_e2e_specs import parsed, value

DOCUMENTS = Path(__file__).parent / "documents"
PROJECT = "0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000.0
BEIJING = timezone(timedelta(hours=8))


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# --- the spec key and its errors -------------------------------------------------------------------

CUSTOM = """\
accounts: [{name: prod, cloud: custom, auth: {type: token, token: t}}]
custom_services:
  - name: db_jobs
    status:
      path: /v3/{project_id}/jobs
      query: {id: "{task_id}"}
      state: /job/status
      states: {Running: running, Completed: succeeded, Failed: failed}
      error: {message: /job/fail_reason}
    discover:
      path: /v3/{project_id}/tasklist
      items: /tasks
      id: /id
      carries_status: true
      status:
        state: /status
        progress: /process
        end: {at: /end_time, format: iso}
services:
  - {cloud_service: db_jobs, account: prod, region: cn-north-4, project_id: PROJECT, endpoint: "http://db.test",
     discover: true}
""".replace("PROJECT", PROJECT)  # not an f-string: the YAML's braces would need doubling


def test_a_list_items_own_status_fields_are_read_relative_to_the_item() -> None:
    config = parse_config(CUSTOM, env={}, file="c.yaml")
    spec = config.services["db_jobs"]
    assert spec.discover is not None and spec.discover.item_status is not None
    item = {"id": "a" * 32, "status": "Running", "process": "35", "end_time": "2024-01-01T00:00:00+0000"}
    status = read_item(spec, item, UTC)
    assert (status.state, status.raw_status, status.progress, status.end) == (State.RUNNING, "Running", 0.35, None)
    # Fields the item section does not give are absent, not the status section's (whose pointers are
    # into another body): no error is read from /job/fail_reason of an item.
    failed = read_item(spec, {"status": "Failed", "job": {"fail_reason": "x"}}, UTC)
    assert (failed.state, failed.error_message) == (State.FAILED, "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("      carries_status: true\n", ""),
            r"c\.yaml:\d+: custom_services\[0\]\.discover\.status: 'status' reads a list item as a task's status: "
            "it needs 'carries_status: true'",
        ),
        (
            ("      carries_status: true\n", "      carries_status: true\n      item_at: /job\n"),
            r"c\.yaml:\d+: custom_services\[0\]\.discover\.status: give either 'item_at' .* or 'status' .*, not both",
        ),
        (
            ("        state: /status\n", "        state: /status\n        path: /v3/{project_id}/jobs\n"),
            r"c\.yaml:\d+: custom_services\[0\]\.discover\.status\.path: 'path' is the status section's: a list "
            "item's status is read from the item itself",
        ),
        (
            ("        state: /status\n", "        state: /status\n        not_found: {http: [404]}\n"),
            r"discover\.status\.not_found: 'not_found' is the status section's",
        ),
        (
            ("        state: /status\n", "        state: /status\n        stat: /x\n"),
            r"c\.yaml:\d+: custom_services\[0\]\.discover\.status\.stat: unknown key 'stat'; did you mean 'state'",
        ),
        (
            ("        state: /status\n", ""),
            r"c\.yaml:\d+: custom_services\[0\]\.discover\.status: missing required key 'state'",
        ),
        (
            ("        progress: /process\n", '        progress: {at: /p, path: "/v1/{project_id}/p/{task_id}"}\n'),
            r"discover\.status\.progress: a list item's progress is read from the item: 'path' does not go here",
        ),
        (
            ("        state: /status\n", "        state: status\n"),
            r"c\.yaml:\d+: custom_services\[0\]\.discover\.status\.state: expected a JSON pointer",
        ),
    ],
)
def test_misused_list_status_fields_are_refused_with_file_line_and_key(change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(CUSTOM.replace(*change), env={}, file="c.yaml")


def test_a_list_may_give_its_own_state_table() -> None:
    own = "        state: /status\n        states: {2: running, 3: failed}\n"
    text = CUSTOM.replace("        state: /status\n", own)
    spec = parse_config(text, env={}, file="c.yaml").services["db_jobs"]
    assert read_item(spec, {"status": 3}, UTC).state is State.FAILED
    assert spec.status.states["Running"] is State.RUNNING  # the status section's table is its own


# --- documented and SDK-shaped list items, read through the built-in specs -------------------------


def _sdk(model: Any) -> Any:
    """An SDK model as the JSON the API writes (the SDK's own serialisation)."""
    return json.loads(json.dumps(sanitize_for_serialization(model)))


def test_gaussdb_documented_list_reads_failed_and_completed_tasks() -> None:
    body = json.loads((DOCUMENTS / "gaussdb" / "ListTasks.json").read_text(encoding="utf-8"))
    spec = BUILTIN["gaussdb"]
    assert spec.discover is not None
    (failed_id, failed), (done_id, done) = list_items(spec.discover, body)
    first, second = read_item(spec, failed, UTC), read_item(spec, done, UTC)
    assert failed_id == "03bc055a-135c-4245-8bd8-b0bc6d3350b3" and done_id == "2cc16e0b-75ab-4a28-9453-16517e990bba"
    assert (first.state, first.start, first.end) == (State.FAILED, 1659344800.845, 1659345296.347)
    assert (first.error_message, first.job_name) == ("500000", "CreateGaussDBV5Instance")
    assert first.resource_id == "ce2dce50f365430abe161bab79495a6ein14"
    assert (second.state, second.progress, second.error_message) == (State.SUCCEEDED, 1.0, "")


def test_dds_documented_list_reads_a_completed_task() -> None:
    body = json.loads((DOCUMENTS / "dds" / "ListTasks.json").read_text(encoding="utf-8"))
    spec = BUILTIN["dds"]
    assert spec.discover is not None
    ((task_id, item),) = list_items(spec.discover, body)
    status = read_item(spec, item, UTC)
    assert task_id == "2f406db7-bdc4-402f-9dc4-2c1b094a5f93"
    assert (status.state, status.raw_status) == (State.SUCCEEDED, "Completed")
    assert status.job_name == "RestartReplicaSetInstance"
    assert (status.start, status.end) == (_at("2022-09-05T06:24:14+00:00"), _at("2022-09-05T06:25:43+00:00"))
    assert status.resource_id == "1f311e6a299345d7bbc878874844e233in02"


def _rds_item(**fields: Any) -> Any:
    from huaweicloudsdkrds.v3 import Task

    base = {"id": "a1" * 16, "name": "CreateMysqlSingleHAInstance", "instance_id": "b2" * 16 + "in01",
            "instance_name": "rds-1", "create_time": "2024-03-01T10:00:00+0800", "end_time": "",
            "fail_reason": ""}  # fmt: skip
    return _sdk(Task(**(base | fields)))


def _dds_item(**fields: Any) -> Any:
    from huaweicloudsdkdds.v3 import JobInfo

    base = {"id": "c3" * 16, "name": "CreateMongoDB", "instance_id": "d4" * 16 + "in02", "instance_name": "dds-1",
            "created_at": "2024-03-01T10:00:00+0800", "ended_at": "", "fail_reason": ""}  # fmt: skip
    return _sdk(JobInfo(**(base | fields)))


def _gaussdb_item(**fields: Any) -> Any:
    from huaweicloudsdkgaussdbforopengauss.v3 import InstanceInfoResult, TaskDetailResult

    info = InstanceInfoResult(instance_id="e5" * 16 + "in14", instance_name="gauss-1", instance_status="creating")
    base = {"job_id": "e5" * 16, "name": "CreateGaussDBV5Instance", "instance_info": info,
            "created_at": "2024-03-01T10:00:00+0800", "ended_at": "", "fail_reason": None}  # fmt: skip
    return _sdk(TaskDetailResult(**(base | fields)))


def _ddm_item(**fields: Any) -> Any:
    from huaweicloudsdkddm.v1 import JobItem

    base = {"id": "f6" * 16, "name": "createInstance", "instance_id": "a7" * 16 + "in09", "instance_name": "ddm-1",
            "created_time": "2024-03-01T10:00:00+0800", "end_time": "", "fail_reason": "",
            "operations": [], "database_name": ""}  # fmt: skip
    return _sdk(JobItem(**(base | fields)))


ITEMS = {
    "rds": (_rds_item, "process", "end_time", "CreateMysqlSingleHAInstance", "b2" * 16 + "in01"),
    "dds": (_dds_item, "progress", "ended_at", "CreateMongoDB", "d4" * 16 + "in02"),
    "gaussdb": (_gaussdb_item, "process", "ended_at", "CreateGaussDBV5Instance", "e5" * 16 + "in14"),
    "ddm": (_ddm_item, "process", "end_time", "createInstance", "a7" * 16 + "in09"),
}


@pytest.mark.parametrize("service", sorted(ITEMS))
def test_sdk_shaped_list_items_read_into_the_tasks_status(service: str) -> None:
    make, progress, end, name, resource = ITEMS[service]
    spec = BUILTIN[service]
    running = read_item(spec, make(status="Running", **{progress: "60%", end: "2024-03-01T11:00:00+0800"}), BEIJING)
    # A running task has no end, whatever the item writes (RDS's is the planned end).
    assert (running.state, running.progress, running.end) == (State.RUNNING, 0.6, None)
    assert running.start == _at("2024-03-01T10:00:00+08:00")
    assert (running.job_name, running.resource_id) == (name, resource)
    failed = read_item(
        spec, make(status="Failed", fail_reason="disk full", **{progress: "", end: "2024-03-01T10:05:00+0800"}), UTC
    )
    assert (failed.state, failed.end) == (State.FAILED, _at("2024-03-01T10:05:00+08:00"))
    assert failed.error_message == "disk full"
    done = read_item(spec, make(status="Completed", **{progress: ""}), UTC)
    assert (done.state, done.progress) == (State.SUCCEEDED, 1.0)


def test_the_services_whose_lists_carry_the_status_in_fields_of_their_own() -> None:
    # DLI's list has no progress (its status section asks a progress API) and SMS's items no start,
    # end or remaining time: both stay discovery-only lists (README, "Lists that refresh tasks").
    own = sorted(name for name, spec in BUILTIN.items() if spec.discover and spec.discover.item_status)
    assert own == ["ddm", "dds", "gaussdb", "rds"]


# --- end to end: refreshed from the list, asked on its own once when final ---------------------------

TASK = "ab" + "0" * 29 + "1"


def _scenario(service: str) -> dict[str, Any]:
    return {
        "tasks": [
            {
                "cloud_service": service,
                "task_id": TASK,
                "job_name": "CreateInstance",
                "phases": [
                    {"after": 0, "status": "Running", "progress": 40},
                    {"after": 100, "status": "Failed", "fail_reason": "disk full"},
                ],
            }
        ]
    }


def _config(url: str, service: str) -> str:
    document = {
        "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
        "services": [
            {
                "cloud_service": service,
                "account": "t",
                "region": "cn-north-4",
                "project_id": PROJECT,
                "endpoint": f"{url}/{service}",
                "discover": True,
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


async def scrapes_of(
    service: str, document: dict[str, Any], times: tuple[int, ...], tmp_path: Path, monkeypatch: Any
) -> list[tuple[Any, int, int]]:
    """The exporter scraped at `times` (seconds from NOW) against the fake cloud playing `document`: per
    scrape its samples, its own calls so far (every request but the lists: a token account makes no IAM
    call, and by_task counts no status call that names the task in its query, as RDS's ?id=) and the
    list calls so far."""
    now = [NOW]
    sim = Simulator(parse_scenario(document, services=dict(BUILTIN)), clock=lambda: now[0])
    scrapes: list[tuple[Any, int, int]] = []
    async with await start_simulator(sim) as cloud:
        path = tmp_path / "config.yaml"
        path.write_text(_config(cloud.url, service), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        exporter = Exporter(load_config(path), clock=lambda: now[0])
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
                for at in times:
                    now[0] = NOW + at
                    text = (await http.get("/metrics")).text
                    lists = sim.stats.list_requests[service]
                    scrapes.append((parsed(text), sim.stats.requests_total - lists, lists))
        finally:
            await serving.stop()
            await exporter.aclose()
    return scrapes


@pytest.mark.parametrize("service", ["rds", "dds", "gaussdb", "ddm"])
async def test_a_task_is_refreshed_from_its_list_and_asked_on_its_own_once_when_final(
    service: str, tmp_path: Path, monkeypatch: Any
) -> None:
    # Running twice, then Failed (at 100) three times.
    scrapes = await scrapes_of(service, _scenario(service), (10, 60, 110, 120, 130), tmp_path, monkeypatch)
    running, later, failed, again, settled = scrapes
    for data, _, _ in (running, later):
        assert value(data, "huaweicloud_task_status", task_id=TASK, state="running") == 1
        assert value(data, "huaweicloud_task_progress_ratio", task_id=TASK) == 0.4
    # While it runs the list answers for it: no call of its own, a list call per scrape.
    assert [(calls, lists) for _, calls, lists in (running, later)] == [(0, 1), (0, 2)]
    assert value(failed[0], "huaweicloud_task_status", task_id=TASK, state="failed") == 1
    # Final in the list: asked once on its own, in the same refresh (the lists are taken in first), and then
    # no more; nor is the list called again (no listed task runs, the discovery interval is 5 minutes).
    assert [(calls, lists) for _, calls, lists in (failed, again, settled)] == [(1, 3), (1, 3), (1, 3)]
    assert value(settled[0], "huaweicloud_task_status", task_id=TASK, state="failed") == 1
    assert value(settled[0], "huaweicloud_task_duration_seconds", task_id=TASK) == 100
    # DDM's status API has no fail_reason: its own answer keeps the list's error for the same final state.
    assert value(settled[0], "huaweicloud_task_error_info", task_id=TASK, error_message="disk full") == 1


@pytest.mark.parametrize("service", ["rds", "ddm"])
async def test_a_task_final_when_first_listed_is_not_asked_on_its_own(
    service: str, tmp_path: Path, monkeypatch: Any
) -> None:
    """A new target's history (tasks final when the exporter first sees them) costs no call each: the list's
    reading stands."""
    document = _scenario(service)
    document["tasks"][0]["phases"] = [{"after": 0, "status": "Failed", "fail_reason": "disk full"}]
    (_, _, _), (data, calls, lists) = await scrapes_of(service, document, (10, 60), tmp_path, monkeypatch)
    assert (calls, lists) == (0, 1)
    assert value(data, "huaweicloud_task_status", task_id=TASK, state="failed") == 1
    assert value(data, "huaweicloud_task_error_info", task_id=TASK, error_message="disk full") == 1


def test_a_task_final_in_its_list_that_its_status_api_does_not_know_keeps_the_lists_final_state() -> None:
    """Listed running, then `Failed` in the list: asked once on its own for the detail. A status API that
    answers 404 (it does not know the task) leaves the list's final state standing and is not
    asked again (the 404 turned it `unknown`, asked at every scrape and dropped as not found after
    `not_found_limit` answers: a failed task lost from the output)."""
    from exporter.cloud.errors import ApiError
    from exporter.model import Reason
    from exporter.tracking.intake import take_listing
    from exporter.tracking.refresh import Listing
    from exporter.tracking.table import TaskTable

    config = parse_config(CUSTOM, env={}, file="c.yaml")
    table = TaskTable(config.tracking)
    table.apply(config, NOW)
    key, task = config.targets[0].key, "a" * 32

    def add(key: tuple[str, str, str, str], task_id: str, source: Any, *, force: bool = False) -> Any:
        return table.add(key, task_id, source, NOW, force=force).record

    for at, item in ((1, {"status": "Running"}), (2, {"status": "Failed", "fail_reason": "disk full"})):
        listing = Listing(key, ((task, {"id": task, **item}),), (), 0.0)
        take_listing(table, listing, add, now=NOW + at, finished_ttl=3600)
    record = table.get(key, task)
    assert record is not None and record.ask_again and not record.listed  # asked once for the detail
    table.record(key, task, ApiError(Reason.NOT_FOUND, status=404), NOW + 3)
    record = table.get(key, task)
    assert record is not None and record.status is not None
    assert (record.status.state, record.status.raw_status) == (State.FAILED, "Failed")
    assert not record.wanted and record.not_found == 0  # not asked again, not counted towards its drop
    assert table.expire(NOW + 60) == []
