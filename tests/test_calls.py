"""The calling side of a spec: request headers (a fresh UUID per request), POST lists with a JSON body,
a query parameter with several values, and the paging variants (marker from the last item's field,
paging inside one parameter, the total in a response header).

Each call goes over real HTTP to a small aiohttp server on 127.0.0.1, with AK/SK signing; the official
SDK's signer re-signs every captured request, which must give the same Authorization header (the
headers and the body are signed exactly as the SDK signs them). The bodies are the documents' own
example shapes (ModelArts ListTrainingJobs, SWR ShowSyncJob, VPN ListVpnGatewayJobs, IoTDA ListBatchTasks).
"""

# ruff: noqa: E501 - the table of spec messages reads best as one row per case
from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from prometheus_client import CollectorRegistry

from exporter.cli import main
from exporter.cloud.client import ApiClient
from exporter.cloud.signing import verify
from exporter.config import Config, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import State, TaskStatus
from exporter.schema import ConfigError
from exporter.services.calls import header_total, place
from exporter.tracking.refresh import Deadline, Listing, list_calls, list_target

PROJECT = "0123456789abcdef0123456789abcdef"
AK, SK = "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
NOW = 1_700_000_000.0
PIPE = "ab" * 16
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@dataclass
class Seen:
    """A request as the server got it: enough to sign it again with the SDK."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    host: str
    raw_query: str = ""


@dataclass
class Cloud:
    url: str
    seen: list[Seen] = field(default_factory=list)


Handler = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


@pytest.fixture
async def cloud(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[Handler], Awaitable[Cloud]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> Cloud:
        found = Cloud("")

        async def any_call(req: web.Request) -> web.StreamResponse:
            body = await req.read()
            found.seen.append(
                Seen(req.method, req.raw_path.partition("?")[0], list(req.query.items()),
                     {k.lower(): v for k, v in req.headers.items()}, body,
                     req.host, req.query_string)
            )  # fmt: skip
            return await handler(req, body)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", any_call)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return found

    yield start
    for runner in runners:
        await runner.cleanup()


def config(url: str, spec: str, *, discover: bool = True, extra: str = "") -> Config:
    text = f"""
accounts:
  - name: p
    cloud: custom
    auth:
      type: aksk
      access_key: ${{AK}}
      secret_key: ${{SK}}
custom_services:
  - name: svc
{spec}
services:
  - {{cloud_service: svc, account: p, region: r1, project_id: {PROJECT}, endpoint: "{url}", discover: {str(discover).lower()},
      tasks: []{extra}}}
"""
    return parse_config(text, env={"AK": AK, "SK": SK}, file="c.yaml")


def assert_signed_as_the_sdk_signs(seen: Seen) -> None:
    """The SDK re-signs the request from what reached the server and must get the same Authorization;
    the gateway-side check (verify) accepts it too."""
    signed = re.search(r"SignedHeaders=([^,]+)", seen.headers["authorization"])
    assert signed is not None
    names = signed.group(1).split(";")
    lower = seen.headers
    sdk = SdkRequest(
        method=seen.method,
        schema="http",
        host=seen.host,
        resource_path=seen.path,
        query_params=seen.query,
        header_params={n: lower[n] for n in names if n not in ("host", "x-project-id")},
        body=seen.body,
    )
    BasicCredentials(AK, SK, PROJECT).sign_request(sdk)
    assert sdk.header_params["Authorization"] == seen.headers["authorization"]
    url = httpx.URL(f"http://{seen.host}{seen.path}" + (f"?{seen.raw_query}" if seen.raw_query else ""))
    assert verify(seen.method, url, seen.headers, seen.body, {AK: SK}.get, now=time.time()).ok


async def list_all(cfg: Config) -> Listing:
    (target,) = cfg.targets
    lister = target.spec.discover
    assert lister is not None
    client = ApiClient(cfg, SelfMetrics(CollectorRegistry()))
    try:
        return await list_target(client, target, lister, list_calls(target, lister, NOW, 3600), Deadline.after(10), 0)
    finally:
        await client.aclose()


# --- headers -----------------------------------------------------------------------------------------

RFS = """
    status:
      path: /v1/{project_id}/stacks/{task_id}/metadata
      state: /status
      states: {DEPLOYMENT_IN_PROGRESS: running, DEPLOYMENT_COMPLETE: succeeded, DEPLOYMENT_FAILED: failed}
      headers: {Client-Request-Id: "{uuid}", X-Language: en-us, X-Stack: "{task_id}"}
