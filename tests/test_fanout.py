"""Targets fanned out over a parent list (`parents:`) and tasks named by several parts (`task_id:
{parts}`): the spec keys and their errors, the config's `params`/`tasks`, task files, `/probe`, and end to
end over real sockets against a small cloud served here (aiohttp on 127.0.0.1) whose bodies have the
documents' shapes: Kafka's ListInstances (`instances[].instance_id`, `name`, `instance_num`) and
ListBackgroundTasks/ShowBackgroundTask (`{task_count, tasks[]}`), Auto Scaling's ListScalingGroups
(`scaling_groups[].scaling_group_id`, paged by `start_number`/`limit`/`total_number`), DataArts
Factory's ListJobInstances/ShowJobInstance (`jobName` + `instanceId`)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
import yaml
from aiohttp import web

from exporter.app import Exporter
from exporter.config import ConfigError, load_config, parse_config
from exporter.exposition.server import Serving, make_app, serve
from exporter.model import SINGLE_ID, IdPart, TaskIdentity
from tests.conftest import PROJECT
from tests.test_e2e import samples

INSTANCE_A = "1e1c1b25-47c7-4a84-8a62-a6c4e0ee2a64"
INSTANCE_B = "5a2c8a1e-9c51-4f3a-b8f0-7d8fd1c0e001"
TASK_A = "8abfa7b27a5c0d0c017a5c2bd6b50067"
TASK_B = "8abfa7b27a5c0d0c017a5c2bd6b50068"
GROUPS = ["0e8b4d0a-8b2c-4d7e-9f3f-1d3f0b1a0c0" + str(n) for n in range(3)]

KAFKA = """
name: kafka_tasks
params: {instance_id: the Kafka instance ID}
endpoints: {custom: "http://127.0.0.1:1"}
parents:
  param: instance_id
  path: /v2/{project_id}/instances
  query: {engine: kafka}
  items: /instances
  id: /instance_id
  name: /name
status:
  path: /v2/{project_id}/instances/{instance_id}/tasks/{task_id}
  state: /tasks/0/status
  states: {CREATED: pending, EXECUTING: running, SUCCESS: succeeded, FAILED: failed, CANCELLED: stopped,
    DELETED: stopped}
  start: {at: /tasks/0/created_at}
  job_type: /tasks/0/name
discover:
  path: /v2/{project_id}/instances/{instance_id}/tasks
  items: /tasks
  id: /id
"""

DATAARTS = """
name: dlf_jobs
endpoints: {custom: "http://127.0.0.1:1"}
task_id: {parts: [{name: job_name, kind: name}, {name: instance_id, kind: number}], separator: "/"}
status:
  path: /v1/{project_id}/jobs/{job_name}/instances/{instance_id}
  state: /status
  states: {waiting: pending, running: running, success: succeeded, fail: failed, manual-stop: stopped}
  start: {at: /startTime, format: epoch_ms}
discover:
  path: /v1/{project_id}/jobs/instances/detail
  items: /instances
  id: {job_name: /jobName, instance_id: /instanceId}
"""

SCALING = """
name: as_groups
params: {scaling_group_id: the scaling group ID}
endpoints: {custom: "http://127.0.0.1:1"}
parents:
  param: scaling_group_id
  path: /autoscaling-api/v1/{project_id}/scaling_group
  items: /scaling_groups
  id: /scaling_group_id
  name: /scaling_group_name
  paging: {style: offset, param: start_number, limit: 2, total: /total_number}
status:
  path: /autoscaling-api/v2/{project_id}/scaling_activity_log/{scaling_group_id}
  query: {log_id: "{task_id}"}
  state: /scaling_activity_log/0/status
  states: {DOING: running, SUCCESS: succeeded, FAIL: failed}
