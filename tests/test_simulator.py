"""The fake cloud over real sockets: bodies per phase, IAM, tokens, AK/SK signatures and the AK lock,
HTTPS, not-found shapes, faults, stats, YAML."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import re
import signal
import ssl
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from aiohttp import web

from exporter.cloud.signing import AkSkAuth, format_sdk_date, sign
from exporter.services import BUILTIN, Field, Paging, ServiceSpec
from exporter.services.spec import DiscoverySpec, ParentsSpec
from exporter.simulator import (
    DEFAULT_ACCESS_KEYS,
    DEFAULT_CODEARTS_CREATOR_ID,
    DEFAULT_CODEARTS_PROJECT_ID,
    DEFAULT_PROJECT_ID,
    DEMO_ACCESS_KEY,
    DEMO_CPH_REQUEST_IDS,
    DEMO_DOMAIN,
    DEMO_PARAM_VALUE,
    DEMO_PASSWORD,
    DEMO_SECRET_KEY,
    DEMO_SECURITY_TOKEN,
    DEMO_TEMP_ACCESS_KEY,
    DEMO_TEMP_SECRET_KEY,
    DEMO_TOKEN,
    DEMO_USER,
    CreatedTask,
    RunningSimulator,
    Scenario,
    ScenarioError,
    Simulator,
    TaskGenerator,
    bench_task_id,
    churn_scenario,
    default_scenario,
    generated_task_id,
    generator_request_id,
    load_scenario,
    parse_generated_task_id,
    parse_scenario,
    serve,
    start_simulator,
)
from exporter.simulator import app as app_module
from exporter.simulator import sections as sections_module
from exporter.simulator.checks import Invalid, ScenarioSection, SectionContext
from exporter.simulator.parts import Parts
from exporter.simulator.routing import Route, json_response
from exporter.simulator.scenario import DOCUMENTED_STATUSES, FINAL_STATUSES, UNKNOWN_STATUSES_FILE

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z: the simulator's start in every test here
HEX32 = re.compile(r"[0-9a-f]{32}")
P = DEFAULT_PROJECT_ID

CA_NEVER, CA_OK, CA_FAIL, CA_STOP, CA_STUCK = (f"c0de{n:028x}" for n in range(1, 6))
DWS_OK, DWS_ELB, DWS_STOP, DWS_ERROR, DWS_STUCK, DWS_STALLED = (f"d5a0{n:028x}" for n in range(1, 7))
EVS_OK, EVS_BATCH, EVS_LISTEN, EVS_FAIL, EVS_STUCK, EVS_UNKNOWN = (f"e750{n:028x}" for n in range(1, 7))
CPH_OK, CPH_FAIL, CPH_STUCK, CPH_ZERO = (f"ce11{n:028x}" for n in range(1, 5))
CAP = DEFAULT_CODEARTS_PROJECT_ID
RID0, RID1 = DEMO_CPH_REQUEST_IDS


def url(cloud_service: str, task_id: str, project: str = P) -> str:
    spec = BUILTIN[cloud_service]
    params = dict.fromkeys(spec.params, DEMO_PARAM_VALUE)  # MRS's cluster ID
    if spec.identity.multi:  # a task named by its parts (DataArts: job name + instance ID): each in the path
        params |= spec.identity.split(task_id)
    query = spec.status_query(project, task_id, params)
    return spec.status_path(project, task_id, params) + (
        "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    )


def test_status_paths_are_the_documented_ones() -> None:
    assert [url(service, "T") for service in ("codearts_check", "dws", "evs", "cph")] == [
        "/v2/tasks/T/progress",
        f"/v1.0/{P}/job/T",
        f"/v1/{P}/jobs/T",
        f"/v1/{P}/cloud-phone/jobs/T",
    ]


def login_body(
    password: str = DEMO_PASSWORD, user: str = DEMO_USER, project: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"domain": {"name": DEMO_DOMAIN}, "name": user, "password": password}},
            },
            "scope": {"project": project or {"id": P}},
        }
    }


@pytest.fixture
def sim() -> Simulator:
    """The default scenario, and the tasks whose statuses no document lists (EVS_UNKNOWN, CPH_ZERO)."""
    return Simulator(default_scenario(unknown_statuses=True), clock=lambda: T0)


@pytest.fixture
async def running(sim: Simulator) -> AsyncIterator[RunningSimulator]:
    server = await start_simulator(sim)
    yield server
    await server.close()


@pytest.fixture
async def client(running: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.url, headers={"X-Auth-Token": DEMO_TOKEN}) as c:
        yield c


async def get_json(
    client: httpx.AsyncClient, path: str, status: int = 200, headers: dict[str, str] | None = None
) -> Any:
    resp = await client.get(path, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    return resp.json()


# --- the default scenario itself --------------------------------------------------------------


def statuses_of(scenario: Scenario) -> dict[str, set[object]]:
    seen: dict[str, set[object]] = {s: set() for s in DOCUMENTED_STATUSES}
    for task in scenario.tasks:
        for job in (task, *task.sub_jobs):
            seen.setdefault(job.cloud_service, set()).update(p.status for p in job.phases)
    return seen


def test_default_scenario_covers_every_documented_status_and_nothing_else() -> None:
    """The demo answers only what the documents list: a status outside a spec's table is logged as a
    warning, which a new user takes for a bug."""
    from exporter.services import raw_status

    seen = statuses_of(default_scenario())
    for service, documented in DOCUMENTED_STATUSES.items():
        assert set(documented) <= seen[service], service
    for service, statuses in seen.items():
        outside = {s for s in statuses if raw_status(s) not in BUILTIN[service].status.states}
        assert not outside, f"{service}: {outside}"


def test_the_unknown_statuses_come_on_request() -> None:
    """exporter/simulator/unknown_statuses.yaml: statuses no document lists, appended to the default scenario
    for the tests that need them (and a scenario of its own for `simulate --scenario`)."""
    seen = statuses_of(default_scenario(unknown_statuses=True))
    assert "PENDING_PAYMENT" in seen["evs"] and "PENDING_PAYMENT" not in BUILTIN["evs"].status.states
    assert 0 in seen["cph"] and "0" not in BUILTIN["cph"].status.states
    assert default_scenario(unknown_statuses=True).tasks[: len(default_scenario().tasks)] == default_scenario().tasks
    assert [t.task_id for t in load_scenario(UNKNOWN_STATUSES_FILE).tasks] == [EVS_UNKNOWN, CPH_ZERO]


# Services whose documents show IDs other than 32 hex: OMS task IDs are int64, SMS tasks, OMS task
# groups and ModelArts training jobs are UUIDs.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DOCUMENTED_IDS = {
    "oms": re.compile(r"[1-9][0-9]{0,18}"),
    "sms": _UUID,
    "oms_group": _UUID,
    "modelarts": _UUID,
    "iotda": re.compile(r"[0-9a-f]{24}"),  # ShowBatchTask's task_id: 24 hex characters
    "mpc": re.compile(r"[1-9][0-9]{0,18}"),  # integers
    "rfs": re.compile(r"[a-z][a-z0-9_-]{0,127}"),  # stack names
    # Named by their parts (job name + instance ID, pipeline ID + run ID, job ID + build number), or by a name
    "dataarts_factory": re.compile(r"[a-z_]+/[0-9]+"),
    "cdm": re.compile(r"[a-z0-9_]+"),
    "codearts_pipeline": re.compile(r"[0-9a-f]{32}/[0-9a-f]{32}"),
    "codearts_build": re.compile(r"[0-9a-f]{32}/[0-9]+"),
    "cce_upgrade": _UUID,
    "as": _UUID,
}


def test_default_scenario_ids_timing_and_special_tasks() -> None:
    scenario = default_scenario()
    for task in scenario.tasks:
        assert HEX32.fullmatch(task.task_id) or DOCUMENTED_IDS[task.cloud_service].fullmatch(task.task_id)
        assert task.project_id == P
        assert task.fault is None
        assert all(p.after <= 120 for job in (task, *task.sub_jobs) for p in job.phases)
    by_id = {t.task_id: t for t in scenario.tasks}
    batch = by_id[EVS_BATCH]
    assert batch.job_type == "batchCreateVolume"
    ends = [s.end_offset for s in batch.sub_jobs]
    assert len(ends) >= 3
    assert len(set(ends)) == len(ends)
    assert [s.phases[-1].status for s in batch.sub_jobs].count("FAIL") == 1
    # A stuck task per service: running for ever, started three hours before the simulator.
    for stuck in (CA_STUCK, DWS_STUCK, EVS_STUCK, CPH_STUCK):
        task = by_id[stuck]
        assert (task.begin, task.end_offset, len(task.phases)) == (-10800, None, 1)
    assert {"codearts_check", "dws", "evs", "cph"} <= {t.cloud_service for t in scenario.tasks}


def test_targets_group_top_level_tasks_by_service_and_project() -> None:
    targets = default_scenario().targets()
    assert [t.cloud_service for t in targets][:4] == ["codearts_check", "dws", "evs", "cph"]
    evs = targets[2]
    assert evs.project_id == P
    assert evs.task_ids == [EVS_OK, EVS_BATCH, EVS_LISTEN, EVS_FAIL, EVS_STUCK]
    cloud_service, project_id, task_ids = targets[0]  # plain tuples work too
    assert (cloud_service, project_id, len(task_ids)) == ("codearts_check", P, 5)


def test_scenario_repr_hides_the_password_and_tokens() -> None:
    text = repr(default_scenario())
    for secret in (DEMO_PASSWORD, DEMO_TOKEN, DEMO_SECRET_KEY, DEMO_TEMP_SECRET_KEY, DEMO_SECURITY_TOKEN):
        assert secret not in text
    assert DEMO_ACCESS_KEY in text  # access keys are not secret


# --- service bodies over time -----------------------------------------------------------------


async def test_codearts_check_bodies_through_the_phases(client: httpx.AsyncClient, sim: Simulator) -> None:
    never = {"task_status": None, "progress": {"ratio": None, "info": None}}
    assert await get_json(client, url("codearts_check", CA_NEVER)) == never
    assert await get_json(client, url("codearts_check", CA_OK)) == never
    sim.advance(30)
    running = {"task_status": 0, "progress": {"ratio": "25%", "info": "running"}}
    assert await get_json(client, url("codearts_check", CA_OK)) == running
    sim.advance(30)  # 60 s
    assert await get_json(client, url("codearts_check", CA_FAIL)) == {
        "task_status": 1,
        "progress": {"ratio": None, "info": None},
    }
    sim.advance(30)  # 90 s
    done = {"task_status": 2, "progress": {"ratio": "100%", "info": "success"}}
    assert await get_json(client, url("codearts_check", CA_OK)) == done
    assert (await get_json(client, url("codearts_check", CA_STOP)))["task_status"] == 3
    sim.advance(100_000)  # final states stay
    assert await get_json(client, url("codearts_check", CA_OK)) == done
    assert await get_json(client, url("codearts_check", CA_NEVER)) == never


async def test_codearts_check_ignores_the_project(client: httpx.AsyncClient) -> None:
    # Its URL has no project; the same ID answers whatever project the exporter has configured.
    body = await get_json(client, f"/v2/tasks/{CA_STUCK}/progress")
    assert body == {"task_status": 0, "progress": {"ratio": "5%", "info": "running"}}


async def test_dws_bodies_through_the_phases(client: httpx.AsyncClient, sim: Simulator) -> None:
    assert await get_json(client, url("dws", DWS_OK)) == {
        "status": "INIT",
        "progress": "0%",
        "job_id": DWS_OK,
        "job_name": "createClusterJob",
        "begin_time": None,
        "end_time": None,
        "failed_code": None,
        "failed_detail": None,
    }
    sim.advance(5)
    assert (await get_json(client, url("dws", DWS_OK)))["status"] == "WAITING"
    assert (await get_json(client, url("dws", DWS_STOP)))["status"] == "DELAY_SCHEDULED"
    sim.advance(10)  # 15 s
    body = await get_json(client, url("dws", DWS_OK))
    assert (body["status"], body["progress"], body["begin_time"], body["end_time"]) == (
        "RUNNING",
        "10%",
        "2023-11-14T22:13:35",
        None,
    )
    sim.advance(25)  # 40 s
    assert await get_json(client, url("dws", DWS_ELB)) == {
        "status": "FAIL",
        "progress": "9%",
        "job_id": DWS_ELB,
        "job_name": "ecfClusterElbCreateJob",
        "begin_time": "2023-11-14T22:13:20",
        "end_time": "2023-11-14T22:14:00",
        "failed_code": "CreateELBTask-fail:DWS.0114",
        "failed_detail": "DWS.0114:ELB private IP is not configured.",
    }
    sim.advance(60)  # 100 s
    body = await get_json(client, url("dws", DWS_OK))
    assert (body["status"], body["progress"], body["end_time"]) == ("SUCCESS", "100%", "2023-11-14T22:15:00")
    assert (await get_json(client, url("dws", DWS_STOP)))["status"] == "STOP"
    error = await get_json(client, url("dws", DWS_ERROR))
    assert (error["status"], error["failed_code"]) == ("ERROR", "ResizeClusterTask-fail:DWS.0001")


async def test_dws_stuck_and_stalled_tasks(client: httpx.AsyncClient, sim: Simulator) -> None:
    stuck = await get_json(client, url("dws", DWS_STUCK))
    assert (stuck["status"], stuck["begin_time"], stuck["end_time"]) == ("RUNNING", "2023-11-14T19:13:20", None)
    sim.advance(20)
    stalled = await get_json(client, url("dws", DWS_STALLED))
    sim.advance(10_000)
    assert await get_json(client, url("dws", DWS_STALLED)) == stalled
    assert stalled["progress"] == "42%"


async def test_evs_single_job_bodies(client: httpx.AsyncClient, sim: Simulator) -> None:
    body = await get_json(client, url("evs", EVS_OK))
    assert set(body) == {
        "status",
        "entities",
        "job_id",
        "job_type",
        "begin_time",
        "end_time",
        "error_code",
        "fail_reason",
    }
    assert (body["status"], body["begin_time"], body["end_time"]) == ("INIT", "", "")
    assert set(body["entities"]) == {"volume_id"}
    sim.advance(5)
    assert (await get_json(client, url("evs", EVS_OK)))["status"] == "WAITING_EXECUTE"
    sim.advance(10)  # 15 s
    body = await get_json(client, url("evs", EVS_OK))
    assert (body["status"], body["begin_time"], body["end_time"]) == ("RUNNING", "2023-11-14T22:13:35.000Z", "")
    assert (body["job_type"], body["error_code"], body["fail_reason"]) == ("createVolume", None, None)
    sim.advance(15)  # 30 s
    assert (await get_json(client, url("evs", EVS_LISTEN)))["status"] == "LISTENING"
    sim.advance(30)  # 60 s
    body = await get_json(client, url("evs", EVS_OK))
    assert (body["status"], body["end_time"]) == ("SUCCESS", "2023-11-14T22:14:20.000Z")
    failed = await get_json(client, url("evs", EVS_FAIL))
    assert (failed["status"], failed["job_type"], failed["error_code"]) == ("FAIL", "deleteVolume", "EVS.5009")
    assert failed["fail_reason"]
    unknown = await get_json(client, url("evs", EVS_UNKNOWN))
    assert (unknown["status"], unknown["end_time"]) == ("PENDING_PAYMENT", "")
    stuck = await get_json(client, url("evs", EVS_STUCK))
    assert (stuck["status"], stuck["begin_time"]) == ("RUNNING", "2023-11-14T19:13:20.000Z")


async def test_evs_batch_job_sub_jobs_finish_at_different_times(client: httpx.AsyncClient, sim: Simulator) -> None:
    def statuses(body: dict[str, Any]) -> list[str]:
        return [s["status"] for s in body["entities"]["sub_jobs"]]

    body = await get_json(client, url("evs", EVS_BATCH))
    assert set(body["entities"]) == {"sub_jobs"}  # batch jobs report nothing else in entities
    assert (body["status"], statuses(body)) == ("INIT", ["INIT"] * 4)
    sim.advance(50)
    body = await get_json(client, url("evs", EVS_BATCH))
    assert (body["status"], statuses(body)) == ("RUNNING", ["SUCCESS", "RUNNING", "RUNNING", "RUNNING"])
    first = body["entities"]["sub_jobs"][0]
    assert (first["end_time"], first["job_type"], set(first["entities"])) == (
        "2023-11-14T22:14:00.000Z",
        "createVolume",
        {"volume_id"},
    )
    sim.advance(50)  # 100 s
    assert statuses(await get_json(client, url("evs", EVS_BATCH))) == ["SUCCESS", "SUCCESS", "RUNNING", "SUCCESS"]
    sim.advance(20)  # 120 s
    body = await get_json(client, url("evs", EVS_BATCH))
    assert (body["status"], statuses(body)) == ("FAIL", ["SUCCESS", "SUCCESS", "FAIL", "SUCCESS"])
    assert body["entities"]["sub_jobs"][2]["error_code"] == "EVS.2024"
    assert body["end_time"] == "2023-11-14T22:15:20.000Z"
    # A sub-job is a job of its own and can be asked for directly.
    sub_id = body["entities"]["sub_jobs"][2]["job_id"]
    assert (await get_json(client, url("evs", sub_id)))["status"] == "FAIL"


async def test_cph_bodies(client: httpx.AsyncClient, sim: Simulator) -> None:
    body = await get_json(client, url("cph", CPH_OK))
    assert HEX32.fullmatch(body.pop("request_id"))
    assert body == {
        "job_id": CPH_OK,
        "begin_time": "2023-11-14T22:13:20Z",
        "end_time": None,
        "status": 1,
        "phone_id": body["phone_id"],
        "error_code": None,
        "error_msg": None,
        "execute_msg": None,
    }
    assert HEX32.fullmatch(body["phone_id"])
    assert (await get_json(client, url("cph", CPH_ZERO)))["status"] == 0
    sim.advance(70)
    assert (await get_json(client, url("cph", CPH_OK)))["end_time"] == "2023-11-14T22:14:10Z"
    failed = await get_json(client, url("cph", CPH_FAIL))
    assert (failed["status"], failed["error_code"], "phone_id" in failed) == (-1, "CPS.0010", False)
    assert failed["server_id"]
    assert failed["error_msg"]
    assert (await get_json(client, url("cph", CPH_ZERO)))["status"] == 2
    assert (await get_json(client, url("cph", CPH_STUCK)))["begin_time"] == "2023-11-14T19:13:20Z"


def required(service: str) -> dict[str, str]:
    """The headers a service's spec requires, each `{uuid}` a new UUID (RFS's Client-Request-Id)."""
    return {name: str(uuid.uuid4()) for name, text in BUILTIN[service].status.headers.items() if text == "{uuid}"}


async def test_every_task_is_final_or_for_ever_the_same_after_two_minutes(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    sim.advance(121)
    before = {}
    for task in sim.scenario.tasks:
        body = await get_json(client, url(task.cloud_service, task.task_id), headers=required(task.cloud_service))
        body.pop("request_id", None)
        before[task.task_id] = body
    sim.advance(86400 * 3)
    for task in sim.scenario.tasks:
        body = await get_json(client, url(task.cloud_service, task.task_id), headers=required(task.cloud_service))
        body.pop("request_id", None)
        assert body == before[task.task_id], task.task_id


# --- IAM and authentication -------------------------------------------------------------------


async def test_iam_login_issues_a_token_that_the_services_accept(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v3/auth/tokens", json=login_body(), headers={"X-Auth-Token": ""})
    assert resp.status_code == 201
    token = resp.headers["X-Subject-Token"]
    body = resp.json()["token"]
    assert body["issued_at"] == "2023-11-14T22:13:20.000000Z"
    assert body["expires_at"] == "2023-11-15T22:13:20.000000Z"
    assert body["methods"] == ["password"]
    assert (body["project"]["id"], body["project"]["name"]) == (P, "cn-north-4")
    assert (body["user"]["name"], body["user"]["domain"]["name"]) == (DEMO_USER, DEMO_DOMAIN)
    assert (body["roles"], body["catalog"]) == ([], [])
    ok = await client.get(url("evs", EVS_OK), headers={"X-Auth-Token": token})
    assert ok.status_code == 200


async def test_iam_login_by_project_name_and_without_catalog(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v3/auth/tokens", params={"nocatalog": "true"}, json=login_body(project={"name": "cn-north-4"})
    )
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert token["project"]["id"] == P
    assert "catalog" not in token


@pytest.mark.parametrize(
    "body",
    [
        login_body(password="wrong"),
        login_body(user="someone-else"),
        login_body(project={"name": "eu-de"}),
    ],
    ids=["password", "user", "unknown-project"],
)
async def test_iam_rejects_wrong_credentials(client: httpx.AsyncClient, sim: Simulator, body: Any) -> None:
    resp = await client.post("/v3/auth/tokens", json=body)
    assert resp.status_code == 401
    error = resp.json()["error"]
    assert (error["code"], error["title"]) == (401, "Unauthorized")
    assert "X-Subject-Token" not in resp.headers
    assert sim.stats.tokens_issued == 0


async def test_iam_wrong_password_message(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v3/auth/tokens", json=login_body(password="wrong"))
    assert resp.json() == {
        "error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}
    }


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"{}",
        b"[]",
        b'{"auth": {"identity": {"methods": ["token"], "password": {}}}}',
        # methods without "password"
        b'{"auth": {"identity": {"methods": [], "password": {"user": {"domain": {"name": "d"}, "name": "u",'
        b' "password": "p"}}}, "scope": {"project": {"id": "x"}}}}',
        # no scope
        b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"domain": {"name": "d"},'
        b' "name": "u", "password": "p"}}}}}',
        # password of the wrong type
        b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"domain": {"name": "d"},'
        b' "name": "u", "password": 5}}}, "scope": {"project": {"id": "x"}}}}',
    ],
)
async def test_iam_rejects_malformed_bodies(client: httpx.AsyncClient, content: bytes) -> None:
    resp = await client.post("/v3/auth/tokens", content=content, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.json() == {"error": {"code": 400, "message": "The request body is invalid", "title": "Bad Request"}}


def assert_apigw_401(resp: httpx.Response) -> None:
    assert resp.status_code == 401
    body = resp.json()
    assert HEX32.fullmatch(body.pop("request_id"))
    assert body == {
        "error_msg": "Incorrect IAM authentication information: token expired or invalid",
        "error_code": "APIGW.0301",
    }


async def test_service_apis_need_a_valid_token(running: RunningSimulator) -> None:
    async with httpx.AsyncClient(base_url=running.url) as c:
        assert_apigw_401(await c.get(url("dws", DWS_OK)))
        assert_apigw_401(await c.get(url("dws", DWS_OK), headers={"X-Auth-Token": "made-up"}))
        # Authentication comes before the task lookup, as at the real gateway.
        assert_apigw_401(await c.get(url("cph", "0" * 32)))
        ok = await c.get(url("dws", DWS_OK), headers={"X-Auth-Token": DEMO_TOKEN})
        assert ok.status_code == 200


async def test_tokens_expire_on_the_simulated_clock() -> None:
    sim = Simulator(default_scenario(), clock=lambda: T0, token_ttl=60)
    async with await start_simulator(sim) as server, httpx.AsyncClient(base_url=server.url) as c:
        resp = await c.post("/v3/auth/tokens", json=login_body())
        assert resp.json()["token"]["expires_at"] == "2023-11-14T22:14:20.000000Z"
        headers = {"X-Auth-Token": resp.headers["X-Subject-Token"]}
        assert (await c.get(url("evs", EVS_OK), headers=headers)).status_code == 200
        assert (await c.post("/_sim/advance", params={"seconds": 59})).status_code == 200
        assert (await c.get(url("evs", EVS_OK), headers=headers)).status_code == 200
        await c.post("/_sim/advance", params={"seconds": 1})
        assert_apigw_401(await c.get(url("evs", EVS_OK), headers=headers))
        # A fresh login works again, and the static token never expires.
        renewed = await c.post("/v3/auth/tokens", json=login_body())
        fresh = {"X-Auth-Token": renewed.headers["X-Subject-Token"]}
        assert (await c.get(url("evs", EVS_OK), headers=fresh)).status_code == 200
        assert (await c.get(url("evs", EVS_OK), headers={"X-Auth-Token": DEMO_TOKEN})).status_code == 200
        assert sim.stats.tokens_issued == 2


async def test_require_auth_false_accepts_anything() -> None:
    sim = Simulator(default_scenario(), clock=lambda: T0, require_auth=False)
    async with await start_simulator(sim) as server, httpx.AsyncClient(base_url=server.url) as c:
        assert (await c.get(url("evs", EVS_OK))).status_code == 200


async def test_scenario_static_tokens_and_user_are_configurable() -> None:
    scenario = parse_scenario(
        {
            "iam": {"domain": "acme", "user": "ops", "password": "s3cret"},
            "static_tokens": ["tok-a"],
            "tasks": [{"cloud_service": "cph", "task_id": "job1", "phases": [{"after": 0, "status": 1}]}],
        }
    )
    async with await start_simulator(Simulator(scenario)) as server, httpx.AsyncClient(base_url=server.url) as c:
        assert (await c.get(url("cph", "job1"), headers={"X-Auth-Token": "tok-a"})).status_code == 200
        assert_apigw_401(await c.get(url("cph", "job1"), headers={"X-Auth-Token": DEMO_TOKEN}))
        body = login_body(password="s3cret", user="ops")
        body["auth"]["identity"]["password"]["user"]["domain"]["name"] = "acme"
        assert (await c.post("/v3/auth/tokens", json=body)).status_code == 201
        assert (await c.post("/v3/auth/tokens", json=login_body())).status_code == 401


# --- AK/SK signatures, temporary credentials, the AK lock --------------------------------------

SIGNATURE_FAIL = "Incorrect IAM authentication information: verify aksk signature fail"
LOCKED = "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden"
TOKEN_MISSING = "Incorrect IAM authentication information: X-Security-Token is required for temporary credentials"
TOKEN_UNSIGNED = "Incorrect IAM authentication information: X-Security-Token must be a signed header"
TOKEN_INVALID = "Incorrect IAM authentication information: verify security token fail"
WRONG_SK = "WrongSecretKeyWrongSecretKeyWrongSecret0"
UNKNOWN_AK = "UNKNOWNAKSIMULATOR00"
SECRETS = (DEMO_SECRET_KEY, DEMO_TEMP_SECRET_KEY, DEMO_SECURITY_TOKEN, WRONG_SK)


def signed_client(
    server: RunningSimulator,
    access_key: str = DEMO_ACCESS_KEY,
    secret_key: str = DEMO_SECRET_KEY,
    *,
    security_token: str | None = None,
    clock: Callable[[], float] = lambda: T0,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """An exporter-like client: AkSkAuth with its own clock (T0 unless told), whatever the simulator's."""
    auth = AkSkAuth(access_key, secret_key, security_token=security_token, project_id=P, clock=clock)
    return httpx.AsyncClient(base_url=server.url, auth=auth, verify=verify)


