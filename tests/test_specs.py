"""Service specs: the reader's messages, the interpreter's formats, the built-ins against the official
SDK's region files, errors the documents put in a 200, custom services and --config.check."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from prometheus_client import CollectorRegistry

from exporter.cli import main
from exporter.cloud.client import ApiClient
from exporter.cloud.errors import ApiError
from exporter.config import Config, ConfigError, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import Reason, State, TaskStatus
from exporter.schema import Ctx, load_document
from exporter.services import BUILTIN, ServiceSpec, read_spec, read_status
from tests.conftest import PROJECT

TASK = "4010a32d535527910153552b492c0002"

TURBO = """
name: nas_jobs
endpoints: {huaweicloud: "https://nas.{region}.myhuaweicloud.com"}
status:
  path: /v1/{project_id}/nas/jobs/{task_id}
  state: /status
  states: {waiting: pending, running: running, success: succeeded, failed: failed}
  start: {at: /begin_time, format: "%Y-%m-%d %H:%M:%S"}
  end: {at: /end_time, format: "%Y-%m-%d %H:%M:%S", zone: "+08:00"}
  progress: {at: /progress, scale: ratio}
  job_type: /job_type
  error: {code: /error_code, message: [/fail_reason, /errMsg]}
  not_found: {http: [404, 410]}
