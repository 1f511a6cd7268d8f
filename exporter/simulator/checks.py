"""The scenario reader's checks: each takes a value and its key path and returns it typed, or raises
`Invalid` naming the path and what was expected; and the type of a scenario section (`sections.py`),
whose readers use the same checks, so a section's errors read like the rest of the file's."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.services import ServiceSpec

__all__ = [
    "Invalid",
    "ScenarioError",
    "ScenarioSection",
    "SectionContext",
    "as_list",
    "check_keys",
    "ident",
    "kind",
    "mapping",
    "number",
    "string",
]

# Lenient on purpose: the exporter validates IDs itself; this only keeps URL paths simple.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the source, the key path and the problem."""


class Invalid(Exception):
    """A bad value at `path`; `parse_scenario` turns it into a ScenarioError naming the source."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def check_keys(m: Mapping[str, Any], allowed: Sequence[str], required: Sequence[str], path: str) -> None:
    for key in m:
        if key not in allowed:
            raise Invalid(path, f"unknown key {key!r}; expected one of: {', '.join(allowed)}")
    for key in required:
        if key not in m:
            raise Invalid(path, f"missing required key {key!r}")


def mapping(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise Invalid(path, f"expected a mapping with string keys, got {kind(value)}")
    return value


def as_list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise Invalid(path, f"expected a list, got {kind(value)}")
    return value


def string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise Invalid(path, f"expected a string, got {kind(value)}")
    return value


def ident(value: object, path: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise Invalid(path, f"expected an ID of 1-64 letters, digits, '-' or '_', got {value!r}")
    return value


def number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(path, f"expected a number, got {value!r}")
    return float(value)


def kind(value: object) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


@dataclass(frozen=True, slots=True)
class SectionContext:
    """What a scenario section's reader may need: the specs the scenario is read against (tasks and
    sections name services from them) and the project a value without one belongs to."""

    specs: Mapping[str, ServiceSpec]
    default_project_id: str


@dataclass(frozen=True, slots=True)
class ScenarioSection:
    """A top-level scenario key read by a part of the fake cloud other than the task reader: `read`
    takes the raw value and its key path and returns what `Scenario.sections[key]` holds (raising
    `Invalid` for a bad value); `default` is held when the key is absent."""

    key: str
    read: Callable[[object, str, SectionContext], Any]
    default: Any = None
