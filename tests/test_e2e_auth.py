"""End to end, over real sockets, for issue 3: the three auth types against the fake cloud (which verifies
AK/SK signatures and locks an AK after more than 5 failures in a row), TLS with a CA the test makes,
and an HTTPS proxy."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog.testing
import trustme
from prometheus_client import CollectorRegistry

from exporter.cloud.client import ApiClient
from exporter.cloud.errors import ApiError
from exporter.config import load_config
from exporter.exposition.metrics import SelfMetrics
from exporter.simulator import DEMO_ACCESS_KEY, DEMO_TEMP_ACCESS_KEY
from exporter.tracking.tracker import Tracker
from tests.conftest import Scrape
from tests.test_e2e import SCENARIO, Stack, start_stack, state_of, stop_stack

E_RUN = SCENARIO["tasks"][0]["task_id"]  # type: ignore[index]


def up_values(data: Scrape) -> list[float]:
    return [v for (name, _), v in data.items() if name == "huaweicloud_task_up"]


@pytest.mark.parametrize("auth", ["token", "password", "aksk", "temporary-aksk"])
async def test_every_auth_type_end_to_end(tmp_path: Path, auth: str) -> None:
    stack = await start_stack(tmp_path, SCENARIO, auth=auth)
    try:
        data = await stack.scrape()
        assert up_values(data) == [1.0, 1.0, 1.0, 1.0]
        assert state_of(data, E_RUN) == "running"
        stats = stack.sim.stats
        assert stats.auth_failures == 0
        if auth == "aksk":
            assert stats.aksk_accepted[DEMO_ACCESS_KEY] == stats.requests_total
        if auth == "temporary-aksk":
            assert stats.aksk_accepted[DEMO_TEMP_ACCESS_KEY] == stats.requests_total
        if auth == "password":
            tokens = data[
                (
                    "huaweicloud_task_auth_token_requests_total",
                    frozenset({"account": "demo", "result": "success"}.items()),
                )
            ]
            assert tokens == 1  # one IAM login per (account, project): the four targets share one project
            assert stats.tokens_issued == 1
    finally:
        await stop_stack(stack)


async def test_a_wrong_secret_never_locks_the_access_key(tmp_path: Path) -> None:
    """Hours of scrapes with a wrong secret key: the fake cloud never sees more than 5 failures in a row."""
    stack = await start_stack(tmp_path, SCENARIO, auth="aksk")
    await stop_stack_http_only(stack)
    (tmp_path / "sk").write_text("wrong-secret-key-0000000000000000000000000")
    config = load_config(stack.config_file)
    now = [0.0]
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), clock=lambda: now[0])
    tracker = Tracker(config, client)
    try:
        for _ in range(30):  # 30 scrapes, 6 minutes apart: each one after the cool-down ran out
            await tracker.refresh(5)
            now[0] += 360  # the exporter's clock only: the gateway checks X-Sdk-Date against real time
        stats = stack.sim.stats
        assert stats.auth_failures == 5
        assert stats.max_consecutive_auth_failures[DEMO_ACCESS_KEY] == 5
        assert stack.sim.ak_state(DEMO_ACCESS_KEY).locked_until is None
        assert all(not state.up for state in tracker.targets)
        # The right key comes back in the file: the exporter notices and every target answers again.
        (tmp_path / "sk").write_text(stack.sim.scenario.access_keys[0].secret_key)
        await tracker.refresh(5)
        assert all(state.up for state in tracker.targets)
    finally:
        await client.aclose()
        await stop_stack(stack)


async def stop_stack_http_only(stack: Stack) -> None:
    """Stop the exporter's HTTP server but keep the fake cloud running."""
    _running, serving = stack._close  # type: ignore[attr-defined]
    await serving.stop()