"""


def spec_of(text: str, file: str = "spec.yaml") -> ServiceSpec:
    return read_spec(Ctx(file, "", None, {}), load_document(text, file=file))


# --- the reader ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            ("  state: /status", "  stat: /status"),
            r"spec.yaml:\d+: status.stat: unknown key 'stat'; did you mean 'state'\?",
            id="typo",
        ),
        pytest.param(
            ("  state: /status", "  state: status"),
            r"status.state: expected a JSON pointer such as /status",
            id="bad-pointer",
        ),
        pytest.param(
            ('format: "%Y-%m-%d %H:%M:%S"}', "format: rfc822}"),
            r"status.start.format: expected one of iso, epoch_s, epoch_ms, go, day-month-year or a strptime",
            id="format",
        ),
        pytest.param(
            ("success: succeeded", "success: done"),
            r"status.states.success: expected one of pending, running",
            id="state",
        ),
        pytest.param(("{task_id}", "{job}"), r"status.path: unknown placeholder \{job\}", id="placeholder"),
        pytest.param(
            ("scale: ratio", "scale: permille"), r"status.progress.scale: expected one of percent, ratio", id="scale"
        ),
        pytest.param(
            ("[404, 410]", "[404, 99]"), r"status.not_found.http\[1\]: expected an HTTP status code", id="http"
        ),
        pytest.param(("name: nas_jobs", "name: SFS Turbo"), r"name: expected a lower-case name", id="name"),
        pytest.param(('"+08:00"', "Mars/Olympus"), r"status.end.zone: expected UTC, an offset", id="zone"),
    ],
)
def test_spec_errors_name_the_file_line_and_key(change: tuple[str, str], message: str) -> None:
    text = TURBO.replace(*change)
    assert text != TURBO
    with pytest.raises(ConfigError, match=message):
        spec_of(text)


def test_a_spec_reads_like_its_yaml() -> None:
    spec = spec_of(TURBO)
    assert spec.needs_project_id
    assert spec.status_path(PROJECT, TASK) == f"/v1/{PROJECT}/nas/jobs/{TASK}"
    assert spec.endpoint("huaweicloud", "cn-north-4") == "https://nas.cn-north-4.myhuaweicloud.com"
    assert spec.endpoint("otc", "eu-de") is None


def test_interpreter_formats() -> None:
    spec = spec_of(TURBO)
    body = {
        "status": "failed",
        "begin_time": "2016-01-02 15:04:05",
        "end_time": "2016-01-02 23:04:05",
        "progress": 0.4,
        "job_type": "expand",
        "fail_reason": "",
        "errMsg": "no capacity",
        "error_code": "SFS.TURBO.0001",
    }
    status = read_status(spec, body, UTC)
    start = datetime(2016, 1, 2, 15, 4, 5, tzinfo=UTC).timestamp()
    assert (status.state, status.start, status.end) == (State.FAILED, start, start)  # end read at +08:00
    assert (status.progress, status.job_type) == (0.4, "expand")
    assert (status.error_code, status.error_message) == ("SFS.TURBO.0001", "no capacity")  # first non-empty
    # Zone-less times without a zone in the spec are read in the target's zone.
    eight = timezone(timedelta(hours=8))
    assert read_status(spec, body, eight).start == start - 8 * 3600


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        pytest.param("iso", "2021-07-12T09:22:04+0800", 1626052924.0, id="iso-plus0800"),
        pytest.param("iso", "2016-03-08T07:40:13.219Z", 1457422813.219, id="iso-z"),
        pytest.param("epoch_ms", 1626052924000, 1626052924.0, id="ms-number"),
        pytest.param("epoch_ms", "1626052924000", 1626052924.0, id="ms-string"),
        pytest.param("epoch_s", "1626052924", 1626052924.0, id="s-string"),
        pytest.param("epoch_s", "soon", None, id="s-junk"),
        pytest.param("%Y-%m-%d %H:%M:%S", "2021-07-12 01:22:04", 1626052924.0, id="pattern"),
        pytest.param("%Y-%m-%d %H:%M:%S", 1626052924, None, id="pattern-number"),
    ],
)
def test_time_formats(fmt: str, value: Any, expected: float | None) -> None:
    spec = spec_of(
        TURBO.replace('start: {at: /begin_time, format: "%Y-%m-%d %H:%M:%S"}', f'start: {{at: /t, format: "{fmt}"}}')
    )
    assert read_status(spec, {"status": "running", "t": value}, UTC).start == expected


def test_percent_progress_and_sub_task_progress() -> None:
    dws, evs = BUILTIN["dws"], BUILTIN["evs"]
    assert read_status(dws, {"status": "RUNNING", "progress": "60%"}, UTC).progress == 0.6
    batch = {"status": "RUNNING", "entities": {"sub_jobs": [{"status": "SUCCESS"}, {"status": "RUNNING"}]}}
    status = read_status(evs, batch, UTC)
    assert status.progress == 0.5
    assert status.sub_tasks is not None and status.sub_tasks[State.SUCCEEDED] == 1


# --- regions, from the official SDK's region files ---------------------------------------------

# Regions a built-in lists beyond the SDK's file, each from a document named in its spec.
DOCUMENTED_EXTRA = {"codearts_check": {"cn-southwest-2", "eu-west-101"}}
# Built-ins whose SDK package is named after another product name.
SDK_NAMES = {
    "gaussdb": "gaussdbforopengauss",
    "taurusdb": "gaussdb",
    "geminidb": "gaussdbfornosql",
    "oms_group": "oms",
    "dataarts_factory": "dgc",
    "cce_upgrade": "cce",
    "dms_kafka": "kafka",
    "dms_rabbitmq": "rabbitmq",
    "dms_rocketmq": "rocketmq",
}


def sdk_regions(service: str) -> dict[str, str]:
    """region -> first endpoint, from the official SDK's region file of `service` (huaweicloudsdk<name>,
    found by name: EvsRegion in huaweicloudsdkevs/v2/region/evs_region.py)."""
    from huaweicloudsdkcore.region.region import Region

    name = SDK_NAMES.get(service, service.replace("_", ""))
    package = "huaweicloudsdk" + name
    try:
        root = importlib.import_module(package)
    except ImportError:
        pytest.fail(f"{service} lists regions: add {package} to the test extras so they can be checked")
    for path in sorted(Path(root.__file__ or "").parent.glob("v*/region/*_region.py")):
        module = importlib.import_module(
            ".".join((package, *path.relative_to(Path(root.__file__ or "").parent).with_suffix("").parts))
        )
        for value in vars(module).values():
            if isinstance(value, type) and value.__name__.lower() == name + "region":
                return {r.id: r.endpoints[0] for r in vars(value).values() if isinstance(r, Region)}
    pytest.fail(f"no region class for {service} in {package}")


@pytest.mark.parametrize("service", sorted(name for name, spec in BUILTIN.items() if spec.regions.get("huaweicloud")))
def test_builtin_specs_agree_with_the_sdk_region_files(service: str) -> None:
    sdk = sdk_regions(service)
    spec = BUILTIN[service]
    assert sdk, service
    for region, url in sdk.items():
        assert spec.endpoint("huaweicloud", region) == url, region
    assert set(spec.regions["huaweicloud"]) - set(sdk) == DOCUMENTED_EXTRA.get(service, set())


def test_otc_regions() -> None:
    assert BUILTIN["dws"].regions["otc"] == ("eu-de",)
    assert BUILTIN["evs"].regions["otc"] == ("eu-de", "eu-nl")
    assert "otc" not in BUILTIN["cph"].endpoints and "otc" not in BUILTIN["codearts_check"].endpoints
    assert BUILTIN["dws"].endpoint("otc", "eu-de") == "https://dws.eu-de.otc.t-systems.com"


CHECKED = f"""
accounts: [{{name: prod, iam_endpoint: "http://127.0.0.1:9", auth: {{type: token, token: t}}}}]
services:
  - {{cloud_service: dws, account: prod, region: cn-nroth-4, project_id: {PROJECT}, tasks: [{TASK}]}}
  - {{cloud_service: dws, account: prod, region: eu-west-101, project_id: {PROJECT}, tasks: [{TASK}]}}
"""


def test_config_check_prints_endpoints_and_errs_on_an_unknown_region(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CHECKED, encoding="utf-8")
    # No spec lists it and IAM (nothing listens on port 9) cannot confirm it: an error (issue 21, item 3).
    assert main(["--config.file", str(path), "--config.check"]) == 1
    out, err = capsys.readouterr()
    assert "cn-nroth-4: did you mean cn-north-4? no service spec lists this region" in err
    assert f"{path}:4: services[0].region" in err
    assert "https://dws.cn-nroth-4.myhuaweicloud.com" in out
    assert "https://dws.eu-west-101.myhuaweicloud.eu" in out  # the SDK's host for Dublin
    assert "eu-west-101" not in err


# --- errors in a 200 -------------------------------------------------------------------------------


def codearts_config() -> Config:
    text = f"""