"""


def spec_block(*specs: str) -> str:
    """`custom_services:` holding the specs, indented into a config."""
    entries = ["  - " + "\n    ".join(spec.strip().splitlines()) for spec in specs]
    return "custom_services:\n" + "\n".join(entries) + "\n"


def config_text(services: str, *specs: str) -> str:
    return (
        "accounts: [{name: prod, cloud: custom, auth: {type: token, token: t}}]\n"
        + spec_block(*(specs or (KAFKA, DATAARTS, SCALING)))
        + "services:\n"
        + services
    )


# --- the identity ------------------------------------------------------------------------------------


def test_a_two_part_identity_checks_each_part() -> None:
    identity = TaskIdentity((IdPart("job_name", "name"), IdPart("instance_id", "number")), "/")
    assert identity.problem("nightly_load/34765") == ""
    assert identity.split("nightly_load/34765") == {"job_name": "nightly_load", "instance_id": "34765"}
    assert identity.problem("nightly_load") == (
        "invalid task ID 'nightly_load': expected 2 parts joined by '/': job_name/instance_id (job_name: a name "
        "of 1 to 128 ASCII letters, digits, '_', '.' and '-', starting with a letter or digit; instance_id: a "
        "whole number (up to 20 digits))"
    )
    assert identity.problem("nightly_load/12a").startswith(
        "invalid task ID 'nightly_load/12a': instance_id '12a' is not a whole number (up to 20 digits); "
        "expected job_name/instance_id ("
    )
    assert identity.problem("../x/1") != ""  # never a path of its own
    assert SINGLE_ID.problem(TASK_A) == "" and SINGLE_ID.problem("a/b") != ""


# --- the spec keys -----------------------------------------------------------------------------------


def test_a_target_without_the_parent_param_or_with_all_is_fanned_out() -> None:
    config = parse_config(
        config_text(
            f"  - {{cloud_service: kafka_tasks, account: prod, region: r1, project_id: {PROJECT}}}\n"
            f"  - {{cloud_service: kafka_tasks, account: p2, region: r1, project_id: {PROJECT}, "
            "params: {instance_id: all}}\n"
            f"  - {{cloud_service: kafka_tasks, account: p3, region: r1, project_id: {PROJECT}, "
            f"params: {{instance_id: {INSTANCE_A}}}, tasks: [{TASK_A}]}}\n"
        ).replace(
            "accounts: [{name: prod,",
            "accounts: [{name: p2, cloud: custom, auth: {type: token, token: t}}, "
            "{name: p3, cloud: custom, auth: {type: token, token: t}}, {name: prod,",
        ),
    )
    fanned, all_, fixed = config.targets
    assert fanned.fanned_out and all_.fanned_out and not fixed.fanned_out
    assert fanned.identity.describe().startswith("instance_id/task_id (")
    assert fixed.identity == SINGLE_ID


def test_a_fanned_out_targets_tasks_name_their_parent() -> None:
    text = config_text(
        f"  - {{cloud_service: kafka_tasks, account: prod, region: r1, project_id: {PROJECT}, tasks: [{TASK_A}]}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    message = str(caught.value)
    assert re.match(r"<config>:\d+: services\[0\]\.tasks\[0\]: ", message), message
    assert f"invalid task ID '{TASK_A}': expected 2 parts joined by '/'" in message
    ok = text.replace(f"tasks: [{TASK_A}]", f"tasks: ['{INSTANCE_A}/{TASK_A}']")
    assert parse_config(ok).targets[0].tasks == (f"{INSTANCE_A}/{TASK_A}",)


@pytest.mark.parametrize(
    ("spec", "change", "expected"),
    [
        (KAFKA, ("param: instance_id", "param: cluster_id"), "'cluster_id' is not among the spec's params"),
        (KAFKA, ("  id: /instance_id\n", ""), "expected 'items' (the JSON pointer of the list) and 'id'"),
        (KAFKA, ("  query: {engine: kafka}", "  colour: red"), "unknown key 'colour'"),
        (DATAARTS, ("{name: instance_id, kind: number}", "{name: instance_id, kind: int}"), "expected one of"),
        (DATAARTS, (", {name: instance_id, kind: number}]", "]"), "expected a list of two or more parts"),
        (DATAARTS, ('separator: "/"', 'separator: "-"'), "expected one character that no part holds"),
        (DATAARTS, ("{name: job_name, kind: name}", "{name: project_id, kind: name}"), "other than project_id"),
        (DATAARTS, ("/instances/{instance_id}\n", "/instances\n"), "missing {instance_id}"),
        (DATAARTS, ("instance_id: /instanceId}", "instanceId: /instanceId}"), "unknown key 'instanceId'"),
    ],
)
def test_a_wrong_spec_key_says_where_and_what(spec: str, change: tuple[str, str], expected: str) -> None:
    assert change[0] in spec
    broken = spec.replace(*change)
    text = config_text(f"  - {{cloud_service: x, account: prod, region: r1, project_id: {PROJECT}}}\n", broken)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    message = str(caught.value)
    assert expected in message
    assert re.match(r"<config>:\d+: custom_services\[0\]", message), message


# --- end to end --------------------------------------------------------------------------------------


@dataclass
class Cloud:
    """The few APIs of the tests, in the documents' shapes; what they hold is changed by the tests."""

    instances: dict[str, str] = field(default_factory=lambda: {INSTANCE_A: "kafka-prod", INSTANCE_B: "kafka-dev"})
    tasks: dict[str, dict[str, str]] = field(
        default_factory=lambda: {INSTANCE_A: {TASK_A: "EXECUTING"}, INSTANCE_B: {TASK_B: "SUCCESS"}}
    )
    groups: dict[str, str] = field(default_factory=lambda: {g: f"group-{n}" for n, g in enumerate(GROUPS)})
    jobs: dict[tuple[str, int], str] = field(default_factory=lambda: {("nightly_load", 34765): "running"})
    parents_fail: bool = False
    asked: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/{project}/instances", self.list_instances)
        app.router.add_get("/v2/{project}/instances/{instance}/tasks", self.list_tasks)
        app.router.add_get("/v2/{project}/instances/{instance}/tasks/{task}", self.show_task)
        app.router.add_get("/autoscaling-api/v1/{project}/scaling_group", self.list_groups)
        app.router.add_get("/v1/{project}/jobs/instances/detail", self.list_jobs)
        app.router.add_get("/v1/{project}/jobs/{job}/instances/{instance}", self.show_job)
        return app

    async def list_instances(self, request: web.Request) -> web.Response:
        self.asked.append(request.path_qs)
        if self.parents_fail:
            return web.json_response({"error_code": "DMS.00500000", "error_msg": "internal error"}, status=500)
        listed = [{"name": name, "engine": "kafka", "status": "RUNNING", "instance_id": iid}
                  for iid, name in self.instances.items()]  # fmt: skip
        return web.json_response({"instances": listed, "instance_num": len(listed)})

    def _task(self, task_id: str, status: str) -> dict[str, Any]:
        return {"id": task_id, "name": "modifyAutoTopic", "user_name": "paas_dms", "params": "{}",
                "status": status, "created_at": "2021-07-01T11:08:59.061Z", "updated_at": ""}  # fmt: skip

    async def list_tasks(self, request: web.Request) -> web.Response:
        self.asked.append(request.path)
        tasks = (
            self.tasks.get(request.match_info["instance"], {})
            if request.match_info["instance"] in self.instances
            else {}
        )
        body = [self._task(t, s) for t, s in tasks.items()]
        return web.json_response({"task_count": str(len(body)), "tasks": body})

    async def show_task(self, request: web.Request) -> web.Response:
        self.asked.append(request.path)
        instance, task = request.match_info["instance"], request.match_info["task"]
        status = self.tasks.get(instance, {}).get(task) if instance in self.instances else None
        if status is None:
            return web.json_response({"error_code": "DMS.00404022", "error_msg": "not found"}, status=404)
        return web.json_response({"task_count": "1", "tasks": [self._task(task, status)]})

    async def list_groups(self, request: web.Request) -> web.Response:
        self.asked.append(request.path_qs)
        start, limit = int(request.query["start_number"]), int(request.query["limit"])
        page = list(self.groups.items())[start : start + limit]
        groups = [
            {"scaling_group_id": g, "scaling_group_name": n, "scaling_group_status": "INSERVICE"} for g, n in page
        ]
        return web.json_response(
            {"total_number": len(self.groups), "start_number": start, "limit": limit, "scaling_groups": groups}
        )

    def _job(self, name: str, instance: int, status: str) -> dict[str, Any]:
        return {"jobName": name, "instanceId": instance, "status": status, "planTime": 1551671598000,
                "startTime": 1551671598000, "endTime": 0, "executeTime": 0, "instanceType": 0}  # fmt: skip

    async def list_jobs(self, request: web.Request) -> web.Response:
        self.asked.append(request.path)
        body = [self._job(name, instance, status) for (name, instance), status in self.jobs.items()]
        return web.json_response({"total": len(body), "instances": body})

    async def show_job(self, request: web.Request) -> web.Response:
        self.asked.append(request.path)
        key = (request.match_info["job"], int(request.match_info["instance"]))
        if key not in self.jobs:
            return web.json_response({"error_code": "DLF.0100", "error_msg": "not found"}, status=404)
        return web.json_response(self._job(*key, self.jobs[key]))


