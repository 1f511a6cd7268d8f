"""The built-ins of issue 21 (VBS, SMS, OMS tasks and task groups, ModelArts training jobs) against their
documents: every documented status value mapped, the documents' own example bodies (tests/documents/<svc>,
sources in each SOURCES.md) read by the spec, by `--service.try` and by the client as the document says
(a 200, an error in a 200, a 403, a not-found), and the official SDK's response model built from the same
bodies (the oracle; `tests/test_sdk_oracle_specs.py` does the same with the fake cloud's bodies)."""

from __future__ import annotations

import importlib
import json
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization
from prometheus_client import CollectorRegistry

from exporter.cli import main
from exporter.cloud.client import ApiClient
from exporter.cloud.errors import ApiError
from exporter.config import ConfigError, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import Reason, State, TaskStatus
from exporter.services import BUILTIN, read_status
from exporter.services.interpret import list_items
from tests.conftest import PROJECT
from tests.test_sdk_oracle import without_nulls

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOCS = Path(__file__).parent / "documents"
NEW = ("vbs", "sms", "oms", "oms_group", "modelarts")
TASK = "4010a32d535527910153552b492c0002"
OMS_TASK = "1234"  # OMS task IDs are int64s, of any number of digits


def document(name: str) -> Any:
    return json.loads((DOCS / name).read_text(encoding="utf-8"))


P, R, S, F, X = State.PENDING, State.RUNNING, State.SUCCEEDED, State.FAILED, State.STOPPED

# Every value each document lists, with the state the README's "Status mapping decisions" give it.
DOCUMENTED_STATES = {
    # querying_the_job_status.rst: SUCCESS, RUNNING, FAIL, INIT
    "vbs": {"INIT": P, "RUNNING": R, "SUCCESS": S, "FAIL": F},
    # ShowTaskResponse.state (12 values) and ListTasksRequest.state's two more
    "sms": {
        "READY": P,
        "RUNNING": R,
        "SYNCING": R,
        "ABORTING": R,
        "SKIPPING": R,
        "DELETING": R,
        "RESETING": R,
        "SYNC_F_ROLLBACKING": R,
        "MIGRATE_SUCCESS": S,
        "SYNC_SUCCESS": S,
        "MIGRATE_FAIL": F,
        "SYNC_FAIL": F,
        "SYNC_F_ROLLBACK_SUCCESS": F,
        "ABORT": X,
    },
    # TaskResp.status 1-7, and 0 (the v1 document's "not started", the examples' value)
    "oms": {"0": P, "1": P, "2": R, "6": R, "7": R, "3": X, "4": F, "5": S},
    # TaskGroupResp.status 0-9: the same integers as tasks, other meanings
    "oms_group": {"0": P, "1": R, "2": R, "7": R, "3": X, "8": X, "9": X, "4": F, "5": F, "6": S},
    # Status.phase
    "modelarts": {
        "Creating": P,
        "Pending": P,
        "Running": R,
        "Terminating": R,
        "Completed": S,
        "Failed": F,
        "Abnormal": F,
        "Terminated": X,
    },
}


@pytest.mark.parametrize("service", NEW)
def test_every_documented_status_is_mapped_and_nothing_else(service: str) -> None:
    spec = BUILTIN[service]
    assert dict(spec.status.states) == DOCUMENTED_STATES[service]
    field = spec.status.state.pointers[0]
    for raw, state in DOCUMENTED_STATES[service].items():
        body: dict[str, Any] = {}
        node = body
        for token in field[:-1]:
            node = node.setdefault(token, {})
        node[field[-1]] = int(raw) if service.startswith("oms") else raw  # OMS writes integers
        assert read_status(spec, body, UTC).state is state, raw


def test_vbs_documented_job() -> None:
    status = read_status(BUILTIN["vbs"], document("vbs/ShowJob.json"), UTC)
    assert status == TaskStatus(
        state=S,
        raw_status="SUCCESS",
        progress=1.0,
        start=1453997649.466,
        end=1453998327.69,
        job_type="bksCreateBackup",
        resource_id="7e5fdc5a-5e36-4b22-8bcc-7f17037290cc",
    )
    # sub_jobs: "the structure of each sub-job is similar to that of the parent job", at the top level
    batch = {"status": "RUNNING", "sub_jobs": [{"status": "SUCCESS"}, {"status": "RUNNING"}, {"status": "INIT"}]}
    counted = read_status(BUILTIN["vbs"], batch, UTC)
    assert counted.sub_tasks is not None and (counted.sub_tasks[S], counted.sub_tasks[R], counted.sub_tasks[P]) == (
        1,
        1,
        1,
    )
    failed = read_status(BUILTIN["vbs"], {"status": "FAIL", "error_code": "VBS.1", "fail_reason": "no space"}, UTC)
    assert (failed.state, failed.error_code, failed.error_message) == (F, "VBS.1", "no space")


