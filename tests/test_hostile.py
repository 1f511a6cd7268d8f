"""The doors as a hostile client uses them (issue 19), against the real exporter process on loopback with
TLS (a certificate made for the test) and basic auth from `--web.config.file`, as a user deploys it:

- TLS connections that never send a ClientHello, or stall in the handshake, are closed at the header
  timeout, count against --web.max-connections, and cost next to no memory;
- 50 clients sending wrong passwords leave authenticated scrapes (and a first login) fast, and the cloud
  queries on time;
- an unknown user is refused in the same time as a known one with a wrong password; a password longer
  than bcrypt reads is a 401;
- POST /-/reload is a 403 without --web.enable-lifecycle, while SIGHUP reloads.

Content negotiation, security headers and the other in-process doors are at the end, on the stack of
tests/test_e2e.py. The issue's other cases are reproduced where their subject is tested; CASES names
each, and a test checks that every one is there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme
import yaml
from aiohttp import web
from prometheus_client.core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as untyped_openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as untyped_text_families

from exporter.demo import aksk_auth, demo_config
from exporter.exposition.listener import Serving, serve
from exporter.simulator import DEMO_SECRET_KEY, Simulator, default_scenario, start_simulator
from tests.test_e2e import E_RUN, SCENARIO, Stack, start_stack, stop_stack

PASSWORD = "scrape-password-7Hq2Lw"
USERS = ("prometheus", "grafana")  # both with PASSWORD
COST = 10  # htpasswd -nBC 10, as the exporter toolkit's docs say: about 60 ms a check
HEADER_TIMEOUT = 2.0
MiB = 1024 * 1024
# Untyped in prometheus-client.
text_families: Callable[[str], Iterable[Metric]] = untyped_text_families
openmetrics_families: Callable[[str], Iterable[Metric]] = untyped_openmetrics_families


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss(pid: int, field: str = "VmRSS") -> int:
    """A field of /proc/PID/status in bytes (VmRSS now, VmHWM the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def open_sockets(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


@dataclass
class Door:
    """A running exporter process behind TLS and basic auth."""

    base: str
    port: int
    process: subprocess.Popen[bytes]
    tls: ssl.SSLContext
    config_file: Path
    log_file: Path

    def client(self, address: str = "127.0.0.1", **kwargs: object) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address, verify=self.tls)
        return httpx.AsyncClient(base_url=self.base, transport=transport, timeout=30, **kwargs)  # type: ignore[arg-type]

    def logs(self) -> str:
        return self.log_file.read_text(errors="replace")


@contextlib.asynccontextmanager
async def door(tmp_path: Path, *args: str) -> AsyncIterator[Door]:
    """The fake cloud in this process, the exporter in its own with TLS and basic auth for USERS."""
    running = await start_simulator(Simulator(default_scenario()))
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=COST)).decode().replace("$2b$", "$2y$", 1)
    web = tmp_path / "web.yaml"
    web.write_text(
        "tls_server_config: {cert_file: server.pem, key_file: server.pem}\n"
        "basic_auth_users:\n" + "".join(f"  {user}: '{hashed}'\n" for user in USERS),
        encoding="utf-8",
    )
    secret = tmp_path / "secret_key"
    secret.write_text(DEMO_SECRET_KEY + "\n", encoding="utf-8")
    targets = [(t.cloud_service, t.project_id, t.task_ids) for t in default_scenario().targets()][:3]
    config = tmp_path / "config.yaml"
    config.write_text(demo_config(running.url, targets, aksk_auth(str(secret))), encoding="utf-8")
    port = free_port()
    log_file = tmp_path / "exporter.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--config.file", str(config), "--web.config.file", str(web),
             "--web.listen-address", f"127.0.0.1:{port}", "--web.header-timeout", str(HEADER_TIMEOUT),
             "--log.format", "json", *args],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    tls = ssl.create_default_context()
    ca.configure_trust(tls)
    found = Door(f"https://127.0.0.1:{port}", port, process, tls, config, log_file)
    try:
        async with found.client(auth=(USERS[0], PASSWORD)) as http:
            deadline = time.monotonic() + 20
            while True:
                assert process.poll() is None, found.logs()
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/-/ready")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the exporter did not start"
                await asyncio.sleep(0.05)  # polling a child's readiness, bounded by the deadline
        yield found
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 20)
        await running.close()


