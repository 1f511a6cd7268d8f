"""Faults the cloud and the scrapers cause (issue 9): nothing lost, nothing frozen, everything counted."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import structlog.testing
from prometheus_client import CollectorRegistry

from exporter.cloud.client import ApiClient
from exporter.config import Config, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import State
from exporter.services import BUILTIN, ServiceSpec
from exporter.tracking import Tracker

PROJECT = "0123456789abcdef0123456789abcdef"
TASK = "4010a32d535527910153552b492c0002"
# A task ID of each spec's kind where it is not hexadecimal (MPC's integers).
TASK_OF_KIND = {"number": "22123973"}


Handler = Callable[[httpx.Request], httpx.Response]

# A good answer per built-in service, in its documented shape.
GOOD: dict[str, dict[str, Any]] = {
    "codearts_check": {"task_status": 0, "progress": {"ratio": "50%", "info": "running"}},
    "dws": {"status": "RUNNING", "progress": "9%", "begin_time": "2022-11-09T20:25:00", "end_time": None},
    "evs": {"status": "RUNNING", "begin_time": "2016-03-08T07:40:13.219Z", "end_time": ""},
    "cph": {"status": 1, "begin_time": "2019-04-26T07:00:00Z", "end_time": None},
}


PARAMS = ", params: {cluster_id: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}"  # MRS, CDM: the target's cluster
# The params of the services that take others, and the task IDs of those that name tasks otherwise.
OTHER_PARAMS = {"dataarts_factory": "", "codearts_pipeline": f", params: {{codearts_project_id: {PROJECT}}}"}
TASK_IDS = {"dataarts_factory": "job_batch/34765", "cdm": "jdbc2hive", "codearts_pipeline": f"{TASK}/{TASK}",
            "codearts_build": f"{TASK}/12", "rfs": "web-prod"}  # fmt: skip


def task_of(service: str) -> str:
    return TASK_IDS.get(service) or TASK_OF_KIND.get(BUILTIN[service].identity.parts[0].kind, TASK)


def params_for(service: str) -> str:
    """The target's path parameters (MRS's cluster, a DMS instance), each a valid ID."""
    names = BUILTIN[service].params
    return ", params: {" + ", ".join(f"{n}: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" for n in names) + "}" if names else ""


def config_for(service: str) -> Config:
    params = OTHER_PARAMS[service] if service in OTHER_PARAMS else params_for(service)
    return parse_config(
        f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - {{cloud_service: {service}, account: prod, region: cn-north-4, project_id: {PROJECT},
      endpoint: "http://cloud.test", tasks: ['{task_of(service)}']{params}}}
tracking: {{poll_interval: 0}}  # every refresh asks the task: the tests count what each answer does
""",
        env={"T": "t"},
    )


def good_body(spec: ServiceSpec) -> dict[str, Any]:
    """A running task's answer: the documented one above, or what the fake cloud writes from the spec."""
    if spec.name in GOOD:
        return GOOD[spec.name]
    from exporter.simulator.bodies import spec_body
    from exporter.simulator.scenario import Phase, Task

    running = next(raw for raw, state in spec.status.states.items() if state is State.RUNNING)
    task = Task(spec.name, task_of(spec.name), (Phase(0.0, running),), begin=-60.0, spec=spec)
    return spec_body(task, start=1_700_000_000.0, elapsed=10.0)


