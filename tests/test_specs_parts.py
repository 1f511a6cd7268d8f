"""The built-ins of issue 21 named by parts or fanned out (DataArts Factory job instances, CDM job runs,
CodeArts Pipeline runs, CodeArts Build runs) against their documents: every documented status value
mapped, the documents' own example bodies (tests/documents/<svc>, sources in each SOURCES.md) read by the
spec, by `--service.try` and by the client as the document says, the official SDK's response models built
from the same bodies, and end to end over real sockets against the fake cloud's default scenario."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from exporter.cli import main
from exporter.cloud.client import ApiClient
from exporter.cloud.errors import ApiError
from exporter.config import parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import Reason, State, TaskStatus
from exporter.services import BUILTIN, read_status
from exporter.services.interpret import list_items
from tests.conftest import PROJECT
from tests.test_sdk_oracle import without_nulls
from tests.test_specs_next import sdk_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOCS = Path(__file__).parent / "documents"
NEW = ("dataarts_factory", "cdm", "codearts_pipeline", "codearts_build")
P, R, S, F, X = State.PENDING, State.RUNNING, State.SUCCEEDED, State.FAILED, State.STOPPED
CODEARTS_PROJECT = "c0dea0000000000000000000000000aa"
WORKSPACE = "d1a7c0de000000000000000000000001"


def document(name: str) -> Any:
    return json.loads((DOCS / name).read_text(encoding="utf-8"))


# Every value each document lists, with the state the README's "Status mapping decisions" give it.
DOCUMENTED_STATES = {
    # ShowJobInstanceResponse.status (12 values) and the nodes' skip
    "dataarts_factory": {
        "waiting": P, "waiting-confirm": P, "freeze": P, "running": R, "running-exception": R, "pause": R,
        "success": S, "forceSuccess": S, "ignoreSuccess": S, "fail": F, "manual-stop": X, "skip-by-depend": X,
        "skip": X,
    },
    # Submission.status, less UNKNOWN (the exporter's own unknown)
    "cdm": {"BOOTING": P, "NEVER_EXECUTED": P, "RUNNING": R, "SUCCEEDED": S, "FAILED": F, "FAILURE_ON_SUBMIT": F},
    # ShowPipelineRunDetailResponse.status
    "codearts_pipeline": {
        "RUNNING": R, "PAUSED": R, "SUSPEND": R, "COMPLETED": S, "FAILED": F, "CANCELED": X, "IGNORED": X,
    },
    # job_running_status Starting, Running (Finished: ask `state`), state SUCCESS, FAILURE, timeout, ABORTED
    "codearts_build": {"Starting": P, "Running": R, "SUCCESS": S, "FAILURE": F, "timeout": F, "ABORTED": X},
}  # fmt: skip


def body_with(service: str, raw: str) -> dict[str, Any]:
    """A body holding `raw` where the spec reads it (a final CodeArts Build state under Finished)."""
    if service == "codearts_build":
        running = raw in ("Starting", "Running")
        return {"result": {"job_running_status": raw if running else "Finished", "state": None if running else raw}}
    pointer = BUILTIN[service].status.state.pointers[0]
    body: dict[str, Any] = {}
    node: Any = body
    for token, after in zip(pointer, (*pointer[1:], None), strict=True):
        if after is None:
            node[token] = raw
        elif after == "0":
            node[token] = [{}]
        else:
            node = node.setdefault(token, {}) if isinstance(node, dict) else node[0]
    if service == "cdm":
        body = {"submissions": [{"status": raw}]}
    return body


@pytest.mark.parametrize("service", NEW)
def test_every_documented_status_is_mapped_and_nothing_else(service: str) -> None:
    spec = BUILTIN[service]
    assert dict(spec.status.states) == DOCUMENTED_STATES[service]
    for raw, state in DOCUMENTED_STATES[service].items():
        assert read_status(spec, body_with(service, raw), UTC).state is state, raw
    assert read_status(BUILTIN["cdm"], {"submissions": [{"status": "UNKNOWN"}]}, UTC).state is State.UNKNOWN


def test_the_identities() -> None:
    assert BUILTIN["dataarts_factory"].identity.describe().startswith("job_name/instance_id (job_name: a name")
    assert BUILTIN["codearts_pipeline"].identity.split("a" * 32 + "/" + "b" * 32) == {
        "pipeline_id": "a" * 32,
        "pipeline_run_id": "b" * 32,
    }
    assert BUILTIN["codearts_build"].identity.problem("c0deb000000000000000000000000001/12") == ""
    cdm = BUILTIN["cdm"]
    assert cdm.identity.problem("jdbc2hive") == "" and cdm.identity.problem("jdbc 2 hive") != ""
    assert cdm.identity_for({}).describe().startswith("cluster_id/task_id (")  # fanned out over the clusters
    assert cdm.identity_for({"cluster_id": "bae65496-643e-47ca-84af-948672de7eeb"}) == cdm.identity


# --- the documents' own bodies ---------------------------------------------------------------------


def test_dataarts_documented_instance_and_lists() -> None:
    spec = BUILTIN["dataarts_factory"]
    status = read_status(spec, document("dataarts_factory/ShowJobInstance.otc.json"), UTC)
    assert (status.state, status.raw_status, status.job_name) == (F, "fail", "job_batch")
    assert (status.start, status.end, status.created) == (1551425327.0, 1551425387.0, 1551425326.54)
    assert status.sub_tasks is not None and status.sub_tasks[S] == 2
    assert spec.discover is not None
    for name, ids in (
        ("ListJobInstances.otc.json", ["job_batch/34765", "job_batch/34764"]),
        ("ListJobInstances.json", ["job_batch/34765689", "job_batch/347642345"]),
    ):
        listed = list_items(spec.discover, document(f"dataarts_factory/{name}"))
        assert [task_id for task_id, _ in listed] == ids
        assert all(spec.discover.valid(task_id) for task_id in ids)
        assert {read_status(spec, item, UTC).state for _, item in listed} == {S}


def test_cdm_documented_run_list_and_clusters() -> None:
    spec = BUILTIN["cdm"]
    status = read_status(spec, document("cdm/ShowJobStatus.json"), UTC)
    assert status == TaskStatus(
        state=P, raw_status="BOOTING", progress=0.01, start=1536905778.725, job_name="jdbc2hive"
    )
    stopped = "Submission has been stopped manually by user."  # the document's own error-summary example
    run = {"status": "FAILED", "progress": -1, "creation-date": 1536905778725, "last-update-date": 1536905878725}
    failed = {"submissions": [run | {"error-summary": stopped}]}
    status = read_status(spec, failed, UTC)
    assert (status.state, status.progress, status.end) == (F, None, 1536905878.725)  # -1: no progress, not 0 %
    assert status.error_message == stopped
    assert spec.discover is not None and spec.parents is not None
    assert [task_id for task_id, _ in list_items(spec.discover, document("cdm/ShowJobs.json"))] == ["es_css"]
    clusters = list_items(spec.parents.lister, document("cdm/ListClusters.json"))
    assert [task_id for task_id, _ in clusters] == ["bae65496-643e-47ca-84af-948672de7eeb"]


def test_codearts_documented_bodies() -> None:
    status = read_status(
        BUILTIN["codearts_pipeline"], document("codearts_pipeline/ShowPipelineRunDetail.model.json"), UTC
    )
    assert status == TaskStatus(
        state=F, raw_status="FAILED", start=1674907575.0, end=1674907589.0, job_type="Manual",
        job_name="nightly-tests", error_message="Unit tests: 3 of 412 failed.",
    )  # fmt: skip
    placeholder = read_status(BUILTIN["codearts_build"], document("codearts_build/ShowBuildInfoRecord.json"), UTC)
    assert (placeholder.state, placeholder.raw_status) == (State.UNKNOWN, "string")  # the documented placeholder
    built = read_status(BUILTIN["codearts_build"], document("codearts_build/ShowBuildInfoRecord.model.json"), UTC)
    assert (built.state, built.raw_status, built.start, built.end) == (S, "SUCCESS", 1608004535.0, 1608004630.0)
    running = document("codearts_build/ShowBuildInfoRecord.model.json")
    running["result"] |= {"job_running_status": "Running", "state": "SUCCESS"}  # not read until Finished
    assert read_status(BUILTIN["codearts_build"], running, UTC).state is R


# --- --service.try and the client, as each document says --------------------------------------------

CONFIG = f"""
accounts:
  - {{name: prod, auth: {{type: token, token: t}}}}