async def flood(port: int, count: int, hello: bytes = b"", *, pid: int = 0) -> list[socket.socket]:
    """`count` TCP connections that send `hello` (nothing: half-open) and then nothing more; with `pid`,
    opened a hundred at a time (the exporter's accept queue), each hundred once that process holds it."""
    sockets: list[socket.socket] = []
    held = open_sockets(pid) if pid else 0
    deadline = time.monotonic() + 60  # generous: a loaded machine accepts slower, a fast one is done in 1 s
    for start in range(0, count, 100):
        batch = [socket.socket() for _ in range(min(100, count - start))]
        for sock in batch:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            with contextlib.suppress(OSError):
                sock.send(hello)
        sockets += batch
        while pid and open_sockets(pid) < held + len(sockets) - 5:  # the exporter's own may come and go
            assert time.monotonic() < deadline, f"{open_sockets(pid) - held} of {len(sockets)} accepted"
            await asyncio.sleep(0.01)  # polling /proc, bounded by the deadline
    return sockets


def still_open(sockets: list[socket.socket]) -> int:
    """How many of `sockets` the server has not closed (a read would block rather than end)."""
    count = 0
    for sock in sockets:
        try:
            while sock.recv(65536):
                pass
        except BlockingIOError:
            count += 1
        except OSError as exc:
            if exc.errno not in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
                raise
    return count


async def closed_by(sockets: list[socket.socket], deadline: float) -> float:
    """Seconds until the server closed every one of `sockets`, polled; fails past `deadline`."""
    started = time.monotonic()
    while still_open(sockets):
        assert time.monotonic() < deadline, f"{still_open(sockets)} of {len(sockets)} connections still open"
        await asyncio.sleep(0.05)  # polling the kernel's view of the sockets, bounded by the deadline
    return time.monotonic() - started


