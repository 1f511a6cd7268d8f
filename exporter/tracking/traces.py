"""Recent jobs from Cloud Trace Service (CTS), for services without a list API.

CTS records every management operation: `GET /v3/{project_id}/traces` (ListTraces;
huaweicloudsdkcts.v3) with `trace_type=system`, a `service_type`, `from`/`to` in milliseconds (the last
7 days at most), `limit` up to 200 and the `next` marker (`meta_data.marker`, null on the last page)
answers traces whose `response` holds the operation's response body, where an asynchronous call's job
ID is (`{"job_id": ...}`; CCE's `{"status": {"jobID": ...}}`). The SDK and the API document type
`response` as a string of JSON, the document's example shows an object: both are read. `code`, the
HTTP status of the operation, is a string in the SDK and a number in the example.

An account's `discover.cloud_trace` names the service types; the job IDs found are tracked under the
account's target of the service whose spec's `trace` names the type, in the same region and project.
A trace without a job ID (a synchronous call), with a response cut short (CTS truncates long bodies),
or of a failed operation (`code` 400 or more, or an error body) is skipped and counted.

Nothing here does I/O: the tracker makes the calls (`trace_sources`, `trace_calls`) with the generic
list pager, and hands the pages back here (`job_ids`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from exporter.config import Config, DiscoverConfig, TargetConfig
from exporter.model import valid_id
from exporter.services import DiscoverySpec, Field, Paging, ServiceSpec, StatusSpec, Window, lookup, text
from exporter.tracking.refresh import ListCall, Listing, list_calls

__all__ = ["CTS", "TraceSource", "job_ids", "trace_calls", "trace_job_id", "trace_sources"]


def _field(*tokens: str) -> Field:
    return Field((tokens,), "/" + "/".join(tokens))


_TRACES = DiscoverySpec(
    path="/v3/{project_id}/traces",
    items=_field("traces"),
    id=_field("trace_id"),
    query={"trace_type": "system"},
    paging=Paging(style="marker", param="next", limit=200, next=_field("meta_data", "marker")),
    window=Window("from", "to", "epoch_ms"),
)
# CTS as a service of its own: its hosts (huaweicloudsdkcts's cts_region.py: eu-west-101 on .eu), and its
# list API. Its "status" is never asked.
CTS = ServiceSpec(
    name="cts",
    title="Cloud Trace Service",
    status=StatusSpec(path="/v3/{project_id}/traces/{task_id}", state=_field("trace_id"), states={}),
    endpoints={
        "huaweicloud": "https://cts.{region}.myhuaweicloud.com",
        "otc": "https://cts.{region}.otc.t-systems.com",
    },
    region_endpoints={"huaweicloud": {"eu-west-101": "https://cts.eu-west-101.myhuaweicloud.eu"}},
    discover=_TRACES,
)


@dataclass(frozen=True)
class TraceSource:
    """The traces of one account in one region and project: `cts` is where they are asked (a target of
    the CTS pseudo-service), `targets` the job targets by CTS service type."""

    cts: TargetConfig
    targets: Mapping[str, TargetConfig]
    lookback: float  # seconds, from the account's cloud_trace when the source was made

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.cts.key


def trace_sources(config: Config) -> tuple[list[TraceSource], list[str]]:
    """The trace sources of the configuration, and a problem per (account, region) whose CTS host is
    not known (a `custom` cloud without `cloud_trace.endpoint`)."""
    sources: list[TraceSource] = []
    problems: list[str] = []
    groups: dict[tuple[str, str, str], dict[str, TargetConfig]] = {}
    for target in config.targets:
        account = config.accounts[target.account]
        trace = target.spec.trace
        if account.cloud_trace is None or trace is None or trace.service_type not in account.cloud_trace.service_types:
            continue
        group = groups.setdefault((target.account, target.region, target.project_id), {})
        group.setdefault(trace.service_type, target)
    for (name, region, project_id), targets in groups.items():
        account = config.accounts[name]
        assert account.cloud_trace is not None
        endpoint = account.cloud_trace.endpoint.replace("{region}", region) or CTS.endpoint(account.cloud, region)
        if not endpoint:
            problems.append(f"account {name}: no CTS host for cloud {account.cloud!r}; set cloud_trace.endpoint")
            continue
        cts = TargetConfig("cts", name, region, project_id, endpoint, UTC, (), DiscoverConfig(True), CTS)
        sources.append(TraceSource(cts, targets, account.cloud_trace.lookback))
    return sources, problems


def trace_calls(source: TraceSource, now: float) -> list[ListCall]:
    """Each call sequence: one per service type, over the source's lookback."""
    (call,) = list_calls(source.cts, _TRACES, now, source.lookback)
    return [call._replace(query={**call.query, "service_type": service_type}) for service_type in source.targets]


def job_ids(source: TraceSource, listing: Listing) -> tuple[list[tuple[TargetConfig, str]], Counter[str]]:
    """The (job target, job ID) pairs the traces name, each once, and the count of skipped traces by why."""
    found: dict[tuple[tuple[str, str, str, str], str], TargetConfig] = {}
    skipped: Counter[str] = Counter()
    for _, item in listing.items:
        target = source.targets.get(text(item.get("service_type")))
        if target is None:
            skipped["another service type"] += 1
            continue
        job_id, why = trace_job_id(item, target.spec)
        if why:
            skipped[why] += 1
        else:
            found.setdefault((target.key, job_id), target)
    return [(target, job_id) for (_, job_id), target in found.items()], skipped


def trace_job_id(item: Mapping[str, Any], spec: ServiceSpec) -> tuple[str, str]:
    """(job ID, "") from one trace record (listed, or pushed), or ("", why it names none)."""
    code = text(item.get("code")).strip()
    if code.isdigit() and int(code) >= 400:
        return "", "a failed operation"
    response: Any = item.get("response")
    if isinstance(response, str):
        if not response.strip():
            return "", "no job ID"
        try:
            response = json.loads(response)
        except ValueError:
            # CTS cuts long bodies: "{"job_id":"ff80...", "entities": {...  (or not JSON at all)
            return "", "a response cut short or not JSON"
    if not isinstance(response, dict):
        return "", "no job ID"
    assert spec.trace is not None
    job_id = text(lookup(response, spec.trace.job_id)).strip()
    if valid_id(job_id):
        return job_id, ""  # a job that then failed is still a job: its status says so
    if response.get("error_code") or response.get("error"):
        return "", "a failed operation"
    return "", "no job ID"
