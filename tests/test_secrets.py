"""Secrets never leave: the exporter runs as a real process with failing token, password and AK/SK
accounts against the fake cloud, at debug log level; every log line, every HTTP endpoint's answer and
`--config.check`'s output are searched for the secret values."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from exporter.simulator import DEFAULT_PROJECT_ID, Simulator, default_scenario, start_simulator

SECRETS = {
    "token": "tok-Zq8vYc0e5LrA1bXn7WmK3pFsTu9DgH2j",
    "password": "pw-Hn4Rt7Yu1Io9Pa3Sd6Fg0JkLz",
    "secret_key": "sk-Qw2Er4Ty6Ui8Op0As1Df3Gh5Jk7Lz9XcVbNm",
    "security_token": "st-Mn8Bv6Cx4Zl2Kj0Hg9Fd7Sa5Po3Iu1Yt",
    "proxy_password": "pp-Vb5Nm1Qa8Ws3Ed6Rf9Tg2Yh4Uj7Ik0Ol",
    "endpoint_password": "ep-Lk3Jh5Gf7Ds9Aq2Wz4Xc6Vb8Nm1Qw0Er",
}
TASK = "e7500000000000000000000000000001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_text(url: str, tmp_path: Path, proxy_port: int = 9) -> str:
    (tmp_path / "password").write_text(SECRETS["password"])
    (tmp_path / "security_token").write_text(SECRETS["security_token"])
    return f"""
accounts:
  - name: with-token
    cloud: custom
    auth: {{type: token, token: "${{SECRET_TOKEN}}"}}
  - name: with-password
    cloud: custom
    iam_endpoint: {url}
    auth: {{type: password, user_name: demo-user, domain_name: demo-domain, password_file: {tmp_path / "password"}}}
  - name: with-aksk
    cloud: custom
    auth:
      type: aksk
      access_key: DEMOAKWRONG000000001
      secret_key: {SECRETS["secret_key"]}
      security_token_file: {tmp_path / "security_token"}
  - name: with-proxy
    cloud: custom
    auth: {{type: token, token: another-token}}
    proxy: http://proxy-user:{SECRETS["proxy_password"]}@127.0.0.1:{proxy_port}
services:
""" + "".join(
        f"""  - {{cloud_service: evs, account: {account}, region: cn-north-4, project_id: {DEFAULT_PROJECT_ID},
      endpoint: {url}, tasks: [{TASK}]}}
