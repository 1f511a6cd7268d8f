"""The command line's flags: one table of rows (exporter.cli.EXPORTER_FLAGS), each documented in the README, and
the duration flags read with the config's duration reader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.cli import EXPORTER_FLAGS, LOGGING_FLAGS, _exporter_parser, main
from exporter.schema import ConfigError, Ctx, duration

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
DURATION_FLAGS = ("--config.auto-reload-interval", "--web.header-timeout")


@pytest.mark.parametrize("flag", DURATION_FLAGS)
@pytest.mark.parametrize(("text", "seconds"), [("1m", 60), ("90s", 90), ("1h", 3600), ("90", 90), ("1.5s", 1.5)])
def test_duration_flags_take_what_the_config_takes(flag: str, text: str, seconds: float) -> None:
    args = vars(_exporter_parser().parse_args([flag, text]))
    dest = next(row.dest for row in EXPORTER_FLAGS if row.name == flag)
    assert args[dest] == seconds == duration(Ctx("config.yaml", "scrape.timeout", 1, {}), text)


def test_the_auto_reload_interval_takes_hours_and_minutes_and_zero_for_off() -> None:
    assert _exporter_parser().parse_args(["--config.auto-reload-interval", "1h30m"]).auto_reload == 5400
    assert _exporter_parser().parse_args(["--config.auto-reload-interval=500ms"]).auto_reload == 0.5
    assert _exporter_parser().parse_args(["--config.auto-reload-interval", "0"]).auto_reload == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--config.auto-reload-interval", "5 minutes"],
            "argument --config.auto-reload-interval: expected a duration from 0.01s to 24h such as 30s, 1m or 1h30m"
            " (a plain number is seconds), or 0 for off, got '5 minutes'",
        ),
        (["--config.auto-reload-interval", "2d"], "got '2d'"),
        (["--config.auto-reload-interval", "25h"], "from 0.01s to 24h"),
        (["--web.header-timeout", "0"], "argument --web.header-timeout: expected a duration from 0.001s to 1h"),
        (["--web.header-timeout", "nan"], "got 'nan'"),
        (["--web.header-timeout=-5s"], "got '-5s'"),
    ],
)
def test_a_bad_duration_is_refused_with_what_is_expected(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_config_refuses_what_the_flags_refuse() -> None:
    with pytest.raises(ConfigError, match="expected a number of seconds or a duration"):
        duration(Ctx("config.yaml", "scrape.timeout", 3, {}), "5 minutes")


def test_every_flag_is_in_the_readme() -> None:
    usage = README[README.index("## Endpoints and flags") :]
    missing = [row.name for row in EXPORTER_FLAGS + LOGGING_FLAGS if not re.search(re.escape(row.name) + r"\b", usage)]
    assert missing == []
