"""Edge cases a review of the services-as-data redesign found, each pinned: AK/SK signing per project,
pauses shared by one AK, probes and reloads, refusals counted once, odd list items, spec validation,
the gateway's own codes, and the interpreter's first-non-empty rule."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from prometheus_client import CollectorRegistry

from exporter.cloud.client import ApiClient
from exporter.cloud.errors import ApiError
from exporter.cloud.guards import Guards
from exporter.config import Config, ConfigError, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import Reason, State, TaskStatus
from exporter.services import BUILTIN, parse_time, read_status
from exporter.tracking import Tracker

P1, P2 = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
TASK = "4010a32d535527910153552b492c0002"
AK, SK = "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
Handler = Callable[[httpx.Request], httpx.Response]


def client(config: Config, handler: Handler, guards: Guards | None = None) -> ApiClient:
    transport = httpx.MockTransport(handler)
    return ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: transport, guards=guards)


async def test_aksk_signs_each_projects_requests_with_that_project() -> None:
    config = parse_config(
        f"""
accounts: [{{name: prod, auth: {{type: aksk, access_key: {AK}, secret_key: "${{SK}}"}}}}]
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {P1}, tasks: [{TASK}]}}
  - {{cloud_service: evs, account: prod, region: cn-east-3, project_id: {P2}, tasks: [{TASK}]}}
""",
        env={"SK": SK},
    )
    seen: list[tuple[str, str | None]] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path.split("/")[2], request.headers.get("X-Project-Id")))
        return httpx.Response(200, json={"status": "RUNNING"})

    api = client(config, cloud)
    for target in config.targets:
        assert isinstance(await api.query(target, TASK, 5), TaskStatus)
    await api.aclose()
    assert seen == [(P1, P1), (P2, P2)]


def shared_ak(cooldown: str = "5m") -> Config:
    return parse_config(
        f"""
accounts:
  - {{name: one, auth_cooldown: {cooldown}, auth: {{type: aksk, access_key: {AK}, secret_key: "${{SK}}"}}}}
  - {{name: two, auth_cooldown: {cooldown}, auth: {{type: aksk, access_key: {AK}, secret_key: "${{SK}}"}}}}
services:
  - {{cloud_service: evs, account: one, region: cn-north-4, project_id: {P1}, tasks: [{TASK}]}}
  - {{cloud_service: dws, account: two, region: cn-north-4, project_id: {P1}, tasks: [{TASK}]}}
""",
        env={"SK": SK},
    )


def refusing(counter: list[int]) -> Handler:
    def cloud(request: httpx.Request) -> httpx.Response:
        counter.append(1)
        return httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "verify aksk signature fail"})

    return cloud


async def test_two_accounts_with_one_access_key_share_its_pause() -> None:
    # The cloud locks the AK, not the config's account name: a refusal of one pauses the other.
    config, sent = shared_ak(), list[int]()
    api = client(config, refusing(sent))
    first = await api.query(config.targets[0], TASK, 5)
    second = await api.query(config.targets[1], TASK, 5)
    await api.aclose()
    assert isinstance(first, ApiError) and first.sent
    assert isinstance(second, ApiError) and not second.sent and second.reason is Reason.AUTH
    assert len(sent) == 1


async def test_a_refusal_holds_the_rest_of_a_scrape_back_even_without_a_cool_down() -> None:
    clock, sent = [1000.0], list[int]()
    config = shared_ak("0")
    api = client(config, refusing(sent), Guards(lambda: clock[0]))
    for _ in range(10):  # one scrape's worth of queries right after a refusal
        await api.query(config.targets[0], TASK, 5)
    assert len(sent) == 1
    clock[0] += 1.5  # the next scrape may try once more
    await api.query(config.targets[0], TASK, 5)
    await api.aclose()
    assert len(sent) == 2


async def test_a_secret_file_caught_empty_keeps_the_pause(tmp_path: Path) -> None:
    (tmp_path / "sk").write_text("wrong-secret-key-000000000000000000000000")
    config = parse_config(
        f"""
