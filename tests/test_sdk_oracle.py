"""The official Huawei Cloud SDK, pointed at the fake cloud, must parse everything it says.

The SDK's model classes are the closest thing to a machine-readable API contract. Each response is
parsed by the SDK and turned back into JSON with the SDK's own serialiser: a field the model does not
know, or a value of the wrong type, would not survive the round trip.

The fake cloud runs ``churn_scenario()``: the default scenario plus generators that keep creating
tasks, so that the list APIs (the CodeArts Check task list and CPH ListJobs) and the generated tasks'
status APIs are checked by the SDK too.

The SDK signs every request with AK/SK, and the fake cloud checks those signatures
(``require_auth=True``): the SDK is also the oracle for the simulator's signature check, with
permanent and temporary credentials. The test moves the simulator's clock, so the SDK's signing clock
(``datetime.utcnow`` in its Signer) is pinned to the same clock; ``Clock.client_offset`` sets the
client apart from the server for the clock-skew case.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

import httpx
import huaweicloudsdkcore.signer.signer as sdk_signer
import pytest
from huaweicloudsdkcodeartscheck.v2 import (
    CodeArtsCheckClient,
    ShowProgressDetailRequest,
    ShowTaskListByProjectIdRequest,
)
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization
from huaweicloudsdkcph.v1 import CphClient, ListJobsRequest
from huaweicloudsdkcph.v1 import ShowJobRequest as CphShowJobRequest
from huaweicloudsdkdws.v2 import DwsClient, ListJobDetailsRequest
from huaweicloudsdkevs.v2 import EvsClient
from huaweicloudsdkevs.v2 import ShowJobRequest as EvsShowJobRequest

from exporter.cloud.signing import AkSkAuth
from exporter.simulator import (
    DEFAULT_CODEARTS_PROJECT_ID,
    DEFAULT_PROJECT_ID,
    DEMO_ACCESS_KEY,
    DEMO_CPH_REQUEST_IDS,
    DEMO_SECRET_KEY,
    DEMO_SECURITY_TOKEN,
    DEMO_TEMP_ACCESS_KEY,
    DEMO_TEMP_SECRET_KEY,
    RunningSimulator,
    Simulator,
    Task,
    churn_scenario,
    default_scenario,
    start_simulator,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

T0 = 1_700_000_000.0
HEX32 = re.compile(r"[0-9a-f]{32}")
# Before, at and after the transitions of the default scenario, and long after.
TIMES = [0, 5, 12, 15, 25, 35, 45, 55, 65, 72, 85, 95, 105, 125, 86_400]


class Clock:
    """A clock the test sets directly, so that both sides of a comparison see the same instant."""

    def __init__(self) -> None:
        self.now = T0
        self.client_offset = 0.0  # how far the SDK's clock is from the simulator's

    def __call__(self) -> float:
        return self.now

    def client(self) -> float:
        return self.now + self.client_offset


def pinned_datetime(clock: Clock) -> type[datetime]:
    """A stand-in for the SDK Signer's ``datetime`` whose ``utcnow`` reads ``clock.client()``."""

    class PinnedDatetime(datetime):
        @classmethod
        def utcnow(cls) -> Self:
            return cls.fromtimestamp(clock.client(), UTC).replace(tzinfo=None)

    return PinnedDatetime


@dataclass
class Cloud:
    sim: Simulator
    clock: Clock
    url: str
    clients: dict[str, Any]
    http: httpx.Client
    build: Callable[[Any, BasicCredentials], Any]

    def at(self, seconds: float) -> None:
        self.clock.now = T0 + seconds


