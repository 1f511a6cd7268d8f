"""Lint for the Grafana dashboards in dashboards/ and their provisioning files.

Checks the conventions users rely on when they import the JSON as is (datasource variable, filter
variables, editable false, descriptions and units) and that every query uses only metrics from the
contract in docs/metrics.md, with valid PromQL. `iter_panel_queries` and `substitute_variables`
are also used by the end-to-end test that sends every query to a real Prometheus.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = REPO / "dashboards"
PROVISIONING_DIR = DASHBOARD_DIR / "provisioning"
DASHBOARD_FILES = sorted(DASHBOARD_DIR.glob("*.json"))
RULE_FILES = sorted(p for p in (REPO / "alerts").glob("*.yaml") if "test" not in p.name)

OVERVIEW = DASHBOARD_DIR / "huaweicloud-tasks-overview.json"
DETAIL = DASHBOARD_DIR / "huaweicloud-tasks-detail.json"
HISTORY = DASHBOARD_DIR / "huaweicloud-tasks-history.json"
EXPECTED = {
    OVERVIEW.name: ("hwc-tasks-overview", "Huawei Cloud tasks / Overview"),
    DETAIL.name: ("hwc-tasks-detail", "Huawei Cloud tasks / Task detail"),
    HISTORY.name: ("hwc-tasks-history", "Huawei Cloud tasks / History"),
}

DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
FILTER_LABELS = ("account", "cloud_service", "region", "project_id")

# Label filters every selector of a metric must carry: the filter labels the metric has, from the
# contract in docs/metrics.md (tests/test_metrics_doc.py checks that each is there).
_TARGET = FILTER_LABELS
_API = ("cloud_service", "region")
CONTRACT_METRICS: dict[str, tuple[str, ...]] = {
    "huaweicloud_task_info": _TARGET,
    "huaweicloud_task_status": _TARGET,
    "huaweicloud_task_progress_ratio": _TARGET,
    "huaweicloud_task_start_timestamp_seconds": _TARGET,
    "huaweicloud_task_end_timestamp_seconds": _TARGET,
    "huaweicloud_task_duration_seconds": _TARGET,
    "huaweicloud_task_error_info": _TARGET,
    "huaweicloud_task_sub_tasks": _TARGET,
    "huaweicloud_task_last_update_timestamp_seconds": _TARGET,
    "huaweicloud_task_up": _TARGET,
    "huaweicloud_task_scrape_duration_seconds": _TARGET,
    "huaweicloud_task_last_success_timestamp_seconds": _TARGET,
    "huaweicloud_task_tracked": _TARGET,
    "huaweicloud_task_api_requests_total": _API,
    "huaweicloud_task_api_request_duration_seconds_bucket": _API,
    "huaweicloud_task_api_request_duration_seconds_sum": _API,
    "huaweicloud_task_api_request_duration_seconds_count": _API,
    "huaweicloud_task_api_errors_total": _API,
    "huaweicloud_task_api_calls_saved_total": ("cloud_service",),
    "huaweicloud_task_intake_messages_total": (),  # by door (`source`) and result: no target labels
    "huaweicloud_task_auth_token_requests_total": ("account",),
    "huaweicloud_task_exporter_build_info": (),
    "huaweicloud_task_exporter_config_last_reload_successful": (),
    "huaweicloud_task_exporter_config_last_reload_success_timestamp_seconds": (),
    "huaweicloud_task_completions_total": _TARGET,
    "huaweicloud_task_completion_duration_seconds_bucket": _TARGET,
    "huaweicloud_task_resource_last_finished_timestamp_seconds": _TARGET,
}
# Series Prometheus itself writes for every target.
PROMETHEUS_METRICS = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "scrape_timeout_seconds",
        "scrape_sample_limit",
        "scrape_body_size_bytes",
    }
)
GRAFANA_BUILTIN_VARIABLES = frozenset(
    {
        "__rate_interval",
        "__rate_interval_ms",
        "__interval",
        "__interval_ms",
        "__range",
        "__range_s",
        "__range_ms",
        "__from",
        "__to",
        "__now",
        "__data",
        "__value",
        "__field",
        "__series",
        "__url_time_range",
        "__all_variables",
        "__dashboard",
        "__org",
        "__user",
        "__timezone",
    }
)

# Values for substitute_variables: what Grafana would put in, as far as PromQL syntax goes.
DEFAULT_SUBSTITUTIONS: dict[str, str] = {
    "__rate_interval": "2m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "stuck_threshold": "3600",
}
ANY_VALUE = ".*"  # every other variable: a regex that matches any label value

_VARIABLE_REF = re.compile(r"\$\{(\w+)(?:[.:][^}]*)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")
_PROMQL_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
)
_PROMQL_LITERALS = frozenset({"inf", "nan"})
_GROUPING_CLAUSE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"(?<![\w:])([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


# ----------------------------------------------------------------------------------------- helpers
def load_dashboard(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: top level is not an object"
    return data


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def iter_query_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data, i.e. all but rows."""
    return (p for p in iter_panels(dashboard) if p.get("type") != "row")