def test_sms_documented_task() -> None:
    status = read_status(BUILTIN["sms"], document("sms/ShowTask.json"), UTC)
    assert status == TaskStatus(
        state=R,
        raw_status="RUNNING",
        start=1598435784.0,
        job_type="MIGRATE_BLOCK",
        job_name="MigrationTask",
        resource_id="xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxx0001",
    )
    assert status.created is None  # create_date is when the target was configured, not a queue time
    # remain_seconds (ShowTaskResponse, int seconds) is not in the example: none; read while not final
    left = document("sms/ShowTask.json") | {"remain_seconds": 1800}
    assert read_status(BUILTIN["sms"], left, UTC).remaining == 1800.0
    done = left | {"state": "MIGRATE_SUCCESS", "finish_date": 1598439384000}
    assert read_status(BUILTIN["sms"], done, UTC).remaining is None
    assert read_status(BUILTIN["sms"], left | {"remain_seconds": -1}, UTC).remaining is None


def test_oms_documented_task_and_a_failed_one() -> None:
    placeholder = read_status(BUILTIN["oms"], document("oms/ShowTask.json"), UTC)
    assert (placeholder.state, placeholder.raw_status, placeholder.progress) == (P, "0", 0.0)
    assert (placeholder.start, placeholder.end, placeholder.job_type, placeholder.resource_id) == (
        None,
        None,
        "list",
        "src_bucket",
    )
    failed = document("oms/ShowTask.json") | {"status": 4, "progress": 0.522, "start_time": 1659937788779}
    failed |= {"total_time": 7907369}
    status = read_status(BUILTIN["oms"], failed, UTC)
    assert (status.state, status.progress, status.start, status.end) == (F, 0.522, 1659937788.779, 1659945696.148)
    assert (status.error_code, status.error_message) == ("string", "string")
    running = read_status(BUILTIN["oms"], failed | {"status": 2, "error_reason": ""}, UTC)
    assert (running.state, running.end, running.error_code) == (R, None, "")  # total_time grows: read once final
    # left_time: ms left (the example's 0 on a task not started), read only while the task is not final
    assert (placeholder.remaining, status.remaining) == (0.0, None)
    assert read_status(BUILTIN["oms"], failed | {"status": 2, "left_time": 90500}, UTC).remaining == 90.5


def test_oms_group_documented_groups() -> None:
    status = read_status(BUILTIN["oms_group"], document("oms_group/ShowTaskGroup.json"), UTC)
    assert status == TaskStatus(
        state=X,
        raw_status="3",
        progress=0.0,  # (success_num 0 + fail_num 0 + skip_num 0) / total_num 4128588
        start=1659937788.779,
        end=1659945696.148,
        job_type="PREFIX",
        resource_id="dst-test-001",
    )
    listed = list_items(BUILTIN["oms_group"].discover, document("oms_group/ListTaskGroup.json"))  # type: ignore[arg-type]
    states = [read_status(BUILTIN["oms_group"], item, UTC).state for _, item in listed]
    assert len(listed) == 10 and listed[0][0] == "9dd98a5e-7ea3-4d80-abff-4c23914313e4"
    assert states.count(S) == 8 and states.count(F) == 2  # 6 completed, 5 migration failed
    # The failed groups handled every object (fail_num 99020 of 99020, 1 of 1): progress 1 all the same
    progress = [read_status(BUILTIN["oms_group"], item, UTC).progress for _, item in listed]
    assert progress == [1.0] * 10
    moving = document("oms_group/ShowTaskGroup.json") | {"status": 2, "success_num": 10, "fail_num": 5}
    assert read_status(BUILTIN["oms_group"], moving | {"skip_num": 5, "total_num": 40}, UTC).progress == 0.5
    assert read_status(BUILTIN["oms_group"], moving | {"total_num": 0}, UTC).progress is None  # 0 objects
    absent = {k: v for k, v in moving.items() if k not in ("success_num", "fail_num", "skip_num")}
    assert read_status(BUILTIN["oms_group"], absent, UTC).progress is None  # no counter at all


