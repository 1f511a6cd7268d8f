"""docs/metrics.md, the metric contract, against a real scrape: every family the exporter exposes is
listed there with its type and labels, and every family listed there is exposed, so the document
cannot drift from the code. A new family fails here until its row is written (docs/metrics.md,
"Adding a family")."""

from __future__ import annotations

import enum
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.cloud.client import HeldBack
from exporter.model import Reason, State
from exporter.tracking import DropReason, FileProblem, Source
from tests.test_e2e import MISSING, SCENARIO, start_stack, stop_stack
from tests.test_fanout import open_stack

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "metrics.md"
PREFIX = "huaweicloud_task_"
TYPES = ("gauge", "counter", "histogram")
# Families the fake cloud's stack has no sample of, scraped from another stack in the test.
ELSEWHERE = frozenset({PREFIX + "id_part_info"})
# | `name` | type | labels | unit | meaning |
_ROW = re.compile(r"\| `(\w+)` \| (\w+) \| ([^|]*) \| ([^|]*) \| (.*) \|")


@dataclass(frozen=True)
class Family:
    name: str  # as queried: a counter with its _total
    type: str
    labels: frozenset[str]  # a histogram's `le` not included


@dataclass(frozen=True)
class Row(Family):
    unit: str
    meaning: str


def documented() -> dict[str, Row]:
    """The rows of docs/metrics.md, by metric name."""
    rows: dict[str, Row] = {}
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith(f"| `{PREFIX}"):
            continue
        match = _ROW.fullmatch(line)
        assert match, f"docs/metrics.md:{number}: expected | `name` | type | labels | unit | meaning |"
        name, kind, labels, unit, meaning = (group.strip() for group in match.groups())
        assert name not in rows, f"docs/metrics.md:{number}: {name} is listed twice"
        assert kind in TYPES, f"docs/metrics.md:{number}: {name}: type {kind!r}, expected one of {TYPES}"
        assert labels == "none" or re.fullmatch(r"`\w+`(?:, `\w+`)*", labels), (
            f"docs/metrics.md:{number}: {name}: labels {labels!r}: write `a`, `b` or none"
        )
        assert unit and meaning, f"docs/metrics.md:{number}: {name}: no unit or meaning"
        rows[name] = Row(name, kind, frozenset(re.findall(r"`(\w+)`", labels)), unit, meaning)
    return rows


def documented_series() -> frozenset[str]:
    """The series names of the documented families: a histogram's _bucket, _sum and _count."""
    names: set[str] = set()
    for row in documented().values():
        suffixes = ("_bucket", "_sum", "_count") if row.type == "histogram" else ("",)
        names.update(row.name + suffix for suffix in suffixes)
    return frozenset(names)


def exposed(text: str) -> dict[str, Family]:
    """The exporter's families in an exposition, named as queried, with the labels their samples carry;
    prometheus-client's `_created` gauges of our counters and histograms left out (docs/metrics.md says
    why), and so are the families without our prefix (process_*, python_info)."""
    parsed = [f for f in text_string_to_metric_families(text) if f.name.startswith(PREFIX)]
    counted = {f.name for f in parsed if f.type in ("counter", "histogram")}
    families: dict[str, Family] = {}
    for family in parsed:
        if family.name.endswith("_created") and family.name.removesuffix("_created") in counted:
            continue
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = frozenset(label for sample in family.samples for label in sample.labels) - {"le"}
        if not family.samples and name in ELSEWHERE:
            continue
        assert family.samples, f"{name}: no sample in the test's scrape; make the stack below produce one"
        families[name] = Family(name, family.type, labels)
    return families