def temp_client(server: RunningSimulator, **kwargs: Any) -> httpx.AsyncClient:
    return signed_client(server, DEMO_TEMP_ACCESS_KEY, DEMO_TEMP_SECRET_KEY, **kwargs)


def assert_gateway_401(resp: httpx.Response, code: str, message: str) -> None:
    """A 401 in the API gateway's shape that gives away no secret and no signature."""
    assert resp.status_code == 401, resp.text
    body = resp.json()
    request_id = body.pop("request_id")
    assert HEX32.fullmatch(request_id)
    assert resp.headers["X-Request-Id"] == request_id
    assert body == {"error_msg": message, "error_code": code}
    for secret in SECRETS:
        assert secret not in resp.text
    signature = resp.request.headers.get("Authorization", "").rpartition("Signature=")[2]
    if signature:
        assert signature not in resp.text


async def test_signed_requests_are_accepted_on_real_clocks() -> None:
    # Both sides on the wall clock, as in production.
    sim = Simulator(default_scenario())
    async with await start_simulator(sim) as server:
        async with signed_client(server, clock=time.time) as c:
            for cloud_service, task_id in (("codearts_check", CA_OK), ("dws", DWS_OK), ("evs", EVS_OK)):
                assert (await c.get(url(cloud_service, task_id))).status_code == 200
            # The query is part of the signature; the route ignores it.
            resp = await c.get(url("cph", CPH_OK), params={"b": "x y/z", "a": ["2", "1"], "empty": ""})
            assert resp.status_code == 200, resp.text
        async with temp_client(server, security_token=DEMO_SECURITY_TOKEN, clock=time.time) as c:
            assert (await get_json(c, url("evs", EVS_OK)))["job_id"] == EVS_OK
    assert sim.stats.aksk_accepted == {DEMO_ACCESS_KEY: 4, DEMO_TEMP_ACCESS_KEY: 1}
    assert sim.stats.auth_failures == 0
    assert sim.ak_state(DEMO_ACCESS_KEY) == (0, None)


