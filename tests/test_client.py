"""The API client and the auth flows, with the cloud faked at the transport level (httpx.MockTransport):
error classification, timeouts, 429 back-off, IAM login, token caching, renewal and the 401 retry."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import structlog.testing
from prometheus_client import CollectorRegistry

from exporter.cloud.client import ApiClient, RateLimiter
from exporter.cloud.errors import ApiError, Reason
from exporter.cloud.guards import Guards
from exporter.config import Config, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.model import State, TaskStatus
from tests.conftest import EVS_TASK, MINIMAL, PROJECT

Handler = Callable[[httpx.Request], httpx.Response]
RUNNING = {"status": "RUNNING", "job_id": EVS_TASK, "begin_time": "2016-03-08T07:40:13.219Z", "end_time": ""}

PASSWORD_CONFIG = MINIMAL.replace(
    "type: token\n      token: ${HWC_TOKEN}",
    "type: password\n      user_name: mon\n      domain_name: acme\n      password: ${HWC_TOKEN}",
)


def make_client(config: Config, handler: Handler) -> tuple[ApiClient, CollectorRegistry]:
    registry = CollectorRegistry()
    client = ApiClient(config, SelfMetrics(registry), transport=lambda _account: httpx.MockTransport(handler))
    return client, registry


async def query(
    config: Config, handler: Handler, timeout: float = 5.0
) -> tuple[TaskStatus | ApiError, CollectorRegistry]:
    client, registry = make_client(config, handler)
    try:
        return await client.query(config.targets[0], EVS_TASK, timeout), registry
    finally:
        await client.aclose()


async def test_success_sends_token_and_parses(config: Config) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=RUNNING)

    result, registry = await query(config, handler)
    assert isinstance(result, TaskStatus)
    assert result.state is State.RUNNING
    (request,) = seen
    assert str(request.url) == f"https://evs.cn-north-4.myhuaweicloud.com/v1/{PROJECT}/jobs/{EVS_TASK}"
    assert request.headers["X-Auth-Token"] == "token-value-from-env"
    assert request.headers["User-Agent"].startswith("huaweicloud-task-exporter/")
    labels = {"account": "prod", "cloud_service": "evs", "region": "cn-north-4"}
    assert registry.get_sample_value("huaweicloud_task_api_requests_total", {**labels, "code": "200"}) == 1
    assert registry.get_sample_value("huaweicloud_task_api_request_duration_seconds_count", labels) == 1


@pytest.mark.parametrize(
    ("status", "body", "reason", "code"),
    [
        (404, {"error": {"message": "job not found", "code": "EVS.7001"}}, Reason.NOT_FOUND, "EVS.7001"),
        (
            401,
            {"error_msg": "Incorrect IAM authentication information", "error_code": "APIGW.0301"},
            Reason.AUTH,
            "APIGW.0301",
        ),
        (
            429,
            {"error_msg": "The throttling threshold has been reached", "error_code": "APIGW.0308"},
            Reason.THROTTLED,
            "APIGW.0308",
        ),
        (500, {"error_code": "EVS.0001", "error_msg": "internal"}, Reason.SERVER_ERROR, "EVS.0001"),
        (400, {"error_code": "EVS.0002", "error_msg": "bad request"}, Reason.CLIENT_ERROR, "EVS.0002"),
    ],
)
async def test_error_answers_are_classified_and_counted(
    config: Config, status: int, body: object, reason: Reason, code: str
) -> None:
    result, registry = await query(config, lambda _r: httpx.Response(status, json=body))
    assert isinstance(result, ApiError)
    assert (result.reason, result.status, result.code) == (reason, status, code)
    labels = {"account": "prod", "cloud_service": "evs", "region": "cn-north-4"}
    assert registry.get_sample_value("huaweicloud_task_api_errors_total", {**labels, "reason": reason.value}) == 1
    assert registry.get_sample_value("huaweicloud_task_api_requests_total", {**labels, "code": str(status)}) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"status": ', "the body is not valid JSON"),
        (b"[]", "evs: expected a JSON object, got a list"),
        (b'{"job_id": "x"}', "evs: the answer has no status at /status"),
    ],
)
async def test_bad_bodies_are_bad_response(config: Config, content: bytes, message: str) -> None:
    result, _ = await query(config, lambda _r: httpx.Response(200, content=content))
    assert isinstance(result, ApiError)
    assert result.reason is Reason.BAD_RESPONSE
    assert result.message == message


async def test_connect_error(config: Config) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result, registry = await query(config, handler)
    assert isinstance(result, ApiError) and result.reason is Reason.CONNECT
    assert (
        registry.get_sample_value(
            "huaweicloud_task_api_requests_total",
            {"account": "prod", "cloud_service": "evs", "region": "cn-north-4", "code": "0"},
        )
        == 1
    )


async def test_timeout_ends_the_query(config: Config) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()  # never answers
        raise AssertionError

    client, _ = make_client(config, slow)  # type: ignore[arg-type]
    try:
        result = await client.query(config.targets[0], EVS_TASK, 0.05)
    finally:
        await client.aclose()
    assert isinstance(result, ApiError) and result.reason is Reason.TIMEOUT
    assert result.message == "no answer within 0.1s"


async def test_429_backs_off_the_endpoint(config: Config) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(429, json={"error_code": "APIGW.0308", "error_msg": "throttled"})

    now = [1000.0]
    registry = CollectorRegistry()
    client = ApiClient(
        config, SelfMetrics(registry), clock=lambda: now[0], transport=lambda _a: httpx.MockTransport(handler)
    )
    target = config.targets[0]
    first = await client.query(target, EVS_TASK, 5)
    held = await client.query(target, EVS_TASK, 5)
    assert isinstance(first, ApiError) and first.sent
    assert isinstance(held, ApiError) and held.reason is Reason.THROTTLED and not held.sent
    assert calls == 1
    now[0] += 1.5  # past the first back-off (1 s)
    await client.query(target, EVS_TASK, 5)
    assert calls == 2
    now[0] += 1.5  # the second back-off is 2 s: still held
    await client.query(target, EVS_TASK, 5)
    assert calls == 2
    await client.aclose()


async def test_rate_limiter_spaces_requests() -> None:
    now = [0.0]
    slept: list[float] = []
    limiter = RateLimiter(10.0, clock=lambda: now[0])

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    original = asyncio.sleep
    asyncio.sleep = fake_sleep  # type: ignore[assignment]
    try:
        for _ in range(12):
            await limiter.acquire()
    finally:
        asyncio.sleep = original
    # A one-second burst (10 requests) goes at once; the next ones wait 0.1 s apiece.
    assert len(slept) == 2
    assert slept == pytest.approx([0.1, 0.2])


# --- IAM password login ----------------------------------------------------------------------------


def iam_handler(
    tokens: list[str], *, expires_at: str = "2099-01-01T00:00:00.000000Z", refuse: Collection[str] = frozenset()
) -> Handler:
    """A fake cloud: IAM hands out token-1, token-2, ...; the EVS API accepts the tokens not in `refuse`."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v3/auth/tokens":
            body = json.loads(request.content)
            assert body["auth"]["identity"]["password"]["user"] == {
                "domain": {"name": "acme"},
                "name": "mon",
                "password": "token-value-from-env",
            }
            assert body["auth"]["scope"] == {"project": {"id": PROJECT}}
            assert request.url.params["nocatalog"] == "true"
            tokens.append(f"token-{len(tokens) + 1}")
            return httpx.Response(
                201,
                headers={"X-Subject-Token": tokens[-1]},
                json={"token": {"expires_at": expires_at, "issued_at": "2020-01-03T09:05:22.701000Z"}},
            )
        if request.headers.get("X-Auth-Token") in set(tokens) - set(refuse):
            return httpx.Response(200, json=RUNNING)
        return httpx.Response(401, json={"error_msg": "token expired", "error_code": "APIGW.0301"})

    return handler


