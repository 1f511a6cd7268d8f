"""Pushed notices read into jobs (exporter/tracking/pushed.py) and tracked as `pushed` (Tracker.push): the
record a notice carries is read as the trace discovery reads a listed one; a notice naming no job says why."""

from __future__ import annotations

import json

import httpx
from prometheus_client import CollectorRegistry

from exporter.cloud.client import ApiClient
from exporter.config import parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.tracking import Tracker
from exporter.tracking.pushed import Place, read_notice
from exporter.tracking.table import Source
from tests.conftest import PROJECT

OTHER = "fedcba9876543210fedcba9876543210"
JOB = "ff8080815c1b3c1e015c1f0f2d5a0a12"
TEXT = f"""
accounts:
  - {{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}
  - {{name: dev, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://evs.test"}}
  - {{cloud_service: evs, account: prod, region: cn-east-3, project_id: {OTHER}, endpoint: "http://evs2.test"}}
  - {{cloud_service: ecs, account: dev, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://ecs.test"}}
"""


def record(**fields: object) -> dict[str, object]:
    return {"service_type": "EVS", "trace_name": "createVolume", "code": "202",
            "response": json.dumps({"job_id": JOB}), **fields}  # fmt: skip


def test_a_trace_record_names_its_job_and_the_target_of_its_place() -> None:
    config = parse_config(TEXT, env={"T": "t"})
    notice = read_notice(config, Place("prod", "cn-north-4", PROJECT), record())
    assert notice.job_id == JOB and notice.target is not None
    assert notice.target.key == ("prod", "evs", "cn-north-4", PROJECT)
    as_text = read_notice(config, Place("prod", "cn-north-4", PROJECT), json.dumps(record()))
    assert as_text.job_id == JOB  # an SMN message is the record as JSON text


def test_a_cloudevent_without_a_region_is_placed_by_the_record_or_not_at_all() -> None:
    config = parse_config(TEXT, env={"T": "t"})
    ambiguous = read_notice(config, Place("prod"), record())
    assert ambiguous.target is None
    assert ambiguous.why == "several targets of prod track service type EVS and the record names no region"
    placed = read_notice(config, Place("prod"), record(region_id="cn-east-3"))
    assert placed.target is not None and placed.target.region == "cn-east-3"


def test_a_notice_that_names_no_job_says_why() -> None:
    config = parse_config(TEXT, env={"T": "t"})
    place = Place("prod", "cn-north-4", PROJECT)
    cases = {
        "{not json": "the message is not a JSON trace record",
        "[1, 2]": "the message is not a trace record (an object)",
        json.dumps({"trace_name": "x"}): "the trace record has no service_type",
        json.dumps(record(service_type="RDS")): "no target of prod/cn-north-4/" + PROJECT + " tracks service type RDS",
        json.dumps(record(code="400")): "a failed operation",
        json.dumps(record(response='{"job_id": "ff80')): "a response cut short or not JSON",
        json.dumps(record(response="{}")): "no job ID",
    }
    for message, why in cases.items():
        assert read_notice(config, place, message).why == why, message


def test_a_pushed_job_is_tracked_as_pushed_and_asked_at_once() -> None:
    config = parse_config(TEXT, env={"T": "t"})
    asked: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(200, json={"status": "RUNNING", "begin_time": "2026-12-07T10:00:00.000Z"})

    metrics = SelfMetrics(CollectorRegistry())
    client = ApiClient(config, metrics, transport=lambda _a: httpx.MockTransport(cloud))
    tracker = Tracker(config, client)
    notice = read_notice(config, Place("prod", "cn-north-4", PROJECT), record())
    assert notice.target is not None
    assert tracker.push(notice.target.key, notice.job_id)
    assert tracker.push(notice.target.key, notice.job_id)  # again: already tracked, nothing changes
    (target,) = [t for t in tracker.targets if t.target.key == notice.target.key]
    assert target.tasks[JOB].source is Source.PUSHED and target.tracked()[Source.PUSHED] == 1

    import asyncio

    async def refresh() -> None:
        await tracker.refresh(5)
        await client.aclose()

    asyncio.run(refresh())
    assert asked == [f"/v1/{PROJECT}/jobs/{JOB}"]  # never answered: due at once
    (target,) = [t for t in tracker.targets if t.target.key == notice.target.key]
    status = target.tasks[JOB].status
    assert status is not None and status.raw_status == "RUNNING"
    assert not tracker.push(("prod", "evs", "eu-west-0", PROJECT), JOB)  # not a configured target


def test_the_record_may_sit_elsewhere_in_what_was_pushed() -> None:
    """The reading is configurable (the CTS message body is not documented): `record` points at the trace."""
    config = parse_config(TEXT, env={"T": "t"})
    place = Place("prod", "cn-north-4", PROJECT)
    wrapped = json.dumps({"detail": {"traces": [record()]}})
    assert read_notice(config, place, wrapped, ("detail", "traces", "0")).job_id == JOB
    assert read_notice(config, place, wrapped).why == "the trace record has no service_type"
    assert read_notice(config, place, wrapped, ("detail", "nothing")).why == (
        "the message is not a trace record (an object)"
    )