def iter_panel_queries(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) of every query of every panel, with variables unreplaced."""
    return [
        (panel.get("title", ""), target.get("expr", ""))
        for panel in iter_query_panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variables(dashboard: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def variable_query(variable: Mapping[str, Any]) -> str:
    query = variable.get("query", "")
    return str(query.get("query", "") if isinstance(query, dict) else query)


def substitute_variables(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Replace Grafana variables with concrete values so that Prometheus can run the expression.

    Intervals and ranges get durations, `stuck_threshold` a number of seconds, every other variable
    `.*` (the dashboards use variables only in regex matchers). `values` overrides any of these.
    """
    table = {**DEFAULT_SUBSTITUTIONS, **(values or {})}

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return table.get(name, ANY_VALUE)

    return _VARIABLE_REF.sub(replace, expr)


def referenced_variables(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _VARIABLE_REF.finditer(text)}


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (selectors, bare names), without functions and keywords."""
    text = _GROUPING_CLAUSE.sub(" ", _strip_strings(expr))
    text = _VARIABLE_REF.sub(" 0 ", text)  # `> $stuck_threshold` compares with a number
    text = re.sub(r"\{[^}]*\}", " ", text)  # matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    names = set()
    for match in re.finditer(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        name, is_call = match.group(1), match.group(2)
        if is_call or name in _PROMQL_KEYWORDS or name.lower() in _PROMQL_LITERALS:
            continue
        names.add(name)
    return names


def selectors(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """(metric, {label: (operator, value)}) of every `metric{...}` selector; bare names have no matchers."""
    text = _GROUPING_CLAUSE.sub(" ", expr)
    found = []
    for match in _SELECTOR.finditer(text):
        matchers = {label: (op, value) for label, op, value in _MATCHER.findall(match.group(2))}
        found.append((match.group(1), matchers))
    with_braces = {name for name, _ in found}
    # A metric written without braces has no matchers at all.
    found += [(name, {}) for name in metric_names(expr) - with_braces]
    return found


def recording_rules() -> dict[str, str]:
    """Recorded metric name -> expression, from the rule files in alerts/."""
    rules: dict[str, str] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    rules[rule["record"]] = rule["expr"]
    return rules


def filter_labels_of(metric: str, rules: Mapping[str, str]) -> tuple[str, ...]:
    """The filter labels a metric carries: from the contract, or a recording rule's outer `by (...)`."""
    if metric in CONTRACT_METRICS:
        return CONTRACT_METRICS[metric]
    if metric in rules:
        outer = re.match(r"\s*\w+\s+by\s*\(([^)]*)\)", rules[metric])
        kept = {label.strip() for label in outer.group(1).split(",")} if outer else set()
        return tuple(label for label in FILTER_LABELS if label in kept)
    return ()


def all_strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from all_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_strings(item)


def panel_by_title(dashboard: Mapping[str, Any], title: str) -> dict[str, Any]:
    matches = [p for p in iter_query_panels(dashboard) if p.get("title") == title]
    assert len(matches) == 1, f"expected one panel titled {title!r}, found {len(matches)}"
    return matches[0]


# The fields Grafana adds to a table beside the labels: each query's value, and the time.
_VALUE_FIELD = re.compile(r"Value(?: #\w+)?|Time")
_KEEPING_CLAUSE = re.compile(r"\b(?:by|group_left|group_right)\s*\(([^)]*)\)")


