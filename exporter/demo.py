"""`huaweicloud-task-exporter demo`: the fake cloud and the exporter in one process.

The exporter is configured as a user would configure it for a real account: a YAML file (written
to a temporary directory and printed, so it can be read and reloaded) with an access key whose
secret key sits in a file; the fake cloud verifies every request's AK/SK signature.

Push too (README "Push intake"): the config opens `POST /intake/smn` for one SMN topic, its signing
certificate pinned in a file of the same directory (made at start by the fake cloud's test PKI, never a
real one), and the fake cloud notifies the exporter, signed, when each of `pushed_jobs` begins: EVS jobs
that no config names, so they are tracked only because of the push (`source="pushed"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from exporter.config import load_config

if TYPE_CHECKING:
    from exporter.app import Exporter
    from exporter.simulator import RunningSimulator, Target
    from exporter.simulator.push import SmnTopic
    from exporter.simulator.scenario import Task

__all__ = ["aksk_auth", "demo_config", "password_auth", "pushed_jobs", "run_demo"]

DEMO_REGION = "cn-north-4"
# The demo's pushed jobs: the first begins PUSH_FIRST s after the start, then one every PUSH_EVERY s, each
# running PUSH_RUNS s; every third fails.
PUSH_FIRST, PUSH_EVERY, PUSH_RUNS, PUSH_JOBS = 5.0, 40.0, 60.0, 30


def demo_config(
    url: str, targets: Iterable[tuple[str, str, Sequence[str]]], auth: Mapping[str, object], *, by: str = "demo"
) -> str:
    """A config document for the fake cloud at `url`, tracking `(cloud_service, project_id, task_ids)`
    with the account's `auth` block. A service with a parent list (DMS, CCE upgrades, AS) is fanned out
    instead: its target leaves the parent out and discovers each parent's tasks."""
    from exporter.services import BUILTIN
    from exporter.simulator import DEMO_PARAM_VALUE

    services = []
    for cloud_service, project_id, task_ids in targets:
        entry: dict[str, object] = {"cloud_service": cloud_service, "account": "demo", "region": DEMO_REGION}
        if project_id:
            entry["project_id"] = project_id
        spec = BUILTIN.get(cloud_service)
        fanned = spec is not None and spec.parents is not None
        entry.update(endpoint=url, discover=True) if fanned else entry.update(endpoint=url, tasks=list(task_ids))
        params = [p for p in spec.params if not (spec.parents and p == spec.parents.param)] if spec else []
        if params:  # MRS's cluster ID: the fake cloud takes any
            entry["params"] = dict.fromkeys(params, DEMO_PARAM_VALUE)
        services.append(entry)
    account: dict[str, object] = {"name": "demo", "cloud": "custom", "auth": dict(auth)}
    if auth.get("type") == "password":
        account["iam_endpoint"] = url
    document = {"accounts": [account], "services": services}
    header = f"# Written by `huaweicloud-task-exporter {by}` for its built-in fake cloud.\n"
    return header + yaml.safe_dump(document, sort_keys=False)


def aksk_auth(secret_key_file: str) -> dict[str, object]:
    """The fake cloud's demo access key, with its secret key in a file as in production."""
    from exporter.simulator import DEMO_ACCESS_KEY

    return {"type": "aksk", "access_key": DEMO_ACCESS_KEY, "secret_key_file": secret_key_file}


def password_auth(password_file: str) -> dict[str, object]:
    from exporter.simulator import DEMO_DOMAIN, DEMO_USER

    return {"type": "password", "user_name": DEMO_USER, "domain_name": DEMO_DOMAIN, "password_file": password_file}


def pushed_jobs(count: int = PUSH_JOBS) -> tuple[Task, ...]:
    """EVS jobs for the fake cloud that the demo's config does not name: each exists from its begin (its
    trace too), as a job created then; the pusher notifies the exporter of each as it begins."""
    from exporter.simulator import DEMO_TOKEN
    from exporter.simulator.scenario import parse_scenario

    tasks = []
    for n in range(count):
        begin = PUSH_FIRST + n * PUSH_EVERY
        end = "FAIL" if n % 3 == 2 else "SUCCESS"
        phases = [{"after": 0, "status": "RUNNING"}, {"after": begin + PUSH_RUNS, "status": end}]
        tasks.append({"cloud_service": "evs", "task_id": f"de705e4e{n:024x}", "begin": begin, "phases": phases})
    scenario = parse_scenario({"static_tokens": [DEMO_TOKEN], "tasks": tasks}, source="the demo's pushed jobs")
    return tuple(dataclasses.replace(task, created=task.begin) for task in scenario.tasks)


