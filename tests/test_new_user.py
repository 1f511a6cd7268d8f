"""What tripped a new user, each with the message they now see: a listen address in use (exporter and
demo), the demo's SIGHUP reload and its temporary files, the demo's push, what `simulate` prints, `--log.level` in any
case and `--help` naming the subcommands."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.demo import pushed_jobs
from exporter.simulator import DEFAULT_PROJECT_ID, DEMO_ACCESS_KEY, DEMO_TOKEN, default_scenario

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "T": "token"}


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args], capture_output=True, text=True, timeout=timeout, env=ENV, check=False
    )


def test_the_exporter_on_a_taken_address_says_so_in_one_line(taken: int, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "accounts: [{name: a, auth: {type: token, token: '${T}'}}]\n"
        f"services: [{{cloud_service: evs, account: a, region: cn-north-4, project_id: {DEFAULT_PROJECT_ID}}}]\n",
        encoding="utf-8",
    )
    result = run("--config.file", str(config), "--web.listen-address", f"127.0.0.1:{taken}", "--log.format", "json")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "cannot listen" in line]
    assert len(lines) == 1 and re.fullmatch(
        rf"huaweicloud-task-exporter: cannot listen on 127\.0\.0\.1:{taken}: .*in use", lines[0], re.I
    ), result.stderr


def test_the_demo_on_a_taken_address_says_so_and_leaves_no_files(taken: int) -> None:
    before = set(Path("/tmp").glob("huaweicloud-task-exporter-demo-*"))
    result = run("demo", "--web.listen-address", f"127.0.0.1:{taken}")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert re.search(rf"demo: cannot listen on 127\.0\.0\.1:{taken}: .*in use", result.stderr, re.I), result.stderr
    assert set(Path("/tmp").glob("huaweicloud-task-exporter-demo-*")) == before


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: object, what: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


class Demo:
    """`huaweicloud-task-exporter demo` in a process of its own, its stderr read by a thread (so that its
    log never fills the pipe), the config path from its banner."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exporter", "demo", "--web.listen-address", f"127.0.0.1:{self.port}"],
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def config(self) -> Path | None:
        found = (re.search(r"config:\s+(\S+)", line) for line in list(self.lines))
        return next((Path(match.group(1)) for match in found if match), None)

    def metrics(self) -> str:
        # A scrape without a timeout header may take the exporter's default_timeout (10 s): 5 s is less
        # than a slow machine may take for the demo's 40 targets (each wait_for would go on failing).
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=30).text
        except httpx.HTTPError:
            return ""

    def stop(self) -> None:
        """SIGTERM, as Ctrl-C would (the demo removes its temporary directory: config, secret key and
        certificate files); SIGKILL only if it does not end."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def demo() -> Iterator[Demo]:
    running = Demo()
    try:
        yield running
    finally:
        running.stop()


def test_the_demo_reloads_on_sighup_and_removes_its_files_on_exit(demo: Demo) -> None:
    wait_for(lambda: "huaweicloud_task_status" in demo.metrics(), "the demo's metrics")
    config = demo.config
    assert config is not None, "".join(demo.lines)
    text = config.read_text(encoding="utf-8")
    first = text.index("- cloud_service: codearts_check")
    end = text.index("- cloud_service:", first + 1)
    config.write_text(text[:first] + text[end:], encoding="utf-8")  # CodeArts Check no longer tracked
    demo.process.send_signal(signal.SIGHUP)

    def reloaded() -> bool:
        ups = [line for line in demo.metrics().splitlines() if line.startswith("huaweicloud_task_up{")]
        return not any('cloud_service="codearts_check"' in u for u in ups) and any('"evs"' in u for u in ups)

    wait_for(reloaded, "the reload to drop codearts_check")
    workdir = config.parent
    assert workdir.exists()
    demo.process.send_signal(signal.SIGTERM)
    assert demo.process.wait(20) == 0
    assert not workdir.exists()  # the config, the secret key and the SMN certificate files are gone


def test_the_demo_tracks_a_job_it_hears_of_only_by_push(demo: Demo) -> None:
    """The demo's fake cloud notifies the exporter's SMN door, signed, as each of its pushed jobs begins;
    no config names those jobs, so they are on /metrics only because the push was verified and accepted."""
    first = pushed_jobs(1)[0].task_id
    tracked = re.compile(r'huaweicloud_task_tracked\{[^}]*cloud_service="evs"[^}]*source="pushed"\} ([0-9.]+)')

    def heard() -> bool:
        text = demo.metrics()
        counts = [float(m.group(1)) for m in tracked.finditer(text)]
        return f'task_id="{first}"' in text and sum(counts) >= 1

    wait_for(heard, "the first pushed job on /metrics", deadline=60)
    text = demo.metrics()
    assert 'huaweicloud_task_intake_messages_total{result="accepted",source="smn"}' in text
    accepted = re.search(r'intake_messages_total\{result="accepted",source="smn"\} ([0-9.]+)', text)
    assert accepted is not None and float(accepted.group(1)) >= 1
    refused = re.findall(r'intake_messages_total\{result="(?!accepted)[a-z_]+",source="smn"\} ([0-9.]+)', text)
    assert refused and all(float(n) == 0 for n in refused), text  # every push the demo made verifies
    config = demo.config
    assert config is not None and first not in config.read_text(encoding="utf-8")
    assert "push intake:   http://127.0.0.1:" in "".join(demo.lines)
    demo.stop()
    assert demo.process.returncode == 0 and not config.parent.exists()  # nothing left behind in /tmp


def simulate(*args: str) -> tuple[str, str]:
    """Run `simulate` until it has said where it is, stop it: (stdout, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "simulate", "--listen", "127.0.0.1:0", "--log.format", "json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    watchdog = threading.Timer(30, process.kill)  # a simulate that never says so ends, and the test fails
    watchdog.start()
    try:
        assert process.stderr is not None
        err = ""
        while "is on stdout" not in err:
            line = process.stderr.readline()
            assert line, err
            err += line
        process.send_signal(signal.SIGTERM)
        out, rest = process.communicate(timeout=20)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, err + rest
    return out, err + rest


def test_simulate_prints_the_credentials_project_and_a_config_of_its_tasks() -> None:
    out, err = simulate()
    assert f"token (X-Auth-Token):    {DEMO_TOKEN}" in err
    assert f"project_id:              {DEFAULT_PROJECT_ID}" in err
    assert "AK/SK:" in err and "IAM password login:" in err
    assert "  (demo values published with the fake cloud, not secrets)\n" in err
    assert "cloud: custom" in out and "- cloud_service: evs" in out
    scenario = default_scenario()
    fanned = scenario.sections["parents"]  # these targets discover their parents' tasks
    assert all(task.task_id in out for task in scenario.tasks if task.cloud_service not in fanned)
    config = yaml.safe_load(out)
    for target in config["services"]:
        if target["cloud_service"] in fanned:
            assert target["discover"] is True and "tasks" not in target and "params" not in target, target
    assert {t["cloud_service"] for t in config["services"]} >= set(fanned)


def test_simulate_writes_its_config_to_stdout_and_config_check_accepts_it(tmp_path: Path) -> None:
    """`simulate > config.yaml` gives the config, and only it: the logs and the credentials go to stderr."""
    out, err = simulate()
    assert out.startswith("# Written by `huaweicloud-task-exporter simulate` for its built-in fake cloud.\n")
    document = yaml.safe_load(out)
    assert set(document) == {"accounts", "services"}
    assert "event" not in out and "the fake cloud at" not in out
    assert "simulator.listening" in err
    assert (
        "A config that tracks every task of its scenario (every account needs cloud: custom) is on stdout: "
        "huaweicloud-task-exporter simulate > config.yaml\n"
    ) in err
    config = tmp_path / "config.yaml"
    config.write_text(out, encoding="utf-8")
    result = run("--config.file", str(config), "--config.check")
    assert result.returncode == 0, result.stderr
    assert f"{config}: valid (1 accounts, " in result.stdout


def test_simulate_with_a_scenario_prints_the_credentials_and_project_it_accepts(tmp_path: Path) -> None:
    project, task = "fedcba9876543210fedcba9876543210", "e7500000000000000000000000000009"
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        f"""
iam: {{domain: acme, user: ops, password: ops-password-1}}
static_tokens: [scenario-token-1, scenario-token-2]
access_keys:
  - {{access_key: SCENARIOAK0000000001, secret_key: ScenarioSecretKeyForTheFakeCloud00000001}}
  - {{access_key: SCENARIOTEMPAK000001, secret_key: ScenarioTemporarySecretKey0000000000001, security_token: st-1}}
projects: {{{project}: eu-west-101}}
tasks:
  - {{cloud_service: evs, task_id: {task}, project_id: {project}, phases: [{{after: 0, status: RUNNING}}]}}
""",
        encoding="utf-8",
    )
    out, err = simulate("--scenario", str(scenario))
    url = re.search(r"the fake cloud at (\S+)", err)
    assert url is not None, err
    assert "  token (X-Auth-Token):    scenario-token-1, scenario-token-2\n" in err
    assert "  AK/SK:                   SCENARIOAK0000000001 / ScenarioSecretKeyForTheFakeCloud00000001\n" in err
    assert (
        f"  IAM password login:      user ops, domain acme, password ops-password-1 (iam_endpoint: {url[1]})\n"
    ) in err
    assert f"  project_id:              {project}\n" in err
    assert "  (the scenario's own values)\n" in err
    assert "token: scenario-token-1" in out and f"project_id: {project}" in out and task in out
    assert DEMO_TOKEN not in out + err and DEMO_ACCESS_KEY not in out + err and DEFAULT_PROJECT_ID not in out + err


