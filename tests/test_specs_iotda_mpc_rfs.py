"""The built-ins IoTDA (batch tasks), MPC (transcoding) and RFS (stack deployments), and ModelArts' list,
against their documents: every documented status value mapped (MPC's NO_TASK: not found), the documents'
own example bodies (tests/documents/<svc>, sources in each SOURCES.md) read by the spec, by
`--service.try` and by the client as the document says, the official SDK's models built from the same
bodies, and the exporter end to end against the fake cloud (IoTDA's one list call per task_type, RFS's
Client-Request-Id on every call, MPC's status from its filtered list, ModelArts' POST list)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization

from exporter.cli import main
from exporter.cloud.errors import ApiError
from exporter.config import ConfigError, parse_config
from exporter.model import Reason, State, TaskStatus
from exporter.services import BUILTIN, NoSuchTask, read_status
from exporter.services.interpret import list_items, status_body
from exporter.simulator.bodies import put
from tests.conftest import PROJECT
from tests.test_sdk_oracle import without_nulls
from tests.test_specs import spec_of
from tests.test_specs_next import sdk_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOCS = Path(__file__).parent / "documents"
NEW = ("iotda", "mpc", "rfs")
P, R, S, F, X = State.PENDING, State.RUNNING, State.SUCCEEDED, State.FAILED, State.STOPPED


def document(name: str) -> Any:
    return json.loads((DOCS / name).read_text(encoding="utf-8"))


def utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


# Every value each document lists, with the state the README's "Status mapping decisions" give it.
DOCUMENTED_STATES = {
    # Task.status (ShowBatchTask, ListBatchTasks)
    "iotda": {
        "Initializing": P,
        "Waitting": P,
        "Processing": R,
        "Stopping": R,
        "Success": S,
        "PartialSuccess": F,
        "Fail": F,
        "Stopped": X,
    },
    # QueryTranscodingsTaskResponse.status, less NO_TASK ("no task, the task_id is not valid": not found)
    "mpc": {"WAITING": P, "NEED_TO_BE_AUDIT": P, "TRANSCODING": R, "SUCCEEDED": S, "FAILED": F, "CANCELED": X},
    # GetStackMetadataResponse.status
    "rfs": {
        "DEPLOYMENT_IN_PROGRESS": R,
        "ROLLBACK_IN_PROGRESS": R,
        "DELETION_IN_PROGRESS": R,
        "CREATION_COMPLETE": S,
        "DEPLOYMENT_COMPLETE": S,
        "DEPLOYMENT_FAILED": F,
        "ROLLBACK_FAILED": F,
        "ROLLBACK_COMPLETE": F,
        "DELETION_FAILED": F,
    },
}


def with_status(service: str, raw: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    put(body, BUILTIN[service].status.state.pointers[0], raw)  # a "0" token makes a one-item list (MPC)
    return body


@pytest.mark.parametrize("service", NEW)
def test_every_documented_status_is_mapped_and_nothing_else(service: str) -> None:
    assert dict(BUILTIN[service].status.states) == DOCUMENTED_STATES[service]
    for raw, state in DOCUMENTED_STATES[service].items():
        assert read_status(BUILTIN[service], with_status(service, raw), UTC).state is state, raw


def test_mpc_no_task_and_an_empty_list_say_not_found() -> None:
    with pytest.raises(NoSuchTask, match="NO_TASK"):
        read_status(BUILTIN["mpc"], with_status("mpc", "NO_TASK"), UTC)
    with pytest.raises(NoSuchTask, match="/task_array is empty"):
        read_status(BUILTIN["mpc"], {"is_truncated": 0, "task_array": [], "total": 0}, UTC)


def test_iotda_documented_task() -> None:
    status = read_status(BUILTIN["iotda"], document("iotda/ShowBatchTask.json"), UTC)
    at = utc("2015-12-12T12:12:12")
    assert status == TaskStatus(
        state=S,
        raw_status="Success",
        progress=1.0,
        start=at,
        created=at,
        job_type="softwareUpgrade",
        job_name="testname",
    )  # no end time in the API
    failed = document("iotda/ShowBatchTask.json")
    failed["batchtask"] |= {"status": "PartialSuccess", "status_desc": ""}
    status = read_status(BUILTIN["iotda"], failed, UTC)
    assert (status.state, status.error_code, status.error_message) == (
        F,
        "IOTDA.000002",
        "The request is unauthorized.",
    )  # the first failed sub-task's error when the task says nothing itself


def test_mpc_documented_task() -> None:
    status = read_status(BUILTIN["mpc"], document("mpc/ListTranscodingTask.json"), UTC)
    assert status == TaskStatus(
        state=S,
        raw_status="SUCCEEDED",
        progress=1.0,
        start=utc("2020-03-10T03:16:05"),  # a JSON number, 20200310031605
        end=utc("2020-03-10T03:16:23"),
    )
    as_text = document("mpc/ListTranscodingTask.json")  # the schema's and the SDK's type: string
    as_text["task_array"][0] |= {"create_time": "20200310031605", "status": "FAILED", "progress": 40}
    as_text["task_array"][0] |= {"error_code": "MPC.10212", "description": "bad input"}
    status = read_status(BUILTIN["mpc"], as_text, UTC)
    assert (status.start, status.progress, status.error_code, status.error_message) == (
        utc("2020-03-10T03:16:05"),
        0.4,
        "MPC.10212",
        "bad input",
    )


def test_rfs_documented_stack() -> None:
    status = read_status(BUILTIN["rfs"], document("rfs/GetStackMetadata.json"), UTC)
    assert status == TaskStatus(
        state=S,
        raw_status="DEPLOYMENT_COMPLETE",
        progress=1.0,
        end=utc("2023-05-24T08:56:10"),
        job_name="my_hello_world_stack",
        resource_id="f689e9fd-97e7-4185-bd8a-7d5f708d45d7",
    )  # no start: the deployment's start is not in this API
    running = document("rfs/GetStackMetadata.json") | {"status": "DEPLOYMENT_IN_PROGRESS"}
    assert read_status(BUILTIN["rfs"], running, UTC).end is None  # update_time is the end only once final


@pytest.mark.parametrize(
    ("service", "name", "expected"),
    [
        pytest.param("iotda", "iotda/ListBatchTasks.json", [("5c8ba99030344005c02316ad", S)], id="iotda"),
        pytest.param("mpc", "mpc/ListTranscodingTask.json", [("22123973", S)], id="mpc"),
        pytest.param("rfs", "rfs/ListStacks.json", [("my_second_stack", S), ("my_first_stack", S)], id="rfs"),
        pytest.param(
            "modelarts",
            "modelarts/ListTrainingJobs.json",
            [("3faf5c03-aaa1-4cbe-879d-24b05d997347", F)],
            id="modelarts",
        ),
    ],
)
def test_documented_lists(service: str, name: str, expected: list[tuple[str, State]]) -> None:
    lister = BUILTIN[service].discover
    assert lister is not None and lister.carries_status
    listed = list_items(lister, document(name))
    states = [
        (task_id, read_status(BUILTIN[service], status_body(lister, item), UTC).state) for task_id, item in listed
    ]
    assert states == expected
    assert all(lister.valid(task_id) for task_id, _ in listed)


def test_the_regions_and_hosts() -> None:
    assert all("otc" not in BUILTIN[name].endpoints for name in NEW)
    assert BUILTIN["iotda"].endpoint("huaweicloud", "cn-north-4") == "https://iotda.cn-north-4.myhuaweicloud.com"
    assert BUILTIN["mpc"].endpoint("huaweicloud", "cn-north-1") == "https://mts.cn-north-1.myhuaweicloud.com"
    assert BUILTIN["mpc"].endpoint("huaweicloud", "cn-east-3") == "https://mpc.cn-east-3.myhuaweicloud.com"
    assert BUILTIN["rfs"].endpoint("huaweicloud", "eu-west-101") == "https://aos.myhuaweicloud.eu"


# --- the spec format: one ID of another kind, raw statuses that mean "not found" ---------------------

CONFIG = f"""
accounts:
  - {{name: prod, auth: {{type: token, token: t}}}}
