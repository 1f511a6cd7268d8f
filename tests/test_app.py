"""The running exporter: one Runtime swapped whole on reload, nothing done for an unchanged file."""

from __future__ import annotations

from pathlib import Path

import structlog.testing

from exporter.app import Exporter
from exporter.config import load_config
from tests.conftest import EVS_TASK, MINIMAL


async def test_reload_swaps_the_runtime_once_and_skips_an_unchanged_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = MINIMAL.replace("token: ${HWC_TOKEN}", "token_file: " + str(tmp_path / "token"))
    (tmp_path / "token").write_text("t", encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    exporter = Exporter(load_config(path))
    first = exporter.runtime
    with structlog.testing.capture_logs() as logs:
        assert await exporter.reload() is None
    assert exporter.runtime is first  # unchanged text: nothing rebuilt
    assert [e["event"] for e in logs if e["log_level"] == "info"] == ["config unchanged; nothing to reload"]
    path.write_text(text.replace(f"tasks: [{EVS_TASK}]", "tasks: []"), encoding="utf-8")
    assert await exporter.reload() is None
    assert exporter.runtime is not first and exporter.runtime.config.targets[0].tasks == ()
    assert exporter.tracker.config is exporter.runtime.config
    second = exporter.runtime
    path.write_text(text.replace("region:", "regoin:"), encoding="utf-8")
    error = await exporter.reload()
    assert error is not None and "unknown key 'regoin'" in error
    assert exporter.runtime is second  # a broken file keeps the running configuration
    await exporter.aclose()