def _with(body: dict[str, Any], pointer: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `body` with `value` at `pointer` (objects made on the way)."""
    out = copy.deepcopy(body)
    node = out
    for token in pointer[:-1]:
        if isinstance(node, list):  # a "0" token (GeminiDB's jobs list)
            node = node[0]
        elif not isinstance(node.get(token), dict | list):
            node[token] = {}
            node = node[token]
        else:
            node = node[token]
    node[pointer[-1]] = value
    return out


def wrong_bodies(spec: ServiceSpec) -> list[tuple[str, dict[str, Any]]]:
    """The service's good answer with one field of the wrong type: the status, progress, times."""
    good, status = good_body(spec), spec.status
    state = status.state.pointers[0]
    cases = [("status-list", _with(good, state, [])), ("status-object", _with(good, state, {}))]
    if status.progress is not None and not status.progress.path:  # DLI's comes from an API of its own
        cases.append(("progress-object", _with(good, status.progress.at.pointers[0], {"v": 1})))
    if status.start is not None:
        cases.append(("time-list", _with(good, status.start.at.pointers[0], [2016])))
    return cases


CASES = [(name, kind, body) for name, spec in sorted(BUILTIN.items()) for kind, body in wrong_bodies(spec)]


@pytest.mark.parametrize(("service", "kind", "body"), CASES, ids=[f"{s}-{k}" for s, k, _ in CASES])
async def test_a_wrong_typed_body_is_a_bad_response_and_the_task_keeps_its_values(
    service: str, kind: str, body: dict[str, Any]
) -> None:
    answers = [good_body(BUILTIN[service]), body, body, body]
    config = config_for(service)
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry)

    def cloud(request: httpx.Request) -> httpx.Response:
        progress = BUILTIN[service].status.progress
        if progress is not None and progress.path and request.url.path.endswith("/progress"):
            # DLI's and DMS's progress APIs, asked while a job runs
            return httpx.Response(200, json={"progress": 0.5})
        return httpx.Response(200, json=answers.pop(0))

    client = ApiClient(config, metrics, transport=lambda _a: httpx.MockTransport(cloud))
    now = [1000.0]
    tracker = Tracker(config, client, clock=lambda: now[0])
    await tracker.refresh(5)
    (target,) = tracker.targets
    before = target.tasks[task_of(service)]
    assert before.status is not None and before.status.state is State.RUNNING
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            now[0] += 30
            await tracker.refresh(5)
    await client.aclose()
    (target,) = tracker.targets
    after = target.tasks[task_of(service)]
    assert after.status == before.status  # the last known values stay
    assert after.last_update == 1000.0  # and show how old they are
    assert after.last_error is not None and after.last_error.reason.value == "bad_response"
    labels = {"account": "prod", "cloud_service": service, "region": "cn-north-4", "reason": "bad_response"}
    assert registry.get_sample_value("huaweicloud_task_api_errors_total", labels) == 3
    warned = [e for e in logs if e["event"] == "bad response from the cloud; the task keeps its last known values"]
    assert [(e["count"], e["cloud_service"]) for e in warned] == [(1, service)]  # once per kind and target
    assert "wrong type" in warned[0]["kind"]


TASKS = [f"e7{n:030x}" for n in range(1, 4)]


def evs_config() -> Config:
    return parse_config(
        f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://cloud.test",
      tasks: [{", ".join(TASKS)}]}}
