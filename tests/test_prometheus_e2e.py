"""A real Prometheus (Debian's `prometheus`, on loopback, temporary config and storage) scrapes the exporter,
which polls the fake cloud with AK/SK. Every PromQL expression of every dashboard panel must be valid and
return data through Prometheus's HTTP API, and the shipped rules must put `HuaweiCloudTaskFailed` and
`HuaweiCloudTaskStuck` into pending or firing for the scenario's failed and stuck tasks, and
`HuaweiCloudTaskExporterIntakeRefusing` into pending while every pushed message is refused, out once one is
accepted."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.config import load_config
from exporter.demo import aksk_auth, demo_config
from exporter.exposition.server import make_app, serve
from exporter.simulator import DEMO_SECRET_KEY, Simulator, default_scenario, start_simulator, traces
from tests.test_dashboards import (
    DASHBOARD_FILES,
    RULE_FILES,
    iter_panel_queries,
    iter_tables,
    load_dashboard,
    substitute_variables,
    table_columns,
)

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 120.0
README_PROBE_JOB = REPO / "README.md"
PROBED_EVS, PROBED_CPH = (
    "e7500000000000000000000000000003",
    "ce110000000000000000000000000001",
)  # seconds for Prometheus to have scraped enough for every panel and alert


INTAKE_TOKEN = "e2e-intake-token"
INTAKE_REFUSING = "HuaweiCloudTaskExporterIntakeRefusing"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """The fake cloud and the exporter on an event loop of their own, in a thread."""

    def __init__(self, workdir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.workdir = workdir
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> int:
        self.sim = Simulator(default_scenario())
        self.sim.advance(200)  # every transition of the scenario has happened: failures, stops, successes
        self.running = await start_simulator(self.sim)
        secret = self.workdir / "sk"
        secret.write_text(DEMO_SECRET_KEY)
        token = self.workdir / "intake-token"
        token.write_text(INTAKE_TOKEN)
        intake = {"cloudevents": {"account": "demo", "token_header": "X-Intake-Token", "token_file": str(token)}}
        config = self.workdir / "exporter.yaml"
        config.write_text(
            demo_config(self.running.url, self.sim.scenario.targets(), aksk_auth(str(secret)))
            + yaml.safe_dump({"intake": intake})
        )
        self.serving = await serve(make_app(Exporter(load_config(config))), "127.0.0.1", 0)
        return self.serving.port

    def stop(self) -> None:
        async def _stop() -> None:
            await self.serving.stop()
            await self.running.close()

        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("prometheus")
    stack = Stack(workdir)
    # The README's /probe job, as a user would copy it: file_sd targets are task IDs.
    (workdir / "probe-targets.yaml").write_text(
        yaml.safe_dump(
            [
                {"targets": [PROBED_EVS], "labels": {"__param_cloud_service": "evs"}},
                {"targets": [PROBED_CPH], "labels": {"__param_cloud_service": "cph"}},
            ]
        )
    )
    readme_job = yaml.safe_load(README_PROBE_JOB.read_text().split("```yaml\nscrape_configs:\n")[1].split("```")[0])
    probe_job = readme_job[0] | {"scrape_interval": "2s", "scrape_timeout": "2s"}
    probe_job["file_sd_configs"] = [{"files": [str(workdir / "probe-targets.yaml")]}]
    probe_job["relabel_configs"][-1]["replacement"] = f"127.0.0.1:{stack.port}"
    config = {
        # 2 s: scrapes of the demo stack (40 targets) stay within the timeout on a loaded 2-core machine.
        "global": {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": [
            {"job_name": "huaweicloud-task-exporter", "static_configs": [{"targets": [f"127.0.0.1:{stack.port}"]}]},
            probe_job,
        ],
    }
    try:
        with running_prometheus(workdir, config, "--enable-feature=extra-scrape-metrics") as url:
            yield url
    finally:
        stack.stop()


@contextlib.contextmanager
def running_prometheus(workdir: Path, config: dict[str, Any], *flags: str) -> Iterator[str]:
    """Debian's prometheus with `config`, its storage and log in `workdir`, on a free loopback port."""
    port = free_port()
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        ["prometheus", f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", *flags],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(url, process), "Prometheus to be ready", workdir / "prometheus.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "prometheus exited"
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(check: Any, what: str, log: Path | None = None, deadline: float = DEADLINE) -> Any:
    """Poll `check()` until it returns something truthy; fail with `what` when the deadline passes."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.5)  # polling an external process, bounded by the deadline
    tail = log.read_text()[-3000:] if log else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def query(url: str, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    body: dict[str, Any] = response.json()
    return body


def all_panel_queries() -> list[tuple[str, str, str]]:
    return [
        (path.name, title, substitute_variables(expr))
        for path in DASHBOARD_FILES
        for title, expr in iter_panel_queries(load_dashboard(path))
    ]


def test_every_dashboard_query_is_valid_and_returns_data(prometheus: str) -> None:
    queries = all_panel_queries()
    assert len(queries) >= 20
    for name, title, expr in queries:
        body = query(prometheus, expr)
        assert body["status"] == "success", f"{name} / {title}: {expr}\n{body.get('error')}"

    def empty() -> list[str]:
        return [
            f"{name} / {title}: {expr}"
            for name, title, expr in queries
            if not query(prometheus, expr)["data"]["result"]
        ]

    missing: list[str] = []

    def all_have_data() -> bool:
        missing[:] = empty()
        return not missing

    try:
        wait_for(all_have_data, "data for every panel")
    except AssertionError:
        raise AssertionError("panels without data:\n" + "\n".join(missing)) from None


def test_table_columns_are_labels_their_queries_return(prometheus: str) -> None:
    """Each label column a table names comes back from its queries on a real Prometheus, for at least
    one row (a renamed label the query drops is a column that is never there)."""
    tables = [(path.name, panel) for path in DASHBOARD_FILES for panel in iter_tables(load_dashboard(path))]
    assert len(tables) >= 7

    def missing() -> list[str]:
        found = []
        for name, panel in tables:
            returned: set[str] = set()
            for target in panel["targets"]:
                for series in query(prometheus, substitute_variables(target["expr"]))["data"]["result"]:
                    returned |= set(series["metric"])
            if lost := table_columns(panel) - returned:
                found.append(f"{name} / {panel['title']}: {sorted(lost)}")
        return found

    last: list[str] = []

    def all_there() -> bool:
        last[:] = missing()
        return not last

    try:
        wait_for(all_there, "every table's label columns")
    except AssertionError:
        raise AssertionError("table columns no query returns:\n" + "\n".join(last)) from None


def test_task_alerts_fire_for_the_scenarios_failed_and_stuck_tasks(prometheus: str) -> None:
    def alerts() -> list[dict[str, Any]]:
        body = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()
        return [a for a in body["data"]["alerts"] if a["state"] in ("pending", "firing")]

    def both() -> list[dict[str, Any]] | None:
        current = alerts()
        names = {a["labels"]["alertname"] for a in current}
        return current if {"HuaweiCloudTaskFailed", "HuaweiCloudTaskStuck"} <= names else None

    current = wait_for(both, "HuaweiCloudTaskFailed and HuaweiCloudTaskStuck")
    failed = {a["labels"]["task_id"]: a for a in current if a["labels"]["alertname"] == "HuaweiCloudTaskFailed"}
    stuck = {a["labels"]["task_id"] for a in current if a["labels"]["alertname"] == "HuaweiCloudTaskStuck"}
    scenario = {task.task_id: task for task in default_scenario().tasks}
    # The scenario's failed tasks (DWS ELB failure, DWS ERROR, EVS batch and delete failures, CPH -1, CodeArts 1).
    assert {"d5a00000000000000000000000000002", "e7500000000000000000000000000002"} <= set(failed)
    # A fanned-out target's task IDs start with the parent's ("<instance_id>/<task_id>"); a task named by two
    # parts (CodeArts Build's "<job_id>/<build_no>") is a scenario ID as it is.
    assert all(
        (scenario.get(task) or scenario[task.split("/", 1)[-1]]).cloud_service
        == failed[task]["labels"]["cloud_service"]
        for task in failed
    )
    elb = failed["d5a00000000000000000000000000002"]
    assert "CreateELBTask-fail:DWS.0114" in elb["annotations"]["description"]
    assert "d5a00000000000000000000000000002" in elb["annotations"]["description"]
    # The stuck tasks: running since 3 hours before the fake cloud started, past the default 2 h threshold
    # (CodeArts has no times). DWS ships with a 6 h override, so its 3 h task is not stuck yet.
    assert {"e7500000000000000000000000000005", "ce110000000000000000000000000003"} <= stuck
    assert "d5a00000000000000000000000000005" not in stuck


def test_the_readmes_probe_job_scrapes_tasks_by_id(prometheus: str) -> None:
    def probed() -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = query(prometheus, 'huaweicloud_task_status{job="huaweicloud-task-probe"} == 1')[
            "data"
        ]["result"]
        return result if len(result) == 2 else []

    series = {s["metric"]["task_id"]: s["metric"] for s in wait_for(probed, "the probe job's series")}
    assert set(series) == {PROBED_EVS, PROBED_CPH}
    assert series[PROBED_EVS]["cloud_service"] == "evs"
    assert series[PROBED_EVS]["instance"] == PROBED_EVS
    assert series[PROBED_CPH]["state"] == "succeeded"
    assert not any(key.startswith("exported_") for metric in series.values() for key in metric)
    up = query(prometheus, 'huaweicloud_task_up{job="huaweicloud-task-probe"}')["data"]["result"]
    assert sorted(float(s["value"][1]) for s in up) == [1.0, 1.0]


def test_the_intake_alert_pends_while_every_push_is_refused_and_ends_with_an_accepted_one(prometheus: str) -> None:
    """Pushes with a wrong token, then a valid CloudEvent naming a scenario job, to the exporter Prometheus
    scrapes: the intake alert goes pending for the CloudEvents door while every message is refused, and
    away once one is accepted (its expression sees the accepted message within the window)."""
    exporter = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
    url = next(t["scrapeUrl"] for t in exporter if t["labels"]["job"] == "huaweicloud-task-exporter")
    door = url.replace("/metrics", "/intake/cloudevents")
    event = {"specversion": "1.0", "id": "e2e-1", "source": "HC.CTS", "type": "CTS:CloudTrace:ApiCall"}
    for n in range(3):
        answer = httpx.post(door, json={**event, "id": f"forged-{n}"}, headers={"X-Intake-Token": "guess"})
        assert (answer.status_code, answer.json()) == (403, {"result": "bad_signature"})

    def alert_states() -> dict[str, str]:
        alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return {a["labels"]["source"]: a["state"] for a in alerts if a["labels"]["alertname"] == INTAKE_REFUSING}

    assert wait_for(lambda: alert_states().get("cloudevents") == "pending", f"{INTAKE_REFUSING} pending")
    assert "smn" not in alert_states()  # the SMN door is off: nothing refused there
    task = next(t for t in default_scenario().tasks if t.cloud_service == "evs" and t.begin_offset is not None)
    data = traces.trace_of(Simulator(default_scenario()).parts, task)  # the Cloud Trace record of its creation
    answer = httpx.post(door, json={**event, "data": data}, headers={"X-Intake-Token": INTAKE_TOKEN})
    assert (answer.status_code, answer.json()) == (200, {"result": "accepted"})
    assert wait_for(lambda: "cloudevents" not in alert_states(), f"{INTAKE_REFUSING} to end")
