"""What `--service.try` says of a spec's task identity, parent list and scope, beside what it reads from a body."""

from __future__ import annotations

from typing import Any

from exporter.services.interpret import BadResponse, list_items, lookup
from exporter.services.spec import ServiceSpec

__all__ = ["identity_lines", "parent_lines"]


def identity_lines(spec: ServiceSpec) -> list[str]:
    """How the spec names its tasks, the parent list a target may be fanned out over, and whether the
    service is global."""
    lines = []
    if spec.is_global:
        lines.append(
            "  scope: domain: a global service (one host, no project); its targets' region is 'global', and "
            "AK/SK calls are signed with the account's domain ID (X-Domain-Id)"
        )
    if spec.identity.multi:
        lines.append(f"  task_id: {spec.identity.describe()}")
    parents = spec.parents
    if parents is not None:
        lister = parents.lister
        name = f", name {parents.name.written}" if parents.name is not None else ""
        lines.append(
            f"  parents: a target without params.{parents.param} (or with 'all') is fanned out over GET "
            f"{lister.path} (items {lister.items.written}, id {lister.id.written}{name}); its tasks' IDs are "
            f"{spec.identity_for({}).describe()}"
        )
    return lines


def parent_lines(spec: ServiceSpec, body: Any) -> list[str] | None:
    """The parents a parent-list answer names, or None when the body is not one (no list at `items`)."""
    parents = spec.parents
    if parents is None or not isinstance(body, dict) or not isinstance(lookup(body, parents.lister.items), list):
        return None
    try:
        found = list_items(parents.lister, body)
    except BadResponse:
        return None
    lines = [f"  a parent list: {len(found)} parent(s) for {parents.param}"]
    for parent_id, item in found:
        name = lookup(item, parents.name) if parents.name is not None else None
        problem = spec.identity_for({}).parts[0].problem(parent_id)
        shown = f" ({name})" if isinstance(name, str) and name else ""
        lines.append(f"    {parent_id}{shown}" + (f"  skipped: {problem}" if problem else ""))
    return lines