async def test_wrong_secret_key(running: RunningSimulator, sim: Simulator) -> None:
    async with signed_client(running, secret_key=WRONG_SK) as c:
        assert_gateway_401(await c.get(url("dws", DWS_OK)), "APIGW.0301", SIGNATURE_FAIL)
        # Authentication comes before the task lookup.
        assert_gateway_401(await c.get(url("dws", "0" * 32)), "APIGW.0301", SIGNATURE_FAIL)
    assert sim.ak_state(DEMO_ACCESS_KEY) == (2, None)
    assert sim.stats.auth_failures == 2
    assert sim.stats.by_status == {"401": 2}


async def test_unknown_access_key_is_never_locked(running: RunningSimulator, sim: Simulator) -> None:
    message = "Incorrect IAM authentication information: Get secretKey failed,ak:UNKN******,err:ak not exist"
    async with signed_client(running, UNKNOWN_AK, DEMO_SECRET_KEY) as c:
        for _ in range(8):
            assert_gateway_401(await c.get(url("evs", EVS_OK)), "APIGW.0301", message)
    # AK and SK swapped in a client's configuration: the "access key" is a secret and is not shown.
    async with signed_client(running, DEMO_SECRET_KEY, DEMO_ACCESS_KEY) as c:
        resp = await c.get(url("evs", EVS_OK))
        assert_gateway_401(resp, "APIGW.0301", message.replace("UNKN", DEMO_SECRET_KEY[:4]))
    assert sim.ak_state(UNKNOWN_AK) == (0, None)
    assert sim.stats.max_consecutive_auth_failures == {}
    assert sim.stats.auth_failures == 9


def hand_signed(server: RunningSimulator, path: str, access_key: str, secret_key: str) -> dict[str, str]:
    """Headers for a GET of ``path`` that sign only Host and X-Sdk-Date (at T0)."""
    host = f"127.0.0.1:{server.port}"
    headers = {"Host": host, "X-Sdk-Date": format_sdk_date(T0)}
    headers["Authorization"] = sign("GET", httpx.URL(f"http://{host}{path}"), headers, b"", access_key, secret_key)
    return headers


async def test_malformed_signed_requests(running: RunningSimulator, sim: Simulator) -> None:
    path = url("evs", EVS_OK)
    async with httpx.AsyncClient(base_url=running.url) as c:
        # The smallest signature the gateway takes: Host and X-Sdk-Date only.
        ok = await c.get(path, headers=hand_signed(running, path, DEMO_ACCESS_KEY, DEMO_SECRET_KEY))
        assert ok.status_code == 200, ok.text
        garbage = await c.get(path, headers={"Authorization": "SDK-HMAC-SHA256 nonsense"})
        assert_gateway_401(
            garbage,
            "APIGW.0301",
            f"{SIGNATURE_FAIL}, the Authorization header is not "
            "'SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...'",
        )
        headers = hand_signed(running, path, DEMO_ACCESS_KEY, DEMO_SECRET_KEY)
        headers["Authorization"] = headers["Authorization"].replace(
            "SignedHeaders=host;x-sdk-date", "SignedHeaders=host"
        )
        unsigned_date = await c.get(path, headers=headers)
        assert_gateway_401(unsigned_date, "APIGW.0301", f"{SIGNATURE_FAIL}, SignedHeaders must include 'x-sdk-date'")
        # Another scheme in Authorization is not AK/SK: the token check answers.
        other = await c.get(path, headers={"Authorization": "Bearer x", "X-Auth-Token": DEMO_TOKEN})
        assert other.status_code == 200
    # Only the malformed request that names a known key counts against that key.
    assert sim.ak_state(DEMO_ACCESS_KEY) == (1, None)
    assert sim.stats.auth_failures == 2


async def test_temporary_credentials_need_their_signed_security_token(
    running: RunningSimulator, sim: Simulator
) -> None:
    path = url("cph", CPH_OK)
    async with temp_client(running, security_token=DEMO_SECURITY_TOKEN) as c:
        assert (await c.get(path)).status_code == 200
    async with temp_client(running) as c:
        assert_gateway_401(await c.get(path), "APIGW.0301", TOKEN_MISSING)
    async with temp_client(running, security_token=DEMO_SECURITY_TOKEN[:-1] + "x") as c:
        assert_gateway_401(await c.get(path), "APIGW.0301", TOKEN_INVALID)
    async with httpx.AsyncClient(base_url=running.url) as c:
        headers = hand_signed(running, path, DEMO_TEMP_ACCESS_KEY, DEMO_TEMP_SECRET_KEY)
        headers["X-Security-Token"] = DEMO_SECURITY_TOKEN  # sent, but not signed
        assert_gateway_401(await c.get(path, headers=headers), "APIGW.0301", TOKEN_UNSIGNED)
    # A permanent key needs no token; the temporary key's secret does not sign for the permanent one.
    async with signed_client(running, DEMO_ACCESS_KEY, DEMO_TEMP_SECRET_KEY) as c:
        assert_gateway_401(await c.get(path), "APIGW.0301", SIGNATURE_FAIL)
    assert sim.ak_state(DEMO_TEMP_ACCESS_KEY) == (3, None)
    assert sim.ak_state(DEMO_ACCESS_KEY) == (1, None)


async def test_sdk_date_more_than_15_minutes_off_the_simulated_clock(running: RunningSimulator, sim: Simulator) -> None:
    path = url("dws", DWS_OK)
    async with signed_client(running) as c:  # the client's clock stays at T0
        sim.advance(900)
        assert (await c.get(path)).status_code == 200  # 15 minutes exactly is still fine
        sim.advance(60)
        assert_gateway_401(
            await c.get(path),
            "APIGW.0303",
            "Incorrect app authentication information: signature expired, "
            "signature time:20231114T221320Z,server time:20231114T222920Z",
        )
    # A client clock ahead of the server is as bad as one behind it.
    async with signed_client(running, clock=lambda: T0 + 960 + 901) as c:
        resp = await c.get(path)
        assert resp.json()["error_code"] == "APIGW.0303"
    async with signed_client(running, clock=lambda: T0 + 960 + 899) as c:
        assert (await c.get(path)).status_code == 200
    assert sim.stats.auth_failures == 2


RIGHT_CREDENTIALS: dict[str, dict[str, Any]] = {
    DEMO_ACCESS_KEY: {"secret_key": DEMO_SECRET_KEY},
    DEMO_TEMP_ACCESS_KEY: {"secret_key": DEMO_TEMP_SECRET_KEY, "security_token": DEMO_SECURITY_TOKEN},
}
FAILURE_KINDS: dict[str, tuple[dict[str, Any], str, str]] = {
    "wrong secret key": ({"secret_key": WRONG_SK}, "APIGW.0301", SIGNATURE_FAIL),
    "stale X-Sdk-Date": ({"clock": lambda: T0 - 16 * 60}, "APIGW.0303", "Incorrect app authentication information"),
    "missing security token": (
        {"access_key": DEMO_TEMP_ACCESS_KEY, "secret_key": DEMO_TEMP_SECRET_KEY},
        "APIGW.0301",
        TOKEN_MISSING,
    ),
    "wrong security token": (
        {"access_key": DEMO_TEMP_ACCESS_KEY, "secret_key": DEMO_TEMP_SECRET_KEY, "security_token": "wrong-token"},
        "APIGW.0301",
        TOKEN_INVALID,
    ),
}


@pytest.mark.parametrize("kind", FAILURE_KINDS)
async def test_more_than_five_consecutive_failures_lock_the_access_key(
    running: RunningSimulator, sim: Simulator, kind: str
) -> None:
    failing, code, message = FAILURE_KINDS[kind]
    access_key = failing.get("access_key", DEMO_ACCESS_KEY)
    right = RIGHT_CREDENTIALS[access_key]
    path = url("evs", EVS_OK)
    async with signed_client(running, **failing) as bad, signed_client(running, access_key, **right) as good:
        for i in range(1, 7):
            resp = await bad.get(path)
            assert resp.status_code == 401
            assert (resp.json()["error_code"], resp.json()["error_msg"].startswith(message)) == (code, True)
            assert sim.ak_state(access_key) == (i, None if i <= 5 else T0 + 300)
        # The 7th request is refused even with the right credentials, and so is another bad one.
        assert_gateway_401(await good.get(path), "APIGW.0301", LOCKED)
        assert_gateway_401(await bad.get(path), "APIGW.0301", LOCKED)
        assert sim.ak_state(access_key) == (6, T0 + 300)  # refusals while locked do not extend the lock
    # The other key, and tokens, are not affected.
    other = DEMO_TEMP_ACCESS_KEY if access_key == DEMO_ACCESS_KEY else DEMO_ACCESS_KEY
    async with signed_client(running, other, **RIGHT_CREDENTIALS[other]) as c:
        assert (await c.get(path)).status_code == 200
    async with httpx.AsyncClient(base_url=running.url, headers={"X-Auth-Token": DEMO_TOKEN}) as c:
        assert (await c.get(path)).status_code == 200
        stats = await get_json(c, "/_sim/stats")
    assert (sim.stats.auth_failures, sim.stats.ak_locked_rejections) == (8, 2)
    assert sim.stats.max_consecutive_auth_failures == {access_key: 6}
    assert stats["max_consecutive_auth_failures"] == {access_key: 6}
    assert stats["aksk_accepted"] == {other: 1}


async def test_the_lock_ends_after_300_simulated_seconds(running: RunningSimulator, sim: Simulator) -> None:
    path = url("dws", DWS_OK)
    async with signed_client(running, secret_key=WRONG_SK) as bad, signed_client(running) as good:
        for _ in range(6):
            await bad.get(path)
        sim.advance(299)
        assert_gateway_401(await good.get(path), "APIGW.0301", LOCKED)
        assert sim.ak_state(DEMO_ACCESS_KEY) == (6, T0 + 300)
        sim.advance(1)
        assert sim.ak_state(DEMO_ACCESS_KEY) == (0, None)
        assert (await good.get(path)).status_code == 200
        # The count starts again from zero.
        assert_gateway_401(await bad.get(path), "APIGW.0301", SIGNATURE_FAIL)
        assert sim.ak_state(DEMO_ACCESS_KEY) == (1, None)
    assert sim.stats.max_consecutive_auth_failures[DEMO_ACCESS_KEY] == 6


async def test_a_success_resets_the_failure_count(running: RunningSimulator, sim: Simulator) -> None:
    path = url("cph", CPH_OK)
    async with signed_client(running, secret_key=WRONG_SK) as bad, signed_client(running) as good:
        for _ in range(2):
            for _ in range(5):
                assert (await bad.get(path)).status_code == 401
            assert sim.ak_state(DEMO_ACCESS_KEY) == (5, None)
            assert (await good.get(path)).status_code == 200
            assert sim.ak_state(DEMO_ACCESS_KEY) == (0, None)
    assert sim.stats.max_consecutive_auth_failures == {DEMO_ACCESS_KEY: 5}
    assert (sim.stats.auth_failures, sim.stats.ak_locked_rejections) == (10, 0)
    assert sim.stats.aksk_accepted[DEMO_ACCESS_KEY] == 2


async def test_require_auth_false_ignores_signatures() -> None:
    sim = Simulator(default_scenario(), clock=lambda: T0, require_auth=False)
    async with await start_simulator(sim) as server, signed_client(server, secret_key=WRONG_SK) as c:
        assert (await c.get(url("evs", EVS_OK))).status_code == 200
    assert sim.stats.auth_failures == 0


# --- HTTPS ------------------------------------------------------------------------------------


async def test_https_with_a_private_ca() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    sim = Simulator(default_scenario(), clock=lambda: T0)
    async with await start_simulator(sim, ssl_context=server_context) as server:
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+", server.url)
        trusting = ssl.create_default_context()
        ca.configure_trust(trusting)
        async with signed_client(server, verify=trusting) as c:
            assert (await get_json(c, url("evs", EVS_OK)))["status"] == "INIT"
        # The system trust store does not know the CA.
        async with signed_client(server) as c:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await c.get(url("evs", EVS_OK))
    assert sim.stats.aksk_accepted == {DEMO_ACCESS_KEY: 1}