"""


async def test_status_headers_are_sent_signed_with_a_fresh_uuid_per_request(cloud: Any) -> None:
    async def answer(req: web.Request, body: bytes) -> web.Response:
        # RFS GetStackMetadata's documented answer (abridged).
        return web.json_response({"stack_name": "my_hello_world_stack", "status": "DEPLOYMENT_IN_PROGRESS",
                                  "create_time": "2023-05-11T02:56:22Z"})  # fmt: skip

    server = await cloud(answer)
    cfg = config(server.url, RFS, discover=False)
    client = ApiClient(cfg, SelfMetrics(CollectorRegistry()))
    try:
        results = [await client.query(cfg.targets[0], "my_hello_world_stack", 5) for _ in range(2)]
    finally:
        await client.aclose()
    assert all(isinstance(r, TaskStatus) and r.state is State.RUNNING for r in results), results
    ids = [s.headers["client-request-id"] for s in server.seen]
    assert len(ids) == 2 and all(UUID.fullmatch(i) for i in ids) and ids[0] != ids[1]
    assert [s.headers["x-stack"] for s in server.seen] == ["my_hello_world_stack"] * 2
    for seen in server.seen:
        assert "client-request-id" in seen.headers["authorization"] and "x-language" in seen.headers["authorization"]
        assert_signed_as_the_sdk_signs(seen)


# --- POST lists ----------------------------------------------------------------------------------------

MODELARTS = """
    status:
      path: /v2/{project_id}/training-jobs/{task_id}
      state: /status/phase
      states: {Creating: pending, Pending: pending, Running: running, Completed: succeeded, Failed: failed,
               Abnormal: failed, Terminating: running, Terminated: stopped}
    discover:
      method: POST
      path: /v2/{project_id}/training-job-searches
      body:
        sort_by: create_time
        order: desc
        filters: [{key: phase, operator: in, value: [Running]}, {key: create_time, operator: between, value: ["", ""]}]
      items: /items
      id: /metadata/id
      carries_status: true
      paging: {style: page, in: body, param: /offset, limit_param: /limit, first: 0, limit: 2, total: /total}
      window: {in: body, from: /filters/1/value/0, to: /filters/1/value/1, format: epoch_ms, json_type: string}
"""


def training_job(job_id: str) -> dict[str, Any]:
    """An item of ListTrainingJobs' documented example answer."""
    return {
        "kind": "job",
        "metadata": {"create_time": 1636447346315, "id": job_id, "name": "trainjob--py14_mem06-byd-108",
                     "workspace_id": "0"},
        "status": {"duration": 0, "phase": "Running", "secondary_phase": "Running", "start_time": 0,
                   "tasks": ["worker-0"]},
    }  # fmt: skip


async def test_a_post_list_pages_and_windows_in_its_json_body(cloud: Any) -> None:
    jobs = [str(uuid.UUID(int=n)) for n in range(1, 6)]

    async def answer(req: web.Request, body: bytes) -> web.Response:
        asked = json.loads(body)
        page = jobs[asked["offset"] * asked["limit"] : (asked["offset"] + 1) * asked["limit"]]
        return web.json_response({"ai_project": "default-ai-project", "count": len(page), "group_by": "",
                                  "items": [training_job(j) for j in page], "limit": asked["limit"],
                                  "offset": asked["offset"], "order": "desc", "sort_by": "create_time",
                                  "total": len(jobs), "workspace_id": "0"})  # fmt: skip

    server = await cloud(answer)
    listing = await list_all(config(server.url, MODELARTS))
    assert not listing.errors
    assert [task_id for task_id, _ in listing.items] == jobs
    assert [s.method for s in server.seen] == ["POST"] * 3
    window = [str(int((NOW - 3600) * 1000)), str(int(NOW * 1000))]
    for page, seen in enumerate(server.seen):
        assert json.loads(seen.body) == {
            "sort_by": "create_time",
            "order": "desc",
            "filters": [
                {"key": "phase", "operator": "in", "value": ["Running"]},
                {"key": "create_time", "operator": "between", "value": window},
            ],
            "offset": page,
            "limit": 2,
        }
        assert seen.headers["content-type"] == "application/json;charset=UTF-8" and not seen.query
        assert_signed_as_the_sdk_signs(seen)


PIPELINE = """
    status:
      path: /v5/{project_id}/api/pipelines/{pipeline_id}/pipeline-runs/detail
      query: {pipeline_run_id: "{task_id}"}
      state: /status
      states: {RUNNING: running, COMPLETED: succeeded, FAILED: failed, CANCELED: stopped}
    params: {pipeline_id: the pipeline's ID}
    discover:
      method: POST
      path: /v5/{project_id}/api/pipelines/{pipeline_id}/pipeline-runs/list
      body: {status: [RUNNING], sort_key: start_time, sort_dir: desc}
      headers: {Client-Request-Id: "{uuid}"}
      items: /pipeline_runs
      id: /pipeline_run_id
      paging: {style: offset, in: body, param: /offset, limit_param: /limit, limit: 10, total: /total}
      window: {in: body, from: /start_time, to: /end_time, format: epoch_ms}
"""


