"""AK/SK requests, and what the exporter does when the cloud refuses its credentials: one request per
account first, a cool-down, never more than 5 failures in a row, a distinct clock-skew message, and
rotated secret files picked up without a restart. The cloud is faked at the transport level and checks
signatures with `exporter.signing.verify` (which agrees with the official SDK: tests/test_signing.py)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from prometheus_client import CollectorRegistry

from exporter.cloud.client import MAX_AUTH_FAILURES, ApiClient
from exporter.cloud.errors import ApiError, Reason
from exporter.cloud.guards import Guards
from exporter.cloud.signing import VerifyStatus, verify
from exporter.config import Config, ConfigError, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import TaskStatus
from exporter.tracking.tracker import Tracker
from tests.conftest import EVS_TASK, PROJECT

AK = "QTWAOYTTINDUT2QVKYUC"
SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
TOKEN = "temporary-security-token-value-0123456789"
RUNNING = {"status": "RUNNING", "job_id": EVS_TASK, "begin_time": "2016-03-08T07:40:13.219Z", "end_time": ""}
TASKS = [f"{n:032x}" for n in range(1, 21)]


def aksk_config(tmp_path: Path, *, secret: str = SK, token: str | None = None, cooldown: str = "5m") -> Config:
    (tmp_path / "sk").write_text(secret + "\n")
    token_line = ""
    if token is not None:
        (tmp_path / "st").write_text(token)
        token_line = f"\n      security_token_file: {tmp_path / 'st'}"
    text = f"""
accounts:
  - name: prod
    auth_cooldown: {cooldown}
    auth:
      type: aksk
      access_key: {AK}
      secret_key_file: {tmp_path / "sk"}{token_line}
services:
  - cloud_service: evs
    account: prod
    region: cn-north-4
    project_id: {PROJECT}
    endpoint: https://evs.example.test:8443
    tasks: [{", ".join(TASKS)}]
tracking: {{poll_interval: 0}}  # every refresh asks every unfinished task: these tests count its requests
"""
    return parse_config(text, env={})


class FakeGateway:
    """Verifies every request's signature like the API Gateway, answering 401 APIGW.0301 when it fails."""

    def __init__(self, *, secret: str = SK, token: str | None = None, skew: float = 0.0) -> None:
        self.secret, self.token, self.skew = secret, token, skew
        self.requests: list[httpx.Request] = []
        self.refused = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        result = verify(
            request.method, request.url, request.headers, request.content,
            lambda ak: self.secret if ak == AK else None, time.time() + self.skew,
        )  # fmt: skip
        if result.status is VerifyStatus.CLOCK_SKEW:
            self.refused += 1
            return httpx.Response(401, json={"error_code": "APIGW.0303", "error_msg": "request time skewed"})
        if not result.ok or request.headers.get("X-Security-Token") != self.token:
            self.refused += 1
            return httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "verify aksk signature fail"})
        return httpx.Response(200, json=RUNNING)


def client_for(config: Config, gateway: FakeGateway, clock: list[float]) -> tuple[ApiClient, CollectorRegistry]:
    registry = CollectorRegistry()
    client = ApiClient(
        config, SelfMetrics(registry), clock=lambda: clock[0], transport=lambda _a: httpx.MockTransport(gateway)
    )
    return client, registry


async def test_signed_request_carries_host_port_project_and_token(tmp_path: Path) -> None:
    config = aksk_config(tmp_path, token=TOKEN)
    gateway = FakeGateway(token=TOKEN)
    client, _ = client_for(config, gateway, [0.0])
    result = await client.query(config.targets[0], EVS_TASK, 5)
    await client.aclose()
    assert isinstance(result, TaskStatus)
    (request,) = gateway.requests
    assert request.headers["Host"] == "evs.example.test:8443"
    assert request.headers["X-Project-Id"] == PROJECT
    assert request.headers["X-Security-Token"] == TOKEN
    signed = request.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-sdk-date", "x-project-id", "x-security-token"} <= set(signed)