# --- access keys in scenarios -----------------------------------------------------------------


def test_default_access_keys_look_like_real_ones() -> None:
    scenario = default_scenario()
    assert scenario.access_keys == DEFAULT_ACCESS_KEYS
    assert [(k.access_key, k.security_token) for k in scenario.access_keys] == [
        (DEMO_ACCESS_KEY, None),
        (DEMO_TEMP_ACCESS_KEY, DEMO_SECURITY_TOKEN),
    ]
    for key in (DEMO_ACCESS_KEY, DEMO_TEMP_ACCESS_KEY):
        assert re.fullmatch(r"[A-Z0-9]{20}", key)
    for secret in (DEMO_SECRET_KEY, DEMO_TEMP_SECRET_KEY):
        assert re.fullmatch(r"[A-Za-z0-9]{40}", secret)
    assert len(DEMO_SECURITY_TOKEN) > 500


async def test_yaml_access_keys_are_served(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "access_keys:\n"
        "  - {access_key: MYAK0000000000000001, secret_key: my-secret}\n"
        "  - {access_key: MYTEMPAK000000000001, secret_key: temp-secret, security_token: tok-123}\n" + _task_yaml()
    )
    scenario = load_scenario(path)
    assert [k.access_key for k in scenario.access_keys] == ["MYAK0000000000000001", "MYTEMPAK000000000001"]
    text = repr(scenario)
    assert "MYAK0000000000000001" in text
    for secret in ("my-secret", "temp-secret", "tok-123"):
        assert secret not in text
    sim = Simulator(scenario, clock=lambda: T0)
    async with await start_simulator(sim) as server:
        async with signed_client(server, "MYAK0000000000000001", "my-secret") as c:
            assert (await c.get(url("evs", "t1"))).status_code == 200
        async with signed_client(server, "MYTEMPAK000000000001", "temp-secret", security_token="tok-123") as c:
            assert (await c.get(url("evs", "t1"))).status_code == 200
        async with signed_client(server) as c:  # the defaults are gone
            assert "err:ak not exist" in (await c.get(url("evs", "t1"))).json()["error_msg"]
    assert parse_scenario({"access_keys": [], "tasks": [raw_task()]}).access_keys == ()


def raw_task() -> dict[str, Any]:
    return {"cloud_service": "evs", "task_id": "t1", "phases": [{"after": 0, "status": "RUNNING"}]}


@pytest.mark.parametrize(
    ("access_keys", "message"),
    [
        ({"a": "b"}, "access_keys: expected a list, got dict"),
        (["AK"], "access_keys[0]: expected a mapping with string keys, got str"),
        ([{"access_key": "AK1"}], "access_keys[0]: missing required key 'secret_key'"),
        (
            [{"access_key": "AK1", "secret_key": "s", "token": "t"}],
            "access_keys[0]: unknown key 'token'; expected one of: access_key, secret_key, security_token",
        ),
        ([{"access_key": "a b", "secret_key": "s"}], "access_keys[0].access_key: expected 1-128 letters, digits"),
        ([{"access_key": "A" * 129, "secret_key": "s"}], "access_keys[0].access_key: expected 1-128 letters"),
        ([{"access_key": 7, "secret_key": "s"}], "access_keys[0].access_key: expected 1-128 letters, digits"),
        (
            [{"access_key": "AK1", "secret_key": "s"}, {"access_key": "AK1", "secret_key": "t"}],
            "access_keys[1].access_key: duplicate access key AK1 (also access_keys[0])",
        ),
        ([{"access_key": "AK1", "secret_key": 12345}], "access_keys[0].secret_key: expected a string, got int"),
        ([{"access_key": "AK1", "secret_key": ""}], "access_keys[0].secret_key: expected a non-empty string"),
        (
            [{"access_key": "AK1", "secret_key": "s", "security_token": None}],
            "access_keys[0].security_token: expected a string, got null",
        ),
    ],
)
def test_access_key_errors(access_keys: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario({"access_keys": access_keys, "tasks": [raw_task()]})


@pytest.mark.parametrize("secret", [" padded-secret-value", "tab\tsecret-value", "nön-ascii-secret-value"])
def test_access_key_errors_do_not_show_the_secret(secret: str) -> None:
    for field_name in ("secret_key", "security_token"):
        entry = {"access_key": "AK1", "secret_key": "fine", field_name: secret}
        with pytest.raises(ScenarioError) as info:
            parse_scenario({"access_keys": [entry], "tasks": [raw_task()]})
        assert f"access_keys[0].{field_name}: expected a non-empty string of printable ASCII" in str(info.value)
        assert "secret-value" not in str(info.value)


# --- not found and unknown paths --------------------------------------------------------------


async def test_not_found_answers_per_service(client: httpx.AsyncClient) -> None:
    missing = "f" * 32
    assert await get_json(client, url("evs", missing), 404) == {
        "error": {"message": f"Job {missing} does not exist.", "code": "EVS.7001"}
    }
    assert await get_json(client, url("dws", missing), 404) == {
        "error_code": "DWS.0015",
        "error_msg": "The job does not exist.",
    }
    cph = await get_json(client, url("cph", missing), 400)
    assert HEX32.fullmatch(cph.pop("request_id"))
    assert cph == {"error_code": "CPS.0005", "error_msg": "The job does not exist."}
    assert await get_json(client, url("codearts_check", missing), 200) == {  # CC.0005xxxx come with 200
        "error_code": "CC.00050013",
        "error_msg": "project not exist",
    }
    # A known task asked for under another project does not exist there.
    assert (await client.get(url("dws", DWS_OK, project="a" * 32))).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/x/volumes"), ("GET", "/"), ("POST", f"/v1/{P}/jobs/{EVS_OK}"), ("GET", "/v3/auth/tokens")],
)
async def test_unknown_apis_get_the_gateway_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    resp = await client.request(method, path)
    assert resp.status_code == 404
    body = resp.json()
    assert HEX32.fullmatch(body.pop("request_id"))
    assert body == {
        "error_code": "APIGW.0101",
        "error_msg": "The API does not exist or has not been published in the environment",
    }


# --- faults -----------------------------------------------------------------------------------


def fault_scenario() -> Scenario:
    running = [{"after": 0, "status": "RUNNING"}]
    tasks: list[dict[str, Any]] = [
        {"cloud_service": "evs", "task_id": kind, "fault": kind, "phases": running}
        for kind in ("throttle", "server_error", "timeout", "malformed", "wrong_shape")
    ]
    tasks += [
        {"cloud_service": "dws", "task_id": "server_error", "fault": "server_error", "phases": running},
        {
            "cloud_service": "cph",
            "task_id": "server_error",
            "fault": "server_error",
            "phases": [{"after": 0, "status": 1}],
        },
        {
            "cloud_service": "codearts_check",
            "task_id": "server_error",
            "fault": "server_error",
            "phases": [{"after": 0, "status": 0}],
        },
        {"cloud_service": "evs", "task_id": "healthy", "phases": running},
    ]
    return parse_scenario({"tasks": tasks})


@pytest.fixture
async def fault_client() -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    sim = Simulator(fault_scenario(), clock=lambda: T0)
    async with (
        await start_simulator(sim) as server,
        httpx.AsyncClient(base_url=server.url, headers={"X-Auth-Token": DEMO_TOKEN}) as c,
    ):
        yield sim, c


async def test_fault_throttle(fault_client: tuple[Simulator, httpx.AsyncClient]) -> None:
    _, c = fault_client
    body = await get_json(c, url("evs", "throttle"), 429)
    assert HEX32.fullmatch(body.pop("request_id"))
    assert body == {
        "error_msg": "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:1 second",
        "error_code": "APIGW.0308",
    }


async def test_fault_server_error_uses_each_services_shape(fault_client: tuple[Simulator, httpx.AsyncClient]) -> None:
    _, c = fault_client
    assert (await get_json(c, url("evs", "server_error"), 500))["error"]["code"] == "EVS.0001"
    assert (await get_json(c, url("dws", "server_error"), 500))["error_code"] == "DWS.0001"
    cph = await get_json(c, url("cph", "server_error"), 500)
    assert (cph["error_code"], bool(HEX32.fullmatch(cph["request_id"]))) == ("CPS.0001", True)
    assert (await get_json(c, url("codearts_check", "server_error"), 500))["error_code"] == "CC.00000000"


async def test_fault_malformed_and_wrong_shape(fault_client: tuple[Simulator, httpx.AsyncClient]) -> None:
    _, c = fault_client
    resp = await c.get(url("evs", "malformed"))
    assert (resp.status_code, resp.text, resp.headers["content-type"].split(";")[0]) == (
        200,
        '{"status": ',
        "application/json",
    )
    assert await get_json(c, url("evs", "wrong_shape")) == []
    assert (await get_json(c, url("evs", "healthy")))["status"] == "RUNNING"


async def test_fault_timeout_holds_the_request(fault_client: tuple[Simulator, httpx.AsyncClient]) -> None:
    sim, c = fault_client
    with pytest.raises(httpx.ReadTimeout):
        await c.get(url("evs", "timeout"), timeout=0.3)
    assert sim.stats.by_task["timeout"] == 1
    assert sum(sim.stats.by_status.values()) == 0  # never answered
    assert (await get_json(c, url("evs", "healthy")))["status"] == "RUNNING"


async def test_fault_timeout_is_released_when_the_simulator_closes() -> None:
    sim = Simulator(fault_scenario(), clock=lambda: T0)
    server = await start_simulator(sim)
    async with httpx.AsyncClient(base_url=server.url, headers={"X-Auth-Token": DEMO_TOKEN}) as c:
        pending = asyncio.create_task(c.get(url("evs", "timeout"), timeout=30))
        deadline = time.monotonic() + 20
        while sim.stats.by_task["timeout"] == 0:
            assert time.monotonic() < deadline, "the request never reached the simulator"
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await server.close()
        resp = await pending
        assert time.monotonic() - started < 10  # released, not held for the fault's minute
        assert resp.status_code == 200  # answered normally once released


async def test_global_fault_switch(fault_client: tuple[Simulator, httpx.AsyncClient]) -> None:
    sim, c = fault_client
    assert (await c.post("/_sim/fault", params={"kind": "throttle"})).json() == {"fault": "throttle"}
    assert (await c.get(url("evs", "healthy"))).status_code == 429
    assert (await c.get(url("evs", "no-such-task"))).status_code == 429  # the gateway throttles first
    assert (await c.post("/v3/auth/tokens", json=login_body())).status_code == 201  # IAM is not a service API
    await c.post("/_sim/fault", params={"kind": "server_error"})
    assert (await get_json(c, url("dws", "server_error"), 500))["error_code"] == "DWS.0001"
    assert (await get_json(c, url("evs", "healthy"), 500))["error"]["code"] == "EVS.0001"
    await c.post("/_sim/fault", params={"kind": "none"})
    assert sim.fault is None
    assert (await c.get(url("evs", "healthy"))).status_code == 200
    resp = await c.post("/_sim/fault", params={"kind": "meteor"})
    assert resp.status_code == 400
    assert "unknown fault kind 'meteor'" in resp.json()["error"]


# --- admin, stats, latency, benchmarks --------------------------------------------------------


async def test_advance_endpoint_moves_time_and_rejects_bad_values(client: httpx.AsyncClient, sim: Simulator) -> None:
    resp = await client.post("/_sim/advance", params={"seconds": "90.5"})
    assert resp.json() == {"now": T0 + 90.5, "elapsed": 90.5}
    assert (await get_json(client, url("codearts_check", CA_OK)))["task_status"] == 2
    for bad in ("-1", "abc", "nan", "inf", ""):
        assert (await client.post("/_sim/advance", params={"seconds": bad})).status_code == 400
    assert sim.elapsed() == 90.5
    with pytest.raises(ValueError, match="finite number >= 0"):
        sim.advance(-5)


async def test_stats_count_requests_by_task_and_status(client: httpx.AsyncClient, sim: Simulator) -> None:
    await client.get(url("evs", EVS_OK))
    await client.get(url("evs", EVS_OK))
    await client.get(url("dws", "f" * 32))
    await client.get(url("cph", CPH_OK), headers={"X-Auth-Token": "bad"})
    await client.get("/nowhere")
    await client.post("/v3/auth/tokens", json=login_body())
    await client.get(f"/v1/{P}/cloud-phone/jobs", params={"request_id": RID0})
    await client.get(f"/v2/{CAP}/tasks", params={"limit": 0})
    expected = {
        "requests_total": 8,
        "by_task": {EVS_OK: 2, "f" * 32: 1, CPH_OK: 1},
        "by_status": {"200": 3, "404": 2, "401": 1, "201": 1, "400": 1},
        "tokens_issued": 1,
        "auth_failures": 1,
        "ak_locked_rejections": 0,
        "aksk_accepted": {},
        "max_consecutive_auth_failures": {},
        "list_requests": {"cph": 1, "codearts_check": 1},
        "list_values": {},
        "faults": {},
    }
    assert await get_json(client, "/_sim/stats") == expected
    assert sim.stats.to_json() == expected  # the admin request itself is not counted
    assert (sim.stats.requests_total, sim.stats.by_task[EVS_OK], sim.stats.by_status["404"]) == (8, 2, 2)


async def test_targets_endpoint(client: httpx.AsyncClient) -> None:
    targets = await get_json(client, "/_sim/targets")
    assert targets[1] == {
        "cloud_service": "dws",
        "project_id": P,
        "task_ids": [DWS_OK, DWS_ELB, DWS_STOP, DWS_ERROR, DWS_STUCK, DWS_STALLED],
    }


