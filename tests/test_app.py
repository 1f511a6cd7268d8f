"""The running exporter: one Runtime swapped whole on reload, nothing done for an unchanged file."""

from __future__ import annotations

from pathlib import Path

import pytest
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


PASSWORD = "type: password\n      user_name: mon\n      domain_name: acme\n      password: ${HWC_TOKEN}"


def test_a_new_password_replaces_its_old_login_but_a_file_mid_write_does_not() -> None:
    import httpx

    from exporter.cloud.guards import Guards
    from exporter.config import parse_config

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
    # The password file caught mid-write: no identity, the login there is used, none made.
    assert login(("prod", "", "https://iam/v3/auth/tokens", "project-a")) is first and len(made) == 2
    rotated = ("prod", "identity-2", "https://iam/v3/auth/tokens", "project-a")
    login(rotated)
    assert set(guards._logins) == {rotated, other_scope}  # the old password's login is gone
    still_password = parse_config(
        MINIMAL.replace("type: token\n      token: ${HWC_TOKEN}", PASSWORD), env={"HWC_TOKEN": "p"}
    )
    guards.forget_accounts(still_password.accounts)
    assert set(guards._logins) == {rotated, other_scope}
    guards.forget_accounts(parse_config(MINIMAL, env={"HWC_TOKEN": "t"}).accounts)  # prod: a token now
    assert guards._logins == {}


async def test_a_refresh_on_the_old_client_keeps_its_login_after_a_reload_changed_the_password() -> None:
    """Two clients on one set of guards, as during a reload: each uses the login of its own password; the
    new one's replaces the old in the guards, and the old client's refresh does not log in again."""
    from prometheus_client import CollectorRegistry

    from exporter.cloud.client import ApiClient
    from exporter.cloud.guards import Guards
    from exporter.config import parse_config
    from exporter.exposition.metrics import SelfMetrics

    text = MINIMAL.replace("type: token\n      token: ${HWC_TOKEN}", PASSWORD)
    guards = Guards()
    old_config, new_config = (parse_config(text, env={"HWC_TOKEN": p}) for p in ("old", "new"))
    old, new = (ApiClient(c, SelfMetrics(CollectorRegistry()), guards=guards) for c in (old_config, new_config))
    old_login = old._auth(old_config.targets[0])
    new_login = new._auth(new_config.targets[0])
    assert new_login is not old_login and list(guards._logins.values()) == [new_login]
    for _ in range(3):  # the two refreshes interleave
        assert old._auth(old_config.targets[0]) is old_login
        assert new._auth(new_config.targets[0]) is new_login
    assert list(guards._logins.values()) == [new_login]
    await old.aclose()
    await new.aclose()


async def test_a_reload_forgets_what_it_kept_of_removed_accounts(tmp_path: Path) -> None:
    import httpx

    path = tmp_path / "config.yaml"
    two = MINIMAL.replace("type: token\n      token: ${HWC_TOKEN}", PASSWORD.replace("${HWC_TOKEN}", "p")).replace(
        "accounts:\n", "accounts:\n  - {name: dev, auth: {type: token, token: x}}\n"
    )
    path.write_text(two, encoding="utf-8")
    exporter = Exporter(load_config(path))
    guards = exporter.guards
    for name in ("prod", "dev"):
        guards.login((name, "identity", "https://iam", "scope"), httpx.Auth)
        guards.endpoint(name, "https://evs", 10)
        guards._trusted[name] = guards._current[name] = "identity"
        guards._offsets[name] = 1.0
    path.write_text(two.replace("  - {name: dev, auth: {type: token, token: x}}\n", ""), encoding="utf-8")
    assert await exporter.reload() is None
    assert [key[0] for key in guards._logins] == ["prod"]
    assert [key[0] for key in guards._endpoints] == ["prod"]
    assert list(guards._trusted) == list(guards._current) == list(guards._offsets) == ["prod"]
    await exporter.aclose()


