"""The life of `regions:` targets over time, against a small IAM served here (aiohttp on 127.0.0.1) whose
answers the test changes, and a clock the test moves: a reload during IAM's first answer, refused
credentials under the account's guard (no more questions until they change), the 5-minute retry and the
daily re-ask, the regions kept through an outage, a region that leaves, and the series that leave with
accounts and targets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
import yaml
from aiohttp import web

from exporter.app import Exporter
from exporter.cloud.auth import iam_url
from exporter.cloud.client import ApiClient
from exporter.cloud.guards import MAX_AUTH_FAILURES, Guards
from exporter.cloud.iam import IamError, iam_base, list_projects
from exporter.config import load_config, parse_config
from exporter.exposition.server import make_app, serve
from exporter.tracking.regions import REFRESH, RETRY, account_wide, iam_host_of
from exporter.tracking.tracker import JUDGE_SLACK
from tests.test_e2e import samples

P_NORTH = "c0000000000000000000000000000004"
P_EAST = "e0000000000000000000000000000003"
SK = "S" * 40
REFUSED = {
    "error_code": "APIGW.0301",
    "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
}
Data = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Iam:
    """IAM's project list, as the test sets it; `status` 401 refuses the credentials, 500 fails; `hold`
    keeps the answers back until the test sets it."""

    projects: dict[str, str] = field(default_factory=lambda: {P_NORTH: "cn-north-4", P_EAST: "cn-east-3"})
    status: int = 200
    hold: asyncio.Event | None = None
    asked: int = 0
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def show_job(self, request: web.Request) -> web.Response:
        """EVS's job status: held back as IAM is (a status API that does not answer in time)."""
        if self.hold is not None:
            await self.hold.wait()
        return web.json_response({"job_id": request.match_info["job"], "status": "RUNNING", "entities": {}})

    async def list_projects(self, request: web.Request) -> web.Response:
        self.asked += 1
        self.reached.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.status == 401:
            return web.json_response(REFUSED, status=401)
        if self.status != 200:
            return web.json_response({"error_code": "IAM.0006", "error_msg": "internal"}, status=self.status)
        listed = [{"id": pid, "name": name, "enabled": True} for pid, name in self.projects.items()]
        return web.json_response({"projects": listed})


@dataclass
class Stack:
    iam: Iam
    exporter: Exporter
    http: httpx.AsyncClient
    path: Path
    now: list[float]
    url: str

    async def scrape(self, timeout: str = "10") -> Data:
        response = await self.http.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": timeout})
        assert response.status_code == 200
        return samples(response.text)

    def write(self, **change: Any) -> None:
        """The config file, with `change`s to the account (`auth`, `name`) or `services`."""
        auth = {"type": "aksk", "access_key": "A" * 20, "secret_key_file": str(self.path.parent / "sk")}
        account = {"name": "acme", "cloud": "huaweicloud", "iam_endpoint": self.url, "auth": auth}
        services = change.pop(
            "services", [{"cloud_service": "evs", "account": "acme", "regions": "all", "endpoint": self.url}]
        )
        account.update(change)
        document = {"accounts": [account], "services": services}
        self.path.write_text(yaml.safe_dump(document, sort_keys=False))


def regions_up(data: Data) -> set[str]:
    return {dict(ls)["region"] for (n, ls), _ in data.items() if n == "huaweicloud_task_up"}


def gauge(data: Data, account: str = "acme") -> float | None:
    return data.get(("huaweicloud_task_region_discovery_successful", frozenset({("account", account)})))


def series_of(data: Data, region: str) -> list[str]:
    return [n for (n, ls), _ in data.items() if dict(ls).get("region") == region]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    iam = Iam()
    app = web.Application()
    app.router.add_get("/v3/projects", iam.list_projects)
    app.router.add_get("/v1/{project}/jobs/{job}", iam.show_job)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    (tmp_path / "sk").write_text(SK)
    now = [1_700_000_000.0]
    path = tmp_path / "config.yaml"
    holder = Stack(iam, None, None, path, now, url)  # type: ignore[arg-type]
    holder.write()
    holder.exporter = Exporter(load_config(path), clock=lambda: now[0])
    serving = await serve(make_app(holder.exporter), "127.0.0.1", 0)
    holder.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30)
    try:
        yield holder
    finally:
        if iam.hold is not None:
            iam.hold.set()
        await holder.http.aclose()
        await serving.stop()
        await holder.exporter.aclose()
        await runner.cleanup()