async def test_latency_delays_service_answers_but_they_overlap() -> None:
    sim = Simulator(default_scenario(), latency=0.5)
    async with (
        await start_simulator(sim) as server,
        httpx.AsyncClient(base_url=server.url, headers={"X-Auth-Token": DEMO_TOKEN}) as c,
    ):
        started = time.monotonic()
        responses = await asyncio.gather(*(c.get(url("evs", EVS_OK)) for _ in range(10)))
        took = time.monotonic() - started
    assert all(r.status_code == 200 for r in responses)
    assert 0.5 <= took < 3.0  # ten serial answers would take 5 s; 2.5 s of room for a loaded machine


async def test_extra_running_tasks_for_benchmarks() -> None:
    sim = Simulator(default_scenario(), extra_running_tasks=3)
    assert bench_task_id(0) == "be7c" + "0" * 28
    assert bench_task_id(255) == "be7c" + "0" * 26 + "ff"
    evs = next(t for t in sim.scenario.targets() if t.cloud_service == "evs")
    assert evs.task_ids[-3:] == [bench_task_id(i) for i in range(3)]
    async with (
        await start_simulator(sim) as server,
        httpx.AsyncClient(base_url=server.url, headers={"X-Auth-Token": DEMO_TOKEN}) as c,
    ):
        sim.advance(86400)
        body = await get_json(c, url("evs", bench_task_id(2)))
        assert (body["status"], body["end_time"], body["job_id"]) == ("RUNNING", "", bench_task_id(2))
        assert (await c.get(url("evs", bench_task_id(3)))).status_code == 404


def test_simulator_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="latency"):
        Simulator(latency=-1)
    with pytest.raises(ValueError, match="token_ttl"):
        Simulator(token_ttl=0)
    with pytest.raises(ValueError, match="extra_running_tasks"):
        Simulator(extra_running_tasks=-1)


# --- list APIs: the CodeArts Check task list and CPH ListJobs ---------------------------------


def codearts_list(project: str = CAP) -> str:
    return f"/v2/{project}/tasks"


def cph_list(project: str = P) -> str:
    return f"/v1/{project}/cloud-phone/jobs"


async def get_list(client: httpx.AsyncClient, path: str, params: dict[str, Any], status: int = 200) -> Any:
    resp = await client.get(path, params=params)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    return resp.json()


def ids(items: list[dict[str, Any]], key: str = "task_id") -> list[str]:
    return [item[key] for item in items]


async def test_codearts_task_list_of_the_default_scenario(client: httpx.AsyncClient, sim: Simulator) -> None:
    body = await get_list(client, codearts_list(), {})
    # Newest first; the stuck task was created three hours before the others, which tie (scenario order).
    assert body["total"] == 5
    assert ids(body["tasks"]) == [CA_NEVER, CA_OK, CA_FAIL, CA_STOP, CA_STUCK]
    assert body["tasks"][0] == {
        "task_id": CA_NEVER,
        "task_name": "payment-service",
        "creator_id": DEFAULT_CODEARTS_CREATOR_ID,
        "git_url": "git@codehub.example.com:demo/payment-service.git",
        "git_branch": "master",
        "created_at": "2023-11-14T22:13:20Z",
        "last_check_time": None,
    }
    by_id = {t["task_id"]: t for t in body["tasks"]}
    assert by_id[CA_OK]["last_check_time"] is None  # its first check starts at 10 s
    assert by_id[CA_FAIL]["last_check_time"] == "2023-11-14T22:13:20Z"
    assert (by_id[CA_STUCK]["created_at"], by_id[CA_STUCK]["last_check_time"]) == (
        "2023-11-14T19:13:20Z",
        "2023-11-14T19:13:20Z",
    )
    sim.advance(10)
    body = await get_list(client, codearts_list(), {})
    assert body["tasks"][1]["last_check_time"] == "2023-11-14T22:13:30Z"
    assert body["tasks"][0]["last_check_time"] is None  # never checked, for ever


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": 2}, [CA_NEVER, CA_OK]),
        ({"offset": 2, "limit": 2}, [CA_FAIL, CA_STOP]),  # a page number, not a record offset
        ({"offset": 3, "limit": 2}, [CA_STUCK]),
        ({"offset": 1}, [CA_NEVER, CA_OK, CA_FAIL, CA_STOP, CA_STUCK]),
        ({"offset": 0, "limit": 2}, [CA_NEVER, CA_OK]),  # 0 is the first page too
        ({"limit": 1}, [CA_NEVER]),
        ({"limit": 100}, [CA_NEVER, CA_OK, CA_FAIL, CA_STOP, CA_STUCK]),
        ({"offset": 2}, []),
        ({"offset": 999_999, "limit": 100}, []),
    ],
)
async def test_codearts_task_list_pages(client: httpx.AsyncClient, params: dict[str, Any], expected: list[str]) -> None:
    body = await get_list(client, codearts_list(), params)
    assert (ids(body["tasks"]), body["total"]) == (expected, 5)


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (codearts_list(), {"limit": 0}, "limit must be an integer from 1 to 100"),
        (codearts_list(), {"limit": 101}, "limit must be an integer from 1 to 100"),
        (codearts_list(), {"limit": "ten"}, "limit must be an integer from 1 to 100"),
        (codearts_list(), {"limit": "1.5"}, "limit must be an integer from 1 to 100"),
        (codearts_list(), {"limit": ""}, "limit must be an integer from 1 to 100"),
        (codearts_list(), {"offset": -1}, "offset must be an integer from 0 to 999999"),
        (codearts_list(), {"offset": 1_000_000}, "offset must be an integer from 0 to 999999"),
        (
            "/v2/my-project/tasks",
            {},
            "project_id must be a CodeArts project ID of 32 lowercase hexadecimal characters",
        ),
        (
            codearts_list(CAP.upper()),
            {},
            "project_id must be a CodeArts project ID of 32 lowercase hexadecimal characters",
        ),
    ],
)
async def test_codearts_task_list_rejects_bad_parameters(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], message: str
) -> None:
    body = await get_list(client, path, params, 400)
    assert body == {"error_code": "CC.00000001", "error_msg": f"Invalid parameter: {message}."}


async def test_codearts_task_list_of_an_unknown_or_iam_project_is_empty(client: httpx.AsyncClient) -> None:
    # The path holds CodeArts' project UUID; the IAM project ID (also 32 hex) is just another project.
    for project in ("a" * 32, P):
        assert await get_list(client, codearts_list(project), {}) == {"tasks": [], "total": 0}


def cph_job_body(task_id: str, **changes: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_id": task_id,
        "begin_time": "2023-11-14T22:13:20Z",
        "end_time": None,
        "status": 1,
        "phone_id": uuid.uuid5(uuid.NAMESPACE_OID, task_id).hex,
        "error_code": None,
        "error_msg": None,
        "execute_msg": None,
    }
    return body | changes


async def test_cph_list_jobs_of_one_request(client: httpx.AsyncClient, sim: Simulator) -> None:
    resp = await client.get(cph_list(), params={"request_id": RID0})
    assert resp.status_code == 200
    body = resp.json()
    assert HEX32.fullmatch(body["request_id"])
    assert body["request_id"] == resp.headers["X-Request-Id"]
    assert body["request_id"] not in (RID0, RID1)  # this request's ID, not the listed one
    assert body["jobs"] == [
        cph_job_body(CPH_OK),
        {k: v for k, v in cph_job_body(CPH_FAIL).items() if k != "phone_id"} | {"server_id": "5e7e" + "0" * 27 + "2"},
    ]
    sim.advance(70)
    jobs = (await get_list(client, cph_list(), {"request_id": RID0}))["jobs"]
    assert (jobs[1]["status"], jobs[1]["error_code"], jobs[1]["end_time"]) == (-1, "CPS.0010", "2023-11-14T22:14:30Z")
    # Each listed job is exactly what ShowJob says, without ShowJob's request_id.
    for job in jobs:
        show = await get_json(client, url("cph", job["job_id"]))
        show.pop("request_id")
        assert job == show


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"request_id": RID1}, [CPH_STUCK, CPH_ZERO]),  # in creation order: the stuck job began 3 h ago
        ({"request_ids": f"{RID1},{RID0}"}, [CPH_STUCK, CPH_ZERO, CPH_OK, CPH_FAIL]),
        ({"request_ids": RID0, "request_id": RID1}, [CPH_OK, CPH_FAIL]),  # request_ids wins
        ({"request_ids": "", "request_id": RID1}, [CPH_STUCK, CPH_ZERO]),
        ({"request_ids": f"{RID0},{RID0}"}, [CPH_OK, CPH_FAIL]),
        ({"request_ids": f" {RID0} ,,{RID1}"}, [CPH_OK, CPH_FAIL, CPH_STUCK, CPH_ZERO]),
        ({"request_ids": ",".join([*(f"{i:032x}" for i in range(19)), RID0])}, [CPH_OK, CPH_FAIL]),
        ({"request_ids": ",".join([RID1] * 20)}, [CPH_STUCK, CPH_ZERO]),
        ({"request_id": "f" * 32}, []),
        ({"request_id": f"{RID0},{RID1}"}, []),  # request_id is one ID; only request_ids is split
        ({"request_ids": f"{RID1},{RID0}", "offset": 1, "limit": 2}, [CPH_ZERO, CPH_OK]),
        ({"request_ids": f"{RID1},{RID0}", "offset": 3}, [CPH_FAIL]),
        ({"request_ids": f"{RID1},{RID0}", "limit": 1}, [CPH_STUCK]),
        ({"request_ids": f"{RID1},{RID0}", "offset": 4}, []),
        ({"request_ids": f"{RID1},{RID0}", "offset": 10**6, "limit": 100}, []),
    ],
)
async def test_cph_list_jobs_request_ids_and_pages(
    client: httpx.AsyncClient, params: dict[str, Any], expected: list[str]
) -> None:
    assert ids((await get_list(client, cph_list(), params))["jobs"], "job_id") == expected


async def test_cph_list_jobs_of_another_project_is_empty(client: httpx.AsyncClient) -> None:
    assert (await get_list(client, cph_list("a" * 32), {"request_id": RID0}))["jobs"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "request_id or request_ids is required"),
        ({"request_id": ""}, "request_id or request_ids is required"),
        ({"request_ids": " , "}, "request_id or request_ids is required"),
        ({"offset": 0, "limit": 10}, "request_id or request_ids is required"),
        (
            {"request_ids": ",".join(f"{i:032x}" for i in range(21))},
            "request_ids holds 21 request IDs, at most 20 are allowed",
        ),
        ({"request_ids": ",".join([RID0] * 21)}, "request_ids holds 21 request IDs, at most 20 are allowed"),
        ({"request_id": RID0, "limit": 0}, "limit must be an integer from 1 to 100"),
        ({"request_id": RID0, "limit": 101}, "limit must be an integer from 1 to 100"),
        ({"request_id": RID0, "limit": "x"}, "limit must be an integer from 1 to 100"),
        ({"request_id": RID0, "offset": -1}, "offset must be an integer >= 0"),
        ({"request_id": RID0, "offset": "1e3"}, "offset must be an integer >= 0"),
    ],
)
async def test_cph_list_jobs_rejects_bad_parameters(
    client: httpx.AsyncClient, params: dict[str, Any], message: str
) -> None:
    resp = await client.get(cph_list(), params=params)
    assert resp.status_code == 400
    body = resp.json()
    assert body.pop("request_id") == resp.headers["X-Request-Id"]
    assert body == {"error_code": "CPS.0002", "error_msg": f"Invalid parameter: {message}."}


async def test_list_apis_pass_the_gateway(running: RunningSimulator, sim: Simulator) -> None:
    paths = [(codearts_list(), {}), (cph_list(), {"request_id": RID0})]
    async with httpx.AsyncClient(base_url=running.url) as anonymous:
        for path, params in paths:
            assert_apigw_401(await anonymous.get(path, params=params))
    async with signed_client(running) as signed:
        for path, params in paths:
            assert (await signed.get(path, params=params)).status_code == 200
        sim.set_fault("throttle")
        for path, params in paths:
            assert (await signed.get(path, params=params)).status_code == 429
        sim.set_fault("server_error")
        assert (await get_list(signed, *paths[0], 500))["error_code"] == "CC.00000000"
        assert (await get_list(signed, *paths[1], 500))["error_code"] == "CPS.0001"
    assert sim.stats.list_requests == {"codearts_check": 4, "cph": 4}


# --- generators: tasks created while the simulator runs --------------------------------------

CAP2 = "cafe0000000000000000000000000002"
RIDX = "abcd0000000000000000000000000001"
Q = "aaaabbbbccccddddeeeeffff00001111"
GEN_YAML = f"""
tasks:
  - cloud_service: codearts_check
    task_id: c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0
    codearts_project_id: {CAP2}
    task_name: mobile-app
    creator_id: 00000000000000000000000000000abc
    git_url: https://codehub.example.com/acme/mobile-app.git
    git_branch: develop
    phases: [{{after: 0, status: null}}]
  - cloud_service: cph
    task_id: 6837531fd3f54550927b930180a706bf
    project_id: {Q}
    request_id: {RIDX}
    phases: [{{after: 0, status: 2}}]
generators:
  - {{cloud_service: evs, every: 10, run_for: 30, fail_every: 2, start: 5, stop: 40}}
  - {{cloud_service: codearts_check, every: 20, run_for: 15, fail_every: 3, codearts_project_id: {CAP2}}}
  - {{cloud_service: cph, every: 15, run_for: 20, request_id: {RIDX}, project_id: {Q}}}
  - {{cloud_service: dws, every: 60, run_for: 60}}
  - {{cloud_service: cph, every: 30, run_for: 10}}
"""


def gen_id(cloud_service: str, index: int, n: int) -> str:
    return generated_task_id(cloud_service, index, n)