def test_modelarts_documented_job() -> None:
    status = read_status(BUILTIN["modelarts"], document("modelarts/ShowTrainingJobDetails.json"), UTC)
    assert status == TaskStatus(
        state=F,
        raw_status="Abnormal",
        created=1636447346.315,
        job_type="job",
        job_name="trainjob--py14_mem06-108",
    )  # start_time 0: never started, so no start and no end
    ran = document("modelarts/ShowTrainingJobDetails.json")
    ran["status"] |= {"phase": "Failed", "start_time": 1636447400000, "duration": 60000}
    ran["status"]["task_statuses"] = [{"task": "worker-0", "exit_code": 137, "message": "out of memory"}]
    status = read_status(BUILTIN["modelarts"], ran, UTC)
    assert (status.start, status.end, status.error_message) == (1636447400.0, 1636447460.0, "out of memory")
    assert BUILTIN["modelarts"].discover is None  # its list is a POST: tasks by ID only


@pytest.mark.parametrize(
    ("service", "name", "items"),
    [
        pytest.param("sms", "sms/ListTasks.json", 3, id="sms"),
        pytest.param("oms", "oms/ListTasks.json", 1, id="oms"),
    ],
)
def test_documented_lists(service: str, name: str, items: int) -> None:
    lister = BUILTIN[service].discover
    assert lister is not None
    listed = list_items(lister, document(name))
    assert len(listed) == items and all(task_id for task_id, _ in listed)
    if lister.carries_status:  # OMS: the items are status bodies, the ID an integer read as text
        assert [(i, read_status(BUILTIN[service], item, UTC).state) for i, item in listed] == [("0", P)]


# --- --service.try and the client, as each document says --------------------------------------------

CONFIG = f"""
accounts:
  - {{name: prod, auth: {{type: token, token: t}}}}
  - {{name: tsi, cloud: otc, auth: {{type: token, token: t}}}}
services:
  - {{cloud_service: sms, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [{TASK}]}}
  - {{cloud_service: oms, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: ["{OMS_TASK}"]}}
  - {{cloud_service: modelarts, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [{TASK}]}}
  - {{cloud_service: vbs, account: tsi, region: eu-de, project_id: {PROJECT}, tasks: [{TASK}]}}
  - {{cloud_service: oms_group, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [{TASK}]}}
"""


@pytest.mark.parametrize(
    ("service", "name", "lines"),
    [
        pytest.param(
            "vbs",
            "vbs/ShowJob.json",
            ["state: succeeded", "raw_status: SUCCESS", "start: 1453997649.466 (2016-01-28T16:14:09.466000+00:00)"],
            id="vbs",
        ),
        pytest.param(
            "vbs",
            "vbs/ShowJob.error.json",
            [f"vbs: {DOCS}/vbs/ShowJob.error.json: an error answer: XXX: XXXX"],
            id="vbs-error-in-200",
        ),
        pytest.param(
            "sms",
            "sms/ShowTask.json",
            ["state: running", "raw_status: RUNNING", "job_name: MigrationTask", "end: None"],
            id="sms",
        ),
        pytest.param(
            "oms", "oms/ShowTask.json", ["state: pending", "raw_status: 0", "resource_id: src_bucket"], id="oms"
        ),
        pytest.param(
            "oms_group",
            "oms_group/ShowTaskGroup.json",
            ["state: stopped", "raw_status: 3", "end: 1659945696.148 (2022-08-08T08:01:36.148000+00:00)"],
            id="oms-group",
        ),
        pytest.param(
            "modelarts",
            "modelarts/ShowTrainingJobDetails.json",
            ["state: failed", "raw_status: Abnormal", "job_name: trainjob--py14_mem06-108", "start: None"],
            id="modelarts",
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


async def ask(index: int, status: int, body: Any) -> TaskStatus | ApiError:
    config = parse_config(CONFIG, env={})
    client = ApiClient(
        config,
        SelfMetrics(CollectorRegistry()),
        transport=lambda _a: httpx.MockTransport(lambda _r: httpx.Response(status, json=body)),
    )
    try:
        return await client.query(config.targets[index], OMS_TASK if index == 1 else TASK, 5)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("index", "status", "body", "reason"),
    [
        pytest.param(0, 403, document("sms/ShowTask.403.json"), Reason.AUTH, id="sms-403"),
        pytest.param(
            0, 404, {"error_code": "SMS.7703", "error_msg": "Task doesn't exist"}, Reason.NOT_FOUND, id="sms-7703"
        ),
        pytest.param(1, 404, {"error_code": "OMS.0001", "error_msg": "not found"}, Reason.NOT_FOUND, id="oms-404"),
        pytest.param(
            2,
            400,
            {"error_code": "ModelArts.2775", "error_msg": f"Training job (ID: {TASK}) not found."},
            Reason.NOT_FOUND,
            id="modelarts-2775-in-a-400",
        ),
        pytest.param(3, 200, document("vbs/ShowJob.error.json"), Reason.CLIENT_ERROR, id="vbs-error-in-200"),
        pytest.param(3, 404, {"error": {"message": "not found", "code": "X"}}, Reason.NOT_FOUND, id="vbs-404"),
        pytest.param(4, 404, {"error_code": "OMS.0002", "error_msg": "not found"}, Reason.NOT_FOUND, id="oms-group"),
    ],
)
async def test_documented_error_answers(index: int, status: int, body: Any, reason: Reason) -> None:
    result = await ask(index, status, body)
    assert isinstance(result, ApiError) and result.reason is reason, result


async def test_documented_bodies_through_the_client() -> None:
    for index, name in enumerate(("sms/ShowTask.json", "oms/ShowTask.json", "modelarts/ShowTrainingJobDetails.json")):
        result = await ask(index, 200, document(name))
        assert isinstance(result, TaskStatus) and result == read_status(
            BUILTIN[name.split("/")[0]], document(name), UTC
        )


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        pytest.param("[1234]", "", id="a-yaml-number"),
        pytest.param('["1234", "9223372036854775807"]', "", id="int64-strings"),
        pytest.param(f"[{TASK}]", r"services\[0\]\.tasks\[0\]: invalid task ID .*: expected a whole number", id="hex"),
        pytest.param('["12a4"]', r"config.yaml:3: services\[0\]\.tasks\[0\]: invalid task ID '12a4'", id="letters"),
        pytest.param('["-5"]', r"invalid task ID '-5': expected a whole number \(up to 20 digits\)", id="negative"),
    ],
)
def test_oms_task_ids_are_numbers(tasks: str, message: str) -> None:
    """`task_id: {kind: number}`: an OMS task ID is an int64, which the hex-or-UUID check refuses."""
    text = (
        "accounts: [{name: prod, auth: {type: token, token: t}}]\nservices:\n"
        f"  - {{cloud_service: oms, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: {tasks}}}\n"
    )
    if not message:
        assert parse_config(text, file="config.yaml", env={}).targets[0].tasks[0] == "1234"
        return
    with pytest.raises(ConfigError, match=message):
        parse_config(text, file="config.yaml", env={})


