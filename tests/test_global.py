"""Global (domain-scoped) services (issue 21, item 2): the spec's `scope: domain` and its messages, the
targets of such a service, the account's domain ID from IAM (`GET /v3/auth/domains`, with the SDK's
GlobalCredentials as the oracle of that request) and, end to end over real sockets, a CDN-like custom
spec signed with X-Domain-Id against the fake cloud, which refuses the calls that are not."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
import yaml
from huaweicloudsdkcore.auth.credentials import GlobalCredentials
from huaweicloudsdkcore.auth.internal import IamHelper
from huaweicloudsdkcore.http.http_config import HttpConfig

from exporter.app import Exporter
from exporter.cloud.iam import IamError, find_domain_id
from exporter.cloud.signing import AkSkAuth, format_sdk_date
from exporter.config import ConfigError, load_config, parse_config
from exporter.exposition.server import make_app, serve
from exporter.schema import Ctx
from exporter.services import GLOBAL_REGION, ServiceSpec, read_spec
from exporter.simulator import (
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
from exporter.simulator.iam import domain_id
from tests.test_e2e import samples

# A CDN-like global service: refresh/preheat tasks, with item counters (CDN's ShowHistoryTaskDetails).
CDN: dict[str, Any] = {
    "name": "cdn_tasks",
    "scope": "domain",
    "endpoints": {"huaweicloud": "https://cdn.myhuaweicloud.com"},
    "status": {
        "path": "/v1.0/cdn/historytasks/{task_id}/detail",
        "state": "/status",
        "states": {"task_inprocess": "running", "task_done": "succeeded"},
        "progress": {"done": ["/succeed", "/failed"], "total": "/total"},
        "failed_count": "/failed",
        "job_type": "/task_type",
    },
}
RUNNING, DONE, PARTLY = "cd" + "1" * 30, "cd" + "2" * 30, "cd" + "3" * 30
SCENARIO: dict[str, Any] = {
    "tasks": [
        {"cloud_service": "cdn_tasks", "task_id": RUNNING, "job_type": "refresh",
         "phases": [{"after": 0, "status": "task_inprocess", "progress": 40}]},
        {"cloud_service": "cdn_tasks", "task_id": DONE,
         "phases": [{"after": 0, "status": "task_done", "progress": 100}]},
        {"cloud_service": "cdn_tasks", "task_id": PARTLY,
         "phases": [{"after": 0, "status": "task_done", "progress": 100, "failed": 2}]},
    ]
}  # fmt: skip


def cdn_spec() -> ServiceSpec:
    return read_spec(Ctx("test", "", None, {}), CDN)


# --- the spec -------------------------------------------------------------------------------------------


def spec_text(**status: str) -> str:
    lines = ["custom_services:", "  - name: cdn_tasks", "    scope: domain",
             "    endpoints: {huaweicloud: 'https://cdn.myhuaweicloud.com'}", "    status:",
             "      path: /v1.0/cdn/historytasks/{task_id}/detail", "      state: /status",
             "      states: {task_done: succeeded}"]  # fmt: skip
    lines += [f"      {key}: {value}" for key, value in status.items()]
    return "\n".join(lines) + "\naccounts: []\nservices: []\n"


def test_a_global_spec_has_no_project_and_one_host() -> None:
    spec = cdn_spec()
    assert spec.is_global and not spec.needs_project_id
    assert spec.endpoint("huaweicloud", GLOBAL_REGION) == "https://cdn.myhuaweicloud.com"
    assert not read_spec(Ctx("test", "", None, {}), {**CDN, "scope": "project"}).is_global


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (spec_text().replace("historytasks/", "{project_id}/historytasks/"), 6,
         "custom_services[0].status.path: a global service (scope: domain) has no project: expected no {project_id}"),
        (spec_text(headers="{X-Project: '{project_id}'}"), 9, "status.headers.X-Project: a global service"),
        (spec_text().replace("'https://cdn.", "'https://cdn.{region}."), 4,
         "endpoints.huaweicloud: a global service (scope: domain) has one host for huaweicloud: expected a URL "
         "without {region}"),
        (spec_text().replace("    status:", "    regions: {huaweicloud: [cn-north-4]}\n    status:"), 5,
         "regions: 'regions' does not go with 'scope: domain': a global service has one host for every region"),
        (spec_text().replace("scope: domain", "scope: account"), 3, "scope: expected one of"),
    ],
)  # fmt: skip
def test_a_global_spec_is_checked_strictly(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="c.yaml", env={})
    assert caught.value.line == line
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"c.yaml:{line}: ")


# --- the targets -----------------------------------------------------------------------------------------

ACCOUNT = "accounts: [{name: a, auth: {type: aksk, access_key: AK, secret_key: SK}}]\n"


def targets_text(entry: str, account: str = ACCOUNT) -> str:
    custom = yaml.safe_dump({"custom_services": [CDN]})
    return custom + account + f"services:\n  - {entry}\n"


def test_a_global_target_is_labelled_region_global_without_a_project() -> None:
    for entry in ("{cloud_service: cdn_tasks, account: a}", "{cloud_service: cdn_tasks, account: a, region: global}"):
        (target,) = parse_config(targets_text(entry), env={}).targets
        assert target.key == ("a", "cdn_tasks", "global", "")
        assert target.endpoint == "https://cdn.myhuaweicloud.com"


@pytest.mark.parametrize(
    ("entry", "account", "message"),
    [
        ("{cloud_service: cdn_tasks, account: a, project_id: 0123456789abcdef0123456789abcdef}", ACCOUNT,
         "'project_id' does not go with cdn_tasks, a global service (scope: domain)"),
        ("{cloud_service: cdn_tasks, account: a, regions: all}", ACCOUNT, "'regions' does not go with cdn_tasks"),
        ("{cloud_service: cdn_tasks, account: a, region: cn-north-4}", ACCOUNT,
         "cdn_tasks is a global service (scope: domain): leave 'region' out or write 'global', got 'cn-north-4'"),
        ("{cloud_service: cdn_tasks, account: a, endpoint: 'https://x'}",
         "accounts: [{name: a, cloud: custom, auth: {type: aksk, access_key: AK, secret_key: SK}}]\n",
         "account a (cloud 'custom') needs 'domain_id' or 'iam_endpoint' for cdn_tasks"),
        ("{cloud_service: cdn_tasks, account: a}",
         "accounts: [{name: a, domain_id: not-an-id, auth: {type: aksk, access_key: AK, secret_key: SK}}]\n",
         "accounts[0].domain_id: expected the account's domain ID"),
    ],
)  # fmt: skip
def test_config_errors_of_global_targets(entry: str, account: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        parse_config(targets_text(entry, account), env={})
    assert caught.value.line is not None


# --- the domain lookup: the SDK's GlobalCredentials as the oracle ------------------------------------------


async def test_the_domain_lookup_is_the_request_global_credentials_send() -> None:
    """Path, query, headers and signature as the SDK core asks IAM when GlobalCredentials has no domain ID."""
    account = parse_config(
        "accounts: [{name: a, iam_endpoint: 'https://iam.example.com', "
        "auth: {type: aksk, access_key: GLOBALAK0000000000001, secret_key: " + "G" * 40 + "}}]\nservices: []\n",
        env={},
    ).accounts["a"]
    sent: list[httpx.Request] = []
    date = format_sdk_date(1_700_000_000)

    async def send(request: httpx.Request, auth: httpx.Auth) -> httpx.Response:
        request.headers["X-Sdk-Date"] = date
        assert isinstance(auth, AkSkAuth)
        auth.sign_request(request)
        sent.append(request)
        return httpx.Response(200, json={"domains": [{"id": "d0" * 16, "name": "acme"}]})

    assert await find_domain_id(account, "https://iam.example.com", send) == "d0" * 16
    (ours,) = sent
    sdk = IamHelper.get_keystone_list_auth_domains_request(HttpConfig.get_default_config(), "https://iam.example.com")
    sdk.header_params = {n: v for n, v in ours.headers.items() if n not in ("host", "authorization")}
    GlobalCredentials("GLOBALAK0000000000001", "G" * 40).sign_request(sdk)
    assert (ours.method, ours.url.path, ours.url.query) == (sdk.method, sdk.resource_path, b"")
    assert "x-domain-id" not in ours.headers and "x-project-id" not in ours.headers
    assert ours.headers["Authorization"] == sdk.header_params["Authorization"]


async def test_the_domain_lookup_says_what_iam_answered() -> None:
    account = parse_config(ACCOUNT + "services: []\n", env={}).accounts["a"]

    def answering(status: int, body: object) -> Any:
        async def send(request: httpx.Request, auth: httpx.Auth) -> httpx.Response:
            return httpx.Response(status, json=body)

        return send

    with pytest.raises(IamError, match=r"IAM refused GET https://iam/v3/auth/domains: HTTP 403") as caught:
        await find_domain_id(account, "https://iam", answering(403, {"error": {"message": "no", "code": 403}}))
    assert caught.value.refused and "'domain_id'" in str(caught.value)
    with pytest.raises(IamError, match="IAM lists no domain for these credentials; set the account's 'domain_id'"):
        await find_domain_id(account, "https://iam", answering(200, {"domains": []}))
    with pytest.raises(IamError, match="not IAM's domain list"):
        await find_domain_id(account, "https://iam", answering(200, {"projects": []}))


# --- end to end -------------------------------------------------------------------------------------------


def config_text(url: str, tmp_path: Path, auth: str = "aksk", **account: object) -> str:
    if auth == "aksk":
        (tmp_path / "sk").write_text(DEMO_SECRET_KEY)
        credentials: dict[str, object] = {"type": "aksk", "access_key": DEMO_ACCESS_KEY,
                                          "secret_key_file": str(tmp_path / "sk")}  # fmt: skip
    elif auth == "password":
        (tmp_path / "pw").write_text(DEMO_PASSWORD)
        credentials = {"type": "password", "user_name": DEMO_USER, "domain_name": DEMO_DOMAIN,
                       "password_file": str(tmp_path / "pw")}  # fmt: skip
    else:
        credentials = {"type": "token", "token": DEMO_TOKEN}
    document = {
        "custom_services": [CDN],
        "accounts": [{"name": "acme", "iam_endpoint": url, "auth": credentials, **account}],
        "services": [{"cloud_service": "cdn_tasks", "account": "acme", "endpoint": url,
                      "tasks": [RUNNING, DONE, PARTLY]}],
        "tracking": {"poll_interval": 0},  # every refresh asks the running task: the tests count the calls
    }  # fmt: skip
    return yaml.safe_dump(document, sort_keys=False)


async def scrape_once(tmp_path: Path, scenario: dict[str, Any], **options: Any) -> tuple[dict[Any, float], Any]:
    sim = Simulator(parse_scenario(scenario, services={"cdn_tasks": cdn_spec()}))
    async with await start_simulator(sim) as cloud:
        path = tmp_path / "config.yaml"
        path.write_text(config_text(cloud.url, tmp_path, **options))
        exporter = Exporter(load_config(path))
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30) as http:
                response = await http.get("/metrics")
                assert response.status_code == 200
                return samples(response.text), sim
        finally:
            await serving.stop()
            await exporter.aclose()


def value(data: dict[Any, float], name: str, **labels: str) -> float | None:
    found = [v for (n, ls), v in data.items() if n == name and set(labels.items()) <= ls]
    assert len(found) <= 1, found
    return found[0] if found else None


@pytest.mark.parametrize("auth", ["aksk", "password", "token"])
async def test_a_global_service_end_to_end(tmp_path: Path, auth: str) -> None:
    data, sim = await scrape_once(tmp_path, SCENARIO, auth=auth)
    assert value(data, "huaweicloud_task_up", cloud_service="cdn_tasks", region="global", project_id="") == 1
    status = "huaweicloud_task_status"
    assert value(data, status, task_id=RUNNING, state="running") == 1
    assert value(data, "huaweicloud_task_progress_ratio", task_id=RUNNING) == 0.4
    assert value(data, status, task_id=DONE, state="succeeded") == 1
    assert value(data, status, task_id=PARTLY, state="failed") == 1  # task_done, but 2 of its items failed
    assert sim.stats.auth_failures == 0


async def test_the_fake_cloud_refuses_a_global_call_signed_with_a_project(tmp_path: Path) -> None:
    sim = Simulator(parse_scenario(SCENARIO, services={"cdn_tasks": cdn_spec()}))
    async with await start_simulator(sim) as cloud:
        url = f"{cloud.url}/v1.0/cdn/historytasks/{RUNNING}/detail"
        domain = domain_id(sim.scenario)
        async with httpx.AsyncClient() as http:
            project = await http.get(url, auth=AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, project_id="0" * 32))
            wrong = await http.get(url, auth=AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, domain_id="f" * 32))
            good = await http.get(url, auth=AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, domain_id=domain))
            listed = await http.get(f"{cloud.url}/v3/auth/domains", auth=AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY))
    assert project.status_code == 401 and "X-Domain-Id is required" in project.text
    assert wrong.status_code == 401 and "X-Domain-Id does not match" in wrong.text
    assert good.status_code == 200 and good.json()["status"] == "task_inprocess"
    assert listed.json()["domains"][0] == {**listed.json()["domains"][0], "id": domain, "name": DEMO_DOMAIN}


async def test_a_configured_domain_id_skips_the_lookup(tmp_path: Path) -> None:
    domain = domain_id(parse_scenario(SCENARIO, services={"cdn_tasks": cdn_spec()}))
    data, sim = await scrape_once(tmp_path, {**SCENARIO, "iam_projects": {"refuse": True}}, domain_id=domain)
    assert value(data, "huaweicloud_task_status", task_id=RUNNING, state="running") == 1
    assert sim.stats.by_status.get("403", 0) == 0  # IAM (which would refuse) was not asked


async def test_iam_refusing_the_domain_lookup_is_said_and_nothing_is_sent(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        data, sim = await scrape_once(tmp_path, {**SCENARIO, "iam_projects": {"refuse": True}})
    assert value(data, "huaweicloud_task_up", cloud_service="cdn_tasks") == 0
    assert sim.stats.by_task.get(RUNNING, 0) == 0  # no unsigned call reached the service
    (event,) = [e for e in logs if e["event"].startswith("IAM did not give the account's domain ID")]
    assert "IAM refused GET " in event["error"] and "/v3/auth/domains: HTTP 403" in event["error"]
    assert DEMO_SECRET_KEY not in str(logs)
    # One question for the three tasks' calls, not one each.
    assert sim.stats.by_status.get("403", 0) == 1


async def test_the_domain_id_is_asked_once_and_again_after_a_reload(tmp_path: Path) -> None:
    sim = Simulator(parse_scenario(SCENARIO, services={"cdn_tasks": cdn_spec()}))
    async with await start_simulator(sim) as cloud:
        path = tmp_path / "config.yaml"
        path.write_text(config_text(cloud.url, tmp_path))
        exporter = Exporter(load_config(path))
        try:
            await exporter.refresh(10)
            await exporter.refresh(10)
            assert set(exporter.domains.answers) == {"acme"}
            first = sim.stats.requests_total
            assert first == 1 + 3 + 1  # one lookup, the three tasks, the running one again (final ones rest)
            path.write_text(path.read_text() + "\n# touched\n")
            assert await exporter.reload() is None
            await exporter.refresh(10)
            # The reload asked IAM again: the running task's call plus one lookup.
            assert sim.stats.requests_total - first == 2
            assert exporter.domains.answers["acme"].domain_id == domain_id(sim.scenario)
        finally:
            await exporter.aclose()


def test_many_calls_share_one_question(tmp_path: Path) -> None:
    """A scrape's calls wait for one lookup (asyncio.Lock per account)."""
    from exporter.cloud.domains import DomainIds

    account = parse_config(ACCOUNT + "services: []\n", env={}).accounts["a"]
    asked: list[str] = []

    async def send(request: httpx.Request, auth: httpx.Auth) -> httpx.Response:
        asked.append(str(request.url))
        await asyncio.sleep(0)
        return httpx.Response(200, json={"domains": [{"id": "d1" * 16}]})

    async def many() -> list[Any]:
        domains = DomainIds(clock=lambda: 0.0)
        return await asyncio.gather(*(domains.domain_of(account, send, 5) for _ in range(5)))

    assert asyncio.run(many()) == ["d1" * 16] * 5
    assert asked == ["https://iam.myhuaweicloud.com/v3/auth/domains"]


def test_service_try_says_the_service_is_global(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exporter.cli import main

    (tmp_path / "body.json").write_text('{"status": "task_done", "succeed": 8, "failed": 2, "total": 10}')
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"custom_services": [CDN]}) + ACCOUNT + "services: []\n")
    code = main(
        ["--config.file", str(path), "--config.check", "--service.try", "cdn_tasks", str(tmp_path / "body.json")]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert "  state: failed" in out and "  progress: 1.0" in out  # task_done, but 2 of its 10 URLs failed
    assert "scope: domain: a global service (one host, no project)" in out
