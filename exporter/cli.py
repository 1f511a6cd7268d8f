"""Command line: flags, logging set-up, and the three programs (exporter, `simulate`, `demo`).

huaweicloud-task-exporter --config.file F [--web.listen-address HOST:PORT] [--log.level L] [--log.format F]
huaweicloud-task-exporter --config.file F --config.check
huaweicloud-task-exporter simulate --listen HOST:PORT [--scenario FILE] [--latency S] [--running-tasks N]
huaweicloud-task-exporter demo [--web.listen-address HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from exporter import __version__
from exporter.config import Config, ConfigError, load_config
from exporter.exposition.listener import DEFAULT_HEADER_TIMEOUT
from exporter.log import LEVELS, setup_logging
from exporter.model import Shard, State, TaskStatus
from exporter.schema import WithoutSecrets, parse_duration
from exporter.services import BadResponse, body_error, read_status
from exporter.services.calls import describe_calls
from exporter.services.explain import identity_lines, parent_lines

if TYPE_CHECKING:
    import ssl

    from aiohttp import web

    from exporter.app import Exporter
    from exporter.exposition.listener import Serving
    from exporter.simulator import AccessKey, RunningSimulator, Scenario

__all__ = ["DEFAULT_LISTEN", "main", "parse_listen", "parse_shard"]

DEFAULT_LISTEN = "0.0.0.0:9898"
log = structlog.get_logger(__name__)


def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or '[::1]:PORT' -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT such as 0.0.0.0:9898, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass(frozen=True)
class Flag:
    """One command-line flag: a row of `EXPORTER_FLAGS` or `LOGGING_FLAGS`, added to a parser by `_add_flags`.
    `read` turns the text into the value (a duration flag reads with `_duration`, as the config does)."""

    name: str
    dest: str
    help: str | None = None
    read: Callable[[str], Any] | None = None
    default: Any = None
    metavar: str | tuple[str, ...] | None = None
    action: str | None = None
    nargs: int | None = None
    choices: Sequence[str] | None = None


def _duration(minimum: float, maximum: float, *, off: bool = False) -> Callable[[str], float]:
    """A duration flag's reader: what the config takes (`parse_duration`: 90, 30s, 1m, 1h30m, 500ms), from
    minimum to maximum seconds, and 0 when `off`."""

    def read(value: str) -> float:
        seconds = parse_duration(value)
        if seconds is None or not (minimum <= seconds <= maximum or (off and seconds == 0)):
            raise argparse.ArgumentTypeError(
                f"expected a duration from {_written(minimum)} to {_written(maximum)} such as 30s, 1m or 1h30m "
                f"(a plain number is seconds){', or 0 for off' if off else ''}, got {value!r}"
            )
        return seconds

    read.__name__ = "duration"  # argparse names the reader in its error for a value it raises on
    return read


def _written(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds:g}s"


LOGGING_FLAGS = (
    Flag("--log.level", "log_level", read=str.lower, choices=LEVELS, default="info"),
    Flag("--log.format", "log_format", "default: console on a terminal, json otherwise", choices=("json", "console")),
)

EXPORTER_FLAGS = (
    Flag("--config.file", "config_file", "default: %(default)s", default="config.yaml"),
    Flag(
        "--config.check",
        "config_check",
        "validate the configuration file, print what is wrong, exit 0 or 1",
        action="store_true",
    ),
    Flag(
        "--config.auto-reload-interval",
        "auto_reload",
        "re-read the configuration file when it changes, looking every DURATION (e.g. 30s or 1m; "
        "default 0: only on SIGHUP, or POST /-/reload with --web.enable-lifecycle)",
        read=_duration(0.01, 86400, off=True),
        default=0.0,
        metavar="DURATION",
    ),
    Flag(
        "--config.without-secrets",
        "without_secrets",
        "with --config.check, where the secrets are not (CI): unset ${ENV} variables and unreadable "
        "secret files are listed, not errors",
        action="store_true",
    ),
    Flag(
        "--web.listen-address",
        "listen",
        "default: %(default)s",
        read=parse_listen,
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
    ),
    Flag(
        "--web.intake-address",
        "intake_listen",
        "serve the intake doors (POST /intake/smn, /intake/cloudevents) on this address of their own, with "
        "the same TLS and basic auth; they then answer 404 on --web.listen-address (default: on that one)",
        read=parse_listen,
        default=None,
        metavar="HOST:PORT",
    ),
    Flag(
        "--web.enable-lifecycle",
        "lifecycle",
        "allow POST /-/reload (as Prometheus; without it, 403): anyone who reaches the port could use it. "
        "SIGHUP reloads either way",
        action="store_true",
    ),
    Flag(
        "--web.header-timeout",
        "header_timeout",
        "close a connection that has not sent its request headers by then (default: %(default)ss)",
        read=_duration(0.001, 3600),
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="DURATION",
    ),
    Flag(
        "--web.max-connections",
        "max_connections",
        "open connections at most; beyond, the oldest still waiting for its headers is closed "
        "(default: half the file descriptor limit, at most 1024)",
        read=int,
        metavar="N",
    ),
    Flag(
        "--shard.index",
        "shard_index",
        "this exporter's shard, 0 to --shard.count less one; 'hostname': the ordinal at the end of the "
        "host name, as a StatefulSet names its pods (exporter-2 -> 2) (default: %(default)s)",
        default="0",
        metavar="N|hostname",
    ),
    Flag(
        "--shard.count",
        "shard_count",
        "how many exporters share the tasks, each polling those whose key hashes to its index (default: 1)",
        read=int,
        default=1,
        metavar="N",
    ),
    Flag(
        "--web.config.file",
        "web_config",
        "TLS and basic auth for the listener, in the Prometheus exporter toolkit's format",
        default="",
        metavar="FILE",
    ),
    Flag(
        "--service.try",
        "service_try",
        "with --config.check: read BODY.json (a status API answer) with the spec of SERVICE (built-in or "
        "custom_services) and print what the exporter reads from it",
        default=[],  # argparse copies it before appending
        metavar=("SERVICE", "BODY.json"),
        action="append",
        nargs=2,
    ),
)


def _add_flags(parser: argparse.ArgumentParser, flags: Sequence[Flag]) -> None:
    for flag in flags:
        options = {
            "dest": flag.dest,
            "help": flag.help,
            "type": flag.read,
            "default": flag.default,
            "metavar": flag.metavar,
            "action": flag.action,
            "nargs": flag.nargs,
            "choices": flag.choices,
        }
        parser.add_argument(flag.name, **{key: value for key, value in options.items() if value is not None})


def _logging_flags(parser: argparse.ArgumentParser) -> None:
    _add_flags(parser, LOGGING_FLAGS)


def _exporter_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="huaweicloud-task-exporter",
        description="Prometheus exporter for the asynchronous tasks of Huawei Cloud and Open Telekom Cloud.",
        epilog="subcommands (each with its own --help):\n"
        "  huaweicloud-task-exporter simulate [--listen HOST:PORT] [--scenario FILE]   the built-in fake cloud\n"
        "  huaweicloud-task-exporter demo [--web.listen-address HOST:PORT]             fake cloud and exporter",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_flags(parser, EXPORTER_FLAGS)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _logging_flags(parser)
    return parser


def _read_body(body_file: str) -> tuple[Any, str]:
    """A sample answer's JSON, or why it could not be read."""
    try:
        return json.loads(Path(body_file).read_text(encoding="utf-8")), ""
    except OSError as exc:
        return None, f"cannot read {body_file}: {exc.strerror}"
    except ValueError as exc:
        return None, f"{body_file} is not JSON: {exc}"


