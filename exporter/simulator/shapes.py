"""The answers' shapes beyond the specs (`shapes.yaml`), and the small template language they use.

A service without a shape is answered from its spec alone (`bodies.spec_body`, `lists.py`): a new
spec needs only its scenario tasks, no shape and no simulator code. Four services keep a shape,
because their documents' bodies say things a spec cannot (a spec says where the exporter *reads* a
value, and its readers are lenient on purpose, so it cannot say how the cloud *writes* it, nor what
the exporter never reads):

- codearts_check: an unknown task is HTTP 200 ``CC.00050013`` "project not exist" (the spec knows the
  code, not the status); ``progress.info`` ("running", "success"); the task list's items carry
  ``task_name``, ``creator_id``, ``git_url``, ``git_branch`` and ``created_at``, its page number
  ``offset`` allows 0-999999 with a default limit of 10, and a bad parameter is 400 ``CC.00000001``.
- dws: times without a zone (the spec's ``iso`` reader takes either), the ``job_id`` echoed, an unknown
  job 404 ``DWS.0015``.
- evs: times with milliseconds and ``""`` before they happen, the resource in ``entities`` beside the
  ``sub_jobs`` (a batch job names none), ``job_id`` echoed, an unknown job 404 ``{"error": {"code":
  "EVS.7001"}}``.
- cph: ``request_id`` in every body, errors too; an unknown job 400 ``CPS.0005`` (the spec knows it by
  its message); ListJobs' ``request_id``/``request_ids`` parameters (at most 20), its page with a
  ``request_id`` and its 400 ``CPS.0002``.

Their generators' IDs and fields (``id_prefix``, ``generated``) are in the shape too.

A template is JSON-like data in which the string "$name" stands for a value (the key is left out when
the value is `ABSENT`), "{name}" inside a string is formatted with the values, and a key "$name" is
replaced by the value's text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ABSENT", "SHAPES", "ListShape", "Shape", "render"]

ABSENT: Any = object()
_REF = re.compile(r"\$([a-z_]+)")
_FORMAT = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class ListShape:
    key: str  # the scenario key that places a task in a list (the list call's value)
    default: str  # its default value, or "derived" (one per task)
    value: re.Pattern[str]
    value_rule: str
    order: str  # newest (created, newest first) | created (by value in the order asked, then oldest first)
    default_limit: int
    max_limit: int
    max_offset: int | None
    item: Any
    page: Any
    bad_request: Any
    also: str = ""  # a query parameter that may hold a single value instead of the batch one
    noun: str = "values"  # what the values are, for messages
    max_values: int = 1  # values per call in the batch query parameter


@dataclass(frozen=True)
class Shape:
    id_prefix: str
    body: Any
    not_found: tuple[int, Any]
    server_error: tuple[int, Any]
    time: str = "%Y-%m-%dT%H:%M:%SZ"
    empty: Any = None
    task: Mapping[str, str] = field(default_factory=dict)
    batch_task: Mapping[str, str] = field(default_factory=dict)
    resource_keys: tuple[str, ...] = ()
    resource_derive: str = ""  # uuid | hex
    resource_batch: bool = True  # False: a batch job names no resource of its own
    phase: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    generated_fields: Mapping[str, str] = field(default_factory=dict)
    generated_progress: Mapping[str, float] = field(default_factory=dict)
    generated_failure: Mapping[str, str] = field(default_factory=dict)
    list: ListShape | None = None


def render(template: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, item in template.items():
            rendered = render(item, values)
            if rendered is ABSENT:
                continue
            if key.startswith("$"):
                key = values.get(key[1:], ABSENT)
                if key is ABSENT or not key:
                    continue
            out[key] = rendered
        return out
    if isinstance(template, list):
        return [item for item in (render(i, values) for i in template) if item is not ABSENT]
    if isinstance(template, str):
        whole = _REF.fullmatch(template)
        if whole:
            return values.get(whole.group(1), ABSENT)
        return _FORMAT.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)
    return template


def _answer(raw: Mapping[str, Any]) -> tuple[int, Any]:
    return int(raw["status"]), raw["body"]


def _list(raw: Mapping[str, Any] | None) -> ListShape | None:
    if raw is None:
        return None
    return ListShape(
        key=raw["key"],
        default=str(raw["default"]),
        value=re.compile(raw["value"]),
        value_rule=raw.get("value_rule", f"{raw['key']} must match {raw['value']}"),
        order=raw["order"],
        default_limit=int(raw["default_limit"]),
        max_limit=int(raw["max_limit"]),
        max_values=int(raw.get("max_values", 1)),
        max_offset=raw.get("max_offset"),
        item=raw["item"],
        page=raw["page"],
        bad_request=raw["bad_request"],
        also=raw.get("also", ""),
        noun=raw.get("noun", "values"),
    )


def _shape(raw: Mapping[str, Any]) -> Shape:
    resource = raw.get("resource", {})
    generated = raw.get("generated", {})
    return Shape(
        id_prefix=raw["id_prefix"],
        body=raw["body"],
        not_found=_answer(raw["not_found"]),
        server_error=_answer(raw["server_error"]),
        time=raw.get("time", "%Y-%m-%dT%H:%M:%SZ"),
        empty=raw.get("empty"),
        task=raw.get("task", {}),
        batch_task=raw.get("batch_task", {}),
        resource_keys=tuple(resource.get("keys", ())),
        resource_derive=resource.get("derive", ""),
        resource_batch=resource.get("batch") != "none",
        phase=raw.get("phase", {}),
        generated_fields=generated.get("fields", {}),
        generated_progress=generated.get("progress", {}),
        generated_failure=generated.get("failure", {}),
        list=_list(raw.get("list")),
    )


def _load() -> dict[str, Shape]:
    document = yaml.safe_load((Path(__file__).parent / "shapes.yaml").read_text(encoding="utf-8"))
    return {name: _shape(raw) for name, raw in document.items()}


SHAPES: Mapping[str, Shape] = _load()