async def test_tls_half_open_connections_are_closed_at_the_header_timeout_and_cost_no_memory(
    tmp_path: Path,
) -> None:
    async with door(tmp_path, "--web.max-connections", "2000") as exporter:
        pid = exporter.process.pid
        before = rss(pid)
        # Silent: the issue's flood, which must cost next to nothing. Stalled in the handshake: each holds
        # OpenSSL's state (about 70 KiB), so --web.max-connections is what bounds them.
        for name, hello, most in (
            ("silent", b"", 50 * MiB),
            ("stalled in their ClientHello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 100 * MiB),
        ):
            sockets = await flood(exporter.port, 1000, hello, pid=pid)  # all held at once: the limit is 2,000
            # Timed from the last one's accept, not from the first one's: opening 1,000 takes a loaded
            # machine seconds, and none may stay past its header timeout (nor until asyncio's 60 s TLS
            # handshake timeout, or for ever, which is what this catches).
            held = time.monotonic()
            try:
                async with exporter.client(auth=(USERS[0], PASSWORD)) as http:  # served meanwhile
                    assert (await http.get("/-/healthy")).status_code == 200
                await closed_by(sockets, held + HEADER_TIMEOUT + 20)
                took = time.monotonic() - held
            finally:
                for sock in sockets:
                    sock.close()
            grown = rss(pid, "VmHWM") - before
            print(f"1,000 TLS connections {name}: all closed {took:.1f} s after the last was held, "
                  f"peak RSS +{grown / MiB:.1f} MiB")  # fmt: skip
            assert took < HEADER_TIMEOUT + 3
            assert grown < most, f"{name}: RSS grew {grown / MiB:.0f} MiB"
    logs = exporter.logs()
    assert '"event": "closed connections that sent no request headers in time"' in logs
    assert "Traceback" not in logs and "SSL handshake" not in logs


async def test_tls_connections_count_against_max_connections_from_the_start(tmp_path: Path) -> None:
    async with door(tmp_path, "--web.max-connections", "100") as exporter:
        pid = exporter.process.pid
        sockets = await flood(exporter.port, 1000)
        try:
            most = 0
            async with exporter.client(auth=(USERS[0], PASSWORD)) as http:
                for _ in range(5):
                    most = max(most, open_sockets(pid))
                    scraped = await http.get("/metrics")  # Prometheus is never kept out
                    assert scraped.status_code == 200 and "huaweicloud_task_up" in scraped.text
        finally:
            for sock in sockets:
                sock.close()
        print(f"1,000 half-open TLS connections, --web.max-connections 100: at most {most} sockets open")
        # Bounded whatever the flood's size: a turn of the loop accepts up to 100 (the accept queue) before
        # the guard sees any, and a shed one is gone a turn or two later; the exporter's own sockets besides.
        assert most <= 100 + 3 * 100
    assert '"event": "connection limit reached; closing connections that are not being served"' in exporter.logs()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_a_password_flood_leaves_authenticated_scrapes_fast(tmp_path: Path) -> None:
    async with door(tmp_path) as exporter:
        stop, flooding = asyncio.Event(), asyncio.Event()
        answers: dict[int, int] = {}
        refused: set[int] = set()  # attackers whose wrong password was checked (a 429 is no check)

        async def attacker(n: int) -> None:
            async with exporter.client(f"127.0.0.{n + 2}") as http:
                tries = 0
                while not stop.is_set():
                    tries += 1
                    status = (await http.get("/metrics", headers=basic(USERS[n % 2], f"guess-{n}-{tries}"))).status_code
                    answers[status] = answers.get(status, 0) + 1
                    if status == 401:
                        refused.add(n)
                    if len(refused) == 50:
                        flooding.set()

        async with exporter.client(auth=(USERS[0], PASSWORD)) as scraper:
            assert (await scraper.get("/metrics")).status_code == 200  # accepted once, before the flood
            attackers = [asyncio.ensure_future(attacker(n)) for n in range(50)]
            try:
                # Every attacker refused once: until then, one that has not failed yet ranks as a first login
                # does (a loaded machine, a check 0.5 s, answers many of the first guesses 429, no check).
                # 50 checks one after another: seconds, more on a loaded machine.
                await asyncio.wait_for(flooding.wait(), 120)
                times = []
                for _ in range(8):
                    started = time.perf_counter()
                    scraped = await scraper.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})
                    times.append(time.perf_counter() - started)
                    assert scraped.status_code == 200
                    up = re.findall(r"^huaweicloud_task_up\{.*\} (\S+)$", scraped.text, re.M)
                    assert up and set(up) == {"1.0"}, up  # the cloud queries were not starved
                async with exporter.client("127.0.0.200") as first_login:
                    assert (await first_login.get("/-/healthy")).status_code == 401  # the TLS handshake, no check
                    started = time.perf_counter()
                    assert (await first_login.get("/-/healthy", headers=basic(USERS[1], PASSWORD))).status_code == 200
                    login = time.perf_counter() - started
                check = await bcrypt_check()
            finally:
                stop.set()
                await asyncio.gather(*attackers)
    print(
        f"50 clients guessing passwords ({sum(answers.values())} answers: {answers}): authenticated scrapes "
        f"{statistics.median(times):.3f} s median, {max(times):.3f} s at most; a first login {login:.3f} s "
        f"(a bcrypt check here meanwhile: {check:.3f} s)"
    )
    assert set(answers) <= {401, 429}
    assert max(times) < 2.0
    # A client that has not failed waits for the check in the worker, then has its own: two checks, not
    # the attackers' queue (50 checks). 2 s, or 5 checks where this machine is slow enough for that to be
    # longer (a loaded 2-core machine takes 0.25 s a check and more): the bound follows bcrypt's speed.
    assert login < max(2.0, 5 * check), (login, check)


async def bcrypt_check() -> float:
    """Seconds a bcrypt check of COST takes on this machine now (the median of three, in a thread as the
    exporter runs them)."""
    hashed = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=COST))

    def timed() -> float:
        started = time.perf_counter()
        bcrypt.checkpw(b"y", hashed)
        return time.perf_counter() - started

    return statistics.median([await asyncio.to_thread(timed) for _ in range(3)])


