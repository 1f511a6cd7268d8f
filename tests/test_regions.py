"""Whole accounts by region (issue 21, item 3): `regions: all | [..]` targets, IAM project lists (the
exporter's and the fake cloud's), the expansion per region, and --config.check; end to end over real
sockets against the fake cloud, with the SDK core's own project lookup as the oracle of the IAM route."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
import yaml
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import SdkException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkevs.v2 import EvsClient

from exporter.app import Exporter
from exporter.cli import main
from exporter.cloud.iam import IAM_HOSTS, Project, iam_base, region_projects
from exporter.config import ConfigError, RegionTargets, load_config, parse_config
from exporter.exposition.server import make_app, serve
from exporter.simulator import (
    DEFAULT_PROJECT_ID,
    DEMO_ACCESS_KEY,
    DEMO_DOMAIN,
    DEMO_PASSWORD,
    DEMO_SECRET_KEY,
    DEMO_TOKEN,
    DEMO_USER,
    Simulator,
    parse_scenario,
    start_simulator,
)
from tests.test_e2e import samples

P_EAST = "e0000000000000000000000000000003"
P_SG = "a0000000000000000000000000000001"
P_TEAM = "7ea00000000000000000000000000001"
P_MOS = "0000000000000000000000000000a005"
P_OFF = "0ff00000000000000000000000000001"
P_DE = "de000000000000000000000000000001"
P_DUP = "d0b00000000000000000000000000001"
TASKS = {
    DEFAULT_PROJECT_ID: "e1000000000000000000000000000001",  # cn-north-4
    P_EAST: "e1000000000000000000000000000002",
    P_SG: "e1000000000000000000000000000003",
}
REGION_OF = {DEFAULT_PROJECT_ID: "cn-north-4", P_EAST: "cn-east-3", P_SG: "ap-southeast-1"}


def scenario(**iam_projects: object) -> dict[str, Any]:
    extra = [
        {"id": P_MOS, "name": "MOS"},  # OTC's OBS project: not a region
        {"id": P_OFF, "name": "la-south-2", "enabled": False},
        *list(iam_projects.pop("extra", [])),  # type: ignore[call-overload]
    ]
    return {
        "projects": {P_EAST: "cn-east-3", P_SG: "ap-southeast-1", P_TEAM: "cn-east-3_team", P_DE: "eu-de"},
        "iam_projects": {"extra": extra, **iam_projects},
        "tasks": [
            {
                "cloud_service": "evs",
                "task_id": task,
                "project_id": project,
                "phases": [{"after": 0, "status": "RUNNING"}],
            }
            for project, task in TASKS.items()
        ],
    }


def auth_of(kind: str, tmp_path: Path) -> dict[str, object]:
    if kind == "token":
        return {"type": "token", "token": DEMO_TOKEN}
    if kind == "password":
        (tmp_path / "pw").write_text(DEMO_PASSWORD)
        return {
            "type": "password",
            "user_name": DEMO_USER,
            "domain_name": DEMO_DOMAIN,
            "password_file": str(tmp_path / "pw"),
        }
    (tmp_path / "sk").write_text(DEMO_SECRET_KEY)
    return {"type": "aksk", "access_key": DEMO_ACCESS_KEY, "secret_key_file": str(tmp_path / "sk")}


def config_text(url: str, tmp_path: Path, regions: object = "all", auth: str = "aksk", **target: object) -> str:
    account = {"name": "acme", "cloud": "huaweicloud", "iam_endpoint": url, "auth": auth_of(auth, tmp_path)}
    entry = {"cloud_service": "evs", "account": "acme", "regions": regions, "endpoint": url, **target}
    # The tasks of each region, handed over in a file (EVS has no list API).
    files = [{"cloud_service": "evs", "task_id": task, "region": REGION_OF[project]} for project, task in TASKS.items()]
    (tmp_path / "tasks.yaml").write_text(yaml.safe_dump({"tasks": files}))
    document = {"accounts": [account], "services": [entry], "task_files": [str(tmp_path / "tasks.yaml")]}
    return yaml.safe_dump(document, sort_keys=False)


@dataclass
class Stack:
    sim: Simulator
    exporter: Exporter
    http: httpx.AsyncClient
    config_file: Path

    async def scrape(self, tasks: int = 0) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """A scrape; with `tasks`, the first that shows that many (the task files are read in a thread)."""
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            response = await self.http.get("/metrics")
            assert response.status_code == 200
            data = samples(response.text)
            if len(tracked_tasks(data)) >= tasks or asyncio.get_running_loop().time() > deadline:
                return data
            await asyncio.sleep(0.05)


@pytest.fixture
async def stack_factory(tmp_path: Path) -> AsyncIterator[Any]:
    closers: list[Any] = []

    async def start(scenario_data: dict[str, Any], **options: Any) -> Stack:
        sim = Simulator(parse_scenario(scenario_data))
        running = await start_simulator(sim)
        path = tmp_path / "config.yaml"
        path.write_text(config_text(running.url, tmp_path, **options))
        exporter = Exporter(load_config(path))
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30)
        closers.extend([http.aclose, serving.stop, exporter.aclose, running.close])
        return Stack(sim, exporter, http, path)

    yield start
    for close in closers:
        await close()


def up(data: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> dict[tuple[str, str], float]:
    return {
        (dict(ls)["region"], dict(ls)["project_id"]): v for (n, ls), v in data.items() if n == "huaweicloud_task_up"
    }


def tracked_tasks(data: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> dict[str, str]:
    return {
        dict(ls)["task_id"]: dict(ls)["region"]
        for (n, ls), v in data.items()
        if n == "huaweicloud_task_status" and v == 1
    }


def discovery_ok(data: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float | None:
    key = ("huaweicloud_task_region_discovery_successful", frozenset({("account", "acme")}))
    return data.get(key)


# --- end to end --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["aksk", "token", "password"])
async def test_regions_all_serves_every_region_project_of_the_account(stack_factory: Any, auth: str) -> None:
    stack = await stack_factory(scenario(), auth=auth)
    data = await stack.scrape(tasks=3)
    # The region projects where EVS exists: no sub-project, no MOS, no disabled one, not eu-de (an OTC region).
    assert up(data) == {
        ("cn-north-4", DEFAULT_PROJECT_ID): 1.0,
        ("cn-east-3", P_EAST): 1.0,
        ("ap-southeast-1", P_SG): 1.0,
    }
    assert tracked_tasks(data) == {
        TASKS[DEFAULT_PROJECT_ID]: "cn-north-4",
        TASKS[P_EAST]: "cn-east-3",
        TASKS[P_SG]: "ap-southeast-1",
    }
    assert discovery_ok(data) == 1.0
    # One IAM question per account, not one per scrape.
    assert stack.exporter.regions.due(stack.exporter.config) == []


async def test_an_explicit_list_is_served_and_checked_against_iam(stack_factory: Any) -> None:
    stack = await stack_factory(scenario(), regions=["cn-east-3", "cn-south-1"])
    with structlog.testing.capture_logs() as logs:
        data = await stack.scrape()
    assert up(data) == {("cn-east-3", P_EAST): 1.0}
    (event,) = [e for e in logs if e["event"] == "a 'regions' target has a region the exporter cannot serve"]
    assert "account acme has no project for region cn-south-1" in event["detail"]
    assert discovery_ok(data) == 0.0


async def test_iam_refusing_is_said_and_nothing_is_served(stack_factory: Any) -> None:
    stack = await stack_factory(scenario(refuse=True))
    with structlog.testing.capture_logs() as logs:
        data = await stack.scrape()
    assert up(data) == {}
    assert discovery_ok(data) == 0.0
    (event,) = [e for e in logs if e["event"].startswith("IAM did not list the account's projects")]
    assert event["error"].startswith("IAM refused GET ")
    assert "HTTP 403" in event["error"] and "permission to list projects" in event["error"]
    assert DEMO_SECRET_KEY not in str(logs)


async def test_a_region_name_of_several_projects_is_an_error_and_the_others_serve(stack_factory: Any) -> None:
    stack = await stack_factory(scenario(extra=[{"id": P_DUP, "name": "cn-east-3"}]))
    with structlog.testing.capture_logs() as logs:
        data = await stack.scrape()
    assert up(data) == {("cn-north-4", DEFAULT_PROJECT_ID): 1.0, ("ap-southeast-1", P_SG): 1.0}
    assert discovery_ok(data) == 0.0
    details = [e["detail"] for e in logs if e["event"] == "a 'regions' target has a region the exporter cannot serve"]
    assert len(details) == 1
    assert f"IAM lists 2 projects named cn-east-3 ({P_EAST}, {P_DUP}); select one" in details[0]


async def test_a_hand_written_region_keeps_its_own_target(stack_factory: Any, tmp_path: Path) -> None:
    stack = await stack_factory(scenario())
    document = yaml.safe_load(stack.config_file.read_text())
    url = document["accounts"][0]["iam_endpoint"]
    document["services"].append(
        {"cloud_service": "evs", "account": "acme", "region": "cn-east-3", "project_id": P_EAST, "endpoint": url,
         "tasks": [TASKS[P_EAST]]}
    )  # fmt: skip
    stack.config_file.write_text(yaml.safe_dump(document))
    assert await stack.exporter.reload() is None
    data = await stack.scrape()
    assert set(up(data)) == {("cn-north-4", DEFAULT_PROJECT_ID), ("cn-east-3", P_EAST), ("ap-southeast-1", P_SG)}
    static = [t for t in stack.exporter.config.targets if t.region == "cn-east-3"]
    assert [t.tasks for t in static] == [(TASKS[P_EAST],)]  # the hand-written one, not a second


# --- the SDK core as the oracle of the fake IAM ------------------------------------------------------------


@pytest.fixture
def threaded_cloud() -> Iterator[str]:
    """The fake cloud on an event loop of its own (the SDK is synchronous)."""
    sim = Simulator(parse_scenario(scenario(extra=[{"id": P_DUP, "name": "ap-southeast-1"}])))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(start_simulator(sim), loop).result(10)
    try:
        yield running.url
    finally:
        asyncio.run_coroutine_threadsafe(running.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def sdk_project_id(url: str, region: str) -> str:
    """What the SDK core finds: BasicCredentials without a project ID asks IAM (GET /v3/projects?name=)."""
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    credentials = BasicCredentials(DEMO_ACCESS_KEY, DEMO_SECRET_KEY).with_iam_endpoint(url)
    EvsClient.new_builder().with_credentials(credentials).with_region(Region(region, url)).with_http_config(
        config
    ).build()
    return str(credentials.project_id)


def test_the_sdk_core_finds_the_same_projects_in_the_fake_iam(threaded_cloud: str) -> None:
    assert sdk_project_id(threaded_cloud, "cn-east-3") == P_EAST
    with pytest.raises(SdkException, match="Multiple project ids found"):
        sdk_project_id(threaded_cloud, "ap-southeast-1")
    with pytest.raises(SdkException, match="Failed to get project id of region 'cn-south-1'"):
        sdk_project_id(threaded_cloud, "cn-south-1")


def test_the_fake_iam_refuses_a_wrong_signature(threaded_cloud: str) -> None:
    from exporter.cloud.signing import AkSkAuth

    bad = httpx.get(f"{threaded_cloud}/v3/projects", auth=AkSkAuth(DEMO_ACCESS_KEY, "x" * 40))
    assert bad.status_code == 401
    good = httpx.get(f"{threaded_cloud}/v3/projects", auth=AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY))
    assert good.status_code == 200
    assert {p["name"] for p in good.json()["projects"]} >= {"cn-north-4", "cn-east-3", "cn-east-3_team", "MOS"}


# --- --config.check ----------------------------------------------------------------------------------------


async def run_check(path: Path) -> int:
    return await asyncio.to_thread(main, ["--config.file", str(path), "--config.check"])


async def test_config_check_shows_the_regions_a_target_expands_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with await start_simulator(Simulator(parse_scenario(scenario()))) as running:
        path = tmp_path / "config.yaml"
        path.write_text(config_text(running.url, tmp_path))
        assert await run_check(path) == 0
    out, _ = capsys.readouterr()
    assert f"acme/evs/cn-east-3/{P_EAST}: {running.url} (project from IAM)" in out
    assert f"acme/evs/ap-southeast-1/{P_SG}" in out and "la-south-2" not in out


async def test_config_check_says_it_could_not_ask_iam(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with await start_simulator(Simulator(parse_scenario(scenario(refuse=True)))) as running:
        path = tmp_path / "config.yaml"
        path.write_text(config_text(running.url, tmp_path))
        assert await run_check(path) == 0  # not an error: the exporter asks again when it runs
    out, _ = capsys.readouterr()
    assert "account acme: could not list its projects with IAM: IAM refused GET" in out


async def test_config_check_errs_on_a_duplicate_name_and_a_region_iam_does_not_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with await start_simulator(
        Simulator(parse_scenario(scenario(extra=[{"id": P_DUP, "name": "cn-east-3"}])))
    ) as running:
        path = tmp_path / "config.yaml"
        path.write_text(config_text(running.url, tmp_path, regions=["cn-east-3", "cn-south-1"]))
        assert await run_check(path) == 1
    _, err = capsys.readouterr()
    assert "select one: write a target with region: cn-east-3 and its project_id" in err
    assert "account acme has no project for region cn-south-1" in err


TYPO = """
accounts: [{{name: acme, iam_endpoint: "{url}", auth: {{type: token, token: t}}}}]
services:
  - {{cloud_service: evs, account: acme, region: eu-west-10l, project_id: {project}}}
