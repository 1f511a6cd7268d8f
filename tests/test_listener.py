"""Slow, half-open and malformed clients against the real exporter process (issue 9, items 1 and 7):
with a lowered RLIMIT_NOFILE, a flood of connections that never send a request does not stop
`/metrics` and `/-/healthy`; a connection that does not finish its headers is closed; every log line
is JSON, says a flood once with a count, and never quotes a request's bytes."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PROJECT

CONFIG = f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://127.0.0.1:9",
      tasks: []}}
"""
FD_LIMIT = 256


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}",
         "--web.header-timeout", "1", "--log.format", "json"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={"T": "t", "PATH": "/usr/bin:/bin"},
        preexec_fn=limit_fds,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/-/healthy", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the exporter did not start"
        time.sleep(0.05)
    yield url, process
    if process.poll() is None:
        process.terminate()
        process.wait(10)


def stderr_lines(process: subprocess.Popen[str]) -> list[str]:
    process.terminate()
    _, err = process.communicate(timeout=10)
    return [line for line in err.splitlines() if line.strip()]


def test_a_flood_of_idle_connections_leaves_metrics_and_health_answering(
    exporter: tuple[str, subprocess.Popen[str]],
) -> None:
    url, process = exporter
    port = int(url.rsplit(":", 1)[1])
    idle = []
    for _ in range(FD_LIMIT + 200):  # more than the exporter has file descriptors
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        idle.append(sock)
    try:
        for path in ("/-/healthy", "/metrics"):
            assert httpx.get(url + path, timeout=30).status_code == 200, path  # a loaded machine: seconds
        # A connection that starts its headers and never finishes them is closed after --web.header-timeout.
        slow = socket.create_connection(("127.0.0.1", port), timeout=5)
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        slow.settimeout(5)
        assert slow.recv(1024) == b""
        slow.close()
        # A malformed request gets a 400, and its bytes reach no log line.
        bad = socket.create_connection(("127.0.0.1", port), timeout=5)
        bad.sendall(b"SECRETGARBAGE\x00\x01 /x HTTP/1.1\r\n\r\n")
        assert bad.recv(1024).split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
        bad.close()
    finally:
        for sock in idle:
            sock.close()
    lines = stderr_lines(process)
    events = [json.loads(line) for line in lines]  # every line is JSON
    assert not any("SECRETGARBAGE" in line for line in lines)
    floods = [e for e in events if e["event"].startswith("connection limit reached")]
    assert floods and floods[0]["closed"] == 1  # said once, then at 10, 100, ... with the count
    assert len(floods) <= 3
    assert len(lines) < 40, lines[:40]


def test_other_libraries_log_json_without_tracebacks_and_repeats_are_counted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging
    import warnings

    from exporter.log import setup_logging

    setup_logging("info", "json")
    try:
        for _ in range(12):
            try:
                raise ValueError("b'GET /secret-request-bytes'")
            except ValueError:
                logging.getLogger("aiohttp.server").exception("Error handling request")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("something deprecated", DeprecationWarning, stacklevel=1)
    finally:
        logging.getLogger().handlers.clear()
        logging.captureWarnings(False)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    served = [e for e in events if e.get("logger") == "aiohttp.server"]
    assert [(e["event"], e["error"], e["count"]) for e in served] == [
        ("Error handling request", "ValueError", 1),
        ("Error handling request", "ValueError", 10),
    ]
    assert "secret-request-bytes" not in "".join(lines)
    assert any(e.get("logger") == "py.warnings" and "something deprecated" in e["event"] for e in events)
