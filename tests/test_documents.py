"""The documents' own answers, read as the documents say they mean (issue 21, item 4 and the reading side
of item 2).

Each body is copied in the shape of the document it names: an API page, the SDK model, or the [DEF]
definitions (`mingyang91/huawei-cloud-api-definitions`, `schemas/<SVC>/src/<Op>.json`, the response
example). Not the fake cloud's bodies: those are written from the specs, so they cannot catch a spec
that misreads its document.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from exporter.cloud.errors import classify, parse_error_body
from exporter.config import parse_config
from exporter.model import Reason, State
from exporter.schema import ConfigError, Ctx
from exporter.services import BUILTIN, DiscoverySpec, body_error, list_items, parse_time, read_progress, read_spec
from exporter.services import read_status as read
from exporter.tracking.refresh import list_calls
from tests.conftest import MINIMAL

BEIJING = timezone(timedelta(hours=8))


def _at(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC).timestamp()


# --- CCE: a Running job whose sub-jobs all succeeded ----------------------------------------------------

# [DEF] CCE/src/ShowJob.json, the 200 example (cut to the fields read).
CCE_RUNNING = {
    "apiVersion": "v3",
    "kind": "Job",
    "metadata": {
        "creationTimestamp": "2018-08-02 08:12:40.672772389 +0000 UTC",
        "uid": "354331b2c-229a-11e8-9c75-0255ac100ceb",
        "updateTimestamp": "2018-08-02 08:21:50.478108569 +0000 UTC",
    },
    "spec": {
        "clusterUID": "4d1ecb2c-229a-11e8-9c75-0255ac100ceb",
        "resourceID": "6f4dcb2c-229a-11e8-9c75-0255ac100ceb",
        "resourceName": "cluster-name",
        "subJobs": [
            {"kind": "Job", "spec": {"type": "InstallMaster"}, "status": {"phase": "Success"}},
            {"kind": "Job", "spec": {"type": "CreatePSMCert"}, "status": {"phase": "Success"}},
        ],
        "type": "CreateCluster",
    },
    "status": {"phase": "Running", "reason": ""},
}


def test_cce_running_job_with_every_sub_job_succeeded_has_no_progress_and_no_end() -> None:
    status = read(BUILTIN["cce"], CCE_RUNNING, UTC)
    assert (status.state, status.progress, status.end) == (State.RUNNING, None, None)
    assert status.sub_tasks is not None and status.sub_tasks[State.SUCCEEDED] == 2
    done = read(BUILTIN["cce"], {**CCE_RUNNING, "status": {"phase": "Success"}}, UTC)
    assert (done.progress, done.end) == (1.0, _at(2018, 8, 2, 8, 21, 50, 478108))


# --- DDM: its list's errors, its task states, an end while running -------------------------------------


def test_ddm_list_errors_give_their_message() -> None:
    # [DEF] DDM/src/ListTasks.json, the 400 and 500 examples.
    content = json.dumps({"errCode": "DBS.280001", "externalMessage": "Parameter error."}).encode()
    assert parse_error_body(content) == ("DBS.280001", "Parameter error.", "")
    error = classify(400, content)
    assert (error.reason, error.code, error.message) == (Reason.CLIENT_ERROR, "DBS.280001", "Parameter error.")


# [DEF] DDM/src/ShowDdmJobResult.json, the 200 example: a Running job that already has an end_time.
DDM_RUNNING = {
    "job": {
        "created_time": "2018-08-06T10:41:14+0000",
        "end_time": "2018-08-06T16:41:14+0000",
        "id": "31b8ae23-c687-4d80-b7b4-42a66c9bb886",
        "instance": {"id": "a48e43ff268f4c0e879652d65e63d0fbin09", "name": "DDM-test"},
        "name": "CreateInstance",
        "process": "60%",
        "status": "Running",
    }
}


def test_ddm_running_example_shows_no_end_time() -> None:
    status = read(BUILTIN["ddm"], DDM_RUNNING, UTC)
    assert (status.state, status.progress, status.start) == (State.RUNNING, 0.6, _at(2018, 8, 6, 10, 41, 14))
    assert status.end is None
    done = read(BUILTIN["ddm"], {"job": {**DDM_RUNNING["job"], "status": "Completed", "process": ""}}, UTC)
    assert (done.state, done.end) == (State.SUCCEEDED, _at(2018, 8, 6, 16, 41, 14))


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("Expanding", State.RUNNING),
        ("ToBeSwitched", State.RUNNING),  # waits for the user's switch-over: a forgotten one shows as stuck
        ("Switching", State.RUNNING),
        ("Canceling", State.RUNNING),
        ("Rollbacking", State.RUNNING),
        ("CancelSuccess", State.STOPPED),
        ("RollbackSuccess", State.STOPPED),
    ],
)
def test_ddm_task_center_states_are_mapped(raw: str, state: State) -> None:
    # The task list's items ([DEF] DDM/src/ListTasks.json, JobItem) in the status body's place.
    heard: list[str] = []
    status = read(BUILTIN["ddm"], {"job": {**DDM_RUNNING["job"], "status": raw}}, UTC, heard.append)
    assert (status.state, heard) == (state, [])


# --- DLI: SCALING, and the job's progress, not a sub-job's -----------------------------------------------


def test_dli_scaling_is_pending() -> None:
    # The ShowSqlJobStatus body (huaweicloudsdkdli.v1.ShowSqlJobStatusResponse) with a status that
    # ListSqlJobsRequest's job_status lists: LAUNCHING RUNNING ... FINISHED SCALING.
    body = {
        "is_success": True,
        "message": "",
        "job_id": "95fcc908-9f1b-446c-8643-5653891d9fd9",
        "job_type": "QUERY",
        "status": "SCALING",
        "start_time": 1502349803729,
        "duration": 0,
    }
    heard: list[str] = []
    assert read(BUILTIN["dli"], body, UTC, heard.append).state is State.PENDING and heard == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # huaweicloudsdkdli.v1.ShowSqlJobProgressResponse: "the progress of the running sub-job (sub_job_id
        # shown), or of the whole job (0 at the start, 1 at the end, no sub_job_id)".
        (
            {
                "is_success": True,
                "message": "",
                "job_id": "j",
                "status": "RUNNING",
                "sub_job_id": 0,
                "progress": 0.9,
                "sub_jobs": [{"id": 0, "status": "RUNNING", "num_tasks": 10, "num_completed_tasks": 9}],
            },
            None,
        ),
        ({"is_success": True, "message": "", "job_id": "j", "status": "RUNNING", "progress": 0}, 0.0),
        ({"is_success": True, "message": "", "job_id": "j", "status": "FINISHED", "progress": 1}, 1.0),
    ],
)
def test_dli_progress_is_the_jobs_not_a_sub_jobs(body: dict[str, Any], expected: float | None) -> None:
    assert read_progress(BUILTIN["dli"], body) == expected


# --- RDS and GaussDB: their task lists' time filters ------------------------------------------------------


@pytest.mark.parametrize("service", ["rds", "gaussdb"])
def test_rds_and_gaussdb_task_lists_get_a_window_in_unix_milliseconds(service: str) -> None:
    # RDS: OTC rds_13_0002 "start_time ... UNIX timestamp format. The unit is millisecond and the time zone
    # is UTC" (example start_time=1747919701390&end_time=1748524501390). GaussDB: gaussdb_api_130, the same.
    spec = BUILTIN[service]
    assert spec.discover is not None
    text = MINIMAL.replace("cloud_service: evs", f"cloud_service: {service}").replace(
        "tasks: [", "discover: true\n    tasks: ["
    )
    (target,) = parse_config(text, env={"HWC_TOKEN": "t"}).targets
    now = 1748524501.390
    (call,) = list_calls(target, spec.discover, now, 7 * 86400)
    query = call.query
    assert (query["start_time"], query["end_time"]) == (str(int((now - 7 * 86400) * 1000)), "1748524501390")


# --- CBR: times without a zone ---------------------------------------------------------------------------

# [DEF] CBR/src/ShowOpLog.json, the 200 example (cut).
CBR_DONE = {
    "operation_log": {
        "checkpoint_id": "b432511f-d889-428f-8b0e-5f47c524c6b6",
        "created_at": "2019-05-23T14:31:36.039365",
        "ended_at": "2019-05-23T14:35:23.511155",
        "error_info": {"code": "", "message": ""},
        "extra_info": {"common": {"progress": 100}, "resource": {"id": "1dab32fa-ebf2-415a-ab0b-eabe6353bc86"}},
        "id": "4827f2da-b008-4507-ab7d-42d0df5ed912",
        "operation_type": "backup",
        "started_at": "2019-05-23T14:31:36.007230",
        "status": "success",
        "updated_at": "2019-05-23T14:35:23.584418",
    }
}


def test_cbr_times_without_a_zone_are_utc_whatever_the_targets_zone() -> None:
    status = read(BUILTIN["cbr"], CBR_DONE, BEIJING)
    assert status.start == _at(2019, 5, 23, 14, 31, 36, 7230)
    assert status.end == _at(2019, 5, 23, 14, 35, 23, 511155)
    assert status.created == _at(2019, 5, 23, 14, 31, 36, 39365)


# --- DDS and GeminiDB: "100%", and an end while running -----------------------------------------------------


def test_dds_completed_example_with_100_percent_reads_as_1() -> None:
    # [DEF] DDS/src/ShowJobDetail.json, the 200 example.
    body = {
        "job": {
            "created": "2021-07-12T09:22:04+0000",
            "ended": "2021-07-12T10:10:13+0000",
            "fail_reason": None,
            "id": "f85104b5-4a9c-4e0f-9505-fc5409d8f7ae",
            "instance": {"id": "d87f5b33049144ec95f0cab0a5f22cfbin02", "name": "dds-5ff4"},
            "name": "Create_MongoDB",
            "progress": "100%",
            "status": "Completed",
        }
    }
    status = read(BUILTIN["dds"], body, UTC)
    assert (status.state, status.progress, status.end) == (State.SUCCEEDED, 1.0, _at(2021, 7, 12, 10, 10, 13))
    running = read(BUILTIN["dds"], {"job": {**body["job"], "status": "Running", "progress": "100%"}}, UTC)
    assert (running.progress, running.end) == (1.0, None)  # the API's own 100 %, but no end before the job ends


def test_geminidb_running_example_shows_no_end_time() -> None:
    # [DEF] GaussDBforNoSQL/src/ListJobs.json, the 200 example.
    body = {
        "jobs": [
            {
                "end_time": "2023-09-12T06:44:03+0000",
                "fail_reason": "",
                "id": "6f85e061-04dd-42e7-86d6-d3b1e40aac2e",
                "instance": {"id": "27a045b6bf9e46f691f81366d398cb04in06", "name": "nosql-12f5"},
                "name": "CreateCassandra",
                "progress": "14%",
                "start_time": "2023-09-12T06:44:01+0000",
                "status": "Running",
            }
        ],
        "total_count": 1,
    }
    status = read(BUILTIN["geminidb"], body, UTC)
    assert (status.state, status.progress, status.start, status.end) == (
        State.RUNNING,
        0.14,
        _at(2023, 9, 12, 6, 44, 1),
        None,
    )


# --- SDRS: an error in a 200 ------------------------------------------------------------------------------


def test_sdrs_error_object_in_a_200_is_an_error_answer() -> None:
    # The SDRS job page lists {"error": {"code", "message"}} among its answers (the EVS shape).
    spec = BUILTIN["sdrs"].status
    body = {"error": {"code": "SDRS.1001", "message": "The job does not exist."}}
    assert body_error(spec, spec.error_in_200, body) == ("SDRS.1001", "The job does not exist.")
    # [DEF] SDRS/src/ShowJobStatus.json, the 200 example: a status, no error.
    ok = {
        "begin_time": "2018-04-19T01:55:30.443Z",
        "end_time": "2018-04-19T01:55:45.493Z",
        "error_code": None,
        "entities": {"server_group_id": "a59d008e-4bad-4bf3-9b17-6cc25e7da483"},
        "fail_reason": None,
        "job_id": "0000000062db92d70162db9d200f000a",
        "job_type": "createProtectionGroupNoCG",
        "status": "SUCCESS",
    }
    assert body_error(spec, spec.error_in_200, ok) is None
    assert read(BUILTIN["sdrs"], ok, UTC).end == _at(2018, 4, 19, 1, 55, 45, 493000)


# --- IMS: the older time format ---------------------------------------------------------------------------


def test_ims_older_time_format_is_read() -> None:
    # The older IMS job document writes begin_time as "04-Jun-2015 18:11:06:586" (UTC).
    body = {
        "status": "SUCCESS",
        "job_id": "4010a32c5f1d4a5b8e1b4d1e2f4f6a7b",
        "job_type": "createImageByInstance",
        "begin_time": "04-Jun-2015 18:11:06:586",
        "end_time": "04-Jun-2015 18:17:46:005",
        "error_code": None,
        "fail_reason": None,
        "entities": {"image_id": "2a1e4a23-1bb6-4b71-9be7-0e3e3fe5ca8c"},
    }
    status = read(BUILTIN["ims"], body, BEIJING)
    assert (status.start, status.end) == (_at(2015, 6, 4, 18, 11, 6, 586000), _at(2015, 6, 4, 18, 17, 46, 5000))
    iso = read(BUILTIN["ims"], {**body, "begin_time": "2015-06-04T18:11:06Z"}, UTC)
    assert iso.start == _at(2015, 6, 4, 18, 11, 6)


# --- DCS: fail_resson --------------------------------------------------------------------------------------


def test_dcs_fail_resson_gives_the_failure_reason() -> None:
    # [DEF] DCS/src/ShowJobInfo.json, the 200 example, with its key spelled fail_resson; a failed job.
    body = {
        "begin_time": "1684191545379",
        "end_time": "1684191548248",
        "fail_resson": "switch-over refused",
        "job_id": "ff8080818822bbf70188235afc24141a",
        "job_type": "masterStandbySwapJob",
        "status": "FAIL",
    }
    status = read(BUILTIN["dcs"], body, UTC)
    assert (status.state, status.error_message, status.end) == (State.FAILED, "switch-over refused", 1684191548.248)


# --- the reading side of item 2 ---------------------------------------------------------------------------


def _spec(extra_status: dict[str, Any], discover: dict[str, Any] | None = None) -> Any:
    value: dict[str, Any] = {
        "name": "doc",
        "endpoints": {"custom": "https://doc.example.com"},
        "status": {
            "path": "/v1/jobs/{task_id}",
            "state": "/status",
            "states": {"RUNNING": "running", "FAILED": "failed"},
            **extra_status,
        },
    }
    if discover is not None:
        value["discover"] = discover
    return read_spec(Ctx("spec.yaml", "", None, {}), value)


def test_a_bare_json_array_is_a_list_body() -> None:
    # SWR's sync jobs answer a list as the whole body; the root pointer "" names it.
    spec = _spec({}, {"path": "/v1/jobs", "items": "", "id": "/id"})
    lister = spec.discover
    assert isinstance(lister, DiscoverySpec)
    body = [{"id": "a", "status": "RUNNING"}, {"id": "b", "status": "FAILED"}, "junk"]
    assert [task_id for task_id, _ in list_items(lister, body)] == ["a", "b"]
    with pytest.raises(ConfigError, match=r"status\.state: expected a JSON pointer"):
        _spec({"state": ""})  # the root pointer only where a list is the whole body


@pytest.mark.parametrize(("written", "expected"), [(-1, None), ("-1", None), (0, 0.0), (45, 0.45), ("100", 1.0)])
def test_a_negative_progress_sentinel_is_no_progress(written: Any, expected: float | None) -> None:
    # CDM's job status: progress -1 when the job failed (next-services.md, section 4).
    spec = _spec({"progress": {"at": "/progress", "scale": "percent", "none_below": 0}})
    assert read(spec, {"status": "RUNNING", "progress": written}, UTC).progress == expected


def test_a_strptime_pattern_reads_a_json_number() -> None:
    # MPC's transcoding task ([DEF] MPC ListTranscodingTask example): "create_time": 20200310031605.
    assert parse_time(20200310031605, UTC, "%Y%m%d%H%M%S") == _at(2020, 3, 10, 3, 16, 5)
    assert parse_time("20200310031605", UTC, "%Y%m%d%H%M%S") == _at(2020, 3, 10, 3, 16, 5)
    assert parse_time(20200310031605.5, UTC, "%Y%m%d%H%M%S") is None


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        (["iso", "rfc822"], r"status\.start\.format\[1\]: expected one of iso, .*day-month-year.* got 'rfc822'"),
        ([], r"status\.start\.format: expected a time format or a non-empty list"),
        ([3], r"status\.start\.format\[0\]: expected a time format such as iso, got"),
    ],
)
def test_a_list_of_time_formats_is_checked_item_by_item(fmt: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _spec({"start": {"at": "/begin", "format": fmt}})


def test_a_duration_end_cannot_be_listed_with_time_formats() -> None:
    with pytest.raises(ConfigError, match=r"status\.end\.format\[1\]: duration_ms is a duration"):
        _spec({"end": {"at": "/took", "format": ["iso", "duration_ms"]}})
