"""Shared fixtures: configuration documents, and a clean logging set-up for every test."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from exporter.config import Config, parse_config
from exporter.log import REPEATS

PROJECT = "0123456789abcdef0123456789abcdef"
EVS_TASK = "4010a32d535527910153552b492c0002"
DWS_TASK = "2c9080e88459fa44018459fbeb600001"

MINIMAL = f"""
accounts:
  - name: prod
    auth:
      type: token
      token: ${{HWC_TOKEN}}
services:
  - cloud_service: evs
    account: prod
    region: cn-north-4
    project_id: {PROJECT}
    tasks: [{EVS_TASK}]
"""


Writer = Callable[[str, str], Path]
# A parsed scrape: (metric name, frozenset of label pairs) -> value.
Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Tests that configure logging (the CLI does) must not leak that set-up into other tests, and each
    starts with no repeated line counted (the counts are the process's)."""
    REPEATS.clear()
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()  # setup_logging routes the standard library's loggers too
    logging.captureWarnings(False)


@pytest.fixture
def env() -> dict[str, str]:
    return {"HWC_TOKEN": "token-value-from-env"}


@pytest.fixture
def config(env: dict[str, str]) -> Config:
    return parse_config(MINIMAL, file="config.yaml", env=env)


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """write(name, text) -> path of a file in the test's temporary directory."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