"""
        for account in ("with-token", "with-password", "with-aksk", "with-proxy")
    )


@pytest.fixture
async def fake_cloud() -> AsyncIterator[str]:
    running = await start_simulator(Simulator(default_scenario()))
    yield running.url
    await running.close()


async def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the exporter exited"
            try:
                if (await http.get(f"{url}/-/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)  # polling a child process's readiness, bounded by the deadline
    raise AssertionError("the exporter did not become ready")


def line_of(text: str, marker: str) -> int:
    return text[: text.index(marker)].count("\n") + 1


HIDDEN = "a string (not shown: it may be a secret)"
USER_INFO = "URL user info (user:password@) is not allowed here; put credentials in auth"
TOKEN_AUTH = 'auth: {type: token, token: "${SECRET_TOKEN}"}'


def broken_configs(text: str, file: str) -> dict[str, tuple[str, str]]:
    """Mistakes that put a secret where the error message looks: the config text, and the message."""
    proxy = f"http://proxy-user:{SECRETS['proxy_password']}@127.0.0.1:"
    endpoint = " endpoint: http://127.0.0.1:"  # a service's, not iam_endpoint
    return {
        "a token where auth belongs": (
            text.replace(TOKEN_AUTH, f"auth: {SECRETS['token']}", 1),
            f"{file}:{line_of(text, TOKEN_AUTH)}: accounts[0].auth: expected the account's authentication (a "
            f"mapping), got {HIDDEN}",
        ),
        "an invalid proxy": (
            text.replace(proxy, proxy.replace("127.0.0.1", "proxy host")),
            f"{file}:{line_of(text, proxy)}: accounts[3].proxy: expected an http:// or https:// URL without query "
            f"or fragment, got 'http://<secret>@proxy host:{text.split(proxy)[1].split()[0]}'",
        ),
        "user info in an endpoint": (
            text.replace(endpoint, f" endpoint: http://user:{SECRETS['endpoint_password']}@127.0.0.1:", 1),
            f"{file}:{line_of(text, endpoint)}: services[0].endpoint: {USER_INFO}",
        ),
        "a token ending in a newline": (
            text.replace("${SECRET_TOKEN}", "${SECRET_TOKEN_NL}", 1),
            f"{file}:{line_of(text, TOKEN_AUTH)}: accounts[0].auth.token: ${{SECRET_TOKEN_NL}} ends in a newline; "
            "credentials have no whitespace",
        ),
    }


def exporter_env() -> dict[str, str]:
    return {**os.environ, "SECRET_TOKEN": SECRETS["token"], "SECRET_TOKEN_NL": SECRETS["token"] + "\n"}


def assert_no_secret(where: str, text: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"the {name} leaked into {where}"


async def test_no_secret_in_logs_metrics_pages_or_errors(fake_cloud: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    proxy_port = free_port()  # nothing listens there: the account's requests fail at the proxy
    config.write_text(config_text(fake_cloud, tmp_path, proxy_port))
    port = free_port()
    log_file = (tmp_path / "stderr.log").open("wb")
    env = exporter_env()
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", str(config), "--web.listen-address",
         f"127.0.0.1:{port}", "--log.level", "debug", "--log.format", "json", "--web.enable-lifecycle"],
        stdout=log_file, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    outputs: dict[str, str] = {}
    try:
        await wait_ready(base, process)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for round_ in range(3):
                outputs[f"/metrics #{round_}"] = (await http.get("/metrics")).text
            outputs["/"] = (await http.get("/")).text
            outputs["/-/healthy"] = (await http.get("/-/healthy")).text
            outputs["/-/ready"] = (await http.get("/-/ready")).text
            outputs["/nope"] = (await http.get("/nope")).text
            outputs["/config"] = (await http.get("/config")).text
            for account in ("with-token", "with-password", "with-aksk", "with-proxy"):
                params = {"cloud_service": "evs", "task_id": TASK, "account": account, "debug": "true"}
                outputs[f"/probe?debug=true {account}"] = (await http.get("/probe", params=params)).text
            # Broken reloads: the error message must name the problem, not the secret values.
            good = config.read_text()
            for mistake, (text, message) in broken_configs(good, str(config)).items():
                config.write_text(text)
                reload = await http.post("/-/reload")
                assert (reload.status_code, reload.text) == (500, f"failed to reload config: {message}\n")
                outputs[f"POST /-/reload, {mistake}"] = reload.text
            config.write_text(good.replace("type: aksk", "type: aksk\n      secret: x"))
            reload = await http.post("/-/reload")
            assert reload.status_code == 500
            outputs["POST /-/reload"] = reload.text
        # The debug pages show the probe's requests and the redacted configuration, so the test looked at them.
        assert "secret_key: <secret>" in outputs["/config"] and "token: <secret>" in outputs["/config"]
        assert "password: <secret from " in outputs["/config"]
        assert f"proxy: http://<secret>@127.0.0.1:{proxy_port}\n" in outputs["/config"]
        assert f"proxy: http://<secret>@127.0.0.1:{proxy_port}\n" in outputs["/probe?debug=true with-proxy"]
        assert "cannot connect to the proxy" in outputs["/probe?debug=true with-proxy"]
        debug = outputs["/probe?debug=true with-aksk"]
        assert f"/v1/{DEFAULT_PROJECT_ID}/jobs/{TASK}" in debug and "Metrics that would have been" in debug, debug
        assert "Target configuration (secrets redacted):" in debug and "secret_key: <secret>" in debug
        metrics = outputs["/metrics #2"]
        # The auth failures did happen and are visible, so the test looked at a failing exporter.
        assert re.search(
            r'huaweicloud_task_api_errors_total\{account="with-\w+",cloud_service="evs",reason="auth",region="cn-north-4"\}',
            metrics,
        )
        assert 'huaweicloud_task_auth_token_requests_total{account="with-password",result="failure"} 1.0' in metrics
        assert "unknown key 'secret'; did you mean 'secret_key'?" in outputs["POST /-/reload"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        log_file.close()
    logs = (tmp_path / "stderr.log").read_text()
    assert '"event": "authentication failed;' in logs
    assert "with-aksk" in logs and "with-password" in logs and "with-token" in logs
    assert logs.count('"event": "config reload failed; keeping the running configuration"') == 5
    for where, text in {**outputs, "the log": logs}.items():
        assert_no_secret(where, text)


def test_config_check_errors_do_not_show_secrets(tmp_path: Path) -> None:
    text = config_text("http://127.0.0.1:9", tmp_path).replace("region: cn-north-4", "region: CN_NORTH", 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(path), "--config.check"],
        capture_output=True, text=True, env={**os.environ, "SECRET_TOKEN": SECRETS["token"]}, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "services[0].region: expected a region such as cn-north-4, got 'CN_NORTH'" in result.stderr
    assert_no_secret("--config.check", result.stdout + result.stderr)


@pytest.mark.parametrize(
    "mistake",
    ["a token where auth belongs", "an invalid proxy", "user info in an endpoint", "a token ending in a newline"],
)
def test_config_check_does_not_print_a_misplaced_secret(tmp_path: Path, mistake: str) -> None:
    path = tmp_path / "bad.yaml"
    text, message = broken_configs(config_text("http://127.0.0.1:9", tmp_path), str(path))[mistake]
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(path), "--config.check"],
        capture_output=True, text=True, env=exporter_env(), check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert f"invalid configuration: {message}" in result.stderr.splitlines()
    assert_no_secret("--config.check", result.stdout + result.stderr)
