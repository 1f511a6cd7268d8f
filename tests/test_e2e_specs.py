"""End to end over real sockets for services known only by their spec: the fake cloud answers them from
the spec and a scenario (no code of its own), and the exporter, configured with the same spec under
`custom_services:`, reads them. One of them shares EVS's status path, as ECS and BMS do."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.config import load_config
from exporter.exposition.server import make_app, serve
from exporter.schema import Ctx
from exporter.services import ServiceSpec, read_spec
from exporter.simulator import DEMO_PARAM_VALUE, DEMO_TOKEN, Simulator, parse_scenario, start_simulator
from tests.conftest import Scrape

PROJECT = "0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000.0
TURBO = {
    "name": "nas_jobs",
    "status": {
        "path": "/v1/{project_id}/nas/jobs/{task_id}",
        "state": "/status",
        "states": {"waiting": "pending", "running": "running", "success": "succeeded", "failed": "failed"},
        "start": {"at": "/begin_time", "format": "%Y-%m-%d %H:%M:%S"},
        "end": {"at": "/end_time", "format": "%Y-%m-%d %H:%M:%S"},
        "progress": {"at": "/progress", "scale": "ratio"},
        "job_type": "/job_type",
        "error": {"code": "/error_code", "message": "/fail_reason"},
    },
}
# The EVS shape under another name: same path, so the fake cloud's route is shared.
VOLUMES = {
    "name": "volumes",
    "status": {
        "path": "/v1/{project_id}/jobs/{task_id}",
        "state": "/status",
        "states": {"RUNNING": "running", "SUCCESS": "succeeded", "FAIL": "failed"},
        "start": {"at": "/begin_time", "format": "iso"},
        "end": {"at": "/end_time", "format": "iso"},
        "job_type": "/job_type",
        "resource": "/entities/volume_id",
        "error": {"code": "/error_code", "message": "/fail_reason"},
    },
}
T_RUN, T_FAIL, V_OK, E_RUN = "5f" + "1" * 30, "5f" + "2" * 30, "7e" + "3" * 30, "e7" + "4" * 30
SCENARIO = {
    "tasks": [
        {
            "cloud_service": "nas_jobs",
            "task_id": T_RUN,
            "job_type": "expand",
            "begin": -120,
            "phases": [{"after": 0, "status": "running", "progress": 40}],
        },
        {
            "cloud_service": "nas_jobs",
            "task_id": T_FAIL,
            "begin": -60,
            "phases": [{"after": 0, "status": "failed", "error_code": "SFS.TURBO.0024", "fail_reason": "no capacity"}],
        },
        {"cloud_service": "volumes", "task_id": V_OK, "begin": -30, "phases": [{"after": 0, "status": "SUCCESS"}]},
        {"cloud_service": "evs", "task_id": E_RUN, "phases": [{"after": 0, "status": "RUNNING"}]},
    ]
}


def specs() -> dict[str, ServiceSpec]:
    read = (read_spec(Ctx("test", "", None, {}), raw) for raw in (TURBO, VOLUMES))
    return {spec.name: spec for spec in read}


def config_text(url: str) -> str:
    services: list[dict[str, Any]] = [
        {
            "cloud_service": name,
            "account": "t",
            "region": "cn-north-4",
            "project_id": PROJECT,
            "endpoint": url,
            "tasks": ids,
        }
        for name, ids in (("nas_jobs", [T_RUN, T_FAIL, "5f" + "9" * 30]), ("volumes", [V_OK]), ("evs", [E_RUN]))
    ]
    document = {
        "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
        "custom_services": [TURBO, VOLUMES],
        "services": services,
    }
    return yaml.safe_dump(document, sort_keys=False)


def parsed(text: str) -> Scrape:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(data: Scrape, name: str, **labels: str) -> float | None:
    found = [v for (n, ls), v in data.items() if n == name and set(labels.items()) <= ls]
    assert len(found) <= 1, found
    return found[0] if found else None


async def test_services_known_only_by_their_spec_end_to_end(tmp_path: Path, monkeypatch: Any) -> None:
    now = [NOW]
    scenario = parse_scenario(SCENARIO, services=specs())
    async with await start_simulator(Simulator(scenario, clock=lambda: now[0])) as cloud:
        path = tmp_path / "config.yaml"
        path.write_text(config_text(cloud.url), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        exporter = Exporter(load_config(path), clock=lambda: now[0])
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
                text = (await http.get("/metrics")).text
                raw = (await httpx.AsyncClient().get(f"{cloud.url}/v1/{PROJECT}/nas/jobs/{T_RUN}",
                                                     headers={"X-Auth-Token": DEMO_TOKEN})).json()  # fmt: skip
        finally:
            await serving.stop()
    data = parsed(text)
    start = datetime.fromtimestamp(NOW - 120, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert raw == {"status": "running", "begin_time": start, "end_time": None, "progress": 0.4, "job_type": "expand",
                   "error_code": None, "fail_reason": None}  # fmt: skip
    status = "huaweicloud_task_status"
    assert value(data, status, task_id=T_RUN, state="running") == 1
    assert value(data, "huaweicloud_task_progress_ratio", task_id=T_RUN) == 0.4
    assert value(data, "huaweicloud_task_start_timestamp_seconds", task_id=T_RUN) == NOW - 120
    assert value(data, "huaweicloud_task_duration_seconds", task_id=T_RUN) == 120
    assert value(data, "huaweicloud_task_info", task_id=T_RUN, job_type="expand") == 1
    error = {"task_id": T_FAIL, "error_code": "SFS.TURBO.0024", "error_message": "no capacity"}
    assert value(data, "huaweicloud_task_error_info", **error) == 1
    assert value(data, status, task_id="5f" + "9" * 30, state="unknown") == 1  # the spec's "not found": 404
    assert value(data, "huaweicloud_task_info", task_id="5f" + "9" * 30, raw_status="not_found") == 1
    # The shared route answers each service's task in that service's shape.
    assert value(data, status, task_id=V_OK, cloud_service="volumes", state="succeeded") == 1
    assert value(data, status, task_id=E_RUN, cloud_service="evs", state="running") == 1
    ups: Mapping[str, float | None] = {
        n: value(data, "huaweicloud_task_up", cloud_service=n) for n in ("nas_jobs", "volumes", "evs")
    }
    assert ups == {"nas_jobs": 1.0, "volumes": 1.0, "evs": 1.0}


# --- the database family's list APIs as discovery, from the default scenario ----------------------


def discovery_config(url: str, services: list[str]) -> str:
    # Each service at its own "host": the fake cloud serves every service under /{cloud_service} too,
    # which tells apart the list APIs that share /v3/{project_id}/jobs (DDM's and GeminiDB's).
    document = {
        "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
        "services": [
            {
                "cloud_service": name,
                "account": "t",
                "region": "cn-north-4",
                "project_id": PROJECT,
                "endpoint": f"{url}/{name}",
                "discover": True,
                **({"params": {"cluster_id": DEMO_PARAM_VALUE}} if name == "mrs" else {}),
            }
            for name in services
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


async def test_database_list_apis_find_their_jobs(tmp_path: Path, monkeypatch: Any) -> None:
    from exporter.simulator import default_scenario

    now = [NOW]
    services = ["rds", "dds", "gaussdb", "geminidb", "ddm", "cbr", "elb", "dli", "mrs"]
    expected = {t.cloud_service: t.task_ids[0] for t in default_scenario().targets() if t.cloud_service in services}
    sim = Simulator(default_scenario(), clock=lambda: now[0])
    async with await start_simulator(sim) as cloud:
        path = tmp_path / "config.yaml"
        path.write_text(discovery_config(cloud.url, services), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        exporter = Exporter(load_config(path), clock=lambda: now[0])
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
                text = (await http.get("/metrics")).text
                # DDM's window is required: without it the fake cloud refuses, as DDM documents.
                refused = await http.get(f"{cloud.url}/ddm/v3/{PROJECT}/jobs", headers={"X-Auth-Token": DEMO_TOKEN})
        finally:
            await serving.stop()
    data = parsed(text)
    for service, task_id in expected.items():
        # The first CBR operation is waiting, the first DLI job launching and the first MRS job accepted.
        state = "pending" if service in ("cbr", "dli", "mrs") else "running"
        assert value(data, "huaweicloud_task_status", cloud_service=service, task_id=task_id, state=state) == 1
    # These lists carry the statuses (RDS's, DDS's, GaussDB's and DDM's in fields of their own): their
    # running jobs are not asked on their own; DLI's list is discovery only.
    listed = ("geminidb", "cbr", "elb", "mrs", "rds", "dds", "gaussdb", "ddm")
    assert [sim.stats.by_task[expected[s]] for s in listed] == [0] * len(listed)
    assert value(data, "huaweicloud_task_info", task_id=expected["cbr"], job_type="backup") == 1
    assert sim.stats.by_task[expected["dli"]] == 1
    assert {s: sim.stats.list_requests[s] for s in services} == dict.fromkeys(services, 1) | {"ddm": 2}  # + refused
    assert refused.status_code == 400 and "start_time and end_time required" in refused.json()["error_msg"]


async def test_dli_progress_comes_from_its_progress_api_while_a_job_runs(tmp_path: Path, monkeypatch: Any) -> None:
    from exporter.simulator import default_scenario

    now = [NOW]
    sim = Simulator(default_scenario(), clock=lambda: now[0])
    running, failed = "d11" + "0" * 28 + "1", "d11" + "0" * 28 + "2"
    async with await start_simulator(sim) as cloud:
        sim.advance(30)  # d11...01 runs at 20 %, d11...02 failed at 25 s
        document = {
            "accounts": [{"name": "t", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
            "services": [
                {
                    "cloud_service": "dli",
                    "account": "t",
                    "region": "cn-north-4",
                    "project_id": PROJECT,
                    "endpoint": cloud.url,
                    "tasks": [running, failed],
                }
            ],
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        exporter = Exporter(load_config(path), clock=lambda: now[0] + 30)
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
                data = parsed((await http.get("/metrics")).text)
        finally:
            await serving.stop()
    assert value(data, "huaweicloud_task_progress_ratio", task_id=running) == 0.2
    assert value(data, "huaweicloud_task_status", task_id=failed, state="failed") == 1
    # The end is start_time + duration: the failed query ran 25 s.
    assert value(data, "huaweicloud_task_duration_seconds", task_id=failed) == 25
    assert value(data, "huaweicloud_task_error_info", task_id=failed, error_code="") == 1
    assert sim.stats.by_task[running] == 2 and sim.stats.by_task[failed] == 1  # status + progress; status only


# --- the worked examples of config.example.yaml, end to end ------------------------------------------

EXAMPLE = Path(__file__).parent.parent / "config.example.yaml"
KAFKA_TASK, NAS_LISTED = "8a2c3c646a3e4d3f9b3e5a1c7e2d4f60", "5f1e2d3c4b5a69788796a5b4c3d2e1f0"
NAS_FOUND = "5f" + "7" * 30  # in no config: found by the list API


async def test_the_example_configs_custom_services_work_against_the_fake_cloud(
    tmp_path: Path, monkeypatch: Any
) -> None:
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    custom = {raw["name"]: raw for raw in example["custom_services"]}
    services = {name: read_spec(Ctx("example", "", None, {}), raw) for name, raw in custom.items()}
    scenario = parse_scenario(
        {
            "tasks": [
                {
                    "cloud_service": "kafka_tasks",
                    "task_id": KAFKA_TASK,
                    "job_name": "kafka_manager_restart",
                    "begin": -30,
                    "phases": [{"after": 0, "status": "EXECUTING"}, {"after": 20, "status": "SUCCESS"}],
                },
                {
                    "cloud_service": "nas_jobs",
                    "task_id": NAS_LISTED,
                    "begin": -60,
                    "phases": [{"after": 0, "status": "running", "progress": 40}],
                },
                {
                    "cloud_service": "nas_jobs",
                    "task_id": NAS_FOUND,
                    "begin": -10,
                    "phases": [{"after": 0, "status": "failed", "error_code": "NAS.0042", "fail_reason": "disk full"}],
                },
            ]
        },
        services=services,
    )
    now = [NOW]
    async with await start_simulator(Simulator(scenario, clock=lambda: now[0])) as cloud:
        targets = [t for t in example["services"] if t["cloud_service"] in custom]
        for target in targets:
            target["endpoint"] = cloud.url
        document = {
            "accounts": [{"name": "prod", "cloud": "custom", "auth": {"type": "token", "token": "${T}"}}],
            "custom_services": list(custom.values()),
            "services": targets,
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        monkeypatch.setenv("T", DEMO_TOKEN)
        exporter = Exporter(load_config(path), clock=lambda: now[0])
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
                data = parsed((await http.get("/metrics")).text)
        finally:
            await serving.stop()
    status = "huaweicloud_task_status"
    assert value(data, status, cloud_service="kafka_tasks", task_id=KAFKA_TASK, state="running") == 1
    assert value(data, "huaweicloud_task_info", task_id=KAFKA_TASK, job_name="kafka_manager_restart") == 1
    assert value(data, "huaweicloud_task_progress_ratio", task_id=NAS_LISTED) == 0.4
    assert value(data, "huaweicloud_task_start_timestamp_seconds", task_id=NAS_LISTED) == NOW - 60  # +08:00 read
    assert value(data, status, cloud_service="nas_jobs", task_id=NAS_FOUND, state="failed") == 1
    assert value(data, "huaweicloud_task_error_info", task_id=NAS_FOUND, error_code="NAS.0042") == 1
    assert value(data, "huaweicloud_task_up", cloud_service="kafka_tasks") == 1