accounts: [{{name: prod, auth: {{type: token, token: t}}}}]
services:
  - {{cloud_service: codearts_check, account: prod, region: cn-north-4, tasks: [{TASK}]}}
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [{TASK}]}}
"""
    return parse_config(text, env={})


async def ask(config: Config, index: int, status: int, body: Any) -> TaskStatus | ApiError:
    client = ApiClient(
        config,
        SelfMetrics(CollectorRegistry()),
        transport=lambda _a: httpx.MockTransport(lambda _r: httpx.Response(status, json=body)),
    )
    try:
        return await client.query(config.targets[index], TASK, 5)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("index", "body", "reason"),
    [
        pytest.param(
            0,
            {"error_code": "CC.00050013", "error_msg": "project not exist"},
            Reason.NOT_FOUND,
            id="codearts-not-found",
        ),
        pytest.param(
            0, {"error_code": "CC.00050012", "error_msg": "retry later"}, Reason.SERVER_ERROR, id="codearts-busy"
        ),
        pytest.param(
            0, {"error_code": "CC.00050010", "error_msg": "no permission"}, Reason.AUTH, id="codearts-permission"
        ),
        pytest.param(0, {"error_code": "CC.00059999", "error_msg": "new"}, Reason.CLIENT_ERROR, id="codearts-other"),
        pytest.param(1, {"error": {"code": "EVS.0001", "message": "busy"}}, Reason.CLIENT_ERROR, id="evs-error-body"),
    ],
)
async def test_errors_in_a_200_are_errors_with_their_code(index: int, body: Any, reason: Reason) -> None:
    with structlog.testing.capture_logs() as logs:
        result = await ask(codearts_config(), index, 200, body)
    assert isinstance(result, ApiError)
    assert result.reason is reason
    assert result.status == 200 and result.code == (body.get("error_code") or body["error"]["code"])
    (event,) = [e for e in logs if e["event"] == "the cloud answered an error with HTTP 200"]
    assert result.code in event["error"]
    assert not result.credentials_refused  # a 200 never pauses the account


async def test_a_200_without_status_or_error_is_still_a_bad_response() -> None:
    result = await ask(codearts_config(), 1, 200, {"job_id": TASK})
    assert isinstance(result, ApiError) and result.reason is Reason.BAD_RESPONSE


# --- custom services -------------------------------------------------------------------------------

CUSTOM = f"""
accounts: [{{name: prod, auth: {{type: token, token: t}}}}]
custom_services:
  - name: nas_jobs
    endpoints: {{huaweicloud: "https://nas.{{region}}.myhuaweicloud.com"}}
    status:
      path: /v1/{{project_id}}/nas/jobs/{{task_id}}
      state: /status
      states: {{running: running, success: succeeded}}
services:
  - {{cloud_service: nas_jobs, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [{TASK}]}}
"""


async def test_a_custom_service_is_queried_like_a_builtin() -> None:
    config = parse_config(CUSTOM, env={})
    seen: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"status": "success"})

    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    try:
        result = await client.query(config.targets[0], TASK, 5)
    finally:
        await client.aclose()
    assert isinstance(result, TaskStatus) and result.state is State.SUCCEEDED and result.progress == 1.0
    assert seen == [f"https://nas.cn-north-4.myhuaweicloud.com/v1/{PROJECT}/nas/jobs/{TASK}"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            ("name: nas_jobs", "name: evs"),
            r"c.yaml:4: custom_services\[0\]: cloud service 'evs' is a built-in service",
            id="builtin-name",
        ),
        pytest.param(
            ("state: /status", "state: /status\n      colour: blue"),
            r"c.yaml:\d+: custom_services\[0\].status.colour: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            ("cloud_service: nas_jobs", "cloud_service: nas_jobst"),
            r"services\[0\].cloud_service: expected one of .*nas_jobs",
            id="unknown-service",
        ),
    ],
)
def test_custom_service_errors(change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(CUSTOM.replace(*change), env={}, file="c.yaml")


# --- discovery: marker paging and a time window ----------------------------------------------------

LISTED = f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: t}}}}]
custom_services:
  - name: lb_jobs
    status:
      path: /v3/{{project_id}}/elb/jobs/{{task_id}}
      state: /job/status
      states: {{RUNNING: running, SUCCESS: succeeded, FAIL: failed}}
    discover:
      path: /v3/{{project_id}}/elb/jobs
      items: /jobs
      id: /job_id
      carries_status: true
      paging: {{style: marker, param: marker, limit: 2, next: /page_info/next_marker}}
      window: {{from: begin_ms, to: end_ms, format: epoch_ms, lookback: 1h}}
services:
  - {{cloud_service: lb_jobs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://lb.test",
      discover: true}}
"""


async def test_marker_paging_and_a_time_window_find_every_job() -> None:
    from exporter.tracking import Tracker

    jobs = [f"{n:032x}" for n in range(1, 6)]
    seen: list[httpx.Request] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        after = request.url.params.get("marker")
        start = jobs.index(after) + 1 if after else 0
        page = jobs[start : start + int(request.url.params["limit"])]
        # The next marker on every page but the last (CTS's meta_data.marker is null there).
        info = {"next_marker": page[-1]} if start + len(page) < len(jobs) else {}
        return httpx.Response(
            200, json={"jobs": [{"job_id": j, "job": {"status": "RUNNING"}} for j in page], "page_info": info}
        )

    config = parse_config(LISTED, env={})
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    tracker = Tracker(config, client, clock=lambda: NOW_S)
    await tracker.refresh(5)
    await client.aclose()
    (target,) = tracker.targets
    assert sorted(target.tasks) == jobs
    assert all(r.listed and r.status is not None and r.status.state is State.RUNNING for r in target.tasks.values())
    assert [r.url.params.get("marker") for r in seen] == [None, jobs[1], jobs[3]]
    assert {(r.url.params["begin_ms"], r.url.params["end_ms"]) for r in seen} == {
        (str(int((NOW_S - 3600) * 1000)), str(int(NOW_S * 1000)))
    }