async def test_a_pipeline_run_list_gets_its_window_as_numbers_and_headers_per_page(cloud: Any) -> None:
    runs = [f"{n:032x}" for n in range(1, 13)]

    async def answer(req: web.Request, body: bytes) -> web.Response:
        asked = json.loads(body)
        page = runs[asked["offset"] : asked["offset"] + asked["limit"]]
        return web.json_response({"offset": asked["offset"], "limit": asked["limit"], "total": len(runs),
                                  "pipeline_runs": [{"pipeline_run_id": r, "status": "RUNNING"} for r in page]})  # fmt: skip

    server = await cloud(answer)
    listing = await list_all(config(server.url, PIPELINE, extra=f", params: {{pipeline_id: {PIPE}}}"))
    assert not listing.errors and [task_id for task_id, _ in listing.items] == runs
    assert [s.path for s in server.seen] == [f"/v5/{PROJECT}/api/pipelines/{PIPE}/pipeline-runs/list"] * 2
    bodies = [json.loads(s.body) for s in server.seen]
    assert [(b["offset"], b["limit"]) for b in bodies] == [(0, 10), (10, 10)]
    assert {(b["start_time"], b["end_time"]) for b in bodies} == {(int((NOW - 3600) * 1000), int(NOW * 1000))}
    ids = [s.headers["client-request-id"] for s in server.seen]
    assert all(UUID.fullmatch(i) for i in ids) and ids[0] != ids[1]
    for seen in server.seen:
        assert_signed_as_the_sdk_signs(seen)


# --- several values of one query parameter -------------------------------------------------------------

IOTDA = """
    status:
      path: /v5/iot/{project_id}/batchtasks/{task_id}
      state: /batchtask/status
      states: {Processing: running, Success: succeeded, Fail: failed}
    discover:
      path: /v5/iot/{project_id}/batchtasks
      query: {task_type: [firmwareUpgrade, softwareUpgrade], app_id: a1}
      items: /batchtasks
      id: /task_id
"""


IOT_IDS = {"firmwareUpgrade": "5b" * 12, "softwareUpgrade": "5c" * 12}


async def test_a_query_parameter_with_several_values_makes_one_call_each(cloud: Any) -> None:
    async def answer(req: web.Request, body: bytes) -> web.Response:
        kind = req.query["task_type"]
        task = {"task_id": IOT_IDS[kind], "task_name": "task", "task_type": kind, "status": "Processing",
                "create_time": "20151212T121212Z"}  # fmt: skip
        return web.json_response({"batchtasks": [task], "page": {"count": 1, "marker": "1"}})

    server = await cloud(answer)
    listing = await list_all(config(server.url, IOTDA))
    assert [task_id for task_id, _ in listing.items] == list(IOT_IDS.values())
    assert [dict(s.query) for s in server.seen] == [
        {"task_type": "firmwareUpgrade", "app_id": "a1"},
        {"task_type": "softwareUpgrade", "app_id": "a1"},
    ]


# --- paging variants -----------------------------------------------------------------------------------

VPN = """
    status:
      path: /v5/{project_id}/vpn-gateways/jobs/{task_id}
      state: /status
      states: {upgrading: running, success: succeeded, fail: failed}
    discover:
      path: /v5/{project_id}/vpn-gateways/jobs
      items: /jobs
      id: /id
      paging: {style: marker, limit: 2, item_marker: /created_at}
"""


async def test_marker_paging_by_the_last_items_field(cloud: Any) -> None:
    stamps = [f"2024-01-0{n}T00:00:00Z" for n in range(1, 6)]

    async def answer(req: web.Request, body: bytes) -> web.Response:
        after = req.query.get("marker")
        start = stamps.index(after) + 1 if after else 0
        page = stamps[start : start + int(req.query["limit"])]
        jobs = [{"id": f"{stamps.index(s) + 1:032x}", "status": "upgrading", "created_at": s, "job_type": "upgrade"}
                for s in page]  # fmt: skip
        return web.json_response({"jobs": jobs, "total_count": len(stamps), "request_id": "r"})

    server = await cloud(answer)
    listing = await list_all(config(server.url, VPN))
    assert [task_id for task_id, _ in listing.items] == [f"{n:032x}" for n in range(1, 6)]
    assert [dict(s.query).get("marker") for s in server.seen] == [None, stamps[1], stamps[3]]