async def test_password_login_once_for_many_concurrent_queries(env: dict[str, str]) -> None:
    config = parse_config(PASSWORD_CONFIG, env=env)
    tokens: list[str] = []
    client, registry = make_client(config, iam_handler(tokens))
    results = await asyncio.gather(*(client.query(config.targets[0], EVS_TASK, 5) for _ in range(20)))
    await client.aclose()
    assert all(isinstance(r, TaskStatus) for r in results)
    assert tokens == ["token-1"]
    assert (
        registry.get_sample_value(
            "huaweicloud_task_auth_token_requests_total", {"account": "prod", "result": "success"}
        )
        == 1
    )


async def test_password_login_once_per_account_and_project_and_kept_across_a_reload(env: dict[str, str]) -> None:
    two_services = PASSWORD_CONFIG + (
        f"  - {{cloud_service: dws, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: [{EVS_TASK}]}}\n"
    )
    config = parse_config(two_services, env=env)
    tokens: list[str] = []
    guards = Guards()
    transport = httpx.MockTransport(iam_handler(tokens))
    metrics = SelfMetrics(CollectorRegistry())

    def client() -> ApiClient:
        return ApiClient(config, metrics, transport=lambda _a: transport, guards=guards)

    before = client()
    for target in config.targets:  # evs and dws, one project: one token
        assert isinstance(await before.query(target, EVS_TASK, 5), TaskStatus)
    after = client()  # a reload: a new client, the same guards
    assert isinstance(await after.query(config.targets[1], EVS_TASK, 5), TaskStatus)
    await before.aclose()
    assert isinstance(await after.query(config.targets[0], EVS_TASK, 5), TaskStatus)  # logs in via the new client
    await after.aclose()
    assert tokens == ["token-1"]