@pytest.fixture
async def gen_client(tmp_path: Path) -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    path = tmp_path / "generators.yaml"
    path.write_text(GEN_YAML)
    sim = Simulator(load_scenario(path), clock=lambda: T0)
    async with (
        await start_simulator(sim) as server,
        httpx.AsyncClient(base_url=server.url, headers={"X-Auth-Token": DEMO_TOKEN}) as c,
    ):
        yield sim, c


def test_yaml_generators_and_list_fields(tmp_path: Path) -> None:
    path = tmp_path / "generators.yaml"
    path.write_text(GEN_YAML)
    scenario = load_scenario(path)
    assert scenario.generators == (
        TaskGenerator(0, "evs", every=10, run_for=30, fail_every=2, start=5, stop=40),
        TaskGenerator(1, "codearts_check", every=20, run_for=15, fail_every=3, listed_under=CAP2),
        TaskGenerator(2, "cph", every=15, run_for=20, project_id=Q, listed_under=RIDX),
        TaskGenerator(3, "dws", every=60, run_for=60),
        TaskGenerator(4, "cph", every=30, run_for=10),
    )
    assert scenario.projects[Q] == "cn-north-4_aaaabbbb"  # generators' projects can be logged in to
    ca, cph = scenario.tasks
    assert (ca.listed_under, dict(ca.extras)) == (
        CAP2,
        {
            "task_name": "mobile-app",
            "creator_id": "00000000000000000000000000000abc",
            "git_url": "https://codehub.example.com/acme/mobile-app.git",
            "git_branch": "develop",
        },
    )
    assert cph.listed_under == RIDX
    assert scenario.generators[4].list_value == generator_request_id(4)
    assert HEX32.fullmatch(generator_request_id(4))
    # Defaults: the default CodeArts project, and one request ID per CPH job.
    plain = parse_scenario(
        {
            "tasks": [
                {"cloud_service": "codearts_check", "task_id": "t1", "phases": [{"after": 0, "status": 0}]},
                {"cloud_service": "cph", "task_id": "j1", "phases": [{"after": 0, "status": 1}]},
                {"cloud_service": "cph", "task_id": "j2", "phases": [{"after": 0, "status": 1}]},
            ]
        }
    )
    ca, j1, j2 = plain.tasks
    assert (ca.listed_under, ca.extras["task_name"], ca.extras["git_url"]) == (
        CAP,
        "task-t1",
        "git@codehub.example.com:demo/task-t1.git",
    )
    assert HEX32.fullmatch(j1.listed_under) and HEX32.fullmatch(j2.listed_under) and j1.listed_under != j2.listed_under


def test_generated_task_ids() -> None:
    assert gen_id("evs", 0, 1) == "e7506e4e0000" + "0" * 19 + "1"
    assert gen_id("codearts_check", 1, 255) == "c0de6e4e0001" + "0" * 18 + "ff"
    assert gen_id("cph", 0xBEEF, 16**20 - 1) == "ce116e4ebeef" + "f" * 20
    for service, index, n in (("dws", 3, 42), ("cph", 0, 1), ("evs", 65535, 7)):
        task_id = gen_id(service, index, n)
        assert HEX32.fullmatch(task_id)
        assert parse_generated_task_id(service, task_id) == (index, n)
        assert parse_generated_task_id("evs" if service != "evs" else "dws", task_id) is None
    assert parse_generated_task_id("evs", "e7506e4e0000" + "0" * 20) is None  # n counts from 1
    assert parse_generated_task_id("evs", EVS_OK) is None  # the default scenario's IDs are not generated ones
    for bad in ((0, 0), (-1, 1), (0x10000, 1), (0, 16**20)):
        with pytest.raises(ValueError, match="no generated task"):
            generated_task_id("evs", *bad)


def test_generator_schedule_is_exact_in_floating_point() -> None:
    gen = TaskGenerator(0, "evs", every=0.1, run_for=1)
    for k in range(1, 300):
        at = gen.created_offset(k)
        assert gen.count_at(at) == k
        assert gen.count_at(at - 1e-9) == k - 1
    stopped = TaskGenerator(0, "evs", every=10, run_for=1, start=5, stop=35)
    assert [stopped.count_at(t) for t in (0, 4.9, 5, 14.9, 15, 25, 34.9, 35, 10**9)] == [0, 0, 1, 1, 2, 3, 3, 3, 3]
    assert [t.task_id for t in stopped.tasks_at(10**9)] == [gen_id("evs", 0, n) for n in (1, 2, 3)]
    for kwargs, message in (
        ({"every": 0}, "every must be"),
        ({"run_for": math.inf}, "run_for must be"),
        ({"start": -1}, "start must be"),
        ({"stop": 0}, "stop must be"),
        ({"fail_every": 0}, "fail_every must be"),
        ({"cloud_service": "nosuch"}, "unknown cloud service"),
        ({"index": 0x10000}, "generator index"),
    ):
        args: dict[str, Any] = {"index": 0, "cloud_service": "evs", "every": 1, "run_for": 1} | kwargs
        with pytest.raises(ValueError, match=message):
            TaskGenerator(**args)


async def test_generated_evs_jobs_appear_and_finish_over_simulated_time(
    gen_client: tuple[Simulator, httpx.AsyncClient],
) -> None:
    sim, c = gen_client
    first, second, fourth, fifth = (gen_id("evs", 0, n) for n in (1, 2, 4, 5))
    assert (await c.get(url("evs", first))).status_code == 404  # created at 5 s
    sim.advance(5)
    job = await get_json(c, url("evs", first))
    assert (job["status"], job["begin_time"], job["end_time"], job["job_type"]) == (
        "RUNNING",
        "2023-11-14T22:13:25.000Z",
        "",
        "createVolume",
    )
    assert job["entities"]["volume_id"] == str(uuid.uuid5(uuid.NAMESPACE_OID, first))
    sim.advance(30)  # 35 s
    assert (await get_json(c, url("evs", first)))[("status")] == "SUCCESS"
    assert (await get_json(c, url("evs", second)))["status"] == "RUNNING"
    assert (await get_json(c, url("evs", fourth)))["status"] == "RUNNING"  # created at 35 s
    sim.advance(10)  # 45 s: the 2nd job (every 2nd fails) ends
    job = await get_json(c, url("evs", second))
    assert (job["status"], job["error_code"], job["fail_reason"], job["end_time"]) == (
        "FAIL",
        "EVS.2024",
        "Insufficient capacity in the storage pool.",
        "2023-11-14T22:14:05.000Z",
    )
    sim.advance(10_000)
    assert (await get_json(c, url("evs", fourth)))["status"] == "FAIL"
    assert (await c.get(url("evs", fifth))).status_code == 404  # 45 s is after stop (40 s)
    assert (await c.get(url("evs", first, project=Q))).status_code == 404  # only in its own project
    assert (await c.get(url("evs", gen_id("evs", 5, 1)))).status_code == 404  # no such generator
    assert (await c.get(url("dws", gen_id("dws", 0, 1)))).status_code == 404  # generator 0 makes EVS jobs


async def test_generated_codearts_tasks_in_the_status_api_and_the_task_list(
    gen_client: tuple[Simulator, httpx.AsyncClient],
) -> None:
    sim, c = gen_client
    first, second, third = (gen_id("codearts_check", 1, n) for n in (1, 2, 3))
    assert await get_json(c, url("codearts_check", first)) == {
        "task_status": 0,
        "progress": {"ratio": "0%", "info": "running"},
    }
    body = await get_list(c, codearts_list(CAP2), {})
    assert body["total"] == 2
    assert body["tasks"][1] == {
        "task_id": first,
        "task_name": "generated-1-1",
        "creator_id": DEFAULT_CODEARTS_CREATOR_ID,
        "git_url": "git@codehub.example.com:demo/generated-1-1.git",
        "git_branch": "master",
        "created_at": "2023-11-14T22:13:20Z",
        "last_check_time": "2023-11-14T22:13:20Z",
    }
    assert body["tasks"][0]["task_name"] == "mobile-app"  # a tie: scenario tasks first
    assert await get_list(c, codearts_list(), {}) == {"tasks": [], "total": 0}
    sim.advance(15)
    assert (await get_json(c, url("codearts_check", first)))["task_status"] == 2
    sim.advance(25)  # 40 s
    body = await get_list(c, codearts_list(CAP2), {})
    assert (ids(body["tasks"]), body["total"]) == ([third, second, "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0", first], 4)
    assert body["tasks"][0]["created_at"] == body["tasks"][0]["last_check_time"] == "2023-11-14T22:14:00Z"
    sim.advance(15)  # 55 s: the 3rd task (every 3rd fails) ends
    assert await get_json(c, url("codearts_check", third)) == {
        "task_status": 1,
        "progress": {"ratio": None, "info": None},
    }
    sim.advance(180)  # 235 s: tasks at 0, 20, ..., 220
    body = await get_list(c, codearts_list(CAP2), {})
    assert (len(body["tasks"]), body["total"]) == (10, 13)  # the default limit is 10
    assert body["tasks"][0]["task_id"] == gen_id("codearts_check", 1, 12)
    rest = await get_list(c, codearts_list(CAP2), {"offset": 2})
    assert ids(rest["tasks"]) == [gen_id("codearts_check", 1, 2), "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0", first]


async def test_generated_cph_jobs_are_listed_under_their_request_id(
    gen_client: tuple[Simulator, httpx.AsyncClient],
) -> None:
    sim, c = gen_client
    sim.advance(30)
    body = await get_list(c, cph_list(Q), {"request_id": RIDX})
    generated = [gen_id("cph", 2, n) for n in (1, 2, 3)]
    assert ids(body["jobs"], "job_id") == ["6837531fd3f54550927b930180a706bf", *generated]
    assert [j["status"] for j in body["jobs"]] == [2, 2, 1, 1]  # the first generated job ended at 20 s
    for job in body["jobs"]:
        show = await get_json(c, url("cph", job["job_id"], project=Q))
        show.pop("request_id")
        assert job == show
    assert (await get_list(c, cph_list(P), {"request_id": RIDX}))["jobs"] == []  # another project
    assert (await c.get(url("cph", generated[0]))).status_code == 400  # CPH's "not found", in project P
    # Without a request_id the generator's jobs share generator_request_id(index).
    own = await get_list(c, cph_list(P), {"request_ids": f"{generator_request_id(4)},{RIDX}"})
    assert ids(own["jobs"], "job_id") == [gen_id("cph", 4, 1), gen_id("cph", 4, 2)]
    sim.advance(10)
    failing = await get_json(c, url("cph", gen_id("cph", 4, 1)))
    assert (failing["status"], failing["end_time"]) == (2, "2023-11-14T22:13:30Z")


async def test_generated_dws_jobs_report_progress(gen_client: tuple[Simulator, httpx.AsyncClient]) -> None:
    sim, c = gen_client
    sim.advance(30)
    job = await get_json(c, url("dws", gen_id("dws", 3, 1)))
    assert (job["status"], job["progress"], job["job_name"], job["end_time"]) == (
        "RUNNING",
        "50%",
        "createClusterJob",
        None,
    )
    sim.advance(30)
    assert (await get_json(c, url("dws", gen_id("dws", 3, 1))))["status"] == "SUCCESS"
    assert (await get_json(c, url("dws", gen_id("dws", 3, 2))))["progress"] == "0%"


async def test_created_tasks_since(gen_client: tuple[Simulator, httpx.AsyncClient]) -> None:
    sim, c = gen_client
    assert [t.task_id for t in sim.created_tasks()] == [
        gen_id("codearts_check", 1, 1),
        gen_id("cph", 2, 1),
        gen_id("dws", 3, 1),
        gen_id("cph", 4, 1),
    ]
    sim.advance(60)
    assert len(sim.created_tasks()) == 4 + 4 + 5 + 2 + 3
    expected = [
        CreatedTask(T0 + 40, "codearts_check", CAP2, gen_id("codearts_check", 1, 3)),
        CreatedTask(T0 + 45, "cph", Q, gen_id("cph", 2, 4)),
        CreatedTask(T0 + 60, "codearts_check", CAP2, gen_id("codearts_check", 1, 4)),
        CreatedTask(T0 + 60, "cph", Q, gen_id("cph", 2, 5)),
        CreatedTask(T0 + 60, "dws", P, gen_id("dws", 3, 2)),
        CreatedTask(T0 + 60, "cph", P, gen_id("cph", 4, 3)),
    ]
    assert sim.created_tasks(since=T0 + 36) == expected
    created_at, cloud_service, project_id, task_id = expected[0]  # plain tuples work too
    assert (created_at, cloud_service, project_id, task_id) == (T0 + 40, "codearts_check", CAP2, expected[0][3])
    assert sim.created_tasks(since=T0 + 61) == []
    assert await get_json(c, f"/_sim/created?since={T0 + 36}") == [t._asdict() for t in expected]
    assert len(await get_json(c, "/_sim/created")) == 18
    for bad in ("x", "nan", "inf"):
        assert (await c.get("/_sim/created", params={"since": bad})).status_code == 400
    assert sim.stats.requests_total == 0  # admin requests are not counted