def table_columns(panel: Mapping[str, Any]) -> set[str]:
    """The label columns a table panel names: the fields its `organize` transformation renames or
    places, but the values and the time; for a `groupingToMatrix`, its row and column labels (the
    fields after it are the column label's values)."""
    columns: set[str] = set()
    for transformation in panel.get("transformations", []):
        options = transformation.get("options", {})
        if transformation["id"] == "groupingToMatrix":
            columns |= {options["rowField"], options["columnField"]}
            break
        if transformation["id"] == "organize":
            columns |= {*options.get("renameByName", {}), *options.get("indexByName", {})}
    return {column for column in columns if not _VALUE_FIELD.fullmatch(column)}


def kept_labels(expr: str) -> set[str]:
    """The labels an aggregating query can return: those of its `by (...)`, `group_left(...)` and
    `group_right(...)` clauses."""
    return {label.strip() for match in _KEEPING_CLAUSE.finditer(expr) for label in match.group(1).split(",")} - {""}


def iter_tables(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    return (p for p in iter_query_panels(dashboard) if p.get("type") == "table")


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, check=False)


def needs_promtool() -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not on PATH")


DASHBOARDS = {path.name: load_dashboard(path) for path in DASHBOARD_FILES}
each_dashboard = pytest.mark.parametrize("name", sorted(DASHBOARDS))


# ----------------------------------------------------------------------------------------- files
def test_expected_dashboards_exist_with_stable_uid_and_title() -> None:
    assert sorted(DASHBOARDS) == sorted(EXPECTED)
    for name, (uid, title) in EXPECTED.items():
        assert DASHBOARDS[name]["uid"] == uid
        assert DASHBOARDS[name]["title"] == title


def test_uids_are_unique() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(uids) == len(set(uids)), uids


@each_dashboard
def test_file_is_formatted_with_indent_2(name: str) -> None:
    text = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
    assert text == json.dumps(DASHBOARDS[name], indent=2, ensure_ascii=False) + "\n", (
        f"{name}: reformat with `python -m json.tool --indent 2 --no-ensure-ascii`"
    )


