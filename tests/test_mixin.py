"""The monitoring mixin (mixin/): the one source of the alerts, the recording rules and the dashboards.

The rendered files are committed; these tests fail when they differ from what `make mixin` writes, and
show that a user's `_config` override reaches the output (kubernetes-mixin's way of adapting a mixin).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def _load_render() -> Any:
    spec = importlib.util.spec_from_file_location("mixin_render", REPO / "mixin" / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_render()
RENDERED: dict[str, str] = render.render()

OVERRIDES = """{
  _config+:: {
    exporterSelector: 'job="hwc-tasks", namespace="monitoring"',
    grafanaUrl: 'https://grafana.example.com/',
    runbookUrl: 'https://git.example.com/huaweicloud-task-exporter/blob/main',
    dashboardUidPrefix: 'acme-',
    dashboardTags: ['acme'],
    dashboardLinkTags: ['acme'],
    stuckThresholdDefaultSeconds: 600,
    stuckThresholdSeconds+: { rds: 8 * 3600, evs: null, nas_jobs: 900 },
    failureRatioThreshold: 0.5,
    successMaxAgeSeconds+: { rds: { backup: 8 * 24 * 3600 } },
    throttledFor: '1h',
    exporterDownFor: '2m',
  },
}"""


@pytest.fixture(scope="module")
def overridden() -> dict[str, str]:
    files: dict[str, str] = render.render(OVERRIDES)
    return files


def alerts(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(files[render.ALERTS_FILE])["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def recorded(files: dict[str, str], name: str) -> list[tuple[str, dict[str, str]]]:
    groups = yaml.safe_load(files[render.RULES_FILE])["groups"]
    return [(r["expr"], r.get("labels", {})) for g in groups for r in g["rules"] if r.get("record") == name]


@pytest.mark.parametrize("path", sorted(RENDERED))
def test_the_committed_file_is_the_mixin_rendered(path: str) -> None:
    committed = (REPO / path).read_text(encoding="utf-8")
    assert committed == RENDERED[path], f"{path} differs from the mixin: edit mixin/ and run `make mixin`"


def test_every_shipped_rule_file_and_dashboard_comes_from_the_mixin() -> None:
    shipped = {
        str(p.relative_to(REPO))
        for p in [*REPO.glob("dashboards/*.json"), *REPO.glob("alerts/*.yaml")]
        if "test" not in p.name
    }
    assert shipped == {p for p in RENDERED if not p.startswith("deploy/")}, "add it to mixin/ (one import line)"


def test_the_rendered_yaml_says_where_to_edit() -> None:
    for path in (render.ALERTS_FILE, render.RULES_FILE, render.PROMETHEUS_RULE_FILE):
        assert "make mixin" in RENDERED[path].splitlines()[0], path


def test_the_defaults_keep_the_links_paths() -> None:
    for name, rule in alerts(RENDERED).items():
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks.md#{name.lower()}"
        assert rule["annotations"]["dashboard_url"].startswith("/d/hwc-tasks-")


def test_a_config_override_reaches_the_alerts(overridden: dict[str, str]) -> None:
    rules = alerts(overridden)
    down = rules["HuaweiCloudTaskExporterDown"]
    assert down["expr"].count('up{job="hwc-tasks", namespace="monitoring"}') == 2
    assert ".*huaweicloud-task-exporter.*" not in overridden[render.ALERTS_FILE]
    assert down["for"] == "2m"
    assert "for 2 minutes" in down["annotations"]["description"]
    throttled = rules["HuaweiCloudTaskExporterThrottled"]
    assert throttled["for"] == "1h"
    assert throttled["annotations"]["summary"].endswith("for 1 hour.")
    for name, rule in rules.items():
        assert rule["annotations"]["runbook_url"] == (
            f"https://git.example.com/huaweicloud-task-exporter/blob/main/docs/runbooks.md#{name.lower()}"
        )
        assert rule["annotations"]["dashboard_url"].startswith("https://grafana.example.com/d/acme-")
    assert rules["HuaweiCloudTaskFailed"]["annotations"]["dashboard_url"].startswith(
        "https://grafana.example.com/d/acme-detail?var-account="
    )


def test_a_config_override_reaches_the_thresholds(overridden: dict[str, str]) -> None:
    stuck = {
        labels.get("cloud_service", ""): expr
        for expr, labels in recorded(overridden, "huaweicloud_task:stuck_threshold_seconds")
    }
    assert stuck[""] == "vector(600)"
    assert stuck["rds"] == "vector(28800)"
    assert stuck["nas_jobs"] == "vector(900)"
    assert "evs" not in stuck, "a null threshold drops the service's rule"
    assert stuck["ecs"] == "vector(1800)", "a service not overridden keeps its threshold"
    assert recorded(overridden, "huaweicloud_task:failure_ratio_threshold") == [("vector(0.5)", {})]
    ages = recorded(overridden, "huaweicloud_task:success_max_age_seconds")
    assert ("vector(691200)", {"cloud_service": "rds", "job_type": "backup"}) in ages
    assert ("vector(93600)", {"cloud_service": "cbr", "job_type": "backup"}) in ages


def test_a_config_override_reaches_the_dashboards(overridden: dict[str, str]) -> None:
    dashboards = {path: json.loads(text) for path, text in overridden.items() if path.endswith(".json")}
    assert sorted(d["uid"] for d in dashboards.values()) == ["acme-detail", "acme-history", "acme-overview"]
    for path, dashboard in dashboards.items():
        assert dashboard["tags"] == ["acme"], path
        assert all(link["tags"] == ["acme"] for link in dashboard["links"]), path
        assert "hwc-tasks-" not in overridden[path], f"{path} still links a default uid"
    overview = overridden["dashboards/huaweicloud-tasks-overview.json"]
    assert overview.count('"/d/acme-detail?var-account=') == 3


def test_promtool_accepts_the_overridden_rules(overridden: dict[str, str], tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    paths = []
    for path in (render.ALERTS_FILE, render.RULES_FILE):
        paths.append(tmp_path / Path(path).name)
        paths[-1].write_text(overridden[path], encoding="utf-8")
    result = subprocess.run(
        ["promtool", "check", "rules", "--lint=all", "--lint-fatal", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_mixin_renders_as_a_vendored_library(tmp_path: Path) -> None:
    """kube-prometheus vendors the mixin under a name and imports it with `jsonnet -J vendor`: its relative
    imports must resolve from there."""
    import _jsonnet

    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "huaweicloud-task-exporter-mixin").symlink_to(REPO / "mixin")
    main = tmp_path / "main.jsonnet"
    main.write_text(
        "local mixin = (import 'huaweicloud-task-exporter-mixin/mixin.libsonnet') + " + OVERRIDES + ";\n"
        "{ 'alerts.json': mixin.prometheusAlerts, 'dashboards': std.objectFields(mixin.grafanaDashboards) }\n",
        encoding="utf-8",
    )
    out = json.loads(_jsonnet.evaluate_file(str(main), jpathdir=[str(tmp_path / "vendor")]))
    (down,) = [r for r in out["alerts.json"]["groups"][0]["rules"] if r["alert"] == "HuaweiCloudTaskExporterDown"]
    assert 'up{job="hwc-tasks", namespace="monitoring"}' in down["expr"]
    assert out["dashboards"] == [
        "huaweicloud-tasks-detail.json",
        "huaweicloud-tasks-history.json",
        "huaweicloud-tasks-overview.json",
    ]
