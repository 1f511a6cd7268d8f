"""Service parsers: documented bodies, the DESIGN section 2 state table, progress, times and odd input.

Every example body marked "verbatim" is copied from reference/huaweicloud-task-apis.md (sections A.1-A.4)
or the OTC EVS document it cites; the rest are the same bodies with one field changed.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from exporter.model import FINAL_STATES, State, TaskStatus
from exporter.services import BUILTIN, BadResponse, ServiceSpec, UnknownStatuses, read_status
from exporter.services.interpret import MESSAGE_LIMIT, clean_message, parse_percent, parse_time, raw_status, text

NOTES = UnknownStatuses()


class Service:
    """A built-in spec with the interpreter and the exporter's once-per-value log of unknown statuses."""

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec, self.name = spec, spec.name
        self.endpoints, self.needs_project_id, self.status_path = (
            spec.endpoints,
            spec.needs_project_id,
            spec.status_path,
        )

    def parse(self, body: Any, tz: tzinfo) -> TaskStatus:
        return read_status(self.spec, body, tz, lambda raw: NOTES.note(self.name, raw))


SERVICES = {name: Service(spec) for name, spec in BUILTIN.items()}
CODEARTS = SERVICES["codearts_check"]
DWS = SERVICES["dws"]
EVS = SERVICES["evs"]
CPH = SERVICES["cph"]

PLUS_8 = timezone(timedelta(hours=8))
MINUS_5 = timezone(timedelta(hours=-5))


def ts(*parts: int, tz: timezone = UTC) -> float:
    """Unix seconds of a wall-clock time in `tz` (microseconds as the seventh part)."""
    return datetime(*parts, tzinfo=tz).timestamp()  # type: ignore[arg-type,misc]  # mypy cannot see 3 to 7 ints


def unique(prefix: str) -> str:
    """A raw status nobody has seen yet: the 'logged once' set of this module lives for the session."""
    return f"{prefix}_{uuid.uuid4().hex[:12].upper()}"


def unique_int() -> int:
    return 10_000 + uuid.uuid4().int % 10**9


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Captured structlog events, with warnings let through whatever level another test configured."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as entries:
            yield entries
    finally:
        structlog.configure(wrapper_class=saved["wrapper_class"])


def unknown_warnings(entries: list[MutableMapping[str, Any]], service: str, raw: str) -> list[MutableMapping[str, Any]]:
    return [
        e
        for e in entries
        if e.get("log_level") == "warning" and e.get("cloud_service") == service and e.get("raw_status") == raw
    ]


# --------------------------------------------------------------------------------------------------------------
# Documented example bodies (verbatim)
# --------------------------------------------------------------------------------------------------------------

CODEARTS_RUNNING = {"task_status": 0, "progress": {"ratio": "50%", "info": "running"}}

DWS_FAIL = {
    "status": "FAIL",
    "progress": "9%",
    "job_id": "2c9080e88459fa44018459fbeb600001",
    "job_name": "ecfClusterElbCreateJob",
    "begin_time": "2022-11-09T20:25:00",
    "end_time": "2022-11-09T20:30:00",
    "failed_code": "CreateELBTask-fail:DWS.0114",
    "failed_detail": "DWS.0114:ELB private IP is not configured.",
}

EVS_RUNNING = {
    "status": "RUNNING",
    "entities": {"volume_id": "bdf1bb37-f20f-4266-9a04-f43e0a127376"},
    "job_id": "4010a32d535527910153552b492c0002",
    "job_type": "createVolume",
    "begin_time": "2016-03-08T07:40:13.219Z",
    "end_time": "",
    "error_code": None,
    "fail_reason": None,
}

EVS_BATCH_SUCCESS = {
    "status": "SUCCESS",
    "entities": {
        "sub_jobs": [
            {
                "status": "SUCCESS",
                "entities": {"volume_id": "0b549095-4937-4849-8e4c-52aa027d64f7"},
                "job_id": "21917a8d52a19b040152a9f2f2e50041",
                "job_type": "createVolume",
                "begin_time": "2016-02-04T01:43:37.445Z",
                "end_time": "2016-02-04T01:44:02.239Z",
                "error_code": None,
                "fail_reason": None,
            },
            {
                "status": "SUCCESS",
                "entities": {"volume_id": "e7bca1a2-d3ed-434f-86f4-a1f11aa80072"},
                "job_id": "21917a8d52a19b040152a9f2f2f60042",
                "job_type": "createVolume",
                "begin_time": "2016-02-04T01:43:37.462Z",
                "end_time": "2016-02-04T01:44:02.245Z",
                "error_code": None,
                "fail_reason": None,
            },
        ]
    },
    "job_id": "21917a8d52a19b040152a9f2f1eb003e",
    "job_type": "batchCreateVolume",
    "begin_time": "2016-02-04T01:43:37.193Z",
    "end_time": "2016-02-04T01:44:08.283Z",
    "error_code": None,
    "fail_reason": None,
}

CPH_SUCCESS = {
    "error_msg": None,
    "execute_msg": None,
    "job_id": "6837531fd3f54550927b930180a706bf",
    "phone_id": "9b28fbe50ded4060b8149a47e55dba82",
    "end_time": "2019-04-26T07:00:06Z",
    "begin_time": "2019-04-26T07:00:00Z",
    "error_code": None,
    "request_id": "2676a3b4f7df49c297c6775989806d32",
    "status": 2,
}