accounts: [{{name: prod, auth: {{type: aksk, access_key: {AK}, secret_key_file: {tmp_path / "sk"}}}}}]
services: [{{cloud_service: evs, account: prod, region: cn-north-4, project_id: {P1}, tasks: [{TASK}]}}]
""",
        env={},
    )
    sent: list[int] = []
    api = client(config, refusing(sent))
    await api.query(config.targets[0], TASK, 5)
    (tmp_path / "sk").write_text("")  # an agent between truncating and writing the new key
    held = await api.query(config.targets[0], TASK, 5)
    await api.aclose()
    assert isinstance(held, ApiError) and not held.sent
    assert api.cooling_down("prod") > 0 and len(sent) == 1


EVS_CONFIG = f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {P1}, endpoint: "http://evs.test", tasks: []}}
  - {{cloud_service: dws, account: prod, region: cn-north-4, project_id: {P1}, endpoint: "http://dws.test", tasks: []}}
"""


async def test_a_probe_whose_target_leaves_with_a_reload_still_answers() -> None:
    config = parse_config(EVS_CONFIG, env={"T": "t"})
    arrived, release = asyncio.Event(), asyncio.Event()

    async def cloud(request: httpx.Request) -> httpx.Response:
        arrived.set()
        await release.wait()
        return httpx.Response(200, json={"status": "RUNNING"})

    api = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    tracker = Tracker(config, api)
    evs = config.targets[0].key
    probe = asyncio.ensure_future(tracker.probe(evs, TASK, 5))
    await arrived.wait()  # the probe's query is out
    without_evs = "\n".join(line for line in EVS_CONFIG.splitlines() if "cloud_service: evs" not in line)
    tracker.apply(parse_config(without_evs, env={"T": "t"}))
    release.set()
    target, record, up = await probe
    await api.aclose()
    assert up and target.target.key == evs
    assert record is not None and record.status is not None and record.status.state is State.RUNNING
    assert all(t.target.key != evs for t in tracker.targets)  # nothing stored for a target that left


async def test_file_tasks_refused_for_lack_of_room_are_counted_once(tmp_path: Path) -> None:
    tasks = [f"e7{n:030x}" for n in range(1, 7)]
    (tmp_path / "t.yaml").write_text(
        "tasks:\n" + "".join(f"  - {{cloud_service: evs, task_id: {t}}}\n" for t in tasks[2:])
    )
    config = parse_config(
        f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
tracking: {{max_tasks: 3}}
task_files: ['{tmp_path}/*.yaml']
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {P1}, endpoint: "http://evs.test",
      tasks: [{tasks[0]}, {tasks[1]}]}}
""",
        env={"T": "t"},
    )
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry)
    api = ApiClient(
        config,
        metrics,
        transport=lambda _a: httpx.MockTransport(lambda _r: httpx.Response(200, json={"status": "RUNNING"})),
    )
    tracker = Tracker(config, api, on_drop=metrics.drop, on_file_error=metrics.file_error)
    await tracker.settle_files()
    for _ in range(4):
        await tracker.refresh(5)
    await api.aclose()
    refused = registry.get_sample_value(
        "huaweicloud_task_dropped_total", {"cloud_service": "evs", "reason": "max_tasks"}
    )
    assert refused == 3  # four file tasks, one free slot: three refused, once


CPH_CONFIG = f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - {{cloud_service: cph, account: prod, region: cn-north-4, project_id: {P1}, endpoint: "http://cph.test",
      discover: {{request_ids: [{"ab" * 16}]}}}}
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {P1}, endpoint: "http://evs.test",
      tasks: [{TASK}]}}
"""


async def test_an_odd_list_item_is_skipped_and_an_unknown_status_in_a_list_is_logged() -> None:
    good, odd, new = "ce11" + "1" * 28, "ce11" + "2" * 28, "ce11" + "3" * 28

    def cloud(request: httpx.Request) -> httpx.Response:
        if "cloud-phone" in request.url.path:
            jobs = [
                {"job_id": good, "status": 1},
                {"job_id": odd, "status": 1, "begin_time": 10**400},  # too large for a float
                {"job_id": new, "status": 7},
            ]
            return httpx.Response(200, json={"request_id": "f" * 32, "jobs": jobs})
        return httpx.Response(200, json={"status": "RUNNING"})

    config = parse_config(CPH_CONFIG, env={"T": "t"})
    api = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    tracker = Tracker(config, api)
    with structlog.testing.capture_logs() as logs:
        await tracker.refresh(5)
        await tracker.refresh(5)
    await api.aclose()
    cph, evs = tracker.targets
    assert {t: r.status.state for t, r in cph.tasks.items() if r.status} == {
        good: State.RUNNING,
        odd: State.RUNNING,
        new: State.UNKNOWN,
    }
    odd_status = cph.tasks[odd].status
    assert odd_status is not None and odd_status.start is None  # the odd time is read as none
    assert evs.tasks[TASK].status is not None  # the other target was refreshed
    unknown = [e for e in logs if e["event"].startswith("unknown raw task status")]
    assert [(e["cloud_service"], e["raw_status"]) for e in unknown] == [("cph", "7")]