async def test_churn_scenario() -> None:
    scenario = churn_scenario()
    assert scenario.tasks == default_scenario().tasks
    assert [(g.cloud_service, g.every, g.run_for, g.fail_every) for g in scenario.generators] == [
        ("evs", 10, 30, 5),
        ("codearts_check", 20, 40, None),
        ("cph", 15, 20, None),
    ]
    assert (scenario.generators[1].list_value, scenario.generators[2].list_value) == (CAP, RID1)
    sim = Simulator(scenario, clock=lambda: T0)
    async with (
        await start_simulator(sim) as server,
        httpx.AsyncClient(base_url=server.url, headers={"X-Auth-Token": DEMO_TOKEN}) as c,
    ):
        sim.advance(60)
        assert (await get_json(c, url("evs", gen_id("evs", 0, 7))))["status"] == "RUNNING"  # created at 60 s
        assert (await c.get(url("evs", gen_id("evs", 0, 8)))).status_code == 404
        sim.advance(10)  # 70 s: the 5th EVS job (created at 40 s) fails, the 4th succeeded at 60 s
        assert (await get_json(c, url("evs", gen_id("evs", 0, 5))))["status"] == "FAIL"
        assert (await get_json(c, url("evs", gen_id("evs", 0, 4))))["status"] == "SUCCESS"
        body = await get_list(c, codearts_list(), {})
        generated = [gen_id("codearts_check", 1, n) for n in (4, 3, 2)]
        assert ids(body["tasks"]) == [
            *generated,
            CA_NEVER,
            CA_OK,
            CA_FAIL,
            CA_STOP,
            gen_id("codearts_check", 1, 1),
            CA_STUCK,
        ]
        # One list call answers for every job of both demo requests; no job is asked for by ID.
        jobs = (await get_list(c, cph_list(), {"request_ids": f"{RID0},{RID1}"}))["jobs"]
        assert ids(jobs, "job_id") == [
            CPH_OK,
            CPH_FAIL,
            CPH_STUCK,
            *(gen_id("cph", 2, n) for n in range(1, 6)),
        ]
        assert [j["status"] for j in jobs[3:]] == [2, 2, 2, 2, 1]  # at 70 s: ended at 20, 35, 50, 65 s
        assert sim.stats.list_requests["cph"] == 1
        assert not any(sim.stats.by_task[j["job_id"]] for j in jobs)
        # Hours later: thousands of tasks, answered page by page.
        sim.advance(3 * 3600)
        seen: list[str] = []
        while page := (await get_list(c, cph_list(), {"request_id": RID1, "offset": len(seen)}))["jobs"]:
            seen += ids(page, "job_id")
        assert len(seen) == 1 + (3 * 3600 + 70) // 15 + 1
        assert len(set(seen)) == len(seen)
        assert (await get_list(c, codearts_list(), {"limit": 1}))["total"] == 5 + (3 * 3600 + 70) // 20 + 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tasks": []}, "tasks: expected at least one task (or a generator)"),
        ({"tasks": [], "generators": {}}, "generators: expected a list, got dict"),
        ({"tasks": [], "generators": [1]}, "generators[0]: expected a mapping with string keys, got int 1"),
        (
            {"tasks": [], "generators": [{"cloud_service": "nosuch", "every": 1, "run_for": 1}]},
            "generators[0].cloud_service: expected one of codearts_check, dws, evs, cph, got 'nosuch'",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "run_for": 1}]},
            "generators[0]: missing required key 'every'",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": 1}]},
            "generators[0]: missing required key 'run_for'",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": 0, "run_for": 1}]},
            "generators[0].every: expected seconds > 0, got 0",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": "10s", "run_for": 1}]},
            "generators[0].every: expected a number, got '10s'",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": 1, "run_for": -1}]},
            "generators[0].run_for: expected seconds > 0, got -1",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": 1, "run_for": 1, "start": -5}]},
            "generators[0].start: expected seconds >= 0, got -5",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": 1, "run_for": 1, "start": 5, "stop": 5}]},
            "generators[0].stop: expected seconds > start (5), got 5",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": 1, "run_for": 1, "fail_every": 0}]},
            "generators[0].fail_every: expected an integer >= 1, got 0",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": 1, "run_for": 1, "fail_every": 2.5}]},
            "generators[0].fail_every: expected an integer >= 1, got 2.5",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": 1, "run_for": 1, "fail_every": True}]},
            "generators[0].fail_every: expected an integer >= 1, got True",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "evs", "every": 1, "run_for": 1, "request_id": RID0}]},
            "generators[0]: unknown key 'request_id'; expected one of: cloud_service, every, run_for, fail_every, "
            "start, stop, project_id",
        ),
        (
            {
                "tasks": [],
                "generators": [{"cloud_service": "cph", "every": 1, "run_for": 1, "codearts_project_id": CAP}],
            },
            "generators[0]: unknown key 'codearts_project_id'; expected one of: cloud_service, every, run_for, "
            "fail_every, start, stop, project_id, request_id",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "cph", "every": 1, "run_for": 1, "request_id": "abc"}]},
            "generators[0].request_id: expected 32 lowercase hexadecimal characters, got 'abc'",
        ),
        (
            {
                "tasks": [],
                "generators": [
                    {"cloud_service": "codearts_check", "every": 1, "run_for": 1, "codearts_project_id": CAP.upper()}
                ],
            },
            f"generators[0].codearts_project_id: expected 32 lowercase hexadecimal characters, got '{CAP.upper()}'",
        ),
        (
            {"tasks": [], "generators": [{"cloud_service": "dws", "every": 1, "run_for": 1, "project_id": "a b"}]},
            "generators[0].project_id: expected an ID of 1-64 letters",
        ),
        (
            {
                "tasks": [
                    {
                        "cloud_service": "codearts_check",
                        "task_id": "t",
                        "codearts_project_id": P[:31],
                        "phases": [{"after": 0, "status": 0}],
                    }
                ]
            },
            f"tasks[0].codearts_project_id: expected 32 lowercase hexadecimal characters, got '{P[:31]}'",
        ),
        (
            {
                "tasks": [
                    {"cloud_service": "cph", "task_id": "t", "request_id": 5, "phases": [{"after": 0, "status": 1}]}
                ]
            },
            "tasks[0].request_id: expected 32 lowercase hexadecimal characters, got 5",
        ),
        (
            {
                "tasks": [
                    {
                        "cloud_service": "evs",
                        "task_id": "t",
                        "request_id": RID0,
                        "phases": [{"after": 0, "status": "INIT"}],
                    }
                ]
            },
            "tasks[0]: unknown key 'request_id'",
        ),
        (
            {
                "tasks": [
                    {
                        "cloud_service": "codearts_check",
                        "task_id": "t",
                        "task_name": 5,
                        "phases": [{"after": 0, "status": 0}],
                    }
                ]
            },
            "tasks[0].task_name: expected a string, got int 5",
        ),
        (
            {
                "tasks": [
                    {"cloud_service": "evs", "task_id": gen_id("evs", 0, 3), "phases": [{"after": 0, "status": "INIT"}]}
                ],
                "generators": [{"cloud_service": "evs", "every": 1, "run_for": 1}],
            },
            f"tasks[0].task_id: {gen_id('evs', 0, 3)} is an ID that generators[0] creates",
        ),
        (
            {
                "tasks": [
                    {
                        "cloud_service": "evs",
                        "task_id": "batch",
                        "phases": [{"after": 0, "status": "RUNNING"}],
                        "sub_jobs": [{"job_id": gen_id("evs", 0, 1), "phases": [{"after": 0, "status": "INIT"}]}],
                    }
                ],
                "generators": [{"cloud_service": "evs", "every": 1, "run_for": 1}],
            },
            f"tasks[0].sub_jobs[0].job_id: {gen_id('evs', 0, 1)} is an ID that generators[0] creates",
        ),
    ],
)
def test_generator_and_list_field_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="s.yaml")
    assert str(info.value).startswith("s.yaml: ")
    assert message in str(info.value)


def test_generated_ids_of_other_generators_or_services_are_free() -> None:
    scenario = parse_scenario(
        {
            "tasks": [
                {"cloud_service": "evs", "task_id": gen_id("evs", 1, 3), "phases": [{"after": 0, "status": "INIT"}]},
                {"cloud_service": "dws", "task_id": gen_id("dws", 0, 3), "phases": [{"after": 0, "status": "INIT"}]},
            ],
            "generators": [{"cloud_service": "evs", "every": 1, "run_for": 1}],
        }
    )
    assert len(scenario.tasks) == 2
    assert parse_scenario({"tasks": [], "generators": [{"cloud_service": "dws", "every": 5, "run_for": 1}]}).tasks == ()


def test_serve_rejects_churn_with_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(_task_yaml())
    with pytest.raises(ValueError, match="churn and scenario_file cannot be combined"):
        serve("127.0.0.1", 0, scenario_file=str(path), churn=True)


# --- YAML scenarios ---------------------------------------------------------------------------

GOOD_YAML = """
iam: {domain: acme, user: ops, password: pw}
static_tokens: [t1, t2]
projects: {aaaabbbbccccddddeeeeffff00001111: eu-de}
tasks:
  - cloud_service: evs
    task_id: 4010a32d535527910153552b492c0002
    project_id: aaaabbbbccccddddeeeeffff00001111
    description: a batch job
    phases: [{after: 0, status: RUNNING}, {after: 30, status: SUCCESS}]
    sub_jobs:
      - job_id: 4010a32d535527910153552b492c0003
        volume_id: vol-1
        phases: [{after: 0, status: RUNNING}, {after: 20, status: SUCCESS}]
  - cloud_service: codearts_check
    task_id: c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0
    fault: wrong_shape
    phases:
      - {after: 0, status: null}
      - {after: 5, status: 0, progress: 12.5}
  - cloud_service: cph
    task_id: 6837531fd3f54550927b930180a706bf
    server_id: srv-1
    begin: -60
    phases: [{after: 0, status: 1}, {after: 10, status: -1, error_code: CPS.0201, error_msg: boom}]
  - cloud_service: dws
    task_id: 2c9080e88459fa44018459fbeb600001
    job_name: myJob
    phases: [{after: 0, status: WAITING}]
"""


def test_load_scenario_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(GOOD_YAML)
    scenario = load_scenario(path)
    assert (scenario.iam_domain, scenario.iam_user, scenario.iam_password) == ("acme", "ops", "pw")
    assert scenario.static_tokens == ("t1", "t2")
    assert scenario.projects == {P: "cn-north-4", "aaaabbbbccccddddeeeeffff00001111": "eu-de"}
    evs, ca, cph, dws = scenario.tasks
    assert (evs.job_type, evs.project_id, evs.description) == (
        "batchCreateVolume",
        "aaaabbbbccccddddeeeeffff00001111",
        "a batch job",
    )
    sub = evs.sub_jobs[0]
    assert (sub.resource_id, sub.end_offset, sub.project_id) == ("vol-1", 20, "aaaabbbbccccddddeeeeffff00001111")
    assert (ca.fault, ca.phases[1].progress, ca.begin_offset) == ("wrong_shape", 12.5, 5)
    assert (cph.resource_key, cph.resource_id, cph.begin_offset, cph.end_offset) == ("server_id", "srv-1", -60, 10)
    assert cph.phases[1].fields == {"error_code": "CPS.0201", "error_msg": "boom"}
    assert (dws.job_name, dws.begin_offset, dws.end_offset) == ("myJob", None, None)
    assert [t.cloud_service for t in scenario.targets()] == ["evs", "codearts_check", "cph", "dws"]


