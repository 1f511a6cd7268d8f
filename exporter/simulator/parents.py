"""The scenario's ``parents:`` section: the parent resources of fan-out services, whose jobs are
asked per parent (a DMS instance's, a CCE cluster's), so an exporter first lists the parents::

    parents:
      cce:                                       # a cloud service (a spec's name)
        - id: 3c1e0f7a-5b2d-4e8f-9a6c-1d2e3f4a5b6c   # the parent's ID
          name: prod-cluster                     # optional, default the ID
          project_id: 0123456789abcdef0123456789abcdef   # optional, default DEFAULT_PROJECT_ID

``fanout.py`` serves them at the service's parent-list API. The status path's parameter that names a
parent takes any value (as MRS's cluster ID does): tasks are looked up by ID, not per parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from exporter.simulator.checks import (
    Invalid,
    ScenarioSection,
    SectionContext,
    as_list,
    check_keys,
    ident,
    mapping,
    string,
)

__all__ = ["SECTION", "Parent", "read_parents"]


class Parent(NamedTuple):
    """A parent resource: its ID, name and IAM project."""

    id: str
    name: str
    project_id: str


def read_parents(raw: object, path: str, ctx: SectionContext) -> Mapping[str, tuple[Parent, ...]]:
    """cloud service -> its parents, in scenario order; IDs unique per service."""
    found: dict[str, tuple[Parent, ...]] = {}
    for service, items in mapping(raw, path).items():
        if service not in ctx.specs:
            raise Invalid(f"{path}.{service}", f"unknown cloud service; expected one of {', '.join(sorted(ctx.specs))}")
        parents = tuple(
            _parent(item, f"{path}.{service}[{i}]", ctx) for i, item in enumerate(as_list(items, f"{path}.{service}"))
        )
        seen = [p.id for p in parents]
        dup = next((i for i, pid in enumerate(seen) if pid in seen[:i]), None)
        if dup is not None:
            raise Invalid(f"{path}.{service}[{dup}].id", f"duplicate parent ID {seen[dup]}")
        found[service] = parents
    return found


def _parent(raw: object, path: str, ctx: SectionContext) -> Parent:
    m = mapping(raw, path)
    check_keys(m, ("id", "name", "project_id"), ("id",), path)
    parent_id = ident(m["id"], f"{path}.id")
    return Parent(
        id=parent_id,
        name=string(m.get("name", parent_id), f"{path}.name"),
        project_id=ident(m.get("project_id", ctx.default_project_id), f"{path}.project_id"),
    )


SECTION = ScenarioSection("parents", read_parents, default={})