def _try_service(config: Config, service: str, body_file: str) -> int:
    """What the exporter reads from one sample answer: the way to debug a spec without a cloud."""
    spec = config.services.get(service)
    if spec is None:
        print(f"--service.try: no service {service!r}; known: {', '.join(sorted(config.services))}", file=sys.stderr)
        return 1
    body, why = _read_body(body_file)
    if why:
        print(f"--service.try: {why}", file=sys.stderr)
        return 1
    listed = parent_lines(spec, body)
    if listed is not None:  # a parent list's answer (`parents:`), not a status
        print("\n".join([f"{service}: {body_file}:", *listed, *identity_lines(spec)]))
        return 0
    zone = next((t.time_zone for t in config.targets if t.cloud_service == service), UTC)
    try:
        status = read_status(
            spec, body, zone, lambda raw: print(f"  note: raw status {raw!r} is not in the state table")
        )
    except BadResponse as exc:
        found = body_error(None, spec.status.error_in_200, body)
        if found is not None:
            print(f"{service}: {body_file}: an error answer: {found[0]}: {found[1]}")
            return 0
        print(f"{service}: {body_file}: a bad response: {exc}", file=sys.stderr)
        return 1
    print(f"{service}: {body_file}:")
    for line in describe_calls(spec):
        print(f"  {line}")
    _print_status(status)
    for line in identity_lines(spec):
        print(line)
    return 0


