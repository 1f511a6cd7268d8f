"""`python -m exporter` is the same program as the `huaweicloud-task-exporter` console script."""

from __future__ import annotations

from exporter.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