def push_intake(topic: SmnTopic, certificate_file: Path) -> dict[str, object]:
    """The config's `intake` section for the demo: `topic`, its certificate pinned in `certificate_file`."""
    return {"smn": {"topics": [{"urn": topic.urn, "account": "demo"}], "certificate_files": [str(certificate_file)]}}


async def run_demo(host: str, port: int, *, lifecycle: bool = False) -> int:
    """The fake cloud and the exporter until SIGINT or SIGTERM (SIGHUP reloads); the temporary config
    directory is removed on the way out. 1 when the address is taken."""
    from exporter.simulator import Simulator, default_scenario, start_simulator

    scenario = default_scenario()
    targets = scenario.targets()  # the config names these; the pushed jobs come by push alone
    scenario = dataclasses.replace(scenario, tasks=scenario.tasks + pushed_jobs())
    simulator = await start_simulator(Simulator(scenario), host="127.0.0.1", port=0)
    workdir = Path(tempfile.mkdtemp(prefix="huaweicloud-task-exporter-demo-"))
    try:
        return await _run(simulator, targets, workdir, host, port, lifecycle)
    finally:
        await simulator.close()
        shutil.rmtree(workdir, ignore_errors=True)  # the config, the secret key and certificate files


def _write_config(simulator: RunningSimulator, targets: list[Target], workdir: Path) -> tuple[Path, SmnTopic]:
    """The demo's config file (and the secret key and SMN certificate files it names), and the topic."""
    from exporter.simulator import DEMO_SECRET_KEY
    from exporter.simulator.push import FakePki, smn_topic

    secret_file = workdir / "secret_key"
    secret_file.write_text(DEMO_SECRET_KEY + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    topic = smn_topic(simulator.simulator, simulator.url, FakePki.generate(), region=DEMO_REGION)
    certificate_file = workdir / "smn-signing.pem"
    certificate_file.write_bytes(topic.cert_pem)
    config = demo_config(simulator.url, targets, aksk_auth(str(secret_file)))
    config += yaml.safe_dump({"intake": push_intake(topic, certificate_file)}, sort_keys=False)
    config_file = workdir / "config.yaml"
    config_file.write_text(config, encoding="utf-8")
    return config_file, topic


async def _run(
    simulator: RunningSimulator, targets: list[Target], workdir: Path, host: str, port: int, lifecycle: bool
) -> int:
    from exporter.app import Exporter
    from exporter.exposition.server import make_app, serve
    from exporter.simulator.push import Pusher

    config_file, topic = _write_config(simulator, targets, workdir)
    exporter = Exporter(load_config(config_file))
    try:
        serving = await serve(make_app(exporter, lifecycle=lifecycle), host, port)
    except OSError as exc:
        await exporter.aclose()
        print(f"demo: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    pusher = Pusher(f"{base}/intake/smn", topic, since=0.0)
    _banner(simulator.url, config_file, base, topic.urn, lifecycle)
    pushing = asyncio.ensure_future(pusher.run())
    try:
        await _until_stopped(exporter)
    finally:
        pushing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pushing
        await serving.stop()
        await exporter.aclose()
    return 0


def _banner(cloud: str, config_file: Path, base: str, topic_urn: str, lifecycle: bool) -> None:
    last = PUSH_FIRST + (PUSH_JOBS - 1) * PUSH_EVERY  # when the last pushed job begins
    reload_by_http = f"or: curl -X POST {base}/-/reload" if lifecycle else "POST /-/reload needs --web.enable-lifecycle"
    print(
        f"\nhuaweicloud-task-exporter demo\n"
        f"  fake cloud:    {cloud}\n"
        f"  config:        {config_file}\n"
        f"  landing page:  {base}/\n"
        f"  metrics:       {base}/metrics\n"
        f"  push intake:   {base}/intake/smn, signed notifications of SMN topic {topic_urn}\n"
        f"The scenario's tasks move through their states over the next minutes; an EVS job that no config\n"
        f"names begins every {PUSH_EVERY:g} s in the demo's first {math.ceil(last / 60)} minutes, and is tracked\n"
        f'from its push (source="pushed"). Edit the config and send SIGHUP (kill -HUP {os.getpid()}) to reload\n'
        f"it ({reload_by_http}). Ctrl-C stops.\n",
        file=sys.stderr,
        flush=True,
    )


async def _until_stopped(exporter: Exporter) -> None:
    """Waits for SIGINT or SIGTERM; SIGHUP reloads the exporter's config meanwhile."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    reloads: set[asyncio.Task[str | None]] = set()  # referenced until done

    def reload() -> None:
        task = asyncio.ensure_future(exporter.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await stopped.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