# --- the spec reader ------------------------------------------------------------------------------


def custom(spec: str) -> str:
    return f"""
accounts: [{{name: prod, auth: {{type: token, token: t}}}}]
custom_services:
{spec}
services: []
"""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            "  - {name: x, status: {path: '/a/{task_id}', state: /s, states: {a: running},\n"
            "     reasons: {APIGW.0301: client_error}}}",
            r"c.yaml:5: custom_services\[0\].status.reasons.APIGW.0301: APIGW.0301 is an API gateway code",
            id="gateway-code",
        ),
        pytest.param(
            "  - {name: x, status: {path: '/a/{task_id}', state: /s, states: {a: running}},\n"
            "     discover: {config_key: ids, path: '/l/{value}', batch: ids, items: /i, id: /id}}",
            r"custom_services\[0\].discover: give the values either in the path",
            id="batch-and-value",
        ),
    ],
)
def test_spec_validation_refuses_what_would_misbehave(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(custom(spec), env={}, file="c.yaml")


def test_numeric_and_null_state_keys_need_no_quotes() -> None:
    config = parse_config(
        custom(
            "  - {name: x, status: {path: '/a/{task_id}', state: /s, states: {1: running, -1: failed, null: pending}}}"
        ),
        env={},
    )
    spec = config.services["x"]
    assert [read_status(spec, {"s": raw}, UTC).state for raw in (1, -1, None)] == [
        State.RUNNING,
        State.FAILED,
        State.PENDING,
    ]


def test_a_project_id_in_the_list_path_only_still_makes_it_required() -> None:
    text = custom(
        "  - {name: x, status: {path: '/a/{task_id}', state: /s, states: {a: running}},\n"
        "     discover: {path: '/v1/{project_id}/jobs', items: /i, id: /id}}"
    ).replace(
        "services: []",
        "services: [{cloud_service: x, account: prod, region: cn-north-4, endpoint: 'http://x.test', discover: true}]",
    )
    with pytest.raises(ConfigError, match=r"services\[0\]: missing required key 'project_id'"):
        parse_config(text, env={}, file="c.yaml")


# --- the interpreter and the client ---------------------------------------------------------------


def test_the_first_non_empty_message_wins_over_false_and_zero() -> None:
    body = {"status": -1, "error_code": "CPS.0010", "error_msg": False, "execute_msg": "restart failed"}
    assert read_status(BUILTIN["cph"], body, UTC).error_message == "restart failed"


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (0, "epoch_s", None),
        (-1, "epoch_ms", None),
        ("0", "epoch_ms", None),
        (10**400, "iso", None),
        (10**400, "epoch_s", None),
    ],
)
def test_placeholder_and_overflowing_times_are_no_time(value: Any, fmt: str, expected: float | None) -> None:
    assert parse_time(value, UTC, fmt) == expected


def test_a_percent_string_is_a_percentage_on_a_ratio_scale() -> None:
    config = parse_config(
        custom(
            "  - {name: x, status: {path: '/a/{task_id}', state: /s, states: {a: running},\n"
            "     progress: {at: /p, scale: ratio}}}"
        ),
        env={},
    )
    spec = config.services["x"]
    assert [read_status(spec, {"s": "a", "p": p}, UTC).progress for p in ("50%", 0.5, "0.25")] == [0.5, 0.5, 0.25]


async def test_the_gateways_no_such_api_is_not_a_missing_task() -> None:
    config = parse_config(EVS_CONFIG.replace("tasks: []}", f"tasks: [{TASK}]}}", 1), env={"T": "t"})
    answer = {"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published"}
    api = client(config, lambda _r: httpx.Response(404, json=answer))
    result = await api.query(config.targets[0], TASK, 5)
    await api.aclose()
    assert (
        isinstance(result, ApiError) and result.reason is Reason.CLIENT_ERROR
    )  # a wrong endpoint keeps the target down