@dataclass
class Stack:
    cloud: Cloud
    http: httpx.AsyncClient
    exporter: Exporter
    now: list[float]

    async def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = await self.http.get("/metrics")
        assert response.status_code == 200
        return samples(response.text)


def parts_of(data: dict[tuple[str, frozenset[tuple[str, str]]], float], service: str) -> set[tuple[str, ...]]:
    return {
        (d["task_id"], d["part"], d["part_value"], d["part_name"])
        for (name, labels), _ in data.items()
        if name == "huaweicloud_task_id_part_info" and (d := dict(labels))["cloud_service"] == service
    }


def states(data: dict[tuple[str, frozenset[tuple[str, str]]], float], service: str) -> dict[str, str]:
    return {
        d["task_id"]: d["state"]
        for (name, labels), value in data.items()
        if name == "huaweicloud_task_status" and value == 1 and (d := dict(labels))["cloud_service"] == service
    }


@contextlib.asynccontextmanager
async def open_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """The small cloud, and an exporter (sharing a clock the test moves) with a fanned-out Kafka target,
    a DataArts target of two-part IDs and an Auto Scaling target fanned out over two pages of groups."""
    cloud = Cloud()
    runner = web.AppRunner(cloud.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    target = f"account: prod, region: r1, project_id: {PROJECT}, endpoint: '{url}'"
    text = config_text(
        f"  - {{cloud_service: kafka_tasks, {target}, discover: true}}\n"
        f"  - {{cloud_service: dlf_jobs, {target}, discover: true, tasks: ['weekly_report/34766']}}\n"
        f"  - {{cloud_service: as_groups, {target}, params: {{scaling_group_id: all}}}}\n"
    )
    text += "tracking: {finished_ttl: 10m, discovery_interval: 1m, poll_interval: 0}\n"
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "tasks").mkdir()
    text += f"task_files: ['{tmp_path}/tasks/*.yaml']\n"
    (tmp_path / "config.yaml").write_text(text)
    cloud.jobs[("weekly_report", 34766)] = "success"
    now = [1_700_000_000.0]
    exporter = Exporter(load_config(tmp_path / "config.yaml"), clock=lambda: now[0])
    serving: Serving = await serve(make_app(exporter), "127.0.0.1", 0)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30)
    try:
        yield Stack(cloud, http, exporter, now)
    finally:
        await http.aclose()
        await serving.stop()
        await runner.cleanup()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path) as opened:
        yield opened


