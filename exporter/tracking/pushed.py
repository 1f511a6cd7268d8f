"""Pushed notices (README, "Push intake"): a Cloud Trace Service trace record that an SMN notification or a
CloudEvent carries, read as the trace discovery reads a listed one, into the job it names and the target
that tracks it. A notice is a hint, never a state: the job is tracked (source `pushed`) and asked on the
status API at once.

A record joins the account's target of the service whose spec's `trace` names its `service_type`, in the
region and project the notice pins (an SMN topic's URN) or, for a CloudEvent, the only such target of the
account, else the one whose region or project the record or event names (`region_id`, `project_id`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.config import Config, TargetConfig
from exporter.services import text
from exporter.tracking.traces import trace_job_id

__all__ = ["Notice", "Place", "read_notice"]


@dataclass(frozen=True)
class Place:
    """Where a notice's jobs go: an account, and the region and project when the notice pins them."""

    account: str
    region: str = ""
    project_id: str = ""


@dataclass(frozen=True)
class Notice:
    """What a notice names: the job's target and ID, or why it names none (said in the log, counted as
    `no_job`)."""

    target: TargetConfig | None = None
    job_id: str = ""
    why: str = ""


def read_notice(config: Config, place: Place, record: Any, at: tuple[str, ...] = ()) -> Notice:
    """The job a trace record (an object, or JSON text of one) names, for the targets of `place`; `at`: where
    the record sits in what was pushed (the configuration's `record` pointer; empty: it is the record)."""
    if isinstance(record, str | bytes):
        try:
            record = json.loads(record)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            return Notice(why="the message is not a JSON trace record")
    for step in at:
        if isinstance(record, dict):
            record = record.get(step)
        elif isinstance(record, list) and step.isdigit() and int(step) < len(record):
            record = record[int(step)]
        else:
            record = None
    if not isinstance(record, dict):
        return Notice(why="the message is not a trace record (an object)")
    service_type = text(record.get("service_type")).strip()
    if not service_type:
        return Notice(why="the trace record has no service_type")
    candidates = [t for t in _targets(config.targets, place) if t.spec.trace is not None
                  and t.spec.trace.service_type == service_type]  # fmt: skip
    target = _one(candidates, record)
    if target is None:
        return Notice(why=_missing(service_type, candidates, place))
    job_id, why = trace_job_id(record, target.spec)
    return Notice(target, job_id) if job_id else Notice(why=why)


def _targets(targets: Iterable[TargetConfig], place: Place) -> list[TargetConfig]:
    return [
        t
        for t in targets
        if t.account == place.account
        and place.region in ("", t.region)
        and place.project_id in ("", t.project_id)
        and not t.fanned_out  # a job ID alone does not say its parent
    ]


def _one(candidates: list[TargetConfig], record: Mapping[str, Any]) -> TargetConfig | None:
    """The one target of the candidates, narrowed by the region or project the record names."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    for field, attr in (("region_id", "region"), ("project_id", "project_id")):
        named = text(record.get(field)).strip()
        narrowed = [t for t in candidates if named and getattr(t, attr) == named]
        if len(narrowed) == 1:
            return narrowed[0]
    return None


def _missing(service_type: str, candidates: list[TargetConfig], place: Place) -> str:
    where = "/".join(part for part in (place.account, place.region, place.project_id) if part)
    if candidates:
        return f"several targets of {where} track service type {service_type} and the record names no region"
    return f"no target of {where} tracks service type {service_type}"