tracking: {{poll_interval: 0}}  # every refresh asks every task: the tests count what each refresh sends or holds
""",
        env={"T": "t"},
    )


def held(registry: CollectorRegistry, reason: str) -> float | None:
    labels = {"account": "prod", "cloud_service": "evs", "region": "cn-north-4", "reason": reason}
    return registry.get_sample_value("huaweicloud_task_api_held_back_total", labels)


def sent(registry: CollectorRegistry) -> float:
    return sum(
        s.value
        for metric in registry.collect()
        if metric.name == "huaweicloud_task_api_requests"
        for s in metric.samples
        if s.name.endswith("_total")
    )


async def test_the_partners_scrape_inside_our_own_back_off_keeps_the_target_up_and_counts_what_it_held() -> None:
    calls: list[int] = []

    def cloud(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 3:  # one 429 among the first scrape's answers
            return httpx.Response(429, json={"error_code": "APIGW.0308", "error_msg": "over ratelimit"})
        return httpx.Response(200, json={"status": "RUNNING"})

    config, registry = evs_config(), CollectorRegistry()
    client = ApiClient(config, SelfMetrics(registry), transport=lambda _a: httpx.MockTransport(cloud))
    tracker = Tracker(config, client)
    await tracker.refresh(5)
    assert tracker.targets[0].up and sent(registry) == 3
    await tracker.refresh(5)  # the HA partner, inside the 1 s back-off: nothing goes out
    await client.aclose()
    assert tracker.targets[0].up  # our own back-off is not the cloud's outage
    assert sent(registry) == 3 and held(registry, "backoff") == 3


async def test_polls_held_back_by_the_deadline_and_the_auth_pause_are_counted() -> None:
    config, registry = evs_config(), CollectorRegistry()
    refuse = httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "token expired"})
    client = ApiClient(config, SelfMetrics(registry), transport=lambda _a: httpx.MockTransport(lambda _r: refuse))
    tracker = Tracker(config, client)
    await tracker.refresh(0)  # no time at all: every poll held back, none sent
    assert held(registry, "deadline") == 3 and sent(registry) == 0
    assert tracker.targets[0].up  # nothing was tried: the target keeps its last state
    await tracker.refresh(5)  # one request goes first and is refused; the other two wait for the pause
    await client.aclose()
    assert sent(registry) == 1 and held(registry, "auth_pause") == 2
    assert not tracker.targets[0].up  # refused credentials are an outage of the account


async def test_resets_html_and_huge_bodies_are_counted_by_their_reason() -> None:
    from exporter.model import Reason
    from exporter.simulator import DEMO_TOKEN, Simulator, parse_scenario, start_simulator

    ids = {"reset": "e7" + "a" * 30, "html": "e7" + "b" * 30, "huge": "e7" + "c" * 30}
    scenario = parse_scenario(
        {
            "tasks": [
                {"cloud_service": "evs", "task_id": i, "fault": k, "phases": [{"after": 0, "status": "RUNNING"}]}
                for k, i in ids.items()
            ]
        }
    )
    async with await start_simulator(Simulator(scenario)) as cloud:
        config = parse_config(
            f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "{cloud.url}",
      tasks: [{", ".join(ids.values())}]}}
""",
            env={"T": DEMO_TOKEN},
        )
        client = ApiClient(config, SelfMetrics(CollectorRegistry()))
        results = {kind: await client.query(config.targets[0], task_id, 5) for kind, task_id in ids.items()}
        await client.aclose()
    reasons = {kind: getattr(result, "reason", None) for kind, result in results.items()}
    assert reasons == {"reset": Reason.CONNECT, "html": Reason.BAD_RESPONSE, "huge": Reason.BAD_RESPONSE}


async def test_a_progress_its_own_api_does_not_give_stays_and_its_series_does_not_go() -> None:
    """DLI's progress comes from an API of its own: a failed progress query (or one not asked, for lack
    of time) keeps the progress known for the running task, as a failed status query keeps everything;
    a progress API that answers without a progress is the cloud's word, and the progress goes."""
    from exporter.exposition.render import TaskText

    status = {"status": "RUNNING", "job_type": "QUERY", "start_time": 1_700_000_000_000}
    progress = [
        httpx.Response(200, json={"progress": 0.4}),
        httpx.Response(500, json={"error_code": "DLI.0999", "error_msg": "Internal error"}),
        httpx.Response(200, json={"progress": 0.6}),
        httpx.Response(200, json={"progress": None}),
    ]

    def cloud(request: httpx.Request) -> httpx.Response:
        return progress.pop(0) if request.url.path.endswith("/progress") else httpx.Response(200, json=status)

    config, registry = config_for("dli"), CollectorRegistry()
    client = ApiClient(config, SelfMetrics(registry), transport=lambda _a: httpx.MockTransport(cloud))
    tracker = Tracker(config, client, clock=lambda: 1_700_000_100.0)
    text = TaskText(lambda: tracker.snapshot, lambda: 1_700_000_100.0)
    shown = []
    # The progress API answers 0.4, fails, answers 0.6, is not asked (0.4 s is too little time left for
    # it), then answers without a progress.
    for budget in (5, 5, 5, 0.4, 5):
        await tracker.refresh(budget)
        lines = b"".join(text.render()).decode().splitlines()
        shown.append([line.rsplit(" ", 1)[1] for line in lines if line.startswith("huaweicloud_task_progress_ratio{")])
    await client.aclose()
    assert shown == [["0.4"], ["0.4"], ["0.6"], ["0.6"], []]
    assert progress == []
    labels = {"account": "prod", "cloud_service": "dli", "region": "cn-north-4", "reason": "server_error"}
    assert registry.get_sample_value("huaweicloud_task_api_errors_total", labels) == 1
    (target,) = tracker.targets
    record = target.tasks[TASK]
    assert record.status is not None and record.status.state is State.RUNNING
    assert record.status.progress is None and not record.status.progress_unanswered