async def test_every_parents_tasks_are_tracked_with_the_parent_as_a_label(stack: Stack) -> None:
    data = await stack.scrape()
    assert states(data, "kafka_tasks") == {f"{INSTANCE_A}/{TASK_A}": "running", f"{INSTANCE_B}/{TASK_B}": "succeeded"}
    assert parts_of(data, "kafka_tasks") == {
        (f"{INSTANCE_A}/{TASK_A}", "instance_id", INSTANCE_A, "kafka-prod"),
        (f"{INSTANCE_A}/{TASK_A}", "task_id", TASK_A, ""),
        (f"{INSTANCE_B}/{TASK_B}", "instance_id", INSTANCE_B, "kafka-dev"),
        (f"{INSTANCE_B}/{TASK_B}", "task_id", TASK_B, ""),
    }
    # The parent's ID went into the status path, the task's own ID after it.
    assert f"/v2/{PROJECT}/instances/{INSTANCE_A}/tasks/{TASK_A}" in stack.cloud.asked
    assert f"/v2/{PROJECT}/instances?engine=kafka" in stack.cloud.asked


async def test_a_parent_that_leaves_takes_its_tasks_after_the_ttl(stack: Stack) -> None:
    running_b = "8abfa7b27a5c0d0c017a5c2bd6b5006a"
    stack.cloud.tasks[INSTANCE_B][running_b] = "EXECUTING"
    data = await stack.scrape()
    assert states(data, "kafka_tasks")[f"{INSTANCE_B}/{running_b}"] == "running"
    del stack.cloud.instances[INSTANCE_B]  # its tasks' status path now answers 404
    stack.now[0] += 61  # the parent list is asked again
    data = await stack.scrape()
    assert f"{INSTANCE_B}/{TASK_B}" in states(data, "kafka_tasks")  # finished: it stays for finished_ttl
    for _ in range(2):  # not found three times in a row (tracking.not_found_limit): gone
        data = await stack.scrape()
    assert f"{INSTANCE_B}/{running_b}" not in states(data, "kafka_tasks")
    stack.now[0] += 601
    data = await stack.scrape()
    assert states(data, "kafka_tasks") == {f"{INSTANCE_A}/{TASK_A}": "running"}


