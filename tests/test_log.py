"""The repeated-line rule (`exporter.log`): the helper, and every line that can come once per request,
query, task or connection, each driven ten times through the exporter's own code and written twice
(the 1st and the 10th time) with the count. Each call of `repeated` in the package has its row here."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from prometheus_client import CollectorRegistry

import exporter
from exporter.app import Exporter
from exporter.cloud.client import ApiClient
from exporter.config import parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.exposition.server import make_app, serve
from exporter.log import MAX_KEYS, REPEATS, Repeats, repeated, said
from exporter.services import UnknownStatuses
from exporter.tracking import Tracker
from tests.conftest import EVS_TASK, MINIMAL, PROJECT
from tests.test_client import PASSWORD_CONFIG
from tests.test_fanout import open_stack
from tests.test_lifecycle import DISCOVERY, EVS, Cloud, evs_config, setup
from tests.test_tracker import early_take_run

Logs = list[MutableMapping[str, Any]]
ENV = {"HWC_TOKEN": "token-value-from-env"}
CODEARTS = f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: t}}}}]
services:
  - {{cloud_service: codearts_check, account: prod, region: cn-north-4, endpoint: "http://codearts.test"}}
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://evs.test"}}
"""
UNKNOWN_TASK = {"error_code": "CC.00050013", "error_msg": "project not exist"}  # CodeArts' answer, in an HTTP 200


# --- the helper ------------------------------------------------------------------------------------


def test_said_is_the_first_time_and_every_power_of_ten() -> None:
    assert [n for n in range(1, 100_001) if said(n)] == [1, 10, 100, 1000, 10_000, 100_000]
    assert not said(0) and not said(-1)


def test_repeats_count_each_event_and_key_apart() -> None:
    repeats = Repeats()
    assert [repeats.count("a", "x") for _ in range(3)] == [1, 2, 3]
    assert repeats.count("a", "y") == 1  # another key of the event
    assert repeats.count("b", "x") == 1  # the same key of another event
    assert repeats.count("a") == repeats.count("b") == 1  # no key: the event alone
    repeats.clear()
    assert repeats.count("a", "x") == 1


def test_keys_beyond_the_bound_share_one_count() -> None:
    """However many keys a client or the cloud makes up, an event keeps `max_keys` counts and its lines
    stay few."""
    repeats = Repeats(max_keys=3)
    assert [repeats.count("e", k) for k in ("a", "b", "c")] == [1, 1, 1]
    assert [repeats.count("e", f"new-{n}") for n in range(12)] == list(range(1, 13))  # one count for the rest
    assert repeats.count("e", "a") == 2  # the keys told apart keep theirs
    assert repeats.count("other", "new-0") == 1  # the bound is per event
    lines: list[tuple[str, dict[str, Any]]] = []
    for n in range(1000):
        repeats.log(lambda event, **fields: lines.append((event, fields)), "flood", f"key-{n}", n=n)
    assert len(lines) == 3 + 3  # the 3 keys told apart once each, then the shared count at 1, 10, 100
    assert MAX_KEYS >= 1000  # every configured target of a large deployment is told apart


def test_repeated_logs_through_the_given_method_with_the_count() -> None:
    with structlog.testing.capture_logs() as logs:
        log = structlog.get_logger("test")
        written = [repeated(log.warning, "something odd", ("prod", "evs"), detail=n) for n in range(1, 101)]
        repeated(log.info, "something odd", ("prod", "dws"), detail=0)
    assert written.count(True) == 3 and written[0] and written[9] and written[99]
    assert [(e["log_level"], e["count"], e["detail"]) for e in logs] == [
        ("warning", 1, 1),
        ("warning", 10, 10),
        ("warning", 100, 100),
        ("info", 1, 0),
    ]


def test_the_counts_are_the_processs() -> None:
    """They outlive a reload's new client, as a broken service does (tests clear them: conftest)."""
    REPEATS.count("an event", "a key")
    assert REPEATS.count("an event", "a key") == 2


# --- every repeated line ---------------------------------------------------------------------------

Trigger = Callable[[Path, pytest.MonkeyPatch], Awaitable[None]]
ROWS: dict[str, Trigger] = {}