@each_dashboard
def test_top_level_conventions(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert "__inputs" not in dashboard, "no import placeholders: the datasource variable does that job"
    assert dashboard["editable"] is False
    assert dashboard["schemaVersion"] == 39
    assert dashboard["timezone"] == "utc"
    assert dashboard["tags"] == ["huaweicloud", "huaweicloud-task-exporter"]
    assert dashboard["id"] is None
    assert dashboard.get("description")


# ----------------------------------------------------------------------------------------- variables
@each_dashboard
def test_exactly_one_datasource_variable_named_datasource(name: str) -> None:
    listed = DASHBOARDS[name]["templating"]["list"]
    datasource_vars = [v for v in listed if v["type"] == "datasource"]
    assert len(datasource_vars) == 1, [v["name"] for v in datasource_vars]
    assert datasource_vars[0]["name"] == "datasource"
    assert datasource_vars[0]["query"] == "prometheus"


@each_dashboard
def test_filter_variables_are_chained_multi_value_queries(name: str) -> None:
    defined = variables(DASHBOARDS[name])
    for position, label in enumerate(FILTER_LABELS):
        assert label in defined, f"variable {label} missing"
        variable = defined[label]
        assert variable["type"] == "query"
        assert variable["multi"] is True and variable["includeAll"] is True
        query = variable_query(variable)
        assert re.fullmatch(rf"label_values\(huaweicloud_task_up(\{{.*\}})?,\s*{label}\)", query), query
        for earlier in FILTER_LABELS[:position]:
            assert f'{earlier}=~"${earlier}"' in query, f"{label} is not filtered by {earlier}: {query}"


@each_dashboard
def test_every_panel_target_and_query_variable_uses_the_datasource_variable(name: str) -> None:
    dashboard = DASHBOARDS[name]
    for panel in iter_query_panels(dashboard):
        assert panel.get("datasource") == DATASOURCE_REF, panel.get("title")
        assert panel.get("targets"), f"{panel.get('title')}: no queries"
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE_REF, (panel.get("title"), target.get("refId"))
    for variable in variables(dashboard).values():
        if variable["type"] == "query":
            assert variable.get("datasource") == DATASOURCE_REF, variable["name"]


@each_dashboard
def test_every_referenced_variable_is_defined(name: str) -> None:
    dashboard = DASHBOARDS[name]
    known = set(variables(dashboard)) | GRAFANA_BUILTIN_VARIABLES
    undefined = {ref for text in all_strings(dashboard) for ref in referenced_variables(text)} - known
    assert not undefined, f"undefined variables: {sorted(undefined)}"


def test_detail_dashboard_selects_one_task() -> None:
    task_id = variables(DASHBOARDS[DETAIL.name]).get("task_id")
    assert task_id is not None
    assert task_id["multi"] is False and task_id["includeAll"] is False
    assert variable_query(task_id).startswith("label_values(huaweicloud_task_info{")
    for title, expr in iter_panel_queries(DASHBOARDS[DETAIL.name]):
        assert 'task_id=~"$task_id"' in expr, f"{title}: does not select the task"


def test_overview_stuck_threshold_defaults_to_each_services_threshold() -> None:
    variable = variables(DASHBOARDS[OVERVIEW.name]).get("stuck_threshold")
    assert variable is not None and variable["type"] == "custom"
    assert variable["current"]["value"] == "0"  # 0: the recorded per-service thresholds, as the alert
    assert {"0", "3600"} <= set(variable["query"].split(","))
    stuck = [e for _, e in iter_panel_queries(DASHBOARDS[OVERVIEW.name]) if "$stuck_threshold" in e]
    assert stuck and all("cloud_service:huaweicloud_task_stuck_threshold_seconds:max" in e for e in stuck)


# ----------------------------------------------------------------------------------------- panels
@each_dashboard
def test_every_panel_has_a_description_and_a_unit(name: str) -> None:
    for panel in iter_query_panels(DASHBOARDS[name]):
        assert panel.get("description", "").strip(), f"{panel.get('title')}: no description"
        assert panel.get("fieldConfig", {}).get("defaults", {}).get("unit"), f"{panel.get('title')}: no unit"


@each_dashboard
def test_table_columns_are_labels_their_queries_keep(name: str) -> None:
    """A column a table renames must be a label its queries return: a renamed label they drop is a
    column that is never there. tests/test_prometheus_e2e.py checks the same on a real Prometheus."""
    for panel in iter_tables(DASHBOARDS[name]):
        exprs = [target["expr"] for target in panel["targets"]]
        assert all(re.search(r"\bby\s*\(", expr) for expr in exprs), f"{panel['title']}: a query without by (...)"
        missing = table_columns(panel) - set().union(*(kept_labels(expr) for expr in exprs))
        assert not missing, f"{panel['title']}: columns of labels no query of the table returns: {sorted(missing)}"


@each_dashboard
def test_panel_ids_are_unique_and_the_grid_has_no_overlaps(name: str) -> None:
    panels = list(iter_panels(DASHBOARDS[name]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), ids
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@each_dashboard
def test_every_target_has_an_expression(name: str) -> None:
    for title, expr in iter_panel_queries(DASHBOARDS[name]):
        assert expr.strip(), f"{title}: empty expr"


@each_dashboard
def test_rates_use_rate_interval(name: str) -> None:
    for title, expr in iter_panel_queries(DASHBOARDS[name]):
        for window in re.findall(r"\b(?:rate|irate|increase)\s*\(.*?\[([^\]]*)\]", expr, flags=re.S):
            assert window == "$__rate_interval", f"{title}: rate over [{window}]"


@each_dashboard
def test_metrics_are_in_the_contract_or_recorded_or_from_prometheus(name: str) -> None:
    rules = recording_rules()
    for title, expr in iter_panel_queries(DASHBOARDS[name]):
        unknown = metric_names(expr) - set(CONTRACT_METRICS) - set(rules) - PROMETHEUS_METRICS
        assert not unknown, f"{title}: metrics neither in docs/metrics.md nor recorded: {sorted(unknown)}"


@each_dashboard
def test_every_selector_filters_on_the_dashboard_variables(name: str) -> None:
    rules = recording_rules()
    for title, expr in iter_panel_queries(DASHBOARDS[name]):
        for metric, matchers in selectors(expr):
            for label in filter_labels_of(metric, rules):
                assert matchers.get(label) == ("=~", f"${label}"), (
                    f'{title}: {metric} is not filtered with {label}=~"${label}"'
                )
            if metric in PROMETHEUS_METRICS:
                assert matchers.get("job") == ("=~", "$job"), f"{title}: {metric} is not filtered by job"


def test_overview_uses_the_recording_rules() -> None:
    used = {m for _, expr in iter_panel_queries(DASHBOARDS[OVERVIEW.name]) for m in metric_names(expr)}
    assert set(recording_rules()) & used == {
        "cloud_service:huaweicloud_task_status:count",
        "cloud_service_job_type:huaweicloud_task_duration_seconds:max",
        "cloud_service:huaweicloud_task_stuck_threshold_seconds:max",
    }


# ----------------------------------------------------------------------------------------- links
def test_overview_task_tables_link_to_the_detail_dashboard() -> None:
    dashboard = DASHBOARDS[OVERVIEW.name]
    linked = set()
    for panel in iter_query_panels(dashboard):
        for override in panel["fieldConfig"].get("overrides", []):
            for prop in override["properties"]:
                if prop["id"] != "links":
                    continue
                for link in prop["value"]:
                    assert link["url"].startswith("/d/hwc-tasks-detail?"), link["url"]
                    for label in (*FILTER_LABELS, "task_id"):
                        assert f"var-{label}=${{__data.fields.{label}}}" in link["url"], (label, link["url"])
                    linked.add(panel["title"])
    assert {"Failed tasks", "Running tasks", "Running longer than their threshold"} <= linked


@each_dashboard
def test_dashboards_link_to_each_other(name: str) -> None:
    links = DASHBOARDS[name]["links"]
    assert any(
        link["type"] == "dashboards" and "huaweicloud-task-exporter" in link["tags"] and link["includeVars"]
        for link in links
    ), links
    # The tag link finds both dashboards only if both carry the tag.
    assert all("huaweicloud-task-exporter" in d["tags"] for d in DASHBOARDS.values())


# ----------------------------------------------------------------------------------------- PromQL
def test_substitute_variables_replaces_every_form() -> None:
    expr = 'rate(x{a=~"$account", b=~"${region}", c=~"[[project_id]]"}[$__rate_interval]) > $stuck_threshold'
    assert substitute_variables(expr) == 'rate(x{a=~".*", b=~".*", c=~".*"}[2m]) > 3600'
    assert substitute_variables("x[$__range]", {"__range": "6h"}) == "x[6h]"
    assert substitute_variables('x{task_id=~"$task_id"}', {"task_id": "abc"}) == 'x{task_id=~"abc"}'


def test_metric_names_and_selectors_parse_what_the_dashboards_write() -> None:
    expr = (
        'sum by (cloud_service, le) (rate(huaweicloud_task_api_requests_total{job=~"$job"}[5m]))\n'
        "* on(instance) group_left(version) huaweicloud_task_exporter_build_info\n"
        "and up offset 30m or vector(0)"
    )
    assert metric_names(expr) == {"huaweicloud_task_api_requests_total", "huaweicloud_task_exporter_build_info", "up"}
    found = dict(selectors(expr))
    assert found["huaweicloud_task_api_requests_total"] == {"job": ("=~", "$job")}
    assert found["up"] == {}


def _rule_file_for(queries: list[tuple[str, str]]) -> str:
    groups = [
        {"name": f"{index:03d} {title}", "rules": [{"record": f"dashboard:query_{index:03d}", "expr": expr}]}
        for index, (title, expr) in enumerate(queries)
    ]
    return yaml.safe_dump({"groups": groups}, sort_keys=False, allow_unicode=True)


@each_dashboard
def test_every_query_is_valid_promql(name: str, tmp_path: Path) -> None:
    needs_promtool()
    dashboard = DASHBOARDS[name]
    queries = [(title, substitute_variables(expr)) for title, expr in iter_panel_queries(dashboard)]
    # Variable queries are label_values(<selector>, label): their selector must be valid too.
    for variable in variables(dashboard).values():
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable_query(variable), flags=re.S)
        if variable["type"] == "query" and match:
            queries.append((f"variable {variable['name']}", substitute_variables(match.group(1))))
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(_rule_file_for(queries), encoding="utf-8")
    result = run_promtool("check", "rules", "--lint-fatal", str(rule_file))
    assert result.returncode == 0, f"promtool check rules:\n{result.stdout}\n{result.stderr}"
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


# The table panels join several metrics; these check, on sample series, that each join returns
# what the panel shows. Labels every sample series carries:
_T = 'account="prod", cloud_service="{service}", region="cn-north-4", project_id="p1", task_id="{task}"'
_SCRAPE = 'instance="exporter:9898", job="huaweicloud-task-exporter"'


def _series(metric: str, service: str, task: str, value: str, **extra: str) -> dict[str, str]:
    labels = ", ".join([_T.format(service=service, task=task), *(f'{k}="{v}"' for k, v in extra.items()), _SCRAPE])
    return {"series": f"{metric}{{{labels}}}", "values": value}


def _task(
    service: str, task: str, state: str, job_type: str, info: dict[str, str] | None = None, **metrics: str
) -> list[dict[str, str]]:
    """The series the exporter writes for one task: info (with `info`'s labels too), the six states, and
    the given gauges."""
    series = [
        _series("huaweicloud_task_info", service, task, "1x10", job_type=job_type, raw_status="X", **(info or {}))
    ]
    for each in ("pending", "running", "succeeded", "failed", "stopped", "unknown"):
        series.append(
            _series("huaweicloud_task_status", service, task, "1x10" if each == state else "0x10", state=each)
        )
    for metric, value in metrics.items():
        series.append(_series(f"huaweicloud_task_{metric}", service, task, value))
    return series


SAMPLE_TASKS = [
    # Failed, with an end time and an error, on a resource.
    *_task(
        "evs",
        "evs-failed",
        "failed",
        "createVolume",
        {"job_name": "data-disk", "resource_id": "vol-1"},
        end_timestamp_seconds="1700000000x10",
        duration_seconds="60x10",
    ),
    _series(
        "huaweicloud_task_error_info", "evs", "evs-failed", "1x10", error_code="EVS.2024", error_message="No quota."
    ),
    # Failed, no end time (CodeArts Check has no times), error_info without code or message.
    *_task("codearts_check", "cc-failed", "failed", "check"),
    _series("huaweicloud_task_error_info", "codearts_check", "cc-failed", "1x10"),
    # Failed, with an end time but no error_info series at all.
    *_task("cph", "cph-failed", "failed", "createPhone", end_timestamp_seconds="1700000200x10"),
    # Running with progress, for two hours.
    *_task("dws", "dws-running", "running", "resize", progress_ratio="0.25x10", duration_seconds="7200x10"),
    # Running without progress, for ten minutes.
    *_task("cph", "cph-running", "running", "createPhone", duration_seconds="600x10"),
    # Running for an hour: over ECS's own stuck threshold (30 min), not over 3600 s.
    *_task("ecs", "ecs-running", "running", "createServer", duration_seconds="3600x10"),
    # Succeeded: in no table.
    *_task(
        "evs", "evs-done", "succeeded", "createVolume", end_timestamp_seconds="1700000100x10", progress_ratio="1x10"
    ),
]


def _labels(service: str, task: str, **extra: str) -> str:
    pairs = [*_T.format(service=service, task=task).split(", "), *(f'{k}="{v}"' for k, v in extra.items())]
    return "{" + ", ".join(sorted(pairs)) + "}"


JOIN_CASES: list[tuple[str, str, str, list[tuple[str, float]]]] = [
    (
        OVERVIEW.name,
        "Failed tasks",
        "A",
        [
            (
                _labels(
                    "evs",
                    "evs-failed",
                    job_type="createVolume",
                    resource_id="vol-1",
                    error_code="EVS.2024",
                    error_message="No quota.",
                ),
                1.7e12,
            ),
            (_labels("codearts_check", "cc-failed", job_type="check"), 0),
            (_labels("cph", "cph-failed", job_type="createPhone"), 1.7000002e12),
        ],
    ),
    (
        OVERVIEW.name,
        "Running tasks",
        "A",
        [(_labels("dws", "dws-running", job_type="resize"), 0.25)],
    ),
    (
        OVERVIEW.name,
        "Running tasks",
        "B",
        [
            (_labels("dws", "dws-running", job_type="resize"), 7200),
            (_labels("cph", "cph-running", job_type="createPhone"), 600),
            (_labels("ecs", "ecs-running", job_type="createServer"), 3600),
        ],
    ),
    # stuck_threshold 3600 (substitute_variables' value): over it, whatever the service.
    (
        OVERVIEW.name,
        "Running longer than their threshold",
        "A",
        [(_labels("dws", "dws-running", job_type="resize"), 7200)],
    ),
    (OVERVIEW.name, "Stuck tasks", "A", [("{}", 1)]),
    # stuck_threshold 0: each service's own (DWS 6 h, CPH 30 min, ECS 30 min).
    (
        OVERVIEW.name,
        "Running longer than their threshold (0)",
        "A",
        [(_labels("ecs", "ecs-running", job_type="createServer"), 3600)],
    ),
    (DETAIL.name, "State", "A", [('{state="failed"}', 1)]),
    # Last seen at the last sample before the evaluation time (5m), in milliseconds.
    (
        DETAIL.name,
        "Task",
        "A",
        [
            (
                '{cloud_service="evs", job_name="data-disk", job_type="createVolume", raw_status="X", '
                'resource_id="vol-1"}',
                300_000,
            )
        ],
    ),
    (DETAIL.name, "Error", "A", [('{error_code="EVS.2024", error_message="No quota."}', 1)]),
]
# The detail dashboard shows one task.
DETAIL_TASK = {"task_id": "evs-failed"}


@pytest.mark.parametrize(
    ("name", "title", "ref", "expected"), JOIN_CASES, ids=[f"{title} [{ref}]" for _, title, ref, _ in JOIN_CASES]
)
def test_table_joins_return_the_expected_rows(
    name: str, title: str, ref: str, expected: list[tuple[str, float]], tmp_path: Path
) -> None:
    needs_promtool()
    per_service = title.endswith(" (0)")
    panel = panel_by_title(DASHBOARDS[name], title.removesuffix(" (0)"))
    (expr,) = [t["expr"] for t in panel["targets"] if t["refId"] == ref]
    values = DETAIL_TASK if name == DETAIL.name else {"stuck_threshold": "0"} if per_service else None
    test_file = tmp_path / "join-test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(path) for path in RULE_FILES],  # the recorded stuck thresholds
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": SAMPLE_TASKS,
                        "promql_expr_test": [
                            {
                                "expr": substitute_variables(expr, values),
                                "eval_time": "5m",
                                "exp_samples": [{"labels": labels, "value": value} for labels, value in expected],
                            }
                        ],
                    }
                ],
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    result = run_promtool("test", "rules", str(test_file))
    assert result.returncode == 0, f"{title} [{ref}]:\n{result.stdout}\n{result.stderr}"