def test_the_regions_and_hosts() -> None:
    assert BUILTIN["vbs"].regions == {"otc": ("eu-de",)} and "huaweicloud" not in BUILTIN["vbs"].endpoints
    assert BUILTIN["vbs"].endpoint("otc", "eu-de") == "https://vbs.eu-de.otc.t-systems.com"
    assert BUILTIN["sms"].endpoint("huaweicloud", "ru-moscow-1") == "https://sms-api.ru-moscow-1.myhuaweicloud.com"
    assert "otc" not in BUILTIN["sms"].endpoints and "otc" not in BUILTIN["oms"].endpoints
    assert BUILTIN["modelarts"].endpoint("otc", "eu-de") == "https://modelarts.eu-de.otc.t-systems.com"
    assert (
        BUILTIN["modelarts"].endpoint("huaweicloud", "ap-southeast-1")
        == "https://modelarts.ap-southeast-1.myhuaweicloud.cn"
    )


# --- the official SDK's models from the documented bodies -------------------------------------------

ORACLE = [
    ("sms", "v3", "SmsClient", "ShowTaskResponse", "sms/ShowTask.json"),
    ("sms", "v3", "SmsClient", "ListTasksResponse", "sms/ListTasks.json"),
    ("oms", "v2", "OmsClient", "ShowTaskResponse", "oms/ShowTask.json"),
    ("oms", "v2", "OmsClient", "ListTasksResponse", "oms/ListTasks.json"),
    ("oms", "v2", "OmsClient", "ShowTaskGroupResponse", "oms_group/ShowTaskGroup.json"),
    ("oms", "v2", "OmsClient", "ListTaskGroupResponse", "oms_group/ListTaskGroup.json"),
    ("modelarts", "v1", "ModelArtsClient", "ShowTrainingJobDetailsResponse", "modelarts/ShowTrainingJobDetails.json"),
    ("modelarts", "v1", "ModelArtsClient", "ListTrainingJobsResponse", "modelarts/ListTrainingJobs.json"),
    # No VBS SDK: EVS's job model reads the twin API's body, all but the backup's entities (below).
    ("evs", "v2", "EvsClient", "ShowJobResponse", "vbs/ShowJob.json"),
]
# What the EVS model cannot hold of a VBS job (its JobEntities has no backup fields).
EVS_DROPS = {"bks_create_volume_name", "backup_id", "snapshot_id"}