async def test_yaml_scenario_is_served(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(GOOD_YAML)
    sim = Simulator(load_scenario(path), clock=lambda: T0)
    async with (
        await start_simulator(sim) as server,
        httpx.AsyncClient(base_url=server.url, headers={"X-Auth-Token": "t2"}) as c,
    ):
        sim.advance(10)
        body = await get_json(c, url("cph", "6837531fd3f54550927b930180a706bf"))
        assert (body["status"], body["begin_time"], body["end_time"], body["server_id"]) == (
            -1,
            "2023-11-14T22:12:20Z",
            "2023-11-14T22:13:30Z",
            "srv-1",
        )
        job = await get_json(c, url("evs", "4010a32d535527910153552b492c0002", "aaaabbbbccccddddeeeeffff00001111"))
        assert job["entities"]["sub_jobs"][0]["entities"] == {"volume_id": "vol-1"}
        assert await get_json(c, url("codearts_check", "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0")) == []
        dws = await get_json(c, url("dws", "2c9080e88459fa44018459fbeb600001"))
        assert (dws["status"], dws["progress"], dws["begin_time"]) == ("WAITING", None, None)


def _task_yaml(**overrides: str) -> str:
    fields = {
        "cloud_service": "evs",
        "task_id": "t1",
        "phases": "[{after: 0, status: RUNNING}]",
    } | overrides
    return "tasks:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items() if v != "") + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tasks: [", "not valid YAML"),
        ("- 1", "(top level): expected a mapping with string keys, got list"),
        ("tasks: []", "tasks: expected at least one task"),
        (
            "task: []",
            "(top level): unknown key 'task'; expected one of: iam, static_tokens, access_keys, projects, tasks",
        ),
        ("iam: {user: u, pasword: x}\ntasks: []", "iam: unknown key 'pasword'"),
        (
            _task_yaml(cloud_service="nosuch"),
            "tasks[0].cloud_service: expected one of codearts_check, dws, evs, cph",
        ),
        (_task_yaml(task_id=""), "tasks[0]: missing required key 'task_id'"),
        (_task_yaml(task_id="'a/b'"), "tasks[0].task_id: expected an ID of 1-64 letters"),
        (_task_yaml(job_name="x"), "tasks[0]: unknown key 'job_name'; expected one of:"),
        (_task_yaml(fault="slow"), "tasks[0].fault: expected one of throttle, server_error, timeout"),
        (_task_yaml(phases="[]"), "tasks[0].phases: expected at least one phase"),
        (_task_yaml(phases="{after: 0}"), "tasks[0].phases: expected a list, got dict"),
        (
            _task_yaml(phases="[{after: 5, status: RUNNING}]"),
            "tasks[0].phases[0].after: the first phase starts at 0, got 5",
        ),
        (
            _task_yaml(phases="[{after: 0, status: INIT}, {after: 0, status: RUNNING}]"),
            "tasks[0].phases[1].after: must be later than the phase before (0)",
        ),
        (
            _task_yaml(phases="[{after: 0, status: SUCCESS}, {after: 5, status: RUNNING}]"),
            "tasks[0].phases[1]: no phase may follow the final status 'SUCCESS'",
        ),
        (_task_yaml(phases="[{after: 0}]"), "tasks[0].phases[0]: missing required key 'status'"),
        (_task_yaml(phases="[{after: x, status: RUNNING}]"), "tasks[0].phases[0].after: expected a number, got 'x'"),
        (
            _task_yaml(phases="[{after: 0, status: 1}]"),
            "tasks[0].phases[0].status: expected a non-empty string for evs, got 1",
        ),
        (
            _task_yaml(cloud_service="cph", phases="[{after: 0, status: RUNNING}]"),
            "tasks[0].phases[0].status: expected an integer for cph, got 'RUNNING'",
        ),
        (
            _task_yaml(cloud_service="cph", phases="[{after: 0, status: null}]"),
            "tasks[0].phases[0].status: expected an integer for cph, got None",
        ),
        (
            _task_yaml(phases="[{after: 0, status: RUNNING, progress: 5}]"),
            "tasks[0].phases[0]: unknown key 'progress'",
        ),
        (
            _task_yaml(cloud_service="dws", phases="[{after: 0, status: RUNNING, progress: 150}]"),
            "tasks[0].phases[0].progress: expected a percentage 0-100, got 150",
        ),
        (
            _task_yaml(cloud_service="dws", phases="[{after: 0, status: FAIL, failed_code: 7}]"),
            "tasks[0].phases[0].failed_code: expected a string, got int 7",
        ),
        (
            _task_yaml(begin="100", phases="[{after: 0, status: FAIL}]"),
            "tasks[0].begin: the task cannot begin (100) after it ended (0)",
        ),
        (
            _task_yaml(cloud_service="cph", phone_id="a", server_id="b", phases="[{after: 0, status: 1}]"),
            "tasks[0]: a task has phone_id or server_id, not several",
        ),
        (
            _task_yaml(
                phases="[{after: 0, status: SUCCESS}]", sub_jobs="[{job_id: s1, phases: [{after: 0, status: RUNNING}]}]"
            ),
            "tasks[0].sub_jobs[0]: a batch job cannot finish before all its sub-jobs have",
        ),
        (
            _task_yaml(volume_id="v", sub_jobs="[{job_id: s1, phases: [{after: 0, status: RUNNING}]}]"),
            "tasks[0].volume_id: a batch job reports its resources in its sub_jobs only",
        ),
        (
            _task_yaml(sub_jobs="[{job_id: s1, status: RUNNING, phases: [{after: 0, status: RUNNING}]}]"),
            "tasks[0].sub_jobs[0]: unknown key 'status'",
        ),
        (
            "projects: {aaaabbbbccccddddeeeeffff00001111: cn-north-4}\n" + _task_yaml(),
            "projects: project names must be unique",
        ),
        ("projects: {'a b': x}\n" + _task_yaml(), "projects: expected an ID of 1-64 letters"),
        ("static_tokens: [1]\n" + _task_yaml(), "static_tokens[0]: expected a non-empty string, got int 1"),
        ("static_tokens: ['']\n" + _task_yaml(), "static_tokens[0]: expected a non-empty string, got str ''"),
        (
            "tasks:\n"
            "  - {cloud_service: evs, task_id: t1, phases: [{after: 0, status: INIT}]}\n"
            "  - {cloud_service: evs, task_id: t1, phases: [{after: 0, status: INIT}]}\n",
            "tasks[1]: duplicate evs task ID t1 (also tasks[0])",
        ),
    ],
)
def test_yaml_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"cannot read scenario file: No such file"):
        load_scenario(tmp_path / "nope.yaml")


def test_final_statuses_end_a_task() -> None:
    # Every final status of every service gives an end time; a pending-only task never begins.
    for service, finals in FINAL_STATUSES.items():
        for status in finals:
            raw = {"cloud_service": service, "task_id": "t", "phases": [{"after": 0, "status": status}]}
            task = parse_scenario({"tasks": [raw]}).tasks[0]
            assert task.end_offset == 0, (service, status)


# --- the `simulate` command's entry point -----------------------------------------------------


REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("churn", [False, True])
async def test_serve_runs_until_sigterm(churn: bool) -> None:
    code = f"from exporter.simulator import serve; serve('127.0.0.1', 0, churn={churn})"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        found = None
        deadline = time.monotonic() + 20
        while found is None:
            line = (await asyncio.wait_for(proc.stdout.readline(), deadline - time.monotonic())).decode()
            assert line, f"serve() ended early: {''.join(lines)}"
            lines.append(line)
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert "simulator.listening" in line
        async with httpx.AsyncClient(base_url=found.group(0), headers={"X-Auth-Token": DEMO_TOKEN}) as c:
            assert (await get_json(c, url("evs", EVS_OK)))["status"] == "INIT"
            created = await get_json(c, "/_sim/created")
            # With churn, each generator creates its first task at the start (real time moves on).
            assert {t["cloud_service"] for t in created} == ({"evs", "codearts_check", "cph"} if churn else set())
        proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    assert "simulator.stopped" in rest.decode()


def test_serve_reports_a_bad_scenario_file(tmp_path: Path) -> None:
    from exporter.simulator import serve

    path = tmp_path / "bad.yaml"
    path.write_text("tasks: []")
    with pytest.raises(ScenarioError, match="expected at least one task"):
        serve("127.0.0.1", 0, scenario_file=str(path), latency=0.0, extra_running_tasks=0)


def test_the_default_scenario_shows_every_state_of_every_built_in_service() -> None:
    from exporter.services import raw_status

    for name, spec in BUILTIN.items():
        table = spec.status.states
        raws = {
            raw_status(phase.status)
            for task in default_scenario().tasks
            for job in (task, *task.sub_jobs)
            if job.cloud_service == name
            for phase in job.phases
        }
        assert {table[r] for r in raws if r in table} == set(table.values()), name


# --- extension points: parents, list methods, route providers, scenario sections ---------------

OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
CLUSTERS = [f"c1a5{n:028x}" for n in range(1, 4)]


def _field(pointer: str) -> Field:
    return Field((tuple(pointer.strip("/").split("/")),), pointer)


def cce_with_parents() -> ServiceSpec:
    base = BUILTIN["cce"]
    lister = DiscoverySpec(
        path="/api/v3/projects/{project_id}/clusters",
        items=_field("/items"),
        id=_field("/metadata/uid"),
        paging=Paging(style="offset", param="offset", limit=2, total=_field("/total")),
    )
    return dataclasses.replace(base, parents=ParentsSpec("cluster_id", lister, _field("/metadata/name")))


def parents_scenario() -> Scenario:
    return parse_scenario(
        {
            "tasks": [
                {"cloud_service": "dws", "task_id": "d5a0" + "0" * 28, "phases": [{"after": 0, "status": "INIT"}]}
            ],
            "parents": {
                "cce": [
                    {"id": CLUSTERS[0], "name": "prod"},
                    {"id": CLUSTERS[1]},
                    {"id": CLUSTERS[2], "name": "elsewhere", "project_id": OTHER_PROJECT},
                ]
            },
        }
    )


async def test_parents_are_listed_at_the_specs_parent_list() -> None:
    """The scenario's `parents:` served at a spec's parent-list description (path, items and id pointers,
    paging), per project, through the gateway, counted apart from the service's job list."""
    sim = Simulator(parents_scenario(), clock=lambda: T0, services={"cce": cce_with_parents()})
    async with await start_simulator(sim) as cloud, httpx.AsyncClient(base_url=cloud.url) as c:
        path = f"/api/v3/projects/{P}/clusters"
        assert (await c.get(path)).status_code == 401  # no token
        c.headers["X-Auth-Token"] = DEMO_TOKEN
        assert await get_json(c, path) == {
            "items": [
                {"metadata": {"uid": CLUSTERS[0], "name": "prod"}},
                {"metadata": {"uid": CLUSTERS[1], "name": CLUSTERS[1]}},
            ],
            "total": 2,
        }
        assert await get_json(c, f"/cce{path}?offset=1&limit=1") == {
            "items": [{"metadata": {"uid": CLUSTERS[1], "name": CLUSTERS[1]}}],
            "total": 2,
        }
        other = await get_json(c, f"/api/v3/projects/{OTHER_PROJECT}/clusters")
        assert [item["metadata"]["uid"] for item in other["items"]] == [CLUSTERS[2]]
        bad = await get_json(c, f"{path}?limit=3", status=400)
        assert bad == {
            "error_code": "CCE.0400",
            "error_msg": "Invalid parameter: limit must be an integer from 1 to 2.",
        }
    assert sim.stats.list_requests["cce.parents"] == 5
    assert "cce" not in sim.stats.list_requests


@pytest.mark.parametrize(
    ("parents", "message"),
    [
        ({"nope": []}, "parents.nope: unknown cloud service; expected one of "),
        ({"cce": [{"id": "a"}, {"id": "a"}]}, "parents.cce[1].id: duplicate parent ID a"),
        (
            {"cce": [{"id": "a", "zone": "z"}]},
            "parents.cce[0]: unknown key 'zone'; expected one of: id, name, project_id",
        ),
        ({"cce": [{"name": "x"}]}, "parents.cce[0]: missing required key 'id'"),
        ({"cce": {"id": "a"}}, "parents.cce: expected a list, got dict"),
    ],
)
def test_parents_section_errors(parents: object, message: str) -> None:
    data = {"tasks": [{"cloud_service": "dws", "task_id": "d5a01", "phases": [{"after": 0, "status": "INIT"}]}]}
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario({**data, "parents": parents}, source="s.yaml")


def test_scenario_without_parents_has_the_sections_default() -> None:
    data = {"tasks": [{"cloud_service": "dws", "task_id": "d5a01", "phases": [{"after": 0, "status": "INIT"}]}]}
    assert parse_scenario(data, source="s.yaml").sections["parents"] == {}
    fanned = {name for name, spec in BUILTIN.items() if spec.parents is not None}
    assert set(default_scenario().sections["parents"]) == fanned  # the demo fans out over them all
    assert [p.id for p in parents_scenario().sections["parents"]["cce"]] == CLUSTERS


async def test_a_post_list_call_reads_its_paging_from_the_body() -> None:
    base = BUILTIN["gaussdb"]
    assert base.discover is not None
    # A list call that sends its paging in a POST body, as some services' list APIs do.
    spec = dataclasses.replace(base, discover=dataclasses.replace(base.discover, method="POST", window=None))
    ids = [f"9a55{n:028x}" for n in range(1, 4)]
    scenario = parse_scenario(
        {
            "tasks": [
                {
                    "cloud_service": "gaussdb",
                    "task_id": task_id,
                    "begin": -10 * n,
                    "phases": [{"after": 0, "status": "Running"}],
                }
                for n, task_id in enumerate(ids)
            ]
        },
        services={"gaussdb": spec},
    )
    sim = Simulator(scenario, clock=lambda: T0, services={"gaussdb": spec})
    async with await start_simulator(sim) as cloud, httpx.AsyncClient(base_url=cloud.url) as c:
        c.headers["X-Auth-Token"] = DEMO_TOKEN
        path = f"/v3/{P}/tasks"
        first = await c.post(path, json={"offset": 1, "limit": 1})
        assert first.status_code == 200, first.text
        assert [item["job_id"] for item in first.json()["tasks"]] == [ids[1]]
        everything = (await c.post(path, json={})).json()
        assert [item["job_id"] for item in everything["tasks"]] == ids
        assert (await c.post(path, content=b"[1]")).status_code == 400
        assert (await c.get(path)).json()["error_code"] == "APIGW.0101"  # the GET is not published
    assert sim.stats.list_requests["gaussdb"] == 3  # the POSTs


async def test_a_route_provider_adds_an_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """How a new API joins the fake cloud (IAM's project list, say): one more provider, whose handler
    passes the gateway."""

    def projects(parts: Parts) -> list[Route]:
        async def handle(request: web.Request) -> web.StreamResponse:
            request_id, answered = await parts.gateway.admit("iam", request)
            if answered is not None:
                return answered
            return json_response(200, {"projects": [{"id": p} for p in parts.scenario.projects]}, request_id)

        return [Route("GET", "/v3/extension-projects", handle)]

    monkeypatch.setattr(app_module, "ROUTE_PROVIDERS", (*app_module.ROUTE_PROVIDERS, projects))
    sim = Simulator(default_scenario(), clock=lambda: T0)
    async with await start_simulator(sim) as cloud, httpx.AsyncClient(base_url=cloud.url) as c:
        assert (await c.get("/v3/extension-projects")).json()["error_code"] == "APIGW.0301"
        c.headers["X-Auth-Token"] = DEMO_TOKEN
        assert await get_json(c, "/v3/extension-projects") == {"projects": [{"id": P}]}


def test_a_scenario_section_adds_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    def read(raw: object, path: str, ctx: SectionContext) -> list[str]:
        if not isinstance(raw, list):
            raise Invalid(path, "expected a list")
        return [str(item) for item in raw]

    monkeypatch.setattr(sections_module, "SECTIONS", (*sections_module.SECTIONS, ScenarioSection("extra", read, [])))
    data: dict[str, Any] = {
        "tasks": [{"cloud_service": "dws", "task_id": "d5a01", "phases": [{"after": 0, "status": "INIT"}]}]
    }
    assert parse_scenario(data).sections["extra"] == []
    assert parse_scenario({**data, "extra": [1, 2]}).sections["extra"] == ["1", "2"]
    with pytest.raises(ScenarioError, match=re.escape("s.yaml: extra: expected a list")):
        parse_scenario({**data, "extra": 3}, source="s.yaml")
    with pytest.raises(
        ScenarioError,
        match="expected one of: iam, static_tokens, access_keys, projects, tasks, generators, parents, iam_projects, "
        "extra",
    ):
        parse_scenario({**data, "other": 3})