async def test_a_skewed_clock_is_reported_as_such(tmp_path: Path) -> None:
    stack = await start_stack(tmp_path, SCENARIO, auth="aksk")
    try:
        stack.sim.advance(16 * 60)  # the gateway's clock runs 16 minutes ahead of ours
        with structlog.testing.capture_logs() as logs:
            data = await stack.scrape()
        assert up_values(data) == [0.0, 0.0, 0.0, 0.0]
        assert stack.sim.stats.auth_failures == 1  # one request went out, alone
        (event,) = [e for e in logs if e["log_level"] == "error"]
        assert "clock is more than 15 minutes off; fix the clock (NTP)" in event["event"]
        assert event["error"].startswith("auth: HTTP 401: APIGW.0303")
        assert event["server_time"]  # the gateway's Date header, to compare with local_time
    finally:
        await stop_stack(stack)


# --- TLS -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def test_tls_with_the_users_ca_file(tmp_path: Path, ca: trustme.CA) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    stack = await start_stack(
        tmp_path, SCENARIO, account_extra={"tls": {"ca_file": str(ca_file)}}, ssl_context=server_context(ca)
    )
    try:
        assert stack.sim.stats.requests_total == 0
        data = await stack.scrape()
        assert up_values(data) == [1.0, 1.0, 1.0, 1.0]
    finally:
        await stop_stack(stack)


async def test_tls_verification_is_on_by_default(tmp_path: Path, ca: trustme.CA) -> None:
    stack = await start_stack(tmp_path, SCENARIO, ssl_context=server_context(ca))
    try:
        data = await stack.scrape()
        assert up_values(data) == [0.0, 0.0, 0.0, 0.0]
        reason = frozenset(
            {"account": "demo", "cloud_service": "evs", "region": "cn-north-4", "reason": "connect"}.items()
        )
        evs_tasks = sum(1 for t in SCENARIO["tasks"] if t["cloud_service"] == "evs")  # type: ignore[index,misc]
        assert data[("huaweicloud_task_api_errors_total", reason)] == evs_tasks  # not auth: no one-first rule
        (state,) = [s for s in stack.exporter.tracker.targets if s.target.cloud_service == "evs"]
        error = next(iter(state.tasks.values())).last_error
        assert error is not None and "TLS certificate of 127.0.0.1 not trusted" in error.message
        assert stack.sim.stats.requests_total == 0  # nothing reached the fake cloud's handlers
    finally:
        await stop_stack(stack)


async def test_insecure_skip_verify_works_and_warns(tmp_path: Path, ca: trustme.CA) -> None:
    with structlog.testing.capture_logs() as logs:
        stack = await start_stack(
            tmp_path, SCENARIO, account_extra={"tls": {"insecure_skip_verify": True}}, ssl_context=server_context(ca)
        )
    try:
        (warning,) = [e for e in logs if "verification is OFF" in e["event"]]
        assert warning["account"] == "demo"
        data = await stack.scrape()
        assert up_values(data) == [1.0, 1.0, 1.0, 1.0]
    finally:
        await stop_stack(stack)


# --- Proxy -----------------------------------------------------------------------------------------


