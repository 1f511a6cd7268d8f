"""One scrape of N running tasks against the fake cloud with added latency: wall time, exporter CPU per task
query, and the ideal ceil(N / concurrency) x latency.

    python bench/scrape.py [--tasks 1000] [--latency 0.05] [--concurrency 32 64] [--transport aiohttp httpx]

The fake cloud runs in its own process (so the CPU measured here is the exporter's alone); the exporter
runs in this process behind its real HTTP server, and the scrape is a real HTTP GET of /metrics. Rate
limiting is off so the figures show the client, not the limiter. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.app import Exporter, Runtime  # noqa: E402
from exporter.cloud.client import ApiClient  # noqa: E402
from exporter.config import load_config  # noqa: E402
from exporter.exposition.server import make_app, serve  # noqa: E402
from exporter.simulator import DEFAULT_PROJECT_ID, DEMO_TOKEN, bench_task_id  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"the fake cloud did not come up at {url}")


def write_config(directory: Path, url: str, tasks: int, concurrency: int) -> Path:
    ids = "\n".join(f"      - {bench_task_id(i)}" for i in range(tasks))
    path = directory / f"bench-{concurrency}.yaml"
    path.write_text(
        f"""accounts:
  - name: bench
    cloud: custom
    auth: {{type: token, token: "${{BENCH_TOKEN}}"}}
scrape: {{concurrency: {concurrency}, rate_limit: 0, default_timeout: 120}}
tracking: {{max_tasks: {max(tasks, 1000)}}}
services:
  - cloud_service: evs
    account: bench
    region: sim-1
    project_id: {DEFAULT_PROJECT_ID}
    endpoint: {url}
    tasks:
{ids}
""",
        encoding="utf-8",
    )
    return path


async def one_run(config_file: Path, transport: str, tasks: int, concurrency: int, latency: float) -> dict[str, float]:
    exporter = Exporter(load_config(config_file))
    if transport == "httpx":
        # httpx's own connection pool, for comparison with the aiohttp transport the exporter uses.
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = ApiClient(
            exporter.config, exporter.metrics, transport=lambda _account: httpx.AsyncHTTPTransport(limits=limits)
        )
        exporter.runtime = Runtime(exporter.config, client)
        exporter.tracker.use(exporter.config, client)
    serving = await serve(make_app(exporter), "127.0.0.1", 0)
    async with httpx.AsyncClient(timeout=300) as http:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        response = await http.get(f"http://127.0.0.1:{serving.port}/metrics")
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        render0 = time.process_time()
        # The tasks stay running, so a second scrape asks again: a steady-state figure without connection set-up.
        body = (await http.get(f"http://127.0.0.1:{serving.port}/metrics")).content
        second_cpu = time.process_time() - render0
    up = "huaweicloud_task_up{" in response.text and 'huaweicloud_task_up{account="bench"' in response.text
    answered = response.text.count('state="running"')
    await serving.stop()
    return {
        "wall": wall,
        "cpu": cpu,
        "cpu_per_query_ms": cpu / tasks * 1000,
        "ideal": math.ceil(tasks / concurrency) * latency,
        "answered": answered,
        "bytes": len(body),
        "second_cpu": second_cpu,
        "ok": float(up and answered == tasks),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--transport", nargs="+", default=["aiohttp", "httpx"], choices=["aiohttp", "httpx"])
    args = parser.parse_args()

    os.environ["BENCH_TOKEN"] = DEMO_TOKEN  # the config reads it with ${BENCH_TOKEN}, as a user's would
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    simulator = subprocess.Popen(
        [sys.executable, "-m", "exporter", "simulate", "--listen", f"127.0.0.1:{port}",
         "--latency", str(args.latency), "--running-tasks", str(args.tasks), "--log.level", "warning"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        wait_until_up(f"{url}/_sim/stats", time.monotonic() + 30)
        print(f"{args.tasks} running EVS tasks, fake cloud latency {args.latency * 1000:.0f} ms, one scrape each\n")
        print(
            f"{'transport':<9} {'conc':>4} {'wall s':>7} {'ideal s':>7} {'CPU s':>6} {'CPU/query':>10} "
            f"{'2nd scrape CPU s':>17}  ok"
        )
        with tempfile.TemporaryDirectory() as directory:
            for transport in args.transport:
                for concurrency in args.concurrency:
                    config = write_config(Path(directory), url, args.tasks, concurrency)
                    r = asyncio.run(one_run(config, transport, args.tasks, concurrency, args.latency))
                    print(
                        f"{transport:<9} {concurrency:>4} {r['wall']:>7.2f} {r['ideal']:>7.2f} {r['cpu']:>6.2f} "
                        f"{r['cpu_per_query_ms']:>8.2f}ms {r['second_cpu']:>17.2f}  {'yes' if r['ok'] else 'NO'}"
                    )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\nexporter process peak RSS: {peak:.0f} MiB")
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
