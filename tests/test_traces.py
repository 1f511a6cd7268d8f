"""Recent jobs from Cloud Trace Service: the traces' job IDs (documented examples and the odd ones), the
account's `discover.cloud_trace` settings and their messages, the SDK's reading of the fake cloud's
traces, and end to end: CTS discovery finds the EVS jobs of the default scenario."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization
from huaweicloudsdkcts.v3 import CtsClient, ListTracesRequest
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.config import ConfigError, load_config, parse_config
from exporter.exposition.server import make_app, serve
from exporter.simulator import (
    DEFAULT_PROJECT_ID,
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    DEMO_TOKEN,
    Simulator,
    default_scenario,
    start_simulator,
)
from exporter.tracking.refresh import Listing
from exporter.tracking.traces import job_ids, trace_sources

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROJECT = DEFAULT_PROJECT_ID
NOW = 1_700_000_000.0
# cts_03_0011's ECS example (response a string of JSON; the request elided) and the older document's
# object form; the job IDs as there.
ECS_TRACE = {
    "trace_id": "cbdd4480-2e03-11ef-82de-cf140e2a70fb",
    "trace_name": "createServer",
    "service_type": "ECS",
    "trace_type": "ConsoleAction",
    "time": 1718777931170,
    "response": '{"job_id":"ff8080828fe9028a01902f2542df1b10","job_type":"createSingleServer","begin_time":'
    '"2024-06-19T06:18:09.502Z","end_time":"2024-06-19T06:18:51.169Z","status":"SUCCESS","error_code":null,'
    '"fail_reason":null,"entities":{"server_id":"7285ea5d-f15c-4d9c-9e4e-37d37023f2f4"}}',
    "request_id": "null",
}
OLD_ECS_TRACE = {
    "trace_id": "e001ccb8-bc09-11e6-b2cc-2640a43cc6e8",
    "service_type": "ECS",
    "code": 200,
    "response": {"status": "SUCCESS", "job_id": "4010b39d58b855980158b8574b270018", "error_code": None},
}


def config_text(endpoint: str = "", types: str = "[ECS, EVS]", cloud: str = "huaweicloud", extra: str = "") -> str:
    cts = f"{{service_types: {types}{', endpoint: ' + repr(endpoint) if endpoint else ''}{extra}}}"
    at = f", endpoint: {endpoint!r}" if endpoint else ""  # quoted: a {region} in a flow mapping
    return f"""
accounts:
  - {{name: prod, cloud: {cloud}, auth: {{type: token, token: t}}, discover: {{cloud_trace: {cts}}}}}
services:
  - {{cloud_service: ecs, account: prod, region: cn-north-4, project_id: {PROJECT}{at}}}
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}{at}}}
  - {{cloud_service: rds, account: prod, region: cn-north-4, project_id: {PROJECT}{at}}}