NOW_S = 1_700_000_000.0


def test_service_try_shows_what_a_spec_reads_from_a_sample_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CUSTOM, encoding="utf-8")
    good, bad, junk, error = (tmp_path / n for n in ("good.json", "bad.json", "junk.json", "error.json"))
    good.write_text('{"status": "running"}')
    bad.write_text('{"status": ["running"]}')
    junk.write_text("{not json")
    error.write_text('{"error_code": "CC.00050013", "error_msg": "project not exist"}')

    def run(*pairs: str) -> tuple[int, str, str]:
        args = ["--config.file", str(config), "--config.check"]
        for service, body in zip(pairs[::2], pairs[1::2], strict=True):
            args += ["--service.try", service, body]
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("nas_jobs", str(good))
    assert code == 0 and "  state: running" in out and "  raw_status: running" in out
    code, _, err = run("nas_jobs", str(bad))
    assert code == 1 and "a bad response: nas_jobs: the status at /status is a list" in err
    code, _, err = run("nas_jobs", str(junk))
    assert code == 1 and "is not JSON" in err
    code, _, err = run("nosuch", str(good))
    assert code == 1 and "no service 'nosuch'; known: " in err
    code, out, _ = run("codearts_check", str(error))
    assert code == 0 and "an error answer: CC.00050013: project not exist" in out


# --- the built-ins beyond the seeds, with their documented bodies ---------------------------------


def test_ecs_documented_job_and_pending_payment() -> None:
    ecs = BUILTIN["ecs"]
    body = {
        "status": "SUCCESS",
        "entities": {
            "server_id": "8f4a7b9e-3c2d-4e1f-9a0b-1c2d3e4f5a6b",
            "sub_jobs_total": 1,
            "sub_jobs": [
                {"status": "SUCCESS", "entities": {"server_id": "8f4a7b9e"}, "job_type": "createSingleServer"}
            ],
        },
        "job_id": "ff80808288d41e1b018990260955686a",
        "job_type": "createServer",
        "begin_time": "2016-04-25T20:04:34.604Z",
        "end_time": "2016-04-25T20:08:41.593Z",
        "error_code": None,
        "fail_reason": None,
    }
    status = read_status(ecs, body, UTC)
    assert (status.state, status.job_type, status.resource_id) == (
        State.SUCCEEDED,
        "createServer",
        "8f4a7b9e-3c2d-4e1f-9a0b-1c2d3e4f5a6b",
    )
    assert status.end is not None and status.start is not None and round(status.end - status.start, 3) == 246.989
    assert status.sub_tasks is not None and status.sub_tasks[State.SUCCEEDED] == 1
    assert read_status(ecs, {**body, "status": "PENDING_PAYMENT"}, UTC).state is State.PENDING
    assert read_status(BUILTIN["bms"], {**body, "status": "PENDING_PAYMENT"}, UTC).state is State.PENDING


async def test_ecs_query_error_in_a_200_is_that_error() -> None:
    config = parse_config(
        f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: t}}}}]
services: [{{cloud_service: ecs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://ecs.test",
  tasks: [{TASK}]}}]
""",
        env={},
    )
    result = await ask(config, 0, 200, {"code": "Ecs.0614", "message": "The job does not exist."})
    assert isinstance(result, ApiError) and result.reason is Reason.CLIENT_ERROR and result.code == "Ecs.0614"


def test_sfs_turbo_documented_job() -> None:
    body = {
        "status": "failed",
        "job_id": "1c9f4d8e-7a6b-4c5d-8e9f-0a1b2c3d4e5f",
        "job_type": "expand_share",
        "begin_time": "2016-01-02 15:04:05",
        "end_time": "2016-01-02 15:14:05",
        "error_code": "SFS.TURBO.0001",
        "fail_reason": "Insufficient capacity.",
        "sub_jobs": [{"status": "success"}, {"status": "failed"}],
    }
    status = read_status(BUILTIN["sfs_turbo"], body, timezone(timedelta(hours=8)))  # the spec says UTC
    assert status.state is State.FAILED
    assert status.start == datetime(2016, 1, 2, 15, 4, 5, tzinfo=UTC).timestamp() and status.end == status.start + 600
    assert (status.error_code, status.error_message, status.progress) == (
        "SFS.TURBO.0001",
        "Insufficient capacity.",
        None,  # its sub-jobs are all final, but the job failed: progress 1 is a succeeded task's
    )
    assert [read_status(BUILTIN["sfs_turbo"], {"status": s}, UTC).state for s in ("waiting", "running", "success")] == [
        State.PENDING,
        State.RUNNING,
        State.SUCCEEDED,
    ]


def test_sfs_turbo_errors_come_as_errcode_and_errmsg() -> None:
    from exporter.cloud.errors import parse_error_body

    assert parse_error_body(b'{"errCode": "SFS.TURBO.0002", "errMsg": "job not found"}')[:2] == (
        "SFS.TURBO.0002",
        "job not found",
    )


def test_dcs_documented_job_with_epoch_millisecond_strings() -> None:
    body = {
        "job_id": "ff8080818802e0c601880f7c5b2d1a6e",
        "job_type": "masterStandbySwapJob",
        "status": "SUCCESS",
        "begin_time": "1684191545379",
        "end_time": "1684191548765",
        "fail_reason": None,
    }
    status = read_status(BUILTIN["dcs"], body, UTC)
    assert (status.state, status.start, status.end, status.job_type) == (
        State.SUCCEEDED,
        1684191545.379,
        1684191548.765,
        "masterStandbySwapJob",
    )
    failed = read_status(BUILTIN["dcs"], {**body, "status": "FAIL", "fail_reason": "swap failed"}, UTC)
    assert (failed.state, failed.error_message) == (State.FAILED, "swap failed")


async def test_rds_job_is_asked_by_query_and_read_with_its_offset_times() -> None:
    config = parse_config(
        f"""