services:
  - {{cloud_service: dataarts_factory, account: prod, region: cn-north-4, project_id: {PROJECT},
      params: {{workspace: {WORKSPACE}}}, tasks: [job_batch/34765]}}
  - {{cloud_service: cdm, account: prod, region: cn-north-4, project_id: {PROJECT},
      params: {{cluster_id: bae65496-643e-47ca-84af-948672de7eeb}}, tasks: [jdbc2hive]}}
  - {{cloud_service: codearts_pipeline, account: prod, region: cn-north-4,
      params: {{codearts_project_id: {CODEARTS_PROJECT}}}, tasks: ['{"a" * 32}/{"b" * 32}']}}
  - {{cloud_service: codearts_build, account: prod, region: cn-north-4, tasks: ['{"c" * 32}/12']}}
  - {{cloud_service: dataarts_factory, account: prod, region: cn-north-1, project_id: {PROJECT},
      tasks: [job_batch/34765]}}
"""
TASK_IDS = ["job_batch/34765", "jdbc2hive", f"{'a' * 32}/{'b' * 32}", f"{'c' * 32}/12", "job_batch/34765"]


@pytest.mark.parametrize(
    ("service", "name", "lines"),
    [
        ("dataarts_factory", "dataarts_factory/ShowJobInstance.otc.json", ["state: failed", "raw_status: fail"]),
        ("cdm", "cdm/ShowJobStatus.json", ["state: pending", "raw_status: BOOTING", "job_name: jdbc2hive"]),
        ("codearts_pipeline", "codearts_pipeline/ShowPipelineRunDetail.model.json", ["state: failed"]),
        ("codearts_build", "codearts_build/ShowBuildInfoRecord.json", ["state: unknown", "raw_status: string"]),
        ("codearts_build", "codearts_build/ShowBuildInfoRecord.model.json", ["state: succeeded"]),
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


async def ask(index: int, status: int, body: Any) -> tuple[TaskStatus | ApiError, list[httpx.Request]]:
    config = parse_config(CONFIG, env={})
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(answer))
    try:
        from exporter.tracking.fanout import IdentityQuerier

        return await IdentityQuerier(client).query(config.targets[index], TASK_IDS[index], 5), seen
    finally:
        await client.aclose()


async def test_the_calls_carry_the_parts_the_header_and_the_codearts_project() -> None:
    result, seen = await ask(0, 200, document("dataarts_factory/ShowJobInstance.otc.json"))
    assert isinstance(result, TaskStatus) and result.state is F
    assert seen[0].url.path == f"/v1/{PROJECT}/jobs/job_batch/instances/34765"
    assert seen[0].headers["workspace"] == WORKSPACE
    _, without = await ask(4, 200, document("dataarts_factory/ShowJobInstance.otc.json"))
    assert "workspace" not in without[0].headers  # no workspace given: the default one
    _, pipeline = await ask(2, 200, document("codearts_pipeline/ShowPipelineRunDetail.model.json"))
    assert pipeline[0].url.path == f"/v5/{CODEARTS_PROJECT}/api/pipelines/{'a' * 32}/pipeline-runs/detail"
    assert pipeline[0].url.params["pipeline_run_id"] == "b" * 32
    _, build = await ask(3, 200, document("codearts_build/ShowBuildInfoRecord.model.json"))
    assert build[0].url.path == f"/v1/record/{'c' * 32}/12/build-info-record"
    _, cdm = await ask(1, 200, document("cdm/ShowJobStatus.json"))
    assert cdm[0].url.path == f"/v1.1/{PROJECT}/clusters/bae65496-643e-47ca-84af-948672de7eeb/cdm/job/jdbc2hive/status"


@pytest.mark.parametrize(
    ("index", "status", "body", "reason"),
    [
        pytest.param(0, 400, document("dataarts_factory/ShowJobInstance.otc.400.json"), Reason.NOT_FOUND,
                     id="dataarts-DLF.0137-in-a-400"),
        pytest.param(0, 400, document("dataarts_factory/ListJobInstances.400.json"), Reason.CLIENT_ERROR,
                     id="dataarts-job-missing"),
        pytest.param(1, 404, {"error_code": "CDM.0000", "error_msg": "not found"}, Reason.NOT_FOUND, id="cdm-404"),
        pytest.param(2, 404, {"error_code": "DEVPIPE.0001", "error_msg": "x"}, Reason.NOT_FOUND, id="pipeline-404"),
        pytest.param(3, 404, {"error_code": "CB.00060200", "error_msg": "x"}, Reason.NOT_FOUND, id="build-404"),
        pytest.param(3, 200, {"result": None, "error": "build record not found", "status": "fail"},
                     Reason.CLIENT_ERROR, id="build-error-in-200"),
    ],
)  # fmt: skip
async def test_documented_error_answers(index: int, status: int, body: Any, reason: Reason) -> None:
    result, _ = await ask(index, status, body)
    assert isinstance(result, ApiError) and result.reason is reason, result


# --- the official SDK's models from the documented bodies -------------------------------------------

ORACLE = [
    ("dgc", "v1", "DgcClient", "ShowJobInstanceResponse", "dataarts_factory/ShowJobInstance.otc.json"),
    ("dgc", "v1", "DgcClient", "ListJobInstancesResponse", "dataarts_factory/ListJobInstances.otc.json"),
    ("cdm", "v1", "CdmClient", "ShowJobStatusResponse", "cdm/ShowJobStatus.json"),
    ("cdm", "v1", "CdmClient", "ShowJobsResponse", "cdm/ShowJobs.json"),
    ("codeartspipeline", "v2", "CodeArtsPipelineClient", "ShowPipelineRunDetailResponse",
     "codearts_pipeline/ShowPipelineRunDetail.model.json"),
    ("codeartsbuild", "v3", "CodeArtsBuildClient", "ShowBuildInfoRecordResponse",
     "codearts_build/ShowBuildInfoRecord.model.json"),
]  # fmt: skip
# What the SDK models change of a document: the OTC list's executeTime 0.3 is an int there.
SDK_CHANGES = {"dataarts_factory/ListJobInstances.otc.json": ("executeTime", 0)}


@pytest.mark.parametrize(("package", "version", "client", "response", "name"), ORACLE, ids=[o[4] for o in ORACLE])
def test_the_sdk_model_keeps_every_documented_field(
    package: str, version: str, client: str, response: str, name: str
) -> None:
    from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization

    text = (DOCS / name).read_text(encoding="utf-8")
    model = sdk_model(package, version, client, response, text)
    parsed = without_nulls(sanitize_for_serialization(model))
    expected = without_nulls(json.loads(text))
    if name in SDK_CHANGES:
        key, value = SDK_CHANGES[name]
        for item in expected["instances"]:
            item[key] = value
    assert parsed == expected
    spec = BUILTIN[name.split("/")[0]]
    if "List" not in response and "ShowJobs" not in response:  # the spec reads the SDK's reading as the body
        assert read_status(spec, parsed, UTC) == read_status(spec, json.loads(text), UTC)


@pytest.mark.parametrize(
    ("package", "version", "client", "response", "name"),
    [
        ("dgc", "v1", "DgcClient", "ListJobInstancesResponse", "dataarts_factory/ListJobInstances.json"),
        ("codeartsbuild", "v3", "CodeArtsBuildClient", "ShowBuildInfoRecordResponse",
         "codearts_build/ShowBuildInfoRecord.json"),
    ],
)  # fmt: skip
def test_the_examples_the_sdk_itself_cannot_parse(
    package: str, version: str, client: str, response: str, name: str
) -> None:
    """The Huawei list example's jobId "868641," and the build record's placeholder number "string" are
    not ints: the SDK raises; the exporter does not read those fields (tests above)."""
    with pytest.raises(ValueError, match="invalid literal for int"):
        sdk_model(package, version, client, response, (DOCS / name).read_text(encoding="utf-8"))


def test_the_regions_and_hosts() -> None:
    assert (
        BUILTIN["dataarts_factory"].endpoint("huaweicloud", "cn-east-4") == "https://dayu.cn-east-4.myhuaweicloud.com"
    )
    assert BUILTIN["dataarts_factory"].endpoint("otc", "eu-de") == "https://dayu-dlf.eu-de.otc.t-systems.com"
    assert BUILTIN["cdm"].endpoint("otc", "eu-de") == "https://cdm.eu-de.otc.t-systems.com"
    assert BUILTIN["codearts_pipeline"].endpoint("huaweicloud", "tr-west-1") == (
        "https://pipeline-external.tr-west-1.myhuaweicloud.com"
    )
    assert "otc" not in BUILTIN["codearts_pipeline"].endpoints and "otc" not in BUILTIN["codearts_build"].endpoints
    assert not BUILTIN["codearts_pipeline"].needs_project_id and not BUILTIN["codearts_build"].needs_project_id


# --- end to end: the exporter against the fake cloud's default scenario -----------------------------

CLUSTER = "bae65496-643e-47ca-84af-948672de7eeb"  # the default scenario's CDM cluster


def e2e_config(url: str, builds: list[str]) -> dict[str, Any]:
    """DataArts (a workspace), CDM (fanned out over the clusters) and CodeArts Pipeline (a CodeArts
    project) discover; CodeArts Build, which has no list, tracks its runs by ID."""
    common = {"account": "t", "region": "cn-north-4", "project_id": PROJECT}
    return {
        "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
        "services": [
            service | common | {"endpoint": f"{url}/{service['cloud_service']}"}
            for service in (
                {"cloud_service": "dataarts_factory", "params": {"workspace": WORKSPACE}, "discover": True},
                {"cloud_service": "cdm", "discover": True},
                {"cloud_service": "codearts_pipeline", "params": {"codearts_project_id": CODEARTS_PROJECT},
                 "discover": True},
                {"cloud_service": "codearts_build", "tasks": builds},
            )
        ],
    }  # fmt: skip


async def test_the_new_services_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over real HTTP: DataArts instances found by their two-part IDs in the list, CDM runs in every
    cluster of the parent list, Pipeline runs by a POST list paged in its body, Build runs by ID; after the
    scenario's last transition every task shows its last documented status."""
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
        builds = [t.task_id for t in tasks if t.cloud_service == "codearts_build"]
        path.write_text(json.dumps(e2e_config(cloud.url, builds)), encoding="utf-8")
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
        task_id = f"{CLUSTER}/{task.task_id}" if task.cloud_service == "cdm" else task.task_id
        assert value(data, "huaweicloud_task_status", task_id=task_id, state=state.value) == 1, task_id
        assert value(data, "huaweicloud_task_info", task_id=task_id, raw_status=raw) == 1
    # The parts as labels: the CDM cluster with its name, DataArts' job name and instance ID.
    assert value(data, "huaweicloud_task_id_part_info", task_id=f"{CLUSTER}/mysql2obs", part="cluster_id",
                 part_value=CLUSTER, part_name="cdm-c018") == 1  # fmt: skip
    assert value(data, "huaweicloud_task_id_part_info", task_id="job_batch/34766", part="instance_id",
                 part_value="34766") == 1  # fmt: skip
    failed = {"task_id": "job_batch/34766", "error_message": 'DWS SQL node error: relation "sales" does not exist.'}
    assert value(data, "huaweicloud_task_error_info", **failed) == 1
    assert sim.stats.list_requests["cdm.parents"] >= 1
    assert all(sim.stats.list_requests[s] >= 1 for s in ("dataarts_factory", "cdm", "codearts_pipeline"))
