"""Checks of the Prometheus rules in alerts/: promtool's own checks and unit tests, and our conventions.

Conventions (monitoring-mixins): alert names share the HuaweiCloudTask prefix; each alert has a
`severity` label (critical, warning or info), a static `summary` sentence, a templated `description`
and a `dashboard_url` pointing at one of our dashboards; and each alert has a unit test in which it
fires and one in which it stays silent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_metrics_doc import documented_series

REPO = Path(__file__).resolve().parent.parent
ALERTS_DIR = REPO / "alerts"
RULE_FILES = sorted(p for p in ALERTS_DIR.glob("*.yaml") if "test" not in p.name)
TEST_FILES = sorted(p for p in ALERTS_DIR.rglob("*.yaml") if "test" in p.name)

SEVERITIES = frozenset({"critical", "warning", "info"})
REQUIRED_ALERTS = frozenset(
    {
        "HuaweiCloudTaskFailed",
        "HuaweiCloudTaskStuck",
        "HuaweiCloudTaskProgressStalled",
        "HuaweiCloudTaskExporterTargetDown",
        "HuaweiCloudTaskExporterAuthFailing",
        "HuaweiCloudTaskExporterThrottled",
        "HuaweiCloudTaskExporterDown",
    }
)
# Alerts about one task: their description names it, its cloud service and, if failed, the error.
TASK_ALERTS = frozenset({"HuaweiCloudTaskFailed", "HuaweiCloudTaskStuck", "HuaweiCloudTaskProgressStalled"})

# Metric names of the contract in docs/metrics.md (histogram series included).
CONTRACT_METRICS = documented_series()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules_of_kind(kind: str) -> list[dict[str, Any]]:
    """Every rule with the key `kind` ("alert" or "record") across the rule files."""
    return [
        rule for path in RULE_FILES for group in load_yaml(path)["groups"] for rule in group["rules"] if kind in rule
    ]


def alert_cases() -> dict[str, set[bool]]:
    """alertname -> the kinds of cases the unit tests have for it (True: fires, False: silent)."""
    cases: dict[str, set[bool]] = defaultdict(set)
    for path in TEST_FILES:
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                cases[case["alertname"]].add(bool(case.get("exp_alerts")))
    return cases


def dashboard_uids() -> set[str]:
    return {json.loads(p.read_text(encoding="utf-8"))["uid"] for p in (REPO / "dashboards").glob("*.json")}


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not on PATH")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, check=False)


ALERTS = rules_of_kind("alert")


def test_rule_and_test_files_exist() -> None:
    assert [p.name for p in RULE_FILES] == ["huaweicloud-task-alerts.yaml", "huaweicloud-task-rules.yaml"]
    assert TEST_FILES, "no promtool unit tests in alerts/"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    result = run_promtool("check", "rules", "--lint=all", "--lint-fatal", str(path))
    assert result.returncode == 0, f"promtool check rules {path.name}:\n{result.stdout}\n{result.stderr}"
    assert "SUCCESS" in result.stdout, result.stdout


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(path: Path) -> None:
    result = run_promtool("test", "rules", str(path))
    assert result.returncode == 0, f"promtool test rules {path.name}:\n{result.stdout}\n{result.stderr}"
    assert "SUCCESS" in result.stdout, result.stdout


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_unit_tests_load_every_rule_file(path: Path) -> None:
    loaded = {(path.parent / name).resolve() for name in load_yaml(path)["rule_files"]}
    assert loaded == {p.resolve() for p in RULE_FILES}


def test_required_alerts_exist_once() -> None:
    names = [rule["alert"] for rule in ALERTS]
    assert len(names) == len(set(names)), names
    assert set(names) >= REQUIRED_ALERTS, REQUIRED_ALERTS - set(names)
    for name in names:
        assert re.fullmatch(r"HuaweiCloudTask[A-Z][A-Za-z]+", name), name


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: r["alert"])
def test_alert_has_severity_summary_description_and_dashboard_url(rule: dict[str, Any]) -> None:
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    summary = annotations.get("summary", "")
    assert summary.endswith("."), f"summary must be a sentence: {summary!r}"
    assert "{{" not in summary, "summary is static; details go into the description"
    description = annotations.get("description", "")
    assert "{{" in description, "description is templated with the alert's labels"
    url = annotations.get("dashboard_url", "")
    match = re.match(r"/d/([\w-]+)(\?|$)", url)
    assert match, url
    assert match.group(1) in dashboard_uids(), f"{url} names no dashboard in dashboards/"


@pytest.mark.parametrize("rule", [r for r in ALERTS if r["alert"] in TASK_ALERTS], ids=lambda r: r["alert"])
def test_task_alert_names_the_task_and_links_its_detail(rule: dict[str, Any]) -> None:
    description = rule["annotations"]["description"]
    for label in ("task_id", "cloud_service", "region", "account"):
        assert f"$labels.{label}" in description, f"description does not name {label}"
    assert rule["annotations"]["dashboard_url"].startswith("/d/hwc-tasks-detail?")
    assert "var-task_id={{ $labels.task_id }}" in rule["annotations"]["dashboard_url"]


def test_failed_alert_carries_the_error() -> None:
    (rule,) = [r for r in ALERTS if r["alert"] == "HuaweiCloudTaskFailed"]
    assert "group_left(error_code, error_message)" in rule["expr"]
    for label in ("error_code", "error_message"):
        assert f"$labels.{label}" in rule["annotations"]["description"]


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    cases = alert_cases()
    for rule in ALERTS:
        name = rule["alert"]
        assert True in cases.get(name, set()), f"{name}: no unit test in which it fires"
        assert False in cases.get(name, set()), f"{name}: no unit test in which it stays silent"


def test_unit_tests_name_only_existing_alerts() -> None:
    # promtool passes a silent case for an alert that does not exist: a typo would test nothing.
    unknown = set(alert_cases()) - {rule["alert"] for rule in ALERTS}
    assert not unknown, unknown


def test_rules_use_only_contract_metrics() -> None:
    recorded = {rule["record"] for rule in rules_of_kind("record")}
    for rule in [*ALERTS, *rules_of_kind("record")]:
        bare = re.sub(r"\w+:huaweicloud_task\w*:\w+", " ", rule["expr"])  # recorded names hold metric names
        used = set(re.findall(r"\bhuaweicloud_task_\w+", bare))
        assert used <= CONTRACT_METRICS | recorded, (rule.get("alert") or rule.get("record"), used - CONTRACT_METRICS)


def test_recording_rule_names_follow_level_metric_operations() -> None:
    # level:metric[:operations], with our prefix in it so that they are easy to find.
    for rule in rules_of_kind("record"):
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+(:[a-z0-9_]+)?", rule["record"]), rule["record"]
        assert "huaweicloud_task" in rule["record"], rule["record"]


def test_stuck_threshold_has_a_default_without_cloud_service() -> None:
    thresholds = [r for r in rules_of_kind("record") if r["record"] == "huaweicloud_task:stuck_threshold_seconds"]
    defaults = [r for r in thresholds if "cloud_service" not in r.get("labels", {})]
    assert len(defaults) == 1, "exactly one default threshold, without a cloud_service label"
    assert defaults[0]["expr"].strip() == "vector(7200)"
    services = [r["labels"]["cloud_service"] for r in thresholds if r not in defaults]
    assert len(services) == len(set(services)), f"one override per cloud_service: {services}"


def test_every_built_in_service_has_a_stuck_threshold_of_its_own() -> None:
    from exporter.services import BUILTIN

    thresholds = [r for r in rules_of_kind("record") if r["record"] == "huaweicloud_task:stuck_threshold_seconds"]
    services = {r["labels"]["cloud_service"] for r in thresholds if "cloud_service" in r.get("labels", {})}
    assert services == set(BUILTIN)


def test_every_alert_has_a_runbook_section() -> None:
    runbooks = (REPO / "docs" / "runbooks.md").read_text(encoding="utf-8")
    sections = {line[3:].strip() for line in runbooks.splitlines() if line.startswith("## ")}
    for rule in rules_of_kind("alert"):
        name = rule["alert"]
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks.md#{name.lower()}", name
        assert name in sections, f"docs/runbooks.md has no section for {name}"
        section = runbooks.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert all(part in section for part in ("**Means.**", "**Confirm.**", "**Do.**")), name
