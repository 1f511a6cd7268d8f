"""The fan-out built-ins of issue 21 (DMS Kafka, RocketMQ and RabbitMQ background tasks, CCE cluster
upgrade tasks, Auto Scaling activities) against their documents: every documented status value mapped,
the documents' own example bodies (tests/documents/<svc>, sources in each SOURCES.md) read by the spec,
by `--service.try` and by the client as the document says, the official SDK's response models built
from the same bodies, and end to end over real sockets against the fake cloud's default scenario: each
target leaves its parent parameter out and is fanned out over the scenario's instances, clusters and
scaling groups."""

from __future__ import annotations

import json
import re
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization
from prometheus_client import CollectorRegistry

from exporter.cli import main
from exporter.cloud.client import ApiClient
from exporter.cloud.errors import ApiError
from exporter.config import ConfigError, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import Reason, State, TaskStatus
from exporter.services import BUILTIN, read_status
from exporter.services.interpret import list_items, list_total, read_progress, status_body
from exporter.services.spec import Paging
from tests.conftest import PROJECT
from tests.test_fanout import KAFKA as KAFKA_TASKS
from tests.test_fanout import config_text
from tests.test_sdk_oracle import without_nulls
from tests.test_specs_next import sdk_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOCS = Path(__file__).parent / "documents"
NEW = ("dms_kafka", "dms_rocketmq", "dms_rabbitmq", "cce_upgrade", "as")
DMS = ("dms_kafka", "dms_rocketmq", "dms_rabbitmq")
TASK = "8abfa7b272adc5b40172b73130065ae7"
PARENT = "1e1c1b25-47c7-4a84-8a62-a6c4e0ee2a64"


def document(name: str) -> Any:
    return json.loads((DOCS / name).read_text(encoding="utf-8"))


P, R, S, F, X = State.PENDING, State.RUNNING, State.SUCCEEDED, State.FAILED, State.STOPPED

# Every value each document lists, with the state the README's "Status mapping decisions" give it.
_DMS_STATES = {"CREATED": P, "EXECUTING": R, "SUCCESS": S, "FAILED": F, "CANCELLED": X, "DELETED": X}
DOCUMENTED_STATES = {
    # ListBackgroundTasksRespTasks.status (the same in the three SDKs and API definitions)
    "dms_kafka": _DMS_STATES,
    "dms_rocketmq": _DMS_STATES,
    "dms_rabbitmq": _DMS_STATES,
    # UpgradeTaskStatus.phase: a paused upgrade waits for the user and continues (not final)
    "cce_upgrade": {"Init": P, "Queuing": P, "Running": R, "Pause": R, "Success": S, "Failed": F},
    # ScalingActivityLogV2.status
    "as": {"DOING": R, "SUCCESS": S, "FAIL": F},
}


@pytest.mark.parametrize("service", NEW)
def test_every_documented_status_is_mapped_and_nothing_else(service: str) -> None:
    spec = BUILTIN[service]
    assert dict(spec.status.states) == DOCUMENTED_STATES[service]
    pointer = spec.status.state.pointers[0]
    for raw, state in DOCUMENTED_STATES[service].items():
        body: Any = raw
        for token in reversed(pointer):
            body = [body] if token == "0" else {token: body}
        assert read_status(spec, body, UTC).state is state, raw


@pytest.mark.parametrize("service", NEW)
def test_each_is_fanned_out_over_its_documented_parent_list(service: str) -> None:
    spec = BUILTIN[service]
    assert spec.parents is not None and spec.parents.param in spec.params
    assert spec.identity_for({}).describe().startswith(f"{spec.parents.param}/task_id (")
    assert spec.identity_for({spec.parents.param: PARENT}) == spec.identity


@pytest.mark.parametrize(
    ("service", "name", "engine"),
    [
        pytest.param("dms_kafka", "dms_kafka/ShowBackgroundTask.json", "kafka", id="kafka"),
        pytest.param("dms_kafka", "dms_kafka/ShowBackgroundTask.otc.json", "kafka", id="kafka-otc"),
        pytest.param("dms_rocketmq", "dms_rocketmq/ShowBackgroundTask.json", "rocketmq", id="rocketmq"),
        pytest.param("dms_rabbitmq", "dms_rabbitmq/ShowBackgroundTask.json", "rabbitmq", id="rabbitmq"),
    ],
)
def test_dms_documented_task(service: str, name: str, engine: str) -> None:
    body = document(name)
    status = read_status(BUILTIN[service], body, UTC)
    task = body["tasks"][0]
    assert (status.state, status.raw_status, status.job_type, status.progress) == (S, "SUCCESS", task["name"], 1.0)
    assert status.start is not None and status.end is not None and status.end > status.start
    parents = BUILTIN[service].parents
    assert parents is not None and dict(parents.lister.query) == {"engine": engine}
    running = {"task_count": "1", "tasks": [task | {"status": "EXECUTING"}]}
    assert read_status(BUILTIN[service], running, UTC).end is None  # updated_at: the last update until final


