"""The spec keys of issue 21's last fields: `remaining` (a time left), `progress: {done, total}` (a progress
counted from counters), `failed_count` (finished, but N of its items failed) and `task_id: {kind}` (one ID of
another kind): what they read, the reader's messages (file, line, key), and `--service.try`."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from exporter.cli import main
from exporter.config import ConfigError
from exporter.model import State
from exporter.schema import Ctx, load_document
from exporter.services import ServiceSpec, read_spec, read_status
from exporter.services.interpret import BadResponse
from exporter.simulator.bodies import spec_body
from exporter.simulator.checks import ScenarioError
from exporter.simulator.scenario import parse_scenario
from tests.test_e2e import start_stack, stop_stack

# A CDN-like refresh task (task_done with failed > 0 is failed) that counts its URLs as IoTDA counts its
# devices, and says how many minutes are left.
SPEC = """
name: url_jobs
endpoints: {huaweicloud: "https://cdn.myhuaweicloud.com"}
status:
  path: /v1/{project_id}/tasks/{task_id}
  state: /status
  states: {task_inprocess: running, task_done: succeeded, task_failed: failed}
  progress: {done: [/task_progress/success, /task_progress/fail, /task_progress/removed], total: /task_progress/total}
  remaining: {at: /left, unit: min}
  failed_count: /failed