class ConnectProxy:
    """A minimal HTTPS proxy: answers CONNECT and pipes bytes both ways, remembering what it tunnelled."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.authorizations: list[str] = []  # the Proxy-Authorization header of each CONNECT, "" if none

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode().split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
        self.authorizations.append(next((v for k, v in headers.items() if k.lower() == "proxy-authorization"), ""))
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer), return_exceptions=True)


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[ConnectProxy, str]]:
    handler = ConnectProxy()
    server = await asyncio.start_server(handler.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield handler, f"http://127.0.0.1:{port}"
    server.close()


async def test_https_through_the_accounts_proxy(
    tmp_path: Path, ca: trustme.CA, proxy: tuple[ConnectProxy, str]
) -> None:
    handler, proxy_url = proxy
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    stack = await start_stack(
        tmp_path,
        SCENARIO,
        account_extra={"tls": {"ca_file": str(ca_file)}, "proxy": proxy_url},
        ssl_context=server_context(ca),
    )
    try:
        data = await stack.scrape()
        assert up_values(data) == [1.0, 1.0, 1.0, 1.0]
        port = stack.sim_url_port()
        assert handler.tunnels and set(handler.tunnels) == {f"127.0.0.1:{port}"}
    finally:
        await stop_stack(stack)


async def test_a_proxy_with_user_info_gets_it_and_no_page_shows_it(
    tmp_path: Path, ca: trustme.CA, proxy: tuple[ConnectProxy, str]
) -> None:
    handler, proxy_url = proxy
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    password = "pp-Xs4Dc6Fv8Gb1Hn3Jm5Kl7Qw9"
    stack = await start_stack(
        tmp_path,
        SCENARIO,
        account_extra={"tls": {"ca_file": str(ca_file)}, "proxy": proxy_url.replace("//", f"//proxy-user:{password}@")},
        ssl_context=server_context(ca),
    )
    try:
        data = await stack.scrape()
        assert up_values(data) == [1.0, 1.0, 1.0, 1.0]
        expected = "Basic " + base64.b64encode(f"proxy-user:{password}".encode()).decode()
        assert handler.authorizations and set(handler.authorizations) == {expected}
        shown = proxy_url.replace("//", "//<secret>@")
        config = (await stack.http.get("/config")).text
        params = {"cloud_service": "evs", "task_id": E_RUN, "account": "demo", "debug": "true"}
        debug = (await stack.http.get("/probe", params=params)).text
        assert f"proxy: {shown}\n" in config and f"proxy: {shown}\n" in debug
        assert password not in config + debug
    finally:
        await stop_stack(stack)


async def test_reloads_do_not_reset_the_pause_of_refused_credentials(tmp_path: Path) -> None:
    stack = await start_stack(tmp_path, SCENARIO, auth="aksk")
    try:
        (tmp_path / "sk").write_text("wrong-secret-key-0000000000000000000000000")
        for _ in range(8):  # anyone who can reach the port can reload: it must not resend a refused key
            assert (await stack.http.post("/-/reload")).status_code == 200
            await stack.scrape()
        assert stack.sim.stats.auth_failures == 1
    finally:
        await stop_stack(stack)


async def test_a_long_iam_token_is_read(tmp_path: Path) -> None:
    """PKI tokens run to many kilobytes; aiohttp's default header limit is 8190 bytes."""
    from aiohttp import web

    long_token = "MII" + "x" * 20000

    async def tokens(request: web.Request) -> web.Response:
        return web.json_response(
            {"token": {"expires_at": "2099-01-01T00:00:00.000000Z", "issued_at": "2020-01-01T00:00:00.000000Z"}},
            status=201,
            headers={"X-Subject-Token": long_token},
        )

    async def job(request: web.Request) -> web.Response:
        assert request.headers["X-Auth-Token"] == long_token
        return web.json_response({"status": "RUNNING", "begin_time": "2016-03-08T07:40:13.219Z", "end_time": ""})

    app = web.Application(handler_args={"max_field_size": 65536})
    app.router.add_post("/v3/auth/tokens", tokens)
    app.router.add_get("/v1/{project}/jobs/{job}", job)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    (tmp_path / "pw").write_text("pw")
    (tmp_path / "c.yaml").write_text(f"""
accounts:
  - name: p
    cloud: custom
    iam_endpoint: {url}
    auth: {{type: password, user_name: u, domain_name: d, password_file: {tmp_path / "pw"}}}
services:
  - {{cloud_service: evs, account: p, region: r1, project_id: {"a" * 32}, endpoint: "{url}", tasks: [{"b" * 32}]}}
""")
    config = load_config(tmp_path / "c.yaml")
    client = ApiClient(config, SelfMetrics(CollectorRegistry()))
    try:
        result = await client.query(config.targets[0], "b" * 32, 5)
    finally:
        await client.aclose()
        await runner.cleanup()
    assert not isinstance(result, ApiError), result