def test_log_level_in_any_case_and_help_names_the_subcommands() -> None:
    from exporter.cli import _exporter_parser

    args = _exporter_parser().parse_args(["--log.level", "DEBUG"])
    assert args.log_level == "debug"
    with pytest.raises(SystemExit):
        _exporter_parser().parse_args(["--log.level", "loud"])
    help_text = run("--help").stdout
    assert "huaweicloud-task-exporter simulate" in help_text and "huaweicloud-task-exporter demo" in help_text


def test_yaml_merge_keys_with_overrides_and_x_keys_ignored() -> None:
    from exporter.config import parse_config

    config = parse_config(
        f"""
x-target: &target {{account: a, region: cn-north-4, project_id: {DEFAULT_PROJECT_ID}}}
x-notes: anything, as docker-compose users keep anchors
accounts: [{{name: a, auth: {{type: token, token: t}}}}]
services:
  - <<: *target
    cloud_service: evs
  - <<: *target
    cloud_service: ecs
    region: cn-east-3           # overrides the merged region
"""
    )
    assert [(t.cloud_service, t.region) for t in config.targets] == [("evs", "cn-north-4"), ("ecs", "cn-east-3")]


async def test_ids_with_surrounding_whitespace_are_the_ids_in_the_config_and_task_files(tmp_path: Path) -> None:
    from exporter.config import parse_config
    from exporter.tracking.files import TaskFiles

    task = "4010a32d535527910153552b492c0002"
    config = parse_config(
        "accounts: [{name: a, auth: {type: token, token: t}}]\n"
        f"services: [{{cloud_service: evs, account: a, region: cn-north-4, project_id: ' {DEFAULT_PROJECT_ID} ',"
        f" tasks: ['  {task}  ']}}]\n"
    )
    (target,) = config.targets
    assert (target.project_id, target.tasks) == (DEFAULT_PROJECT_ID, (task,))
    (tmp_path / "t.yaml").write_text(
        f"tasks: [{{cloud_service: evs, task_id: ' {task} ', project_id: '{DEFAULT_PROJECT_ID}  '}}]\n",
        encoding="utf-8",
    )
    files = TaskFiles((str(tmp_path / "*.yaml"),), 0.0, on_error=lambda reason: None, services=frozenset({"evs"}))
    await files.check_now()
    assert [(t.task_id, t.project_id) for t in files.tasks()] == [(task, DEFAULT_PROJECT_ID)]


def test_building_the_package_warns_of_nothing(tmp_path: Path) -> None:
    root = Path(__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stderr
    assert [p.name for p in tmp_path.glob("*.whl")] == ["huaweicloud_task_exporter-0.1.0-py3-none-any.whl"]