async def test_a_parent_list_that_fails_keeps_the_parents_known_before(stack: Stack) -> None:
    data = await stack.scrape()
    labels = frozenset(
        {"account": "prod", "cloud_service": "kafka_tasks", "region": "r1", "project_id": PROJECT}.items()
    )
    first = data[("huaweicloud_task_discovery_last_success_timestamp_seconds", labels)]
    stack.cloud.parents_fail = True
    stack.cloud.tasks[INSTANCE_A]["8abfa7b27a5c0d0c017a5c2bd6b50069"] = "CREATED"
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            stack.now[0] += 61
            data = await stack.scrape()
    said = [e for e in logs if e["event"] == "parent list failed; keeping the parents known before"]
    assert len(said) == 1 and said[0]["parents"] == 2 and said[0]["cloud_service"] == "kafka_tasks"
    # The known parents' lists were still asked: the new task arrived.
    assert f"{INSTANCE_A}/8abfa7b27a5c0d0c017a5c2bd6b50069" in states(data, "kafka_tasks")
    assert data[("huaweicloud_task_discovery_last_success_timestamp_seconds", labels)] == first
    errors = {k: v for k, v in data.items() if k[0] == "huaweicloud_task_api_errors_total"}
    assert any(dict(k[1])["cloud_service"] == "kafka_tasks" and dict(k[1])["reason"] == "server_error" and v >= 3
               for k, v in errors.items())  # fmt: skip


async def test_parents_come_from_every_page(stack: Stack) -> None:
    await stack.scrape()
    pages = [q for q in stack.cloud.asked if q.startswith(f"/autoscaling-api/v1/{PROJECT}/scaling_group")]
    assert sorted(pages) == [
        f"/autoscaling-api/v1/{PROJECT}/scaling_group?limit=2&start_number=0",
        f"/autoscaling-api/v1/{PROJECT}/scaling_group?limit=2&start_number=2",
    ]
    snapshot = next(t for t in stack.exporter.tracker.targets if t.target.cloud_service == "as_groups")
    assert dict(snapshot.parents) == {g: f"group-{n}" for n, g in enumerate(GROUPS)}


async def test_two_part_ids_from_discovery_and_the_config(stack: Stack) -> None:
    data = await stack.scrape()
    assert states(data, "dlf_jobs") == {"nightly_load/34765": "running", "weekly_report/34766": "succeeded"}
    assert ("nightly_load/34765", "job_name", "nightly_load", "") in parts_of(data, "dlf_jobs")
    assert ("nightly_load/34765", "instance_id", "34765", "") in parts_of(data, "dlf_jobs")
    assert f"/v1/{PROJECT}/jobs/weekly_report/instances/34766" in stack.cloud.asked