async def test_password_token_revoked_renews_once_and_retries(env: dict[str, str]) -> None:
    config = parse_config(PASSWORD_CONFIG, env=env)
    tokens: list[str] = []
    refused = {"token-1"}
    client, _ = make_client(config, iam_handler(tokens, refuse=refused))
    result = await client.query(config.targets[0], EVS_TASK, 5)
    assert isinstance(result, TaskStatus)
    assert tokens == ["token-1", "token-2"]
    # When the fresh token is refused too, the query fails with auth after exactly one more login.
    refused.update({"token-2", "token-3"})
    result = await client.query(config.targets[0], EVS_TASK, 5)
    await client.aclose()
    assert isinstance(result, ApiError) and result.reason is Reason.AUTH
    assert tokens == ["token-1", "token-2", "token-3"]


async def test_password_token_renewed_before_it_expires(env: dict[str, str]) -> None:
    config = parse_config(PASSWORD_CONFIG, env=env)
    tokens: list[str] = []
    # Already inside the renewal margin: every query logs in again.
    client, _ = make_client(config, iam_handler(tokens, expires_at="2000-01-01T00:00:00.000000Z"))
    for _ in range(2):
        assert isinstance(await client.query(config.targets[0], EVS_TASK, 5), TaskStatus)
    await client.aclose()
    assert tokens == ["token-1", "token-2"]


async def test_wrong_password_is_an_auth_error_without_the_password(env: dict[str, str]) -> None:
    config = parse_config(PASSWORD_CONFIG, env=env)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}}
        )

    result, registry = await query(config, handler)
    assert isinstance(result, ApiError)
    assert result.reason is Reason.AUTH
    assert result.message == "IAM login of user 'mon' refused: The username or password is wrong."
    assert "token-value-from-env" not in result.describe()
    assert (
        registry.get_sample_value(
            "huaweicloud_task_auth_token_requests_total", {"account": "prod", "result": "failure"}
        )
        == 1
    )


# --- What the review of the first version found ----------------------------------------------------


async def test_a_body_that_cannot_be_decoded_is_bad_response(config: Config) -> None:
    result, _ = await query(
        config, lambda _r: httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"junk")
    )
    assert isinstance(result, ApiError)
    assert result.reason is Reason.BAD_RESPONSE
    assert result.message.startswith("the body could not be decoded")