def test_dms_documented_progress() -> None:
    for service in ("dms_kafka", "dms_rocketmq"):
        found = read_progress(BUILTIN[service], document(f"{service}/ShowBackgroundTaskProgress.json"))
        assert found == {"dms_kafka": 1.0, "dms_rocketmq": 0.4}[service]
    assert BUILTIN["dms_rabbitmq"].status.progress is None  # no progress API for RabbitMQ


def test_cce_upgrade_documented_task() -> None:
    status = read_status(BUILTIN["cce_upgrade"], document("cce_upgrade/ShowUpgradeClusterTask.json"), UTC)
    assert (status.state, status.raw_status, status.progress, status.job_name) == (P, "Init", 0.0, "v1.23.5-r0")
    assert status.start == 1671169220.75671 and status.end is None  # completionTime is set from the start
    listed = list_items(BUILTIN["cce_upgrade"].discover, document("cce_upgrade/ListUpgradeClusterTasks.json"))  # type: ignore[arg-type]
    statuses = [read_status(BUILTIN["cce_upgrade"], item, UTC) for _, item in listed]
    assert listed[0][0] == "f40cafed-7bf1-4c3b-b619-80113b4bbb18"
    assert {s.state for s in statuses} == {S} and all(s.end is not None for s in statuses)


def test_as_documented_activities() -> None:
    body = document("as/ListScalingActivityV2Logs.json")
    status = read_status(BUILTIN["as"], body, UTC)  # the log list filtered by log_id: its first item
    assert (status.state, status.raw_status, status.job_type) == (S, "SUCCESS", "MODIFY_ELB")
    assert (status.start, status.end) == (1542894380.0, 1542894458.0)
    listed = list_items(BUILTIN["as"].discover, body)  # type: ignore[arg-type]
    assert [task_id for task_id, _ in listed] == [item["id"] for item in body["scaling_activity_log"]]
    failed = {"scaling_activity_log": [{"status": "FAIL", "instance_failed_list": [{"failed_reason": "no quota"}]}]}
    assert read_status(BUILTIN["as"], failed, UTC).error_message == "no quota"


@pytest.mark.parametrize("name", ["dms_kafka/ListBackgroundTasks.json", "dms_kafka/ListBackgroundTasks.otc.json"])
def test_the_dms_list_total_is_a_string_of_digits(name: str) -> None:
    lister = BUILTIN["dms_kafka"].discover
    assert lister is not None and lister.paging.total_type == "string"
    body = document(name)
    assert body["task_count"] == "4" and list_total(lister.paging, body) == 4
    listed = list_items(lister, body)
    assert [read_status(BUILTIN["dms_kafka"], status_body(lister, item), UTC).state for _, item in listed] == [R, S]


def test_a_list_total_reads_a_number_or_digits_and_nothing_else() -> None:
    paging = Paging(style="offset", total=BUILTIN["dms_kafka"].discover.paging.total)  # type: ignore[union-attr]
    for total, read in ((4, 4), ("4", 4), (" 12 ", 12), ("", None), ("4.5", None), ("-1", None), (True, None)):
        assert list_total(paging, {"task_count": total}) == read, total


def test_a_total_given_as_an_object_needs_at_or_header() -> None:
    spec = KAFKA_TASKS.replace("  id: /id\n", "  id: /id\n  paging: {style: offset, total: {json_type: string}}\n", 1)
    text = config_text(f"  - {{cloud_service: kafka_tasks, account: prod, region: r1, project_id: {PROJECT}}}\n", spec)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    message = str(caught.value)
    assert re.match(r"<config>:\d+: custom_services\[0\]\.discover\.paging\.total", message), message
    assert "the list's total needs 'at' (a pointer into the answer) or 'header'" in message
    wrong = spec.replace("{json_type: string}", "{at: /task_count, json_type: text}")
    with pytest.raises(ConfigError, match="json_type"):
        parse_config(
            config_text(
                f"  - {{cloud_service: kafka_tasks, account: prod, region: r1, project_id: {PROJECT}}}\n", wrong
            )
        )