accounts: [{{name: prod, auth: {{type: token, token: t}}}}]
services: [{{cloud_service: rds, account: prod, region: eu-west-101, project_id: {PROJECT}, tasks: [{TASK}]}}]
""",
        env={},
    )
    seen: list[str] = []
    body = {
        "job": {
            "id": TASK,
            "name": "CreateMysqlSingleHAInstance",
            "status": "Running",
            "created": "2021-07-12T09:22:04+0800",
            "ended": "",
            "process": "60%",
            "instance": {"id": "dsfae23fsfdsae3435in01", "name": "rds-demo"},
            "fail_reason": None,
        }
    }

    def cloud(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=body)

    api = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    status = await api.query(config.targets[0], TASK, 5)
    await api.aclose()
    assert seen == [f"https://rds.eu-west-101.myhuaweicloud.eu/v3/{PROJECT}/jobs?id={TASK}"]
    assert isinstance(status, TaskStatus)
    assert (status.state, status.progress, status.job_name, status.resource_id) == (
        State.RUNNING, 0.6, "CreateMysqlSingleHAInstance", "dsfae23fsfdsae3435in01",
    )  # fmt: skip
    assert status.start == datetime(2021, 7, 12, 1, 22, 4, tzinfo=UTC).timestamp() and status.end is None
    done = read_status(BUILTIN["rds"], {"job": {**body["job"], "status": "Completed", "process": ""}}, UTC)
    assert (done.state, done.progress) == (State.SUCCEEDED, 1.0)


def test_cfw_documented_job_and_an_error_in_a_200() -> None:
    cfw = BUILTIN["cfw"]
    body = {
        "data": {
            "id": TASK,
            "status": "Success",
            "begin_time": "2024-05-08T09:45:12+0800",
            "end_time": "2024-05-08T09:46:02+0800",
        }
    }
    status = read_status(cfw, body, UTC)
    assert (status.state, status.end is not None and status.start is not None and status.end - status.start) == (
        State.SUCCEEDED,
        50,
    )
    from exporter.services import body_error

    assert body_error(
        cfw.status, cfw.status.error_in_200, {"error_code": "CFW.00200005", "error_msg": "no such job"}
    ) == (
        "CFW.00200005",
        "no such job",
    )


# --- the EVS-shaped family, IMS, and the database task family: documented bodies ---------------------

IMS_RUNNING = {
    "status": "RUNNING",
    "job_id": TASK,
    "job_type": "imsCreateImageByInstance",
    "begin_time": "2024-03-01T08:00:00.000Z",
    "end_time": "",
    "error_code": None,
    "fail_reason": None,
    "entities": {
        "image_id": "e9e91bff-14b6-4a0b-8377-4ed0813e3360",
        "current_task": "ImportImageTask:ObtainImageInfoTask",
        "process_percent": 0.24,
        "sub_jobs_result": [{"status": "SUCCESS", "job_id": "a" * 32}, {"status": "RUNNING", "job_id": "b" * 32}],
    },
}


def test_ims_reads_the_documented_progress_as_a_ratio() -> None:
    status = read_status(BUILTIN["ims"], IMS_RUNNING, UTC)
    assert (status.state, status.progress, status.resource_id, status.job_type) == (
        State.RUNNING, 0.24, "e9e91bff-14b6-4a0b-8377-4ed0813e3360", "imsCreateImageByInstance",
    )  # fmt: skip
    assert status.sub_tasks is not None and status.sub_tasks[State.SUCCEEDED] == 1
    assert status.start == datetime(2024, 3, 1, 8, tzinfo=UTC).timestamp()


def test_ims_progress_above_1_contradicts_the_assumed_scale_logged_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.services import interpret

    monkeypatch.setattr(interpret, "_CONTRADICTED", set())  # as in a fresh process

    def at(value: float) -> float | None:
        body = {**IMS_RUNNING, "entities": {**IMS_RUNNING["entities"], "process_percent": value}}  # type: ignore[dict-item]
        return read_status(BUILTIN["ims"], body, UTC).progress

    with structlog.testing.capture_logs() as logs:
        readings = [at(0.5), at(45.0), at(0.8), at(46.0)]
    # Once the service has shown a percentage, every later value is one: 0.8 is 0.8 %, not 80 %.
    assert readings == [0.5, 0.45, 0.008, 0.46]
    warned = [e for e in logs if "scale the spec assumed" in e["event"]]
    assert [(e["cloud_service"], e["value"]) for e in warned] == [("ims", 45.0)]


@pytest.mark.parametrize("service", ["eip", "sdrs"])
def test_evs_shaped_jobs_with_sub_jobs(service: str) -> None:
    body = {
        "status": "FAIL",
        "job_id": TASK,
        "job_type": "batchCreatePublicips" if service == "eip" else "createProtectionGroupNoCG",
        "begin_time": "2022-12-05T08:10:19.951Z",
        "end_time": "2022-12-05T08:11:19.951Z",
        "error_code": "EIP.0001" if service == "eip" else "SDRS.1001",
        "fail_reason": "quota exceeded",
        "entities": {"sub_jobs": [{"status": "SUCCESS"}, {"status": "FAIL"}]},
    }
    status = read_status(BUILTIN[service], body, UTC)
    assert (status.state, status.error_code, status.error_message, status.end - (status.start or 0)) == (  # type: ignore[operator]
        State.FAILED, body["error_code"], "quota exceeded", 60.0,
    )  # fmt: skip
    assert status.sub_tasks is not None and (status.sub_tasks[State.SUCCEEDED], status.sub_tasks[State.FAILED]) == (
        1,
        1,
    )


@pytest.mark.parametrize(
    ("service", "job"),
    [
        ("dds", {"progress": "60%", "created": "2023-01-05T10:00:00+0800", "ended": ""}),
        ("gaussdb", {"progress": "60%", "created": "2023-01-05T10:00:00+0800", "ended": ""}),
        ("taurusdb", {"process": "60%", "created": "2023-01-05T03:00:00+0100", "ended": ""}),
        ("ddm", {"process": "60%", "created_time": "2023-01-05T02:00:00+0000", "end_time": ""}),
    ],
)
def test_database_jobs_offset_times_and_percent_strings(service: str, job: dict[str, Any]) -> None:
    body = {"job": {"id": TASK, "name": "CreateInstance", "status": "Running", "instance": {"id": "i-1"}, **job}}
    status = read_status(BUILTIN[service], body, UTC)
    assert (status.state, status.progress, status.job_name, status.resource_id) == (
        State.RUNNING, 0.6, "CreateInstance", "i-1",
    )  # fmt: skip
    assert status.start == datetime(2023, 1, 5, 2, tzinfo=UTC).timestamp() and status.end is None
    failed = {"job": {**body["job"], "status": "Failed", "fail_reason": "disk full"}}
    assert read_status(BUILTIN[service], failed, UTC).state is State.FAILED


def test_taurusdb_pending_and_the_empty_times_of_an_instance_being_created() -> None:
    body = {
        "job": {"id": TASK, "name": "CreateGaussDBforMySQLInstance", "status": "Pending", "created": "", "ended": ""}
    }
    status = read_status(BUILTIN["taurusdb"], body, UTC)
    assert (status.state, status.start, status.end) == (State.PENDING, None, None)


async def test_geminidb_reads_the_first_of_the_filtered_list_and_an_empty_one_is_not_found() -> None:
    config = parse_config(f"""