async def test_unknown_and_known_users_are_refused_in_the_same_time(tmp_path: Path) -> None:
    async with door(tmp_path) as exporter:
        took: dict[str, list[float]] = {"known": [], "unknown": []}
        for n in range(6):
            for kind, user in (("known", USERS[0]), ("unknown", f"nobody-{n}")):
                # A fresh client each time (no failures of its own yet), its connection made beforehand.
                async with exporter.client(f"127.0.1.{2 * n + (kind == 'unknown') + 2}") as http:
                    assert (await http.get("/-/healthy")).status_code == 401  # no credentials: no check
                    started = time.perf_counter()
                    refused = await http.get("/-/healthy", headers=basic(user, f"wrong-{kind}-{n}"))
                    took[kind].append(time.perf_counter() - started)
                    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic ")
        known, unknown = statistics.median(took["known"]), statistics.median(took["unknown"])
        print(f"refused: a known user in {known * 1000:.1f} ms, an unknown one in {unknown * 1000:.1f} ms (medians)")
        assert 0.5 < known / unknown < 2.0
        async with exporter.client("127.0.2.2") as http:
            for password in ("x" * 100, PASSWORD + "y" * 72, "\u00e9" * 40):  # over bcrypt's 72 bytes
                assert (await http.get("/metrics", headers=basic(USERS[0], password))).status_code == 401
            assert (await http.get("/metrics", headers=basic(USERS[0], PASSWORD))).status_code == 200
    assert PASSWORD not in exporter.logs() and "$2y$" not in exporter.logs()


async def test_reload_over_http_needs_the_lifecycle_flag_and_sighup_always_works(tmp_path: Path) -> None:
    async with door(tmp_path) as exporter, exporter.client(auth=(USERS[0], PASSWORD)) as http:
        refused = await http.post("/-/reload")
        assert (refused.status_code, refused.text) == (403, "Lifecycle API is not enabled (--web.enable-lifecycle).\n")
        text = exporter.config_file.read_text()
        document = yaml.safe_load(text)
        dropped = document["services"].pop()["cloud_service"]
        target = re.compile(rf'^huaweicloud_task_up\{{[^}}]*cloud_service="{dropped}"', re.M)
        assert target.search((await http.get("/metrics")).text)
        exporter.config_file.write_text(yaml.safe_dump(document))
        exporter.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while target.search((await http.get("/metrics")).text):
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            await asyncio.sleep(0.05)  # polling the reload, bounded by the deadline
    async with door(tmp_path, "--web.enable-lifecycle") as exporter, exporter.client(auth=(USERS[0], PASSWORD)) as http:
        assert ((await http.post("/-/reload")).status_code, (await http.put("/-/reload")).status_code) == (200, 200)
        assert (await http.get("/-/reload")).status_code == 405


# In process: the stack of tests/test_e2e.py (plain HTTP).


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = await start_stack(tmp_path, SCENARIO)
    yield stack
    await stop_stack(stack)


OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
ACCEPT = [
    ('application/openmetrics-text; version="1.0.0"', OPENMETRICS),
    ("application/openmetrics-text; version=abc", TEXT),
    ("application/openmetrics-text;version=2.0.0", TEXT),
    ("application/openmetrics-text;version=0.0.1;q=0.9,text/plain;version=0.0.4;q=0.5", TEXT),
    ("application/openmetrics-text;q=abc", TEXT),
    ("application/openmetrics-text;q=0", TEXT),
    ("application/openmetrics-text;q=0.2,text/plain;q=0.8", TEXT),
    ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=1.0.0;q=0.5",
     OPENMETRICS),
    ("text/plain;version=1.0.0;escaping=allow-utf-8", TEXT),
    (",,;;=;q=,", TEXT),
    ("\u00e9/\u00e9; version=\u00e9", TEXT),
    ("x" * 8000, TEXT),
    ("", TEXT),
]  # fmt: skip


@pytest.mark.parametrize(("accept", "content_type"), ACCEPT)
async def test_any_accept_header_gets_a_format_never_an_error(stack: Stack, accept: str, content_type: str) -> None:
    for path, params in (("/metrics", {}), ("/probe", {"cloud_service": "evs", "task_id": E_RUN})):
        answer = await stack.http.get(
            path, params=params, headers={b"Accept": accept.encode(), b"Accept-Encoding": b"identity"}
        )
        assert answer.status_code == 200 and answer.headers["Content-Type"] == content_type, answer.text[:200]
        if content_type == OPENMETRICS:
            names = {family.name for family in openmetrics_families(answer.text)}
        else:
            names = {family.name for family in text_families(answer.text)}
        assert "huaweicloud_task_up" in names


