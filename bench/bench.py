"""`make bench`: the exporter's speed and memory at thousands of tasks, each figure beside a raw aiohttp
client (the floor) and prometheus-blackbox-exporter (a Go peer), all measured in this one run.

    python bench/bench.py [--quick] [--latency 0.05] [--skip-blackbox]

Every process runs on 127.0.0.1: the light fake API (bench/lightapi.py, in its own process), the exporter
(its real command, in its own process, scraped over HTTP as Prometheus would), the floor client and
blackbox_exporter. CPU is each process's own user + system time from /proc, taken around warm scrapes
(connections open), median of 3. The fake API runs on a core of its own (the last one) and every
client under test on the others (`Cores`; `--no-pin` to let them share). Figures:

- CPU per task query: one scrape of N running tasks, all of the exporter's work (client, auth, parsing,
  tracker, exposition, HTTP server) divided by N; token and AK/SK auth.
- Wall: the same scrapes' time against the ideal ceil(N / concurrency) x latency, beside the floor
  client's, and the floor's round trip one request at a time (what the ideal cannot count: the
  loopback, the API's own time).
- Exposition: CPU of a scrape of 10,000 tracked finished tasks (nothing asked of the cloud).
- Peak RSS of the exporter (VmHWM) with 10,000 and 50,000 tracked tasks.
- Cardinality: series and bytes of the 10,000-task scrape, as configured by default and with
  `metrics: {finished_states: current}`.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import aiohttp

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PROJECT = "0123456789abcdef0123456789abcdef"
TOKEN = "bench-token-not-checked-by-the-light-api"  # noqa: S105 (the light API checks none)
SECRET_KEY = "bench-secret-key-not-checked-by-the-light-api"  # noqa: S105
TICK = os.sysconf("SC_CLK_TCK")
BLACKBOX = shutil.which("prometheus-blackbox-exporter")


class Cores:
    """The cloud runs on machines of its own: here the fake API gets the last core, which it shares only
    with this script (its scrapes, and the probes it asks of blackbox_exporter: Prometheus's part), and
    every client under test (the exporter, the floor, blackbox_exporter) the others, so that the API's
    CPU does not count against a client's wall time. Unpinned on this 2-core machine, the floor client
    itself took 1.10-1.14x ideal at 1,000 tasks and concurrency 128; pinned, 1.07-1.09x (and 1.06x with
    the API answering on time, `--precise`). A virtual machine's cores may still share a physical one."""

    def __init__(self) -> None:
        cores = sorted(os.sched_getaffinity(0))
        self.taskset = shutil.which("taskset")
        self.on = len(cores) > 1 and self.taskset is not None
        self.api, self.client = (set(cores[-1:]), set(cores[:-1])) if self.on else (set(cores), set(cores))

    def client_command(self, args: list[str]) -> list[str]:
        """`args` run on the client cores."""
        if not self.on or self.taskset is None:
            return args
        return [self.taskset, "-c", ",".join(map(str, sorted(self.client))), *args]

    def describe(self) -> str:
        if not self.on:
            return "not pinned"
        api, client = (",".join(map(str, sorted(cores))) for cores in (self.api, self.client))
        return f"fake API on core {api}, clients under test on {client}"


CORES = Cores()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def task_id(i: int) -> str:
    return f"b{i:031x}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def peak_rss_mib(pid: int, field: str = "VmHWM") -> float:
    """The process's peak resident set (VmHWM), or another /proc/PID/status field, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def rss_mib(pid: int) -> float:
    return peak_rss_mib(pid, "VmRSS")


async def wait_ready(url: str, deadline: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise SystemExit(f"the process for {url} exited with {proc.returncode} before answering")
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit(f"nothing answered at {url}")


@contextmanager
def process(args: list[str], ready: str | None = None, **kwargs: object) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, cwd=ROOT, **kwargs)  # type: ignore[call-overload]
    try:
        if ready:
            asyncio.run(wait_ready(ready, time.monotonic() + 60, proc))
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def light_api(latency: float, finished: bool = False) -> Iterator[str]:
    """The light API on a core of its own, one process answering on time (`--precise`); unpinned, two
    processes (its answers to a burst of 128 requests do not queue) on asyncio's own timers."""
    port = free_port()
    args = [sys.executable, "bench/lightapi.py", "--port", str(port), "--latency", str(latency)]
    args += ["--precise"] if CORES.on else ["--workers", "2"]
    with process([*args, "--finished"] if finished else args):  # on this script's cores: the API's
        url = f"http://{HOST}:{port}"
        asyncio.run(wait_ready(url + "/", time.monotonic() + 30))
        yield url


def exporter_config(directory: Path, api: str, tasks: int, concurrency: int, auth: str, extra: str = "") -> Path:
    """The exporter's config for `tasks` EVS tasks. The refresh budget is raised from its 10 s: the first
    scrape of 50,000 tasks asks for every one of them, about 10 s of CPU here."""
    if auth == "aksk":
        (directory / "sk").write_text(SECRET_KEY)
        block = f'{{type: aksk, access_key: BENCHACCESSKEY00000, secret_key_file: "{directory / "sk"}"}}'
    else:
        (directory / "token").write_text(TOKEN)
        block = f'{{type: token, token_file: "{directory / "token"}"}}'
    ids = ", ".join(task_id(i) for i in range(tasks))
    path = directory / "config.yaml"
    path.write_text(
        f"""accounts:
  - name: bench
    cloud: custom
    auth: {block}
scrape: {{concurrency: {concurrency}, rate_limit: 0, default_timeout: 600, refresh_timeout: 600}}
tracking: {{max_tasks: {max(tasks, 1000)}, finished_ttl: 24h}}
{extra}
services:
  - cloud_service: evs
    account: bench
    region: sim-1
    project_id: {PROJECT}
    endpoint: {api}
    tasks: [{ids}]
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Scrape:
    wall: float
    cpu: float
    body: bytes


class Exporter:
    """The exporter's own command in its own process, scraped over HTTP."""

    def __init__(self, config: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.args = [sys.executable, "-m", "exporter", "--config.file", str(config),
                     "--web.listen-address", f"{HOST}:{self.port}", "--log.level", "warning"]  # fmt: skip
        self.args = CORES.client_command(self.args)

    @contextmanager
    def running(self) -> Iterator[Exporter]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with process(self.args, ready=self.url + "/-/ready", env=env) as proc:
            self.pid = proc.pid
            yield self

    def scrape(self) -> Scrape:
        async def get() -> Scrape:
            timeout = aiohttp.ClientTimeout(total=900)
            headers = {"X-Prometheus-Scrape-Timeout-Seconds": "600", "Accept-Encoding": "gzip"}
            # Gzip as Prometheus asks for it; decompressed after the clock stops (Prometheus's Go reader
            # costs far less than Python's, and it is the scraper's time, not the exporter's).
            async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
                before, started = cpu_seconds(self.pid), time.perf_counter()
                async with session.get(self.url + "/metrics", headers=headers) as response:
                    body = await response.read()
                wall = time.perf_counter() - started
                cpu = cpu_seconds(self.pid) - before
                if response.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                return Scrape(wall, cpu, body)

        return asyncio.run(get())


def task_queries(body: bytes) -> float:
    """huaweicloud_task_api_requests_total, summed: how many requests the exporter has sent."""
    return sum(
        float(line.rsplit(b" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(b"huaweicloud_task_api_requests_total{")
    )


def in_state(body: bytes, state: str) -> int:
    """How many tasks the scrape shows in `state`."""
    mark = f'state="{state}"'.encode()
    return sum(
        1
        for line in body.splitlines()
        if line.startswith(b"huaweicloud_task_status{") and mark in line and line.endswith(b" 1.0")
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- the figures -----------------------------------------------------------------------------------------


def queries(latency: float, tasks: int, concurrency: int, auth: str, rounds: int = 3) -> dict[str, float]:
    """CPU per task query and wall against ideal: warm scrapes of `tasks` running tasks."""
    with tempfile.TemporaryDirectory() as directory, light_api(latency) as api:
        config = exporter_config(Path(directory), api, tasks, concurrency, auth)
        with Exporter(config).running() as exporter:
            first = exporter.scrape()
            assert in_state(first.body, "running") == tasks, "not every task answered"
            warm = [exporter.scrape() for _ in range(rounds)]
            sent = task_queries(warm[-1].body) - task_queries(first.body)
            assert sent == rounds * tasks, f"expected {rounds * tasks} queries, the exporter sent {sent}"
    return {
        "cpu_ms": median([s.cpu for s in warm]) / tasks * 1000,
        "wall": median([s.wall for s in warm]),
        "ideal": math.ceil(tasks / concurrency) * latency,
    }


FLOOR = """
import asyncio, json, sys, time
import aiohttp

async def main(base, n, c, rounds):
    urls = [f"{base}/v1/PROJECT/jobs/b{i:031x}" for i in range(n)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as session:
        sem = asyncio.Semaphore(c)
        async def one(url):
            async with sem:
                async with session.get(url) as response:
                    json.loads(await response.read())
        cpus, walls = [], []
        for r in range(rounds + 1):  # the first round opens the connections
            before, started = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one(u) for u in urls))
            if r:
                cpus.append(time.process_time() - before)
                walls.append(time.perf_counter() - started)
    print(sorted(cpus)[len(cpus) // 2], sorted(walls)[len(walls) // 2])

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
""".replace("PROJECT", PROJECT)


def floor(latency: float, tasks: int, concurrency: int, rounds: int = 3) -> tuple[float, float]:
    """CPU per request (ms) and wall time of all requests (s) of a bare aiohttp client doing the same
    GETs and JSON decoding at the same concurrency."""
    with light_api(latency) as api:
        out = subprocess.run(
            CORES.client_command([sys.executable, "-c", FLOOR, api, str(tasks), str(concurrency), str(rounds)]),
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
    cpu, wall = out.stdout.split()
    return float(cpu) / tasks * 1000, float(wall)


BLACKBOX_CONFIG = """modules:
  http_2xx:
    prober: http
    timeout: 30s
    http: {method: GET, preferred_ip_protocol: ip4, valid_status_codes: [200]}
"""


def blackbox(latency: float, tasks: int, concurrency: int, rounds: int = 3) -> float | None:
    """CPU per probe, ms, of prometheus-blackbox-exporter probing the same URLs at the same concurrency."""
    if BLACKBOX is None:
        return None
    with tempfile.TemporaryDirectory() as directory, light_api(latency) as api:
        config = Path(directory) / "blackbox.yml"
        config.write_text(BLACKBOX_CONFIG)
        port = free_port()
        args = [BLACKBOX, f"--config.file={config}", f"--web.listen-address={HOST}:{port}", "--log.level=warn"]
        with process(CORES.client_command(args), ready=f"http://{HOST}:{port}/", stderr=subprocess.DEVNULL) as proc:

            async def probe_all() -> list[float]:
                sem = asyncio.Semaphore(concurrency)
                urls = [f"{api}/v1/{PROJECT}/jobs/{task_id(i)}" for i in range(tasks)]
                timeout = aiohttp.ClientTimeout(total=600)
                connector = aiohttp.TCPConnector(limit=concurrency)
                async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

                    async def one(url: str) -> None:
                        async with sem:
                            params = {"module": "http_2xx", "target": url}
                            async with session.get(f"http://{HOST}:{port}/probe", params=params) as response:
                                assert b"probe_success 1" in await response.read(), "a probe failed"

                    cpus = []
                    for r in range(rounds + 1):
                        before = cpu_seconds(proc.pid)
                        await asyncio.gather(*(one(u) for u in urls))
                        if r:
                            cpus.append(cpu_seconds(proc.pid) - before)
                    return cpus

            cpus = asyncio.run(probe_all())
    return median(cpus) / tasks * 1000


def exposition(tasks: int, extra: str = "", rounds: int = 3) -> dict[str, float]:
    """CPU of scrapes of `tasks` tracked finished tasks (answered once, never asked again), the output's
    size, and the exporter's peak RSS."""
    with tempfile.TemporaryDirectory() as directory, light_api(0.0, finished=True) as api:
        config = exporter_config(Path(directory), api, tasks, 128, "token", extra)
        with Exporter(config).running() as exporter:
            idle = rss_mib(exporter.pid)  # its config read, nothing asked yet
            first = exporter.scrape()
            assert in_state(first.body, "succeeded") == tasks, "not every task answered"
            warm = [exporter.scrape() for _ in range(rounds)]
            assert task_queries(warm[-1].body) == task_queries(first.body), "finished tasks were asked again"
            peak = peak_rss_mib(exporter.pid)
    body = warm[-1].body
    series = sum(1 for line in body.splitlines() if line.startswith(b"huaweicloud_task_") and b"{" in line)
    return {"cpu": median([s.cpu for s in warm]), "bytes": len(body), "series": series, "peak_mib": peak,
            "start_mib": idle}  # fmt: skip


def show(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print()


def timed(label: str, run: Callable[[], T]) -> T:
    started = time.monotonic()
    result = run()
    print(f"  ({label}: {time.monotonic() - started:.0f} s)", file=sys.stderr)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--quick", action="store_true", help="1,000 tasks only, no 50,000-task memory run")
    parser.add_argument("--skip-blackbox", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--no-pin", action="store_true", help="let every process run on any core")
    args = parser.parse_args()
    if args.no_pin:
        CORES.on = False
    if CORES.on:
        os.sched_setaffinity(0, CORES.api)  # the fake API and the scraping inherit them
    latency = args.latency
    figures: dict[str, object] = {"latency": latency, "cores": CORES.describe()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    print(f"# huaweicloud-task-exporter benchmark, {time.strftime('%Y-%m-%d')}, commit {commit.stdout.strip()}, "
          f"{os.cpu_count()} cores ({CORES.describe()}), Python {sys.version.split()[0]}, "
          f"latency {latency * 1000:.0f} ms\n")  # fmt: skip

    token = cpu_section(latency, args.skip_blackbox, figures)
    wall_section(latency, args.quick, token, figures)
    exposition_section(args.quick, figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


N, C = 1000, 64  # the CPU section's running tasks and concurrency


def cpu_section(latency: float, skip_blackbox: bool, figures: dict[str, object]) -> dict[str, float]:
    """1. CPU per task query, beside the floor and blackbox_exporter (1,000 running tasks, concurrency 64);
    the token run's figures (the wall section reuses them)."""
    n, c = N, C
    token = timed("token", lambda: queries(latency, n, c, "token"))
    aksk = timed("aksk", lambda: queries(latency, n, c, "aksk"))
    raw, _ = timed("floor", lambda: floor(latency, n, c))
    peer = None if skip_blackbox else timed("blackbox", lambda: blackbox(latency, n, c))
    print(f"## CPU per task query ({n} running tasks, concurrency {c}, warm scrapes, median of 3)\n")
    rows: list[tuple[str, ...]] = [("client", "CPU per query", "x floor", "x blackbox_exporter", "goal")]
    for name, ms, goal in (("exporter, token", token["cpu_ms"], "<= 0.3 ms"),
                           ("exporter, AK/SK", aksk["cpu_ms"], "<= 0.35 ms")):  # fmt: skip
        rows.append((name, f"{ms:.3f} ms", f"{ms / raw:.2f}", f"{ms / peer:.2f}" if peer else "-", goal))
    rows.append(("raw aiohttp + json (floor)", f"{raw:.3f} ms", "1.00", f"{raw / peer:.2f}" if peer else "-", ""))
    if peer:
        rows.append(("prometheus-blackbox-exporter", f"{peer:.3f} ms", f"{peer / raw:.2f}", "1.00", ""))
    show(rows)
    figures.update(cpu_token_ms=token["cpu_ms"], cpu_aksk_ms=aksk["cpu_ms"], floor_ms=raw, blackbox_ms=peer)
    return token


def wall_section(latency: float, quick: bool, token: dict[str, float], figures: dict[str, object]) -> None:
    """2. Wall against ideal."""
    n, c = N, C
    _, alone = timed("one at a time", partial(floor, latency, 20, 1))
    figures["round_trip_alone_ms"] = alone / 20 * 1000
    print("## Wall time of a scrape against ceil(N / C) x latency (token, warm, median of 3)\n")
    print(f"One request at a time, the floor client's round trip is {alone / 20 * 1000:.2f} ms "
          f"(latency {latency * 1000:.0f} ms, {CORES.describe()}).\n")  # fmt: skip
    rows = [("tasks", "concurrency", "wall s", "ideal s", "x ideal", "floor x ideal", "CPU per query")]
    walls: list[dict[str, float]] = []
    for tasks in (1000,) if quick else (1000, 5000):
        for conc in (32, 64, 128):
            run = partial(queries, latency, tasks, conc, "token")
            r = token if (tasks, conc) == (n, c) else timed(f"wall {tasks}/{conc}", run)
            _, floor_wall = timed(f"floor wall {tasks}/{conc}", partial(floor, latency, tasks, conc))
            r = {**r, "floor_wall": floor_wall}
            walls.append({"tasks": tasks, "concurrency": conc, **r})
            rows.append((str(tasks), str(conc), f"{r['wall']:.2f}", f"{r['ideal']:.2f}",
                         f"{r['wall'] / r['ideal']:.2f}", f"{r['floor_wall'] / r['ideal']:.2f}",
                         f"{r['cpu_ms']:.3f} ms"))  # fmt: skip
    show(rows)
    figures["wall"] = walls


def exposition_section(quick: bool, figures: dict[str, object]) -> None:
    """3. Exposition, memory and cardinality."""
    print("## Exposition and memory (tracked finished tasks: answered once, never asked again)\n")
    rows = [("tasks", "exposition", "CPU per scrape", "series", "bytes", "RSS at start", "peak RSS",
             "(peak - start) per task")]  # fmt: skip
    sizes = [(10_000, "", "default")]
    sizes.append((10_000, "metrics: {finished_states: current}", "finished_states: current"))
    if not quick:
        sizes.append((50_000, "", "default"))
    for tasks, extra, name in sizes:
        r = timed(f"exposition {tasks} {name}", partial(exposition, tasks, extra))
        figures[f"exposition_{tasks}_{name}"] = r
        rows.append((str(tasks), name, f"{r['cpu']:.3f} s", f"{r['series']:,}", f"{r['bytes'] / 1e6:.1f} MB",
                     f"{r['start_mib']:.0f} MiB", f"{r['peak_mib']:.0f} MiB",
                     f"{(r['peak_mib'] - r['start_mib']) * 1024 / tasks:.1f} KiB"))  # fmt: skip
    show(rows)


if __name__ == "__main__":
    raise SystemExit(main())
