"""The cloud services: one declarative spec each, and the interpreter that reads their answers.

A built-in service is a YAML file in `builtin/`, in the same format a user writes under
`custom_services:` (`spec.py` documents every key). Adding a service is one spec, its scenario in the
fake cloud, and its tests; nothing else in the exporter names a service.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from exporter.services.interpret import (
    BadResponse,
    NoSuchTask,
    UnknownStatuses,
    body_error,
    clean_message,
    list_items,
    list_next,
    list_total,
    lookup,
    parse_percent,
    parse_time,
    raw_status,
    read_item,
    read_progress,
    read_status,
    read_time,
    status_body,
    text,
)
from exporter.services.spec import (
    CLOUDS,
    GLOBAL_REGION,
    DiscoverySpec,
    ErrorFields,
    Field,
    NotFound,
    Paging,
    ParentsSpec,
    ProgressField,
    ServiceSpec,
    StatusSpec,
    SubTasks,
    TimeField,
    TraceSpec,
    Window,
    fill,
    load_spec_file,
    read_spec,
)

__all__ = [
    "BUILTIN",
    "BUILTIN_DIR",
    "CLOUDS",
    "GLOBAL_REGION",
    "BadResponse",
    "DiscoverySpec",
    "ErrorFields",
    "Field",
    "NoSuchTask",
    "NotFound",
    "Paging",
    "ParentsSpec",
    "ProgressField",
    "ServiceSpec",
    "StatusSpec",
    "SubTasks",
    "TimeField",
    "TraceSpec",
    "UnknownStatuses",
    "Window",
    "body_error",
    "clean_message",
    "fill",
    "list_items",
    "list_next",
    "list_total",
    "load_spec_file",
    "lookup",
    "parse_percent",
    "parse_time",
    "raw_status",
    "read_item",
    "read_progress",
    "read_spec",
    "read_status",
    "read_time",
    "status_body",
    "text",
]

BUILTIN_DIR = Path(__file__).parent / "builtin"


def _builtin() -> dict[str, ServiceSpec]:
    specs = [load_spec_file(str(path)) for path in sorted(BUILTIN_DIR.glob("*.yaml"))]
    return {spec.name: spec for spec in specs}


BUILTIN: Mapping[str, ServiceSpec] = _builtin()