async def test_a_secret_file_caught_mid_rotation_fails_one_query_quietly(tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    token_file = tmp_path / "token"
    token_file.write_text("t0")
    config = parse_config(MINIMAL.replace("token: ${HWC_TOKEN}", f"token_file: {token_file}"), env={})
    token_file.write_text("")  # the agent truncated the file and has not written the new token yet
    result, _ = await query(config, lambda _r: httpx.Response(200, json=RUNNING))
    assert isinstance(result, ApiError)
    assert (result.reason, result.sent) == (Reason.AUTH, False)
    assert result.message == f"secret file {token_file} is empty"


async def test_concurrent_429s_are_one_backoff_step(config: Config) -> None:
    gate = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(429, json={"error_code": "APIGW.0308", "error_msg": "throttled"})

    now = [0.0]
    client = ApiClient(
        config,
        SelfMetrics(CollectorRegistry()),
        clock=lambda: now[0],
        transport=lambda _a: httpx.MockTransport(handler),
    )
    queries = [asyncio.ensure_future(client.query(config.targets[0], EVS_TASK, 5)) for _ in range(10)]
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(*queries)
    endpoint = client._endpoint("prod", config.targets[0].endpoint)
    assert endpoint.blocked_until == 1.0  # one episode: blocked for the first step (1 s) only
    assert endpoint.backoff == 2.0
    await client.aclose()


async def test_429_of_one_account_does_not_hold_back_another(env: dict[str, str]) -> None:
    text = MINIMAL.replace(
        "accounts:\n", "accounts:\n  - {name: other, auth: {type: token, token: x}}\n"
    ) + MINIMAL.split("services:\n")[1].replace("account: prod", "account: other").replace(PROJECT, "f" * 32)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["X-Auth-Token"] == "x":
            return httpx.Response(200, json=RUNNING)
        return httpx.Response(429, json={"error_code": "APIGW.0308", "error_msg": "throttled"})

    config = parse_config(text, env=env)
    client, _ = make_client(config, handler)
    prod, other = config.targets
    await client.query(prod, EVS_TASK, 5)
    assert isinstance(await client.query(other, EVS_TASK, 5), TaskStatus)
    await client.aclose()


async def test_rate_limiter_keeps_no_slot_for_requests_that_cannot_wait() -> None:
    now = [0.0]
    limiter = RateLimiter(1.0, clock=lambda: now[0])
    assert await limiter.acquire(budget=0.5)  # the bucket holds one request
    assert not await limiter.acquire(budget=0.5)  # the next slot is 1 s away: not taken
    now[0] += 1.0
    assert await limiter.acquire(budget=0.0)  # nothing was booked by the refused request


async def test_rate_limiter_gives_back_a_cancelled_slot() -> None:
    limiter = RateLimiter(5.0)
    for _ in range(5):
        assert await limiter.acquire()
    waiting = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter._tokens == pytest.approx(0.0, abs=0.2)  # the cancelled wait returned its slot


async def test_a_failed_renewal_keeps_the_valid_token(env: dict[str, str]) -> None:
    config = parse_config(PASSWORD_CONFIG, env=env)
    tokens: list[str] = []
    iam_down = [False]
    soon = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    inner = iam_handler(tokens, expires_at=soon)  # inside the renewal margin: every query wants a renewal

    def handler(request: httpx.Request) -> httpx.Response:
        if iam_down[0] and request.url.path == "/v3/auth/tokens":
            raise httpx.ConnectError("IAM unreachable", request=request)
        return inner(request)

    client, _ = make_client(config, handler)
    assert isinstance(await client.query(config.targets[0], EVS_TASK, 5), TaskStatus)
    iam_down[0] = True
    with structlog.testing.capture_logs() as logs:
        result = await client.query(config.targets[0], EVS_TASK, 5)
    await client.aclose()
    assert isinstance(result, TaskStatus)  # served with the old token, still valid for 30 minutes
    assert tokens == ["token-1"]
    assert any(e["event"].startswith("IAM token renewal failed; using the current token") for e in logs)


def test_ca_file_adds_to_the_system_cas(tmp_path, config: Config) -> None:  # type: ignore[no-untyped-def]
    import trustme

    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    text = MINIMAL.replace("    auth:", f"    tls: {{ca_file: {ca_file}}}\n    auth:")
    config = parse_config(text, env={"HWC_TOKEN": "t"})
    client = ApiClient(config, SelfMetrics(CollectorRegistry()))
    transport = client._default_transport("prod")
    context = transport._ssl  # type: ignore[attr-defined]
    system = ssl.create_default_context().cert_store_stats()["x509_ca"]
    assert context.cert_store_stats()["x509_ca"] == system + 1


async def test_an_answer_in_while_the_loop_was_busy_past_the_deadline_is_the_answer() -> None:
    """The exporter's event loop busy (rendering a scrape, say) as a query's deadline passes, and the
    answer came meanwhile: the answer is read before the deadline's timer runs, and it is the query's
    result (here a bad response), not thrown away as a timeout."""
    # The query's deadline: 1 s for the request to reach the server, time enough on a loaded machine.
    deadline = 1.0
    served = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"status": ')
        until = started + deadline + 0.2  # held past the query's deadline (`started`: below)
        while time.monotonic() < until:  # the loop is busy: nothing else runs
            pass
        await reader.read()  # until the client closes
        writer.close()
        served.set()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    config = parse_config(
        f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "{url}",
      tasks: [{EVS_TASK}]}}
""",
        env={"T": "t"},
    )
    registry = CollectorRegistry()
    client = ApiClient(config, SelfMetrics(registry))  # the real transport (wire.py)
    try:
        started = time.monotonic()
        result = await client.query(config.targets[0], EVS_TASK, deadline)
    finally:
        await client.aclose()
        await asyncio.wait_for(served.wait(), 5)
        server.close()
    assert isinstance(result, ApiError) and result.reason is Reason.BAD_RESPONSE, result
    labels = {"account": "prod", "cloud_service": "evs", "region": "cn-north-4"}
    assert registry.get_sample_value("huaweicloud_task_api_errors_total", {**labels, "reason": "bad_response"}) == 1
    assert not registry.get_sample_value("huaweicloud_task_api_errors_total", {**labels, "reason": "timeout"})
