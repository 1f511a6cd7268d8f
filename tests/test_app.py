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


def test_a_new_password_replaces_its_old_login_but_a_file_mid_write_does_not() -> None:
    import httpx

    from exporter.cloud.guards import Guards

    guards = Guards()
    made: list[tuple[str, ...]] = []

    def login(key: tuple[str, ...]) -> httpx.Auth:
        def make() -> httpx.Auth:
            made.append(key)
            return httpx.Auth()

        return guards.login(key, make)

    old = ("prod", "identity-1", "https://iam/v3/auth/tokens", "project-a")
    other_scope = ("prod", "identity-1", "https://iam/v3/auth/tokens", "project-b")
    first = login(old)
    login(other_scope)
    assert login(old) is first and made == [old, other_scope]  # kept, with its token
    login(("prod", "", "https://iam/v3/auth/tokens", "project-a"))  # the password file caught mid-write
    assert login(old) is first
    rotated = ("prod", "identity-2", "https://iam/v3/auth/tokens", "project-a")
    login(rotated)
    assert set(guards._logins) == {rotated, other_scope}  # the old password's login is gone
    guards.forget_logins({"dev"})
    assert guards._logins == {}


async def test_a_reload_that_removes_an_account_forgets_its_logins(tmp_path: Path) -> None:
    import httpx

    path = tmp_path / "config.yaml"
    (tmp_path / "token").write_text("t", encoding="utf-8")
    two = MINIMAL.replace("token: ${HWC_TOKEN}", "token_file: " + str(tmp_path / "token")).replace(
        "accounts:\n", "accounts:\n  - {name: dev, auth: {type: token, token: x}}\n"
    )
    path.write_text(two, encoding="utf-8")
    exporter = Exporter(load_config(path))
    for name in ("prod", "dev"):
        exporter.guards.login((name, "identity", "https://iam", "scope"), httpx.Auth)
    path.write_text(two.replace("  - {name: dev, auth: {type: token, token: x}}\n", ""), encoding="utf-8")
    assert await exporter.reload() is None
    assert [key[0] for key in exporter.guards._logins] == ["prod"]
    await exporter.aclose()