async def test_probe_takes_a_two_part_id_and_says_what_is_wrong_with_a_bad_one(stack: Stack) -> None:
    await stack.scrape()
    response = await stack.http.get("/probe", params={"cloud_service": "dlf_jobs", "task_id": "nightly_load/34765"})
    assert response.status_code == 200
    assert 'task_id="nightly_load/34765"' in response.text
    bad = await stack.http.get("/probe", params={"cloud_service": "dlf_jobs", "task_id": "nightly_load"})
    assert bad.status_code == 400
    assert "expected 2 parts joined by '/'" in bad.text and "job_name/instance_id" in bad.text
    fanned = await stack.http.get(
        "/probe", params={"cloud_service": "kafka_tasks", "task_id": f"{INSTANCE_A}/{TASK_A}"}
    )
    assert fanned.status_code == 200 and 'part_name="kafka-prod"' in fanned.text


async def test_task_files_take_two_part_ids_and_refuse_malformed_ones(stack: Stack, tmp_path: Path) -> None:
    entries = [
        {"cloud_service": "dlf_jobs", "task_id": "daily_export/34767"},
        {"cloud_service": "dlf_jobs", "task_id": "daily export/34768"},
        {"cloud_service": "kafka_tasks", "task_id": TASK_A},  # the fanned-out target's IDs name the parent
    ]
    stack.cloud.jobs[("daily_export", 34767)] = "waiting"
    (tmp_path / "tasks" / "ci.yaml").write_text(yaml.safe_dump({"tasks": entries}))
    with structlog.testing.capture_logs() as logs:
        await stack.exporter.tracker.settle_files()
    problems = [e["problem"] for e in logs if e["event"] == "task file problem"]
    assert any("tasks[1]: invalid task ID 'daily export/34768': job_name 'daily export' is not a name" in p
               for p in problems), problems  # fmt: skip
    assert any("tasks[2]: invalid task ID" in p and "instance_id/task_id" in p for p in problems), problems
    data = await stack.scrape()
    assert states(data, "dlf_jobs")["daily_export/34767"] == "pending"
    assert data[("huaweicloud_task_file_errors_total", frozenset({("reason", "invalid_entry")}))] == 2


def test_service_try_shows_the_parents_and_the_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exporter.cli import main

    target = f"account: prod, region: r1, project_id: {PROJECT}, endpoint: 'http://127.0.0.1:9'"
    config = tmp_path / "config.yaml"
    config.write_text(config_text(f"  - {{cloud_service: kafka_tasks, {target}}}\n"))
    instances = tmp_path / "instances.json"  # ListInstances, as the document's example
    instances.write_text(
        '{"instances": [{"name": "kafka-2085975099", "engine": "kafka", "status": "RUNNING", '
        f'"instance_id": "{INSTANCE_A}"}}, {{"name": "bad", "instance_id": "not-an-id"}}], "instance_num": 2}}'
    )
    job = tmp_path / "job.json"  # ShowJobInstance
    job.write_text('{"jobName": "job_batch", "instanceId": 34765, "status": "success", "startTime": 1551671598000}')
    args = ["--config.file", str(config), "--config.check"]
    code = main([*args, "--service.try", "kafka_tasks", str(instances), "--service.try", "dlf_jobs", str(job)])
    out = capsys.readouterr().out
    assert code == 0
    assert "  a parent list: 2 parent(s) for instance_id" in out
    assert f"    {INSTANCE_A} (kafka-2085975099)\n" in out
    assert "    not-an-id (bad)  skipped: instance_id 'not-an-id' is not 16 to 64 hexadecimal" in out
    assert "  parents: a target without params.instance_id (or with 'all') is fanned out over GET" in out
    assert "  state: succeeded" in out
    assert "  task_id: job_name/instance_id (job_name: a name of 1 to 128" in out