SWR = """
    status:
      path: /v2/manage/namespaces/ns/repos/repo/sync_job/{task_id}
      state: /status
      states: {waiting: pending, running: running, success: succeeded, failed: failed}
    discover:
      path: /v2/manage/namespaces/ns/repos/repo/sync_job
      items: /jobs
      id: /id
      paging: {style: offset, param: filter, template: "limit::{limit}|offset::{offset}|order::desc", limit: 2,
               total: {header: Content-Range}}
"""


async def test_paging_inside_one_parameter_and_the_total_in_a_header(cloud: Any) -> None:
    jobs = [n + 1 for n in range(6)]

    async def answer(req: web.Request, body: bytes) -> web.Response:
        found = re.fullmatch(r"limit::(\d+)\|offset::(\d+)\|order::desc", req.query["filter"])
        assert found is not None
        limit, offset = int(found.group(1)), int(found.group(2))
        page = jobs[offset : offset + limit]
        # SWR's SyncJob items (ShowSyncJob's example). The document's body is the bare list; wrapped here.
        items = [{"id": f"{j:016x}", "status": "running", "createdAt": "2020-03-12T08:11:36.518144Z"} for j in page]
        # The header says 4 in all (fewer than the server holds): the exporter must stop there.
        return web.json_response({"jobs": items}, headers={"Content-Range": f"{offset}-{len(page)}/4"})

    server = await cloud(answer)
    listing = await list_all(config(server.url, SWR))
    assert [task_id for task_id, _ in listing.items] == [f"{j:016x}" for j in range(1, 5)]
    assert [dict(s.query)["filter"] for s in server.seen] == [
        "limit::2|offset::0|order::desc",
        "limit::2|offset::2|order::desc",
    ]


def test_header_totals_and_body_places() -> None:
    assert [header_total(v) for v in ("25", "0-9/25", " 10-2/3 ", "0-9/*", "", None)] == [25, 25, 3, None, None, None]
    body: dict[str, Any] = {"filters": [{"value": ["", ""]}]}
    assert place(body, "/filters/0/value/1", "9") == {"filters": [{"value": ["", "9"]}]}
    assert place({}, "/page/offset", 2) == {"page": {"offset": 2}}
    assert place({"a": []}, "/a/2", 1) == {"a": [None, None, 1]}


# --- the spec's messages -------------------------------------------------------------------------------