def sdk_model(package: str, version: str, client: str, response: str, body: str) -> Any:
    """The SDK's response model built from `body` as its client builds it from an answer."""
    module = importlib.import_module(f"huaweicloudsdk{package}.{version}")
    sdk = (
        getattr(module, client)
        .new_builder()
        .with_credentials(BasicCredentials("AK", "SK", PROJECT))
        .with_endpoint("https://example.invalid")
        .build()
    )
    return sdk._deserialize(json.loads(body, parse_float=Decimal), response)


@pytest.mark.parametrize(("package", "version", "client", "response", "name"), ORACLE, ids=[o[4] for o in ORACLE])
def test_the_sdk_model_keeps_every_documented_field(
    package: str, version: str, client: str, response: str, name: str
) -> None:
    text = (DOCS / name).read_text(encoding="utf-8")
    model = sdk_model(package, version, client, response, text)
    assert type(model).__name__ == response
    parsed = without_nulls(sanitize_for_serialization(model))
    expected = without_nulls(json.loads(text))
    if name.startswith("vbs/"):
        assert set(expected["entities"]) - set(parsed["entities"]) == EVS_DROPS
        expected["entities"] = {k: v for k, v in expected["entities"].items() if k not in EVS_DROPS}
    assert parsed == expected
    spec = BUILTIN[name.split("/")[0]]
    if "List" not in response:  # the spec reads the SDK's reading as it reads the body
        assert read_status(spec, parsed, UTC) == read_status(spec, json.loads(text), UTC)


def test_oms_error_reason_empty_string_is_an_empty_model() -> None:
    """TaskResp.error_reason is "" unless the task failed; the SDK makes an empty ErrorReasonResp of it and
    the spec finds no code or message under it."""
    body = document("oms/ShowTask.json") | {"status": 2, "error_reason": ""}
    model = sdk_model("oms", "v2", "OmsClient", "ShowTaskResponse", json.dumps(body))
    assert sanitize_for_serialization(model.error_reason) == {}
    status = read_status(BUILTIN["oms"], body, UTC)
    assert (status.error_code, status.error_message) == ("", "")


# --- end to end: the exporter against the fake cloud's default scenario -----------------------------


LISTED = ("sms", "oms", "oms_group")


def e2e_config(url: str, tasks: list[Any]) -> dict[str, Any]:
    """The services of `tasks`, each at its own "host" (url/<service>): those with a list API discover,
    the others track their scenario tasks by ID."""
    by_service: dict[str, list[str]] = {}
    for task in tasks:
        by_service.setdefault(task.cloud_service, []).append(task.task_id)
    common = {"account": "t", "region": "cn-north-4", "project_id": PROJECT}
    return {
        "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
        "services": [
            {"cloud_service": name, "endpoint": f"{url}/{name}", **common}
            | ({"discover": True} if name in LISTED else {"tasks": ids})
            for name, ids in by_service.items()
        ],
    }


async def test_the_new_services_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over real HTTP: SMS, OMS tasks and OMS groups found by their list APIs, VBS jobs and ModelArts
    training jobs by ID; after the scenario's last transition every task shows its last documented status."""
    from exporter.app import Exporter
    from exporter.config import load_config
    from exporter.exposition.server import make_app, serve
    from exporter.simulator import DEMO_TOKEN, Simulator, default_scenario, start_simulator
    from tests.test_e2e_specs import NOW, parsed, value

    now = [NOW]
    tasks = [t for t in default_scenario().tasks if t.cloud_service in NEW]
    assert {t.cloud_service for t in tasks} == set(NEW)
    sim = Simulator(default_scenario(), clock=lambda: now[0])
    async with await start_simulator(sim) as cloud:
        path = tmp_path / "config.yaml"
        path.write_text(json.dumps(e2e_config(cloud.url, tasks)), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        now[0] = NOW + 125
        exporter = Exporter(load_config(path), clock=lambda: now[0])
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
                text = (await http.get("/metrics")).text
        finally:
            await serving.stop()
    data = parsed(text)
    for task in tasks:
        raw = str(task.phases[-1].status)
        state = DOCUMENTED_STATES[task.cloud_service][raw]
        assert value(data, "huaweicloud_task_status", task_id=task.task_id, state=state.value) == 1, task.task_id
        assert value(data, "huaweicloud_task_info", task_id=task.task_id, raw_status=raw) == 1
    assert {s: sim.stats.list_requests.get(s, 0) for s in NEW} == {s: int(s in LISTED) for s in NEW}
    failed = {"task_id": "0b500000000000000000000000000002", "error_code": "VBS.0001"}
    assert value(data, "huaweicloud_task_error_info", **failed) == 1