accounts: [{{name: prod, auth: {{type: token, token: t}}}}]
services: [{{cloud_service: geminidb, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [{TASK}]}}]
""")
    job = {"id": TASK, "name": "CreateInstance", "status": "Completed", "progress": "", "instance": {"id": "g-1"}}
    job |= {"start_time": "2023-01-05T10:00:00+0800", "end_time": "2023-01-05T10:05:00+0800"}
    answers = [{"jobs": [job], "total_count": 1}, {"jobs": [], "total_count": 0}]
    seen: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=answers.pop(0))

    api = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    found = await api.query(config.targets[0], TASK, 5)
    gone = await api.query(config.targets[0], TASK, 5)
    await api.aclose()
    assert seen[0] == f"https://gaussdb-nosql.cn-north-4.myhuaweicloud.com/v3/{PROJECT}/jobs?id={TASK}"
    assert isinstance(found, TaskStatus) and (found.state, found.resource_id, found.end - (found.start or 0)) == (  # type: ignore[operator]
        State.SUCCEEDED, "g-1", 300.0,
    )  # fmt: skip
    assert isinstance(gone, ApiError) and gone.reason is Reason.NOT_FOUND
    assert "the list at /jobs is empty" in gone.message


# --- CCE, CBR, ELB ---------------------------------------------------------------------------------

# cce_02_0247's example (its trailing comma after subJobs removed).
CCE_EXAMPLE = {
    "kind": "Job",
    "apiVersion": "v3",
    "metadata": {
        "uid": "354331b2c-229a-11e8-9c75-0255ac100ceb",
        "creationTimestamp": "2020-02-02 08:12:40.672772389 +0000 UTC",
        "updateTimestamp": "2020-02-02 08:21:50.478108569 +0000 UTC",
    },
    "spec": {
        "type": "CreateCluster",
        "clusterUID": "4d1ecb2c-229a-11e8-9c75-0255ac100ceb",
        "resourceID": "6f4dcb2c-229a-11e8-9c75-0255ac100ceb",
        "resourceName": "cluster-name",
        "extendParam": {"serverID": "bc467e3a-2338-11e8-825b-0255ac100c13"},
        "subJobs": [
            {"kind": "Job", "spec": {"type": "InstallMaster"}, "status": {"phase": "Success"}},
            {"kind": "Job", "spec": {"type": "CreatePSMCert"}, "status": {"phase": "Success"}},
        ],
    },
    "status": {"phase": "Running", "reason": ""},
}


def test_cce_documented_job_go_times_and_an_end_only_once_final() -> None:
    cce = BUILTIN["cce"]
    status = read_status(cce, CCE_EXAMPLE, UTC)
    assert (status.state, status.job_type, status.job_name, status.resource_id) == (
        State.RUNNING, "CreateCluster", "cluster-name", "6f4dcb2c-229a-11e8-9c75-0255ac100ceb",
    )  # fmt: skip
    assert status.start == datetime(2020, 2, 2, 8, 12, 40, 672772, tzinfo=UTC).timestamp()
    assert status.end is None  # updateTimestamp is no end while the job runs
    # Both sub-jobs succeeded, the job still runs: no progress (1 is a succeeded job's; issue 21).
    assert status.sub_tasks is not None and status.sub_tasks[State.SUCCEEDED] == 2 and status.progress is None
    failed = {**CCE_EXAMPLE, "status": {"phase": "Failed", "reason": "install master failed"}}
    done = read_status(cce, failed, UTC)
    assert (done.state, done.error_message) == (State.FAILED, "install master failed")
    assert done.end == datetime(2020, 2, 2, 8, 21, 50, 478108, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2020-02-02 08:12:40 +0800 CST", datetime(2020, 2, 2, 0, 12, 40, tzinfo=UTC)),
        ("2020-02-02 08:12:40.5 +0000 UTC", datetime(2020, 2, 2, 8, 12, 40, 500000, tzinfo=UTC)),
        ("2020-02-02 08:12:40.123456789 -0100", datetime(2020, 2, 2, 9, 12, 40, 123456, tzinfo=UTC)),
        ("2020-02-02T08:12:40Z", None),
        ("", None),
    ],
)
def test_go_times(written: str, expected: datetime | None) -> None:
    from exporter.services import parse_time

    assert parse_time(written, UTC, "go") == (expected.timestamp() if expected else None)


def test_cce_not_found_is_its_errorcode_shape() -> None:
    from exporter.cloud.errors import parse_error_body

    body = b'{"errorCode": "CCE.01404001", "errorMessage": "Resource not found"}'
    assert parse_error_body(body)[:2] == ("CCE.01404001", "Resource not found")


def test_cbr_operation_log_timeout_and_skipped() -> None:
    cbr = BUILTIN["cbr"]
    log = {
        "id": TASK,
        "status": "timeout",
        "operation_type": "replication",
        "started_at": "2020-02-23T01:00:32Z",
        "ended_at": "2020-02-23T02:00:32Z",
        "error_info": {"code": "BackupService.6302", "message": "The replication timed out."},
        "extra_info": {"common": {"progress": 40}, "resource": {"id": "v-1", "type": "OS::Cinder::Volume"}},
    }
    status = read_status(cbr, {"operation_log": log}, UTC)
    assert (status.state, status.error_code, status.resource_id, status.job_type, status.progress) == (
        State.FAILED, "BackupService.6302", "v-1", "replication", 0.4,
    )  # fmt: skip
    assert read_status(cbr, {"operation_log": {**log, "status": "skipped"}}, UTC).state is State.STOPPED
    # created_at apart from started_at: the wait before the start (huaweicloud_task_completion_queue_seconds)
    queued = read_status(cbr, {"operation_log": {**log, "created_at": "2020-02-23T00:58:32Z"}}, UTC)
    assert queued.start is not None and queued.created == queued.start - 120
    assert status.created is None  # no created_at: no wait to observe


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("ROLLBACKING", State.RUNNING),
        ("COMPLETE", State.SUCCEEDED),
        ("ROLLBACK_FAIL", State.FAILED),
        ("CANCEL", State.STOPPED),
    ],
)
def test_elb_rollback_states(raw: str, state: State) -> None:
    body = {"job": {"job_id": TASK, "job_type": "UPGRADE", "status": raw, "sub_jobs": [{"status": "SUCCESS"}]}}
    assert read_status(BUILTIN["elb"], body, UTC).state is state


def test_dli_documented_status_and_its_end_from_the_duration() -> None:
    dli = BUILTIN["dli"]
    body = {"is_success": True, "message": "", "job_id": TASK, "job_type": "QUERY", "start_time": 1502349803729,
            "duration": 1000, "status": "FINISH"}  # fmt: skip
    status = read_status(dli, body, UTC)
    assert (status.state, status.start, status.end, status.progress) == (
        State.SUCCEEDED,
        1502349803.729,
        1502349804.729,
        1.0,
    )
    running = read_status(dli, {**body, "status": "RUNNING"}, UTC)
    assert (running.state, running.end, running.progress) == (State.RUNNING, None, None)  # progress: another API


# --- MRS: a path parameter per target, and a result that decides once it is defined ------------------


def mrs_body(state: str, result: str, **more: Any) -> dict[str, Any]:
    job = {"job_id": TASK, "job_name": "wordcount", "job_type": "MapReduce", "job_state": state, "job_result": result,
           "job_progress": 45.0, "started_time": 1564714763119, "finished_time": 0}  # fmt: skip
    return {"job_detail": job | more}


@pytest.mark.parametrize(
    ("state", "result", "expected"),
    [
        ("ACCEPTED", "UNDEFINED", State.PENDING),
        ("RUNNING", "UNDEFINED", State.RUNNING),
        ("FINISHED", "SUCCEEDED", State.SUCCEEDED),
        ("FINISHED", "FAILED", State.FAILED),  # YARN: finished, but the job failed
        ("KILLED", "KILLED", State.STOPPED),
    ],
)
def test_mrs_state_is_its_result_once_defined(state: str, result: str, expected: State) -> None:
    status = read_status(BUILTIN["mrs"], mrs_body(state, result), UTC)
    assert (status.state, status.start, status.end) == (expected, 1564714763.119, None)  # 0: not finished
    if expected is State.RUNNING:
        assert status.progress == 0.45


MRS_TARGET = f"""
accounts: [{{name: prod, auth: {{type: token, token: t}}}}]
services:
  - {{cloud_service: mrs, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [{TASK}]PARAMS}}