BASE = """
custom_services:
  - name: svc
    endpoints: {huaweicloud: "https://svc.{region}.myhuaweicloud.com"}
    status:
      path: /v1/{project_id}/jobs/{task_id}
      state: /status
      states: {RUNNING: running}
"""
LIST = (
    BASE
    + """    discover:
      path: /v1/{project_id}/jobs
      items: /jobs
      id: /id
"""
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + "      headers: {Authorization: x}\n", r"c.yaml:9: custom_services\[0\].status.headers.Authorization: header Authorization is the exporter's own"),
        (BASE + "      headers: {x-sdk-date: x}\n", r"status.headers.x-sdk-date: header x-sdk-date is the exporter's own"),
        (BASE + "      headers: {X-Project-Id: x}\n", r"status.headers.X-Project-Id: header X-Project-Id is the exporter's own"),
        (BASE + "      headers: {Host: x}\n", r"header Host is the exporter's own"),
        (BASE + "      headers: {X-Auth-Token: x}\n", r"header X-Auth-Token is the exporter's own"),
        (BASE + "      headers: {X_Under: x}\n", r"status.headers.X_Under: expected a header name .* got 'X_Under'"),
        (BASE + "      headers: {A: x, a: y}\n", r"status.headers.a: header a is given twice"),
        (BASE + "      headers: {A: \"x\\ny\"}\n", r"status.headers.A: expected printable ASCII"),
        (BASE + "      headers: {A: \"{job}\"}\n", r"status.headers.A: unknown placeholder \{job\} in the header; allowed: .*\{uuid\}"),
        (BASE + "      headers: [a]\n", r"status.headers: expected request headers .* got a list"),
        (LIST + "      method: PUT\n", r"c.yaml:13: custom_services\[0\].discover.method: expected GET or POST, got 'PUT'"),
        (LIST + "      body: {a: 1}\n", r"discover.body: a body is sent with 'method: POST' only"),
        (LIST + "      method: POST\n      body: x\n", r"discover.body: expected the JSON body as a mapping or a list"),
        (LIST + "      method: POST\n      body: {a: [\"{nope}\"]}\n", r"discover.body.a\[0\]: unknown placeholder \{nope\}"),
        (LIST + "      query: {t: []}\n", r"discover.query.t: expected a list of distinct values"),
        (LIST + "      query: {t: [a, a]}\n", r"discover.query.t: expected a list of distinct values"),
        (LIST + "      query: {t: [a, {b: 1}]}\n", r"discover.query.t\[1\]: expected a value such as firmwareUpgrade, got a mapping"),
        (LIST + "      paging: {style: offset, in: body, param: /o, limit_param: /l}\n", r"discover.paging.in: values go in the body of a POST list only"),
        (LIST + "      method: POST\n      paging: {style: offset, in: body, param: o, limit_param: /l}\n", r"discover.paging.param: expected a JSON pointer"),
        (LIST + "      method: POST\n      paging: {style: offset, in: body}\n", r"discover.paging: with 'in: body', give 'param' and 'limit_param'"),
        (LIST + "      paging: {style: offset, in: header}\n", r"discover.paging.in: expected one of query, body"),
        (LIST + "      paging: {style: none, template: \"x\"}\n", r"discover.paging.template: 'template' packs the paging values"),
        (LIST + "      paging: {style: offset, param: f, template: \"limit::{limit}\"}\n", r"discover.paging.template: the template needs \{offset\}"),
        (LIST + "      paging: {style: page, param: f, template: \"{offset}\"}\n", r"discover.paging.template: unknown placeholder \{offset\} .* allowed: \{limit\}, \{page\}"),
        (LIST + "      paging: {style: offset, item_marker: /created_at}\n", r"discover.paging.item_marker: 'item_marker' is for 'style: marker'"),
        (LIST + "      paging: {style: offset, limit: 50, next: /next_marker}\n", r"c.yaml:13: custom_services\[0\].discover.paging.next: 'next' is for 'style: marker'"),
        (LIST + "      paging: {style: none, limit: 50}\n", r"c.yaml:13: custom_services\[0\].discover.paging.limit: 'style: none' reads one page: 'limit' would be ignored"),
        (LIST + "      paging: {style: none, param: foo}\n", r"discover.paging.param: 'style: none' reads one page: 'param' would be ignored"),
        (LIST + "      paging: {style: none, total: /count}\n", r"discover.paging.total: 'style: none' reads one page: 'total'"),
        (LIST + "      window: {from: start, format: epoch_ms, json_type: string}\n", r"c.yaml:13: custom_services\[0\].discover.window.json_type: 'json_type' is for 'in: body'"),
        (LIST + "      paging: {style: offset, total: {header: \"a b\"}}\n", r"discover.paging.total.header: expected a header name such as Content-Range"),
        (LIST + "      paging: {style: offset, total: {heder: X}}\n", r"discover.paging.total.heder: unknown key 'heder'; did you mean 'header'"),
        (LIST + "      window: {from: /f, in: body}\n", r"discover.window.in: values go in the body of a POST list only"),
        (LIST + "      method: POST\n      window: {from: f, in: body}\n", r"discover.window.from: expected a JSON pointer"),
        (LIST + "      window: {from: f, json_type: date}\n", r"discover.window.json_type: expected one of number, string"),
        (LIST + "      headers: {Content-Length: \"1\"}\n", r"discover.headers.Content-Length: header Content-Length is the exporter's own"),
        (LIST + "      headers: {A: \"{task_id}\"}\n", r"discover.headers.A: unknown placeholder \{task_id\}"),
    ],
)  # fmt: skip
def test_spec_call_keys_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text + "services: []\n", env={}, file="c.yaml")


def test_service_try_shows_the_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = MODELARTS.replace("    discover:", '      headers: {Client-Request-Id: "{uuid}"}\n    discover:')
    text = f"""
accounts: [{{name: p, cloud: custom, auth: {{type: token, token: t}}}}]
custom_services:
  - name: svc
{spec}
services: []
"""
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(training_job("j1")), encoding="utf-8")
    code = main(
        ["--config.file", str(tmp_path / "c.yaml"), "--config.check", "--service.try", "svc", str(tmp_path / "b.json")]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "  status call: GET /v2/{project_id}/training-jobs/{task_id}" in out
    assert "    header Client-Request-Id: {uuid}" in out
    assert "  list call: POST /v2/{project_id}/training-job-searches" in out
    assert (
        '    body: {"sort_by": "create_time", "order": "desc", "filters": [{"key": "phase", "operator": "in", '
        '"value": ["Running"]}, {"key": "create_time", "operator": "between", "value": ["{from}", "{to}"]}], '
        '"limit": "{limit}", "offset": "{page}"}'
    ) in out
    assert "    paging: page, 2 per page, total at /total" in out