def _print_status(status: TaskStatus) -> None:
    for name in ("state", "raw_status", "progress", "remaining", "start", "end", "job_type", "job_name",
                 "resource_id", "error_code", "error_message"):  # fmt: skip
        value = getattr(status, name)
        if name in ("start", "end") and value is not None:
            value = f"{value} ({datetime.fromtimestamp(value, UTC).isoformat()})"
        print(f"  {name}: {value.value if isinstance(value, State) else value}")
    if status.sub_tasks is not None:
        print("  sub_tasks: " + ", ".join(f"{state.value} {n}" for state, n in status.sub_tasks.items() if n))


def _check_regions(config: Config, *, ask: bool) -> tuple[int, int]:
    """Print the targets `regions:` expands to (IAM asked) and the region errors; (1 if there are any, the
    number of targets IAM's answers added)."""
    from exporter.tracking.regions import check_regions

    checked = asyncio.run(check_regions(config, ask=ask))
    for line in checked.lines:
        print(line)
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in checked.errors:
        print(f"error: {error}", file=sys.stderr)
    if checked.errors:
        print(f"invalid configuration: {len(checked.errors)} region error(s)", file=sys.stderr)
    return (1 if checked.errors else 0), checked.added


async def _wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()


async def _run_exporter(args: argparse.Namespace, shard: Shard) -> int:
    """Serve until SIGINT or SIGTERM: the web listener, and the intake's own with --web.intake-address."""
    from exporter.app import Exporter
    from exporter.exposition.intake import desk_of
    from exporter.exposition.server import make_app, make_intake_app
    from exporter.exposition.webconfig import WebConfig, load_web_config

    try:
        config = load_config(args.config_file)
        web = load_web_config(args.web_config) if args.web_config else WebConfig()
    except ConfigError as exc:
        log.error("invalid configuration", error=str(exc))
        return 1
    exporter = Exporter(config, shard=shard)
    desk = desk_of(exporter) if args.intake_listen else None
    apps = [(make_app(exporter, web.users, lifecycle=args.lifecycle, intake=desk), args.listen)]
    if desk is not None:
        apps.append((make_intake_app(desk, web.users), args.intake_listen))
    servings = await _listen(apps, args, web.ssl_context)
    if servings is None:
        await exporter.aclose()
        return 1
    log.info(
        "exporter listening",
        address=f"{'https' if web.ssl_context else 'http'}://{args.listen[0]}:{args.listen[1]}/metrics",
        intake_address=f"{args.intake_listen[0]}:{args.intake_listen[1]}" if desk is not None else "",
        intake=[name for name in ("smn", "cloudevents") if getattr(config.intake, name) is not None],
        basic_auth=bool(web.users),
        shard=f"{shard.index}/{shard.count}",
        config_auto_reload=f"every {args.auto_reload:g}s" if args.auto_reload else "off",
        lifecycle=args.lifecycle,
        version=__version__,
        targets=len(config.targets),
        regions_targets=len(config.region_targets),  # a target per region once IAM answers
        tasks=sum(len(t.tasks) for t in config.targets),
    )
    try:
        await _reload_until_stopped(exporter, args.auto_reload)
    finally:
        for serving in servings:
            await serving.stop()
    return 0