# --- the parent lists, against the official SDK's models -----------------------------------------------

# (SDK module, list method, response model, its list's key, the item model and its fields, the response's
# other fields, the `parents:` of a spec)
PARENT_LISTS: dict[str, tuple[str, str, str, str, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "dms_kafka": (
        "huaweicloudsdkkafka.v2", "list_instances", "ListInstancesResponse", "instances", "ShowInstanceResp",
        {"instance_id": INSTANCE_A, "name": "kafka-prod"}, {"instance_num": 1},
        {"param": "instance_id", "path": "/v2/{project_id}/instances", "query": {"engine": "kafka"},
         "items": "/instances", "id": "/instance_id", "name": "/name"},
    ),
    "cce": (
        "huaweicloudsdkcce.v3", "list_clusters", "ListClustersResponse", "items", "Cluster",
        {"metadata": ("ClusterMetadata", {"uid": INSTANCE_A, "name": "prod-cluster"})}, {"kind": "Cluster"},
        {"param": "cluster_id", "path": "/api/v3/projects/{project_id}/clusters", "items": "/items",
         "id": "/metadata/uid", "name": "/metadata/name"},
    ),
    "cdm": (
        "huaweicloudsdkcdm.v1", "list_clusters", "ListClustersResponse", "clusters", "Clusters",
        {"id": INSTANCE_A, "name": "cdm-prod"}, {},
        {"param": "cluster_id", "path": "/v1.1/{project_id}/clusters", "items": "/clusters", "id": "/id",
         "name": "/name"},
    ),
    "as": (
        "huaweicloudsdkas.v1", "list_scaling_groups", "ListScalingGroupsResponse", "scaling_groups", "ScalingGroups",
        {"scaling_group_id": INSTANCE_A, "scaling_group_name": "web"}, {"total_number": 1, "start_number": 0},
        {"param": "scaling_group_id", "path": "/autoscaling-api/v1/{project_id}/scaling_group",
         "items": "/scaling_groups", "id": "/scaling_group_id", "name": "/scaling_group_name",
         "paging": {"style": "offset", "param": "start_number", "limit": 100, "total": "/total_number"}},
    ),
}  # fmt: skip
NAMES = {"dms_kafka": "kafka-prod", "cce": "prod-cluster", "cdm": "cdm-prod", "as": "web"}


@pytest.mark.parametrize("service", sorted(PARENT_LISTS))
def test_the_parent_lists_read_the_sdk_models_answers(service: str) -> None:
    import importlib
    import inspect

    from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization

    from exporter.schema import Ctx
    from exporter.services import list_items, lookup, read_spec

    module_name, method, response_name, items_key, item_name, fields, extra, parents = PARENT_LISTS[service]
    module = importlib.import_module(module_name)
    param = parents["param"]
    status = {"path": f"/x/{{{param}}}/{{task_id}}", "state": "/status", "states": {"DONE": "succeeded"}}
    document = {"name": f"{service}_x", "params": {param: "the parent"}, "parents": parents, "status": status}
    spec = read_spec(Ctx("test.yaml", "", None, {}), document)
    assert spec.parents is not None
    built = {k: getattr(module, v[0])(**v[1]) if isinstance(v, tuple) else v for k, v in fields.items()}
    body = sanitize_for_serialization(
        getattr(module, response_name)(**{items_key: [getattr(module, item_name)(**built)]}, **extra)
    )
    (found,) = list_items(spec.parents.lister, body)
    assert found[0] == INSTANCE_A
    assert spec.parents.name is not None and lookup(found[1], spec.parents.name) == NAMES[service]
    if service == "as":  # paged as the spec says
        assert {"start_number", "limit"} <= set(module.ListScalingGroupsRequest.attribute_map.values())
    # The path is the SDK's own list API, a GET.
    client = next(c for n, c in vars(module).items() if n.endswith("Client") and inspect.isclass(c))
    source = inspect.getsource(getattr(client, f"_{method}_http_info"))
    assert f'"resource_path": "{spec.parents.lister.path}"' in source and '"method": "GET"' in source
