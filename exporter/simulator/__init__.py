"""The fake cloud: Huawei Cloud's task status APIs and IAM tokens on one local HTTP server.

Tests, the demo and the benchmarks use it instead of the real cloud. Its tasks move through their
states over simulated time, following a scenario (``default_scenario()`` or a YAML file); faults
(throttling, 5xx, timeouts, malformed bodies) can be injected per task or for everything at once.
Service APIs take IAM tokens or AK/SK signatures (``SDK-HMAC-SHA256``, checked against the simulated
clock, with the gateway's AK lock after repeated failures); ``start_simulator`` can serve HTTPS.
"""

from __future__ import annotations

from exporter.simulator.app import (
    AK_LOCK_SECONDS,
    AK_LOCK_THRESHOLD,
    MAX_CLOCK_SKEW_SECONDS,
    AkState,
    AuthResult,
    RunningSimulator,
    SimStats,
    Simulator,
    serve,
    start_simulator,
)
from exporter.simulator.scenario import (
    CLOUD_SERVICES,
    DEFAULT_ACCESS_KEYS,
    DEFAULT_PROJECT_ID,
    DEFAULT_PROJECT_NAME,
    DEMO_ACCESS_KEY,
    DEMO_DOMAIN,
    DEMO_PASSWORD,
    DEMO_SECRET_KEY,
    DEMO_SECURITY_TOKEN,
    DEMO_TEMP_ACCESS_KEY,
    DEMO_TEMP_SECRET_KEY,
    DEMO_TOKEN,
    DEMO_USER,
    FAULT_KINDS,
    AccessKey,
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
    "AK_LOCK_SECONDS",
    "AK_LOCK_THRESHOLD",
    "CLOUD_SERVICES",
    "DEFAULT_ACCESS_KEYS",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_PROJECT_NAME",
    "DEMO_ACCESS_KEY",
    "DEMO_DOMAIN",
    "DEMO_PASSWORD",
    "DEMO_SECRET_KEY",
    "DEMO_SECURITY_TOKEN",
    "DEMO_TEMP_ACCESS_KEY",
    "DEMO_TEMP_SECRET_KEY",
    "DEMO_TOKEN",
    "DEMO_USER",
    "FAULT_KINDS",
    "MAX_CLOCK_SKEW_SECONDS",
    "AccessKey",
    "AkState",
    "AuthResult",
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
