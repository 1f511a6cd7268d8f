"""The official SDK as the oracle for every built-in spec, found from the spec itself.

For each built-in, the SDK package of its product must have a GET API at the spec's status path (and
at its list path, where it discovers): the API is found in the SDK client's own request table
(`_<method>_http_info`: method, resource_path, response_type), so a spec whose path is not an API of
the official SDK fails here. The SDK client, pointed at the fake cloud, then calls that API for every
job of the default scenario, sub-jobs included, at several moments, and its model must keep every
field of the answer (the same round trip as `test_sdk_oracle.py`, which checks the four seed services
field by field).
"""

from __future__ import annotations

import importlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization

from exporter.services import BUILTIN, Field, ServiceSpec, fill
from exporter.services.interpret import list_items
from exporter.services.spec import DiscoverySpec
from exporter.simulator import (
    DEFAULT_PROJECT_ID,
    DEMO_ACCESS_KEY,
    DEMO_PARAM_VALUE,
    DEMO_SECRET_KEY,
    Task,
    default_scenario,
)
from tests.test_sdk_oracle import T0, Cloud, cloud, without_nulls

__all__ = ["cloud"]  # the fixture, shared with the seed services' oracle

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# Built-ins whose SDK package is named after another product name.
SDK_NAMES = {
    "gaussdb": "gaussdbforopengauss",
    "taurusdb": "gaussdb",
    "geminidb": "gaussdbfornosql",
    "oms_group": "oms",
    "vbs": "evs",  # no VBS SDK: EVS's job API is its twin (a partial oracle, see PARTIAL)
    "dataarts_factory": "dgc",  # DataArts Studio's factory API is DGC's (DgcClient)
    "cce_upgrade": "cce",
    "dms_kafka": "kafka",
    "dms_rabbitmq": "rabbitmq",
    "dms_rocketmq": "rocketmq",
}
# Path parameters a spec's path writes as a fixed value: CDM's job list is ShowJobs with job_name "all".
FIXED_PATH_VALUES = {"cdm": {"job_name": "all"}}
# Fields the fake cloud writes into a status body that the SDK's status model does not have, because the
# spec reads them from the list items (which carry the status): DataArts' errorMessage is a JobInstance's
# (ListJobInstances), not ShowJobInstance's.
LIST_ONLY_FIELDS = {"dataarts_factory": ("errorMessage",)}
# And the other way round: the fake cloud's list items are its status bodies, whose sub-tasks (DataArts'
# nodes) only the status model has.
STATUS_ONLY_FIELDS = {"dataarts_factory": ("nodes",)}
SEEDS = {"evs", "dws", "cph", "codearts_check"}  # checked field by field in test_sdk_oracle.py
TIMES = [0, 12, 35, 65, 125]
# The SDK sends every request to its endpoint's host, dropping the path (/{service}) that tells the fake
# cloud's services apart: where two built-ins list at the same path (OMS's ListTasks and CodeArts Check's
# task list, GET /v2/{id}/tasks), the SDK's model reads the body the fake cloud gives at /{service}.
SHARED_LIST_PATH = {"oms"}
# Keys the SDK's model types as strings where the document (and so the fake cloud) writes JSON numbers:
# MPC's yyyymmddhhmmss times and task IDs (QueryTranscodingsTaskResponse: str; the example: 20200310031605).
SDK_TEXT = {"mpc": frozenset({"create_time", "end_time", "task_id"})}
_HTTP_INFO = re.compile(
    r'def _(\w+)_http_info\(cls, request\):\s*http_info = \{\s*"method": "(\w+)",\s*'
    r'"resource_path": "([^"]+)",\s*"request_type": [^,]+,\s*"response_type": "(\w+)"'
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class SdkApi:
    module: Any  # huaweicloudsdk<name>.<version>
    client: Any  # the SDK's client class
    method: str
    path: str  # the SDK's resource path
    request: Any  # its request class
    response: str  # its response class's name


def _shape(path: str) -> str:
    return _PLACEHOLDER.sub("{}", path)


@cache
def sdk_api(service: str, path: str, verb: str = "GET") -> SdkApi:
    """The SDK's API at `path` by HTTP `verb` (placeholders compared by position, not name; a fixed value
    the spec writes for one, as CDM's job/all, compared as written)."""
    fixed = FIXED_PATH_VALUES.get(service, {})
    package = "huaweicloudsdk" + SDK_NAMES.get(service, service.replace("_", ""))
    root = Path(importlib.import_module(package).__file__ or "").parent
    found = []
    for source in sorted(root.glob("v*/*_client.py")):
        if source.name.endswith("_async_client.py"):
            continue
        for api_name, http, resource, response in _HTTP_INFO.findall(source.read_text(encoding="utf-8")):
            written = resource
            for param, value in fixed.items():
                written = written.replace("{" + param + "}", value)
            if http == verb and _shape(path) in (_shape(resource), _shape(written)):
                found.append((source.parent.name, api_name, resource, response))
    assert len(found) == 1, f"{service}: the SDK has {len(found)} {verb} APIs at {path}: {found}"
    version, name, resource, response = found[0]
    module = importlib.import_module(f"{package}.{version}")
    client = next(
        value
        for key, value in vars(module).items()
        if key.endswith("Client") and not key.endswith("AsyncClient") and hasattr(value, name)
    )
    request = getattr(module, response.removesuffix("Response") + "Request")
    return SdkApi(module, client, name, resource, request, response)


def specs() -> list[str]:
    return sorted(name for name in BUILTIN if name not in SEEDS)


def jobs(service: str) -> list[Task]:
    return [job for task in default_scenario().tasks for job in (task, *task.sub_jobs) if job.cloud_service == service]


def as_sdk_text(service: str, body: Any) -> Any:
    """`body` with the numbers at the keys the SDK types as strings (`SDK_TEXT`) written as text."""
    keys = SDK_TEXT.get(service, frozenset())
    if isinstance(body, dict):
        return {k: str(v) if k in keys and isinstance(v, int) else as_sdk_text(service, v) for k, v in body.items()}
    if isinstance(body, list):
        return [as_sdk_text(service, item) for item in body]
    return body


def comparable(resp: Any) -> Any:
    """The SDK's reading of an answer, as JSON: nulls inside free-form objects dropped (EIP's sub_jobs
    are list[object]), the headers it adds (SFS Turbo's X-request-id) and a request ID left out (ELB's
    is a fresh one per answer)."""
    parsed = without_nulls(sanitize_for_serialization(resp))
    parsed.pop("X-request-id", None)
    return parsed | {"request_id": None}


def client_for(cloud: Cloud, service: str, api: SdkApi) -> Any:
    """The SDK client at the service's own "host": the fake cloud serves each service under /{service}
    too, which tells apart the APIs that share a path across services (DDM's and GeminiDB's lists)."""
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    config.timeout = (5, 10)
    return (
        api.client.new_builder()
        .with_credentials(BasicCredentials(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, DEFAULT_PROJECT_ID))
        .with_endpoint(f"{cloud.url}/{service}")
        .with_http_config(config)
        .build()
    )


def request_for(api: SdkApi, values: dict[str, Any]) -> Any:
    """The SDK request with `values` given by their wire names (the SDK's attribute names may differ); a
    value of a list attribute (MPC's task_id) as a list of one."""
    by_wire = {wire: attr for attr, wire in api.request.attribute_map.items()}
    types = api.request.openapi_types
    return api.request(
        **{
            by_wire[wire]: [value] if types[by_wire[wire]].startswith("list[") else value
            for wire, value in values.items()
        }
    )


def fresh_headers(templates: dict[str, str] | Any) -> dict[str, str]:
    """The spec's `{uuid}` headers with a new UUID each (RFS's Client-Request-Id)."""
    return {name: str(uuid.uuid4()) for name, template in templates.items() if template == "{uuid}"}


def status_call(cloud: Cloud, spec: ServiceSpec, api: SdkApi, task_id: str) -> tuple[Any, Any]:
    """One job through the SDK and raw (signed by the exporter's signer), by the spec's path and query."""
    params = dict.fromkeys(spec.params, DEMO_PARAM_VALUE)  # MRS's cluster ID
    params |= spec.identity.split(task_id) if spec.identity.multi else {}  # DataArts: job name + instance ID
    ours = _PLACEHOLDER.findall(spec.status.path)
    theirs = _PLACEHOLDER.findall(api.path)
    values = {  # a CodeArts project ID fills the SDK's {project_id}
        t: task_id if o == "task_id" else params[o] for o, t in zip(ours, theirs, strict=True) if o != "project_id"
    }
    values |= spec.status_query(DEFAULT_PROJECT_ID, task_id, params)
    headers = fresh_headers(spec.status.headers)
    resp = getattr(client_for(cloud, spec.name, api), api.method)(request_for(api, values | headers))
    raw = cloud.http.get(
        f"/{spec.name}{spec.status_path(DEFAULT_PROJECT_ID, task_id, params)}",
        params=spec.status_query(DEFAULT_PROJECT_ID, task_id, params),
        headers=headers,
    )
    assert raw.status_code == 200, raw.text
    body = raw.json()
    for key in LIST_ONLY_FIELDS.get(spec.name, ()):
        body.pop(key, None)
    return resp, body


@pytest.mark.parametrize("service", sorted(BUILTIN))
def test_every_spec_path_is_an_api_of_the_official_sdk(service: str) -> None:
    spec = BUILTIN[service]
    api = sdk_api(service, spec.status.path)
    assert api.path.startswith(spec.status.path.split("{")[0])
    if spec.status.progress is not None and spec.status.progress.path:
        sdk_api(service, spec.status.progress.path)  # DLI's progress API
    assert set(spec.status.headers) <= set(api.request.attribute_map.values())  # DataArts' workspace
    if spec.discover is not None:
        lister = sdk_api(service, spec.discover.path, spec.discover.method)
        wire = set(lister.request.attribute_map.values())
        paging = spec.discover.paging
        sent = {paging.param, paging.limit_param} if paging.style != "none" and paging.where == "query" else set()
        window = spec.discover.window
        sent |= {p for p in ((window.from_param, window.to_param) if window else ()) if p}
        sent |= {spec.discover.batch} - {""} | set(spec.discover.query) | set(spec.discover.query_each)
        sent |= set(spec.discover.headers)
        if spec.discover.method == "POST":  # the paging and the body's keys are the body model's
            wire = set(body_model(lister).attribute_map.values())
            sent = {name.strip("/") for name in sent} | set(json.loads(spec.discover.body))
        assert sent <= wire, f"{service}: the SDK's list request has no {sorted(sent - wire)}"


@pytest.mark.parametrize("service", specs())
@pytest.mark.parametrize("seconds", TIMES)
def test_the_sdk_parses_every_job_of_every_spec(cloud: Cloud, service: str, seconds: float) -> None:
    spec = BUILTIN[service]
    api = sdk_api(service, spec.status.path)
    cloud.at(seconds)
    assert jobs(service), f"the default scenario has no {service} job"
    for job in jobs(service):
        resp, raw = status_call(cloud, spec, api, job.task_id)
        assert resp.status_code == 200
        expected = as_sdk_text(service, without_nulls(raw)) | {"request_id": None}
        assert comparable(resp) == expected, (service, seconds, job.task_id)


LISTING = sorted(name for name in specs() if BUILTIN[name].discover is not None)


@pytest.mark.parametrize("service", LISTING)
def test_the_sdk_parses_every_list_of_every_spec(cloud: Cloud, service: str) -> None:
    spec = BUILTIN[service]
    lister = spec.discover
    assert lister is not None
    api = sdk_api(service, lister.path, lister.method)
    cloud.at(65)
    values: dict[str, Any] = {key: each[0] for key, each in lister.query_each.items()}  # CDM's jobType
    if lister.paging.style != "none":
        values[lister.paging.limit_param] = lister.paging.limit
    if lister.window is not None:
        now = T0 + 65
        start = now - 86400
        for param, when in ((lister.window.from_param, start), (lister.window.to_param, now)):
            if param:
                fmt = lister.window.format
                values[param] = (
                    int(when * 1000)
                    if fmt == "epoch_ms"
                    else time.strftime("%Y-%m-%dT%H:%M:%SZ" if fmt == "iso" else fmt, time.gmtime(when))
                )
    found: set[str] = set()
    for params in parent_params(spec):
        params |= FIXED_PATH_VALUES.get(service, {})
        client = client_for(cloud, service, api)
        path = f"/{service}{fill(lister.path, DEFAULT_PROJECT_ID, params=params)}"
        headers = fresh_headers(lister.headers)
        if lister.method == "POST":  # ModelArts, CodeArts Pipeline: the paging in the body
            sent = json.loads(lister.body) | {name.strip("/"): value for name, value in values.items()}
            raw = cloud.http.post(path, json=sent, headers=headers)
            # The SDK's model reads the answer (a POST's body is the SDK's own request model, not built here).
            resp = client._deserialize(json.loads(raw.text, parse_float=Decimal), api.response)
        else:
            raw = cloud.http.get(path, params=values, headers=headers)
            if service in SHARED_LIST_PATH:
                resp = client._deserialize(json.loads(raw.text, parse_float=Decimal), api.response)
            else:
                resp = getattr(client, api.method)(request_for(api, values | params | headers))
        assert raw.status_code == 200, raw.text
        for item in list_of(lister, raw_body := raw.json()):
            for key in STATUS_ONLY_FIELDS.get(service, ()):
                item.pop(key, None)
        parsed = listed_ids_as_text(lister, comparable(resp))
        expected = as_sdk_text(service, without_nulls(raw_body))
        assert parsed == listed_ids_as_text(lister, expected) | {"request_id": None}
        found |= listed_ids(lister, parsed)
    listed = {job.task_id for job in jobs(service) if job in default_scenario().tasks}
    asked = next(iter(lister.query_each.values()), ())[:1]  # IoTDA: the tasks of the first task_type
    if service == "iotda":
        listed = {job.task_id for job in jobs(service) if job.listed_under in asked} & listed
    assert listed and listed <= found


def parent_params(spec: ServiceSpec) -> list[dict[str, str]]:
    """The path parameters of each list call: one call per parent of the scenario's `parents:` for a
    spec with a parent list (the fake cloud lists a parent's tasks), else one (MRS's any cluster ID)."""
    params = dict.fromkeys(spec.params, DEMO_PARAM_VALUE)
    if spec.parents is None:
        return [params]
    parents = default_scenario().sections["parents"][spec.name]
    return [params | {spec.parents.param: parent.id} for parent in parents]


@pytest.mark.parametrize("service", sorted(name for name in BUILTIN if BUILTIN[name].parents is not None))
def test_the_sdk_parses_every_parent_list(cloud: Cloud, service: str) -> None:
    """The fake cloud's parent list (ListInstances, ListClusters, ListScalingGroups) through the SDK's
    own list call and model: every parent of the scenario, with its name."""
    spec = BUILTIN[service]
    assert spec.parents is not None
    lister = spec.parents.lister
    api = sdk_api(service, lister.path)
    paged = lister.paging.style != "none"
    values = dict(lister.query) | ({lister.paging.limit_param: lister.paging.limit} if paged else {})
    resp = getattr(client_for(cloud, service, api), api.method)(request_for(api, values))
    raw = cloud.http.get(f"/{service}{fill(lister.path, DEFAULT_PROJECT_ID)}", params=values)
    assert raw.status_code == 200, raw.text
    parsed = comparable(resp)
    assert parsed == without_nulls(raw.json()) | {"request_id": None}
    parents = default_scenario().sections["parents"][service]
    assert list_of(lister, parsed) == list_of(lister, raw.json())
    assert [p.id for p in parents] == [str(bodies_at(item, lister.id)) for item in list_of(lister, parsed)]
    assert spec.parents.name is not None
    assert [p.name for p in parents] == [bodies_at(item, spec.parents.name) for item in list_of(lister, parsed)]


def body_model(api: SdkApi) -> Any:
    """The model of a POST request's JSON body (CodeArts Pipeline's ListPipelineQuery)."""
    return getattr(api.module, api.request.openapi_types["body"])


def list_of(lister: DiscoverySpec, body: Any) -> list[Any]:
    items = body
    for token in lister.items.pointers[0]:
        items = items.get(token, [])
    assert isinstance(items, list)
    return items


def bodies_at(body: Any, field: Field) -> Any:
    """The value at the field's first pointer."""
    for token in field.pointers[0]:
        body = body[int(token)] if isinstance(body, list) else body.get(token)
    return body


def listed_ids(lister: DiscoverySpec, body: Any) -> set[str]:
    """The task IDs of a list answer, as the exporter reads them (the parts joined, for DataArts)."""
    return {task_id for task_id, _ in list_items(lister, body)}


def listed_ids_as_text(lister: DiscoverySpec, body: Any) -> Any:
    """`body` with its items' IDs as text: OMS's task IDs are int64 in the SDK's model, which the fake
    cloud writes as the scenario's text (the spec says nothing of the ID's JSON type)."""
    key = lister.id.pointers[0][-1]
    for item in list_of(lister, body):
        if key in item:
            item[key] = str(item[key])
    return body