async def test_rotated_secret_and_token_files_are_used_without_restart(tmp_path: Path) -> None:
    config = aksk_config(tmp_path, token=TOKEN)
    gateway = FakeGateway(token=TOKEN)
    client, _ = client_for(config, gateway, [0.0])
    assert isinstance(await client.query(config.targets[0], EVS_TASK, 5), TaskStatus)
    # The agent rotates the temporary credentials: new SK and token files, same AK here.
    gateway.secret, gateway.token = "rotated-secret-key-0000000000000000000000", "rotated-token"
    (tmp_path / "sk").write_text(gateway.secret)
    (tmp_path / "st").write_text(gateway.token)
    assert isinstance(await client.query(config.targets[0], EVS_TASK, 5), TaskStatus)
    await client.aclose()
    assert gateway.refused == 0


async def test_wrong_secret_sends_one_request_per_scrape_then_pauses(tmp_path: Path) -> None:
    config = aksk_config(tmp_path, secret="wrong-secret-key-000000000000000000000000")
    gateway = FakeGateway()
    clock = [1000.0]
    client, registry = client_for(config, gateway, clock)
    tracker = Tracker(config, client)
    with structlog.testing.capture_logs() as logs:
        await tracker.refresh(5)
        await tracker.refresh(5)
    (state,) = tracker.targets
    assert len(gateway.requests) == 1  # 20 tasks, one request: the rest wait for the first answer
    assert state.up is False
    labels = {"account": "prod", "cloud_service": "evs", "region": "cn-north-4"}
    assert registry.get_sample_value("huaweicloud_task_api_errors_total", {**labels, "reason": "auth"}) == 1
    errors = [e for e in logs if e["log_level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["event"].startswith("authentication failed; requests of this account are paused for 300s")
    assert errors[0]["account"] == "prod"
    assert "wrong-secret" not in repr(logs)
    # The tasks held back say why, with the gateway's answer (what the landing page shows).
    held = {r.last_error.describe() for r in state.tasks.values() if r.last_error and not r.last_error.sent}
    assert held == {
        "auth: account 'prod' held back for 300s after authentication failures "
        "(the cloud answered HTTP 401: APIGW.0301: verify aksk signature fail)"
    }
    clock[0] += 301  # after the cool-down: one more try, alone again
    await tracker.refresh(5)
    assert len(gateway.requests) == 2
    await client.aclose()


async def test_never_more_than_five_failures_in_a_row(tmp_path: Path) -> None:
    config = aksk_config(tmp_path, secret="wrong-secret-key-000000000000000000000000")
    gateway = FakeGateway()
    clock = [1000.0]
    client, _ = client_for(config, gateway, clock)
    tracker = Tracker(config, client)
    for _ in range(40):  # 40 scrapes, each after a whole cool-down: 200 minutes of a wrong key
        await tracker.refresh(5)
        clock[0] += 301
    assert gateway.refused == MAX_AUTH_FAILURES == 5
    assert client.cooling_down("prod") == float("inf")
    # The operator fixes the secret file: the exporter notices and tries again, and succeeds.
    (tmp_path / "sk").write_text(SK)
    await tracker.refresh(5)
    assert gateway.refused == 5
    assert len(gateway.requests) == 5 + len(TASKS)
    assert tracker.targets[0].up is True
    await client.aclose()


async def test_a_corrected_secret_file_and_a_reload_end_the_pause_at_once(tmp_path: Path) -> None:
    # The pause belongs to the refused credentials: a reload with the same ones keeps it (reloading must
    # not send a refused key again), the corrected file ends it at once, not after the cool-down.
    config = aksk_config(tmp_path, secret="wrong-secret-key-000000000000000000000000")
    gateway, clock, guards = FakeGateway(), [1000.0], Guards(lambda: clock[0])

    def client(config: Config) -> ApiClient:
        transport = httpx.MockTransport(gateway)
        return ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: transport, guards=guards)

    first = client(config)
    assert isinstance(await first.query(config.targets[0], EVS_TASK, 5), ApiError)
    same = client(aksk_config(tmp_path, secret="wrong-secret-key-000000000000000000000000"))
    assert same.cooling_down("prod") == pytest.approx(300)
    held = await same.query(config.targets[0], EVS_TASK, 5)
    assert isinstance(held, ApiError) and not held.sent
    corrected = aksk_config(tmp_path)  # writes the right secret key into the same file
    with structlog.testing.capture_logs() as logs:
        fixed = client(corrected)
        assert isinstance(await fixed.query(corrected.targets[0], EVS_TASK, 5), TaskStatus)
    assert [e["event"] for e in logs if e["log_level"] == "info"] == ["credentials changed; trying them"]
    assert gateway.refused == 1
    for each in (first, same, fixed):
        await each.aclose()


async def test_clock_skew_is_reported_distinctly(tmp_path: Path) -> None:
    config = aksk_config(tmp_path)
    gateway = FakeGateway(skew=16 * 60)
    client, _ = client_for(config, gateway, [0.0])
    with structlog.testing.capture_logs() as logs:
        result = await client.query(config.targets[0], EVS_TASK, 5)
    await client.aclose()
    assert isinstance(result, ApiError)
    assert result.reason is Reason.AUTH
    assert result.clock_skew
    (event,) = [e for e in logs if e["log_level"] == "error"]
    assert "this machine's clock is more than 15 minutes off; fix the clock (NTP)" in event["event"]
    assert "local_time" in event


async def test_permission_denied_403_does_not_pause_the_account(tmp_path: Path) -> None:
    config = aksk_config(tmp_path)

    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error_code": "EVS.0003", "error_msg": "Policy doesn't allow evs:jobs:get"})

    registry = CollectorRegistry()
    client = ApiClient(config, SelfMetrics(registry), transport=lambda _a: httpx.MockTransport(forbidden))
    first = await client.query(config.targets[0], EVS_TASK, 5)
    second = await client.query(config.targets[0], EVS_TASK, 5)
    await client.aclose()
    assert isinstance(first, ApiError) and first.reason is Reason.AUTH
    assert isinstance(second, ApiError) and second.sent  # still asked: a missing permission locks nothing
    assert client.cooling_down("prod") == 0


@pytest.mark.parametrize(
    ("task_id", "shown"),
    [
        ("../../v3/auth/tokens", "'../../v3/auth/tokens'"),
        ("4010a32d5355%2F7910153552b492c0002", "'4010a32d5355%2F7910153552b492c0002'"),
        ("4010a32d535527910153552b492c0002?x=1", "'4010a32d535527910153552b492c0002?x=1'"),
        ("4010a32d535527910153552b492c0002#f", "'4010a32d535527910153552b492c0002#f'"),
        ("4010a32d5355279 10153552b492c0002", "'4010a32d5355279 10153552b492c0002'"),
        ("a" * 65, "'" + "a" * 65 + "'"),
    ],
)
def test_unsafe_task_ids_are_refused_naming_the_entry(task_id: str, shown: str) -> None:
    text = f"""
accounts: [{{name: prod, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - cloud_service: evs
    account: prod
    region: cn-north-4
    project_id: {PROJECT}
    tasks:
      - {EVS_TASK}
      - "{task_id}"
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="c.yaml", env={"T": "t"})
    assert str(caught.value) == (
        f"c.yaml:10: services[0].tasks[1]: invalid task ID {shown}: expected 16 to 64 hexadecimal characters, or a UUID"
    )


class OverlapGateway(FakeGateway):
    """A gateway that answers after the event loop has turned a few times, and records how many requests
    were in flight when each one arrived."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight = 0
        self.seen: list[int] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.seen.append(self.in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        self.in_flight -= 1
        return self(request)


async def test_accepted_credentials_send_no_lone_first_request_but_changed_ones_do(tmp_path: Path) -> None:
    config = aksk_config(tmp_path)
    gateway = OverlapGateway()
    client = ApiClient(
        config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(gateway.handle)
    )
    tracker = Tracker(config, client)
    await tracker.refresh(5)  # new credentials: the first request alone, then the others together
    assert gateway.seen[0] == 1 and gateway.seen[1] == 1 and max(gateway.seen) > 1
    gateway.seen.clear()
    await tracker.refresh(5)  # accepted before: every query starts at once, the first one too
    assert gateway.seen[:2] == [1, 2]
    # The secret file is rotated to a wrong key: the first request goes alone again, and is the only one.
    (tmp_path / "sk").write_text("rotated-but-wrong-secret-key-00000000000000")
    gateway.seen.clear()
    await tracker.refresh(5)
    assert gateway.seen == [1]
    assert gateway.refused == 1
    await client.aclose()


async def test_the_bound_holds_when_accepted_credentials_go_bad(tmp_path: Path) -> None:
    # Accepted for a while, then rotated to a wrong key and left so for many cool-downs: never more than
    # 5 refused requests in a row, and one per scrape.
    config = aksk_config(tmp_path)
    gateway, clock = FakeGateway(), [1000.0]
    client, _ = client_for(config, gateway, clock)
    tracker = Tracker(config, client)
    for _ in range(3):
        await tracker.refresh(5)
    assert gateway.refused == 0
    (tmp_path / "sk").write_text("rotated-but-wrong-secret-key-00000000000000")
    refused = []
    for _ in range(20):
        before = gateway.refused
        await tracker.refresh(5)
        refused.append(gateway.refused - before)
        clock[0] += 301
    assert sum(refused) == MAX_AUTH_FAILURES and max(refused) == 1
    await client.aclose()


class DatedGateway(OverlapGateway):
    """An OverlapGateway whose answers carry a Date header (its clock `ahead` seconds from ours), or a 503
    for the first `unavailable` requests (a load balancer in front of the gateway)."""

    def __init__(self, *, ahead: float = 0.0, unavailable: int = 0) -> None:
        super().__init__()
        self.ahead, self.unavailable = ahead, unavailable

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.unavailable > 0:
            self.unavailable -= 1
            self.requests.append(request)
            return httpx.Response(503, text="<html>upstream unavailable</html>")
        response = super().__call__(request)
        response.headers["Date"] = email.utils.formatdate(time.time() + self.ahead, usegmt=True)
        return response


def overlap_client(config: Config, gateway: OverlapGateway) -> tuple[ApiClient, Tracker]:
    client = ApiClient(
        config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(gateway.handle)
    )
    return client, Tracker(config, client)


async def test_only_an_answer_that_proves_the_credentials_trusts_them(tmp_path: Path) -> None:
    # A 503 from a load balancer says nothing about the key: the next refresh still starts with one request.
    gateway = DatedGateway(unavailable=1)
    client, tracker = overlap_client(aksk_config(tmp_path), gateway)
    await tracker.refresh(5)  # the lone first request gets the 503; the others follow and succeed
    gateway.seen.clear()
    await tracker.refresh(5)  # those successes were proof: now all at once
    assert gateway.seen[:2] == [1, 2]
    gateway2 = DatedGateway(unavailable=len(TASKS))  # every answer a 503: never proof
    (tmp_path / "second").mkdir()
    client2, tracker2 = overlap_client(aksk_config(tmp_path / "second"), gateway2)
    for _ in range(2):
        gateway2.seen.clear()
        await tracker2.refresh(5)
        assert gateway2.seen[0] == 1 and gateway2.seen[1] == 1, gateway2.seen
    for each in (client, client2):
        await each.aclose()


async def test_credentials_changed_since_the_refresh_began_are_not_trusted_by_its_answers(tmp_path: Path) -> None:
    # A wrong key is refused; the file is fixed and a probe is accepted; the file goes back to the wrong
    # key. The probe's acceptance proved the fixed key, not the wrong one: the next refresh sends one alone.
    wrong = "wrong-secret-key-000000000000000000000000"
    config = aksk_config(tmp_path, secret=wrong, cooldown="0s")
    gateway = DatedGateway()
    client, tracker = overlap_client(config, gateway)
    await tracker.refresh(5)
    assert gateway.refused == 1
    (tmp_path / "sk").write_text(SK)
    assert isinstance(await client.query(config.targets[0], EVS_TASK, 5), TaskStatus)
    (tmp_path / "sk").write_text(wrong)
    gateway.seen.clear()
    await tracker.refresh(5)
    assert gateway.seen == [1] and gateway.refused == 2
    await client.aclose()


async def test_a_cloud_clock_minutes_away_brings_the_lone_first_request_back(tmp_path: Path) -> None:
    # The gateway refuses signatures 15 minutes off (APIGW.0303, counted towards the AK lock): an account
    # whose clock is already more than 5 minutes away is not trusted to send everything at once.
    gateway = DatedGateway(ahead=0.0)
    client, tracker = overlap_client(aksk_config(tmp_path), gateway)
    await tracker.refresh(5)
    gateway.seen.clear()
    await tracker.refresh(5)
    assert gateway.seen[:2] == [1, 2]  # clocks agree: all at once
    gateway.ahead = 8 * 60
    await tracker.refresh(5)  # this refresh reads the cloud's clock: 8 minutes ahead
    gateway.seen.clear()
    await tracker.refresh(5)
    assert gateway.seen[0] == 1 and gateway.seen[1] == 1, gateway.seen
    await client.aclose()