@pytest.mark.parametrize(
    ("encoding", "gzipped"),
    [("gzip", True), ("gzip;q=0", False), ("identity, gzip;q=0", False), ("gzip;q=0.5", True), ("GZIP", True),
     ("x-gzip", True), ("gzip;q=abc", False), ("br, deflate", False), ("", False)],
)  # fmt: skip
async def test_gzip_only_when_the_scraper_accepts_it(stack: Stack, encoding: str, gzipped: bool) -> None:
    for path, params in (("/metrics", {}), ("/probe", {"cloud_service": "evs", "task_id": E_RUN})):
        async with stack.http.stream("GET", path, params=params, headers={"Accept-Encoding": encoding}) as answer:
            assert answer.status_code == 200
            assert (answer.headers.get("Content-Encoding") == "gzip") is gzipped, answer.headers


async def test_every_answer_forbids_sniffing_and_framing_and_the_landing_page_runs_nothing(stack: Stack) -> None:
    debug = {"cloud_service": "evs", "task_id": E_RUN, "debug": "true"}
    for path, params, status in (
        ("/", {}, 200), ("/probe", debug, 200), ("/metrics", {}, 200), ("/config", {}, 200),
        ("/nope", {}, 404), ("/probe", {"task_id": "x"}, 400), ("/-/reload", {}, 405),
    ):  # fmt: skip
        answer = await stack.http.get(path, params=params)
        assert answer.status_code == status, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert answer.headers["X-Frame-Options"] == "DENY", path
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, path
    page = await stack.http.get("/")
    (style,) = re.findall(r"<style>(.*?)</style>", page.text, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert page.headers["Content-Security-Policy"] == (
        f"default-src 'none'; style-src 'sha256-{digest}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    assert "<script" not in page.text


# Each case of issue 19, and the test that reproduces it (module, test).
CASES = {
    "TLS half-open connections get past both guards": [
        ("test_hostile", "test_tls_half_open_connections_are_closed_at_the_header_timeout_and_cost_no_memory"),
        ("test_hostile", "test_tls_connections_count_against_max_connections_from_the_start"),
    ],
    "wrong passwords stall everything": [("test_hostile", "test_a_password_flood_leaves_authenticated_scrapes_fast")],
    "user names leak by timing": [("test_hostile", "test_unknown_and_known_users_are_refused_in_the_same_time")],
    "a password over 72 bytes gives HTTP 500": [
        ("test_hostile", "test_unknown_and_known_users_are_refused_in_the_same_time")
    ],
    "some Accept headers give HTTP 500": [("test_hostile", "test_any_accept_header_gets_a_format_never_an_error")],
    "error paths echo secrets (auth scalar, proxy and endpoint user info)": [
        ("test_secrets", "test_no_secret_in_logs_metrics_pages_or_errors"),
        ("test_secrets", "test_config_check_does_not_print_a_misplaced_secret"),
        ("test_config", "test_a_secret_in_the_wrong_place_is_not_quoted"),
        ("test_config", "test_an_invalid_proxy_url_hides_its_user_info"),
        ("test_config", "test_user_info_in_an_endpoint_is_refused"),
        ("test_e2e_auth", "test_a_proxy_with_user_info_gets_it_and_no_page_shows_it"),
    ],
    "a log line per /probe": [("test_probe", "test_probes_of_unknown_tasks_log_once_then_at_every_power_of_ten")],
    "gzip;q=0 still gets gzip": [("test_hostile", "test_gzip_only_when_the_scraper_accepts_it")],
    "HEAD /metrics runs a full refresh": [
        ("test_probe", "test_head_of_metrics_has_the_headers_and_no_body_and_asks_the_cloud_nothing")
    ],
    "POST /-/reload open to anyone": [
        ("test_hostile", "test_reload_over_http_needs_the_lifecycle_flag_and_sighup_always_works")
    ],
    "no nosniff, framing policy or CSP": [
        ("test_hostile", "test_every_answer_forbids_sniffing_and_framing_and_the_landing_page_runs_nothing"),
        ("test_landing_browser", "test_landing_page_in_a_browser"),
    ],
    "simulate prints the demo credentials for any scenario": [
        ("test_new_user", "test_simulate_with_a_scenario_prints_the_credentials_and_project_it_accepts")
    ],
    "--config.check accepts credentials with whitespace": [
        ("test_config", "test_credentials_with_whitespace_are_refused")
    ],
}


def test_every_case_of_the_issue_has_its_test() -> None:
    import importlib

    for case, tests in CASES.items():
        for module, name in tests:
            assert callable(getattr(importlib.import_module(f"tests.{module}"), name, None)), (case, module, name)


# The listener in process, with a small app.


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello\n")


@contextlib.asynccontextmanager
async def listening(
    max_connections: int = 100, context: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Serving, int]]:
    app = web.Application()
    app.router.add_get("/", hello)
    serving = await serve(app, "127.0.0.1", 0, header_timeout=HEADER_TIMEOUT, max_connections=max_connections,
                          ssl_context=context)  # fmt: skip
    stopped = False

    async def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            await serving.stop()

    try:
        yield Serving(serving.port, stop, serving.guard), serving.port
    finally:
        await stop()


async def raw_request(port: int, data: bytes, keep: bool = False) -> tuple[bytes, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(re.search(rb"(?i)content-length: (\d+)", answer).group(1))  # type: ignore[union-attr]
    answer += await asyncio.wait_for(reader.readexactly(length), 5)
    if not keep:
        writer.close()
    return answer, writer


async def test_idle_keep_alive_connections_give_way_to_a_new_client() -> None:
    async with listening(max_connections=5) as (serving, port):
        idle = []
        for _ in range(5):  # each asks once and keeps its connection, idle
            answer, writer = await raw_request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", keep=True)
            assert answer.startswith(b"HTTP/1.1 200")
            idle.append(writer)
        answer, _ = await raw_request(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello\n")
        assert serving.guard.open <= 5
        for writer in idle:
            writer.close()


async def test_a_request_aiohttp_cannot_read_is_not_quoted_back() -> None:
    async with listening() as (_, port):
        answer, _ = await raw_request(port, b"GET /\x00<script>alert(1)</script> HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 400") or head.startswith(b"HTTP/1.1 400"), head
    assert body == b"Bad Request: the request could not be read as HTTP/1.1\n"
    assert b"x-content-type-options: nosniff" in head.lower() and b"x-frame-options: deny" in head.lower()


async def test_stopping_a_tls_listener_drops_every_connection_at_once(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    async with listening(context=server_context) as (serving, port):
        silent = await asyncio.open_connection("127.0.0.1", port)
        mid_handshake = await asyncio.open_connection("127.0.0.1", port)
        mid_handshake[1].write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc")
        served = await asyncio.open_connection("127.0.0.1", port, ssl=client_context, server_hostname="127.0.0.1")
        served[1].write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(served[0].readuntil(b"hello\n"), 5)).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 5
        while serving.guard.open < 3:
            assert time.monotonic() < deadline, serving.guard.open
            await asyncio.sleep(0.01)  # polling the guard's count, bounded by the deadline
        started = time.monotonic()
        await asyncio.wait_for(serving.stop(), 10)
        took = time.monotonic() - started
        assert serving.guard.open == 0
        for reader, writer in (silent, mid_handshake, served):
            with contextlib.suppress(OSError, ssl.SSLError):
                assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
    print(f"stopping a TLS listener with 3 connections took {took:.2f} s")
    assert took < 3  # not asyncio's 30 s wait for each client's close_notify


async def test_head_of_a_probe_asks_the_cloud_nothing(stack: Stack) -> None:
    await stack.scrape()
    asked = stack.sim.stats.requests_total
    answer = await stack.http.head("/probe", params={"cloud_service": "evs", "task_id": E_RUN})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == TEXT and answer.content == b""
    assert stack.sim.stats.requests_total == asked