async def until(stack: Stack, check: Callable[[Data], bool], seconds: float = 10.0) -> Data:
    """Scrape until `check` holds (a deadline, not a sleep: each scrape waits for the exporter)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        data = await stack.scrape()
        if check(data) or asyncio.get_running_loop().time() > deadline:
            return data


async def test_a_reload_during_the_first_question_is_not_lost(stack: Stack) -> None:
    stack.iam.hold = asyncio.Event()
    data = await stack.scrape(timeout="0.6")  # the question stays open past this scrape
    await asyncio.wait_for(stack.iam.reached.wait(), 10)  # the question reached IAM
    assert regions_up(data) == set() and stack.iam.asked == 1
    stack.write(
        services=[{"cloud_service": "evs", "account": "acme", "regions": ["cn-north-4"], "endpoint": stack.url}]
    )
    assert await stack.exporter.reload() is None  # during the question: nothing known to expand yet
    stack.iam.hold.set()
    data = await until(stack, lambda d: regions_up(d) == {"cn-north-4"})
    assert regions_up(data) == {"cn-north-4"}  # the reloaded file's, from the answer that came after it
    assert gauge(data) == 1.0
    await stack.scrape()
    assert stack.iam.asked == 2  # the reload's own question was asked too, not lost to the older answer


async def test_refused_credentials_are_not_asked_again_until_they_change(stack: Stack) -> None:
    stack.iam.status = 401
    with structlog.testing.capture_logs() as logs:
        for _ in range(12):  # an hour of scrapes, more than RETRY apart
            data = await stack.scrape()
            stack.now[0] += RETRY + 1
        for _ in range(3):  # reloads of an unchanged file, and of a changed one with the same credentials
            assert await stack.exporter.reload() is None
            await stack.scrape()
        stack.write(auth_cooldown=60)
        assert await stack.exporter.reload() is None
        data = await stack.scrape()
    assert stack.iam.asked == 1  # the account's guard holds IAM back as it would its services' calls
    assert gauge(data) == 0.0
    assert stack.exporter.client.cooling_down("acme") > 0
    refused = [e for e in logs if e["event"].startswith("IAM refused the account's credentials")]
    assert len(refused) == 1 and refused[0]["failures_in_a_row"] == 1 and "401: 401" not in refused[0]["error"]
    assert SK not in str(logs)
    # New credentials: asked at once.
    stack.iam.status = 200
    (stack.path.parent / "sk").write_text("T" * 40)
    data = await stack.scrape()
    assert stack.iam.asked == 2 and regions_up(data) == {"cn-north-4", "cn-east-3"} and gauge(data) == 1.0


def test_iam_refusals_count_towards_the_lock_out_as_the_services_do() -> None:
    config = parse_config(
        "accounts: [{name: acme, cloud: huaweicloud, iam_endpoint: 'http://127.0.0.1:9', auth_cooldown: 60,"
        f" auth: {{type: aksk, access_key: {'A' * 20}, secret_key: {SK}}}}}]\n"
        "services: [{cloud_service: evs, account: acme, regions: all, endpoint: 'http://127.0.0.1:9'}]\n"
    )
    clock = [0.0]
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(401, json=REFUSED)

    client = ApiClient(
        config, _Quiet(), transport=lambda _: httpx.MockTransport(answer), guards=Guards(lambda: clock[0])
    )
    account = config.accounts["acme"]

    async def ask() -> IamError:
        with pytest.raises(IamError) as caught:
            await list_projects(account, "http://127.0.0.1:9", lambda r, a: client.send_iam("acme", r, a))
        return caught.value

    async def run() -> list[IamError]:
        errors = []
        for _ in range(MAX_AUTH_FAILURES + 2):
            errors.append(await ask())
            errors.append(await ask())  # within the pause: held back, not sent
            clock[0] += 61
        await client.aclose()
        return errors

    errors = asyncio.run(run())
    assert len(sent) == MAX_AUTH_FAILURES
    assert all(e.credentials for e in errors)
    assert "the credentials were refused" in str(errors[0]) or "refused the credentials" in str(errors[0])
    assert "held back until its credentials change" in str(errors[-1])


class _Quiet:
    def request(self, *args: object) -> None: ...

    def error(self, *args: object) -> None: ...

    def held_back(self, *args: object) -> None: ...

    def token(self, *args: object) -> None: ...


async def test_a_failure_is_retried_after_retry_and_an_answer_is_asked_again_daily(stack: Stack) -> None:
    data = await stack.scrape()
    assert regions_up(data) == {"cn-north-4", "cn-east-3"} and stack.iam.asked == 1
    stack.now[0] += REFRESH - 1
    await stack.scrape()
    assert stack.iam.asked == 1  # a day old: not yet
    stack.iam.status = 500
    stack.now[0] += 2
    data = await stack.scrape()
    assert stack.iam.asked == 2
    # An outage keeps the regions IAM listed before; the gauge says it.
    assert regions_up(data) == {"cn-north-4", "cn-east-3"} and gauge(data) == 0.0
    stack.now[0] += RETRY - 1
    await stack.scrape()
    assert stack.iam.asked == 2
    stack.iam.status = 200
    stack.now[0] += 2
    data = await stack.scrape()
    assert stack.iam.asked == 3 and gauge(data) == 1.0


async def test_a_region_that_leaves_iams_list_takes_its_target_and_series(stack: Stack) -> None:
    data = await stack.scrape()
    assert series_of(data, "cn-east-3")
    del stack.iam.projects[P_EAST]
    stack.now[0] += REFRESH + 1
    data = await stack.scrape()
    assert regions_up(data) == {"cn-north-4"}
    assert series_of(data, "cn-east-3") == []  # up, api_errors_total, held_back, ... gone with the target


async def test_a_duplicate_no_target_needs_does_not_fail_the_gauge(stack: Stack) -> None:
    stack.iam.projects["d0000000000000000000000000000001"] = "ap-southeast-1"
    stack.iam.projects["d0000000000000000000000000000002"] = "ap-southeast-1"
    stack.write(
        services=[{"cloud_service": "evs", "account": "acme", "regions": ["cn-north-4"], "endpoint": stack.url}]
    )
    assert await stack.exporter.reload() is None
    data = await stack.scrape()
    assert regions_up(data) == {"cn-north-4"} and gauge(data) == 1.0


async def test_an_account_that_leaves_takes_its_gauge_and_series(stack: Stack) -> None:
    data = await stack.scrape()
    assert gauge(data) == 1.0
    stack.write(name="other", services=[{"cloud_service": "evs", "account": "other", "region": "cn-north-4",
                                          "project_id": P_NORTH, "endpoint": stack.url}])  # fmt: skip
    assert await stack.exporter.reload() is None
    data = await stack.scrape()
    assert gauge(data) is None and gauge(data, "other") is None
    assert not [ls for (n, ls), _ in data.items() if dict(ls).get("account") == "acme"]
    assert stack.exporter.regions.answers == {}


async def test_the_first_scrapes_iam_wait_and_refresh_share_one_deadline(stack: Stack) -> None:
    stack.iam.hold = asyncio.Event()  # neither IAM nor the status API answers in time
    hand_written = {"cloud_service": "evs", "account": "acme", "region": "cn-north-4", "project_id": P_NORTH,
                    "endpoint": stack.url, "tasks": ["4010a32c4f2a3f5e014f2b0c5e3a0001"]}  # fmt: skip
    regions = {"cloud_service": "evs", "account": "acme", "regions": ["cn-east-3"], "endpoint": stack.url}
    stack.write(services=[hand_written, regions])
    assert await stack.exporter.reload() is None
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stack.exporter.refresh(4.0)
    # Not the IAM wait (half of it, 2 s) and then the whole timeout again (6.2 s in all): the one deadline
    # (4.2 s), with a second for a loaded machine's loop.
    assert loop.time() - started < 4.0 + JUDGE_SLACK + 1.0


def test_one_rule_for_the_iam_host_whatever_the_order_of_the_targets() -> None:
    def config(*entries: str) -> Any:
        return parse_config(
            "accounts: [{name: a, cloud: huaweicloud, auth: {type: password, user_name: u, domain_name: d,"
            " password: p}}]\nservices:\n" + "".join(f"  - {{account: a, {e}}}\n" for e in entries)
        )

    one = config("regions: [cn-north-4], cloud_service: evs", "regions: [eu-west-101], cloud_service: cbr")
    two = config("regions: [eu-west-101], cloud_service: cbr", "regions: [cn-north-4], cloud_service: evs")
    hosts = {iam_host_of(c.accounts["a"], c.region_targets) for c in (one, two)}
    assert hosts == {"https://iam.eu-west-101.myhuaweicloud.eu"}
    assert (
        iam_host_of(one.accounts["a"], config("regions: [cn-east-3], cloud_service: evs").region_targets)
        == "https://iam.myhuaweicloud.com"
    )
    # The password login of a region target goes where the project list would: the SDK's table, else global.
    account = one.accounts["a"]
    for region in ("cn-north-4", "eu-west-101", "cn-north-11"):
        assert iam_url(account, region) == f"{iam_base(account, region)}/v3/auth/tokens?nocatalog=true"
    assert iam_url(account, "cn-north-11").startswith("https://iam.myhuaweicloud.com/")


def test_regions_of_a_service_that_lists_the_accounts_tasks_are_warned_about() -> None:
    config = parse_config(
        f"accounts: [{{name: a, cloud: huaweicloud, auth: {{type: aksk, access_key: {'A' * 20}, secret_key: {SK}}}}}]\n"
        "services:\n  - {cloud_service: sms, account: a, regions: all}\n"
        "  - {cloud_service: evs, account: a, regions: all}\n"
    )
    (warning,) = account_wide(config)
    assert "sms: its API names no project" in warning and "once per region" in warning
