"""The fake cloud: Huawei Cloud's task status APIs and IAM tokens on one local HTTP server.

Tests, the demo and the benchmarks use it instead of the real cloud. Its tasks move through their
states over simulated time, following a scenario (``default_scenario()`` or a YAML file); faults
(throttling, 5xx, timeouts, malformed bodies) can be injected per task or for everything at once.
Generators keep creating tasks while it runs (``churn_scenario()``), and the CodeArts Check task list
and CPH ListJobs answer for many tasks at once. Service APIs take IAM tokens or AK/SK signatures
(``SDK-HMAC-SHA256``, checked against the simulated clock, with the gateway's AK lock after repeated
failures); ``start_simulator`` can serve HTTPS.

It pushes too (`push.py`, imported as ``exporter.simulator.push`` because it needs ``cryptography``,
which only the tests install): an SMN topic signed with a test PKI made at run time (``FakePki``,
``smn_topic``), whose certificate and subscription confirmation the simulator serves under ``/smn/``
(`smn.py`), and a ``Pusher`` that posts signed SMN confirmations and notifications (each a task's Cloud
Trace record, as ListTraces answers it) and CloudEvents deliveries to a subscriber such as the
exporter's intake.

`Simulator` (``app.py``) assembles parts, each in a module of its own: the gateway (latency,
authentication, faults, counting), the task lookup, and route providers (``app.ROUTE_PROVIDERS``:
the specs' status and list APIs, fan-out parent lists, Cloud Trace, IAM tokens, the ``/_sim/`` admin
API); the scenario's pluggable top-level keys are ``sections.SECTIONS``. ``app.py``'s docstring says
how to add an API or a scenario key.
"""

from __future__ import annotations

from exporter.simulator.app import (
    AK_LOCK_SECONDS,
    AK_LOCK_THRESHOLD,
    CODEARTS_LIST_DEFAULT_LIMIT,
    CPH_LIST_DEFAULT_LIMIT,
    CPH_LIST_MAX_REQUEST_IDS,
    LIST_MAX_LIMIT,
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
    DEFAULT_CODEARTS_CREATOR_ID,
    DEFAULT_CODEARTS_PROJECT_ID,
    DEFAULT_PROJECT_ID,
    DEFAULT_PROJECT_NAME,
    DEMO_ACCESS_KEY,
    DEMO_CPH_REQUEST_IDS,
    DEMO_DOMAIN,
    DEMO_PARAM_VALUE,
    DEMO_PASSWORD,
    DEMO_SECRET_KEY,
    DEMO_SECURITY_TOKEN,
    DEMO_TEMP_ACCESS_KEY,
    DEMO_TEMP_SECRET_KEY,
    DEMO_TOKEN,
    DEMO_USER,
    FAULT_KINDS,
    AccessKey,
    CreatedTask,
    Phase,
    Scenario,
    ScenarioError,
    Target,
    Task,
    TaskGenerator,
    bench_task_id,
    churn_scenario,
    default_scenario,
    generated_task_id,
    generator_request_id,
    load_scenario,
    parse_generated_task_id,
    parse_scenario,
)

__all__ = [
    "AK_LOCK_SECONDS",
    "AK_LOCK_THRESHOLD",
    "CLOUD_SERVICES",
    "CODEARTS_LIST_DEFAULT_LIMIT",
    "CPH_LIST_DEFAULT_LIMIT",
    "CPH_LIST_MAX_REQUEST_IDS",
    "DEFAULT_ACCESS_KEYS",
    "DEFAULT_CODEARTS_CREATOR_ID",
    "DEFAULT_CODEARTS_PROJECT_ID",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_PROJECT_NAME",
    "DEMO_ACCESS_KEY",
    "DEMO_CPH_REQUEST_IDS",
    "DEMO_DOMAIN",
    "DEMO_PARAM_VALUE",
    "DEMO_PASSWORD",
    "DEMO_SECRET_KEY",
    "DEMO_SECURITY_TOKEN",
    "DEMO_TEMP_ACCESS_KEY",
    "DEMO_TEMP_SECRET_KEY",
    "DEMO_TOKEN",
    "DEMO_USER",
    "FAULT_KINDS",
    "LIST_MAX_LIMIT",
    "MAX_CLOCK_SKEW_SECONDS",
    "AccessKey",
    "AkState",
    "AuthResult",
    "CreatedTask",
    "Phase",
    "RunningSimulator",
    "Scenario",
    "ScenarioError",
    "SimStats",
    "Simulator",
    "Target",
    "Task",
    "TaskGenerator",
    "bench_task_id",
    "churn_scenario",
    "default_scenario",
    "generated_task_id",
    "generator_request_id",
    "load_scenario",
    "parse_generated_task_id",
    "parse_scenario",
    "serve",
    "start_simulator",
]
