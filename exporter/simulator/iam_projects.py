"""The scenario's ``iam_projects:`` section, which the fake IAM (`iam.py`) serves: ``refuse`` answers the
project lists with IAM's 403; ``extra`` adds projects beyond the scenario's ``projects:``."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.simulator.checks import Invalid, ScenarioSection, SectionContext

__all__ = ["SECTION", "IamProjects", "read_iam_projects"]


@dataclass(frozen=True)
class IamProjects:
    refuse: bool = False
    extra: tuple[tuple[str, str, bool], ...] = ()  # (id, name, enabled)


def read_iam_projects(raw: object) -> IamProjects:
    """The scenario's `iam_projects`; ValueError names the key."""
    if raw is None:
        return IamProjects()
    if not isinstance(raw, dict) or set(raw) - {"refuse", "extra"}:
        raise ValueError("expected a mapping with 'refuse' and 'extra'")
    refuse = raw.get("refuse", False)
    if not isinstance(refuse, bool):
        raise ValueError(f"refuse: expected true or false, got {refuse!r}")
    extra = []
    for index, item in enumerate(raw.get("extra") or []):
        if not isinstance(item, dict) or not {"id", "name"} <= set(item) <= {"id", "name", "enabled"}:
            raise ValueError(f"extra[{index}]: expected {{id, name, enabled}}")
        extra.append((str(item["id"]), str(item["name"]), item.get("enabled", True) is not False))
    return IamProjects(refuse, tuple(extra))


def _read_section(raw: object, path: str, _ctx: SectionContext) -> IamProjects:
    try:
        return read_iam_projects(raw)
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


SECTION = ScenarioSection("iam_projects", _read_section, IamProjects())
