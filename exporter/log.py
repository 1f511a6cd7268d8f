"""Logging: the set-up, and the rule for a line that can repeat.

The set-up: structlog to stderr, JSON for machines or console lines for people, and everything else
that logs (aiohttp's server, asyncio, Python warnings) through the same renderer. Lines from other
libraries lose their tracebacks: an aiohttp error about a malformed request would otherwise quote the
request's bytes, and asyncio's accept loop repeats the same error for every connection it cannot take.
Each such line keeps the exception's type.

The rule: a line that can come once per request, query, task or connection (a flood of probes for
made-up task IDs, a service that answers every query with an error, a file of a thousand bad entries)
is written once, then at every power of ten, with the count: `repeated(log.info, EVENT, key, ...)`.
The key says what is counted apart (a target, an account, a raw status; never a task ID, which anyone
who can reach the port makes up), and at most `MAX_KEYS` keys of an event are told apart, so neither
the lines nor the counts grow with what a client or the cloud sends. Other libraries' lines follow the
same rule, by logger and message.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Hashable
from typing import Any, Literal

import structlog

__all__ = ["LEVELS", "MAX_KEYS", "REPEATS", "Repeats", "repeated", "said", "setup_logging"]

LEVELS = ("debug", "info", "warning", "error")
MAX_KEYS = 1000  # keys told apart per event; new keys beyond that share one count
_OTHERS = object()  # the key the keys beyond MAX_KEYS share


def said(count: int) -> bool:
    """Whether the `count`th time of a repeated line is written: the 1st, 10th, 100th, ..."""
    return count > 0 and str(count).rstrip("0") == "1"


class Repeats:
    """How often each repeated line has come, by event and key; bounded to `max_keys` keys per event."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._max_keys = max_keys
        self._counts: dict[str, dict[Hashable, int]] = {}

    def count(self, event: str, key: Hashable = ()) -> int:
        """Count one more `event` for `key`; the count so far."""
        counts = self._counts.setdefault(event, {})
        if key not in counts and len(counts) >= self._max_keys:
            key = _OTHERS
        count = counts[key] = counts.get(key, 0) + 1
        return count

    def log(self, emit: Callable[..., Any], event: str, key: Hashable = (), /, **fields: Any) -> bool:
        """Count `event` for `key`, and write it through `emit` (a logger's method) with the count when
        it is due (`said`); whether it was written."""
        count = self.count(event, key)
        if said(count):
            emit(event, **fields, count=count)
            return True
        return False

    def clear(self) -> None:
        """Forget every count (each test starts with none)."""
        self._counts.clear()


# The process's counts: they outlive a reload, as a flood or a broken service does.
REPEATS = Repeats()


def repeated(emit: Callable[..., Any], event: str, key: Hashable = (), /, **fields: Any) -> bool:
    """`emit(event, **fields, count=n)` on the 1st, 10th, 100th, ... time `event` comes for `key`."""
    return REPEATS.log(emit, event, key, **fields)


class _Foreign(logging.Filter):
    """For records of other libraries: the exception's type instead of its text, repeats counted."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = Repeats()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.error = record.exc_info[0].__name__
            record.exc_info, record.exc_text = None, None
        count = self._seen.count(record.name, str(record.msg))
        record.count = count
        return said(count)


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