# --- --service.try and the client, as each document says --------------------------------------------

CONFIG = f"""
accounts:
  - {{name: prod, auth: {{type: token, token: t}}}}
  - {{name: tsi, cloud: otc, auth: {{type: token, token: t}}}}
services:
  - {{cloud_service: dms_kafka, account: prod, region: cn-north-4, project_id: {PROJECT},
     params: {{instance_id: {PARENT}}}, tasks: [{TASK}]}}
  - {{cloud_service: dms_rocketmq, account: prod, region: cn-north-4, project_id: {PROJECT},
     params: {{instance_id: {PARENT}}}, tasks: [{TASK}]}}
  - {{cloud_service: dms_rabbitmq, account: prod, region: cn-north-4, project_id: {PROJECT},
     params: {{instance_id: {PARENT}}}, tasks: [{TASK}]}}
  - {{cloud_service: cce_upgrade, account: prod, region: cn-north-4, project_id: {PROJECT},
     params: {{cluster_id: {PARENT}}}, tasks: [{TASK}]}}
  - {{cloud_service: as, account: tsi, region: eu-de, project_id: {PROJECT},
     params: {{scaling_group_id: {PARENT}}}, tasks: [{TASK}]}}
"""


@pytest.mark.parametrize(
    ("service", "name", "lines"),
    [
        pytest.param(
            "dms_kafka",
            "dms_kafka/ShowBackgroundTask.json",
            [
                "state: succeeded",
                "raw_status: SUCCESS",
                "job_type: bindInstancePublicIp",
                "start: 1592211353.606 (2020-06-15T08:55:53.606000+00:00)",
            ],
            id="kafka",
        ),
        pytest.param(
            "dms_kafka",
            "dms_kafka/ShowBackgroundTask.otc.json",
            ["state: succeeded", "end: 1592211356.6 (2020-06-15T08:55:56.600000+00:00)"],
            id="kafka-otc",
        ),
        pytest.param(
            "dms_rocketmq",
            "dms_rocketmq/ShowBackgroundTask.json",
            ["state: succeeded", "raw_status: SUCCESS"],
            id="rocketmq",
        ),
        pytest.param(
            "dms_rabbitmq",
            "dms_rabbitmq/ShowBackgroundTask.json",
            ["state: succeeded", "raw_status: SUCCESS"],
            id="rabbitmq",
        ),
        pytest.param(
            "cce_upgrade",
            "cce_upgrade/ShowUpgradeClusterTask.json",
            ["state: pending", "raw_status: Init", "job_name: v1.23.5-r0", "end: None"],
            id="cce-upgrade",
        ),
        pytest.param(
            "as",
            "as/ListScalingActivityV2Logs.json",
            ["state: succeeded", "raw_status: SUCCESS", "job_type: MODIFY_ELB"],
            id="as",
        ),
    ],
)
def test_service_try_reads_each_documented_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], service: str, name: str, lines: list[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    code = main(["--config.file", str(config), "--config.check", "--service.try", service, str(DOCS / name)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert set(lines) <= {line.strip() for line in out.splitlines()}, out


def answering(routes: dict[str, tuple[int, Any]]) -> httpx.MockTransport:
    """A cloud that answers each path ending as `routes` says (the longest match), else 500."""

    def handler(request: httpx.Request) -> httpx.Response:
        for end in sorted(routes, key=len, reverse=True):
            if request.url.path.endswith(end):
                status, body = routes[end]
                return httpx.Response(status, json=body)
        return httpx.Response(500, json={"error_code": "X", "error_msg": request.url.path})

    return httpx.MockTransport(handler)


async def ask(index: int, routes: dict[str, tuple[int, Any]]) -> TaskStatus | ApiError:
    config = parse_config(CONFIG, env={})
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: answering(routes))
    try:
        return await client.query(config.targets[index], TASK, 5)
    finally:
        await client.aclose()


_GONE = {"error_code": "DMS.00404022", "error_msg": "This instance does not exist."}


@pytest.mark.parametrize(
    ("index", "status", "body", "reason"),
    [
        pytest.param(0, 404, _GONE, Reason.NOT_FOUND, id="kafka-instance-gone"),
        pytest.param(1, 404, _GONE, Reason.NOT_FOUND, id="rocketmq-instance-gone"),
        pytest.param(2, 200, {"task_count": "0", "tasks": []}, Reason.NOT_FOUND, id="rabbitmq-no-such-task"),
        pytest.param(3, 404, {"error_code": "CCE.01404001", "error_msg": "not found"}, Reason.NOT_FOUND, id="cce"),
        pytest.param(
            4,
            400,
            {"error": {"code": "AS.2007", "message": "The AS group does not exist."}},
            Reason.NOT_FOUND,
            id="as-group",
        ),
        pytest.param(
            4, 200, {"limit": 20, "scaling_activity_log": [], "total_number": 0}, Reason.NOT_FOUND, id="as-log"
        ),
        pytest.param(0, 403, {"error_code": "DMS.00403000", "error_msg": "Forbidden"}, Reason.AUTH, id="kafka-403"),
    ],
)
async def test_documented_error_answers(index: int, status: int, body: Any, reason: Reason) -> None:
    result = await ask(index, {f"/tasks/{TASK}": (status, body), f"/{PARENT}": (status, body)})
    assert isinstance(result, ApiError) and result.reason is reason, result


def _executing(service: str) -> dict[str, Any]:
    body: dict[str, Any] = document(f"{service}/ShowBackgroundTask.json")
    body["tasks"][0] |= {"status": "EXECUTING"}
    return body


async def test_a_running_task_reads_its_progress_from_the_progress_api() -> None:
    progress = document("dms_rocketmq/ShowBackgroundTaskProgress.json")
    result = await ask(
        1, {f"/tasks/{TASK}": (200, _executing("dms_rocketmq")), f"/tasks/{TASK}/progress": (200, progress)}
    )
    assert isinstance(result, TaskStatus) and (result.state, result.progress) == (R, 0.4)


@pytest.mark.parametrize("status", [400, 404, 500])
async def test_kafkas_progress_error_is_no_progress_not_a_failed_query(status: int) -> None:
    """Only Kafka scale-outs report a progress: the progress API's error for another task reads as "no
    progress" (the status answered), never as a failed status query."""
    error = {"error_code": "DMS.00400070", "error_msg": "Only scale-out tasks support progress queries."}
    result = await ask(
        0, {f"/tasks/{TASK}": (200, _executing("dms_kafka")), f"/tasks/{TASK}/progress": (status, error)}
    )
    assert isinstance(result, TaskStatus), result
    assert (result.state, result.raw_status, result.progress, result.progress_unanswered) == (
        R,
        "EXECUTING",
        None,
        True,
    )


def test_the_regions_and_hosts() -> None:
    kafka = BUILTIN["dms_kafka"]
    assert kafka.endpoint("otc", "eu-nl") == "https://dms.eu-nl.otc.t-systems.com"
    assert kafka.endpoint("huaweicloud", "eu-west-101") == "https://dms.eu-west-101.myhuaweicloud.eu"
    assert kafka.regions["huaweicloud"] == BUILTIN["dms_rocketmq"].regions["huaweicloud"]
    assert len(kafka.regions["huaweicloud"]) == 34 and kafka.regions["otc"] == ("eu-de", "eu-nl")
    assert "otc" not in BUILTIN["dms_rocketmq"].endpoints and "otc" not in BUILTIN["dms_rabbitmq"].endpoints
    assert "otc" not in BUILTIN["cce_upgrade"].endpoints
    assert BUILTIN["cce_upgrade"].regions["huaweicloud"] == BUILTIN["cce"].regions["huaweicloud"]
    assert BUILTIN["as"].endpoint("huaweicloud", "ap-southeast-1") == "https://as.ap-southeast-1.myhwclouds.com"
    assert BUILTIN["as"].endpoint("otc", "eu-de") == "https://as.eu-de.otc.t-systems.com"


# --- the official SDK's models from the documented bodies -------------------------------------------

ORACLE = [
    (package, "v2", client, response, f"{service}/{name}.json")
    for service, package, client in (
        ("dms_kafka", "kafka", "KafkaClient"),
        ("dms_rocketmq", "rocketmq", "RocketMQClient"),
        ("dms_rabbitmq", "rabbitmq", "RabbitMQClient"),
    )
    for name, response in (
        ("ShowBackgroundTask", "ShowBackgroundTaskResponse"),
        ("ListBackgroundTasks", "ListBackgroundTasksResponse"),
        ("ShowBackgroundTaskProgress", "ShowBackgroundTaskProgressResponse"),
    )
    if not (package == "rabbitmq" and name == "ShowBackgroundTaskProgress")
] + [
    ("kafka", "v2", "KafkaClient", "ShowBackgroundTaskResponse", "dms_kafka/ShowBackgroundTask.otc.json"),
    ("kafka", "v2", "KafkaClient", "ListBackgroundTasksResponse", "dms_kafka/ListBackgroundTasks.otc.json"),
    ("cce", "v3", "CceClient", "ShowUpgradeClusterTaskResponse", "cce_upgrade/ShowUpgradeClusterTask.json"),
    ("cce", "v3", "CceClient", "ListUpgradeClusterTasksResponse", "cce_upgrade/ListUpgradeClusterTasks.json"),
    ("cce", "v3", "CceClient", "ListClustersResponse", "cce_upgrade/ListClusters.json"),
    ("as", "v1", "AsClient", "ListScalingActivityV2LogsResponse", "as/ListScalingActivityV2Logs.json"),
    ("as", "v1", "AsClient", "ListScalingGroupsResponse", "as/ListScalingGroups.json"),
    ("as", "v1", "AsClient", "ListScalingGroupsResponse", "as/ListScalingGroups.otc.json"),
]


@pytest.mark.parametrize(("package", "version", "client", "response", "name"), ORACLE, ids=[o[4] for o in ORACLE])
def test_the_sdk_model_keeps_every_documented_field(
    package: str, version: str, client: str, response: str, name: str
) -> None:
    text = (DOCS / name).read_text(encoding="utf-8")
    model = sdk_model(package, version, client, response, text)
    assert type(model).__name__ == response
    parsed = without_nulls(sanitize_for_serialization(model))
    assert parsed == without_nulls(json.loads(text))
    spec = BUILTIN[name.split("/")[0]]
    if (response.startswith("Show") and "Progress" not in response) or name.startswith("as/ListScalingActivity"):
        assert read_status(spec, parsed, UTC) == read_status(spec, json.loads(text), UTC)


# --- end to end: fanned-out targets against the fake cloud's default scenario ------------------------


def e2e_config(url: str) -> dict[str, Any]:
    """One target per new service at its own "host" (url/<service>), leaving the parent out: each is
    fanned out over the scenario's parents and discovers their tasks."""
    common = {"account": "t", "region": "cn-north-4", "project_id": PROJECT, "discover": True}
    return {
        "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
        "services": [{"cloud_service": name, "endpoint": f"{url}/{name}", **common} for name in NEW],
    }


async def test_the_fanned_out_services_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over real HTTP: each target lists its parents (the scenario's instances, clusters, scaling groups),
    then each parent's tasks; after the scenario's last transition every task shows, under
    `<parent>/<task>`, its last documented status, and its parent's ID and name as a part."""
    from exporter.app import Exporter
    from exporter.config import load_config
    from exporter.exposition.server import make_app, serve
    from exporter.simulator import DEMO_TOKEN, Simulator, default_scenario, start_simulator
    from tests.test_e2e_specs import NOW, parsed, value

    now = [NOW]
    scenario = default_scenario()
    tasks = [t for t in scenario.tasks if t.cloud_service in NEW]
    parents = scenario.sections["parents"]
    sim = Simulator(scenario, clock=lambda: now[0])
    async with await start_simulator(sim) as cloud:
        path = tmp_path / "config.yaml"
        path.write_text(json.dumps(e2e_config(cloud.url)), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        now[0] = NOW + 125
        exporter = Exporter(load_config(path), clock=lambda: now[0])
        assert all(target.fanned_out for target in exporter.config.targets)
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
                text = (await http.get("/metrics")).text
        finally:
            await serving.stop()
    data = parsed(text)
    assert {t.cloud_service for t in tasks} == set(NEW) and set(parents) >= set(NEW)  # and CDM's clusters
    for task in tasks:
        raw = str(task.phases[-1].status)
        state = DOCUMENTED_STATES[task.cloud_service][raw]
        shown = f"{task.parent}/{task.task_id}"
        assert value(data, "huaweicloud_task_status", task_id=shown, state=state.value) == 1, shown
        assert value(data, "huaweicloud_task_info", task_id=shown, raw_status=raw) == 1, shown
        name = next(p.name for p in parents[task.cloud_service] if p.id == task.parent)
        assert value(data, "huaweicloud_task_id_part_info", task_id=shown, part_value=task.parent, part_name=name)
    # One parent list per target, one task list per parent; every parent has tasks.
    assert {s: sim.stats.list_requests.get(f"{s}.parents", 0) for s in NEW} == dict.fromkeys(NEW, 1)
    assert {s: sim.stats.list_requests.get(s, 0) for s in NEW} == {s: len(parents[s]) for s in NEW}
    assert {(t.cloud_service, t.parent) for t in tasks} == {(s, p.id) for s in NEW for p in parents[s]}
    failed = {"task_id": f"{parents['as'][0].id}/6a5c0000-0000-4000-8000-000000000002"}
    assert value(data, "huaweicloud_task_error_info", **failed, error_message="The ECS quota is insufficient.") == 1
    pause = f"{parents['cce_upgrade'][1].id}/cce0a000-0000-4000-8000-000000000002"
    assert value(data, "huaweicloud_task_progress_ratio", task_id=pause) == 0.35  # paused: running, at 35 %


# --- the fake cloud: parents, and paths the DMS engines share ----------------------------------------


async def test_the_fake_cloud_serves_each_engine_on_the_shared_dms_paths() -> None:
    """The three DMS engines share host and paths: ListInstances answers the engine asked for, an
    instance's task list is that instance's engine's (its scenario tasks' `parent`), its total a string,
    and the progress API (Kafka's and RocketMQ's) is the task's own service's."""
    from exporter.simulator import DEMO_TOKEN, Simulator, default_scenario, start_simulator
    from tests.test_e2e_specs import NOW

    scenario = default_scenario()
    parents = scenario.sections["parents"]
    now = [NOW]
    sim = Simulator(scenario, clock=lambda: now[0])
    now[0] = NOW + 45
    async with (
        await start_simulator(sim) as cloud,
        httpx.AsyncClient(base_url=cloud.url, headers={"X-Auth-Token": DEMO_TOKEN}) as http,
    ):
        base = f"/v2/{PROJECT}/instances"
        for engine in ("kafka", "rocketmq", "rabbitmq"):
            listed = (await http.get(base, params={"engine": engine, "offset": 0, "limit": 50})).json()
            names = [p.name for p in parents[f"dms_{engine}"]]
            assert [i["name"] for i in listed["instances"]] == names and listed["instance_num"] == len(names)
        rocket = parents["dms_rocketmq"][1].id
        page = (await http.get(f"{base}/{rocket}/tasks", params={"begin_time": "20231114000000"})).json()
        mine = {t.task_id for t in scenario.tasks if t.parent == rocket}
        assert {item["id"] for item in page["tasks"]} == mine and page["task_count"] == str(len(mine))
        running = "40c40000000000000000000000000001"
        answer = await http.get(f"{base}/{parents['dms_rocketmq'][0].id}/tasks/{running}/progress")
        assert answer.status_code == 200 and answer.json()["progress_percentage"] == 40
        unknown = await http.get(f"{base}/{rocket}/tasks/40c4000000000000000000000000ffff/progress")
        assert unknown.status_code == 404


def test_a_scenario_task_names_a_parent_only_where_the_spec_has_a_parent_list() -> None:
    from exporter.simulator import ScenarioError, parse_scenario

    task = {"task_id": "4afa0000000000000000000000000009", "phases": [{"after": 0, "status": "CREATED"}]}
    scenario = parse_scenario({"tasks": [task | {"cloud_service": "dms_kafka", "parent": PARENT}]}, source="s.yaml")
    assert scenario.tasks[0].parent == PARENT
    dws = {"cloud_service": "dws", "task_id": "d5a01", "parent": PARENT, "phases": [{"after": 0, "status": "INIT"}]}
    with pytest.raises(ScenarioError, match=re.escape("tasks[0]: unknown key 'parent'")):
        parse_scenario({"tasks": [dws]}, source="s.yaml")
    with pytest.raises(ScenarioError, match=re.escape("tasks[0].parent")):
        parse_scenario({"tasks": [task | {"cloud_service": "dms_kafka", "parent": "../x"}]}, source="s.yaml")
