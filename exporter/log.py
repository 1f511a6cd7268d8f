"""Logging set-up: structlog to stderr, JSON for machines or console lines for people, and everything
else that logs (aiohttp's server, asyncio, Python warnings) through the same renderer.

Lines from other libraries lose their tracebacks: an aiohttp error about a malformed request would
otherwise quote the request's bytes, and asyncio's accept loop repeats the same error for every
connection it cannot take. Each such line keeps the exception's type, and the same message from the
same logger is written once, then at every power of ten, with the count.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from typing import Literal

import structlog

__all__ = ["LEVELS", "setup_logging"]

LEVELS = ("debug", "info", "warning", "error")


class _Foreign(logging.Filter):
    """For records of other libraries: the exception's type instead of its text, repeats counted."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: Counter[tuple[str, str]] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.error = record.exc_info[0].__name__
            record.exc_info, record.exc_text = None, None
        key = (record.name, str(record.msg))
        self._seen[key] += 1
        count = self._seen[key]
        record.count = count
        return str(count).rstrip("0") == "1"  # 1, 10, 100, ...


def setup_logging(level: str = "info", fmt: Literal["json", "console"] | None = None) -> None:
    if fmt is None:
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Foreign())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(getattr(logging, level.upper()), logging.INFO))
    logging.captureWarnings(True)