def with_(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of `body` with top-level fields replaced; a value of `...` removes the field."""
    new = copy.deepcopy(body)
    for key, value in changes.items():
        if value is ...:
            new.pop(key, None)
        else:
            new[key] = value
    return new


def sub_job(status: Any, volume_id: str = "v") -> dict[str, Any]:
    return {"status": status, "entities": {"volume_id": volume_id}, "job_type": "createVolume"}


def evs_batch(*statuses: Any, status: str = "RUNNING") -> dict[str, Any]:
    return with_(EVS_BATCH_SUCCESS, status=status, entities={"sub_jobs": [sub_job(s) for s in statuses]})


# --------------------------------------------------------------------------------------------------------------
# Registry, paths, endpoints
# --------------------------------------------------------------------------------------------------------------


def test_registry_holds_exactly_the_four_seed_services_under_their_own_names() -> None:
    assert {"codearts_check", "dws", "evs", "cph"} <= set(SERVICES)  # the seeds, and any spec added since
    for key, service in SERVICES.items():
        assert isinstance(service, Service)
        assert service.name == key


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        pytest.param("codearts_check", "/v2/tasks/T123/progress", id="codearts-no-project-id"),
        pytest.param("dws", "/v1.0/P456/job/T123", id="dws"),
        pytest.param("evs", "/v1/P456/jobs/T123", id="evs"),
        pytest.param("cph", "/v1/P456/cloud-phone/jobs/T123", id="cph"),
    ],
)
def test_status_path(service: str, expected: str) -> None:
    assert SERVICES[service].status_path("P456", "T123") == expected


@pytest.mark.parametrize(
    ("service", "needs"),
    [
        pytest.param("codearts_check", False, id="codearts"),
        pytest.param("dws", True, id="dws"),
        pytest.param("evs", True, id="evs"),
        pytest.param("cph", True, id="cph"),
    ],
)
def test_needs_project_id(service: str, needs: bool) -> None:
    assert SERVICES[service].needs_project_id is needs


def test_codearts_path_ignores_the_project_id() -> None:
    assert CODEARTS.status_path("", "abc") == CODEARTS.status_path("0123456789abcdef", "abc")
    assert "0123456789abcdef" not in CODEARTS.status_path("0123456789abcdef", "abc")


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        pytest.param(
            "evs",
            {
                "huaweicloud": "https://evs.{region}.myhuaweicloud.com",
                "otc": "https://evs.{region}.otc.t-systems.com",
            },
            id="evs-huaweicloud-and-otc",
        ),
        pytest.param(
            "dws",
            {
                "huaweicloud": "https://dws.{region}.myhuaweicloud.com",
                "otc": "https://dws.{region}.otc.t-systems.com",
            },
            id="dws-huaweicloud-and-otc",
        ),
        pytest.param("cph", {"huaweicloud": "https://cph.{region}.myhuaweicloud.com"}, id="cph-huaweicloud-only"),
        pytest.param(
            "codearts_check",
            {"huaweicloud": "https://codearts-check.{region}.myhuaweicloud.com"},
            id="codearts-huaweicloud-only",
        ),
    ],
)
def test_endpoint_templates(service: str, expected: dict[str, str]) -> None:
    endpoints = SERVICES[service].endpoints
    assert dict(endpoints) == expected
    for template in endpoints.values():
        assert template.startswith("https://")
        assert template.format(region="eu-de").count("eu-de") == 1


# --------------------------------------------------------------------------------------------------------------
# Documented examples
# --------------------------------------------------------------------------------------------------------------


def test_evs_running_example() -> None:
    status = EVS.parse(EVS_RUNNING, UTC)
    assert status == TaskStatus(
        state=State.RUNNING,
        raw_status="RUNNING",
        progress=None,
        start=ts(2016, 3, 8, 7, 40, 13, 219000),
        end=None,
        job_type="createVolume",
        resource_id="bdf1bb37-f20f-4266-9a04-f43e0a127376",
        error_code="",
        error_message="",
        sub_tasks=None,
    )
    assert not status.final


def test_evs_running_example_zulu_time_ignores_configured_zone() -> None:
    assert EVS.parse(EVS_RUNNING, PLUS_8).start == pytest.approx(1457422813.219)


def test_evs_batch_example() -> None:
    status = EVS.parse(EVS_BATCH_SUCCESS, UTC)
    assert status.state is State.SUCCEEDED
    assert status.raw_status == "SUCCESS"
    assert status.progress == 1.0
    assert status.job_type == "batchCreateVolume"
    assert status.start == pytest.approx(ts(2016, 2, 4, 1, 43, 37, 193000))
    assert status.end == pytest.approx(ts(2016, 2, 4, 1, 44, 8, 283000))
    # The sub-jobs' volume IDs are not the batch job's resource.
    assert status.resource_id == ""
    assert status.sub_tasks == {
        State.PENDING: 0,
        State.RUNNING: 0,
        State.SUCCEEDED: 2,
        State.FAILED: 0,
        State.STOPPED: 0,
        State.UNKNOWN: 0,
    }
    assert status.error_code == status.error_message == ""


def test_dws_fail_example() -> None:
    status = DWS.parse(DWS_FAIL, UTC)
    assert status == TaskStatus(
        state=State.FAILED,
        raw_status="FAIL",
        progress=pytest.approx(0.09),  # type: ignore[arg-type]
        start=ts(2022, 11, 9, 20, 25),
        end=ts(2022, 11, 9, 20, 30),
        job_name="ecfClusterElbCreateJob",
        error_code="CreateELBTask-fail:DWS.0114",
        error_message="DWS.0114:ELB private IP is not configured.",
    )
    assert status.final


@pytest.mark.parametrize(
    ("tz", "shift_hours"),
    [
        pytest.param(UTC, 0, id="utc"),
        pytest.param(PLUS_8, -8, id="utc+8-is-8h-earlier"),
        pytest.param(MINUS_5, 5, id="utc-5-is-5h-later"),
    ],
)
def test_dws_zoneless_times_are_read_in_the_configured_zone(tz: timezone, shift_hours: int) -> None:
    status = DWS.parse(DWS_FAIL, tz)
    assert status.start == ts(2022, 11, 9, 20, 25) + shift_hours * 3600
    assert status.end == ts(2022, 11, 9, 20, 30) + shift_hours * 3600
    assert status.start == 1668025500 + shift_hours * 3600


def test_dws_time_with_its_own_offset_keeps_it() -> None:
    body = with_(DWS_FAIL, begin_time="2022-11-09T20:25:00+08:00")
    assert DWS.parse(body, UTC).start == ts(2022, 11, 9, 12, 25)
    assert DWS.parse(body, MINUS_5).start == ts(2022, 11, 9, 12, 25)


def test_cph_success_example() -> None:
    status = CPH.parse(CPH_SUCCESS, UTC)
    assert status == TaskStatus(
        state=State.SUCCEEDED,
        raw_status="2",
        progress=1.0,
        start=ts(2019, 4, 26, 7, 0, 0),
        end=ts(2019, 4, 26, 7, 0, 6),
        resource_id="9b28fbe50ded4060b8149a47e55dba82",
    )
    assert status.start == 1556262000
    assert status.end - status.start == 6  # type: ignore[operator]


def test_cph_failed_with_error_fields() -> None:
    body = with_(
        CPH_SUCCESS, status=-1, error_code="CPS.0104", error_msg="The phone is abnormal.", execute_msg="exit 1"
    )
    status = CPH.parse(body, UTC)
    assert status.state is State.FAILED
    assert status.raw_status == "-1"
    assert status.progress is None
    assert status.error_code == "CPS.0104"
    assert status.error_message == "The phone is abnormal."


def test_cph_failed_falls_back_to_execute_msg() -> None:
    body = with_(CPH_SUCCESS, status=-1, error_code="CPS.0104", error_msg=None, execute_msg="adb: device offline")
    assert CPH.parse(body, UTC).error_message == "adb: device offline"


def test_codearts_running_example() -> None:
    status = CODEARTS.parse(CODEARTS_RUNNING, UTC)
    assert status == TaskStatus(state=State.RUNNING, raw_status="0", progress=0.5)


@pytest.mark.parametrize(
    ("body", "state", "raw", "progress"),
    [
        pytest.param(
            {"task_status": None, "progress": {"ratio": None, "info": None}},
            State.PENDING,
            "null",
            None,
            id="null-never-checked-no-progress",
        ),
        pytest.param({"task_status": None}, State.PENDING, "null", None, id="null-without-progress-object"),
        pytest.param(
            {"task_status": 2, "progress": {"ratio": None, "info": None}},
            State.SUCCEEDED,
            "2",
            1.0,
            id="2-succeeded-null-ratio-is-1",
        ),
        pytest.param(
            {"task_status": 2, "progress": {"ratio": "100%", "info": "success"}},
            State.SUCCEEDED,
            "2",
            1.0,
            id="2-succeeded-100",
        ),
        pytest.param(
            {"task_status": 1, "progress": {"ratio": None, "info": None}}, State.FAILED, "1", None, id="1-failed"
        ),
        pytest.param(
            {"task_status": 3, "progress": {"ratio": None, "info": None}}, State.STOPPED, "3", None, id="3-stopped"
        ),
        pytest.param(
            {"task_status": 0, "progress": {"ratio": "0%", "info": "running"}},
            State.RUNNING,
            "0",
            0.0,
            id="0-running-reported-0-percent",
        ),
        pytest.param({"task_status": 0, "progress": None}, State.RUNNING, "0", None, id="0-running-progress-null"),
        pytest.param({"task_status": 0, "progress": "50%"}, State.RUNNING, "0", None, id="progress-not-an-object"),
        pytest.param(
            {"task_status": 0, "progress": {"ratio": "N/A"}}, State.RUNNING, "0", None, id="ratio-not-a-percent"
        ),
        pytest.param({"task_status": "2", "progress": {}}, State.SUCCEEDED, "2", 1.0, id="status-as-string"),
        pytest.param({"task_status": 0.0, "progress": {}}, State.RUNNING, "0", None, id="status-as-float"),
    ],
)
def test_codearts_states_and_progress(body: dict[str, Any], state: State, raw: str, progress: float | None) -> None:
    status = CODEARTS.parse(body, UTC)
    assert status.state is state
    assert status.raw_status == raw
    if progress is None:
        assert status.progress is None
    else:
        assert status.progress == pytest.approx(progress)
    assert status.start is None
    assert status.end is None
    assert status.sub_tasks is None


# --------------------------------------------------------------------------------------------------------------
# Every documented raw status -> DESIGN section 2 state
# --------------------------------------------------------------------------------------------------------------

STATE_TABLE = [
    ("codearts_check", None, State.PENDING),
    ("codearts_check", 0, State.RUNNING),
    ("codearts_check", 1, State.FAILED),
    ("codearts_check", 2, State.SUCCEEDED),
    ("codearts_check", 3, State.STOPPED),
    ("dws", "INIT", State.PENDING),
    ("dws", "WAITING", State.PENDING),
    ("dws", "DELAY_SCHEDULED", State.PENDING),
    ("dws", "RUNNING", State.RUNNING),
    ("dws", "SUCCESS", State.SUCCEEDED),
    ("dws", "FAIL", State.FAILED),
    ("dws", "ERROR", State.FAILED),
    ("dws", "STOP", State.STOPPED),
    ("evs", "INIT", State.PENDING),
    ("evs", "WAITING_EXECUTE", State.PENDING),
    ("evs", "RUNNING", State.RUNNING),
    ("evs", "LISTENING", State.RUNNING),
    ("evs", "SUCCESS", State.SUCCEEDED),
    ("evs", "FAIL", State.FAILED),
    ("cph", 1, State.RUNNING),
    ("cph", 2, State.SUCCEEDED),
    ("cph", -1, State.FAILED),
]

BASE_BODY: dict[str, dict[str, Any]] = {
    "codearts_check": {"progress": {"ratio": None, "info": None}},
    "dws": with_(DWS_FAIL, failed_code=None, failed_detail=None),
    "evs": EVS_RUNNING,
    "cph": CPH_SUCCESS,
}
STATUS_FIELD = {"codearts_check": "task_status", "dws": "status", "evs": "status", "cph": "status"}


def body_with_status(service: str, raw: Any) -> dict[str, Any]:
    return with_(BASE_BODY[service], **{STATUS_FIELD[service]: raw})


@pytest.mark.parametrize(
    ("service", "raw", "state"),
    [pytest.param(s, r, st, id=f"{s}-{'null' if r is None else r}-{st.value}") for s, r, st in STATE_TABLE],
)
def test_documented_raw_status_maps_to_design_state(service: str, raw: Any, state: State) -> None:
    status = SERVICES[service].parse(body_with_status(service, raw), UTC)
    assert status.state is state
    assert status.raw_status == ("null" if raw is None else str(raw))
    assert status.final is (state in FINAL_STATES)
    if state is State.SUCCEEDED:
        assert status.progress == 1.0


@pytest.mark.parametrize(
    ("service", "raw", "label"),
    [
        pytest.param("evs", "PENDING_PAYMENT", "PENDING_PAYMENT", id="evs-PENDING_PAYMENT"),
        pytest.param("evs", "success", "success", id="evs-lowercase-is-not-SUCCESS"),
        pytest.param("evs", "STOP", "STOP", id="evs-STOP-is-dws-only"),
        pytest.param("dws", "WAITING_EXECUTE", "WAITING_EXECUTE", id="dws-WAITING_EXECUTE-is-evs-only"),
        pytest.param("dws", None, "null", id="dws-null"),
        pytest.param("cph", 0, "0", id="cph-0"),
        pytest.param("cph", 3, "3", id="cph-3"),
        pytest.param("cph", True, "true", id="cph-bool-true-is-not-1"),
        pytest.param("cph", 2.5, "2.5", id="cph-2.5"),
        pytest.param("cph", None, "null", id="cph-null"),
        pytest.param("codearts_check", 4, "4", id="codearts-4"),
        pytest.param("codearts_check", -1, "-1", id="codearts-minus-1"),
    ],
)
def test_undocumented_raw_status_is_unknown(service: str, raw: Any, label: str) -> None:
    status = SERVICES[service].parse(body_with_status(service, raw), UTC)
    assert status.state is State.UNKNOWN
    assert status.raw_status == label
    assert not status.final
    assert status.error_code == status.error_message == ""


@pytest.mark.parametrize(
    ("raw", "label", "state"),
    [
        pytest.param("2", "2", State.SUCCEEDED, id="string-2"),
        pytest.param(" 2 ", "2", State.SUCCEEDED, id="string-2-padded"),
        pytest.param(2.0, "2", State.SUCCEEDED, id="float-2.0"),
        pytest.param("-1", "-1", State.FAILED, id="string-minus-1"),
        pytest.param(-1.0, "-1", State.FAILED, id="float-minus-1.0"),
        pytest.param("1", "1", State.RUNNING, id="string-1"),
    ],
)
def test_cph_status_as_string_or_float_is_read_like_the_integer(raw: Any, label: str, state: State) -> None:
    status = CPH.parse(with_(CPH_SUCCESS, status=raw), UTC)
    assert status.raw_status == label
    assert status.state is state


@pytest.mark.parametrize(
    ("service", "make_raw"),
    [
        pytest.param("evs", lambda: unique("PENDING_PAYMENT"), id="evs"),
        pytest.param("dws", lambda: unique("PAUSED"), id="dws"),
        pytest.param("cph", unique_int, id="cph"),
        pytest.param("codearts_check", unique_int, id="codearts"),
    ],
)
def test_unknown_raw_status_is_logged_once(service: str, make_raw: Any, logs: list[MutableMapping[str, Any]]) -> None:
    raw = make_raw()
    body = body_with_status(service, raw)
    for _ in range(3):
        assert SERVICES[service].parse(body, UTC).state is State.UNKNOWN
    warnings = unknown_warnings(logs, service, str(raw))
    assert len(warnings) == 1
    assert "unknown" in warnings[0]["event"]


def test_each_new_unknown_value_is_logged(logs: list[MutableMapping[str, Any]]) -> None:
    first, second = unique("NEW"), unique("NEWER")
    EVS.parse(with_(EVS_RUNNING, status=first), UTC)
    EVS.parse(with_(EVS_RUNNING, status=second), UTC)
    EVS.parse(with_(EVS_RUNNING, status=first), UTC)
    assert len(unknown_warnings(logs, "evs", first)) == 1
    assert len(unknown_warnings(logs, "evs", second)) == 1


def test_same_unknown_value_is_logged_once_per_service(logs: list[MutableMapping[str, Any]]) -> None:
    raw = unique("SHARED")
    EVS.parse(with_(EVS_RUNNING, status=raw), UTC)
    DWS.parse(with_(DWS_FAIL, status=raw), UTC)
    DWS.parse(with_(DWS_FAIL, status=raw), UTC)
    assert len(unknown_warnings(logs, "evs", raw)) == 1
    assert len(unknown_warnings(logs, "dws", raw)) == 1


def test_known_values_are_not_logged(logs: list[MutableMapping[str, Any]]) -> None:
    for service, raw, _ in STATE_TABLE:
        SERVICES[service].parse(body_with_status(service, raw), UTC)
    assert [e for e in logs if e.get("log_level") == "warning"] == []


def test_unknown_sub_job_status_is_logged_once(logs: list[MutableMapping[str, Any]]) -> None:
    raw = unique("SUB")
    status = EVS.parse(evs_batch(raw, raw, "SUCCESS"), UTC)
    assert status.sub_tasks is not None
    assert status.sub_tasks[State.UNKNOWN] == 2
    assert len(unknown_warnings(logs, "evs", raw)) == 1


# --------------------------------------------------------------------------------------------------------------
# EVS batch jobs: progress = finished sub-jobs / all, counts for all six states
# --------------------------------------------------------------------------------------------------------------


def counts(**by_state: int) -> dict[State, int]:
    result = dict.fromkeys(State, 0)
    for name, number in by_state.items():
        result[State(name)] = number
    return result


@pytest.mark.parametrize(
    ("top", "subs", "progress", "expected"),
    [
        pytest.param(
            "RUNNING",
            ["SUCCESS", "RUNNING", "INIT", "FAIL"],
            0.5,
            counts(succeeded=1, running=1, pending=1, failed=1),
            id="half-finished-failed-counts-as-finished",
        ),
        pytest.param(
            "RUNNING",
            ["INIT", "WAITING_EXECUTE", "RUNNING", "LISTENING"],
            0.0,
            counts(pending=2, running=2),
            id="none-finished-is-0-not-None",
        ),
        pytest.param(
            "RUNNING",
            ["SUCCESS", "SUCCESS", "SUCCESS"],
            None,  # progress 1 only for a succeeded task (issue 21: CCE's Running job whose sub-jobs succeeded)
            counts(succeeded=3),
            id="all-finished-top-still-running-has-no-progress",
        ),
        pytest.param(
            "FAIL",
            ["SUCCESS", "FAIL", "FAIL"],
            None,
            counts(succeeded=1, failed=2),
            id="failed-batch-has-no-progress",
        ),
        pytest.param(
            "RUNNING",
            ["SUCCESS", "MYSTERY_STATE_X", "RUNNING"],
            1 / 3,
            counts(succeeded=1, unknown=1, running=1),
            id="unknown-sub-status-is-not-finished",
        ),
        pytest.param(
            "RUNNING",
            ["SUCCESS", None, "RUNNING", "RUNNING"],
            0.25,
            counts(succeeded=1, unknown=1, running=2),
            id="null-sub-status-is-unknown",
        ),
        pytest.param(
            "SUCCESS",
            ["SUCCESS", "RUNNING"],
            1.0,
            counts(succeeded=1, running=1),
            id="succeeded-top-forces-progress-1",
        ),
    ],
)
def test_evs_batch_progress_and_counts(
    top: str, subs: list[Any], progress: float | None, expected: dict[State, int]
) -> None:
    status = EVS.parse(evs_batch(*subs, status=top), UTC)
    assert status.progress == pytest.approx(progress)
    assert status.sub_tasks is not None
    assert dict(status.sub_tasks) == expected
    assert set(status.sub_tasks) == set(State)
    assert sum(status.sub_tasks.values()) == len(subs)


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("SUCCESS", id="string"),
        pytest.param(None, id="null"),
        pytest.param(7, id="number"),
        pytest.param(["SUCCESS"], id="list"),
    ],
)
def test_evs_sub_job_that_is_not_an_object_counts_as_unknown(entry: Any) -> None:
    body = with_(EVS_RUNNING, entities={"sub_jobs": [sub_job("SUCCESS"), entry]})
    status = EVS.parse(body, UTC)
    assert status.sub_tasks == counts(succeeded=1, unknown=1)
    assert status.progress == 0.5


@pytest.mark.parametrize(
    "entities",
    [
        pytest.param(..., id="entities-missing"),
        pytest.param(None, id="entities-null"),
        pytest.param("volume", id="entities-a-string"),
        pytest.param([{"volume_id": "x"}], id="entities-a-list"),
        pytest.param({}, id="entities-empty"),
        pytest.param({"sub_jobs": []}, id="sub_jobs-empty"),
        pytest.param({"sub_jobs": None}, id="sub_jobs-null"),
        pytest.param({"sub_jobs": {"status": "SUCCESS"}}, id="sub_jobs-an-object"),
        pytest.param({"sub_jobs": "SUCCESS"}, id="sub_jobs-a-string"),
    ],
)
def test_evs_without_usable_sub_jobs_has_no_progress_and_no_counts(entities: Any) -> None:
    status = EVS.parse(with_(EVS_RUNNING, entities=entities), UTC)
    assert status.state is State.RUNNING
    assert status.progress is None
    assert status.sub_tasks is None
    assert status.resource_id == ""


# --------------------------------------------------------------------------------------------------------------
# Progress: the API's percentage, succeeded always 1, never a made-up 0
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("9%", 0.09, id="9-percent"),
        pytest.param("50%", 0.5, id="50-percent"),
        pytest.param("100%", 1.0, id="100-percent"),
        pytest.param("150%", 1.0, id="150-clamped"),
        pytest.param("0%", 0.0, id="0-percent-is-a-real-0"),
        pytest.param("9", 0.09, id="no-percent-sign"),
        pytest.param(" 9 % ", 0.09, id="spaces"),
        pytest.param("12.5%", 0.125, id="fraction"),
        pytest.param(50, 0.5, id="int-50"),
        pytest.param(12.5, 0.125, id="float-12.5"),
        pytest.param(150, 1.0, id="int-150-clamped"),
        pytest.param(-5, 0.0, id="negative-number-clamped"),
        pytest.param(None, None, id="null"),
        pytest.param("", None, id="empty"),
        pytest.param("N/A", None, id="N/A"),
        pytest.param("-5%", None, id="negative-string"),
        pytest.param("50%%", None, id="double-percent"),
        pytest.param("half", None, id="word"),
        pytest.param(True, None, id="bool"),
        pytest.param([50], None, id="list"),
        pytest.param({"ratio": "50%"}, None, id="object"),
    ],
)
def test_parse_percent(value: Any, expected: float | None) -> None:
    result = parse_percent(value)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)
        assert 0.0 <= result <= 1.0  # type: ignore[operator]


@pytest.mark.parametrize(
    ("progress", "expected"),
    [
        pytest.param("9%", 0.09, id="9-percent"),
        pytest.param("100%", 1.0, id="100-percent"),
        pytest.param("150%", 1.0, id="150-clamped"),
        pytest.param(42, 0.42, id="number"),
        pytest.param("N/A", None, id="N/A"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="null"),
        pytest.param(..., None, id="missing"),
    ],
)
@pytest.mark.parametrize("raw", ["RUNNING", "FAIL", "STOP", "INIT"])
def test_dws_progress_is_reported_as_given_for_unfinished_and_failed(
    raw: str, progress: Any, expected: float | None
) -> None:
    status = DWS.parse(with_(DWS_FAIL, status=raw, progress=progress), UTC)
    if expected is None:
        assert status.progress is None
    else:
        assert status.progress == pytest.approx(expected)


@pytest.mark.parametrize(
    ("service", "body"),
    [
        pytest.param("dws", with_(DWS_FAIL, status="SUCCESS", progress="9%"), id="dws-9-percent"),
        pytest.param("dws", with_(DWS_FAIL, status="SUCCESS", progress=...), id="dws-no-progress"),
        pytest.param("dws", with_(DWS_FAIL, status="SUCCESS", progress="N/A"), id="dws-N/A"),
        pytest.param("evs", with_(EVS_RUNNING, status="SUCCESS"), id="evs-single"),
        pytest.param("cph", CPH_SUCCESS, id="cph"),
        pytest.param("codearts_check", {"task_status": 2, "progress": {"ratio": "40%"}}, id="codearts-40"),
        pytest.param("codearts_check", {"task_status": 2, "progress": None}, id="codearts-null-progress"),
    ],
)
def test_succeeded_always_has_progress_1(service: str, body: dict[str, Any]) -> None:
    status = SERVICES[service].parse(body, UTC)
    assert status.state is State.SUCCEEDED
    assert status.progress == 1.0


@pytest.mark.parametrize(
    ("service", "body"),
    [
        pytest.param("evs", EVS_RUNNING, id="evs-single-running"),
        pytest.param("evs", with_(EVS_RUNNING, status="FAIL"), id="evs-single-failed"),
        pytest.param("cph", with_(CPH_SUCCESS, status=1), id="cph-running"),
        pytest.param("cph", with_(CPH_SUCCESS, status=-1), id="cph-failed"),
        pytest.param("cph", with_(CPH_SUCCESS, status=1, progress="50%"), id="cph-ignores-stray-progress"),
        pytest.param("dws", with_(DWS_FAIL, status="RUNNING", progress=...), id="dws-running-missing"),
        pytest.param("codearts_check", {"task_status": None, "progress": {"ratio": None}}, id="codearts-pending"),
        pytest.param("codearts_check", {"task_status": 1, "progress": {"ratio": None}}, id="codearts-failed"),
    ],
)
def test_no_made_up_progress(service: str, body: dict[str, Any]) -> None:
    assert SERVICES[service].parse(body, UTC).progress is None


# --------------------------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        pytest.param("2016-03-08T07:40:13.219Z", UTC, 1457422813.219, id="evs-ms-zulu"),
        pytest.param("2016-03-08T07:40:13.219Z", PLUS_8, 1457422813.219, id="evs-zulu-ignores-tz"),
        pytest.param("2019-04-26T07:00:00Z", UTC, 1556262000.0, id="cph-zulu"),
        pytest.param("2022-11-09T20:25:00", UTC, 1668025500.0, id="dws-zoneless-utc"),
        pytest.param("2022-11-09T20:25:00", PLUS_8, 1668025500.0 - 8 * 3600, id="dws-zoneless-plus-8"),
        pytest.param("2022-11-09T20:25:00+08:00", UTC, 1668025500.0 - 8 * 3600, id="explicit-offset"),
        pytest.param("2022-11-09 20:25:00", UTC, 1668025500.0, id="space-separator"),
        pytest.param(" 2022-11-09T20:25:00 ", UTC, 1668025500.0, id="padded"),
        pytest.param(1457422813219, UTC, 1457422813.219, id="epoch-ms-number"),
        pytest.param(1457422813, UTC, 1457422813.0, id="epoch-seconds-number"),
        pytest.param(None, UTC, None, id="null"),
        pytest.param("", UTC, None, id="empty"),
        pytest.param("   ", UTC, None, id="blank"),
        pytest.param("N/A", UTC, None, id="N/A"),
        pytest.param("yesterday", UTC, None, id="word"),
        pytest.param("2022-13-01T00:00:00", UTC, None, id="month-13"),
        pytest.param("2022-11-09T25:00:00", UTC, None, id="hour-25"),
        pytest.param("1457422813", UTC, None, id="epoch-as-string"),
        pytest.param(True, UTC, None, id="bool"),
        pytest.param({"t": 1}, UTC, None, id="object"),
        pytest.param(["2022-11-09T20:25:00"], UTC, None, id="list"),
    ],
)
def test_parse_time(value: Any, tz: timezone, expected: float | None) -> None:
    result = parse_time(value, tz)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("service", "body"),
    [
        pytest.param("evs", with_(EVS_RUNNING, begin_time=None, end_time=""), id="evs-begin-null-end-empty"),
        pytest.param("evs", with_(EVS_RUNNING, begin_time=..., end_time=...), id="evs-missing"),
        pytest.param("evs", with_(EVS_RUNNING, begin_time="garbage", end_time="0000-00-00"), id="evs-garbage"),
        pytest.param("dws", with_(DWS_FAIL, begin_time="", end_time=None), id="dws-empty-and-null"),
        pytest.param("dws", with_(DWS_FAIL, begin_time="N/A", end_time="not a time"), id="dws-garbage"),
        pytest.param("cph", with_(CPH_SUCCESS, status=1, begin_time=None, end_time=None), id="cph-null"),
        pytest.param("cph", with_(CPH_SUCCESS, status=1, begin_time=..., end_time=""), id="cph-missing-and-empty"),
    ],
)
def test_unusable_times_are_none(service: str, body: dict[str, Any]) -> None:
    status = SERVICES[service].parse(body, UTC)
    assert status.start is None
    assert status.end is None


def test_evs_running_end_time_empty_string_is_none_but_start_is_kept() -> None:
    status = EVS.parse(EVS_RUNNING, UTC)
    assert status.end is None
    assert status.start is not None


@pytest.mark.parametrize(
    "literal",
    [pytest.param("NaN", id="NaN"), pytest.param("Infinity", id="Infinity"), pytest.param("-Infinity", id="-Inf")],
)
def test_non_finite_number_time_is_none(literal: str) -> None:
    body = json.loads(f'{{"status": "RUNNING", "begin_time": {literal}, "end_time": ""}}')
    assert EVS.parse(body, UTC).start is None


def test_nan_progress_is_none() -> None:
    body = json.loads('{"status": "RUNNING", "progress": NaN}')
    assert DWS.parse(body, UTC).progress is None


# --------------------------------------------------------------------------------------------------------------
# Wrong body types -> BadResponse naming the service
# --------------------------------------------------------------------------------------------------------------

WRONG_BODIES = [
    pytest.param([], id="empty-list"),
    pytest.param([CPH_SUCCESS], id="list-of-the-right-body"),
    pytest.param("SUCCESS", id="string"),
    pytest.param(2, id="number"),
    pytest.param(None, id="null"),
    pytest.param(True, id="bool"),
    pytest.param({}, id="empty-object"),
    pytest.param({"job_id": "4010a32d535527910153552b492c0002"}, id="object-without-status"),
]


@pytest.mark.parametrize("body", WRONG_BODIES)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_wrong_body_is_bad_response_naming_the_service(service: str, body: Any) -> None:
    with pytest.raises(BadResponse, match=rf"^{service}\b"):
        SERVICES[service].parse(body, UTC)


@pytest.mark.parametrize(
    ("service", "body", "words"),
    [
        pytest.param("evs", [], "list", id="evs-list"),
        pytest.param("dws", "x", "str", id="dws-string"),
        pytest.param("cph", {"phone_id": "p"}, "status", id="cph-no-status"),
        pytest.param("codearts_check", {"status": 0}, "task_status", id="codearts-wrong-field-name"),
        pytest.param("dws", {"task_status": 0}, "status", id="dws-codearts-field-name"),
    ],
)
def test_bad_response_message_says_what_is_wrong(service: str, body: Any, words: str) -> None:
    with pytest.raises(BadResponse) as info:
        SERVICES[service].parse(body, UTC)
    assert service in str(info.value)
    assert words in str(info.value)


# --------------------------------------------------------------------------------------------------------------
# Error fields: failed tasks only, cleaned, cut to 256
# --------------------------------------------------------------------------------------------------------------

FAILED_BODIES = {
    "dws": (DWS_FAIL, "status", "FAIL", "failed_code", "failed_detail"),
    "dws-ERROR": (DWS_FAIL, "status", "ERROR", "failed_code", "failed_detail"),
    "evs": (EVS_RUNNING, "status", "FAIL", "error_code", "fail_reason"),
    "cph": (CPH_SUCCESS, "status", -1, "error_code", "error_msg"),
}


def failed_body(kind: str, code: Any, message: Any) -> tuple[Service, dict[str, Any]]:
    base, field, value, code_key, message_key = FAILED_BODIES[kind]
    assert isinstance(base, dict)
    return SERVICES[kind.split("-")[0]], with_(base, **{field: value, code_key: code, message_key: message})


@pytest.mark.parametrize("kind", sorted(FAILED_BODIES))
def test_failed_task_has_error_fields(kind: str) -> None:
    service, body = failed_body(kind, "X.0001", "it broke")
    status = service.parse(body, UTC)
    assert status.state is State.FAILED
    assert (status.error_code, status.error_message) == ("X.0001", "it broke")


@pytest.mark.parametrize("kind", sorted(FAILED_BODIES))
def test_failed_task_with_null_error_fields_has_empty_ones(kind: str) -> None:
    service, body = failed_body(kind, None, None)
    status = service.parse(body, UTC)
    assert status.state is State.FAILED
    assert (status.error_code, status.error_message) == ("", "")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("line one\nline two", "line one line two", id="newline"),
        pytest.param("a\r\n\tb", "a b", id="crlf-tab"),
        pytest.param("nul\x00byte", "nul byte", id="nul"),
        pytest.param("bell\x07 esc\x1b[31mred", "bell esc [31mred", id="bell-and-ansi-escape"),
        pytest.param("del\x7fc1\x85x", "del c1 x", id="del-and-c1"),
        pytest.param("  padded  ", "padded", id="padded"),
        pytest.param("many     spaces", "many spaces", id="folded-spaces"),
        pytest.param("磁盘\n不存在", "磁盘 不存在", id="cjk-kept"),
        pytest.param(12345, "12345", id="number-as-text"),
        pytest.param({"detail": "x"}, "", id="object-is-dropped"),
    ],
)
@pytest.mark.parametrize("kind", sorted(FAILED_BODIES))
def test_error_message_is_cleaned(kind: str, message: Any, expected: str) -> None:
    service, body = failed_body(kind, "X.0001", message)
    assert service.parse(body, UTC).error_message == expected


@pytest.mark.parametrize("kind", sorted(FAILED_BODIES))
def test_error_message_and_code_are_cut_to_256_characters(kind: str) -> None:
    service, body = failed_body(kind, "C" * 300, "é" * 100 + "\n" + "x" * 400)
    status = service.parse(body, UTC)
    assert MESSAGE_LIMIT == 256
    assert len(status.error_message) == 256
    assert status.error_message.startswith("é" * 100 + " x")
    assert status.error_code == "C" * 256


@pytest.mark.parametrize(
    ("service", "body"),
    [
        pytest.param("dws", with_(DWS_FAIL, status="SUCCESS"), id="dws-success"),
        pytest.param("dws", with_(DWS_FAIL, status="STOP"), id="dws-stopped"),
        pytest.param("dws", with_(DWS_FAIL, status="RUNNING"), id="dws-running"),
        pytest.param("dws", with_(DWS_FAIL, status="INIT"), id="dws-pending"),
        pytest.param("dws", with_(DWS_FAIL, status="PAUSED_FOREVER"), id="dws-unknown"),
        pytest.param("evs", with_(EVS_RUNNING, error_code="EVS.0001", fail_reason="boom"), id="evs-running"),
        pytest.param(
            "evs", with_(EVS_RUNNING, status="SUCCESS", error_code="EVS.0001", fail_reason="boom"), id="evs-success"
        ),
        pytest.param("cph", with_(CPH_SUCCESS, error_code="CPS.0001", error_msg="boom"), id="cph-success"),
        pytest.param("cph", with_(CPH_SUCCESS, status=1, error_code="CPS.0001", execute_msg="x"), id="cph-running"),
    ],
)
def test_error_fields_only_for_failed_tasks(service: str, body: dict[str, Any]) -> None:
    status = SERVICES[service].parse(body, UTC)
    assert status.state is not State.FAILED
    assert status.error_code == ""
    assert status.error_message == ""


# --------------------------------------------------------------------------------------------------------------
# resource_id, job_type, job_name
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "body", "expected"),
    [
        pytest.param("evs", EVS_RUNNING, "bdf1bb37-f20f-4266-9a04-f43e0a127376", id="evs-volume_id"),
        pytest.param("evs", with_(EVS_RUNNING, entities={"server_id": "srv-1"}), "srv-1", id="evs-server_id"),
        pytest.param("evs", with_(EVS_RUNNING, entities={"volume_id": None}), "", id="evs-volume_id-null"),
        pytest.param("evs", with_(EVS_RUNNING, entities={"volume_id": ""}), "", id="evs-volume_id-empty"),
        pytest.param(
            "evs",
            with_(EVS_RUNNING, entities={"volume_id": "", "server_id": "srv-2"}),
            "srv-2",
            id="evs-empty-volume_id-falls-through",
        ),
        pytest.param("cph", CPH_SUCCESS, "9b28fbe50ded4060b8149a47e55dba82", id="cph-phone_id"),
        pytest.param(
            "cph", with_(CPH_SUCCESS, phone_id=..., server_id="cph-server-1"), "cph-server-1", id="cph-server_id"
        ),
        pytest.param(
            "cph", with_(CPH_SUCCESS, phone_id=None, server_id="cph-server-2"), "cph-server-2", id="cph-phone_id-null"
        ),
        pytest.param("cph", with_(CPH_SUCCESS, phone_id=None), "", id="cph-neither"),
        pytest.param("dws", DWS_FAIL, "", id="dws-none"),
        pytest.param("codearts_check", CODEARTS_RUNNING, "", id="codearts-none"),
    ],
)
def test_resource_id(service: str, body: dict[str, Any], expected: str) -> None:
    assert SERVICES[service].parse(body, UTC).resource_id == expected


@pytest.mark.parametrize(
    ("service", "body", "job_type", "job_name"),
    [
        pytest.param("evs", EVS_RUNNING, "createVolume", "", id="evs"),
        pytest.param("evs", with_(EVS_RUNNING, job_type=None), "", "", id="evs-null-type"),
        pytest.param("dws", DWS_FAIL, "", "ecfClusterElbCreateJob", id="dws"),
        pytest.param("dws", with_(DWS_FAIL, job_name=...), "", "", id="dws-missing-name"),
        pytest.param("cph", CPH_SUCCESS, "", "", id="cph"),
    ],
)
def test_job_type_and_name(service: str, body: dict[str, Any], job_type: str, job_name: str) -> None:
    status = SERVICES[service].parse(body, UTC)
    assert (status.job_type, status.job_name) == (job_type, job_name)


def test_parse_does_not_modify_the_body() -> None:
    for service, body in (("evs", EVS_BATCH_SUCCESS), ("dws", DWS_FAIL), ("cph", CPH_SUCCESS)):
        before = copy.deepcopy(body)
        SERVICES[service].parse(body, PLUS_8)
        assert body == before


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, "null", id="null"),
        pytest.param(2, "2", id="int"),
        pytest.param(-1, "-1", id="negative"),
        pytest.param(2.0, "2", id="integral-float"),
        pytest.param(2.5, "2.5", id="float"),
        pytest.param(" RUNNING\n", "RUNNING", id="stripped"),
        pytest.param(True, "true", id="bool"),
        pytest.param([], "", id="list"),
    ],
)
def test_raw_status(value: Any, expected: str) -> None:
    assert raw_status(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, "", id="null"),
        pytest.param("abc", "abc", id="string"),
        pytest.param(7, "7", id="int"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param(False, "", id="bool"),
        pytest.param({"a": 1}, "", id="object"),
        pytest.param(["a"], "", id="list"),
    ],
)
def test_text(value: Any, expected: str) -> None:
    assert text(value) == expected


def test_clean_message_limit_applies_after_folding() -> None:
    assert clean_message("a" + "\n" * 1000 + "b") == "a b"
    assert len(clean_message(" x" * 1000)) == 256
