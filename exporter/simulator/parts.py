"""The simulator's parts, as route providers (`routing.py`) see them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.services import ServiceSpec
from exporter.simulator.clock import SimClock
from exporter.simulator.gateway import Gateway
from exporter.simulator.scenario import Scenario
from exporter.simulator.smn import SmnBook
from exporter.simulator.stats import SimStats
from exporter.simulator.tasks import TaskBook

__all__ = ["Parts"]


@dataclass(frozen=True, slots=True)
class Parts:
    """The scenario and the specs it is served from, the clock, the gateway (every service request goes
    through ``gateway.admit``), the task lookup, the counters and the SMN push state (`smn.py`)."""

    scenario: Scenario
    specs: Mapping[str, ServiceSpec]
    clock: SimClock
    stats: SimStats
    gateway: Gateway
    tasks: TaskBook
    smn: SmnBook = field(default_factory=SmnBook)