async def test_a_changed_config_file_is_reloaded_once_per_change(tmp_path: Path) -> None:
    """--config.auto-reload-interval: a change is applied, an unchanged file is not read again, and a
    broken file is tried once (the running configuration stays) until it changes again."""
    path = tmp_path / "config.yaml"
    (tmp_path / "token").write_text("t", encoding="utf-8")
    text = MINIMAL.replace("token: ${HWC_TOKEN}", "token_file: " + str(tmp_path / "token"))
    path.write_text(text, encoding="utf-8")
    exporter = Exporter(load_config(path))
    assert await exporter.reload_if_changed() is False  # the file as it was loaded
    path.write_text(text.replace(f"tasks: [{EVS_TASK}]", "tasks: []"), encoding="utf-8")
    assert await exporter.reload_if_changed() is True
    assert exporter.config.targets[0].tasks == ()
    assert await exporter.reload_if_changed() is False
    path.write_text(text.replace("region:", "regoin:"), encoding="utf-8")
    with structlog.testing.capture_logs() as logs:
        assert await exporter.reload_if_changed() is True
        assert await exporter.reload_if_changed() is False  # still broken, not tried again
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "config reload failed; keeping the running configuration"
    ]
    assert exporter.config.targets[0].tasks == ()
    path.unlink()  # replaced, not there for a moment: nothing to do
    assert await exporter.reload_if_changed() is False
    path.write_text(text, encoding="utf-8")
    assert await exporter.reload_if_changed() is True
    assert len(exporter.config.targets[0].tasks) == 1
    await exporter.aclose()


async def test_the_config_watch_applies_a_change_without_a_signal(tmp_path: Path) -> None:
    import asyncio
    import contextlib

    path = tmp_path / "config.yaml"
    (tmp_path / "token").write_text("t", encoding="utf-8")
    text = MINIMAL.replace("token: ${HWC_TOKEN}", "token_file: " + str(tmp_path / "token"))
    path.write_text(text, encoding="utf-8")
    exporter = Exporter(load_config(path))
    reloaded = asyncio.Event()
    reload = exporter.reload

    async def reload_and_say() -> str | None:
        try:
            return await reload()
        finally:
            reloaded.set()

    exporter.reload = reload_and_say  # type: ignore[method-assign]
    watching = asyncio.ensure_future(exporter.watch_config(0.02))
    path.write_text(text.replace(f"tasks: [{EVS_TASK}]", "tasks: []"), encoding="utf-8")
    await asyncio.wait_for(reloaded.wait(), 10)
    assert exporter.config.targets[0].tasks == ()
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    await exporter.aclose()


def test_the_auto_reload_interval_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from exporter.cli import _exporter_parser

    assert _exporter_parser().parse_args([]).auto_reload == 0
    assert _exporter_parser().parse_args(["--config.auto-reload-interval", "30s"]).auto_reload == 30
    for good, seconds in (("0", 0), ("2.5", 2.5)):
        assert _exporter_parser().parse_args(["--config.auto-reload-interval", good]).auto_reload == seconds
    for bad in ("-1", "soon", "0.001s"):
        with pytest.raises(SystemExit):
            _exporter_parser().parse_args([f"--config.auto-reload-interval={bad}"])
        assert "expected a duration from 0.01s to 24h such as 30s, 1m or 1h30m" in capsys.readouterr().err


async def test_the_config_watch_survives_a_failing_look(tmp_path: Path) -> None:
    import asyncio
    import contextlib

    path = tmp_path / "config.yaml"
    (tmp_path / "token").write_text("t", encoding="utf-8")
    path.write_text(MINIMAL.replace("token: ${HWC_TOKEN}", "token_file: " + str(tmp_path / "token")), encoding="utf-8")
    exporter = Exporter(load_config(path))
    looks: list[int] = []
    twice = asyncio.Event()

    async def broken_look() -> bool:
        looks.append(1)
        if len(looks) == 2:
            twice.set()
        raise RuntimeError("a bug")

    exporter.reload_if_changed = broken_look  # type: ignore[method-assign]
    with structlog.testing.capture_logs() as logs:
        watching = asyncio.ensure_future(exporter.watch_config(0.01))
        await asyncio.wait_for(twice.wait(), 10)
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    assert "watching the config file failed; trying again" in [e["event"] for e in logs]
    await exporter.aclose()