SERVICE_CLIENTS = {"evs": EvsClient, "dws": DwsClient, "cph": CphClient, "codearts_check": CodeArtsCheckClient}


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    clock = Clock()
    sim = Simulator(churn_scenario(), clock=clock, require_auth=True)
    # The SDK is synchronous, so the simulator gets its own event loop in a thread.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="simulator", daemon=True)
    thread.start()
    running: RunningSimulator = asyncio.run_coroutine_threadsafe(start_simulator(sim), loop).result(10)
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    config.timeout = (5, 10)
    credentials = BasicCredentials(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, DEFAULT_PROJECT_ID)

    def build(client_class: Any, credentials: BasicCredentials) -> Any:
        return (
            client_class.new_builder()
            .with_credentials(credentials)
            .with_endpoint(running.url)
            .with_http_config(config)
            .build()
        )

    clients = {service: build(client_class, credentials) for service, client_class in SERVICE_CLIENTS.items()}
    # The raw side signs with the exporter's own signer, on the same clock.
    auth = AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, project_id=DEFAULT_PROJECT_ID, clock=clock.client)
    try:
        with pytest.MonkeyPatch.context() as patch, httpx.Client(base_url=running.url, auth=auth) as http:
            patch.setattr(sdk_signer, "datetime", pinned_datetime(clock))
            yield Cloud(sim, clock, running.url, clients, http, build)
    finally:
        asyncio.run_coroutine_threadsafe(running.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def sdk_call(cloud: Cloud, cloud_service: str, task_id: str, client: Any = None) -> Any:
    client = client if client is not None else cloud.clients[cloud_service]
    match cloud_service:
        case "evs":
            return client.show_job(EvsShowJobRequest(job_id=task_id))
        case "dws":
            return client.list_job_details(ListJobDetailsRequest(job_id=task_id))
        case "cph":
            return client.show_job(CphShowJobRequest(job_id=task_id))
        case "codearts_check":
            return client.show_progress_detail(ShowProgressDetailRequest(task_id=task_id))
    raise AssertionError(cloud_service)


def raw_call(cloud: Cloud, cloud_service: str, task_id: str) -> Any:
    path = {
        "evs": f"/v1/{DEFAULT_PROJECT_ID}/jobs/{task_id}",
        "dws": f"/v1.0/{DEFAULT_PROJECT_ID}/job/{task_id}",
        "cph": f"/v1/{DEFAULT_PROJECT_ID}/cloud-phone/jobs/{task_id}",
        "codearts_check": f"/v2/tasks/{task_id}/progress",
    }[cloud_service]
    resp = cloud.http.get(path)
    assert resp.status_code == 200, resp.text
    return resp.json()


def without_nulls(value: Any) -> Any:
    """The SDK's serialiser leaves out unset (null) attributes; do the same to the raw body."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def every_job() -> list[Task]:
    """Every job of the default scenario of a service the SDK packages here have a client for."""
    return [
        job
        for task in default_scenario().tasks
        for job in (task, *task.sub_jobs)
        if job.cloud_service in SERVICE_CLIENTS
    ]


def check_attributes(cloud_service: str, resp: Any, raw: dict[str, Any]) -> None:
    """Spot checks through the SDK's attribute names, as a user of the SDK would read them."""
    match cloud_service:
        case "evs":
            assert (resp.status, resp.job_id, resp.job_type) == (raw["status"], raw["job_id"], raw["job_type"])
            assert (resp.begin_time, resp.end_time) == (raw["begin_time"], raw["end_time"])
            assert (resp.error_code, resp.fail_reason) == (raw["error_code"], raw["fail_reason"])
            subs = raw["entities"].get("sub_jobs")
            if subs is None:
                assert resp.entities.volume_id == raw["entities"]["volume_id"]
                assert resp.entities.sub_jobs is None
            else:
                assert [s.status for s in resp.entities.sub_jobs] == [s["status"] for s in subs]
                assert [s.end_time for s in resp.entities.sub_jobs] == [s["end_time"] for s in subs]
                assert [s.entities.volume_id for s in resp.entities.sub_jobs] == [
                    s["entities"]["volume_id"] for s in subs
                ]
        case "dws":
            assert (resp.status, resp.progress, resp.job_name) == (raw["status"], raw["progress"], raw["job_name"])
            assert (resp.begin_time, resp.end_time) == (raw["begin_time"], raw["end_time"])
            assert (resp.failed_code, resp.failed_detail) == (raw["failed_code"], raw["failed_detail"])
        case "cph":
            assert (resp.status, resp.job_id) == (raw["status"], raw["job_id"])
            assert (resp.phone_id, resp.server_id) == (raw.get("phone_id"), raw.get("server_id"))
            assert (resp.begin_time, resp.end_time) == (raw["begin_time"], raw["end_time"])
            assert (resp.error_code, resp.error_msg) == (raw["error_code"], raw["error_msg"])
            assert HEX32.fullmatch(resp.request_id)
        case "codearts_check":
            assert resp.task_status == raw["task_status"]
            assert (resp.progress.ratio, resp.progress.info) == (raw["progress"]["ratio"], raw["progress"]["info"])


@pytest.mark.parametrize("seconds", TIMES)
def test_sdk_parses_every_task_of_the_default_scenario(cloud: Cloud, seconds: float) -> None:
    cloud.at(seconds)
    for job in every_job():
        resp = sdk_call(cloud, job.cloud_service, job.task_id)
        raw = raw_call(cloud, job.cloud_service, job.task_id)
        assert resp.status_code == 200
        parsed = sanitize_for_serialization(resp)
        if job.cloud_service == "cph":
            # A fresh request ID per request; everything else must survive the SDK's round trip.
            assert HEX32.fullmatch(parsed.pop("request_id"))
            raw.pop("request_id")
        assert parsed == without_nulls(raw), (seconds, job.task_id)
        check_attributes(job.cloud_service, resp, raw)


def test_sdk_sees_the_transitions(cloud: Cloud) -> None:
    cloud.at(50)
    batch = sdk_call(cloud, "evs", "e7500000000000000000000000000002")
    assert [s.status for s in batch.entities.sub_jobs] == ["SUCCESS", "RUNNING", "RUNNING", "RUNNING"]
    assert sdk_call(cloud, "evs", "e7500000000000000000000000000001").end_time == ""
    dws = sdk_call(cloud, "dws", "d5a00000000000000000000000000002")
    assert (dws.status, dws.progress, dws.failed_code, dws.failed_detail) == (
        "FAIL",
        "9%",
        "CreateELBTask-fail:DWS.0114",
        "DWS.0114:ELB private IP is not configured.",
    )
    check = sdk_call(cloud, "codearts_check", "c0de0000000000000000000000000002")
    assert (check.task_status, check.progress.ratio, check.progress.info) == (0, "50%", "running")
    never = sdk_call(cloud, "codearts_check", "c0de0000000000000000000000000001")
    assert (never.task_status, never.progress.ratio, never.progress.info) == (None, None, None)
    cloud.at(125)
    batch = sdk_call(cloud, "evs", "e7500000000000000000000000000002")
    assert batch.status == "FAIL"
    assert [s.status for s in batch.entities.sub_jobs] == ["SUCCESS", "SUCCESS", "FAIL", "SUCCESS"]
    phone = sdk_call(cloud, "cph", "ce110000000000000000000000000002")
    assert (phone.status, phone.error_code, phone.end_time) == (-1, "CPS.0010", "2023-11-14T22:14:30Z")


@pytest.mark.parametrize(
    ("cloud_service", "status_code", "error_code", "message"),
    [
        ("evs", 404, "EVS.7001", "Job {id} does not exist."),
        ("dws", 404, "DWS.0015", "The job does not exist."),
        ("cph", 400, "CPS.0005", "The job does not exist."),
    ],
)
def test_sdk_reads_the_not_found_errors(
    cloud: Cloud, cloud_service: str, status_code: int, error_code: str, message: str
) -> None:
    missing = "f" * 32
    with pytest.raises(ClientRequestException) as info:
        sdk_call(cloud, cloud_service, missing)
    assert (info.value.status_code, info.value.error_code) == (status_code, error_code)
    assert info.value.error_msg == message.format(id=missing)
    assert HEX32.fullmatch(info.value.request_id)  # from the X-Request-Id header


def test_codearts_not_found_is_an_error_body_in_a_200_as_documented(cloud: Cloud) -> None:
    # CodeArts answers its CC.0005xxxx errors with HTTP 200 (ErrorCode.html): the SDK raises nothing and
    # reads no status, which is why the exporter's spec reads the error body of a 200 (error_in_200).
    missing = "f" * 32
    resp = sdk_call(cloud, "codearts_check", missing)
    assert resp.status_code == 200
    assert resp.task_status is None
    assert raw_call(cloud, "codearts_check", missing) == {"error_code": "CC.00050013", "error_msg": "project not exist"}


@pytest.mark.parametrize("seconds", [0, 95])
def test_sdk_parses_the_generated_tasks(cloud: Cloud, seconds: float) -> None:
    cloud.at(seconds)
    created = cloud.sim.created_tasks()
    assert {c.cloud_service for c in created} == {"evs", "codearts_check", "cph"}
    for _, cloud_service, _, task_id in created:
        resp = sdk_call(cloud, cloud_service, task_id)
        raw = raw_call(cloud, cloud_service, task_id)
        parsed = sanitize_for_serialization(resp)
        parsed.pop("request_id", None)
        raw.pop("request_id", None)
        assert parsed == without_nulls(raw), (seconds, task_id)
        check_attributes(cloud_service, resp, raw)


# --- the list APIs --------------------------------------------------------------------------

LIST_TIMES = [0, 15, 65, 125, 3600]


def codearts_list(cloud: Cloud, offset: int | None = None, limit: int | None = None) -> tuple[Any, Any]:
    """The task list through the SDK and raw, with the same paging."""
    resp = cloud.clients["codearts_check"].show_task_list_by_project_id(
        ShowTaskListByProjectIdRequest(project_id=DEFAULT_CODEARTS_PROJECT_ID, offset=offset, limit=limit)
    )
    params = {k: v for k, v in (("offset", offset), ("limit", limit)) if v is not None}
    raw = cloud.http.get(f"/v2/{DEFAULT_CODEARTS_PROJECT_ID}/tasks", params=params)
    assert raw.status_code == 200, raw.text
    return resp, raw.json()


@pytest.mark.parametrize("seconds", LIST_TIMES)
def test_sdk_parses_the_codearts_task_list(cloud: Cloud, seconds: float) -> None:
    cloud.at(seconds)
    expected = [t.task_id for t in cloud.sim.listed("codearts_check", [DEFAULT_CODEARTS_PROJECT_ID])]
    resp, raw = codearts_list(cloud, offset=0, limit=100)
    assert resp.status_code == 200
    assert sanitize_for_serialization(resp) == without_nulls(raw)
    assert resp.total == raw["total"] == len(expected)
    assert [t.task_id for t in resp.tasks] == expected[:100]
    for task, item in zip(resp.tasks, raw["tasks"], strict=True):
        assert (task.task_name, task.creator_id, task.git_url, task.git_branch) == (
            item["task_name"],
            item["creator_id"],
            item["git_url"],
            item["git_branch"],
        )
        assert (task.created_at, task.last_check_time) == (item["created_at"], item["last_check_time"])
    # The default page, and a walk through small pages, see the same tasks in the same order.
    default, _ = codearts_list(cloud)
    assert [t.task_id for t in default.tasks] == expected[:10]
    walked: list[str] = []
    number = 1  # `offset` is a page number (ShowTaskListByProjectIdV2)
    while page := codearts_list(cloud, offset=number, limit=3)[0].tasks:
        walked += [t.task_id for t in page]
        number += 1
    assert walked == expected


def cph_list(cloud: Cloud, request: ListJobsRequest, params: dict[str, Any]) -> tuple[Any, Any]:
    resp = cloud.clients["cph"].list_jobs(request)
    raw = cloud.http.get(f"/v1/{DEFAULT_PROJECT_ID}/cloud-phone/jobs", params=params)
    assert raw.status_code == 200, raw.text
    return resp, raw.json()


@pytest.mark.parametrize("seconds", LIST_TIMES)
def test_sdk_parses_cph_list_jobs(cloud: Cloud, seconds: float) -> None:
    cloud.at(seconds)
    both = ",".join(DEMO_CPH_REQUEST_IDS)
    expected = [j.task_id for j in cloud.sim.listed("cph", list(DEMO_CPH_REQUEST_IDS), DEFAULT_PROJECT_ID)]
    resp, raw = cph_list(cloud, ListJobsRequest(request_ids=both, limit=100), {"request_ids": both, "limit": 100})
    assert resp.status_code == 200
    parsed = sanitize_for_serialization(resp)
    # A fresh request ID per request; everything else must survive the SDK's round trip.
    assert HEX32.fullmatch(parsed.pop("request_id"))
    raw.pop("request_id")
    assert parsed == without_nulls(raw)
    assert [j.job_id for j in resp.jobs] == expected[:100]
    for job, item in zip(resp.jobs, raw["jobs"], strict=True):
        assert (job.status, job.begin_time, job.end_time) == (item["status"], item["begin_time"], item["end_time"])
        assert (job.phone_id, job.server_id) == (item.get("phone_id"), item.get("server_id"))
        assert (job.error_code, job.error_msg, job.execute_msg) == (
            item["error_code"],
            item["error_msg"],
            item["execute_msg"],
        )
    # One request ID, and pages.
    first = DEMO_CPH_REQUEST_IDS[0]
    one, _ = cph_list(cloud, ListJobsRequest(request_id=first), {"request_id": first})
    assert [j.job_id for j in one.jobs] == ["ce110000000000000000000000000001", "ce110000000000000000000000000002"]
    walked: list[str] = []
    while page := cloud.clients["cph"].list_jobs(ListJobsRequest(request_ids=both, offset=len(walked), limit=7)).jobs:
        walked += [j.job_id for j in page]
    assert walked == expected


def test_one_list_call_answers_for_many_jobs(cloud: Cloud) -> None:
    cloud.at(3600)
    before = (cloud.sim.stats.list_requests["cph"], cloud.sim.stats.requests_total)
    resp = cloud.clients["cph"].list_jobs(ListJobsRequest(request_ids=",".join(DEMO_CPH_REQUEST_IDS)))
    assert len(resp.jobs) == 100  # the default limit; 4 scenario jobs + 241 generated ones exist
    after = (cloud.sim.stats.list_requests["cph"], cloud.sim.stats.requests_total)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


@pytest.mark.parametrize(
    ("cloud_service", "call", "error_code", "message"),
    [
        (
            "cph",
            lambda c: c.list_jobs(ListJobsRequest(request_ids=",".join(f"{i:032x}" for i in range(21)))),
            "CPS.0002",
            "Invalid parameter: request_ids holds 21 request IDs, at most 20 are allowed.",
        ),
        (
            "cph",
            lambda c: c.list_jobs(ListJobsRequest()),
            "CPS.0002",
            "Invalid parameter: request_id or request_ids is required.",
        ),
        (
            "codearts_check",
            lambda c: c.show_task_list_by_project_id(
                ShowTaskListByProjectIdRequest(project_id=DEFAULT_CODEARTS_PROJECT_ID, limit=101)
            ),
            "CC.00000001",
            "Invalid parameter: limit must be an integer from 1 to 100.",
        ),
    ],
)
def test_sdk_reads_the_list_errors(
    cloud: Cloud, cloud_service: str, call: Callable[[Any], Any], error_code: str, message: str
) -> None:
    with pytest.raises(ClientRequestException) as info:
        call(cloud.clients[cloud_service])
    assert (info.value.status_code, info.value.error_code, info.value.error_msg) == (400, error_code, message)
    assert HEX32.fullmatch(info.value.request_id)


@pytest.fixture
def global_fault(cloud: Cloud) -> Iterator[Callable[[str], None]]:
    yield cloud.sim.set_fault
    cloud.sim.set_fault(None)


@pytest.mark.parametrize(
    ("cloud_service", "task_id", "error_code"),
    [
        ("evs", "e7500000000000000000000000000001", "EVS.0001"),
        ("dws", "d5a00000000000000000000000000001", "DWS.0001"),
        ("cph", "ce110000000000000000000000000001", "CPS.0001"),
        ("codearts_check", "c0de0000000000000000000000000001", "CC.00000000"),
    ],
)
def test_sdk_reads_the_server_errors(
    cloud: Cloud, global_fault: Callable[[str], None], cloud_service: str, task_id: str, error_code: str
) -> None:
    global_fault("server_error")
    with pytest.raises(ServerResponseException) as info:
        sdk_call(cloud, cloud_service, task_id)
    assert (info.value.status_code, info.value.error_code) == (500, error_code)
    assert info.value.error_msg == "Internal server error."


def test_sdk_sees_throttling_as_a_429(cloud: Cloud, global_fault: Callable[[str], None]) -> None:
    global_fault("throttle")
    with pytest.raises(ClientRequestException) as info:
        sdk_call(cloud, "evs", "e7500000000000000000000000000001")
    # urllib3's retry on 429 swallows the body, so the SDK only has the status (reference C.4).
    assert info.value.status_code == 429


# --- AK/SK: the SDK's signatures against the fake cloud's check -------------------------------


@pytest.fixture
def no_lock(cloud: Cloud) -> Iterator[None]:
    """The failures a test provokes must not add up to a lock of the default key across tests."""
    yield
    cloud.clock.client_offset = 0.0
    assert sdk_call(cloud, "evs", "e7500000000000000000000000000001").status == "INIT"
    assert cloud.sim.ak_state(DEMO_ACCESS_KEY) == (0, None)


def test_every_sdk_request_was_signed_and_verified(cloud: Cloud) -> None:
    cloud.at(0)
    before = cloud.sim.stats.aksk_accepted[DEMO_ACCESS_KEY]
    for job in every_job():
        sdk_call(cloud, job.cloud_service, job.task_id)
    assert cloud.sim.stats.aksk_accepted[DEMO_ACCESS_KEY] == before + len(every_job())
    assert cloud.sim.stats.max_consecutive_auth_failures[DEMO_ACCESS_KEY] <= 1


@pytest.mark.parametrize("cloud_service", list(SERVICE_CLIENTS))
def test_sdk_with_temporary_credentials(cloud: Cloud, cloud_service: str) -> None:
    cloud.at(125)
    credentials = BasicCredentials(DEMO_TEMP_ACCESS_KEY, DEMO_TEMP_SECRET_KEY, DEFAULT_PROJECT_ID).with_security_token(
        DEMO_SECURITY_TOKEN
    )
    client = cloud.build(SERVICE_CLIENTS[cloud_service], credentials)
    before = cloud.sim.stats.aksk_accepted[DEMO_TEMP_ACCESS_KEY]
    for job in every_job():
        if job.cloud_service == cloud_service:
            resp = sdk_call(cloud, cloud_service, job.task_id, client)
            assert resp.status_code == 200
            parsed = sanitize_for_serialization(resp)
            raw = raw_call(cloud, cloud_service, job.task_id)
            parsed.pop("request_id", None)
            raw.pop("request_id", None)
            assert parsed == without_nulls(raw), job.task_id
    assert cloud.sim.stats.aksk_accepted[DEMO_TEMP_ACCESS_KEY] > before
    assert cloud.sim.ak_state(DEMO_TEMP_ACCESS_KEY) == (0, None)


@pytest.mark.usefixtures("no_lock")
@pytest.mark.parametrize("cloud_service", list(SERVICE_CLIENTS))
def test_sdk_with_a_wrong_secret_key_gets_apigw_0301(cloud: Cloud, cloud_service: str) -> None:
    cloud.at(0)
    wrong = BasicCredentials(DEMO_ACCESS_KEY, "WrongSecretKeyWrongSecretKeyWrongSecret0", DEFAULT_PROJECT_ID)
    client = cloud.build(SERVICE_CLIENTS[cloud_service], wrong)
    task_id = next(job.task_id for job in every_job() if job.cloud_service == cloud_service)
    with pytest.raises(ClientRequestException) as info:
        sdk_call(cloud, cloud_service, task_id, client)
    assert (info.value.status_code, info.value.error_code) == (401, "APIGW.0301")
    assert info.value.error_msg == "Incorrect IAM authentication information: verify aksk signature fail"
    assert HEX32.fullmatch(info.value.request_id)
    assert cloud.sim.ak_state(DEMO_ACCESS_KEY) == (1, None)


@pytest.mark.usefixtures("no_lock")
def test_sdk_with_a_wrong_security_token_gets_apigw_0301(cloud: Cloud) -> None:
    credentials = BasicCredentials(DEMO_TEMP_ACCESS_KEY, DEMO_TEMP_SECRET_KEY, DEFAULT_PROJECT_ID).with_security_token(
        "not-the-token"
    )
    with pytest.raises(ClientRequestException) as info:
        sdk_call(cloud, "dws", "d5a00000000000000000000000000001", cloud.build(DwsClient, credentials))
    assert (info.value.status_code, info.value.error_code) == (401, "APIGW.0301")
    assert info.value.error_msg == "Incorrect IAM authentication information: verify security token fail"


@pytest.mark.usefixtures("no_lock")
def test_sdk_clock_16_minutes_behind_gets_apigw_0303(cloud: Cloud) -> None:
    cloud.at(0)
    cloud.clock.client_offset = -16 * 60
    with pytest.raises(ClientRequestException) as info:
        sdk_call(cloud, "cph", "ce110000000000000000000000000001")
    assert (info.value.status_code, info.value.error_code) == (401, "APIGW.0303")
    assert info.value.error_msg == (
        "Incorrect app authentication information: signature expired, "
        "signature time:20231114T215720Z,server time:20231114T221320Z"
    )
