"""`huaweicloud-task-exporter demo`: the fake cloud and the exporter in one process.

The exporter is configured as a user would configure it for a real account: a YAML file (written
to a temporary directory and printed, so it can be read and reloaded) with IAM password login
against the fake cloud's IAM API.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from exporter.config import load_config

__all__ = ["demo_config", "run_demo"]

DEMO_REGION = "cn-north-4"


def demo_config(url: str, targets: Iterable[tuple[str, str, Sequence[str]]], password_file: str) -> str:
    """A config document for the fake cloud at `url`, tracking `(cloud_service, project_id, task_ids)`."""
    from exporter.simulator import DEMO_DOMAIN, DEMO_USER

    services = []
    for cloud_service, project_id, task_ids in targets:
        entry: dict[str, object] = {"cloud_service": cloud_service, "account": "demo", "region": DEMO_REGION}
        if project_id:
            entry["project_id"] = project_id
        entry.update(endpoint=url, tasks=list(task_ids))
        services.append(entry)
    document = {
        "accounts": [
            {
                "name": "demo",
                "cloud": "custom",
                "iam_endpoint": url,
                "auth": {
                    "type": "password",
                    "user_name": DEMO_USER,
                    "domain_name": DEMO_DOMAIN,
                    "password_file": password_file,
                },
            }
        ],
        "services": services,
    }
    return "# Written by `huaweicloud-task-exporter demo` for its built-in fake cloud.\n" + yaml.safe_dump(
        document, sort_keys=False
    )


async def run_demo(host: str, port: int) -> int:
    from exporter.core import Exporter
    from exporter.server import make_app, serve
    from exporter.simulator import DEMO_PASSWORD, Simulator, default_scenario, start_simulator

    scenario = default_scenario()
    simulator = await start_simulator(Simulator(scenario), host="127.0.0.1", port=0)
    workdir = Path(tempfile.mkdtemp(prefix="huaweicloud-task-exporter-demo-"))
    password_file = workdir / "password"
    password_file.write_text(DEMO_PASSWORD + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    config_file = workdir / "config.yaml"
    config_file.write_text(demo_config(simulator.url, scenario.targets(), str(password_file)), encoding="utf-8")
    exporter = Exporter(load_config(config_file))
    serving = await serve(make_app(exporter), host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(
        f"\nhuaweicloud-task-exporter demo\n"
        f"  fake cloud:    {simulator.url}\n"
        f"  config:        {config_file}\n"
        f"  landing page:  http://{shown}:{port}/\n"
        f"  metrics:       http://{shown}:{port}/metrics\n"
        f"The scenario's tasks move through their states over the next minutes. Ctrl-C stops.\n",
        file=sys.stderr,
        flush=True,
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await serving.stop()
        await simulator.close()
    return 0