def test_table_columns_are_labels_the_joins_return() -> None:
    """Every label column of a table is in a row its queries return on the sample series, through
    promtool's PromQL engine (test_table_joins_return_the_expected_rows holds the rows to what it returns)."""
    returned: dict[tuple[str, str], set[str]] = {}
    for name, title, _ref, expected in JOIN_CASES:
        labels = returned.setdefault((name, title.removesuffix(" (0)")), set())
        for row, _value in expected:
            labels |= set(re.findall(r'(\w+)="', row))
    tables = 0
    for (name, title), labels in returned.items():
        panel = panel_by_title(DASHBOARDS[name], title)
        if panel.get("type") == "table":
            tables += 1
            missing = table_columns(panel) - labels
            assert not missing, f"{title}: columns of labels its queries do not return: {sorted(missing)}"
    assert tables == 5


# ----------------------------------------------------------------------------------------- provisioning
def test_dashboard_provider_points_at_the_dashboards_path() -> None:
    config = yaml.safe_load((PROVISIONING_DIR / "dashboards.yaml").read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/huaweicloud"
    assert provider["allowUiUpdates"] is False


def test_datasource_example_is_a_prometheus_at_prometheus_9090() -> None:
    config = yaml.safe_load((PROVISIONING_DIR / "datasource.example.yaml").read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    (datasource,) = config["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert re.fullmatch(r"\d+[smh]", datasource["jsonData"]["timeInterval"])