async def test_every_exposed_family_is_documented_with_its_type_and_labels(tmp_path: Path) -> None:
    # Every family has samples: a failed task (error_info), a batch job (sub_tasks), a task the cloud
    # does not know (api_errors), a discovering target (discovery_last_success_timestamp_seconds).
    # An SMS migration that says how long it has left (remaining_seconds).
    migrating = {"cloud_service": "sms", "task_id": "5350a000-0000-4000-8000-00000000f001", "begin": -60}
    migrating["phases"] = [{"after": 0, "status": "RUNNING", "remaining": 300}]
    stack = await start_stack(
        tmp_path,
        {"tasks": [*SCENARIO["tasks"], migrating]},
        extra_tasks={"evs": [MISSING]},
        target_extra={"cph": {"discover": {"request_ids": ["0" * 32]}}},
    )
    try:
        # A `regions:` target (region_discovery_successful): its account asks the fake cloud's IAM.
        document = yaml.safe_load(stack.config_file.read_text())
        url = document["services"][0]["endpoint"]
        document["accounts"][0]["iam_endpoint"] = url
        added = {"cloud_service": "evs", "account": "demo", "regions": ["cn-north-4"], "endpoint": url}
        document["services"].append(added)
        # An intake door (intake_messages_total: its series are made when the door is on).
        token = tmp_path / "intake-token"
        token.write_text("intake-token-for-tests", encoding="utf-8")
        document["intake"] = {
            "cloudevents": {"account": "demo", "token_header": "X-Intake-Token", "token_file": str(token)}
        }
        stack.config_file.write_text(yaml.safe_dump(document))
        assert await stack.exporter.reload() is None
        response = await stack.http.get("/metrics")
        assert response.status_code == 200
        families = exposed(response.text)
    finally:
        await stop_stack(stack)
    # Task IDs of several parts: no spec of the fake cloud has them yet; test_fanout's small cloud does.
    async with open_stack(tmp_path / "fanout") as fanout:
        extra = {f.name: f for f in text_string_to_metric_families((await fanout.http.get("/metrics")).text)}
    parts = extra[PREFIX + "id_part_info"]
    assert parts.samples, "huaweicloud_task_id_part_info: no sample from test_fanout's stack"
    labels = frozenset(label for sample in parts.samples for label in sample.labels)
    families.setdefault(parts.name, Family(parts.name, parts.type, labels))
    rows = documented()
    assert sorted(set(families) - set(rows)) == [], "exposed but not in docs/metrics.md"
    assert sorted(set(rows) - set(families)) == [], "in docs/metrics.md but not exposed"
    for name, family in families.items():
        row = rows[name]
        assert (row.type, sorted(row.labels)) == (family.type, sorted(family.labels)), name


def test_fixed_label_values_are_each_documented() -> None:
    rows = documented()
    fixed: dict[str, type[enum.Enum]] = {
        "huaweicloud_task_status": State,
        "huaweicloud_task_tracked": Source,
        "huaweicloud_task_api_errors_total": Reason,
        "huaweicloud_task_api_held_back_total": HeldBack,
        "huaweicloud_task_dropped_total": DropReason,
        "huaweicloud_task_file_errors_total": FileProblem,
    }
    for name, values in fixed.items():
        missing = [v.value for v in values if f"`{v.value}`" not in rows[name].meaning]
        assert not missing, f"docs/metrics.md: {name} does not name {missing}"


def test_the_metrics_the_dashboards_use_are_documented() -> None:
    from tests.test_dashboards import CONTRACT_METRICS

    assert sorted(set(CONTRACT_METRICS) - documented_series()) == []


def test_the_contract_is_pointed_at_inside_the_repository() -> None:
    """DESIGN.md is not in the repository: the README, the dashboards' and alerts' files link
    docs/metrics.md instead."""
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    pointing = [
        path
        for path in tracked
        if path.endswith((".md", ".py", ".yaml", ".json"))
        and (REPO / path).is_file()
        and re.search(r"DESIGN(?:\.md)? section 3", (REPO / path).read_text(encoding="utf-8"))
    ]
    assert pointing == [], "these point at DESIGN.md for the contract; it is not in the repository"
    for path in ("README.md", "dashboards/README.md", "alerts/huaweicloud-task-alerts.yaml"):
        assert "docs/metrics.md" in (REPO / path).read_text(encoding="utf-8"), path