"""


def listing(*traces: dict[str, Any]) -> Listing:
    return Listing(("prod", "cts", "cn-north-4", PROJECT), tuple((t.get("trace_id", ""), t) for t in traces), (), 0.0)


def test_the_documented_traces_name_their_jobs_and_the_odd_ones_are_skipped() -> None:
    ((source,), problems) = trace_sources(parse_config(config_text()))
    assert problems == [] and source.cts.endpoint == "https://cts.cn-north-4.myhuaweicloud.com"
    assert set(source.targets) == {"ECS", "EVS"}  # RDS names no trace service type
    no_job = {"service_type": "EVS", "code": "200", "response": '{"volume": {"id": "v-1"}}'}
    truncated = {"service_type": "EVS", "code": "202", "response": '{"job_id":"ff8080828fe9028a0190'}
    failed = {"service_type": "EVS", "code": "400", "response": '{"error": {"code": "EVS.2024", "message": "no"}}'}
    failed_with_200 = {"service_type": "ECS", "response": {"error_code": "Ecs.0000", "error_msg": "bad"}}
    other = {"service_type": "VPC", "response": '{"job_id": "' + "a" * 32 + '"}'}
    empty = {"service_type": "EVS", "request": "", "response": ""}
    found, skipped = job_ids(source, listing(ECS_TRACE, OLD_ECS_TRACE, ECS_TRACE, no_job, truncated, failed,
                                             failed_with_200, other, empty))  # fmt: skip
    assert [(target.cloud_service, job_id) for target, job_id in found] == [
        ("ecs", "ff8080828fe9028a01902f2542df1b10"),  # once, though traced twice
        ("ecs", "4010b39d58b855980158b8574b270018"),
    ]
    assert skipped == {
        "no job ID": 2,
        "a response cut short or not JSON": 1,
        "a failed operation": 2,
        "another service type": 1,
    }


def test_cce_traces_name_their_job_under_status() -> None:
    text = config_text(types="[CCE]").replace("cloud_service: ecs", "cloud_service: cce")
    ((source,), _) = trace_sources(parse_config(text))
    found, _ = job_ids(
        source, listing({"service_type": "CCE", "response": json.dumps({"status": {"jobID": "c" * 32}})})
    )
    assert [job_id for _, job_id in found] == ["c" * 32]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            config_text(types="[EVS, VPC]"),
            r"accounts\[0\]\.discover\.cloud_trace\.service_types\[1\]: expected a service type a spec's 'trace' "
            r"names: BMS \(bms\), CCE \(cce\), ECS \(ecs\), EVS \(evs\), IMS \(ims\); got the string 'VPC'",
        ),
        (config_text(types="[]"), r"cloud_trace: expected 'service_types' with at least one CTS service type"),
        (config_text(extra=", lookback: 169h"), r"cloud_trace\.lookback: expected a number from 60 to 604800"),
        (config_text(extra=", since: 1h"), r"cloud_trace\.since: unknown key 'since'"),
    ],
)
def test_cloud_trace_settings_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text)


def test_a_custom_cloud_needs_the_cts_endpoint() -> None:
    text = config_text(cloud="custom").replace("project_id:", "endpoint: http://127.0.0.1:1, project_id:")
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.discover\.cloud_trace: cloud 'custom' has no CTS host: "):
        parse_config(text)


def test_a_traced_service_without_a_project_id_is_refused() -> None:
    evs = f"cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}"
    text = config_text(types="[IMS]").replace(evs, "cloud_service: ims, account: prod, region: cn-north-4")
    with pytest.raises(ConfigError, match=r"services\[1\]: missing required key 'project_id': account prod finds ims"):
        parse_config(text)


def test_cloud_trace_endpoints_per_region_and_the_warnings_of_config_check() -> None:
    two = config_text(endpoint="https://cts.{region}.internal.example").replace(
        "cloud_service: evs, account: prod, region: cn-north-4", "cloud_service: evs, account: prod, region: cn-east-3"
    )
    sources, _ = trace_sources(parse_config(two))
    assert sorted(s.cts.endpoint for s in sources) == [
        "https://cts.cn-east-3.internal.example",
        "https://cts.cn-north-4.internal.example",
    ]
    fixed = parse_config(
        two.replace("{region}", "cn-north-4").replace("services:", "tracking: {discovery_interval: 10m}\nservices:")
    )
    assert list(fixed.warnings) == [
        "account prod: cloud_trace.endpoint https://cts.cn-north-4.internal.example is asked for the traces of 2 "
        "regions (cn-east-3, cn-north-4); write {region} in it for a host per region",
    ]
    short = parse_config(config_text(extra=", lookback: 5m"))
    assert list(short.warnings) == [
        "account prod: cloud_trace.lookback (300 s) is shorter than tracking.discovery_interval plus the traces' "
        "delay (600 s): jobs whose traces arrive between two discoveries are missed"
    ]
    none = parse_config(config_text(types="[BMS]"))
    assert list(none.warnings) == [
        "account prod: cloud_trace names BMS, but the account has no target of those services"
    ]


async def test_a_failed_trace_call_is_asked_again_within_a_minute_and_a_null_marker_ends_the_list() -> None:
    from prometheus_client import CollectorRegistry

    from exporter.cloud.client import ApiClient
    from exporter.exposition.metrics import SelfMetrics
    from exporter.tracking import Tracker

    answers: list[httpx.Response] = [httpx.Response(500, json={"error_code": "CTS.0500", "error_msg": "busy"})]
    full = [{"trace_id": f"t-{n}", "service_type": "EVS", "response": "{}"} for n in range(200)]
    calls: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/traces"):
            return httpx.Response(404)
        calls.append(str(request.url))
        if answers:
            return answers.pop(0)
        return httpx.Response(200, json={"traces": full, "meta_data": {"count": 200, "marker": None}})

    config = parse_config(config_text(types="[EVS]"))
    now = [NOW]
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    tracker = Tracker(config, client, clock=lambda: now[0])
    await tracker.refresh(5)  # 500
    await tracker.refresh(5)  # not yet: retried a minute later
    now[0] += 61
    await tracker.refresh(5)  # one full page whose marker is null: the last one
    now[0] += 61
    await tracker.refresh(5)  # answered: not before discovery_interval (5 min)
    await client.aclose()
    assert len(calls) == 2 and "next=" not in calls[1]


async def test_the_sdk_reads_the_fake_clouds_traces() -> None:
    sim = Simulator(default_scenario(), clock=lambda: NOW, require_auth=False)
    sim.advance(5)  # the traces of the calls at the start are in the past now ("to" is exclusive)
    async with await start_simulator(sim) as cloud:
        config = HttpConfig.get_default_config()
        config.retry_times = 0
        client = (
            CtsClient.new_builder()
            .with_credentials(BasicCredentials(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, PROJECT))
            .with_endpoint(cloud.url)
            .with_http_config(config)
            .build()
        )
        request = ListTracesRequest(trace_type="system", service_type="EVS", limit=200)
        # The SDK is synchronous: it runs in a thread while the fake cloud serves on this loop.
        import asyncio

        resp = await asyncio.to_thread(client.list_traces, request)
        async with httpx.AsyncClient() as http:
            raw = (await http.get(f"{cloud.url}/v3/{PROJECT}/traces", params={"trace_type": "system",
                                  "service_type": "EVS", "limit": 200})).json()  # fmt: skip
    assert sanitize_for_serialization(resp) == raw | {"meta_data": {"count": raw["meta_data"]["count"]}}
    evs = {t.task_id for t in default_scenario().tasks if t.cloud_service == "evs" and t.created_offset > -3600}
    named = {json.loads(t.response).get("job_id") for t in resp.traces if t.response.endswith("}")}
    assert evs <= named


async def test_cloud_trace_discovery_finds_the_scenarios_evs_jobs(tmp_path: Path, monkeypatch: Any) -> None:
    sim = Simulator(default_scenario(), clock=lambda: NOW)
    sim.advance(5)
    async with await start_simulator(sim) as cloud:
        document = yaml.safe_load(config_text(cloud.url, cloud="custom"))
        document["accounts"][0]["auth"] = {"type": "token", "token": "${T}"}
        document["services"] = document["services"][:2]  # ecs and evs, no task listed
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        exporter = Exporter(load_config(path), clock=sim.now)
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
                text = (await http.get("/metrics")).text
        finally:
            await serving.stop()
    tracked = {
        (s.labels["cloud_service"], s.labels["task_id"])
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "huaweicloud_task_status" and s.value == 1
    }
    # Every EVS and ECS job created within the lookback (1 h): e750...05 was created 3 h before.
    scenario = default_scenario().tasks
    expected = {
        (t.cloud_service, t.task_id) for t in scenario if t.cloud_service in ("evs", "ecs") and t.created_offset > -3600
    }
    assert len(expected) == 7 and tracked == expected
    assert sim.stats.list_requests["cts"] == 2  # one call sequence per service type, each one page