"""


async def test_config_check_errs_on_a_region_no_spec_and_no_iam_knows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    async with await start_simulator(Simulator(parse_scenario(scenario()))) as running:
        path.write_text(TYPO.format(url=running.url, project=P_EAST).replace("token: t", f"token: {DEMO_TOKEN}"))
        assert await run_check(path) == 1
    out, err = capsys.readouterr()
    assert f"{path}:4: services[0].region: eu-west-10l: did you mean eu-west-101?" in err
    assert ": valid (" not in out and "invalid configuration: 1 region error(s)" in err
    assert "no service spec lists this region for huaweicloud and IAM lists no project of that name" in err
    # IAM unreachable: still an error, said so.
    path.write_text(TYPO.format(url="http://127.0.0.1:9", project=P_EAST))
    assert await run_check(path) == 1
    _, err = capsys.readouterr()
    assert "(IAM could not confirm it)" in err


async def test_a_region_iam_lists_is_no_error_without_a_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = scenario()
    data["projects"]["b0000000000000000000000000000001"] = "xx-new-1"
    async with await start_simulator(Simulator(parse_scenario(data))) as running:
        path = tmp_path / "config.yaml"
        path.write_text(
            TYPO.format(url=running.url, project=P_EAST)
            .replace("eu-west-10l", "xx-new-1")
            .replace("token: t", f"token: {DEMO_TOKEN}")
        )
        assert await run_check(path) == 0


# --- units -------------------------------------------------------------------------------------------------


def test_region_projects_keeps_enabled_region_projects_only() -> None:
    found = region_projects(
        (
            Project("p1", "cn-north-4"),
            Project("p2", "cn-north-4_team", parent_id="p1"),
            Project("p3", "MOS"),
            Project("p4", "eu-de"),
            Project("p5", "la-south-2", enabled=False),
            Project("p6", "ap-southeast-1"),
            Project("p7", "ap-southeast-1"),
            Project("p8", "cn-east-3", parent_id="p1"),  # under another project: a sub-project
        )
    )
    assert dict(found.projects) == {"cn-north-4": "p1", "eu-de": "p4"}
    assert dict(found.duplicates) == {"ap-southeast-1": ("p6", "p7")}


def test_iam_hosts_are_the_sdk_core_table_plus_eu_west_101() -> None:
    from huaweicloudsdkcore.auth import endpoint

    account = parse_config(
        "accounts: [{name: a, auth: {type: token, token: t}}, {name: o, cloud: otc, auth: {type: token, token: t}},"
        " {name: c, iam_endpoint: 'https://iam.example.com', auth: {type: token, token: t}}]\nservices: []\n",
        env={},
    ).accounts
    for region, host in IAM_HOSTS["huaweicloud"].items():
        assert endpoint.get_iam_endpoint_by_id(region, "https://iam.eu-west-101.myhuaweicloud.eu") == host
        assert iam_base(account["a"], region) == host
    assert iam_base(account["a"], "eu-west-101") == "https://iam.eu-west-101.myhuaweicloud.eu"
    assert iam_base(account["a"], "cn-north-11") == "https://iam.myhuaweicloud.com"  # the SDK's default
    assert iam_base(account["a"]) == "https://iam.myhuaweicloud.com"
    assert iam_base(account["o"], "eu-nl") == "https://iam.eu-nl.otc.t-systems.com"
    assert iam_base(account["o"]) == "https://iam.eu-de.otc.t-systems.com"
    assert iam_base(account["c"], "cn-north-4") == "https://iam.example.com"


BASE = "accounts: [{name: a, auth: {type: token, token: t}}]\nservices:\n"


def test_config_reads_regions_all_and_a_list() -> None:
    listed = "regions: [cn-north-4, eu-west-101], time_zone: Asia/Shanghai"
    text = BASE + "  - {cloud_service: evs, account: a, regions: all}\n"
    text += f"  - {{cloud_service: dws, account: a, {listed}}}\n"
    config = parse_config(text, env={})
    assert config.targets == ()
    first, second = config.region_targets
    assert isinstance(first, RegionTargets)
    assert (first.cloud_service, first.regions, first.endpoint) == ("evs", (), "")
    assert second.regions == ("cn-north-4", "eu-west-101")
    target = second.target("eu-west-101", P_EAST, "https://x")
    assert target.key == ("a", "dws", "eu-west-101", P_EAST) and str(target.time_zone) == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{cloud_service: evs, account: a, regions: all, region: cn-north-4}", "'region' does not go with 'regions'"),
        (f"{{cloud_service: evs, account: a, regions: all, project_id: {P_EAST}}}", "'project_id' does not go with"),
        (f"{{cloud_service: evs, account: a, regions: all, tasks: [{P_EAST}]}}", "a task ID belongs to one region"),
        ("{cloud_service: evs, account: a, regions: [eu-west-10l]}", "eu-west-10l: did you mean eu-west-101?"),
        ("{cloud_service: evs, account: a, regions: [cn-north-4, cn-north-4]}", "region cn-north-4 is listed twice"),
        ("{cloud_service: evs, account: a, regions: []}", "expected 'all' or a list of regions"),
        ("{cloud_service: evs, account: a, regions: some}", "expected 'all' or a list of regions"),
    ],
)
def test_config_errors_of_regions(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("[", r"\[")) as caught:
        parse_config(BASE + f"  - {entry}\n", env={})
    assert caught.value.line == 3


def test_two_regions_targets_of_one_service_and_account_are_an_error() -> None:
    with pytest.raises(ConfigError, match=r"the same target \(a/evs/regions\) is already defined at line 3"):
        parse_config(BASE + "  - {cloud_service: evs, account: a, regions: all}\n"
                     "  - {cloud_service: evs, account: a, regions: [cn-north-4]}\n", env={})  # fmt: skip


def test_a_custom_cloud_needs_an_iam_endpoint_for_regions() -> None:
    text = "accounts: [{name: a, cloud: custom, auth: {type: token, token: t}}]\nservices:\n"
    with pytest.raises(ConfigError, match="needs 'iam_endpoint' for 'regions'"):
        parse_config(
            text + "  - {cloud_service: evs, account: a, regions: all, endpoint: 'https://x/{region}'}\n", env={}
        )


def test_an_own_endpoint_may_name_any_region_and_fills_in_region() -> None:
    from exporter.tracking.regions import Answer, expand

    config = parse_config(
        BASE
        + "  - {cloud_service: evs, account: a, regions: [xx-new-1], endpoint: 'https://evs.{region}.example.com'}\n",
        env={},
    )
    found = region_projects((Project(P_EAST, "xx-new-1"),))
    expanded, problems = expand(config, {"a": Answer(found)})
    assert problems == []
    assert [(t.region, t.project_id, t.endpoint) for t in expanded.targets] == [
        ("xx-new-1", P_EAST, "https://evs.xx-new-1.example.com")
    ]
