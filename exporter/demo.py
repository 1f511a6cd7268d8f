"""`huaweicloud-task-exporter demo`: the fake cloud and the exporter in one process.

The exporter is configured as a user would configure it for a real account: a YAML file (written
to a temporary directory and printed, so it can be read and reloaded) with an access key whose
secret key sits in a file; the fake cloud verifies every request's AK/SK signature.
"""

from __future__ import annotations

import asyncio
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
    from exporter.simulator import RunningSimulator, Scenario

__all__ = ["aksk_auth", "demo_config", "password_auth", "run_demo"]

DEMO_REGION = "cn-north-4"


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


async def run_demo(host: str, port: int, *, lifecycle: bool = False) -> int:
    """The fake cloud and the exporter until SIGINT or SIGTERM (SIGHUP reloads); the temporary config
    directory is removed on the way out. 1 when the address is taken."""
    from exporter.simulator import Simulator, default_scenario, start_simulator

    scenario = default_scenario()
    simulator = await start_simulator(Simulator(scenario), host="127.0.0.1", port=0)
    workdir = Path(tempfile.mkdtemp(prefix="huaweicloud-task-exporter-demo-"))
    try:
        return await _run(simulator, scenario, workdir, host, port, lifecycle)
    finally:
        await simulator.close()
        shutil.rmtree(workdir, ignore_errors=True)  # the config and the secret key file


async def _run(
    simulator: RunningSimulator, scenario: Scenario, workdir: Path, host: str, port: int, lifecycle: bool
) -> int:
    from exporter.app import Exporter
    from exporter.exposition.server import make_app, serve
    from exporter.simulator import DEMO_SECRET_KEY

    secret_file = workdir / "secret_key"
    secret_file.write_text(DEMO_SECRET_KEY + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    config_file = workdir / "config.yaml"
    config_file.write_text(
        demo_config(simulator.url, scenario.targets(), aksk_auth(str(secret_file))), encoding="utf-8"
    )
    exporter = Exporter(load_config(config_file))
    try:
        serving = await serve(make_app(exporter, lifecycle=lifecycle), host, port)
    except OSError as exc:
        await exporter.aclose()
        print(f"demo: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    reload_by_http = (
        f"or: curl -X POST http://{shown}:{port}/-/reload"
        if lifecycle
        else "POST /-/reload needs --web.enable-lifecycle"
    )
    print(
        f"\nhuaweicloud-task-exporter demo\n"
        f"  fake cloud:    {simulator.url}\n"
        f"  config:        {config_file}\n"
        f"  landing page:  http://{shown}:{port}/\n"
        f"  metrics:       http://{shown}:{port}/metrics\n"
        f"The scenario's tasks move through their states over the next minutes. Edit the config and send\n"
        f"SIGHUP (kill -HUP {os.getpid()}) to reload it ({reload_by_http}). Ctrl-C stops.\n",
        file=sys.stderr,
        flush=True,
    )
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
        await serving.stop()
        await exporter.aclose()
    return 0