"""


async def test_mrs_asks_in_the_targets_cluster() -> None:
    cluster = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    config = parse_config(MRS_TARGET.replace("PARAMS", f", params: {{cluster_id: {cluster}}}"))
    seen: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=mrs_body("RUNNING", "UNDEFINED"))

    api = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    status = await api.query(config.targets[0], TASK, 5)
    await api.aclose()
    assert isinstance(status, TaskStatus) and status.state is State.RUNNING
    assert seen == [f"https://mrs.cn-north-4.myhuaweicloud.com/v2/{PROJECT}/clusters/{cluster}/job-executions/{TASK}"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("", r"services\[0\]: missing required key 'params': mrs needs cluster_id \(the MRS cluster ID\)"),
        (", params: {}", r"services\[0\]\.params: missing required key 'cluster_id': the MRS cluster ID"),
        (", params: {cluster_id: ../x}", r"services\[0\]\.params\.cluster_id: invalid the MRS cluster ID '\.\./x'"),
        (", params: {cluster: abc}", r"services\[0\]\.params\.cluster: unknown key 'cluster'"),
    ],
)
def test_mrs_params_errors(params: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(MRS_TARGET.replace("PARAMS", params))


def test_params_on_a_service_without_them() -> None:
    text = MRS_TARGET.replace("cloud_service: mrs", "cloud_service: rds").replace("PARAMS", ", params: {a: b}")
    with pytest.raises(ConfigError, match=r"services\[0\]\.params: rds takes no path parameters"):
        parse_config(text)


def test_a_200_without_the_list_is_not_not_found() -> None:
    from exporter.services import BadResponse, NoSuchTask

    geminidb = BUILTIN["geminidb"]
    with pytest.raises(NoSuchTask):
        read_status(geminidb, {"jobs": [], "total_count": 0}, UTC)
    with pytest.raises(BadResponse) as info:  # an error body, or another shape: not "no such task"
        read_status(geminidb, {"error_code": "DBS.200001", "error_msg": "internal"}, UTC)
    assert not isinstance(info.value, NoSuchTask)


def test_mrs_without_a_result_yet_reads_its_state() -> None:
    for result in (None, ""):
        assert read_status(BUILTIN["mrs"], mrs_body("ACCEPTED", result), UTC).state is State.PENDING  # type: ignore[arg-type]


BASE = """
name: x
status:
  path: /j/{task_id}
  state: STATE
  states: {a: running}