async def _listen(
    apps: list[tuple[web.Application, tuple[str, int]]], args: argparse.Namespace, tls: ssl.SSLContext | None
) -> list[Serving] | None:
    """Serve each app on its address (the same TLS and guards); None, said, when one cannot listen."""
    from exporter.exposition.server import serve

    servings: list[Serving] = []
    for app, (host, port) in apps:
        try:
            serving = await serve(
                app,
                host,
                port,
                header_timeout=args.header_timeout,
                max_connections=args.max_connections,
                ssl_context=tls,
            )
            servings.append(serving)
        except OSError as exc:  # the address is taken, or not this host's
            for serving in servings:
                await serving.stop()
            print(f"huaweicloud-task-exporter: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return None
    return servings


async def _reload_until_stopped(exporter: Exporter, auto_reload: float) -> None:
    """Reload on SIGHUP (and every auto_reload seconds if the file changed) until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[str | None]] = set()  # referenced until done, so none is collected mid-run

    def reload_on_sighup() -> None:
        task = asyncio.ensure_future(exporter.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload_on_sighup)
    watching = asyncio.ensure_future(exporter.watch_config(auto_reload)) if auto_reload else None
    try:
        await _wait_for_signal()
    finally:
        if watching is not None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching


def _simulate(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="huaweicloud-task-exporter simulate",
        description="The built-in fake cloud: status APIs, IAM and a scenario. A config of its tasks goes to "
        "stdout (simulate > config.yaml); the credentials it accepts and the logs go to stderr.",
    )
    parser.add_argument("--listen", type=parse_listen, default="127.0.0.1:9899", metavar="HOST:PORT")
    parser.add_argument("--scenario", default=None, help="scenario YAML file (default: the built-in scenario)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API answer")
    parser.add_argument("--running-tasks", type=int, default=0, help="extra EVS tasks that stay RUNNING")
    parser.add_argument(
        "--churn", action="store_true", help="keep creating tasks while running (EVS, CodeArts and CPH generators)"
    )
    _logging_flags(parser)
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    from exporter.simulator import serve as serve_simulator

    host, port = args.listen
    try:
        serve_simulator(
            host,
            port,
            scenario_file=args.scenario,
            latency=args.latency,
            extra_running_tasks=args.running_tasks,
            churn=args.churn,
            on_ready=_print_simulator,
        )
    except (ValueError, OSError) as exc:  # a bad scenario file (ScenarioError), a taken port
        print(f"simulate: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_simulator(running: RunningSimulator) -> None:
    """What a user needs to point a config at the fake cloud: a config of its tasks on stdout (so that
    `simulate > config.yaml` writes it), and on stderr, with the logs, the credentials and projects its
    scenario accepts (a --scenario file's own, or the demo ones)."""
    from exporter.demo import demo_config
    from exporter.simulator import DEFAULT_PROJECT_ID

    scenario = running.simulator.scenario
    keys = [key for key in scenario.access_keys if key.security_token is None]  # a temporary one needs more
    projects = dict.fromkeys(t.project_id for t in scenario.targets() if t.project_id) or [DEFAULT_PROJECT_ID]
    config = demo_config(running.url, scenario.targets(), _simulator_auth(scenario, keys), by="simulate")
    print(config, end="", flush=True)
    print(
        f"huaweicloud-task-exporter simulate: the fake cloud at {running.url}\n"
        f"  token (X-Auth-Token):    {', '.join(scenario.static_tokens) or 'none'}\n"
        f"  AK/SK:                   {', '.join(f'{k.access_key} / {k.secret_key}' for k in keys) or 'none'}\n"
        f"  IAM password login:      user {scenario.iam_user}, domain {scenario.iam_domain}, password "
        f"{scenario.iam_password} (iam_endpoint: {running.url})\n"
        f"  project_id:              {', '.join(projects)}\n"
        f"  ({_simulator_values(scenario)})\n"
        "A config that tracks every task of its scenario (every account needs cloud: custom) is on stdout: "
        "huaweicloud-task-exporter simulate > config.yaml",
        file=sys.stderr,
        flush=True,
    )


def _simulator_values(scenario: Scenario) -> str:
    from exporter.simulator import DEFAULT_ACCESS_KEYS, DEMO_DOMAIN, DEMO_PASSWORD, DEMO_TOKEN, DEMO_USER

    accepted = (scenario.static_tokens, scenario.access_keys, scenario.iam_domain, scenario.iam_user,
                scenario.iam_password)  # fmt: skip
    if accepted == ((DEMO_TOKEN,), DEFAULT_ACCESS_KEYS, DEMO_DOMAIN, DEMO_USER, DEMO_PASSWORD):
        return "demo values published with the fake cloud, not secrets"
    return "the scenario's own values"


def _simulator_auth(scenario: Scenario, keys: Sequence[AccessKey]) -> dict[str, object]:
    """The auth block of the printed config: the scenario's first token, else its first (permanent)
    access key, else its IAM user."""
    if scenario.static_tokens:
        return {"type": "token", "token": scenario.static_tokens[0]}
    if keys:
        return {"type": "aksk", "access_key": keys[0].access_key, "secret_key": keys[0].secret_key}
    return {"type": "password", "user_name": scenario.iam_user, "domain_name": scenario.iam_domain,
            "password": scenario.iam_password}  # fmt: skip


def _demo(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="huaweicloud-task-exporter demo", description="Fake cloud and exporter in one process."
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        type=parse_listen,
        default="127.0.0.1:9898",
        metavar="HOST:PORT",
    )
    parser.add_argument(
        "--web.enable-lifecycle", dest="lifecycle", action="store_true", help="allow POST /-/reload (SIGHUP always)"
    )
    _logging_flags(parser)
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format or "console")
    from exporter.demo import run_demo

    host, port = args.listen
    return asyncio.run(run_demo(host, port, lifecycle=args.lifecycle))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        return _simulate(argv[1:])
    if argv and argv[0] == "demo":
        return _demo(argv[1:])
    args = _exporter_parser().parse_args(argv)
    if args.without_secrets and not args.config_check:
        print("huaweicloud-task-exporter: --config.without-secrets goes with --config.check", file=sys.stderr)
        return 2
    if args.config_check:
        return _check_config(args)
    return _exporter(args)


def _check_config(args: argparse.Namespace) -> int:
    """--config.check: validate the file, print its targets and warnings, and read each --service.try."""
    setup_logging("warning", args.log_format or "console")
    env = WithoutSecrets(os.environ) if args.without_secrets else None
    try:
        config = load_config(args.config_file, env=env)
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 1
    finally:
        for note in env.notes if env is not None else ():
            print(f"not checked: {note}", file=sys.stderr)
    tasks = sum(len(t.tasks) for t in config.targets)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for target in config.targets:
        print(f"  {'/'.join(part for part in target.key if part)}: {target.endpoint}")
    regions, added = _check_regions(config, ask=not args.without_secrets)
    if not regions:  # else the region errors said "invalid configuration"
        print(f"{args.config_file}: valid ({_counts(config, added, tasks)})")
    return max([regions, *(_try_service(config, service, body) for service, body in args.service_try)])


def _counts(config: Config, added: int, tasks: int) -> str:
    """The summary's counts: the targets written, and those IAM's answers added for the `regions:` entries."""
    targets = f"{len(config.targets) + added} targets"
    if config.region_targets:
        entries = len(config.region_targets)
        targets += f" ({added} from IAM for {entries} 'regions:' {'entry' if entries == 1 else 'entries'})"
    return f"{len(config.accounts)} accounts, {targets}, {tasks} tasks"


def _exporter(args: argparse.Namespace) -> int:
    """The exporter itself, until SIGINT or SIGTERM."""
    setup_logging(args.log_level, args.log_format)
    try:
        shard = parse_shard(args.shard_index, args.shard_count, socket.gethostname())
    except ValueError as exc:
        print(f"huaweicloud-task-exporter: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run_exporter(args, shard))


def parse_shard(index: str, count: int, hostname: str) -> Shard:
    """--shard.index and --shard.count -> Shard; 'hostname' takes the ordinal at the end of the host
    name (a StatefulSet's pod huaweicloud-task-exporter-2 is shard 2)."""
    if index == "hostname":
        match = re.search(r"-(\d+)$", hostname)
        if match is None:
            raise ValueError(f"--shard.index hostname: {hostname!r} does not end in -N, as a StatefulSet's pods do")
        index = match.group(1)
    if not index.isdigit():
        raise ValueError(f"--shard.index: expected a number or 'hostname', got {index!r}")
    return Shard(int(index), count)
