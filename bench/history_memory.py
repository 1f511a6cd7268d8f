"""Memory of the history (issue 20): 100,000 resources with a latest-finished end each, and the
100,000 tasks behind them remembered as counted, measured with tracemalloc and as RSS.

    python bench/history_memory.py [--resources N]
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.config import HistorySettings, parse_config
from exporter.model import State, TaskStatus
from exporter.tracking.history import History

CONFIG = """
accounts: [{name: prod, cloud: custom, auth: {type: token, token: "${T}"}}]
services:
  - {cloud_service: cbr, account: prod, region: cn-north-4, project_id: 0123456789abcdef0123456789abcdef,
     endpoint: "http://127.0.0.1:9"}
"""


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=100_000)
    count = parser.parse_args().resources
    (target,) = parse_config(CONFIG, env={"T": "t"}).targets
    now = 1_800_000_000.0
    history = History(HistorySettings(max_resources=count), started=now - 3600)
    statuses = [
        TaskStatus(State.SUCCEEDED, "success", start=now - 600, end=now - 60, job_type="backup",
                   resource_id=f"{n:08x}-0000-4000-8000-{n:012x}")
        for n in range(count)
    ]  # fmt: skip
    task_ids = [f"{n:032x}" for n in range(count)]
    # The job type's series exist and were scraped once, as in a running exporter.
    history.answered(target, "f" * 32, None, TaskStatus(State.RUNNING, "running", job_type="backup"), now)
    history.collected()
    gc.collect()
    before_rss = rss_mib()
    tracemalloc.start()
    for task_id, status in zip(task_ids, statuses, strict=True):
        history.answered(target, task_id, None, status, now)
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"history of {count:,} resources (one latest end each) and {count:,} counted tasks:")
    print(f"  resources kept: {len(history.resources):,}   counted: {sum(s.count for _, s in history.series()):,}")
    print(f"  memory held: {held / 2**20:.1f} MiB ({held / count:.0f} bytes per resource and its task)")
    print(f"  peak RSS: {before_rss:.0f} -> {rss_mib():.0f} MiB (tracemalloc's own bookkeeping included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