"""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (BASE.replace("STATE", "/s\n  not_yet: [X]"), r"status\.not_yet: 'not_yet' needs a 'state' of two or more"),
        (
            BASE.replace("STATE", "/s") + "discover: {path: /j, items: /i, id: /id, window: {from: a, format: go}}",
            r"discover\.window\.format: expected one of iso, epoch_s, epoch_ms or a",
        ),
        (
            BASE.replace("STATE", "/s") + "discover: {path: /j, items: /i, id: /id, query: {x: '{cluster}'}}",
            r"discover\.query: .*\{cluster\}",
        ),
    ],
)
def test_spec_key_combinations_refused(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_spec(Ctx("s.yaml", "", None, {}), load_document(spec, file="s.yaml"))


async def test_dli_progress_is_asked_only_while_running_and_a_failed_one_keeps_the_status() -> None:
    config = parse_config(f"""
accounts: [{{name: prod, auth: {{type: token, token: t}}}}]
services: [{{cloud_service: dli, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [{TASK}]}}]
""")
    status = {"status": "LAUNCHING", "start_time": 1502349803729, "duration": 0}
    asked: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path.rsplit("/", 1)[-1])
        if request.url.path.endswith("/progress"):
            return httpx.Response(500, json={"error_code": "DLI.0999", "error_msg": "busy"})
        return httpx.Response(200, json=status)

    api = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    pending = await api.query(config.targets[0], TASK, 5)
    status["status"] = "RUNNING"
    running = await api.query(config.targets[0], TASK, 5)
    await api.aclose()
    assert asked == ["status", "status", "progress"]  # no progress call for a launching job
    assert isinstance(pending, TaskStatus) and pending.state is State.PENDING
    assert isinstance(running, TaskStatus) and (running.state, running.progress) == (State.RUNNING, None)
