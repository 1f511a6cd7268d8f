"""Writes prometheusrule.yaml from the rule files in alerts/, themselves rendered from mixin/: `make mixin`
(which calls render() with the mixin's groups) or `make k8s-rules` (from the files in alerts/).

tests/test_kubernetes.py checks that the file is what this writes, so a change to alerts/ that is not
rendered here fails `make test`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
RULE_FILES = ("huaweicloud-task-rules.yaml", "huaweicloud-task-alerts.yaml")
HEADER = (
    "# Rendered from mixin/ by `make mixin` (deploy/kubernetes/monitoring/render.py); do not edit: change the\n"
    "# mixin (its _config in mixin/config.libsonnet) and run `make mixin`.\n"
    "# The recording rules (stuck thresholds included) and the alerts, for the Prometheus Operator.\n"
)


def render(groups: list[Any] | None = None) -> str:
    """The PrometheusRule of `groups`, by default those of the rule files in alerts/."""
    if groups is None:
        groups = [g for name in RULE_FILES for g in yaml.safe_load((ROOT / "alerts" / name).read_text())["groups"]]
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "huaweicloud-task-exporter",
            "labels": {"app.kubernetes.io/name": "huaweicloud-task-exporter"},
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=120)


if __name__ == "__main__":
    target = Path(__file__).parent / "prometheusrule.yaml"
    target.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")