"""


def spec_of(text: str = SPEC) -> ServiceSpec:
    return read_spec(Ctx("spec.yaml", "", None, {}), load_document(text, file="spec.yaml"))


def body(status: str, **more: Any) -> dict[str, Any]:
    counts = {"total": 10, "success": 3, "fail": 1, "removed": 1}
    return {"status": status, "task_progress": counts, "left": 2, "failed": 0, **more}


def test_counters_remaining_time_and_failed_items() -> None:
    spec = spec_of()
    running = read_status(spec, body("task_inprocess", failed=3), UTC)
    assert (running.state, running.progress, running.remaining) == (State.RUNNING, 0.5, 120.0)
    done = read_status(spec, body("task_done"), UTC)
    assert (done.state, done.progress, done.remaining) == (State.SUCCEEDED, 1.0, None)
    failed = read_status(spec, body("task_done", failed=2), UTC)
    assert (failed.state, failed.raw_status, failed.progress) == (State.FAILED, "task_done", 0.5)
    assert read_status(spec, body("task_done", failed="2"), UTC).state is State.FAILED  # a number as a string
    assert read_status(spec, body("task_done", failed=None), UTC).state is State.SUCCEEDED


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        pytest.param({"total": 4, "success": 1}, 0.25, id="absent-counters-count-0"),
        pytest.param({"total": 4, "success": "3"}, 0.75, id="a-numeric-string"),
        pytest.param({"total": 4, "success": 9}, 1.0, id="clamped"),
        pytest.param({"total": 0, "success": 0}, None, id="nothing-to-count"),
        pytest.param({"total": 4}, None, id="no-counter"),
        pytest.param({"success": 1}, None, id="no-total"),
        pytest.param({"total": 4, "success": -2, "fail": 1}, 0.25, id="negative-is-0"),
    ],
)
def test_counted_progress(counts: dict[str, Any], expected: float | None) -> None:
    assert read_status(spec_of(), {"status": "task_inprocess", "task_progress": counts}, UTC).progress == expected


def test_a_remaining_time_of_the_wrong_type_is_a_bad_response() -> None:
    assert read_status(spec_of(), body("task_inprocess", left=-1), UTC).remaining is None  # "unknown", as SMS's
    assert read_status(spec_of(), body("task_inprocess", left="soon"), UTC).remaining is None
    with pytest.raises(BadResponse, match="url_jobs: the remaining time at /left is a list"):
        read_status(spec_of(), body("task_inprocess", left=[1]), UTC)
    plain = spec_of(SPEC.replace("remaining: {at: /left, unit: min}", "remaining: /left"))  # a pointer: seconds
    assert read_status(plain, body("task_inprocess"), UTC).remaining == 2.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            ("unit: min", "unit: hours"), r"spec.yaml:9: status.remaining.unit: expected one of s, ms, min", id="unit"
        ),
        pytest.param(
            ("{at: /left, unit: min}", "{unit: min}"),
            r"spec.yaml:9: status.remaining: missing required key 'at'",
            id="remaining-at",
        ),
        pytest.param(
            ("{at: /left, unit: min}", "{at: /left, scale: min}"),
            r"spec.yaml:9: status.remaining.scale: unknown key 'scale'; expected one of: at, unit",
            id="remaining-key",
        ),
        pytest.param(
            (", total: /task_progress/total}", "}"),
            r"spec.yaml:8: status.progress: expected both 'done' .* and 'total'",
            id="no-total",
        ),
        pytest.param(
            ("done: [/task_progress/success, /task_progress/fail, /task_progress/removed]", "done: []"),
            r"status.progress.done: expected a JSON pointer or a non-empty list of them, each a counter",
            id="empty-done",
        ),
        pytest.param(
            ("/task_progress/fail,", "task_progress/fail,"),
            r"status.progress.done\[1\]: expected a JSON pointer",
            id="bad-counter",
        ),
        pytest.param(
            ("total: /task_progress/total}", "total: /task_progress/total, scale: ratio}"),
            r"spec.yaml:8: status.progress.scale: unknown key 'scale'; expected one of: done, total",
            id="counts-key",
        ),
        pytest.param(
            ("failed_count: /failed", "failed_count: failed"),
            r"spec.yaml:10: status.failed_count: expected a JSON pointer",
            id="failed-count",
        ),
        pytest.param(
            ("name: url_jobs", "name: url_jobs\ntask_id: {kind: integer}"),
            r"spec.yaml:3: task_id.kind: expected one of id, number, name",
            id="kind",
        ),
        pytest.param(
            ("name: url_jobs", "name: url_jobs\ntask_id: {kind: number, parts: [a, b]}"),
            r"spec.yaml:3: task_id: expected 'kind' \(of a task's one ID\) or 'parts'",
            id="kind-and-parts",
        ),
    ],
)
def test_spec_errors_name_the_file_line_and_key(change: tuple[str, str], message: str) -> None:
    text = SPEC.replace(*change)
    assert text != SPEC
    with pytest.raises(ConfigError, match=message):
        spec_of(text)


def test_one_number_id() -> None:
    spec = spec_of(SPEC.replace("name: url_jobs", "name: url_jobs\ntask_id: {kind: number}"))
    assert not spec.identity.multi
    assert spec.identity.problem("1234") == ""
    assert "expected a whole number" in spec.identity.problem("4010a32d535527910153552b492c0002")


def test_service_try_shows_the_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    custom = "\n".join("    " + line for line in SPEC.strip().splitlines()).replace("    name:", "  - name:", 1)
    config = tmp_path / "config.yaml"
    config.write_text(
        "accounts: [{name: prod, auth: {type: token, token: t}}]\ncustom_services:\n" + custom + "\nservices: []\n",
        encoding="utf-8",
    )
    sample = tmp_path / "task.json"
    sample.write_text('{"status": "task_done", "failed": 2, "task_progress": {"total": 4, "success": 2}}')
    running = tmp_path / "running.json"
    running.write_text('{"status": "task_inprocess", "left": 3, "task_progress": {"total": 4, "success": 1}}')
    code = main(["--config.file", str(config), "--config.check", "--service.try", "url_jobs", str(sample)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = {line.strip() for line in out.splitlines()}
    assert {"state: failed", "raw_status: task_done", "progress: 0.5", "remaining: None"} <= lines, out
    code = main(["--config.file", str(config), "--config.check", "--service.try", "url_jobs", str(running)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert {"state: running", "progress: 0.25", "remaining: 180.0"} <= {line.strip() for line in out.splitlines()}


# --- the fake cloud writes them ---------------------------------------------------------------------


def test_the_fake_cloud_writes_each_field_where_the_spec_reads_it() -> None:
    spec = spec_of()
    phases = [
        {"after": 0, "status": "task_inprocess", "progress": 40, "remaining": 600},
        {"after": 60, "status": "task_done", "progress": 100, "failed": 3},
    ]
    raw = {"cloud_service": "url_jobs", "task_id": "ab" * 16, "phases": phases}
    scenario = parse_scenario({"tasks": [raw]}, services={"url_jobs": spec})
    task = scenario.tasks[0]
    running = spec_body(task, start=1e9, elapsed=10)
    assert running["task_progress"] == {"success": 400, "fail": 0, "removed": 0, "total": 1000}
    assert (running["left"], running["failed"]) == (10, 0)  # 600 s in minutes
    status = read_status(spec, running, UTC)
    assert (status.state, status.progress, status.remaining) == (State.RUNNING, 0.4, 600.0)
    done = read_status(spec, spec_body(task, start=1e9, elapsed=70), UTC)
    assert (done.state, done.raw_status, done.remaining) == (State.FAILED, "task_done", None)


@pytest.mark.parametrize(
    ("phase", "message"),
    [
        pytest.param({"remaining": -5}, r"tasks\[0\]\.phases\[0\]\.remaining: expected seconds >= 0 or null", id="neg"),
        pytest.param({"failed": 1.5}, r"tasks\[0\]\.phases\[0\]\.failed: expected a whole number >= 0", id="frac"),
        pytest.param({"remaining": "soon"}, r"tasks\[0\]\.phases\[0\]\.remaining: expected a number", id="text"),
    ],
)
def test_the_fake_clouds_phase_keys_are_checked(phase: dict[str, Any], message: str) -> None:
    raw = {"cloud_service": "url_jobs", "task_id": "ab" * 16, "phases": [{"after": 0, "status": "x", **phase}]}
    with pytest.raises(ScenarioError, match=message):
        parse_scenario({"tasks": [raw]}, services={"url_jobs": spec_of()})


async def test_the_landing_page_and_the_metrics_show_the_time_left(tmp_path: Path) -> None:
    migrating = {"cloud_service": "sms", "task_id": "5350a000-0000-4000-8000-00000000f001", "begin": -60}
    migrating["phases"] = [{"after": 0, "status": "RUNNING", "remaining": 300}]
    stack = await start_stack(tmp_path, {"tasks": [migrating]})
    try:
        metrics = await stack.scrape()
        page = (await stack.http.get("/")).text
    finally:
        await stop_stack(stack)
    left = [v for (name, labels), v in metrics.items() if name == "huaweicloud_task_remaining_seconds"]
    assert left == [300.0]
    assert "5m00s left" in page
