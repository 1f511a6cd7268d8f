"""`--web.intake-address` on the real exporter process: the intake doors on a listener of their own (404 on the main
one, and nothing but the doors on theirs), guarded as the main listener is (a client that does not finish its
headers is closed), said in the start-up log line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PROJECT
from tests.test_listener import free_port


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    token = tmp_path / "intake-token"
    token.write_text("intake-token-for-tests", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(
        f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://127.0.0.1:9",
      tasks: []}}
intake:
  cloudevents: {{account: prod, token_header: X-Intake-Token, token_file: {token}}}
""",
        encoding="utf-8",
    )
    main, intake = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", str(tmp_path / "config.yaml"),
         "--web.listen-address", f"127.0.0.1:{main}", "--web.intake-address", f"127.0.0.1:{intake}",
         "--web.header-timeout", "1", "--log.format", "json"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={"T": "t", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{main}/-/healthy", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the exporter did not start"
        time.sleep(0.05)  # polling the process's start, with the deadline above
    yield f"http://127.0.0.1:{main}", f"http://127.0.0.1:{intake}", process
    if process.poll() is None:
        process.terminate()
        process.wait(10)


def test_the_doors_have_a_listener_of_their_own(exporter: tuple[str, str, subprocess.Popen[str]]) -> None:
    main, intake, process = exporter
    event = {"specversion": "1.0", "id": "1", "source": "HC.CTS", "type": "t", "data": {}}
    headers = {"Content-Type": "application/cloudevents+json"}
    on_main = httpx.post(f"{main}/intake/cloudevents", json=event, headers={**headers, "X-Intake-Token": "x"})
    wrong = httpx.post(f"{intake}/intake/cloudevents", json=event, headers={**headers, "X-Intake-Token": "x"})
    right = httpx.post(
        f"{intake}/intake/cloudevents", json=event, headers={**headers, "X-Intake-Token": "intake-token-for-tests"}
    )
    assert on_main.status_code == 404
    assert (wrong.status_code, wrong.json()) == (403, {"result": "bad_signature"})
    assert (right.status_code, right.json()) == (200, {"result": "no_job"})  # its data names no job
    for path in ("/metrics", "/", "/probe", "/-/reload"):
        assert httpx.get(f"{intake}{path}").status_code in (404, 405), path
    metrics = httpx.get(f"{main}/metrics").text
    assert 'huaweicloud_task_intake_messages_total{result="bad_signature",source="cloudevents"} 1.0' in metrics
    assert "intake-token-for-tests" not in metrics

    # A client that never finishes its headers is closed, as on the main listener.
    port = int(intake.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /intake/cloudevents HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        while sock.recv(1024):  # a timeout (5 s) raises: the connection was held open
            pass
        assert time.monotonic() - started < 5  # closed by the 1 s header timeout

    process.terminate()
    _, err = process.communicate(timeout=10)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    start = next(line for line in lines if line["event"] == "exporter listening")
    assert start["intake_address"] == f"127.0.0.1:{port}" and start["intake"] == ["cloudevents"]
    assert "intake-token-for-tests" not in err
