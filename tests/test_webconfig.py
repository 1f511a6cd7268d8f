"""`--web.config.file`: TLS and basic auth for the exporter's listener in the exporter toolkit's format,
tested with a real TLS client against the real process, and the file's errors (which never show a
hash or a password)."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme

from exporter.exposition.webconfig import load_web_config
from exporter.schema import ConfigError
from exporter.simulator import DEFAULT_PROJECT_ID

PASSWORD = "s3cret-scrape-password"


def web_files(tmp_path: Path, ca: trustme.CA, extra: str = "") -> Path:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    web = tmp_path / "web.yaml"
    web.write_text(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.pem\n  min_version: TLS12\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n{extra}",
        encoding="utf-8",
    )
    return web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tls_and_basic_auth_on_the_real_listener(tmp_path: Path) -> None:
    ca = trustme.CA()
    web = web_files(tmp_path, ca)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    config = tmp_path / "config.yaml"
    config.write_text(
        "accounts: [{name: a, cloud: custom, auth: {type: token, token: '${T}'}}]\n"
        f"services: [{{cloud_service: evs, account: a, region: cn-north-4, project_id: {DEFAULT_PROJECT_ID},"
        " endpoint: 'http://127.0.0.1:9'}]\n",
        encoding="utf-8",
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(config),
            "--web.config.file",
            str(web),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.format",
            "json",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "T": "token"},
    )
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
        base = f"https://127.0.0.1:{port}"
        with httpx.Client(verify=context, timeout=5) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    anonymous = http.get(f"{base}/metrics")
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline and process.poll() is None, "the exporter did not start"
                    time.sleep(0.05)
            assert anonymous.status_code == 401
            assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
            assert http.get(f"{base}/metrics", auth=("prometheus", "wrong")).status_code == 401
            assert http.get(f"{base}/metrics", auth=("nobody", PASSWORD)).status_code == 401
            for _ in range(2):  # the second time from the cache of accepted passwords
                scraped = http.get(f"{base}/metrics", auth=("prometheus", PASSWORD))
                assert scraped.status_code == 200 and "huaweicloud_task_up" in scraped.text
            assert http.get(f"{base}/-/healthy", auth=("prometheus", PASSWORD)).status_code == 200
        with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port is no answer
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the CA refuses
            httpx.get(f"{base}/metrics", timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert PASSWORD not in stderr and "$2y$" not in stderr
    assert re.search(r'"address": "https://127\.0\.0\.1:\d+/metrics"', stderr), stderr


@pytest.mark.parametrize(
    ("extra", "replace", "message"),
    [
        ("", ("cert_file: server.pem", "cert_file: missing.pem"), r"cert_file: no such file: .*miss"),
        ("", ("min_version: TLS12", "min_version: SSL3"), r"tls_server_config\.min_version: expected one of TLS10"),
        ("http2: true\n", ("", ""), r"http2: unknown key 'http2'"),
        ("", ("key_file: server.pem", "key_file: server.pem\n  client_auth_type: RequireAndVerifyClientCert"),
         r"tls_server_config: missing required key 'client_ca_file'"),
    ],
)  # fmt: skip
def test_web_config_errors(tmp_path: Path, extra: str, replace: tuple[str, str], message: str) -> None:
    web = web_files(tmp_path, trustme.CA(), extra)
    if replace[0]:
        web.write_text(web.read_text(encoding="utf-8").replace(*replace), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_web_config(str(web))


def test_a_bad_hash_is_named_by_its_user_only(tmp_path: Path) -> None:
    web = tmp_path / "web.yaml"
    web.write_text("basic_auth_users:\n  prometheus: plain-text-password\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_web_config(str(web))
    assert "basic_auth_users.prometheus: expected a bcrypt hash" in str(info.value)
    assert "plain-text-password" not in str(info.value)