def row(event: str) -> Callable[[Trigger], Trigger]:
    def register(trigger: Trigger) -> Trigger:
        ROWS[event] = trigger
        return trigger

    return register


async def queries(text: str, handler: Callable[[httpx.Request], httpx.Response], times: int = 10) -> None:
    """`times` status queries of the first target's task through one client."""
    config = parse_config(text, env=ENV)
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(handler))
    try:
        for _ in range(times):
            await client.query(config.targets[0], EVS_TASK, 5)
    finally:
        await client.aclose()


@row("the cloud answered an error with HTTP 200")
async def _error_in_200(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await queries(CODEARTS, lambda _r: httpx.Response(200, json=UNKNOWN_TASK))


@row("bad response from the cloud; the task keeps its last known values")
async def _bad_response(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await queries(MINIMAL, lambda _r: httpx.Response(200, content=b"<html>"))


@row("unexpected error in a cloud API request")
async def _unexpected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_request: httpx.Request) -> httpx.Response:
        raise LookupError("a bug under the client")

    await queries(MINIMAL, broken)


def iam(expires: bool) -> Callable[[httpx.Request], httpx.Response]:
    """IAM hands out a token (with or without its expiry); the service refuses every one with 401."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v3/auth/tokens":
            token = {"expires_at": "2099-01-01T00:00:00.000000Z"} if expires else {}
            return httpx.Response(201, headers={"X-Subject-Token": "a-token"}, json={"token": token})
        return httpx.Response(401, json={"error_msg": "token scope", "error_code": "APIGW.0301"})

    return handler


@row("token refused with 401; logging in again")
async def _token_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await queries(PASSWORD_CONFIG, iam(expires=True))  # each query's 401 logs in again (no pause: a scope)


@row("IAM token answer without a readable expires_at; renewing within the hour")
async def _no_expiry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await queries(PASSWORD_CONFIG, iam(expires=False))  # a login for each query's 401 (and the first)


class Raising:
    """A client whose every status query raises (a bug), for the refresh's workers."""

    def new_refresh(self) -> None:
        pass

    def lone_first(self, account: str) -> bool:
        return False

    async def query(self, *args: Any) -> Any:
        raise LookupError("a bug in the client")

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no list calls here")


@row("task query raised")
async def _query_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(evs_config(EVS[:10]), env={"T": "t"})
    await Tracker(config, Raising()).refresh(5)  # ten tasks, one refresh


@row("discovery failed; keeping the tasks found before")
async def _discovery_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud = Cloud()
    cloud.lists_fail = True
    _, tracker, _, now = setup(DISCOVERY, cloud)
    for _ in range(10):
        await tracker.refresh(10)
        now[0] += 301  # the discovery interval is 5 minutes


@row("parent list failed; keeping the parents known before")
async def _parents_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_stack(tmp_path) as stack:
        stack.cloud.parents_fail = True
        for _ in range(10):
            await stack.scrape()
            stack.now[0] += 61  # a failed parent list is asked again after a minute


@row("a list answered fewer items than its total")
async def _fewer_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cloud(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tasks"):
            return httpx.Response(200, json={"tasks": [], "total": 5})
        return httpx.Response(200, json={"jobs": []})

    config = parse_config(DISCOVERY, env={"T": "t"})
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    now = [1000.0]
    tracker = Tracker(config, client, clock=lambda: now[0])
    for _ in range(10):
        await tracker.refresh(10)
        now[0] += 301
    await client.aclose()


@row("a list item could not be read; skipped")
async def _odd_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(UnknownStatuses):
        def note(self, cloud_service: str, raw: str) -> None:
            raise LookupError("a bug in hearing a raw status")

    def cloud(request: httpx.Request) -> httpx.Response:
        jobs = [{"job_id": f"ce11{n:028x}", "status": 7} for n in range(10)]  # 7: outside CPH's table
        return httpx.Response(200, json={"request_id": "f" * 32, "jobs": jobs})

    config = parse_config(DISCOVERY, env={"T": "t"})
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    await Tracker(config, client, unknown=Broken()).refresh(10)
    await client.aclose()


@row("the list shows a newer check; asking the task's status again")
async def _newer_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud = Cloud()
    cloud.codearts_tasks = [f"c0de{n:028x}" for n in range(10)]
    cloud.last_checks = dict.fromkeys(cloud.codearts_tasks, "2026-11-20T00:00:00Z")
    cloud.codearts_status = 2  # succeeded: final
    _, tracker, _, now = setup(DISCOVERY, cloud)
    now[0] = 1_795_000_000.0
    await tracker.refresh(10)
    cloud.last_checks = dict.fromkeys(cloud.codearts_tasks, "2026-11-21T00:00:00Z")  # ten tasks checked again
    now[0] += 301
    await tracker.refresh(10)


@row("task file entry matches no configured target")
async def _unmatched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = "".join(f"  - {{cloud_service: evs, task_id: {t}, region: eu-de}}\n" for t in EVS[:10])
    (tmp_path / "t.yaml").write_text("tasks:\n" + entries)
    _, tracker, _, _ = setup(evs_config([], "", f"task_files: ['{tmp_path}/*.yaml']"), Cloud())
    await tracker.settle_files()


@row("task file entry matches several targets; add account, region or project_id")
async def _ambiguous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = "".join(f"  - {{cloud_service: evs, task_id: {t}}}\n" for t in EVS[:10])
    (tmp_path / "t.yaml").write_text("tasks:\n" + entries)
    text = evs_config([], "", f"task_files: ['{tmp_path}/*.yaml']")
    text += (
        f'  - {{cloud_service: evs, account: prod, region: eu-de, project_id: {PROJECT}, endpoint: "http://e.test"}}\n'
    )
    _, tracker, _, _ = setup(text, Cloud())
    await tracker.settle_files()


@row("task file problem")
async def _file_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipeline rewrites its file ten times with the same bad entry."""
    path = tmp_path / "t.yaml"
    path.write_text("tasks: [{cloud_service: evs, task_id: not-an-id}]\n")
    _, tracker, _, _ = setup(evs_config([], "", f"task_files: ['{tmp_path}/*.yaml']"), Cloud())
    await tracker.settle_files()
    for n in range(9):
        path.write_text(f"# run {n}\ntasks: [{{cloud_service: evs, task_id: not-an-id}}]\n")
        tracker.files_due()
        await tracker.settle_files()


@row("tasks left the output")
async def _left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud = Cloud()
    cloud.jobs = dict.fromkeys(EVS[:10], "RUNNING")
    # poll_interval 0: each refresh (a second apart) asks every running task, so one ends on each
    _, tracker, _, now = setup(evs_config(EVS[:10], "tracking: {finished_ttl: 0s, poll_interval: 0}"), cloud)
    for task in EVS[:10]:  # one task ends, and leaves, on each refresh
        cloud.jobs[task] = "SUCCESS"
        now[0] += 1
        await tracker.refresh(5)


@row("rendering answers early failed; the scrape renders them")
async def _render_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise LookupError("a bug in rendering")

    for _ in range(10):
        await early_take_run(broken)


@row("taking answers in early failed; the refresh takes them in when it ends")
async def _take_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_early(tracker: Tracker) -> None:
        take = tracker._take_answers
        calls: list[int] = []

        def flaky(*args: Any) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise LookupError("a bug in the table")
            take(*args)

        monkeypatch.setattr(tracker, "_take_answers", flaky)

    for _ in range(10):
        await early_take_run(lambda: None, change=fail_early)


@row("refresh failed; serving the last known values")
async def _refresh_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running = Exporter(parse_config(MINIMAL, env=ENV))

    async def broken(timeout: float) -> None:
        raise LookupError("a bug in the refresh")

    monkeypatch.setattr(running, "refresh", broken)
    serving = await serve(make_app(running), "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
            for _ in range(10):
                assert (await http.get("/metrics")).status_code == 200  # the last known values
    finally:
        await serving.stop()
        await running.aclose()


@row("unknown raw task status; reported as state 'unknown'")
async def _unknown_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cloud(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "PENDING_PAYMENT", "job_id": EVS_TASK})

    await queries(MINIMAL, cloud)


@row("intake message refused")
async def _intake_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten malformed bodies at the CloudEvents door (any message the intake refuses says this)."""
    from exporter.exposition.intake import IntakeDesk
    from exporter.intake import Result

    config = parse_config(MINIMAL, env=ENV)
    desk = IntakeDesk(lambda: config, lambda key, job_id: False, lambda: None, lambda source, result: None)
    for _ in range(10):
        desk.answer("cloudevents", Result.MALFORMED, "not a CloudEvent")


@row("SMN certificates unusable; refusing SMN messages")
async def _smn_store_unusable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pinned certificate read at load and gone since: each SMN message meets it."""
    from exporter.exposition.intake import IntakeDesk
    from exporter.simulator.push import FakePki

    pinned = tmp_path / "smn.pem"
    pinned.write_bytes(FakePki.generate().signing_cert_pem)
    urn = f"urn:smn:cn-north-4:{PROJECT}:t"
    text = MINIMAL + f"intake: {{smn: {{topics: [{{urn: '{urn}', account: prod}}], certificate_files: [{pinned}]}}}}\n"
    config = parse_config(text, env=ENV)
    pinned.unlink()
    desk = IntakeDesk(lambda: config, lambda key, job_id: False, lambda: None, lambda source, result: None)
    assert config.intake.smn is not None
    for _ in range(10):
        assert desk.receiver(config.intake.smn) is None


@row("password check failed; answering 401")
async def _password_check_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bcrypt
    from aiohttp import web

    from exporter.exposition.webconfig import BasicAuth

    async def broken(self: BasicAuth, header: str, client: str) -> bool:
        raise LookupError("a bug in the check")

    monkeypatch.setattr(BasicAuth, "check", broken)
    auth = BasicAuth({"prometheus": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4))})

    async def inside(_request: web.Request) -> web.Response:
        return web.Response(text="in")

    app = web.Application(middlewares=[auth.middleware])
    app.router.add_get("/", inside)
    serving = await serve(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}") as http:
            for _ in range(10):
                assert (await http.get("/", auth=("prometheus", "pw"))).status_code == 401  # shut, not open
    finally:
        await serving.stop()
        auth.close()


@pytest.fixture
def logs_() -> Iterator[Logs]:
    """Every line, whatever its level."""
    with structlog.testing.capture_logs() as logs:
        yield logs


@pytest.mark.parametrize("event", sorted(ROWS))
async def test_a_repeated_line_is_written_the_first_and_the_tenth_time(
    event: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs_: Logs
) -> None:
    await ROWS[event](tmp_path, monkeypatch)
    assert [e["count"] for e in logs_ if e["event"] == event] == [1, 10]


async def test_a_repeated_line_is_counted_apart_for_each_target_and_code(logs_: Logs) -> None:
    """The key is the target and the code, not the task: another service's first error still shows."""
    await queries(CODEARTS, lambda _r: httpx.Response(200, json=UNKNOWN_TASK))
    config = parse_config(CODEARTS, env=ENV)
    evs = {"error": {"code": "EVS.0001", "message": "busy"}}  # EVS documents an error body among its 200s
    client = ApiClient(
        config,
        SelfMetrics(CollectorRegistry()),
        transport=lambda _a: httpx.MockTransport(lambda _r: httpx.Response(200, json=evs)),
    )
    await client.query(config.targets[1], EVS_TASK, 5)
    await client.aclose()
    said_ = [
        (e["cloud_service"], e["count"]) for e in logs_ if e["event"] == "the cloud answered an error with HTTP 200"
    ]
    assert said_ == [("codearts_check", 1), ("codearts_check", 10), ("evs", 1)]


def calls_of_repeated() -> set[str]:
    """The events of every `repeated(...)` call in the package: a literal, or a module's constant."""
    root = Path(exporter.__file__).parent
    found: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(("exporter", *(parts[:-1] if parts[-1] == "__init__" else parts)))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "repeated"):
                continue
            argument = node.args[1]
            options = [argument.body, argument.orelse] if isinstance(argument, ast.IfExp) else [argument]
            for option in options:
                if isinstance(option, ast.Constant):
                    found.add(str(option.value))
                else:
                    assert isinstance(option, ast.Name), f"{path}:{node.lineno}: the event is not a constant"
                    found.add(getattr(importlib.import_module(name), option.id))
    return found


def test_every_repeated_line_has_a_row() -> None:
    assert calls_of_repeated() == set(ROWS)