services:
  - {{cloud_service: iotda, account: prod, region: cn-north-4, project_id: {PROJECT},
     tasks: [5c8ba99030344005c02316ad]}}
  - {{cloud_service: mpc, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [22123973, "22123974"]}}
  - {{cloud_service: rfs, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [my_hello_world_stack]}}
"""


def test_task_ids_of_the_spec_kind() -> None:
    targets = parse_config(CONFIG, env={}).targets
    assert [list(t.tasks) for t in targets] == [
        ["5c8ba99030344005c02316ad"],
        ["22123973", "22123974"],
        ["my_hello_world_stack"],
    ]
    with pytest.raises(ConfigError, match=r"invalid task ID 'abc': expected a whole number"):
        parse_config(CONFIG.replace("22123973", "abc"), env={})
    with pytest.raises(ConfigError, match=r"invalid task ID 'my stack'"):
        parse_config(CONFIG.replace("[my_hello_world_stack]", "['my stack']"), env={})


def spec_with(**status: Any) -> dict[str, Any]:
    return {
        "name": "media",
        "endpoints": {"custom": "https://media.example"},
        "status": {"path": "/v1/{project_id}/jobs", "query": {"id": "{task_id}"}, "state": "/jobs/0/status"}
        | {"states": {"DONE": "succeeded"}}
        | status,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            spec_with(not_found={"states": ["DONE"]}),
            "not_found.states: DONE: a raw status is a task's state or 'not found', not both",
            id="state-and-not-found",
        ),
        pytest.param(
            spec_with() | {"task_id": {"kind": "number", "parts": ["a", "b"]}},
            "expected 'kind' (of a task's one ID) or 'parts' (of an ID of several), not both",
            id="kind-with-parts",
        ),
        pytest.param(spec_with() | {"task_id": {"kind": "hex"}}, "task_id.kind: expected one of", id="unknown-kind"),
    ],
)
def test_spec_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        spec_of(yaml.safe_dump(spec))


def test_a_custom_spec_says_not_found_by_a_raw_status() -> None:
    spec = spec_of(yaml.safe_dump(spec_with(not_found={"states": ["NO_JOB"]}) | {"task_id": {"kind": "number"}}))
    assert spec.identity.problem("42") == "" and spec.identity.problem("4a")
    with pytest.raises(NoSuchTask):
        read_status(spec, {"jobs": [{"status": "NO_JOB"}]}, UTC)


# --- --service.try and the client, as each document says --------------------------------------------


@pytest.mark.parametrize(
    ("service", "name", "lines"),
    [
        pytest.param(
            "iotda",
            "iotda/ShowBatchTask.json",
            [
                "state: succeeded",
                "raw_status: Success",
                "job_type: softwareUpgrade",
                "start: 1449922332.0 (2015-12-12T12:12:12+00:00)",
                "status call: GET /v5/iot/{project_id}/batchtasks/{task_id}?limit=1&task_detail_status=Fail",
            ],
            id="iotda",
        ),
        pytest.param(
            "mpc",
            "mpc/ListTranscodingTask.json",
            [
                "state: succeeded",
                "raw_status: SUCCEEDED",
                "start: 1583810165.0 (2020-03-10T03:16:05+00:00)",
                "end: 1583810183.0 (2020-03-10T03:16:23+00:00)",
                "status call: GET /v1/{project_id}/transcodings?task_id={task_id}",
            ],
            id="mpc",
        ),
        pytest.param(
            "rfs",
            "rfs/GetStackMetadata.json",
            [
                "state: succeeded",
                "raw_status: DEPLOYMENT_COMPLETE",
                "resource_id: f689e9fd-97e7-4185-bd8a-7d5f708d45d7",
                "header Client-Request-Id: {uuid}",
            ],
            id="rfs",
        ),
        pytest.param(
            "modelarts",
            "modelarts/ShowTrainingJobDetails.json",
            ["list call: POST /v2/{project_id}/training-job-searches"],
            id="modelarts-post-list",
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


def test_service_try_shows_one_iotda_list_per_task_type(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    main(
        [
            "--config.file",
            str(config),
            "--config.check",
            "--service.try",
            "iotda",
            str(DOCS / "iotda/ShowBatchTask.json"),
        ]
    )
    out = capsys.readouterr().out
    assert "task_type=firmwareUpgrade|softwareUpgrade|moduleUpgrade|createDevices" in out
    assert "(one call sequence per value)" in out


async def ask(index: int, status: int, body: Any) -> TaskStatus | ApiError:
    from prometheus_client import CollectorRegistry

    from exporter.cloud.client import ApiClient
    from exporter.exposition.metrics import SelfMetrics

    config = parse_config(CONFIG, env={})
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(answer))
    try:
        target = config.targets[index]
        return await client.query(target, next(iter(target.tasks)), 5)
    finally:
        await client.aclose()
        if index == 2:  # RFS: a fresh UUID in Client-Request-Id
            assert seen and uuid.UUID(seen[0].headers["Client-Request-Id"])


@pytest.mark.parametrize(
    ("index", "status", "body", "reason"),
    [
        pytest.param(1, 200, with_status("mpc", "NO_TASK"), Reason.NOT_FOUND, id="mpc-no-task"),
        pytest.param(1, 200, {"task_array": [], "total": 0, "is_truncated": 0}, Reason.NOT_FOUND, id="mpc-empty"),
        pytest.param(1, 400, document("mpc/ListTranscodingTask.400.json"), Reason.CLIENT_ERROR, id="mpc-400"),
        pytest.param(0, 404, {"error_code": "IOTDA.014005", "error_msg": "not found"}, Reason.NOT_FOUND, id="iotda"),
        pytest.param(2, 404, {"error_code": "RFS.1001", "error_msg": "no stack"}, Reason.NOT_FOUND, id="rfs-404"),
    ],
)
async def test_documented_error_answers(index: int, status: int, body: Any, reason: Reason) -> None:
    result = await ask(index, status, body)
    assert isinstance(result, ApiError) and result.reason is reason, result


@pytest.mark.parametrize(
    ("index", "name"),
    [(0, "iotda/ShowBatchTask.json"), (1, "mpc/ListTranscodingTask.json"), (2, "rfs/GetStackMetadata.json")],
)
async def test_documented_bodies_through_the_client(index: int, name: str) -> None:
    result = await ask(index, 200, document(name))
    assert result == read_status(BUILTIN[NEW[index]], document(name), UTC)


# --- the official SDK's models from the documented bodies -------------------------------------------

ORACLE = [
    ("iotda", "v5", "IoTDAClient", "ShowBatchTaskResponse", "iotda/ShowBatchTask.json"),
    ("iotda", "v5", "IoTDAClient", "ListBatchTasksResponse", "iotda/ListBatchTasks.json"),
    ("mpc", "v1", "MpcClient", "ListTranscodingTaskResponse", "mpc/ListTranscodingTask.json"),
    ("rfs", "v1", "RfsClient", "GetStackMetadataResponse", "rfs/GetStackMetadata.json"),
    ("rfs", "v1", "RfsClient", "ListStacksResponse", "rfs/ListStacks.json"),
]


@pytest.mark.parametrize(("package", "version", "client", "response", "name"), ORACLE, ids=[o[4] for o in ORACLE])
def test_the_sdk_model_keeps_every_documented_field(
    package: str, version: str, client: str, response: str, name: str
) -> None:
    from tests.test_sdk_oracle_specs import as_sdk_text

    text = (DOCS / name).read_text(encoding="utf-8")
    model = sdk_model(package, version, client, response, text)
    assert type(model).__name__ == response
    parsed = without_nulls(sanitize_for_serialization(model))
    assert parsed == as_sdk_text(package, without_nulls(json.loads(text)))  # MPC's numbers: text in the SDK
    spec = BUILTIN[name.split("/")[0]]
    if "List" not in response or package == "mpc":  # the spec reads the SDK's reading as it reads the body
        assert read_status(spec, parsed, UTC) == read_status(spec, json.loads(text), UTC)


# --- end to end: the exporter against the fake cloud's default scenario -----------------------------

UNKNOWN_MPC = "99999999"


def e2e_config(url: str) -> dict[str, Any]:
    """IoTDA and MPC found by their lists (MPC also asked for an ID it does not know), RFS stacks by name."""
    common = {"account": "t", "region": "cn-north-4", "project_id": PROJECT}
    stacks = [t.task_id for t in default_tasks() if t.cloud_service == "rfs"]
    return {
        "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
        "services": [
            {"cloud_service": "iotda", "endpoint": f"{url}/iotda", "discover": True, **common},
            {"cloud_service": "mpc", "endpoint": f"{url}/mpc", "discover": True, "tasks": [UNKNOWN_MPC], **common},
            {"cloud_service": "rfs", "endpoint": f"{url}/rfs", "tasks": stacks, **common},
        ],
    }


def default_tasks() -> list[Any]:
    from exporter.simulator import default_scenario

    return [t for t in default_scenario().tasks if t.cloud_service in NEW]


async def test_the_new_services_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over real HTTP: every IoTDA and MPC task of the scenario found by its list (IoTDA: one list call per
    task_type), RFS stacks asked by name with a fresh Client-Request-Id (the fake cloud refuses a call
    without one); after the scenario's last transition each shows its last documented status, and an MPC
    ID the cloud does not know (NO_TASK) is not found."""
    from exporter.app import Exporter
    from exporter.config import load_config
    from exporter.exposition.server import make_app, serve
    from exporter.simulator import DEMO_TOKEN, Simulator, default_scenario, start_simulator
    from tests.test_e2e_specs import NOW, parsed, value

    now = [NOW]
    tasks = default_tasks()
    assert {t.cloud_service for t in tasks} == set(NEW)
    sim = Simulator(default_scenario(), clock=lambda: now[0])
    async with await start_simulator(sim) as cloud:
        path = tmp_path / "config.yaml"
        path.write_text(json.dumps(e2e_config(cloud.url)), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        now[0] = NOW + 125
        exporter = Exporter(load_config(path), clock=lambda: now[0])
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
                text = (await http.get("/metrics")).text
            async with httpx.AsyncClient(base_url=cloud.url, headers={"X-Auth-Token": DEMO_TOKEN}) as direct:
                bare = await direct.get(f"/rfs/v1/{PROJECT}/stacks/web-prod/metadata")
                bad = await direct.get(f"/rfs/v1/{PROJECT}/stacks", headers={"Client-Request-Id": "not-a-uuid"})
        finally:
            await serving.stop()
    data = parsed(text)
    for task in tasks:
        raw = str(task.phases[-1].status)
        state = DOCUMENTED_STATES[task.cloud_service][raw]
        assert value(data, "huaweicloud_task_status", task_id=task.task_id, state=state.value) == 1, task.task_id
        assert value(data, "huaweicloud_task_info", task_id=task.task_id, raw_status=raw) == 1
    assert value(data, "huaweicloud_task_info", task_id=UNKNOWN_MPC, raw_status="not_found") == 1
    each = BUILTIN["iotda"].discover.query_each["task_type"]  # type: ignore[union-attr]
    assert sim.stats.list_values == {f"iotda.task_type={t}": 1 for t in each}
    assert (sim.stats.list_requests["iotda"], sim.stats.list_requests["mpc"]) == (12, 1)
    failed = {"task_id": "web-prod", "error_message": "huaweicloud_vpc.main: quota exceeded for resource vpc."}
    assert value(data, "huaweicloud_task_error_info", **failed) == 1
    assert (bare.status_code, bad.status_code) == (400, 400)
    assert "Client-Request-Id" in bare.json()["error_msg"] and "must be a UUID" in bad.json()["error_msg"]


async def test_the_fake_cloud_serves_the_calls_as_the_specs_make_them() -> None:
    """IoTDA's required task_type (one value, one of the spec's, listing its own tasks), ModelArts' page
    index in the POST body counted from 0, MPC's NO_TASK for an unknown ID and its times as numbers."""
    from exporter.simulator import DEMO_TOKEN, Simulator, default_scenario, start_simulator
    from tests.test_e2e_specs import NOW

    now = [NOW]
    sim = Simulator(default_scenario(), clock=lambda: now[0])
    now[0] = NOW + 125
    async with (
        await start_simulator(sim) as cloud,
        httpx.AsyncClient(base_url=cloud.url, headers={"X-Auth-Token": DEMO_TOKEN}) as http,
    ):
        iot = f"/v5/iot/{PROJECT}/batchtasks"
        missing, wrong = await http.get(iot), await http.get(iot, params={"task_type": "reboot"})
        firmware = (await http.get(iot, params={"task_type": "firmwareUpgrade"})).json()
        searches = f"/v2/{PROJECT}/training-job-searches"
        pages = [(await http.post(searches, json={"offset": n, "limit": 3})).json() for n in (0, 1)]
        unknown = (await http.get(f"/v1/{PROJECT}/transcodings", params={"task_id": UNKNOWN_MPC})).json()
        done = (await http.get(f"/v1/{PROJECT}/transcodings", params={"task_id": "22123973"})).json()
    assert (missing.status_code, wrong.status_code) == (400, 400)
    assert "task_type is required" in missing.json()["error_msg"]
    assert [item["task_id"] for item in firmware["batchtasks"]] == ["10da00000000000000000001"]
    assert [len(page["items"]) for page in pages] == [3, 1] and pages[0]["count"] == 4
    ids = [item["metadata"]["id"] for page in pages for item in page["items"]]
    assert len(set(ids)) == 4
    assert unknown == {"task_array": [{"status": "NO_TASK"}]}
    item = done["task_array"][0]
    assert item["status"] == "SUCCEEDED" and isinstance(item["create_time"], int) and isinstance(item["end_time"], int)


def test_iotda_progress_is_counted_from_its_sub_task_counters() -> None:
    """ShowBatchTask's task_progress: the document's counters (all 0) on a running task are no progress;
    done sub-tasks (succeeded, failed, stopped, removed) over the total otherwise, waiting and retrying ones
    not done; a succeeded task is at 1."""
    documented = document("iotda/ShowBatchTask.json")
    assert read_status(BUILTIN["iotda"], documented, UTC).progress == 1.0  # Success
    running = json.loads(json.dumps(documented))
    running["batchtask"]["status"] = "Processing"
    assert read_status(BUILTIN["iotda"], running, UTC).progress is None  # total 0
    running["batchtask"]["task_progress"] = {
        "total": 20, "processing": 4, "success": 8, "fail": 2, "waitting": 3, "fail_wait_retry": 1, "stopped": 1,
        "removed": 1,
    }  # fmt: skip
    assert read_status(BUILTIN["iotda"], running, UTC).progress == pytest.approx(12 / 20)
