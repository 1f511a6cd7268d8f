"""The scenario's pluggable top-level keys: each part of the fake cloud that needs scenario data of
its own (fan-out parents; IAM's project list) adds one `ScenarioSection` row here, and
`parse_scenario` reads it into ``Scenario.sections[key]`` with the same key-path errors as the rest of
the file. A route provider (`app.ROUTE_PROVIDERS`) then serves it from ``parts.scenario.sections``.
"""

from __future__ import annotations

from exporter.simulator import iam_projects, parents
from exporter.simulator.checks import ScenarioSection

__all__ = ["SECTIONS"]

SECTIONS: tuple[ScenarioSection, ...] = (parents.SECTION, iam_projects.SECTION)
