"""The fake cloud: Huawei Cloud's task status APIs and IAM tokens on one local HTTP server.

Tests, the demo and the benchmarks use it instead of the real cloud. Its tasks move through their
states over simulated time, following a scenario (``default_scenario()`` or a YAML file); faults
(throttling, 5xx, timeouts, malformed bodies) can be injected per task or for everything at once.
"""

from __future__ import annotations

from exporter.simulator.app import RunningSimulator, SimStats, Simulator, serve, start_simulator
from exporter.simulator.scenario import (
    CLOUD_SERVICES,
    DEFAULT_PROJECT_ID,
    DEFAULT_PROJECT_NAME,
    DEMO_DOMAIN,
    DEMO_PASSWORD,
    DEMO_TOKEN,
    DEMO_USER,
    FAULT_KINDS,
    Phase,
    Scenario,
    ScenarioError,
    Target,
    Task,
    bench_task_id,
    default_scenario,
    load_scenario,
    parse_scenario,
)

__all__ = [
    "CLOUD_SERVICES",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_PROJECT_NAME",
    "DEMO_DOMAIN",
    "DEMO_PASSWORD",
    "DEMO_TOKEN",
    "DEMO_USER",
    "FAULT_KINDS",
    "Phase",
    "RunningSimulator",
    "Scenario",
    "ScenarioError",
    "SimStats",
    "Simulator",
    "Target",
    "Task",
    "bench_task_id",
    "default_scenario",
    "load_scenario",
    "parse_scenario",
    "serve",
    "start_simulator",
]
